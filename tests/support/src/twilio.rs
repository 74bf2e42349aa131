//! Twilio's side of a test: what the in-process simulator sent, and incoming messages
//! posted to Herald's webhook signed as Twilio signs them.

use herald::provider::signature;
use reqwest::Response;

use crate::app::TestApp;

/// One create the simulator accepted, as its journal reports it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Sent {
    /// The recipient.
    pub to: String,
    /// The sending number.
    pub from: String,
    /// The text as sent.
    pub body: String,
    /// Segments Twilio would bill.
    pub segments: u32,
    /// When the simulator accepted it (RFC 3339).
    pub received_at: String,
}

impl Sent {
    /// `received_at` as an instant.
    pub fn at(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::parse(
            &self.received_at,
            &time::format_description::well_known::Rfc3339,
        )
        .expect("RFC 3339")
    }
}

impl TestApp {
    /// Every create the simulator accepted, oldest first.
    pub async fn journal(&self) -> Vec<Sent> {
        let url = format!("{}/sim/messages", self.sim_url.as_ref().expect("simulator"));
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Posts a signed incoming-message webhook from `from` to our number `to`, as Twilio does
    /// (Herald must have Twilio settings, as with the simulator); asserts the 200.
    pub async fn text_in(&self, from: &str, to: &str, body: &str, sid: &str) {
        let r = self.post_inbound(from, to, body, sid, &[]).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Posts a signed incoming-message webhook with Twilio's usual parameters and `extra`
    /// ones (`OptOutType`, …); returns Herald's answer, whatever it is.
    pub async fn post_inbound(
        &self,
        from: &str,
        to: &str,
        body: &str,
        sid: &str,
        extra: &[(&str, &str)],
    ) -> Response {
        let mut params: Vec<(String, String)> = [
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("ApiVersion", "2010-04-01"),
            ("Body", body),
            ("From", from),
            ("MessageSid", sid),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
            ("SmsMessageSid", sid),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("To", to),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        params.sort();
        let url = format!("{}/webhooks/twilio/inbound", self.settings.public_base());
        let token = &self
            .settings
            .twilio
            .as_ref()
            .expect("Twilio settings")
            .auth_token;
        self.client
            .post(self.url("/webhooks/twilio/inbound"))
            .header(signature::HEADER, signature::compute(token, &url, &params))
            .form(&params)
            .send()
            .await
            .unwrap()
    }
}
