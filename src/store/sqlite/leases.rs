//! Leases on SQLite (migration 0005). Why they differ from PostgreSQL: nodes sharing an
//! SQLite file run on one machine, so the lease clock is that machine's, in Unix milliseconds
//! (spans are milliseconds too), and phone lists are JSON arrays.

use std::time::Duration;

use super::SqliteStore;
use crate::store::sql::leases::LeaseSql;

impl LeaseSql for SqliteStore {
    type Span = i64;
    type Phones = String;
    const NOW: &'static str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";
    const LEAST: &'static str = "min";
    const RENEW: &'static str = "UPDATE number_leases \
         SET expires_at = CAST(unixepoch('subsec') * 1000 AS INTEGER) + $1 \
         WHERE node_id = $2 AND expires_at > CAST(unixepoch('subsec') * 1000 AS INTEGER) \
           AND phone IN (SELECT value FROM json_each($3)) \
         RETURNING phone";
    const ORPHANS: &'static str = "UPDATE recipients SET reconcile = 1 \
         WHERE inflight_since IS NOT NULL AND reconcile = 0 AND ( \
             ($1 AND claimed_by = $2) \
             OR ((claimed_by IS NULL OR claimed_by <> $2) \
                 AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = recipients.claimed_by \
                     AND n.seen_at > CAST(unixepoch('subsec') * 1000 AS INTEGER) - $3) \
                 AND NOT EXISTS (SELECT 1 FROM number_leases l \
                     WHERE l.phone = recipients.from_number AND l.node_id = recipients.claimed_by \
                       AND l.expires_at > CAST(unixepoch('subsec') * 1000 AS INTEGER))))";

    fn span(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
    }

    fn phones(phones: &[String]) -> String {
        serde_json::Value::from(phones).to_string()
    }
}
