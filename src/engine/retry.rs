//! What to do with each send outcome: store it, retry it later, or reconcile it first.

use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::status::RecipientStatus;
use crate::provider::twilio::{SendOutcome, TwilioApiError};
use crate::store::{SendResult, Work};

/// Retry policy for outcomes that were not processed by Twilio.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Most requests per recipient before it fails.
    pub max_attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter for the given attempt (1-based):
    /// a random delay in `[d/2, d]` where `d = min(cap, base * 2^(attempt-1))`.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let d = (self.base.as_secs_f64() * exp).min(self.cap.as_secs_f64());
        Duration::from_secs_f64(d * (0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
    }
}

/// What the engine does after one send.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The row update to store.
    pub result: SendResult,
    /// Twilio said the recipient opted out (21610): record an opt-out for the account.
    pub opted_out: bool,
    /// Slow the number down (429) for this long at least.
    pub slow_down: Option<Option<Duration>>,
    /// Stop sending on this number for a while (configuration error, sender queue full).
    pub pause: Option<Duration>,
    /// Label for metrics and logs.
    pub outcome: &'static str,
}

fn code_of(error: Option<&TwilioApiError>, http_status: Option<u16>) -> String {
    error
        .and_then(|e| e.code)
        .map(|c| c.to_string())
        .or_else(|| http_status.map(|s| format!("http_{s}")))
        .unwrap_or_else(|| "network".to_owned())
}

/// Turns a provider outcome into what to store and how to adjust pacing.
pub fn decide(
    work: &Work,
    outcome: SendOutcome,
    policy: &RetryPolicy,
    now: OffsetDateTime,
    jitter: f64,
) -> Decision {
    let id = work.id;
    let attempt_id = work.attempt_id.clone();
    match outcome {
        SendOutcome::Accepted(message) => Decision {
            result: SendResult::Accepted {
                id,
                attempt_id,
                status: RecipientStatus::from_twilio(&message.status)
                    .filter(|s| *s != RecipientStatus::Pending)
                    .unwrap_or(RecipientStatus::Queued),
                sid: message.sid,
            },
            opted_out: false,
            slow_down: None,
            pause: None,
            outcome: "accepted",
        },
        SendOutcome::Rejected { http_status, error } => Decision {
            opted_out: error.is_opt_out(),
            result: SendResult::Failed {
                id,
                attempt_id,
                code: code_of(Some(&error), Some(http_status)),
                message: error
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("Twilio rejected the message (HTTP {http_status})")),
            },
            slow_down: None,
            pause: None,
            outcome: "rejected",
        },
        SendOutcome::Retryable {
            http_status,
            error,
            retry_after,
            detail,
        } => {
            let code = code_of(error.as_ref(), http_status);
            let message = error
                .as_ref()
                .and_then(|e| e.message.clone())
                .unwrap_or(detail);
            let is_429 =
                http_status == Some(429) || error.as_ref().and_then(|e| e.code) == Some(20429);
            let queue_full = error.as_ref().is_some_and(|e| e.is_sender_queue_full());
            let result = if work.attempts >= policy.max_attempts {
                SendResult::Failed {
                    id,
                    attempt_id,
                    code,
                    message: format!("gave up after {} attempts: {message}", work.attempts),
                }
            } else {
                let wait = policy
                    .backoff(work.attempts, jitter)
                    .max(retry_after.unwrap_or_default());
                SendResult::Retry {
                    id,
                    attempt_id,
                    not_before: now + wait,
                    code,
                    message,
                }
            };
            Decision {
                result,
                opted_out: false,
                slow_down: is_429.then_some(retry_after),
                pause: queue_full.then(|| retry_after.unwrap_or(Duration::from_secs(300))),
                outcome: "retryable",
            }
        }
        SendOutcome::Ambiguous { detail, .. } => Decision {
            result: SendResult::Unknown {
                id,
                attempt_id,
                message: format!("outcome unknown, reconciling: {detail}"),
            },
            opted_out: false,
            slow_down: None,
            pause: None,
            outcome: "ambiguous",
        },
        SendOutcome::Config { http_status, error } => {
            tracing::error!(
                http_status,
                code = ?error.code,
                message = ?error.message,
                from = %work.from_number,
                "Twilio refused our credentials or sender; pausing this number"
            );
            Decision {
                result: SendResult::Released { id, attempt_id },
                opted_out: false,
                slow_down: None,
                pause: Some(Duration::from_secs(30)),
                outcome: "config",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{AccountId, CampaignId};
    use crate::provider::twilio::Message;

    fn work(attempts: u32) -> Work {
        Work {
            id: 7,
            campaign_seq: 1,
            campaign_id: CampaignId::generate(),
            account_id: AccountId::generate(),
            phone: "+447111000001".into(),
            from_number: "+447446466847".into(),
            body: "Hi".into(),
            segments: 1,
            attempts,
            attempt_id: "abc".into(),
        }
    }

    fn api_error(code: i64, message: &str) -> TwilioApiError {
        serde_json::from_value(serde_json::json!({"code": code, "message": message, "status": 400}))
            .unwrap()
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(3, 0.0), Duration::from_secs(1));
        assert_eq!(p.backoff(40, 1.0), Duration::from_secs(300));
    }

    #[test]
    fn rejections_fail_with_twilios_code_and_21610_opts_out() {
        let now = OffsetDateTime::now_utc();
        let d = decide(
            &work(1),
            SendOutcome::Rejected {
                http_status: 400,
                error: api_error(21610, "unsubscribed"),
            },
            &RetryPolicy::default(),
            now,
            0.5,
        );
        assert!(d.opted_out);
        match d.result {
            SendResult::Failed { code, message, .. } => {
                assert_eq!(code, "21610");
                assert_eq!(message, "unsubscribed");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retryable_outcomes_back_off_then_give_up() {
        let now = OffsetDateTime::now_utc();
        let outcome = || SendOutcome::Retryable {
            http_status: Some(429),
            error: Some(api_error(20429, "Too Many Requests")),
            retry_after: Some(Duration::from_secs(5)),
            detail: "429".into(),
        };
        let d = decide(&work(1), outcome(), &RetryPolicy::default(), now, 0.5);
        assert_eq!(d.slow_down, Some(Some(Duration::from_secs(5))));
        match d.result {
            SendResult::Retry { not_before, .. } => {
                assert!(not_before >= now + Duration::from_secs(5))
            }
            other => panic!("{other:?}"),
        }
        let d = decide(&work(6), outcome(), &RetryPolicy::default(), now, 0.5);
        assert!(matches!(d.result, SendResult::Failed { ref code, .. } if code == "20429"));
    }

    #[test]
    fn ambiguous_outcomes_are_reconciled_not_retried() {
        let d = decide(
            &work(1),
            SendOutcome::Ambiguous {
                http_status: Some(500),
                detail: "500".into(),
            },
            &RetryPolicy::default(),
            OffsetDateTime::now_utc(),
            0.5,
        );
        assert!(matches!(d.result, SendResult::Unknown { .. }));
    }

    #[test]
    fn accepted_keeps_the_sid() {
        let message: Message = serde_json::from_value(serde_json::json!({
            "sid": "SM0123", "status": "queued", "num_segments": "1"
        }))
        .unwrap();
        let d = decide(
            &work(1),
            SendOutcome::Accepted(message),
            &RetryPolicy::default(),
            OffsetDateTime::now_utc(),
            0.5,
        );
        assert!(matches!(
            d.result,
            SendResult::Accepted { ref sid, status: RecipientStatus::Queued, .. } if sid == "SM0123"
        ));
    }
}
