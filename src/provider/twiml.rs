//! TwiML, the XML Twilio expects in answer to an incoming-message webhook (docs/ARCHITECTURE.md §9).
//!
//! Why here: it is Twilio's wire format, like the REST client and the signatures. Herald only
//! ever answers with nothing (`<Response/>`, the agent's reply goes out later through the REST
//! API) or with one `<Message>` (a keyword confirmation, sent by Twilio at once).

/// The Content-Type of a TwiML answer.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// A TwiML `<Response>`: empty, or with one `<Message>` carrying `message` as its text.
pub fn response(message: Option<&str>) -> String {
    match message {
        None => format!("{PROLOG}<Response/>"),
        Some(text) => format!(
            "{PROLOG}<Response><Message>{}</Message></Response>",
            escape(text)
        ),
    }
}

/// Escapes text for an XML element, dropping the control characters XML 1.0 cannot carry.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_message_responses_match_twilios_rendering() {
        assert_eq!(
            response(None),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
        // twilio-python 9.13 MessagingResponse().message("Thanks, an agent will reply shortly.")
        assert_eq!(
            response(Some("Thanks, an agent will reply shortly.")),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks, an agent will reply shortly.</Message></Response>"#
        );
    }

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(
            response(Some("Tom & Jerry's <shop> \"20%\"\u{7}\nBye 👋")),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Tom &amp; Jerry&apos;s &lt;shop&gt; &quot;20%&quot;\nBye 👋</Message></Response>"
        );
    }
}
