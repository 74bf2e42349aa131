//! What both backends share, written once: the stored-time type, row records, error mapping,
//! and the queries whose SQL is the same on SQLite and PostgreSQL.
//!
//! How one query serves two backends: sqlx accepts `$1` placeholders on both, and the column
//! types line up once times go through [`StoredTime`] (Unix milliseconds on SQLite, a
//! `timestamptz` cut to the millisecond on PostgreSQL) and JSON through `sqlx::types::Json`
//! (text on SQLite, `jsonb` on PostgreSQL). sqlx has no backend-generic executor that stays
//! readable, so each aspect's shared queries are a `macro_rules!` in this folder that writes the
//! aspect trait's whole `impl` for one store type; `sqlite/mod.rs` and `postgres/mod.rs` expand
//! each macro once. Inside it `self.read_pool()` and `self.write_pool()` ([`Backend`]) are
//! SQLite's reader and single writer, or PostgreSQL's one pool. What really differs is asked
//! of the backend: a few words of SQL ([`Backend`]'s constants: row locks, list parameters),
//! and per aspect a trait of its own steps and statements (`CampaignSql`: the bulk recipient
//! insert; `EngineSql`: claims, outcome and callback batches; `ConsentSql`: opt-out locking
//! and consent appends; `LeaseSql`: the lease clock), implemented in `sqlite/<aspect>.rs` and
//! `postgres/<aspect>.rs`.

pub(super) mod accounts;
pub(super) mod campaigns;
pub(super) mod consents;
pub(super) mod conversations;
pub(super) mod draft_phones;
pub(super) mod engine;
pub(super) mod leases;
pub(super) mod resources;
pub(super) mod rows;
pub(super) mod sessions;
pub(super) mod tallies;
pub(super) mod webhooks;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use time::OffsetDateTime;

use super::{StoreError, StoreResult};

/// A store's pools, and the few words of SQL the shared queries spell per backend.
pub(super) trait Backend: Send + Sync {
    /// The sqlx database.
    type Db: sqlx::Database;
    /// A list of row ids as one parameter (a JSON array on SQLite, an array on PostgreSQL).
    type IdList;
    /// Row-lock clauses. SQLite's single writer runs one write transaction at a time, so
    /// there they are empty; PostgreSQL runs several nodes' transactions side by side.
    const FOR_UPDATE: &'static str;
    /// See [`Backend::FOR_UPDATE`]: a lock that lets foreign-key checks through.
    const FOR_NO_KEY_UPDATE: &'static str;
    /// See [`Backend::FOR_UPDATE`]: `FOR NO KEY UPDATE` of the conversation row `c` alone.
    const FOR_NO_KEY_UPDATE_OF_C: &'static str;
    /// `expr IN` the list bound as `$1` ([`Backend::id_list`]).
    const IN_LIST_1: &'static str;
    /// A campaign (`campaigns` row) sends from the phone bound as `$2`.
    const SENDS_FROM_2: &'static str;
    /// Adds `n` (`$3`) recipients of status `$2` to campaign `$1`'s counts cache (PostgreSQL's
    /// has a row per server process: this is the campaign's own, `slot = 0`).
    const INSERT_COUNTS: &'static str;
    /// Adds `$3` pending recipients of `$4` segments on number `$2` to campaign `$1`'s queue
    /// cache (migrations/*/0015; PostgreSQL: the campaign's own row, `slot = 0`).
    const ADD_QUEUE: &'static str;
    /// Adds `$3` recipients failed with code `$2` (message `$4`) to campaign `$1`'s errors
    /// cache (as [`Backend::ADD_QUEUE`]).
    const ADD_ERRORS: &'static str;

    /// Where reads go (SQLite: the reader pool, which WAL lets run beside the writer).
    fn read_pool(&self) -> &sqlx::Pool<Self::Db>;
    /// Where writes go (SQLite: its one-connection writer, so transactions never race for
    /// the file lock).
    fn write_pool(&self) -> &sqlx::Pool<Self::Db>;
    /// `ids` as one parameter, for [`Backend::IN_LIST_1`].
    fn id_list(ids: &[i64]) -> Self::IdList;
}

/// What the shared queries' macros name, in one `use`.
pub(super) mod prelude {
    pub(in crate::store) use std::collections::{HashMap, HashSet};

    pub(in crate::store) use async_trait::async_trait;
    pub(in crate::store) use sqlx::AssertSqlSafe;
    pub(in crate::store) use sqlx::types::Json;
    pub(in crate::store) use time::OffsetDateTime;

    pub(in crate::store) use super::rows::*;
    pub(in crate::store) use super::{
        Backend, Conn, END_OF_TIME, StoredTime, backend, corrupt, found, stored,
    };
    pub(in crate::store) use crate::domain::campaign::AccountContext;
    pub(in crate::store) use crate::domain::consent::{self, ConsentStatus};
    pub(in crate::store) use crate::domain::ids::{
        AccountId, AgentId, CampaignId, ConversationId, KeyId, MessageId, NodeId, TestSendId,
    };
    pub(in crate::store) use crate::domain::keywords::Keyword;
    pub(in crate::store) use crate::domain::reply::{Direction, reply_campaign_name};
    pub(in crate::store) use crate::domain::status::{
        CampaignStatus, Counts, NO_CONSENT, OPTED_OUT, RecipientStatus, fold_status_events,
        number_in_use,
    };
    pub(in crate::store) use crate::store::*;
}

/// A connection of the store `S`'s database (what a transaction derefs to).
pub(super) type Conn<S> = <<S as Backend>::Db as sqlx::Database>::Connection;

/// Maps a driver error: unique and foreign-key violations are conflicts, the rest failures.
pub(super) fn backend(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict("already exists".into());
        }
        if db.is_foreign_key_violation() {
            return StoreError::Conflict("still in use".into());
        }
    }
    StoreError::Backend(Box::new(e))
}

/// `NotFound` when a write changed no row (the object is not there, or is another account's).
pub(super) fn found(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// A value in the database that Herald never writes.
pub(super) fn corrupt(what: String) -> StoreError {
    StoreError::Backend(format!("unexpected value in the database: {what}").into())
}

/// Parses a stored name (`parse` is the type's own), or reports it as corrupt.
pub(super) fn parse_stored<T>(
    raw: &str,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> StoreResult<T> {
    parse(raw).ok_or_else(|| corrupt(format!("{what} {raw:?}")))
}

/// A JSON (de)serialisation failure, as a store error.
pub(in crate::store) fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// An instant as both backends store it: UTC, to the millisecond. SQLite keeps Unix
/// milliseconds (an INTEGER), PostgreSQL a `timestamptz` (cut to the millisecond before it is
/// written), so both give back the same instants and one row record reads either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct StoredTime(OffsetDateTime);

/// The far end of the time cursors (`before = None`): later than any stored time.
pub(super) const END_OF_TIME: StoredTime = StoredTime(time::macros::datetime!(9999-12-31 0:00 UTC));

impl StoredTime {
    /// The instant as it will be stored (and read back).
    pub(super) fn get(self) -> OffsetDateTime {
        self.0
    }

    fn from_ms(ms: i64) -> Self {
        Self(
            OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )
    }

    /// Unix milliseconds, as SQLite stores it (for SQL that computes with times).
    pub(super) fn unix_ms(self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1_000_000) as i64
    }
}

impl From<OffsetDateTime> for StoredTime {
    fn from(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        Self(
            t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
                .unwrap_or(t),
        )
    }
}

impl From<StoredTime> for OffsetDateTime {
    fn from(t: StoredTime) -> Self {
        t.0
    }
}

/// Shorthand: `t` as stored.
pub(super) fn stored(t: OffsetDateTime) -> StoredTime {
    StoredTime::from(t)
}

impl Type<Sqlite> for StoredTime {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for StoredTime {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.unix_ms(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for StoredTime {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::from_ms(<i64 as Decode<Sqlite>>::decode(value)?))
    }
}

impl Type<Postgres> for StoredTime {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
    }
}

impl PgHasArrayType for StoredTime {
    fn array_type_info() -> PgTypeInfo {
        <OffsetDateTime as PgHasArrayType>::array_type_info()
    }
}

impl Encode<'_, Postgres> for StoredTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for StoredTime {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<OffsetDateTime as Decode<Postgres>>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_are_utc_milliseconds() {
        let t = time::macros::datetime!(2026-01-01 12:00:00.123456789 +01:00);
        let s = stored(t);
        assert_eq!(
            s.get(),
            time::macros::datetime!(2026-01-01 11:00:00.123 UTC)
        );
        assert_eq!(StoredTime::from_ms(s.unix_ms()), s);
        assert!(END_OF_TIME > s);
    }
}
