//! Leases on PostgreSQL (migration 0005). Why they differ from SQLite: nodes on several
//! machines share the database, so every lease time is the database's `clock_timestamp()`
//! and the nodes' clocks never matter; orphans are marked in id order, the lock order every
//! writer of recipients follows here.

use std::time::Duration;

use sqlx::postgres::types::PgInterval;

use super::PgStore;
use crate::store::sql::leases::LeaseSql;

impl LeaseSql for PgStore {
    type Span = PgInterval;
    type Phones = Vec<String>;
    const NOW: &'static str = "clock_timestamp()";
    const LEAST: &'static str = "LEAST";
    const RENEW: &'static str = "UPDATE number_leases SET expires_at = clock_timestamp() + $1 \
         WHERE node_id = $2 AND expires_at > clock_timestamp() AND phone = ANY($3) \
         RETURNING phone";
    // Other nodes store outcomes of these rows meanwhile, locking them in id order
    // (`record_results`, `apply_status_events`): so does this, or the two deadlock (a plain
    // UPDATE locks rows in the order it finds them).
    const ORPHANS: &'static str = "UPDATE recipients SET reconcile = true \
             WHERE id IN (SELECT r.id FROM recipients r \
                 WHERE r.inflight_since IS NOT NULL AND NOT r.reconcile AND ( \
                     ($1 AND r.claimed_by = $2) \
                     OR (r.claimed_by IS DISTINCT FROM $2 \
                         AND NOT EXISTS (SELECT 1 FROM nodes n \
                             WHERE n.node_id = r.claimed_by \
                               AND n.seen_at > clock_timestamp() - $3) \
                         AND NOT EXISTS (SELECT 1 FROM number_leases l \
                             WHERE l.phone = r.from_number \
                               AND l.node_id = r.claimed_by \
                               AND l.expires_at > clock_timestamp()))) \
                 ORDER BY r.id FOR UPDATE OF r) \
             AND inflight_since IS NOT NULL AND NOT reconcile";

    fn span(d: Duration) -> PgInterval {
        PgInterval {
            months: 0,
            days: 0,
            microseconds: i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4),
        }
    }

    fn phones(phones: &[String]) -> Vec<String> {
        phones.to_vec()
    }
}
