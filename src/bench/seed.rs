//! Builds large databases for the benchmarks directly through the store (the same code the
//! server runs), far faster than through HTTP.

use std::time::Instant;

use anyhow::Context;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::domain::campaign::NewRecipient;
use crate::domain::ids::{AccountId, CampaignId, NodeId};
use crate::domain::phone::Phone;
use crate::domain::segments;
use crate::domain::status::{CampaignStatus, RecipientStatus, Source};
use crate::service::accounts;
use crate::store::{self, DynStore, NewCampaign, Number, RecipientList, SendResult, StatusEvent};

/// What a seeded database holds.
pub struct Seeded {
    /// The store, still open.
    pub store: DynStore,
    /// API key of the account.
    pub key: String,
    /// The account.
    pub account: AccountId,
    /// The sending numbers.
    pub numbers: Vec<String>,
}

/// Opens (creating) `database`, with an account and `numbers` sending numbers at `mps`.
pub async fn open(database: &str, numbers: usize, mps: f64) -> anyhow::Result<Seeded> {
    let store = store::connect(database, &store::DbOptions::default()).await?;
    store.migrate().await?;
    let creds = accounts::create_account(store.as_ref(), "Bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let account = AccountId::parse(&creds.account_id).context("account id")?;
    let now = OffsetDateTime::now_utc();
    let mut phones = Vec::new();
    for i in 0..numbers {
        let phone = format!("+4474464{:05}", 60_000 + i);
        store
            .create_number(
                &account,
                &Number {
                    phone: phone.clone(),
                    mps,
                    agent_id: None,
                    created_at: now,
                    updated_at: now,
                },
            )
            .await?;
        phones.push(phone);
    }
    Ok(Seeded {
        store,
        key: creds.api_key,
        account,
        numbers: phones,
    })
}

/// The `i`-th recipient phone of a benchmark (valid UK mobiles, distinct up to 9,000,000).
pub fn phone(i: u64) -> String {
    format!("+44772{:07}", 1_000_000 + i)
}

/// Stores a campaign of `n` recipients spread over the numbers, returning its id and `seq`.
pub async fn campaign(
    seeded: &Seeded,
    n: u64,
    first: u64,
    status: CampaignStatus,
) -> anyhow::Result<CampaignId> {
    let mut recipients = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut variables = Map::new();
        variables.insert(
            "first_name".into(),
            Value::String(format!("P{}", first + i)),
        );
        let body = format!(
            "Hi P{}, your appointment is on Tuesday at 2pm. Reply YES to confirm.",
            first + i
        );
        let count = segments::count(&body);
        recipients.push(NewRecipient {
            phone: Phone::parse(&phone(first + i)).map_err(|e| anyhow::anyhow!("{e}"))?,
            variables,
            body,
            segments: count.segments,
            encoding: count.encoding,
            from_number: Phone::parse(&seeded.numbers[(i as usize) % seeded.numbers.len()])
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            opted_out: false,
            no_consent: false,
        });
    }
    let id = CampaignId::generate();
    seeded
        .store
        .create_campaign(
            &NewCampaign {
                id: id.clone(),
                account_id: seeded.account.clone(),
                name: format!("Bench {first}"),
                message_template: "Hi {{first_name}}, your appointment is on Tuesday at 2pm. Reply YES to confirm."
                    .into(),
                agent_id: None,
                from_numbers: seeded.numbers.clone(),
                status,
                source: Source::Api,
                scheduled_at: None,
                require_consent: false,
                respect_send_window: true,
                send_window_reason: None,
                created_at: OffsetDateTime::now_utc(),
                resend_of: None,
            },
            &mut RecipientList::new(recipients, 0),
            None,
        )
        .await?;
    Ok(id)
}

/// Moves every recipient of the running campaign `id` through claim → accepted (with a
/// made-up sid) and then a mix of final statuses, as if it had been sent; returns the sids.
/// Leaves `1 - settled` of the recipients `queued`.
pub async fn send_through(
    seeded: &Seeded,
    id: &CampaignId,
    settled: f64,
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let campaign = seeded.store.get_campaign(&seeded.account, id).await?;
    let now = OffsetDateTime::now_utc();
    let mut sids = Vec::new();
    let node = NodeId::parse("bench-seed").expect("a valid node name");
    for number in &seeded.numbers {
        loop {
            let work = seeded
                .store
                .claim_work(&node, campaign.seq, number, 5_000, now)
                .await?;
            if work.is_empty() {
                break;
            }
            let results: Vec<SendResult> = work
                .iter()
                .map(|w| SendResult::Accepted {
                    id: w.id,
                    attempt_id: w.attempt_id.clone(),
                    sid: format!("SM{:032x}", w.id),
                    status: RecipientStatus::Queued,
                })
                .collect();
            seeded.store.record_results(&results, now).await?;
            sids.extend(work.iter().map(|w| format!("SM{:032x}", w.id)));
        }
    }
    let mix = [
        ("delivered", 70u64),
        ("undelivered", 10),
        ("failed", 5),
        ("sent", 5),
    ];
    let settle_upto = (sids.len() as f64 * settled) as usize;
    let events: Vec<StatusEvent> = sids[..settle_upto]
        .iter()
        .enumerate()
        .map(|(i, sid)| {
            let roll = (i as u64 * 7919) % 90;
            let mut acc = 0;
            let mut status = "delivered";
            for (s, w) in mix {
                acc += w;
                if roll < acc {
                    status = s;
                    break;
                }
            }
            StatusEvent {
                attempt_id: None,
                sid: sid.clone(),
                status: RecipientStatus::from_twilio(status).unwrap_or(RecipientStatus::Delivered),
                error_code: matches!(status, "undelivered" | "failed").then(|| "30003".to_owned()),
                error_message: None,
            }
        })
        .collect();
    for chunk in events.chunks(5_000) {
        seeded.store.apply_status_events(chunk, now).await?;
    }
    tracing::debug!(elapsed = ?started.elapsed(), "seeded statuses");
    Ok(sids)
}
