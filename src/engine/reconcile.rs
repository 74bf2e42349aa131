//! Settles attempts whose outcome is unknown (an ambiguous answer, or a crash mid-request)
//! by asking Twilio, so that a message is resent only when Twilio proves it does not exist.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::Shared;
use crate::domain::status::RecipientStatus;
use crate::provider::twilio::ListFilter;
use crate::store::{InFlight, SendResult};

/// How often unknown attempts are looked at.
const PERIOD: Duration = Duration::from_secs(1);
/// Clock skew allowed between Herald and Twilio when matching a message to an attempt.
const SKEW: time::Duration = time::Duration::minutes(10);

pub(super) async fn run(shared: Arc<Shared>) {
    loop {
        match shared.store.unknown_in_flight(200).await {
            Ok(rows) => {
                shared.metrics.reconciling.set(rows.len() as i64);
                for row in rows {
                    if shared.shutdown.is_cancelled() {
                        return;
                    }
                    reconcile_one(&shared, row).await;
                }
            }
            Err(e) => tracing::error!(error = ?e, "listing unknown attempts failed"),
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(PERIOD) => {},
        }
    }
}

async fn reconcile_one(shared: &Shared, row: InFlight) {
    let now = OffsetDateTime::now_utc();
    let age = now - row.since;
    if age < shared.config.reconcile_after {
        return;
    }
    let day = (row.since - time::Duration::days(1)).date();
    let listed = shared
        .client
        .list(&ListFilter {
            to: Some(&row.phone),
            from: Some(&row.from_number),
            date_sent_after: Some(day),
            page_size: 200,
            max_pages: 20,
            ..ListFilter::default()
        })
        .await;
    let result = match listed {
        Err(e) => {
            if age >= shared.config.reconcile_deadline {
                tracing::error!(recipient = row.id, error = %e, "could not reconcile in time; failing the recipient");
                SendResult::Failed {
                    id: row.id,
                    attempt_id: row.attempt_id,
                    code: "reconcile_timeout".into(),
                    message: format!(
                        "Twilio's answer was lost and Twilio could not be asked whether the message exists: {e}"
                    ),
                }
            } else {
                tracing::warn!(recipient = row.id, error = %e, "reconciliation lookup failed; will retry");
                return;
            }
        }
        Ok(messages) => {
            let known = match shared.store.known_sids(&row.phone, &row.from_number).await {
                Ok(k) => k,
                Err(e) => {
                    tracing::error!(error = ?e, "reading known sids failed");
                    return;
                }
            };
            let found = messages.iter().find(|m| {
                !known.contains(&m.sid)
                    && m.body.as_deref() == Some(row.body.as_str())
                    && m.date_created_at().is_none_or(|t| t >= row.since - SKEW)
            });
            match found {
                Some(m) => {
                    tracing::info!(recipient = row.id, sid = %m.sid, "reconciled: Twilio has the message");
                    SendResult::Accepted {
                        id: row.id,
                        attempt_id: row.attempt_id,
                        sid: m.sid.clone(),
                        status: RecipientStatus::from_twilio(&m.status)
                            .filter(|s| *s != RecipientStatus::Pending)
                            .unwrap_or(RecipientStatus::Queued),
                    }
                }
                None if row.attempts >= shared.config.retry.max_attempts => SendResult::Failed {
                    id: row.id,
                    attempt_id: row.attempt_id,
                    code: "send_failed".into(),
                    message: format!(
                        "Twilio did not create the message after {} attempts",
                        row.attempts
                    ),
                },
                None => {
                    tracing::info!(
                        recipient = row.id,
                        "reconciled: Twilio has no such message; sending again"
                    );
                    SendResult::Retry {
                        id: row.id,
                        attempt_id: row.attempt_id,
                        not_before: now,
                        code: "reconciled_absent".into(),
                        message: "the earlier attempt did not reach Twilio".into(),
                    }
                }
            }
        }
    };
    if let Err(e) = shared.store.record_results(&[result], now).await {
        tracing::error!(error = ?e, "storing a reconciliation failed");
    }
}
