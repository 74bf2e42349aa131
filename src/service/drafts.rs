//! New-campaign drafts: what the dashboard's form produced, kept between its preview and the
//! send. The draft's content is the dashboard's own (opaque JSON here); what matters to the
//! service is who owns it, that it is sent at most once, and that old ones go away.

use time::OffsetDateTime;

use super::App;
use super::campaigns::{self, CreateOutcome};
use super::sessions::{SignedIn, random_token};
use super::{ServiceError, ServiceResult};
use crate::domain::campaign::{CampaignRequest, Recipients};
use crate::domain::ids::{AccountId, CampaignId};
use crate::domain::status::Source;
use crate::store::IdempotencyKey;
use crate::store::sessions::DraftRecord;

/// How long a draft is kept (it is meant for one sitting).
const DRAFT_LIFETIME: time::Duration = time::Duration::days(1);

/// A stored draft.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Opaque id (in the preview page's URL).
    pub id: String,
    /// The dashboard's JSON (form fields, parsed recipients).
    pub data: String,
    /// The file as uploaded, if the recipients came from one.
    pub upload: Option<Vec<u8>>,
    /// The campaign it was sent as, once it was.
    pub campaign_id: Option<String>,
}

impl From<DraftRecord> for Draft {
    fn from(r: DraftRecord) -> Self {
        Self {
            id: r.id,
            data: r.data,
            upload: r.upload,
            campaign_id: r.campaign_id,
        }
    }
}

/// Stores a new draft of `user`'s; returns its id.
pub async fn save(
    app: &App,
    user: &SignedIn,
    data: String,
    upload: Option<Vec<u8>>,
) -> ServiceResult<String> {
    let id = format!("drf_{}", &random_token()[..22]);
    app.store
        .save_draft(&DraftRecord {
            id: id.clone(),
            account_id: user.account_id.clone(),
            user_id: user.user_id,
            data,
            upload,
            campaign_id: None,
            created_at: OffsetDateTime::now_utc(),
        })
        .await?;
    Ok(id)
}

/// One draft of the account (`NotFound` for another account's).
pub async fn get(app: &App, account: &AccountId, id: &str) -> ServiceResult<Draft> {
    Ok(app
        .store
        .get_draft(account, id)
        .await
        .map_err(ServiceError::from_store("draft"))?
        .into())
}

/// Creates the draft's campaign (waking the engine, as any create does) and records that the
/// draft was sent. `key` makes a second click replay the first campaign instead of sending
/// again. `resend_of`: the campaign a resend draft sends to again (recorded on the new one).
pub async fn send<L: Recipients + Sync>(
    app: &App,
    account: &AccountId,
    id: &str,
    request: &CampaignRequest<L>,
    key: &IdempotencyKey,
    resend_of: Option<&str>,
) -> ServiceResult<CreateOutcome> {
    let resend_of = match resend_of {
        Some(raw) => Some(CampaignId::parse(raw).ok_or(ServiceError::NotFound("campaign"))?),
        None => None,
    };
    let outcome = campaigns::create_with(
        app,
        account,
        request,
        Source::Dashboard,
        Some(key),
        resend_of.as_ref(),
    )
    .await?;
    // Best effort: the idempotency key already stops a second campaign.
    let _ = app
        .store
        .mark_draft_sent(account, id, &outcome.campaign.campaign.campaign_id)
        .await;
    Ok(outcome)
}

/// Deletes expired sign-in sessions and drafts older than a day (run now and then).
pub async fn purge_expired(app: &App, now: OffsetDateTime) {
    let _ = super::sessions::purge_expired(app, now).await;
    let _ = app.store.delete_drafts_before(now - DRAFT_LIFETIME).await;
}
