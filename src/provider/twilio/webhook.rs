//! Twilio's webhook form parameters read into what Herald acts on: a status callback or an
//! incoming message. Pure: the signature over them is checked before, by the caller.

/// The first non-empty value of a form parameter.
///
/// Why non-empty: Twilio posts every documented parameter, empty when it has no value
/// (`ErrorCode=` on a delivered message), and an empty value means "none" to Herald.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A status callback for an outbound message, as Twilio posts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCallback<'a> {
    /// `MessageStatus` (or the older `SmsStatus`) as sent, `""` when missing; kept raw
    /// because metrics count every status Twilio sends, known to Herald or not.
    pub status: &'a str,
    /// `MessageSid` (or the older `SmsSid`): the message the callback is about.
    pub message_sid: Option<&'a str>,
    /// `ErrorCode`, set on failed and undelivered messages.
    pub error_code: Option<&'a str>,
    /// `ErrorMessage`, Twilio's text for `ErrorCode`, when it sends one.
    pub error_message: Option<&'a str>,
}

impl<'a> StatusCallback<'a> {
    /// Reads a status callback's parameters; missing ones are `None` (or `""` for the status).
    pub fn parse(params: &'a [(String, String)]) -> Self {
        Self {
            status: param(params, "MessageStatus")
                .or_else(|| param(params, "SmsStatus"))
                .unwrap_or(""),
            message_sid: param(params, "MessageSid").or_else(|| param(params, "SmsSid")),
            error_code: param(params, "ErrorCode"),
            error_message: param(params, "ErrorMessage"),
        }
    }
}

/// An incoming message, as Twilio posts it to the inbound webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncomingMessage {
    /// `From`: the person (`""` when missing).
    pub from: String,
    /// `To`: one of the account's numbers (`""` when missing).
    pub to: String,
    /// `Body` exactly as sent, whitespace included: trimming is the keyword matcher's
    /// business, not the transport's.
    pub body: String,
    /// `MessageSid` (or the older `SmsMessageSid` / `SmsSid`).
    pub message_sid: Option<String>,
    /// `OptOutType` (`STOP`, `START`, `HELP`), sent by a Messaging Service with Advanced
    /// Opt-Out.
    pub opt_out_type: Option<String>,
}

impl IncomingMessage {
    /// Reads an incoming message's parameters; missing ones are empty or `None`.
    pub fn parse(params: &[(String, String)]) -> Self {
        let text = |name: &str| param(params, name).map(str::to_owned);
        Self {
            from: text("From").unwrap_or_default(),
            to: text("To").unwrap_or_default(),
            body: params
                .iter()
                .find(|(k, _)| k == "Body")
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            message_sid: text("MessageSid")
                .or_else(|| text("SmsMessageSid"))
                .or_else(|| text("SmsSid")),
            opt_out_type: text("OptOutType"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn param_takes_the_first_value_and_treats_empty_as_missing() {
        let params = form(&[("A", "1"), ("A", "2"), ("B", "")]);
        assert_eq!(param(&params, "A"), Some("1"));
        assert_eq!(param(&params, "B"), None);
        assert_eq!(param(&params, "C"), None);
    }

    #[test]
    fn a_status_callback_reads_status_sid_and_error() {
        let params = form(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("ErrorMessage", "Unreachable destination handset"),
        ]);
        assert_eq!(
            StatusCallback::parse(&params),
            StatusCallback {
                status: "undelivered",
                message_sid: Some("SM1"),
                error_code: Some("30003"),
                error_message: Some("Unreachable destination handset"),
            }
        );
    }

    #[test]
    fn a_status_callback_falls_back_to_the_older_names() {
        let params = form(&[
            ("SmsSid", "SM2"),
            ("SmsStatus", "sent"),
            ("MessageStatus", ""),
            ("ErrorCode", ""),
        ]);
        let cb = StatusCallback::parse(&params);
        assert_eq!(cb.status, "sent");
        assert_eq!(cb.message_sid, Some("SM2"));
        assert_eq!(cb.error_code, None);
        assert_eq!(StatusCallback::parse(&[]).status, "");
    }

    #[test]
    fn an_incoming_message_keeps_its_body_as_sent() {
        let params = form(&[
            ("From", "+447700900001"),
            ("To", "+447446466847"),
            ("Body", "  Stop \n"),
            ("SmsMessageSid", "SM3"),
            ("OptOutType", "STOP"),
        ]);
        assert_eq!(
            IncomingMessage::parse(&params),
            IncomingMessage {
                from: "+447700900001".into(),
                to: "+447446466847".into(),
                body: "  Stop \n".into(),
                message_sid: Some("SM3".into()),
                opt_out_type: Some("STOP".into()),
            }
        );
    }

    #[test]
    fn an_incoming_message_with_nothing_is_empty() {
        assert_eq!(IncomingMessage::parse(&[]), IncomingMessage::default());
        let empty_body = form(&[("Body", ""), ("MessageSid", "SM4"), ("SmsSid", "SM5")]);
        let m = IncomingMessage::parse(&empty_body);
        assert_eq!(m.body, "");
        assert_eq!(m.message_sid.as_deref(), Some("SM4"));
    }
}
