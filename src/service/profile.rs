//! A dashboard user's profile: the phone "Send me a test" sends to, saved and read, and the
//! test send to it (through [`super::test_send::send`], exactly as `POST /v1/sms/test`).

use serde_json::{Map, Value};

use super::sessions::SignedIn;
use super::test_send::{self, TestSendRequest, TestSendView};
use super::{App, ServiceError, ServiceResult};
use crate::domain::phone::Phone;

/// The field a missing profile phone is reported on.
pub const NO_PHONE_FIELD: &str = "profile_phone";

/// The phone saved on the user's profile, if any.
pub async fn phone(app: &App, user: &SignedIn) -> ServiceResult<Option<String>> {
    app.store
        .user_phone(user.user_id)
        .await
        .map_err(ServiceError::from_store("user"))
}

/// Saves the user's phone, parsed as a campaign's recipient is (E.164, the API rule); empty
/// clears it. Returns the phone as saved.
pub async fn set_phone(app: &App, user: &SignedIn, raw: &str) -> ServiceResult<Option<String>> {
    let phone = match raw.trim() {
        "" => None,
        raw => Some(
            Phone::parse(raw)
                .map_err(|e| ServiceError::invalid("phone", e.to_string()))?
                .as_str()
                .to_owned(),
        ),
    };
    app.store
        .set_user_phone(user.user_id, phone.as_deref())
        .await
        .map_err(ServiceError::from_store("user"))?;
    Ok(phone)
}

/// Sends `message_template` from `from_number` with `variables` to the user's own phone, as
/// `POST /v1/sms/test` would. No phone on the profile: a validation error on
/// [`NO_PHONE_FIELD`].
pub async fn send_me_a_test(
    app: &App,
    user: &SignedIn,
    from_number: Option<String>,
    message_template: String,
    variables: Map<String, Value>,
) -> ServiceResult<TestSendView> {
    let Some(to) = phone(app, user).await? else {
        return Err(ServiceError::invalid(
            NO_PHONE_FIELD,
            "Save your mobile number on your profile first: tests are sent to it.",
        ));
    };
    let request = TestSendRequest {
        from_number,
        to: Some(to),
        message_template: Some(message_template),
        variables: Some(variables),
    };
    test_send::send(app, &user.account_id, &request).await
}
