//! The tallies caches at the store (migrations/*/0015_tallies.sql), on both backends as the
//! conformance suite runs: a campaign's held count, errors by code and queue per sending
//! number, read from the caches, always equal the GROUP BYs over its recipients, after
//! creates (with recipients failed at once), appends, claims, sends, failures, retries,
//! callbacks, holds, pause and resume, cancel, resends and test sends, on one node or several.

use herald::domain::Phone;
use herald::domain::campaign::NewRecipient;
use herald::domain::ids::{AccountId, CampaignId, KeyId, NodeId, TestSendId};
use herald::domain::segments::Encoding;
use herald::domain::send_window::{LocalMinute, SendWindow};
use herald::domain::status::{CampaignStatus, RecipientStatus, Source};
use herald::store::{
    AccountSettingsUpdate, CampaignTallies, Created, NewAccount, NewApiKey, NewCampaign,
    NewTestSend, Number, RecipientList, SendResult, StatusEvent, Store, StoreError, Work,
};
use herald_test_support::TestDb;
use serde_json::Map;
use time::OffsetDateTime;
use time::macros::datetime;

on_every_backend!(
    tallies_follow_every_kind_of_change,
    tallies_stay_exact_with_several_nodes_at_once,
    number_loads_are_the_running_campaigns_queues,
);

/// 10:00 UTC: London's morning, New York's night.
const T0: OffsetDateTime = datetime!(2026-03-01 10:00 UTC);
const SENDER: &str = "+447446466847";
const SENDER_2: &str = "+14155552671";
const NEW_YORK: &str = "+1212736";

fn at(ms: i64) -> OffsetDateTime {
    T0 + time::Duration::milliseconds(ms)
}

fn node() -> NodeId {
    NodeId::parse("tally-node").unwrap()
}

fn phone(raw: &str) -> Phone {
    Phone::parse(raw).unwrap()
}

async fn account(s: &dyn Store, name: &str) -> AccountId {
    let id = AccountId::generate();
    s.create_account(&NewAccount {
        id: id.clone(),
        name: name.into(),
        username: format!("{name}-{}", &id.as_str()[5..11]),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        key: NewApiKey {
            id: KeyId::generate(),
            name: "default".into(),
            secret_hash: vec![1; 32],
        },
        created_at: T0,
    })
    .await
    .unwrap();
    // 09:00–21:00: the New York recipients are held at T0.
    s.update_account_settings(
        &id,
        &AccountSettingsUpdate {
            send_window: Some(Some(
                SendWindow::new(
                    LocalMinute::parse("09:00").unwrap(),
                    LocalMinute::parse("21:00").unwrap(),
                )
                .unwrap(),
            )),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    id
}

/// A campaign of `n` recipients from `from` in turn; every third is in New York (held at
/// T0), every fourth message takes 2 segments, every seventh recipient opted out.
fn campaign(
    a: &AccountId,
    from: &[&str],
    n: usize,
    salt: usize,
) -> (NewCampaign, Vec<NewRecipient>) {
    let new = NewCampaign {
        id: CampaignId::generate(),
        account_id: a.clone(),
        name: "Tallies".into(),
        message_template: "Hi".into(),
        agent_id: None,
        from_numbers: from.iter().map(|p| p.to_string()).collect(),
        status: CampaignStatus::Running,
        source: Source::Api,
        scheduled_at: None,
        require_consent: false,
        respect_send_window: true,
        send_window_reason: None,
        created_at: T0,
        resend_of: None,
    };
    let recipients = (0..n)
        .map(|i| NewRecipient {
            phone: phone(&if i % 3 == 1 {
                format!("{NEW_YORK}{:04}", salt * 100 + i)
            } else {
                format!("+4471110{:05}", salt * 100 + i)
            }),
            variables: Map::new(),
            body: "Hi".into(),
            segments: if i % 4 == 3 { 2 } else { 1 },
            encoding: Encoding::Gsm7,
            from_number: phone(from[i % from.len()]),
            opted_out: i % 7 == 5,
            no_consent: false,
        })
        .collect();
    (new, recipients)
}

async fn create(s: &dyn Store, new: &NewCampaign, rows: Vec<NewRecipient>) -> i64 {
    let created = s
        .create_campaign(new, &mut RecipientList::new(rows, 0), None)
        .await
        .unwrap();
    assert_eq!(created, Created::New(new.id.clone()));
    s.get_campaign(&new.account_id, &new.id).await.unwrap().seq
}

/// Asserts that the cached tallies equal the aggregated ones, and returns them.
async fn checked(s: &dyn Store, a: &AccountId, id: &CampaignId, what: &str) -> CampaignTallies {
    let cached = s.campaign_tallies(a, id).await.unwrap();
    let aggregated = s.aggregate_tallies(a, id).await.unwrap();
    assert_eq!(cached, aggregated, "{what}");
    aggregated
}

fn accepted(w: &Work) -> SendResult {
    SendResult::Accepted {
        id: w.id,
        attempt_id: w.attempt_id.clone(),
        sid: format!("SM{}x{}", w.id, w.attempt_id),
        status: RecipientStatus::Queued,
    }
}

fn failed(w: &Work, code: &str) -> SendResult {
    SendResult::Failed {
        id: w.id,
        attempt_id: w.attempt_id.clone(),
        code: code.into(),
        message: format!("Twilio says {code}"),
    }
}

fn event(w: &Work, status: RecipientStatus, code: Option<&str>) -> StatusEvent {
    StatusEvent {
        attempt_id: Some(w.attempt_id.clone()),
        sid: format!("SM{}x{}", w.id, w.attempt_id),
        status,
        error_code: code.map(str::to_owned),
        error_message: code.map(|c| format!("carrier says {c}")),
    }
}

async fn tallies_follow_every_kind_of_change(db: &TestDb) {
    let s = db.store().await;
    let a = account(&*s, "tally").await;
    let (main, rows) = campaign(&a, &[SENDER, SENDER_2], 42, 1);
    let seq = create(&*s, &main, rows).await;
    let t = checked(&*s, &a, &main.id, "create").await;
    // 6 opted out (5, 12, 19, 26, 33, 40) failed at once; nobody is held before a claim.
    assert_eq!(t.errors.len(), 1);
    assert_eq!(
        (t.errors[0].error_code.as_str(), t.errors[0].count),
        ("opted_out", 6)
    );
    assert_eq!(t.held, 0);
    assert_eq!(t.queues.iter().map(|q| q.pending).sum::<u64>(), 36);
    assert_eq!(t.queues.len(), 2);

    // Claims hold the New York recipients and take the others in flight (still pending).
    let mut work = s.claim_work(&node(), seq, SENDER, 8, at(1)).await.unwrap();
    let t = checked(&*s, &a, &main.id, "claim with holds").await;
    assert!(t.held > 0, "{t:?}");
    work.extend(
        s.claim_work(&node(), seq, SENDER_2, 8, at(2))
            .await
            .unwrap(),
    );
    checked(&*s, &a, &main.id, "second claim").await;
    assert!(work.len() >= 8, "{}", work.len());

    // Outcomes of every kind.
    let retry = SendResult::Retry {
        id: work[2].id,
        attempt_id: work[2].attempt_id.clone(),
        not_before: at(0),
        code: "20429".into(),
        message: "Too Many Requests".into(),
    };
    let release = SendResult::Released {
        id: work[3].id,
        attempt_id: work[3].attempt_id.clone(),
    };
    let results = vec![
        accepted(&work[0]),
        accepted(&work[1]),
        retry,
        release,
        failed(&work[4], "21211"),
        failed(&work[5], "21211"),
        failed(&work[6], "21610"),
        accepted(&work[7]),
    ];
    s.record_results(&results, at(3)).await.unwrap();
    checked(&*s, &a, &main.id, "outcomes").await;

    // Callbacks: delivered, undelivered with a code, late and repeated ones.
    let events = vec![
        event(&work[0], RecipientStatus::Sent, None),
        event(&work[0], RecipientStatus::Delivered, None),
        event(&work[1], RecipientStatus::Undelivered, Some("30003")),
        event(&work[7], RecipientStatus::Failed, Some("30008")),
        event(&work[1], RecipientStatus::Sent, None),
        event(&work[7], RecipientStatus::Failed, Some("30008")),
    ];
    s.apply_status_events(&events, at(4)).await.unwrap();
    let t = checked(&*s, &a, &main.id, "callbacks").await;
    let codes: Vec<&str> = t.errors.iter().map(|e| e.error_code.as_str()).collect();
    assert_eq!(codes, ["opted_out", "21211", "21610", "30003", "30008"]);

    // An append to a draft, with opted-out recipients, then its launch.
    let (draft, rows) = campaign(&a, &[SENDER_2], 10, 2);
    let draft = NewCampaign {
        status: CampaignStatus::Draft,
        ..draft
    };
    create(&*s, &draft, rows).await;
    let (_, more) = campaign(&a, &[SENDER_2], 8, 3);
    s.append_recipients(&a, &draft.id, &mut RecipientList::new(more, 0), None, at(5))
        .await
        .unwrap();
    checked(&*s, &a, &draft.id, "append").await;
    s.launch_campaign(&a, &draft.id, at(6)).await.unwrap();

    // Pause, resume, and holds released when their window opens (14:00 UTC is 09:00 in New
    // York).
    s.pause_campaign(&a, &main.id, at(7)).await.unwrap();
    checked(&*s, &a, &main.id, "pause").await;
    s.resume_campaign(&a, &main.id, at(8)).await.unwrap();
    let opens = datetime!(2026-03-01 14:00 UTC);
    let w = s.claim_work(&node(), seq, SENDER, 50, opens).await.unwrap();
    let t = checked(&*s, &a, &main.id, "holds released").await;
    assert!(!w.is_empty());
    s.record_results(&w.iter().map(accepted).collect::<Vec<_>>(), opens)
        .await
        .unwrap();
    checked(&*s, &a, &main.id, "released ones sent").await;
    let _ = t;

    // A resend of the failed ones is a new campaign of them.
    let (resend, rows) = campaign(&a, &[SENDER], 5, 4);
    let resend = NewCampaign {
        resend_of: Some(main.id.clone()),
        ..resend
    };
    create(&*s, &resend, rows).await;
    checked(&*s, &a, &resend.id, "resend").await;

    // A test send (no campaign query sees it, but it waits on its number like any work).
    let (_, one) = campaign(&a, &[SENDER], 1, 5);
    s.create_test_send(&NewTestSend {
        id: TestSendId::generate(),
        account_id: a.clone(),
        message_template: "Hi".into(),
        message: one.into_iter().next().unwrap(),
        created_at: at(9),
    })
    .await
    .unwrap();

    // Cancel takes every pending recipient out of the queue, held or not (but those in
    // flight, whose outcome is still to come).
    for id in [&main.id, &draft.id, &resend.id] {
        s.cancel_campaign(&a, id, at(10)).await.unwrap();
        let t = checked(&*s, &a, id, "cancel").await;
        assert_eq!(t.held, 0);
    }
    assert!(
        checked(&*s, &a, &resend.id, "cancel")
            .await
            .queues
            .is_empty()
    );
    s.finish_campaigns(at(11)).await.unwrap();
    for id in [&main.id, &draft.id, &resend.id] {
        checked(&*s, &a, id, "after finish (and the fold on PostgreSQL)").await;
    }
    assert!(matches!(
        s.campaign_tallies(&a, &CampaignId::generate()).await,
        Err(StoreError::NotFound)
    ));
    let other = account(&*s, "other").await;
    assert!(matches!(
        s.aggregate_tallies(&other, &main.id).await,
        Err(StoreError::NotFound)
    ));
}

/// Three engines claim, send and fail the same campaigns at once while callbacks land on
/// other nodes (and, on PostgreSQL, every finish folds the per-process rows).
async fn tallies_stay_exact_with_several_nodes_at_once(db: &TestDb) {
    // SQLite is single-node: there the "nodes" share one store (one writer).
    let first = db.store().await;
    let mut nodes = vec![first.clone()];
    for _ in 1..3 {
        nodes.push(match db.backend {
            herald_test_support::Backend::Postgres => db.store().await,
            herald_test_support::Backend::Sqlite => first.clone(),
        });
    }
    let a = account(&*nodes[0], "busy").await;
    let mut campaigns = Vec::new();
    for salt in 0..3 {
        let (c, rows) = campaign(&a, &[SENDER, SENDER_2], 60, 10 + salt);
        let seq = create(&*nodes[0], &c, rows).await;
        campaigns.push((c.id, seq));
    }
    let mut tasks = Vec::new();
    for i in 0..6usize {
        let store = nodes[i % 3].clone();
        let callbacks = nodes[(i + 1) % 3].clone();
        let campaigns = campaigns.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..12usize {
                let (_, seq) = &campaigns[(i + round) % campaigns.len()];
                let from = [SENDER, SENDER_2][(i + round) % 2];
                let now = datetime!(2026-03-01 14:00 UTC) + time::Duration::seconds(round as i64);
                let w = store.claim_work(&node(), *seq, from, 4, now).await.unwrap();
                let results: Vec<SendResult> = w
                    .iter()
                    .enumerate()
                    .map(|(k, w)| match k % 3 {
                        0 => failed(w, ["21211", "30007"][round % 2]),
                        _ => accepted(w),
                    })
                    .collect();
                store.record_results(&results, now).await.unwrap();
                let events: Vec<StatusEvent> = w
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| k % 3 != 0)
                    .map(|(k, w)| match k % 3 {
                        1 => event(w, RecipientStatus::Delivered, None),
                        _ => event(w, RecipientStatus::Undelivered, Some("30003")),
                    })
                    .collect();
                callbacks.apply_status_events(&events, now).await.unwrap();
                if round % 4 == 3 {
                    store.finish_campaigns(now).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    nodes[1].finish_campaigns(at(60_000)).await.unwrap();
    for (id, _) in &campaigns {
        let t = checked(&*nodes[2], &a, id, "several nodes").await;
        assert!(t.errors.len() >= 2, "{t:?}");
    }
}

async fn number_loads_are_the_running_campaigns_queues(db: &TestDb) {
    let s = db.store().await;
    let a = account(&*s, "loads").await;
    s.create_number(
        &a,
        &Number {
            phone: SENDER.into(),
            mps: 5.0,
            agent_id: None,
            created_at: T0,
            updated_at: T0,
        },
    )
    .await
    .unwrap();
    let (one, rows) = campaign(&a, &[SENDER, SENDER_2], 20, 20);
    let one_seq = create(&*s, &one, rows).await;
    let (two, rows) = campaign(&a, &[SENDER], 10, 21);
    let two_seq = create(&*s, &two, rows).await;
    let (three, rows) = campaign(&a, &[SENDER], 10, 22);
    let three = NewCampaign {
        status: CampaignStatus::Draft,
        ..three
    };
    create(&*s, &three, rows).await;

    let phones = vec![SENDER.to_owned(), SENDER_2.to_owned()];
    let loads = s.number_loads(&a, &phones).await.unwrap();
    assert_eq!(loads.len(), 2);
    assert_eq!((loads[0].phone.as_str(), loads[0].mps), (SENDER, 5.0));
    assert_eq!(
        (loads[1].phone.as_str(), loads[1].mps),
        (SENDER_2, 1.0),
        "not stored: 1"
    );
    // Running campaigns only (not the draft), each with its own queue on the number.
    let seqs: Vec<i64> = loads[0].campaigns.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [one_seq, two_seq]);
    for (id, seq, load) in [
        (&one.id, one_seq, &loads[0]),
        (&two.id, two_seq, &loads[0]),
        (&one.id, one_seq, &loads[1]),
    ] {
        let t = checked(&*s, &a, id, "loads").await;
        let q = t
            .queues
            .iter()
            .find(|q| q.from_number == load.phone)
            .unwrap();
        let c = load.campaigns.iter().find(|c| c.seq == seq).unwrap();
        assert_eq!((c.pending, c.segments), (q.pending, q.segments));
    }
    // Sent work leaves the queue; a cancelled campaign leaves the number.
    let w = s
        .claim_work(&node(), two_seq, SENDER, 3, at(1))
        .await
        .unwrap();
    s.record_results(&w.iter().map(accepted).collect::<Vec<_>>(), at(2))
        .await
        .unwrap();
    let t = checked(&*s, &a, &two.id, "sent").await;
    let loads = s.number_loads(&a, &phones).await.unwrap();
    let two_load = loads[0]
        .campaigns
        .iter()
        .find(|c| c.seq == two_seq)
        .unwrap();
    assert_eq!(two_load.pending, t.queues[0].pending);
    s.cancel_campaign(&a, &two.id, at(3)).await.unwrap();
    let loads = s.number_loads(&a, &phones).await.unwrap();
    let seqs: Vec<i64> = loads[0].campaigns.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [one_seq]);
    // Another account's numbers have no rate here.
    let other = account(&*s, "other").await;
    let theirs = s.number_loads(&other, &phones).await.unwrap();
    assert_eq!(theirs[0].mps, 1.0);
}
