//! Words for every error code Herald can record on a recipient: Twilio's common codes and
//! Herald's own (`opted_out`, `no_consent`, `frequency_capped`), each with what it means and what to do.
//!
//! Why pure: the same sentence is shown in the API (`error_message` when Twilio sent none),
//! on the campaign page and in the per-campaign breakdown; one table keeps them identical.

/// What one error code means and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The code as stored (`"30003"`, `"opted_out"`).
    pub code: &'static str,
    /// What happened, in a few words.
    pub meaning: &'static str,
    /// What to do about it.
    pub action: &'static str,
}

impl ErrorInfo {
    /// `meaning` then `action`, as one sentence pair.
    pub fn sentence(&self) -> String {
        format!("{}. {}.", self.meaning, self.action)
    }
}

/// The table, by code.
pub const ERRORS: &[ErrorInfo] = &[
    ErrorInfo {
        code: "opted_out",
        meaning: "The person opted out of messages from this account (STOP, or added by hand)",
        action: "Nothing to do: Herald will not text them unless they text START or are opted back in",
    },
    ErrorInfo {
        code: "no_consent",
        meaning: "The campaign requires consent and this number has no granted consent record",
        action: "Record their consent (POST /v1/consents) before sending them such a campaign",
    },
    ErrorInfo {
        code: "frequency_capped",
        meaning: "The person already got the account's daily maximum of campaign messages (max_messages_per_recipient_per_day) in the last 24 hours",
        action: "Nothing to do: Herald did not send it; raise or remove the cap in the account's settings, or send again after a day",
    },
    ErrorInfo {
        code: "20003",
        meaning: "Twilio refused the credentials",
        action: "Check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or the API key pair)",
    },
    ErrorInfo {
        code: "20429",
        meaning: "Twilio asked Herald to slow down (too many requests)",
        action: "Herald retries on its own; lower the number's segments per second if it keeps happening",
    },
    ErrorInfo {
        code: "21211",
        meaning: "Twilio considers the recipient's number invalid",
        action: "Check the number and its country code",
    },
    ErrorInfo {
        code: "21408",
        meaning: "Your Twilio account may not send SMS to this country",
        action: "Enable the country in the Twilio console's geographic permissions for messaging",
    },
    ErrorInfo {
        code: "21606",
        meaning: "The sending number cannot send SMS, or does not belong to your Twilio account",
        action: "Use an SMS-capable number of this Twilio account",
    },
    ErrorInfo {
        code: "21610",
        meaning: "The person replied STOP to this sender earlier, so Twilio blocks messages to them",
        action: "Nothing to do: they are on your opt-outs until they text START",
    },
    ErrorInfo {
        code: "21611",
        meaning: "Too many messages were waiting in Twilio's queue for this sender",
        action: "Herald retries on its own; spread big campaigns over more numbers",
    },
    ErrorInfo {
        code: "21612",
        meaning: "Twilio cannot route a message between this sender and this recipient",
        action: "Check that the sending number can reach the recipient's country and network (or use another sender)",
    },
    ErrorInfo {
        code: "21614",
        meaning: "The recipient's number is not a mobile number, so it cannot receive SMS",
        action: "Ask for a mobile number, or take this one off your list",
    },
    ErrorInfo {
        code: "21617",
        meaning: "The message is longer than 1,600 characters",
        action: "Shorten the template",
    },
    ErrorInfo {
        code: "30001",
        meaning: "The message waited too long in Twilio's queue and was dropped",
        action: "Lower the pace or split the campaign over more numbers, then resend",
    },
    ErrorInfo {
        code: "30002",
        meaning: "Your Twilio account is suspended",
        action: "Contact Twilio support or check your account's billing",
    },
    ErrorInfo {
        code: "30003",
        meaning: "The phone could not be reached: switched off, out of coverage, or no longer in service",
        action: "Try again later; if it keeps failing, check the number with the person",
    },
    ErrorInfo {
        code: "30004",
        meaning: "The message was blocked: the person or their carrier blocks messages from this sender",
        action: "Do not retry; check that this person agreed to hear from you",
    },
    ErrorInfo {
        code: "30005",
        meaning: "The number is unknown to its carrier or no longer exists",
        action: "Remove or correct the number",
    },
    ErrorInfo {
        code: "30006",
        meaning: "The number cannot receive SMS (a landline, or a carrier that cannot be reached)",
        action: "Ask for a mobile number",
    },
    ErrorInfo {
        code: "30007",
        meaning: "The carrier filtered the message as spam or unregistered traffic",
        action: "Register the sender (A2P 10DLC or toll-free verification in the US), avoid link shorteners and check the wording",
    },
    ErrorInfo {
        code: "30008",
        meaning: "The carrier failed to deliver the message without saying why",
        action: "Try again later; if many fail, contact Twilio support with the message SIDs",
    },
    ErrorInfo {
        code: "30009",
        meaning: "Some segments of a long message did not arrive",
        action: "Shorten the message or try again",
    },
    ErrorInfo {
        code: "30010",
        meaning: "The message costs more than the maximum price you set",
        action: "Raise or remove the maximum price",
    },
    ErrorInfo {
        code: "30032",
        meaning: "The toll-free sending number is not verified, so carriers block it",
        action: "Complete toll-free verification in the Twilio console",
    },
    ErrorInfo {
        code: "30034",
        meaning: "The US sending number is not registered for A2P 10DLC, so carriers block it",
        action: "Register a brand and campaign for the number in the Twilio console",
    },
];

/// The words for `code`, when the table has them.
pub fn explain(code: &str) -> Option<&'static ErrorInfo> {
    let code = code.trim();
    ERRORS.iter().find(|e| e.code == code)
}

/// The message to show for a recipient: Twilio's own words when it sent some, else the
/// table's, else nothing.
pub fn message_for(code: Option<&str>, given: Option<String>) -> Option<String> {
    given
        .filter(|m| !m.trim().is_empty())
        .or_else(|| code.and_then(explain).map(ErrorInfo::sentence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_codes_have_words() {
        for code in [
            "21211",
            "21408",
            "21606",
            "21610",
            "21612",
            "21614",
            "30001",
            "30002",
            "30003",
            "30004",
            "30005",
            "30006",
            "30007",
            "30008",
            "30032",
            "30034",
            "opted_out",
            "no_consent",
            "frequency_capped",
        ] {
            let e = explain(code).unwrap_or_else(|| panic!("{code} has no words"));
            assert!(!e.meaning.is_empty() && !e.action.is_empty());
        }
        let mut codes: Vec<&str> = ERRORS.iter().map(|e| e.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ERRORS.len(), "each code once");
    }

    #[test]
    fn twilio_words_win_and_unknown_codes_stay_silent() {
        assert_eq!(
            message_for(
                Some("30003"),
                Some("Unreachable destination handset".into())
            )
            .as_deref(),
            Some("Unreachable destination handset")
        );
        let ours = message_for(Some("30003"), None).unwrap();
        assert!(ours.starts_with("The phone could not be reached"), "{ours}");
        assert!(ours.ends_with('.'));
        assert_eq!(
            message_for(Some(" 30008 "), Some(" ".into())),
            message_for(Some("30008"), None)
        );
        assert_eq!(message_for(Some("99999"), None), None);
        assert_eq!(message_for(None, None), None);
    }
}
