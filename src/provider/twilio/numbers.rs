//! The account's phone numbers (`IncomingPhoneNumbers`): whether the account owns a number
//! with SMS, and where Twilio sends the messages it receives (`SmsUrl`).

use serde::Deserialize;

use super::client::{TwilioClient, is_sid};
use super::error::TwilioError;

/// One of the account's numbers, as Twilio lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IncomingNumber {
    /// `PN…`.
    pub sid: String,
    /// E.164.
    pub phone_number: String,
    /// The name given in Twilio's console.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Where Twilio posts the SMS this number receives (empty: nowhere).
    #[serde(default)]
    pub sms_url: Option<String>,
    /// What the number can do.
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// A number's capabilities (Twilio also lists voice, MMS and fax; only SMS matters here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Capabilities {
    /// It can send and receive SMS.
    #[serde(default, alias = "SMS")]
    pub sms: bool,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    incoming_phone_numbers: Vec<IncomingNumber>,
    #[serde(default)]
    next_page_uri: Option<String>,
}

/// Most pages of numbers read for a whole listing (1,000 numbers a page).
const MAX_PAGES: u32 = 20;

impl TwilioClient {
    /// The account's numbers (`GET …/IncomingPhoneNumbers.json`), or only `phone` when given
    /// (`?PhoneNumber=…`, an exact E.164 match).
    pub async fn incoming_numbers(
        &self,
        phone: Option<&str>,
    ) -> Result<Vec<IncomingNumber>, TwilioError> {
        let url = format!("{}/IncomingPhoneNumbers.json", self.account_url);
        let mut query = vec![("PageSize", "1000".to_owned())];
        if let Some(phone) = phone {
            query.push(("PhoneNumber", phone.to_owned()));
        }
        let mut page: Page = self.get_json(self.http.get(&url).query(&query)).await?;
        let mut numbers = std::mem::take(&mut page.incoming_phone_numbers);
        let mut pages = 1;
        while let Some(next) = page.next_page_uri.take().filter(|u| !u.is_empty()) {
            if pages >= MAX_PAGES {
                break;
            }
            // Only the same API's paths, so credentials never go to another host.
            if !next.starts_with(&format!("{}/", super::API_PREFIX)) {
                break;
            }
            let url = format!("{}{next}", self.base_url);
            page = self.get_json(self.http.get(&url)).await?;
            numbers.append(&mut page.incoming_phone_numbers);
            pages += 1;
        }
        Ok(numbers)
    }

    /// Points a number's incoming SMS at `sms_url` (`POST …/IncomingPhoneNumbers/{Sid}.json`
    /// with `SmsUrl` and `SmsMethod=POST`).
    pub async fn set_sms_url(
        &self,
        sid: &str,
        sms_url: &str,
    ) -> Result<IncomingNumber, TwilioError> {
        if !is_sid(sid) {
            return Err(TwilioError::InvalidArgument(
                "phone number SID must be ASCII letters and digits".into(),
            ));
        }
        let url = format!("{}/IncomingPhoneNumbers/{sid}.json", self.account_url);
        let form = [("SmsUrl", sms_url), ("SmsMethod", "POST")];
        self.get_json(self.http.post(&url).form(&form)).await
    }
}
