//! [`EngineStore`](crate::store::EngineStore): the reads written once for both backends (see
//! `sql/mod.rs` for the mechanism). Claims, outcomes, callbacks, promotion and finishing are
//! each backend's own ([`EngineSql`]): PostgreSQL runs several nodes' engines on one database
//! and locks what SQLite's single writer serialises.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::rows::{ClaimedRow, stored_window};
use super::{Backend, Conn, StoredTime};
use crate::domain::ids::{AccountId, CampaignId};
use crate::domain::send_window::{SendWindow, held_until, recipient_zones};
use crate::domain::status::StatusRow;
use crate::store::{SendResult, StatusEvent, StoreResult, Work};

/// What each backend writes its own way for [`crate::store::EngineStore`]: the SQL of claims
/// and lanes (constants, so the hot path formats nothing), and the steps of storing outcomes
/// and callbacks. Parameters of the claim statements: `$1` now, `$2` campaign seq, `$3` sending
/// number, `$4` limit, `$5` account (node, for [`EngineSql::CLAIM`]), `$6`/`$7` the refusal's
/// code and message.
pub(in crate::store) trait EngineSql: Backend + Sized {
    /// The running campaign `$1`: `(id, account_id, require_consent)`, held against a
    /// concurrent cancellation where that needs a lock.
    const CLAIM_CAMPAIGN: &'static str;
    /// Fails the claimable recipients who opted out since the campaign was created.
    const CLAIM_FAIL_OPTED_OUT: &'static str;
    /// Fails the claimable recipients without granted consent (`require_consent`).
    const CLAIM_FAIL_NO_CONSENT: &'static str;
    /// Marks the claimable recipients in flight with a fresh attempt id; returns
    /// [`ClaimedRow`]s.
    const CLAIM: &'static str;
    /// The sending numbers of running campaigns with their rates: `(phone, mps)`.
    const LANES: &'static str;
    /// Running campaigns (by seq) that send from `$1`.
    const LANE_CAMPAIGNS: &'static str;
    /// Running campaigns (by seq) that send from `$1` with a seq above `$2` or started at or
    /// after `$3`.
    const LANE_CAMPAIGNS_NEW: &'static str;
    /// Locks campaign rows that another node's engine may be changing at the same moment
    /// (skipping those it holds); empty where one writer runs at a time.
    const SKIP_LOCKED: &'static str;

    /// Holds the campaigns `seqs` of a group claim (shared, as a lone claim holds its one),
    /// all of them before any recipient, in key order (PostgreSQL's lock order); nothing on
    /// SQLite.
    async fn lock_claim_campaigns(conn: &mut Conn<Self>, seqs: &[i64]) -> StoreResult<()>;
    /// Takes what storing outcomes for rows `ids` will change, before it does (PostgreSQL's
    /// lock order); nothing on SQLite.
    async fn lock_outcomes(conn: &mut Conn<Self>, ids: &[i64]) -> StoreResult<()>;
    /// Stores outcomes that name each recipient once: one statement per kind of outcome.
    async fn record_batch(
        conn: &mut Conn<Self>,
        results: &[SendResult],
        now: StoredTime,
    ) -> StoreResult<()>;
    /// The rows that status events may name (by sid or attempt id), held until the end of the
    /// transaction.
    async fn status_rows(
        conn: &mut Conn<Self>,
        events: &[StatusEvent],
    ) -> StoreResult<Vec<StatusRow>>;
    /// Writes back the rows that status events moved, in one statement.
    async fn write_statuses(
        conn: &mut Conn<Self>,
        moved: &[StatusRow],
        now: StoredTime,
    ) -> StoreResult<()>;
    /// Housekeeping on the engine's beat, after finishing campaigns (PostgreSQL folds its
    /// counts cache).
    async fn after_finish(&self) -> StoreResult<()>;
    /// Per phone of `phones` (distinct), the account's campaign messages that count against
    /// the daily cap: sent at or after `since`, or in flight (claimed) since then; phones with
    /// none are left out ([`recent_messages_sql!`]). With `lock`, each phone's lock (the one
    /// its opt-out state changes under) is taken first, in key order, and held to the end of
    /// the transaction, so two claims that count one phone count one after the other
    /// (PostgreSQL; SQLite's single writer serialises them anyway).
    async fn recent_messages(
        conn: &mut Conn<Self>,
        account: &str,
        phones: &[&str],
        since: StoredTime,
        lock: bool,
    ) -> StoreResult<Vec<(String, i64)>>;
}

/// The count behind [`EngineSql::recent_messages`], with each backend's test of `r.phone`
/// against the list bound as `$1` (`$2` account, `$3` since). A message counts from when
/// Twilio accepted it, or while in flight from its claim: one range per phone of the
/// `recipients_recent` index (migrations/*/0013_daily_cap.sql), whose key and predicate these
/// are. Test sends and replies (other kinds) never count.
macro_rules! recent_messages_sql {
    ($phone_in_list:literal) => {
        concat!(
            "SELECT r.phone, COUNT(*) FROM recipients r JOIN campaigns c ON c.seq = r.campaign_seq \
             WHERE ",
            $phone_in_list,
            " AND COALESCE(r.submitted_at, r.inflight_since) IS NOT NULL \
             AND COALESCE(r.submitted_at, r.inflight_since) >= $3 \
             AND c.account_id = $2 AND c.kind = 'campaign' GROUP BY r.phone"
        )
    };
}
pub(in crate::store) use recent_messages_sql;

/// A claim's rows as work, in campaign order.
pub(in crate::store) fn claimed_work(
    mut rows: Vec<ClaimedRow>,
    campaign_seq: i64,
    campaign: &str,
    account: &str,
) -> Vec<Work> {
    rows.sort_by_key(|r| r.position);
    rows.into_iter()
        .map(|r| Work {
            id: r.id,
            campaign_seq,
            campaign_id: CampaignId::from_trusted(campaign.to_owned()),
            account_id: AccountId::from_trusted(account.to_owned()),
            phone: r.phone,
            from_number: r.from_number,
            body: r.body,
            segments: r.segments as u32,
            attempts: r.attempts as u32,
            attempt_id: r.attempt_id,
        })
        .collect()
}

/// How many recipients a claim checks against the send window at least (many held in a row
/// are held a few hundred per claim, not one pacing batch per claim).
pub(in crate::store) const HOLD_SCAN: u32 = 256;

/// The send window that applies to a campaign's recipients, with the account's zone (for
/// numbers of no known zone); `None` when there is none or the campaign ignores it.
pub(in crate::store) struct ClaimWindow {
    window: SendWindow,
    fallback_zone: String,
}

impl ClaimWindow {
    /// The recipients (`(id, phone)`) to hold, grouped by when their window opens.
    pub(in crate::store) fn holds(
        &self,
        rows: Vec<(i64, String)>,
        now: OffsetDateTime,
    ) -> Vec<(OffsetDateTime, Vec<i64>)> {
        let mut by_zones: HashMap<Vec<String>, Option<OffsetDateTime>> = HashMap::new();
        let mut holds: HashMap<OffsetDateTime, Vec<i64>> = HashMap::new();
        for (id, phone) in rows {
            let zones = recipient_zones(&phone, &self.fallback_zone);
            let until = *by_zones
                .entry(zones)
                .or_insert_with_key(|zones| held_until(&self.window, zones, now));
            if let Some(until) = until {
                holds.entry(until).or_default().push(id);
            }
        }
        let mut holds: Vec<_> = holds.into_iter().collect();
        holds.sort();
        holds
    }
}

impl ClaimWindow {
    /// From the stored columns: account window start and end, account zone, the campaign's
    /// `respect_send_window`.
    pub(in crate::store) fn from_row(
        row: Option<(Option<i32>, Option<i32>, String, bool)>,
    ) -> Option<Self> {
        let (start, end, fallback_zone, respect) = row?;
        let window = stored_window(start, end).filter(|_| respect)?;
        Some(Self {
            window,
            fallback_zone,
        })
    }
}

/// What a claim reads of its campaign `c` (with its account `a`), as one statement: id,
/// account, `require_consent`, then the send window as [`ClaimWindow::from_row`] takes it,
/// then the account's daily cap when the campaign is of kind `campaign` (test sends and
/// replies are never capped).
/// Each backend adds its `WHERE` (and row lock) to it as `EngineSql::CLAIM_CAMPAIGN`.
macro_rules! claim_campaign {
    () => {
        "SELECT c.id, c.account_id, c.require_consent, a.send_window_start, a.send_window_end, \
         a.time_zone, c.respect_send_window, \
         CASE WHEN c.kind = 'campaign' THEN a.max_messages_per_recipient_per_day END \
         FROM campaigns c JOIN accounts a ON a.id = c.account_id"
    };
}
pub(in crate::store) use claim_campaign;

/// A row of [`claim_campaign!`].
pub(in crate::store) type ClaimCampaignRow = (
    String,
    String,
    bool,
    Option<i32>,
    Option<i32>,
    String,
    bool,
    Option<i32>,
);

/// The statement that fails claimed recipients (ids written in: integers) refused by the
/// daily cap, undoing their claim (nothing was sent): `$1` now, `$2`/`$3` the refusal.
pub(in crate::store) fn cap_refusal_sql(ids: &[i64]) -> String {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    format!(
        "UPDATE recipients SET status = 'failed', error_code = $2, error_message = $3, \
         inflight_since = NULL, attempts = attempts - 1, updated_at = $1 \
         WHERE id IN ({list}) AND status = 'pending' AND inflight_since IS NOT NULL"
    )
}

/// The statement that holds recipients (ids written in: integers) until `$1`; `claimed`: they
/// were just marked in flight by this transaction's claim, which is undone (nothing was sent).
pub(in crate::store) fn hold_sql(ids: &[i64], claimed: bool) -> String {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let (undo, guard) = if claimed {
        (
            "inflight_since = NULL, attempts = attempts - 1, ",
            "inflight_since IS NOT NULL",
        )
    } else {
        ("", "inflight_since IS NULL")
    };
    format!(
        "UPDATE recipients SET {undo}held_until = $1 \
         WHERE id IN ({list}) AND status = 'pending' AND {guard}"
    )
}

/// The row a send outcome is about.
pub(in crate::store) fn result_id(result: &SendResult) -> i64 {
    match result {
        SendResult::Accepted { id, .. }
        | SendResult::Failed { id, .. }
        | SendResult::Retry { id, .. }
        | SendResult::Unknown { id, .. }
        | SendResult::Released { id, .. } => *id,
    }
}

/// Writes `impl EngineStore for $store`.
macro_rules! engine_store {
    ($store:ty) => {
        const _: () = {
            use $crate::domain::daily_cap::{self, DailyCap};
            use $crate::domain::status::FREQUENCY_CAPPED;
            use $crate::store::sql::engine::{
                ClaimCampaignRow, ClaimWindow, EngineSql, HOLD_SCAN, cap_refusal_sql,
                claimed_work, hold_sql, result_id,
            };

            impl $store {
                /// The daily cap at claim time (docs/ARCHITECTURE.md §4): of the rows just
                /// claimed, fails (`frequency_capped`, claim undone, nothing sent) those whose
                /// phone already has the account's cap of campaign messages sent in the last
                /// 24 hours or in flight, counting the claimed rows themselves; returns the
                /// rest. Counted under each phone's lock (PostgreSQL), so two claims of one
                /// phone, from any campaigns on any nodes, never both pass a full cap.
                async fn cap_claimed(
                    conn: &mut Conn<Self>,
                    account: &str,
                    cap: DailyCap,
                    rows: Vec<ClaimedRow>,
                    now: StoredTime,
                ) -> StoreResult<Vec<ClaimedRow>> {
                    if rows.is_empty() {
                        return Ok(rows);
                    }
                    let claimed: Vec<(i64, &str)> =
                        rows.iter().map(|r| (r.id, r.phone.as_str())).collect();
                    let mut phones: Vec<&str> = claimed.iter().map(|(_, p)| *p).collect();
                    phones.sort_unstable();
                    phones.dedup();
                    let since = stored(now.get() - daily_cap::PERIOD);
                    let counted: HashMap<String, u64> =
                        Self::recent_messages(conn, account, &phones, since, true)
                            .await?
                            .into_iter()
                            .map(|(phone, n)| (phone, n.max(0) as u64))
                            .collect();
                    let refused = daily_cap::refused(cap, &claimed, &counted);
                    if refused.is_empty() {
                        return Ok(rows);
                    }
                    sqlx::query(AssertSqlSafe(cap_refusal_sql(&refused)))
                        .bind(now)
                        .bind(FREQUENCY_CAPPED.code)
                        .bind(FREQUENCY_CAPPED.message)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    let refused: HashSet<i64> = refused.into_iter().collect();
                    Ok(rows.into_iter().filter(|r| !refused.contains(&r.id)).collect())
                }

                async fn hold_recipients(
                    conn: &mut Conn<Self>,
                    holds: &[(OffsetDateTime, Vec<i64>)],
                    claimed: bool,
                ) -> StoreResult<()> {
                    for (until, ids) in holds {
                        sqlx::query(AssertSqlSafe(hold_sql(ids, claimed)))
                            .bind(stored(*until))
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                    }
                    Ok(())
                }

                /// One campaign's part of a claim, inside the caller's transaction: its
                /// campaign read (and, on PostgreSQL, held against a cancellation), holds
                /// released and taken (send windows), refusals (opt-outs, consent), then up to
                /// `limit` recipients marked in flight. Nothing when the campaign is not
                /// running. A per-number check that limits what may be claimed (a daily cap)
                /// belongs here, before `CLAIM`, narrowing `limit`: every claim, alone or
                /// grouped, goes through this step, and a grouped claim's earlier campaigns
                /// are already written in the same transaction, so a count sees them.
                async fn claim_in(
                    tx: &mut Conn<Self>,
                    node: &NodeId,
                    campaign_seq: i64,
                    from_number: &str,
                    limit: u32,
                    now: StoredTime,
                ) -> StoreResult<Vec<Work>> {
                    let campaign: Option<ClaimCampaignRow> = sqlx::query_as(Self::CLAIM_CAMPAIGN)
                        .bind(campaign_seq)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let Some((campaign, account, require_consent, start, end, zone, respect, cap)) =
                        campaign
                    else {
                        return Ok(Vec::new());
                    };
                    // Send windows (docs/ARCHITECTURE.md §4): release the holds that ended,
                    // then hold the next recipients whose window is closed, before claiming.
                    let window = ClaimWindow::from_row(Some((start, end, zone, respect)));
                    sqlx::query(
                        "UPDATE recipients SET held_until = NULL WHERE campaign_seq = $1 \
                         AND from_number = $2 AND status = 'pending' AND held_until IS NOT NULL \
                         AND held_until <= $3",
                    )
                    .bind(campaign_seq)
                    .bind(from_number)
                    // No window any more: every hold ends.
                    .bind(if window.is_some() { now } else { END_OF_TIME })
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if let Some(window) = &window {
                        let candidates: Vec<(i64, String)> = sqlx::query_as(
                            "SELECT id, phone FROM recipients WHERE campaign_seq = $1 \
                             AND from_number = $2 AND status = 'pending' AND inflight_since IS NULL \
                             AND held_until IS NULL \
                             AND (next_attempt_at IS NULL OR next_attempt_at <= $3) \
                             ORDER BY position LIMIT $4",
                        )
                        .bind(campaign_seq)
                        .bind(from_number)
                        .bind(now)
                        .bind(i64::from(limit.max(HOLD_SCAN)))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend)?;
                        let holds = window.holds(candidates, now.get());
                        Self::hold_recipients(&mut *tx, &holds, false).await?;
                    }
                    // Opt-outs recorded since the campaign was created are honoured just before
                    // sending, and so is consent withdrawn.
                    let mut refusals = vec![(Self::CLAIM_FAIL_OPTED_OUT, OPTED_OUT)];
                    if require_consent {
                        refusals.push((Self::CLAIM_FAIL_NO_CONSENT, NO_CONSENT));
                    }
                    for (sql, refusal) in refusals {
                        sqlx::query(sql)
                            .bind(now)
                            .bind(campaign_seq)
                            .bind(from_number)
                            .bind(limit as i64)
                            .bind(&account)
                            .bind(refusal.code)
                            .bind(refusal.message)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                    let rows: Vec<ClaimedRow> = sqlx::query_as(Self::CLAIM)
                        .bind(now)
                        .bind(campaign_seq)
                        .bind(from_number)
                        .bind(limit as i64)
                        .bind(node.as_str())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend)?;
                    // Claimed past the recipients checked above: give back any whose window
                    // is closed, before anything leaves.
                    let rows = match &window {
                        Some(window) => {
                            let holds = window.holds(
                                rows.iter().map(|r| (r.id, r.phone.clone())).collect(),
                                now.get(),
                            );
                            Self::hold_recipients(&mut *tx, &holds, true).await?;
                            let held: HashSet<i64> = holds.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
                            rows.into_iter().filter(|r| !held.contains(&r.id)).collect()
                        }
                        None => rows,
                    };
                    // The daily cap per recipient (docs/ARCHITECTURE.md §4): counted in this
                    // transaction, so a group claim's earlier campaigns are included.
                    let rows = match DailyCap::from_stored(cap.map(i64::from)) {
                        Some(cap) => Self::cap_claimed(&mut *tx, &account, cap, rows, now).await?,
                        None => rows,
                    };
                    Ok(claimed_work(rows, campaign_seq, &campaign, &account))
                }
            }
            use $crate::store::sql::prelude::*;

            #[async_trait]
            impl EngineStore for $store {
                async fn promote_due_campaigns(&self, now: OffsetDateTime) -> StoreResult<Vec<CampaignId>> {
                    // Every node's scheduler runs this: the row locks make each campaign start
                    // once. A campaign another node is promoting (or cancelling) right now is
                    // skipped, and the status check on the locked row keeps a finished race
                    // from repeating.
                    let mut promoted: Vec<(i64, String)> = sqlx::query_as(AssertSqlSafe(format!(
                        "UPDATE campaigns SET status = 'running', started_at = $1 \
                         WHERE seq IN (SELECT seq FROM campaigns \
                                       WHERE status = 'scheduled' AND scheduled_at <= $1 \
                                       ORDER BY seq{}) \
                         AND status = 'scheduled' RETURNING seq, id",
                        Self::SKIP_LOCKED
                    )))
                    .bind(stored(now))
                    .fetch_all(self.write_pool())
                    .await
                    .map_err(backend)?;
                    promoted.sort();
                    Ok(promoted
                        .into_iter()
                        .map(|(_, id)| CampaignId::from_trusted(id))
                        .collect())
                }

                async fn lanes_with_work(&self) -> StoreResult<Vec<Lane>> {
                    let rows: Vec<(String, f64)> = sqlx::query_as(Self::LANES)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(backend)?;
                    Ok(rows
                        .into_iter()
                        .map(|(phone, mps)| Lane { phone, mps })
                        .collect())
                }

                async fn lane_campaigns(&self, from_number: &str) -> StoreResult<Vec<i64>> {
                    sqlx::query_scalar(Self::LANE_CAMPAIGNS)
                        .bind(from_number)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(backend)
                }

                async fn lane_campaigns_new(
                    &self,
                    from_number: &str,
                    after: i64,
                    started_since: OffsetDateTime,
                ) -> StoreResult<Vec<i64>> {
                    sqlx::query_scalar(Self::LANE_CAMPAIGNS_NEW)
                        .bind(from_number)
                        .bind(after)
                        .bind(stored(started_since))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(backend)
                }

                async fn claim_work(
                    &self,
                    node: &NodeId,
                    campaign_seq: i64,
                    from_number: &str,
                    limit: u32,
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<Work>> {
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let work =
                        Self::claim_in(&mut tx, node, campaign_seq, from_number, limit, stored(now))
                            .await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(work)
                }

                async fn claim_lane_work(
                    &self,
                    node: &NodeId,
                    campaigns: &[i64],
                    from_number: &str,
                    limit: u32,
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<(i64, Vec<Work>)>> {
                    // One transaction for the group: on SQLite's single writer a transaction
                    // per one-recipient campaign capped a number near the writer's commit
                    // rate. Each campaign's part is exactly a lone claim's (`claim_in`).
                    let now = stored(now);
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    Self::lock_claim_campaigns(&mut tx, campaigns).await?;
                    let mut claimed = Vec::with_capacity(campaigns.len());
                    let mut left = limit;
                    for &seq in campaigns {
                        if left == 0 {
                            break;
                        }
                        let work = Self::claim_in(&mut tx, node, seq, from_number, left, now).await?;
                        left = left.saturating_sub(work.len() as u32);
                        claimed.push((seq, work));
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(claimed)
                }

                async fn record_results(&self, results: &[SendResult], now: OffsetDateTime) -> StoreResult<()> {
                    if results.is_empty() {
                        return Ok(());
                    }
                    let now = stored(now);
                    let ids: Vec<i64> = results.iter().map(result_id).collect();
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    Self::lock_outcomes(&mut tx, &ids).await?;
                    // Grouping by kind reorders results; that is only the same as applying them
                    // in order when no recipient is named twice (the engine's batches).
                    // Otherwise apply them one at a time, in order.
                    if ids.iter().collect::<HashSet<_>>().len() == ids.len() {
                        Self::record_batch(&mut tx, results, now).await?;
                    } else {
                        for result in results {
                            Self::record_batch(&mut tx, std::slice::from_ref(result), now).await?;
                        }
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn apply_status_events(
                    &self,
                    events: &[StatusEvent],
                    now: OffsetDateTime,
                ) -> StoreResult<u64> {
                    if events.is_empty() {
                        return Ok(0);
                    }
                    // Read (and hold) the rows the events may name, apply the batch to them in
                    // order, and write back the ones that moved in one statement.
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    let rows = Self::status_rows(&mut tx, events).await?;
                    let moved = fold_status_events(rows, events);
                    if !moved.is_empty() {
                        Self::write_statuses(&mut tx, &moved, stored(now)).await?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(moved.len() as u64)
                }

                async fn finish_campaigns(
                    &self,
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<(CampaignId, CampaignStatus)>> {
                    // Found on a reader first: at 50,000 running campaigns the search (a probe
                    // of each) held SQLite's single writer, which every claim waits for, for
                    // 15 ms several times a second. Then closed in one statement, run by every
                    // node's engine: the campaign rows are locked (SKIP LOCKED: one that another
                    // node is finishing or cancelling is left for the next tick) and re-checked,
                    // so each campaign finishes once. No recipient can become `pending` again in
                    // a running campaign, so "none pending" cannot go stale, and claims and
                    // stored outcomes (KEY SHARE) need not be waited for. `failed` when no
                    // recipient was ever submitted.
                    const NONE_PENDING: &str = "NOT EXISTS (SELECT 1 FROM recipients r \
                         WHERE r.campaign_seq = d.seq AND r.status = 'pending')";
                    let found: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT d.seq FROM campaigns d WHERE d.status = 'running' AND {NONE_PENDING}"
                    )))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    if found.is_empty() {
                        self.after_finish().await?;
                        return Ok(Vec::new());
                    }
                    let rows: Vec<(i64, String, String)> = sqlx::query_as(AssertSqlSafe(format!(
                        "UPDATE campaigns SET finished_at = $2, \
                             status = CASE WHEN EXISTS (SELECT 1 FROM recipients r \
                                              WHERE r.campaign_seq = campaigns.seq \
                                              AND (r.status <> 'failed' OR r.twilio_sid IS NOT NULL)) \
                                      THEN 'done' ELSE 'failed' END \
                         WHERE seq IN (SELECT d.seq FROM campaigns d WHERE d.seq {} \
                                       AND d.status = 'running' AND {NONE_PENDING} \
                                       ORDER BY d.seq{}) \
                         AND status = 'running' \
                         RETURNING seq, id, status",
                        Self::IN_LIST_1,
                        Self::SKIP_LOCKED
                    )))
                    .bind(Self::id_list(&found))
                    .bind(stored(now))
                    .fetch_all(self.write_pool())
                    .await
                    .map_err(backend)?;
                    let mut changed = rows
                        .into_iter()
                        .map(|(seq, id, status)| {
                            Ok((seq, CampaignId::from_trusted(id), campaign_status(&status)?))
                        })
                        .collect::<StoreResult<Vec<_>>>()?;
                    changed.sort_by_key(|(seq, _, _)| *seq);
                    self.after_finish().await?;
                    Ok(changed
                        .into_iter()
                        .map(|(_, id, status)| (id, status))
                        .collect())
                }

                async fn unknown_in_flight(&self, limit: u32) -> StoreResult<Vec<InFlight>> {
                    let rows = sqlx::query_as::<_, InFlightRow>(
                        "SELECT id, attempt_id, phone, from_number, body, inflight_since, attempts \
                         FROM recipients WHERE inflight_since IS NOT NULL AND reconcile \
                         ORDER BY inflight_since, id LIMIT $1",
                    )
                    .bind(limit as i64)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(InFlight::from).collect())
                }

                async fn known_sids(
                    &self,
                    phone: &str,
                    from_number: &str,
                ) -> StoreResult<HashSet<String>> {
                    // A message with a sid was accepted, so it has `submitted_at` and is in
                    // `recipients_recent`, whose predicate the COALESCE term repeats.
                    let sids: Vec<String> = sqlx::query_scalar(
                        "SELECT twilio_sid FROM recipients \
                         WHERE phone = $1 AND from_number = $2 AND twilio_sid IS NOT NULL \
                         AND COALESCE(submitted_at, inflight_since) IS NOT NULL",
                    )
                    .bind(phone)
                    .bind(from_number)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(sids.into_iter().collect())
                }

                async fn paused_campaigns(&self) -> StoreResult<Vec<CampaignId>> {
                    let ids: Vec<String> = sqlx::query_scalar(
                        "SELECT id FROM campaigns WHERE status = 'paused' ORDER BY seq",
                    )
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(ids.into_iter().map(CampaignId::from_trusted).collect())
                }

                async fn campaign_running(&self, campaign_seq: i64) -> StoreResult<bool> {
                    sqlx::query_scalar("SELECT status = 'running' FROM campaigns WHERE seq = $1")
                        .bind(campaign_seq)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(backend)
                        .map(|r: Option<bool>| r.unwrap_or(false))
                }

                async fn claim_due_polls(
                    &self,
                    now: OffsetDateTime,
                    accepted_before: OffsetDateTime,
                    hold_until: OffsetDateTime,
                    limit: u32,
                ) -> StoreResult<Vec<DuePoll>> {
                    // Two statements, each one index range (migrations/*/0006): polls due
                    // again, then first polls. Each locks what it takes (SKIP LOCKED: another
                    // node's claim in progress is its business; a row whose claim committed
                    // meanwhile fails the re-check of its due time), so every poll is made by
                    // one node.
                    let mut polls = Vec::new();
                    for (due, before) in [
                        (
                            "next_poll_at IS NOT NULL AND next_poll_at <= $2 ORDER BY next_poll_at",
                            now,
                        ),
                        (
                            "next_poll_at IS NULL AND submitted_at <= $2 AND twilio_sid IS NOT NULL \
                             ORDER BY submitted_at",
                            accepted_before,
                        ),
                    ] {
                        let left = i64::from(limit) - polls.len() as i64;
                        if left <= 0 {
                            break;
                        }
                        let rows: Vec<(i64, Option<String>, Option<String>, Option<StoredTime>)> =
                            sqlx::query_as(AssertSqlSafe(format!(
                                "UPDATE recipients SET next_poll_at = $1 \
                                 WHERE id IN (SELECT id FROM recipients \
                                              WHERE status IN ('queued', 'sent') AND {due} \
                                              LIMIT $3{}) \
                                 AND status IN ('queued', 'sent') \
                                 RETURNING id, twilio_sid, attempt_id, submitted_at",
                                Self::SKIP_LOCKED
                            )))
                            .bind(stored(hold_until))
                            .bind(stored(before))
                            .bind(left)
                            .fetch_all(self.write_pool())
                            .await
                            .map_err(backend)?;
                        polls.extend(rows.into_iter().filter_map(|(id, sid, attempt_id, at)| {
                            Some(DuePoll {
                                id,
                                sid: sid?,
                                attempt_id,
                                // Accepted rows always have it; a row without one counts
                                // from now.
                                accepted_at: at.map_or(now, OffsetDateTime::from),
                            })
                        }));
                    }
                    polls.sort_by_key(|p| p.id);
                    Ok(polls)
                }

                async fn schedule_polls(
                    &self,
                    polls: &[(i64, Option<OffsetDateTime>)],
                ) -> StoreResult<()> {
                    if polls.is_empty() {
                        return Ok(());
                    }
                    // A few rows a second (the poller's rate): a statement each, in one
                    // transaction, rows in id order as every recipient lock here is taken.
                    let mut polls = polls.to_vec();
                    polls.sort_by_key(|(id, _)| *id);
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    for (id, next) in polls {
                        sqlx::query(
                            "UPDATE recipients SET next_poll_at = $1 \
                             WHERE id = $2 AND status IN ('queued', 'sent')",
                        )
                        .bind(next.map_or(END_OF_TIME, stored))
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn recent_campaign_messages(
                    &self,
                    account: &AccountId,
                    phones: &[String],
                    now: OffsetDateTime,
                ) -> StoreResult<HashMap<String, u64>> {
                    let since = stored(now - daily_cap::PERIOD);
                    let mut conn = self.read_pool().acquire().await.map_err(backend)?;
                    let mut counted = HashMap::new();
                    for chunk in phones.chunks(10_000) {
                        let mut chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
                        chunk.sort_unstable();
                        chunk.dedup();
                        let rows =
                            Self::recent_messages(&mut conn, account.as_str(), &chunk, since, false)
                                .await?;
                        counted.extend(rows.into_iter().map(|(phone, n)| (phone, n.max(0) as u64)));
                    }
                    Ok(counted)
                }

                async fn pending_total(&self) -> StoreResult<u64> {
                    let n: i64 = sqlx::query_scalar(
                        // From the counts cache (a few rows per campaign): counting the rows
                        // scanned a million index entries every few seconds and filled a
                        // reader's page cache.
                        "SELECT CAST(COALESCE(SUM(cc.n), 0) AS BIGINT) FROM campaigns c \
                         JOIN campaign_counts cc ON cc.campaign_seq = c.seq \
                         WHERE c.status = 'running' AND cc.status = 'pending'",
                    )
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(n as u64)
                }
            }
        };
    };
}

pub(in crate::store) use engine_store;
