//! Compliance: the opt-out list and the append-only consent history. The records and the
//! [`ConsentStore`] trait.

use std::collections::HashSet;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::consent::ConsentStatus;
use crate::domain::ids::{AccountId, ConsentId};

pub use crate::domain::consent::{ConsentEvent, NewConsent};

/// A number on the account's opt-out list.
#[derive(Debug, Clone)]
pub struct OptOut {
    /// E.164.
    pub phone: String,
    /// How it got there (`keyword`, `api`, `twilio_21610`, …).
    pub source: String,
    /// The reason recorded.
    pub reason: Option<String>,
    /// When.
    pub created_at: OffsetDateTime,
}

/// A stored consent record.
#[derive(Debug, Clone)]
pub struct ConsentRecord {
    /// Paging key.
    pub seq: i64,
    /// Its id.
    pub id: ConsentId,
    /// The person.
    pub phone: String,
    /// Granted or revoked.
    pub status: ConsentStatus,
    /// How it was obtained.
    pub source: String,
    /// What proves it.
    pub evidence: Option<String>,
    /// When it was given or withdrawn.
    pub occurred_at: OffsetDateTime,
    /// When Herald stored it.
    pub recorded_at: OffsetDateTime,
}

/// The opt-out list and consent records of each account.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Records that `phone` opted out of the account (idempotent), with a consent record.
    async fn add_opt_out(
        &self,
        account: &AccountId,
        phone: &str,
        source: &str,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The numbers that opted out of the account.
    async fn opted_out_phones(&self, account: &AccountId) -> StoreResult<HashSet<String>>;

    /// Whether `phone` is opted out of the account.
    async fn is_opted_out(&self, account: &AccountId, phone: &str) -> StoreResult<bool>;
    /// The account's opt-outs, newest first; `before` is a `(created_at, phone)` cursor.
    async fn list_opt_outs(
        &self,
        account: &AccountId,
        before: Option<(OffsetDateTime, String)>,
        limit: u32,
    ) -> StoreResult<Vec<OptOut>>;
    /// One number's entry on the opt-out list.
    async fn get_opt_out(&self, account: &AccountId, phone: &str) -> StoreResult<Option<OptOut>>;
    /// Opts a number out of the account, with a `revoked` consent record when that changes
    /// anything; true when the number was not opted out before.
    async fn opt_out(
        &self,
        account: &AccountId,
        event: &ConsentEvent,
        reason: Option<&str>,
    ) -> StoreResult<bool>;
    /// Takes a number off the opt-out list with a `granted` consent record (the reason is its
    /// evidence); `NotFound` when it is not opted out.
    async fn remove_opt_out(
        &self,
        account: &AccountId,
        event: &ConsentEvent,
    ) -> StoreResult<ConsentRecord>;
    /// Appends consent records (all or none). They change each number's current consent when
    /// they are its latest; they never change the opt-out list.
    async fn add_consents(
        &self,
        account: &AccountId,
        records: &[NewConsent],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ConsentRecord>>;
    /// The account's consent records, newest first (of one phone, if given); `before` is a seq.
    async fn list_consents(
        &self,
        account: &AccountId,
        phone: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ConsentRecord>>;
    /// A number's current consent (its latest record's status), if it has any record.
    async fn consent_status(
        &self,
        account: &AccountId,
        phone: &str,
    ) -> StoreResult<Option<ConsentStatus>>;
    /// Numbers whose current consent is `granted` (what `require_consent` sends to).
    async fn consented_phones(
        &self,
        account: &AccountId,
    ) -> StoreResult<std::collections::HashSet<String>>;
}
