//! Compliance keywords of inbound SMS (STOP, START, HELP and their synonyms) and the
//! confirmations Herald answers them with.
//!
//! Why pure: whether a message opts someone out decides whether Herald may ever text them
//! again, so the rule is one small function with a table of tests, not logic spread over
//! handlers. The rule is docs/ARCHITECTURE.md §5 and Twilio's own: only a message whose whole body (trimmed,
//! any case) is a keyword counts; "Stop" opts out, "STOP please" does not.

/// What an inbound message asks for, as far as compliance is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// Stop every message from the account (STOP and its synonyms).
    OptOut,
    /// Receive messages again (START, UNSTOP, and YES from an opted-out number).
    OptIn,
    /// Send the account's help text (HELP, INFO).
    Help,
}

impl Keyword {
    /// The storage and wire name (`opt_out`, `opt_in`, `help`).
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::OptOut => "opt_out",
            Keyword::OptIn => "opt_in",
            Keyword::Help => "help",
        }
    }

    /// Parses the storage name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "opt_out" => Some(Keyword::OptOut),
            "opt_in" => Some(Keyword::OptIn),
            "help" => Some(Keyword::Help),
            _ => None,
        }
    }
}

/// Opt-out keywords: Twilio's current list (its Advanced Opt-Out tutorial, with REVOKE and
/// OPTOUT added for the 2025 FCC rule).
pub const OPT_OUT_KEYWORDS: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Opt-in keywords that count whatever the number's state.
pub const OPT_IN_KEYWORDS: [&str; 2] = ["START", "UNSTOP"];
/// Opt-in keywords that count only from an opted-out number: a subscribed person answering
/// "YES" to "Reply YES to book" is talking to the agent, not re-subscribing.
pub const OPT_IN_IF_OPTED_OUT_KEYWORDS: [&str; 1] = ["YES"];
/// Help keywords.
pub const HELP_KEYWORDS: [&str; 2] = ["HELP", "INFO"];

/// Classifies an inbound message.
///
/// - `body` is the message text; it is a keyword only when the whole of it, trimmed of
///   whitespace (also zero-width spaces and byte-order marks), matches one, in any case.
/// - `opted_out` is whether the sender is opted out of the account now (YES counts only then).
/// - `opt_out_type` is Twilio's `OptOutType` parameter (`STOP`, `START`, `HELP`), sent when a
///   Messaging Service with Advanced Opt-Out recognised a keyword (including custom keywords
///   and other languages); when present it is honoured. One exception keeps the spec's
///   example working: Twilio counts YES as an opt-in keyword, but from a number that is not
///   opted out, YES is an answer for the agent.
///
/// `None` means an ordinary message, for the agent.
pub fn classify(body: &str, opted_out: bool, opt_out_type: Option<&str>) -> Option<Keyword> {
    let word = trim(body);
    let is = |list: &[&str]| list.iter().any(|k| word.eq_ignore_ascii_case(k));
    let yes_from_subscriber = !opted_out && is(&OPT_IN_IF_OPTED_OUT_KEYWORDS);
    let from_twilio = opt_out_type.map(str::trim).and_then(|t| {
        if t.eq_ignore_ascii_case("STOP") {
            Some(Keyword::OptOut)
        } else if t.eq_ignore_ascii_case("START") {
            Some(Keyword::OptIn)
        } else if t.eq_ignore_ascii_case("HELP") {
            Some(Keyword::Help)
        } else {
            None
        }
    });
    if let Some(keyword) = from_twilio {
        if keyword == Keyword::OptIn && yes_from_subscriber {
            return None;
        }
        return Some(keyword);
    }
    if is(&OPT_OUT_KEYWORDS) {
        Some(Keyword::OptOut)
    } else if is(&OPT_IN_KEYWORDS) || (opted_out && is(&OPT_IN_IF_OPTED_OUT_KEYWORDS)) {
        Some(Keyword::OptIn)
    } else if is(&HELP_KEYWORDS) {
        Some(Keyword::Help)
    } else {
        None
    }
}

/// Trims whitespace, zero-width spaces and byte-order marks, which phones sometimes add.
fn trim(body: &str) -> &str {
    body.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\u{200B}' | '\u{FEFF}'))
}

/// The confirmation sent once when a number opts out (the only message it gets afterwards).
pub fn opt_out_confirmation(account_name: &str) -> String {
    format!(
        "{}: you are unsubscribed and will receive no more messages. Reply START to resubscribe.",
        sender_name(account_name)
    )
}

/// The confirmation sent when a number opts back in.
pub fn opt_in_confirmation(account_name: &str) -> String {
    format!(
        "{}: you are subscribed again. Reply STOP to unsubscribe, HELP for help.",
        sender_name(account_name)
    )
}

/// The help text used when the account has not set its own: who is texting and how to stop.
pub fn default_help_text(account_name: &str) -> String {
    format!(
        "{}: reply STOP to unsubscribe, START to resubscribe. Msg & data rates may apply.",
        sender_name(account_name)
    )
}

fn sender_name(account_name: &str) -> &str {
    match account_name.trim() {
        "" => "Herald",
        name => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Keyword::*;

    #[test]
    fn keywords_are_the_whole_message_trimmed_in_any_case() {
        // (body, opted out?, expected)
        let table: &[(&str, bool, Option<Keyword>)] = &[
            ("STOP", false, Some(OptOut)),
            ("stop ", false, Some(OptOut)),
            ("Stop", false, Some(OptOut)),
            ("  sToP\n", false, Some(OptOut)),
            ("\u{200B}STOP\u{FEFF}", false, Some(OptOut)),
            ("STOP please", false, None),
            ("please stop", false, None),
            ("STOP.", false, None),
            ("S TOP", false, None),
            ("stopall", false, Some(OptOut)),
            ("Unsubscribe", false, Some(OptOut)),
            ("cancel", false, Some(OptOut)),
            ("END", false, Some(OptOut)),
            ("quit", false, Some(OptOut)),
            ("REVOKE", false, Some(OptOut)),
            ("optout", false, Some(OptOut)),
            ("OPT OUT", false, None),
            ("STOP", true, Some(OptOut)),
            ("START", true, Some(OptIn)),
            ("start", false, Some(OptIn)),
            ("Unstop", true, Some(OptIn)),
            ("YES", true, Some(OptIn)),
            (" yes ", true, Some(OptIn)),
            ("YES", false, None),
            ("Yes please", true, None),
            ("HELP", false, Some(Help)),
            ("info", true, Some(Help)),
            ("help me", false, None),
            ("", false, None),
            ("   ", true, None),
            ("Tuesday at 2pm?", false, None),
        ];
        for (body, opted_out, expected) in table {
            assert_eq!(
                classify(body, *opted_out, None),
                *expected,
                "{body:?} (opted out: {opted_out})"
            );
        }
    }

    #[test]
    fn twilio_opt_out_type_is_honoured() {
        // Advanced Opt-Out recognised a custom or foreign keyword.
        assert_eq!(classify("ARRET", false, Some("STOP")), Some(OptOut));
        assert_eq!(classify("Stop please", false, Some("STOP")), Some(OptOut));
        assert_eq!(classify("JOIN", false, Some("START")), Some(OptIn));
        assert_eq!(classify("AIDE", true, Some("help")), Some(Help));
        // YES from a subscriber stays a message for the agent even when Twilio calls it START.
        assert_eq!(classify("YES", false, Some("START")), None);
        assert_eq!(classify("YES", true, Some("START")), Some(OptIn));
        // An unknown or empty OptOutType falls back to the body.
        assert_eq!(classify("STOP", false, Some("")), Some(OptOut));
        assert_eq!(classify("hello", false, Some("SOMETHING")), None);
    }

    #[test]
    fn names_round_trip_and_confirmations_name_the_sender() {
        for k in [OptOut, OptIn, Help] {
            assert_eq!(Keyword::parse(k.as_str()), Some(k));
        }
        assert!(opt_out_confirmation("Acme Dental").starts_with("Acme Dental: "));
        assert!(opt_out_confirmation("Acme Dental").contains("START"));
        assert!(opt_in_confirmation(" ").starts_with("Herald: "));
        assert!(default_help_text("Acme").contains("STOP"));
        // One GSM-7 segment each for a typical name.
        for text in [
            opt_out_confirmation("Acme Dental"),
            opt_in_confirmation("Acme Dental"),
            default_help_text("Acme Dental"),
        ] {
            assert_eq!(crate::domain::segments::count(&text).segments, 1, "{text}");
        }
    }
}
