//! The store conformance suite: every behaviour of the `Store` trait, written once and run
//! against every backend. `conformance!` turns each `async fn NAME(db: &TestDb)` below into
//! `store_conformance::sqlite::NAME` (always) and `store_conformance::postgres::NAME` (on a
//! fresh database of the server `TEST_DATABASE_URL` names; skipped when it is unset, failed
//! when `HERALD_REQUIRE_POSTGRES=1` says PostgreSQL must be covered).
//!
//! Tests that play several Herald nodes open several stores on one PostgreSQL database,
//! each with its own connection pool as each node would have. SQLite is single-node (one
//! process owns the file, with one writer connection), so there the "nodes" share one
//! store and only the tasks are concurrent.

use std::collections::{HashMap, HashSet};

use herald::domain::Phone;
use herald::domain::campaign::NewRecipient;
use herald::domain::ids::{AccountId, AgentId, CampaignId, KeyId};
use herald::domain::segments::Encoding;
use herald::domain::status::{CampaignStatus, Counts, RecipientStatus, Source};
use herald::store::{
    Agent, Created, DynStore, IdempotencyKey, NewAccount, NewApiKey, NewCampaign, Number,
    Recipient, RecipientQuery, SendResult, StatusEvent, Store, StoreError, Work,
};
use serde_json::{Map, Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::helpers::{Backend, TestDb};

macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = crate::helpers::TestDb::sqlite();
                    super::$name(&db).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = crate::helpers::TestDb::postgres().await else {
                        eprintln!("skipped: set TEST_DATABASE_URL (scripts/pg-up.sh prints one)");
                        return;
                    };
                    super::$name(&db).await;
                }
            )+
        }
    };
}

conformance!(
    migrations_can_run_on_several_nodes_at_once,
    accounts_and_api_keys,
    agents_crud_and_scoping,
    numbers_crud_and_scoping,
    opt_outs_are_idempotent_and_scoped,
    campaigns_round_trip,
    idempotency_keys,
    concurrent_creates_with_one_idempotency_key_make_one_campaign,
    campaigns_and_recipients_page_with_cursors,
    counts_are_the_aggregation_of_the_rows,
    status_events_only_move_forward,
    results_only_settle_their_own_attempt,
    claims_are_exclusive_and_in_order,
    concurrent_claims_from_several_nodes_are_disjoint,
    several_nodes_sending_at_once_keep_every_invariant,
    cancel_keeps_in_flight_recipients_and_stops_the_rest,
    launch_drafts,
    scheduled_campaigns_are_promoted_once,
    finish_marks_done_or_failed_once,
    opt_outs_are_honoured_at_claim_time,
    in_flight_recipients_queue_for_reconciliation,
    known_sids_are_per_phone_and_sender,
    lanes_and_queue_depth,
    a_hundred_thousand_recipients_in_one_create,
);

// ---------------------------------------------------------------------------------------
// Fixtures

/// `n` stores standing for `n` Herald nodes (see the module comment).
async fn nodes(db: &TestDb, n: usize) -> Vec<DynStore> {
    let first = db.store().await;
    let mut nodes = vec![first.clone()];
    for _ in 1..n {
        nodes.push(match db.backend {
            Backend::Postgres => db.store().await,
            Backend::Sqlite => first.clone(),
        });
    }
    nodes
}

/// A time with nanoseconds, to show that both stores keep milliseconds.
const T0: OffsetDateTime = datetime!(2026-03-01 10:00:00.123456789 UTC);
const SENDER: &str = "+447446466847";
const SENDER_2: &str = "+14155552671";

/// `T0` plus `ms` milliseconds.
fn at(ms: i64) -> OffsetDateTime {
    T0 + Duration::milliseconds(ms)
}

/// What a store gives back for `t`: the same instant, cut to the millisecond.
fn stored(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap()
}

fn phone(raw: &str) -> Phone {
    Phone::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e:?}"))
}

/// The i-th recipient's phone (a valid UK mobile number).
fn recipient_phone(i: usize) -> String {
    format!("+4471110{:05}", i + 1)
}

fn variables(i: usize) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "first_name": format!("P{i}"),
        "n": i,
        "ratio": 2.5,
        "vip": i.is_multiple_of(2),
        "city": "Zürich 🎉",
        "nested": { "list": [1, "two", null] },
    }) else {
        unreachable!()
    };
    map
}

async fn new_account(store: &dyn Store, name: &str) -> AccountId {
    let id = AccountId::generate();
    store
        .create_account(&NewAccount {
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
        .expect("account");
    id
}

/// A running campaign of `n` recipients, sent from `from` in turn (recipient i from
/// `from[i % from.len()]`).
fn campaign(account: &AccountId, from: &[&str], n: usize) -> NewCampaign {
    let senders: Vec<Phone> = from.iter().map(|p| phone(p)).collect();
    NewCampaign {
        id: CampaignId::generate(),
        account_id: account.clone(),
        name: "March promotion".into(),
        message_template: "Hi {{first_name}}".into(),
        agent_id: None,
        from_numbers: from.iter().map(|p| p.to_string()).collect(),
        status: CampaignStatus::Running,
        source: Source::Api,
        scheduled_at: None,
        duplicates_removed: 0,
        recipients: (0..n)
            .map(|i| NewRecipient {
                phone: phone(&recipient_phone(i)),
                variables: variables(i),
                body: format!("Hi P{i}"),
                segments: 1,
                encoding: Encoding::Gsm7,
                from_number: senders[i % senders.len()].clone(),
                opted_out: false,
                no_consent: false,
            })
            .collect(),
        require_consent: false,
        created_at: T0,
    }
}

/// Stores `new` and returns its id and internal `seq`.
async fn create(store: &dyn Store, new: &NewCampaign) -> (CampaignId, i64) {
    let created = store.create_campaign(new, None).await.expect("create");
    assert_eq!(created, Created::New(new.id.clone()));
    let seq = store
        .get_campaign(&new.account_id, &new.id)
        .await
        .unwrap()
        .seq;
    (new.id.clone(), seq)
}

async fn recipients(store: &dyn Store, account: &AccountId, id: &CampaignId) -> Vec<Recipient> {
    store
        .list_recipients(
            account,
            id,
            &RecipientQuery {
                limit: 1_000_000,
                ..RecipientQuery::default()
            },
        )
        .await
        .unwrap()
}

async fn statuses(store: &dyn Store, account: &AccountId, id: &CampaignId) -> Vec<RecipientStatus> {
    recipients(store, account, id)
        .await
        .iter()
        .map(|r| r.status)
        .collect()
}

/// Asserts that the campaign's counts (from `get_campaign` and `list_campaigns`) are the
/// aggregation of its rows, and returns them.
async fn checked_counts(store: &dyn Store, account: &AccountId, id: &CampaignId) -> Counts {
    let rows = recipients(store, account, id).await;
    let mut expected = Counts::default();
    for r in &rows {
        expected.add(r.status, 1);
    }
    let campaign = store.get_campaign(account, id).await.unwrap();
    assert_eq!(campaign.counts, expected, "get_campaign counts");
    let listed = store.list_campaigns(account, None, 500).await.unwrap();
    let listed = listed.iter().find(|c| &c.id == id).expect("listed");
    assert_eq!(listed.counts, expected, "list_campaigns counts");
    expected
}

fn counts(delivered: u64, failed: u64, pending: u64, cancelled: u64) -> Counts {
    Counts {
        total_count: delivered + failed + pending + cancelled,
        delivered_count: delivered,
        failed_count: failed,
        pending_count: pending,
        cancelled_count: cancelled,
    }
}

fn accepted(w: &Work, sid: &str) -> SendResult {
    SendResult::Accepted {
        id: w.id,
        attempt_id: w.attempt_id.clone(),
        sid: sid.into(),
        status: RecipientStatus::Queued,
    }
}

fn failed(w: &Work) -> SendResult {
    SendResult::Failed {
        id: w.id,
        attempt_id: w.attempt_id.clone(),
        code: "21211".into(),
        message: "Invalid 'To' Phone Number".into(),
    }
}

fn released(w: &Work) -> SendResult {
    SendResult::Released {
        id: w.id,
        attempt_id: w.attempt_id.clone(),
    }
}

fn event(sid: &str, status: RecipientStatus) -> StatusEvent {
    StatusEvent {
        attempt_id: None,
        sid: sid.into(),
        status,
        error_code: None,
        error_message: None,
    }
}

fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(message)) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn positions(work: &[Work], all: &[Recipient]) -> Vec<i64> {
    let by_phone: HashMap<&str, i64> = all.iter().map(|r| (r.phone.as_str(), r.position)).collect();
    work.iter().map(|w| by_phone[w.phone.as_str()]).collect()
}

// ---------------------------------------------------------------------------------------
// Accounts, keys, agents, numbers, opt-outs

async fn migrations_can_run_on_several_nodes_at_once(db: &TestDb) {
    // Every node migrates at start; nodes often start together.
    let first = db.connect().await;
    let mut nodes = vec![first.clone()];
    for _ in 1..4 {
        nodes.push(match db.backend {
            Backend::Postgres => db.connect().await,
            Backend::Sqlite => first.clone(),
        });
    }
    let runs: Vec<_> = nodes
        .iter()
        .map(|store| {
            let store = store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().expect("migrate");
    }
    first.migrate().await.expect("migrating again is a no-op");
    assert_eq!(nodes[1].count_accounts().await.unwrap(), 0);
    new_account(&*nodes[2], "acme").await;
    assert_eq!(nodes[3].count_accounts().await.unwrap(), 1);
}

async fn accounts_and_api_keys(db: &TestDb) {
    let s = db.store().await;
    assert_eq!(s.count_accounts().await.unwrap(), 0);
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    assert_eq!(s.count_accounts().await.unwrap(), 2);
    let account = s.get_account(&a).await.unwrap();
    assert_eq!(account.id, a);
    assert_eq!(account.name, "acme");
    assert_eq!(account.created_at, stored(T0));
    assert_not_found(s.get_account(&AccountId::generate()).await);

    // A taken user name fails the whole account.
    let clash = NewAccount {
        id: AccountId::generate(),
        name: "clash".into(),
        username: format!("acme-{}", &a.as_str()[5..11]),
        password_hash: "x".into(),
        key: NewApiKey {
            id: KeyId::generate(),
            name: "default".into(),
            secret_hash: vec![2; 32],
        },
        created_at: T0,
    };
    assert!(assert_conflict(s.create_account(&clash).await).contains("already exists"));
    assert_eq!(s.count_accounts().await.unwrap(), 2);
    assert!(s.key_credentials(&clash.key.id).await.unwrap().is_none());

    let key = NewApiKey {
        id: KeyId::generate(),
        name: "ci".into(),
        secret_hash: vec![7; 32],
    };
    let made = s.create_api_key(&a, &key).await.unwrap();
    assert_eq!(
        (made.id.clone(), made.name.as_str()),
        (key.id.clone(), "ci")
    );
    assert_eq!(made.revoked_at, None);
    assert_eq!(made.created_at, stored(made.created_at));
    let creds = s.key_credentials(&key.id).await.unwrap().expect("stored");
    assert_eq!(creds.account_id, a);
    assert_eq!(creds.secret_hash, vec![7; 32]);
    assert!(!creds.revoked);
    assert!(
        s.key_credentials(&KeyId::generate())
            .await
            .unwrap()
            .is_none()
    );
    assert_conflict(s.create_api_key(&b, &key).await);

    let listed = s.list_api_keys(&a).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, key.id, "newest first");
    assert_eq!(listed[1].created_at, stored(T0));
    assert_eq!(s.list_api_keys(&b).await.unwrap().len(), 1);

    assert_not_found(s.revoke_api_key(&b, &key.id, at(5_000)).await);
    let revoked = s.revoke_api_key(&a, &key.id, at(5_000)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(stored(at(5_000))));
    let again = s.revoke_api_key(&a, &key.id, at(9_000)).await.unwrap();
    assert_eq!(
        again.revoked_at,
        Some(stored(at(5_000))),
        "revoking is idempotent"
    );
    assert!(s.key_credentials(&key.id).await.unwrap().unwrap().revoked);
}

fn agent(name: &str, t: OffsetDateTime) -> Agent {
    Agent {
        id: AgentId::generate(),
        name: name.into(),
        system_prompt: format!("You are {name}."),
        created_at: t,
        updated_at: t,
    }
}

fn number(phone: &str, mps: f64, agent: Option<&Agent>) -> Number {
    Number {
        phone: phone.into(),
        mps,
        agent_id: agent.map(|a| a.id.clone()),
        created_at: T0,
        updated_at: T0,
    }
}

async fn agents_crud_and_scoping(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    let first = agent("Reception", T0);
    let second = agent("Sales", at(1));
    let unused = agent("Spare", at(2));
    for ag in [&first, &second, &unused] {
        s.create_agent(&a, ag).await.unwrap();
    }
    assert_conflict(s.create_agent(&b, &first).await);

    let got = s.get_agent(&a, &first.id).await.unwrap();
    assert_eq!(got.name, "Reception");
    assert_eq!(got.system_prompt, "You are Reception.");
    assert_eq!((got.created_at, got.updated_at), (stored(T0), stored(T0)));
    let listed: Vec<AgentId> = s
        .list_agents(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(
        listed,
        [first.id.clone(), second.id.clone(), unused.id.clone()]
    );
    assert!(s.list_agents(&b).await.unwrap().is_empty());

    // Another account's agent does not exist for it.
    assert_not_found(s.get_agent(&b, &first.id).await);
    assert_not_found(s.update_agent(&b, &first).await);
    assert_not_found(s.delete_agent(&b, &unused.id).await);

    let mut changed = first.clone();
    changed.name = "Front desk".into();
    changed.system_prompt = "Be brief.".into();
    changed.updated_at = at(60_000);
    s.update_agent(&a, &changed).await.unwrap();
    let got = s.get_agent(&a, &first.id).await.unwrap();
    assert_eq!(
        (got.name.as_str(), got.system_prompt.as_str()),
        ("Front desk", "Be brief.")
    );
    assert_eq!(
        (got.created_at, got.updated_at),
        (stored(T0), stored(at(60_000)))
    );
    assert_not_found(s.update_agent(&a, &agent("Ghost", T0)).await);

    // In use by a number, or by a campaign: refused.
    s.create_number(&a, &number(SENDER, 1.0, Some(&first)))
        .await
        .unwrap();
    let mut on_second = campaign(&a, &[SENDER], 1);
    on_second.agent_id = Some(second.id.to_string());
    create(&*s, &on_second).await;
    assert!(assert_conflict(s.delete_agent(&a, &first.id).await).contains("still used"));
    assert!(assert_conflict(s.delete_agent(&a, &second.id).await).contains("still used"));

    s.delete_agent(&a, &unused.id).await.unwrap();
    assert_not_found(s.get_agent(&a, &unused.id).await);
    assert_not_found(s.delete_agent(&a, &unused.id).await);
    assert_eq!(s.list_agents(&a).await.unwrap().len(), 2);
}

async fn numbers_crud_and_scoping(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    let ag = agent("Reception", T0);
    s.create_agent(&a, &ag).await.unwrap();
    s.create_number(&a, &number(SENDER, 0.1, None))
        .await
        .unwrap();
    s.create_number(&a, &number(SENDER_2, 2.5, Some(&ag)))
        .await
        .unwrap();
    // A phone is registered once, whichever account asks.
    let message = assert_conflict(s.create_number(&b, &number(SENDER, 1.0, None)).await);
    assert!(message.contains("already registered"), "{message}");

    let listed = s.list_numbers(&a).await.unwrap();
    let phones: Vec<&str> = listed.iter().map(|n| n.phone.as_str()).collect();
    assert_eq!(phones, [SENDER_2, SENDER], "by phone");
    let got = s.get_number(&a, SENDER).await.unwrap();
    assert_eq!(got.mps, 0.1);
    assert_eq!(got.agent_id, None);
    assert_eq!((got.created_at, got.updated_at), (stored(T0), stored(T0)));
    assert_eq!(
        s.get_number(&a, SENDER_2).await.unwrap().agent_id,
        Some(ag.id.clone())
    );
    assert!(s.list_numbers(&b).await.unwrap().is_empty());

    assert_not_found(s.get_number(&b, SENDER).await);
    assert_not_found(s.update_number(&b, &number(SENDER, 9.0, None)).await);
    assert_not_found(s.delete_number(&b, SENDER).await);
    assert_not_found(s.get_number(&a, "+447700900000").await);

    let mut changed = number(SENDER, 3.0, Some(&ag));
    changed.updated_at = at(1_000);
    s.update_number(&a, &changed).await.unwrap();
    let got = s.get_number(&a, SENDER).await.unwrap();
    assert_eq!((got.mps, got.agent_id), (3.0, Some(ag.id.clone())));
    assert_eq!(got.updated_at, stored(at(1_000)));

    let context = s.account_context(&a).await.unwrap();
    assert_eq!(context.agents, HashSet::from([ag.id.to_string()]));
    assert_eq!(
        context.numbers,
        HashMap::from([
            (SENDER.to_owned(), Some(ag.id.to_string())),
            (SENDER_2.to_owned(), Some(ag.id.to_string())),
        ])
    );

    // An unfinished campaign keeps its numbers; once it is over they can go.
    let (id, _) = create(&*s, &campaign(&a, &[SENDER_2, SENDER], 2)).await;
    let message = assert_conflict(s.delete_number(&a, SENDER).await);
    assert!(message.contains(id.as_str()), "{message}");
    s.cancel_campaign(&a, &id, at(2_000)).await.unwrap();
    s.delete_number(&a, SENDER).await.unwrap();
    assert_not_found(s.get_number(&a, SENDER).await);
    assert_not_found(s.delete_number(&a, SENDER).await);
}

async fn opt_outs_are_idempotent_and_scoped(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    let p = recipient_phone(0);
    s.add_opt_out(&a, &p, "inbound", Some("STOP"), T0)
        .await
        .unwrap();
    s.add_opt_out(&a, &p, "api", None, at(1)).await.unwrap();
    s.add_opt_out(&a, &recipient_phone(1), "twilio_21610", None, T0)
        .await
        .unwrap();
    assert_eq!(
        s.opted_out_phones(&a).await.unwrap(),
        HashSet::from([p.clone(), recipient_phone(1)])
    );
    assert!(s.opted_out_phones(&b).await.unwrap().is_empty());
    assert!(s.account_context(&a).await.unwrap().opted_out.contains(&p));
    assert!(s.account_context(&b).await.unwrap().opted_out.is_empty());
}

// ---------------------------------------------------------------------------------------
// Campaigns

async fn campaigns_round_trip(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    let ag = agent("Reception", T0);
    s.create_agent(&a, &ag).await.unwrap();

    // Sender order is kept as given (not sorted).
    let mut new = campaign(&a, &[SENDER, SENDER_2], 5);
    new.agent_id = Some(ag.id.to_string());
    new.status = CampaignStatus::Scheduled;
    new.scheduled_at = Some(at(3_600_000));
    new.duplicates_removed = 3;
    new.source = Source::Dashboard;
    new.recipients[3].opted_out = true;
    let (id, seq) = create(&*s, &new).await;

    let c = s.get_campaign(&a, &id).await.unwrap();
    assert_eq!(c.seq, seq);
    assert_eq!(c.name, "March promotion");
    assert_eq!(c.message_template, "Hi {{first_name}}");
    assert_eq!(c.agent_id, Some(ag.id.to_string()));
    assert_eq!(c.from_numbers, [SENDER, SENDER_2]);
    assert_eq!(c.status, CampaignStatus::Scheduled);
    assert_eq!(c.source, Source::Dashboard);
    assert_eq!(c.scheduled_at, Some(stored(at(3_600_000))));
    assert_eq!(c.duplicates_removed, 3);
    assert_eq!(c.created_at, stored(T0));
    assert_eq!((c.started_at, c.finished_at), (None, None));
    assert_eq!(c.counts, counts(0, 1, 4, 0));

    let rows = recipients(&*s, &a, &id).await;
    assert_eq!(rows.len(), 5);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.position, i as i64);
        assert_eq!(r.phone, recipient_phone(i));
        assert_eq!(r.variables, variables(i), "variables come back as given");
        assert_eq!(r.body, format!("Hi P{i}"));
        assert_eq!(r.segments, 1);
        assert_eq!(r.from_number, [SENDER, SENDER_2][i % 2]);
        assert_eq!(r.twilio_sid, None);
        assert_eq!(r.updated_at, stored(T0));
        if i == 3 {
            assert_eq!(r.status, RecipientStatus::Failed);
            assert_eq!(r.error_code.as_deref(), Some("opted_out"));
            assert_eq!(
                r.error_message.as_deref(),
                Some("the recipient opted out of messages from this account")
            );
        } else {
            assert_eq!(r.status, RecipientStatus::Pending);
            assert_eq!(
                (r.error_code.as_deref(), r.error_message.as_deref()),
                (None, None)
            );
        }
    }

    // Another account sees nothing.
    assert_not_found(s.get_campaign(&b, &id).await);
    assert_not_found(s.list_recipients(&b, &id, &RecipientQuery::default()).await);
    assert_not_found(s.get_campaign(&a, &CampaignId::generate()).await);

    // A running campaign starts at its creation.
    let (running, _) = create(&*s, &campaign(&a, &[SENDER], 1)).await;
    assert_eq!(
        s.get_campaign(&a, &running).await.unwrap().started_at,
        Some(stored(T0))
    );
}

fn idempotency(key: &str, hash: u8) -> IdempotencyKey {
    IdempotencyKey {
        key: key.into(),
        request_hash: vec![hash; 32],
    }
}

async fn idempotency_keys(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    let first = campaign(&a, &[SENDER], 3);
    let key = idempotency("march-promo-1", 1);
    assert_eq!(
        s.create_campaign(&first, Some(&key)).await.unwrap(),
        Created::New(first.id.clone())
    );
    // The same request again: the first campaign, nothing new stored.
    let retry = campaign(&a, &[SENDER], 3);
    assert_eq!(
        s.create_campaign(&retry, Some(&key)).await.unwrap(),
        Created::Replayed(first.id.clone())
    );
    assert_not_found(s.get_campaign(&a, &retry.id).await);
    // The same key with another request: refused, nothing stored.
    let other = campaign(&a, &[SENDER], 4);
    let r = s
        .create_campaign(&other, Some(&idempotency("march-promo-1", 2)))
        .await;
    assert!(matches!(r, Err(StoreError::IdempotencyMismatch)), "{r:?}");
    assert_not_found(s.get_campaign(&a, &other.id).await);
    assert_eq!(s.list_campaigns(&a, None, 50).await.unwrap().len(), 1);
    // Keys belong to an account.
    let theirs = campaign(&b, &[SENDER], 1);
    assert_eq!(
        s.create_campaign(&theirs, Some(&key)).await.unwrap(),
        Created::New(theirs.id.clone())
    );
    // Without a key every create is new.
    let plain = campaign(&a, &[SENDER], 1);
    assert_eq!(
        s.create_campaign(&plain, None).await.unwrap(),
        Created::New(plain.id.clone())
    );
}

async fn concurrent_creates_with_one_idempotency_key_make_one_campaign(db: &TestDb) {
    // Two "nodes", four requests each, all with the same key at the same moment.
    let nodes = nodes(db, 2).await;
    let a = new_account(&*nodes[0], "acme").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store: DynStore = nodes[i % 2].clone();
        let new = campaign(&a, &[SENDER], 300);
        tasks.push(tokio::spawn(async move {
            store
                .create_campaign(&new, Some(&idempotency("race", 9)))
                .await
                .expect("create")
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        created.push(t.await.unwrap());
    }
    let new: Vec<&CampaignId> = created
        .iter()
        .filter_map(|c| match c {
            Created::New(id) => Some(id),
            Created::Replayed(_) => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{created:?}");
    for c in &created {
        if let Created::Replayed(id) = c {
            assert_eq!(id, new[0]);
        }
    }
    let listed = nodes[1].list_campaigns(&a, None, 50).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].counts.total_count, 300);
}

async fn campaigns_and_recipients_page_with_cursors(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(create(&*s, &campaign(&a, &[SENDER], 1)).await);
    }
    let page = |before: Option<i64>| {
        let s = s.clone();
        let a = a.clone();
        async move {
            s.list_campaigns(&a, before, 2)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.id, c.seq))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        page(None).await,
        [ids[4].clone(), ids[3].clone()],
        "newest first"
    );
    assert_eq!(page(Some(ids[3].1)).await, [ids[2].clone(), ids[1].clone()]);
    assert_eq!(page(Some(ids[1].1)).await, [ids[0].clone()]);
    assert!(page(Some(ids[0].1)).await.is_empty());
    assert!(s.list_campaigns(&b, None, 50).await.unwrap().is_empty());

    let mut new = campaign(&a, &[SENDER], 10);
    for i in [2, 5, 8] {
        new.recipients[i].opted_out = true;
    }
    let (id, _) = create(&*s, &new).await;
    let list = |status: Option<RecipientStatus>, after: Option<i64>, limit: u32| {
        let s = s.clone();
        let a = a.clone();
        let id = id.clone();
        async move {
            s.list_recipients(
                &a,
                &id,
                &RecipientQuery {
                    status,
                    after,
                    limit,
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.position)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(None, None, 4).await, [0, 1, 2, 3]);
    assert_eq!(list(None, Some(3), 4).await, [4, 5, 6, 7]);
    assert_eq!(list(None, Some(7), 4).await, [8, 9]);
    assert!(list(None, Some(9), 4).await.is_empty());
    assert_eq!(
        list(Some(RecipientStatus::Failed), None, 10).await,
        [2, 5, 8]
    );
    assert_eq!(list(Some(RecipientStatus::Failed), Some(2), 1).await, [5]);
    assert_eq!(
        list(Some(RecipientStatus::Pending), None, 100).await.len(),
        7
    );
    assert!(
        list(Some(RecipientStatus::Delivered), None, 10)
            .await
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Statuses, counts, results

async fn counts_are_the_aggregation_of_the_rows(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let (id, seq) = create(&*s, &campaign(&a, &[SENDER], 12)).await;
    assert_eq!(checked_counts(&*s, &a, &id).await, counts(0, 0, 12, 0));

    let w = s.claim_work(seq, SENDER, 8, at(10)).await.unwrap();
    assert_eq!(w.len(), 8);
    assert_eq!(checked_counts(&*s, &a, &id).await, counts(0, 0, 12, 0));
    let mut results: Vec<SendResult> = (0..6).map(|i| accepted(&w[i], &format!("SM{i}"))).collect();
    results.push(failed(&w[6]));
    results.push(SendResult::Retry {
        id: w[7].id,
        attempt_id: w[7].attempt_id.clone(),
        not_before: at(60_000),
        code: "20429".into(),
        message: "Too Many Requests".into(),
    });
    s.record_results(&results, at(20)).await.unwrap();
    assert_eq!(checked_counts(&*s, &a, &id).await, counts(0, 1, 11, 0));

    let mut undelivered = event("SM1", RecipientStatus::Undelivered);
    undelivered.error_code = Some("30003".into());
    let moved = s
        .apply_status_events(
            &[
                event("SM0", RecipientStatus::Delivered),
                undelivered,
                event("SM2", RecipientStatus::Sent),
                event("SM3", RecipientStatus::Failed),
                event("SM4", RecipientStatus::Delivered),
            ],
            at(30),
        )
        .await
        .unwrap();
    assert_eq!(moved, 5);
    assert_eq!(checked_counts(&*s, &a, &id).await, counts(2, 4, 6, 0));

    s.cancel_campaign(&a, &id, at(40)).await.unwrap();
    // SM5 is queued at Twilio (kept); the retry and the unclaimed four are cancelled.
    assert_eq!(checked_counts(&*s, &a, &id).await, counts(2, 4, 1, 5));
}

async fn status_events_only_move_forward(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let (id, seq) = create(&*s, &campaign(&a, &[SENDER], 4)).await;
    let w = s.claim_work(seq, SENDER, 4, at(0)).await.unwrap();
    s.record_results(
        &[
            accepted(&w[0], "SM0"),
            accepted(&w[1], "SM1"),
            accepted(&w[3], "SM3"),
        ],
        at(10),
    )
    .await
    .unwrap();
    let status_of = |i: usize| {
        let s = s.clone();
        let a = a.clone();
        let id = id.clone();
        async move { recipients(&*s, &a, &id).await.remove(i) }
    };
    use RecipientStatus::*;

    // In order, then late, repeated and equal-rank events: nothing moves back.
    assert_eq!(
        s.apply_status_events(&[event("SM0", Sent)], at(20))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.apply_status_events(&[event("SM0", Delivered)], at(30))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.apply_status_events(&[event("SM0", Sent)], at(40))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.apply_status_events(&[event("SM0", Delivered)], at(50))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.apply_status_events(&[event("SM0", Failed)], at(60))
            .await
            .unwrap(),
        0
    );
    let r = status_of(0).await;
    assert_eq!(r.status, Delivered);
    assert_eq!(r.updated_at, stored(at(30)));

    // Reordered: delivered first, then the earlier statuses arrive.
    let moved = s
        .apply_status_events(
            &[
                event("SM1", Delivered),
                event("SM1", Sent),
                event("SM1", Queued),
            ],
            at(70),
        )
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(status_of(1).await.status, Delivered);

    // The callback beats the stored answer: found by its attempt id.
    let mut early = event("SM2", Sent);
    early.attempt_id = Some(w[2].attempt_id.clone());
    assert_eq!(s.apply_status_events(&[early], at(80)).await.unwrap(), 1);
    let r = status_of(2).await;
    assert_eq!((r.status, r.twilio_sid.as_deref()), (Sent, Some("SM2")));
    // ... and the answer arriving later does not move it back.
    s.record_results(&[accepted(&w[2], "SM2")], at(90))
        .await
        .unwrap();
    let r = status_of(2).await;
    assert_eq!((r.status, r.twilio_sid.as_deref()), (Sent, Some("SM2")));

    // Error details are kept; a later success does not overwrite a terminal failure.
    let mut undelivered = event("SM3", Undelivered);
    undelivered.error_code = Some("30003".into());
    undelivered.error_message = Some("Unreachable destination handset".into());
    assert_eq!(
        s.apply_status_events(&[undelivered], at(100))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.apply_status_events(&[event("SM3", Delivered)], at(110))
            .await
            .unwrap(),
        0
    );
    let r = status_of(3).await;
    assert_eq!(r.status, Undelivered);
    assert_eq!(r.error_code.as_deref(), Some("30003"));
    assert_eq!(
        r.error_message.as_deref(),
        Some("Unreachable destination handset")
    );

    // Unknown messages change nothing.
    let mut stray = event("SMunknown", Delivered);
    assert_eq!(
        s.apply_status_events(&[stray.clone()], at(120))
            .await
            .unwrap(),
        0
    );
    stray.attempt_id = Some("0000000000000000".into());
    assert_eq!(s.apply_status_events(&[stray], at(120)).await.unwrap(), 0);
    assert_eq!(s.apply_status_events(&[], at(120)).await.unwrap(), 0);
    assert_eq!(checked_counts(&*s, &a, &id).await, counts(2, 2, 0, 0));
}

async fn results_only_settle_their_own_attempt(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let (id, seq) = create(&*s, &campaign(&a, &[SENDER], 5)).await;
    let w = s.claim_work(seq, SENDER, 5, at(0)).await.unwrap();
    assert_eq!(w.len(), 5);
    let stale = |w: &Work| {
        let mut w = w.clone();
        w.attempt_id = "ffffffffffffffff".into();
        w
    };

    // Outcomes naming another attempt change nothing.
    s.record_results(
        &[
            accepted(&stale(&w[0]), "SMstale"),
            failed(&stale(&w[1])),
            SendResult::Retry {
                id: w[2].id,
                attempt_id: "stale".into(),
                not_before: at(0),
                code: "503".into(),
                message: "x".into(),
            },
            SendResult::Unknown {
                id: w[3].id,
                attempt_id: "stale".into(),
                message: "x".into(),
            },
            released(&stale(&w[4])),
        ],
        at(10),
    )
    .await
    .unwrap();
    for r in recipients(&*s, &a, &id).await {
        assert_eq!(r.status, RecipientStatus::Pending);
        assert_eq!((r.twilio_sid, r.error_code), (None, None));
        assert_eq!(r.updated_at, stored(at(0)), "claimed at 0, untouched since");
    }
    assert!(
        s.claim_work(seq, SENDER, 5, at(20))
            .await
            .unwrap()
            .is_empty(),
        "still in flight"
    );
    assert!(
        s.unknown_in_flight(10).await.unwrap().is_empty(),
        "no stale Unknown"
    );

    // Their own outcomes settle them.
    s.record_results(
        &[
            accepted(&w[0], "SM0"),
            failed(&w[1]),
            SendResult::Retry {
                id: w[2].id,
                attempt_id: w[2].attempt_id.clone(),
                not_before: at(60_000),
                code: "20429".into(),
                message: "Too Many Requests".into(),
            },
            SendResult::Unknown {
                id: w[3].id,
                attempt_id: w[3].attempt_id.clone(),
                message: "connection reset".into(),
            },
            released(&w[4]),
        ],
        at(30),
    )
    .await
    .unwrap();
    let rows = recipients(&*s, &a, &id).await;
    assert_eq!(rows[0].status, RecipientStatus::Queued);
    assert_eq!(rows[0].twilio_sid.as_deref(), Some("SM0"));
    assert_eq!(rows[1].status, RecipientStatus::Failed);
    assert_eq!(rows[1].error_code.as_deref(), Some("21211"));
    assert_eq!(
        rows[1].error_message.as_deref(),
        Some("Invalid 'To' Phone Number")
    );
    assert_eq!(rows[2].status, RecipientStatus::Pending);
    assert_eq!(
        rows[2].error_code.as_deref(),
        Some("20429"),
        "the last error is kept"
    );
    assert_eq!(rows[3].error_message.as_deref(), Some("connection reset"));

    let unknown = s.unknown_in_flight(10).await.unwrap();
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        (unknown[0].id, unknown[0].attempt_id.as_str()),
        (w[3].id, w[3].attempt_id.as_str())
    );

    // Released: back in the queue, the attempt not counted. Retry: only after its time.
    let again = s.claim_work(seq, SENDER, 5, at(40)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (w[4].id, 1));
    assert_ne!(again[0].attempt_id, w[4].attempt_id);
    let later = s.claim_work(seq, SENDER, 5, at(60_000)).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!((later[0].id, later[0].attempts), (w[2].id, 2));
    assert_ne!(later[0].attempt_id, w[2].attempt_id);

    // The earlier attempt is stale now.
    s.record_results(&[accepted(&w[2], "SMold")], at(60_001))
        .await
        .unwrap();
    let r = recipients(&*s, &a, &id).await.remove(2);
    assert_eq!((r.status, r.twilio_sid), (RecipientStatus::Pending, None));
    s.record_results(&[accepted(&later[0], "SM2")], at(60_002))
        .await
        .unwrap();
    let r = recipients(&*s, &a, &id).await.remove(2);
    assert_eq!(
        (r.status, r.twilio_sid.as_deref()),
        (RecipientStatus::Queued, Some("SM2"))
    );
    assert_eq!(r.error_code, None, "an accepted retry clears the old error");
    s.record_results(&[], at(60_003)).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Claiming

async fn claims_are_exclusive_and_in_order(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let (id, seq) = create(&*s, &campaign(&a, &[SENDER, SENDER_2], 10)).await;
    let all = recipients(&*s, &a, &id).await;

    let first = s.claim_work(seq, SENDER, 3, at(0)).await.unwrap();
    assert_eq!(positions(&first, &all), [0, 2, 4]);
    for w in &first {
        assert_eq!(
            (w.campaign_seq, &w.campaign_id, &w.account_id),
            (seq, &id, &a)
        );
        assert_eq!(w.from_number, SENDER);
        assert_eq!(w.attempts, 1);
        assert_eq!((w.segments, w.body.starts_with("Hi P")), (1, true));
        assert_eq!(w.attempt_id.len(), 16);
        assert!(w.attempt_id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    let second = s.claim_work(seq, SENDER, 3, at(1)).await.unwrap();
    assert_eq!(positions(&second, &all), [6, 8]);
    assert!(
        s.claim_work(seq, SENDER, 3, at(2))
            .await
            .unwrap()
            .is_empty()
    );
    let other = s.claim_work(seq, SENDER_2, 10, at(3)).await.unwrap();
    assert_eq!(positions(&other, &all), [1, 3, 5, 7, 9]);
    let attempt_ids: HashSet<&str> = first
        .iter()
        .chain(&second)
        .chain(&other)
        .map(|w| w.attempt_id.as_str())
        .collect();
    assert_eq!(attempt_ids.len(), 10);

    // Released, it can be claimed again (with a fresh attempt id).
    s.record_results(&[released(&first[1])], at(4))
        .await
        .unwrap();
    let again = s.claim_work(seq, SENDER, 3, at(5)).await.unwrap();
    assert_eq!(positions(&again, &all), [2]);
    assert!(!attempt_ids.contains(again[0].attempt_id.as_str()));

    // Only running campaigns give work.
    let mut draft = campaign(&a, &[SENDER], 2);
    draft.status = CampaignStatus::Draft;
    let (_, draft_seq) = create(&*s, &draft).await;
    assert!(
        s.claim_work(draft_seq, SENDER, 5, at(6))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!s.campaign_running(draft_seq).await.unwrap());
    assert!(s.campaign_running(seq).await.unwrap());
    assert!(!s.campaign_running(i64::MAX).await.unwrap());
    assert!(
        s.claim_work(i64::MAX, SENDER, 5, at(6))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_claims_from_several_nodes_are_disjoint(db: &TestDb) {
    const N: usize = 600;
    let nodes = nodes(db, 3).await;
    let a = new_account(&*nodes[0], "acme").await;
    let (_, seq) = create(&*nodes[0], &campaign(&a, &[SENDER], N)).await;
    let mut tasks = Vec::new();
    for i in 0..9 {
        let store: DynStore = nodes[i % nodes.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut empty = 0;
            // Stop after a few empty claims in a row (another node may hold the last rows).
            while empty < 3 {
                let got = store.claim_work(seq, SENDER, 7, at(0)).await.unwrap();
                if got.is_empty() {
                    empty += 1;
                    tokio::task::yield_now().await;
                } else {
                    empty = 0;
                    mine.extend(got);
                }
            }
            mine
        }));
    }
    let mut claimed: Vec<Work> = Vec::new();
    let mut per_task = Vec::new();
    for t in tasks {
        let mine = t.await.unwrap();
        per_task.push(mine.len());
        claimed.extend(mine);
    }
    let ids: HashSet<i64> = claimed.iter().map(|w| w.id).collect();
    let attempts: HashSet<&str> = claimed.iter().map(|w| w.attempt_id.as_str()).collect();
    assert_eq!(
        claimed.len(),
        N,
        "every recipient claimed once: {per_task:?}"
    );
    assert_eq!(ids.len(), N, "no recipient claimed twice");
    assert_eq!(attempts.len(), N, "attempt ids are unique");
    assert!(claimed.iter().all(|w| w.attempts == 1));
    assert!(
        nodes[1]
            .claim_work(seq, SENDER, 7, at(0))
            .await
            .unwrap()
            .is_empty()
    );
}

/// What several engines do to one database at once: claim, store outcomes of every kind,
/// apply callbacks (on another node than the one that sent), cancel one campaign midway and
/// close finished ones. Nothing may fail (no deadlock, no serialisation error), and the
/// end state must be what one engine would have left.
async fn several_nodes_sending_at_once_keep_every_invariant(db: &TestDb) {
    const N: usize = 240;
    let nodes = nodes(db, 3).await;
    let a = new_account(&*nodes[0], "acme").await;
    let (kept, kept_seq) = create(&*nodes[0], &campaign(&a, &[SENDER, SENDER_2], N)).await;
    let (cancelled, cancelled_seq) = create(&*nodes[0], &campaign(&a, &[SENDER], N)).await;

    let mut workers = Vec::new();
    for i in 0..6 {
        let store: DynStore = nodes[i % nodes.len()].clone();
        let callbacks: DynStore = nodes[(i + 1) % nodes.len()].clone();
        workers.push(tokio::spawn(async move {
            let mut idle = 0;
            let mut claims = 0;
            while idle < 3 {
                let mut got = Vec::new();
                for (seq, from) in [
                    (kept_seq, SENDER),
                    (kept_seq, SENDER_2),
                    (cancelled_seq, SENDER),
                ] {
                    got.extend(store.claim_work(seq, from, 5, at(0)).await.expect("claim"));
                }
                if got.is_empty() {
                    idle += 1;
                    tokio::task::yield_now().await;
                    continue;
                }
                idle = 0;
                claims += 1;
                let mut results = Vec::new();
                let mut events = Vec::new();
                for w in &got {
                    // Released and retried recipients come back; a coin (the attempt id) and
                    // an attempt cap make sure every one ends.
                    let coin = w.attempt_id.as_bytes()[0] % 2 == 0;
                    results.push(match w.id % 4 {
                        1 if w.attempts < 3 => SendResult::Retry {
                            id: w.id,
                            attempt_id: w.attempt_id.clone(),
                            not_before: at(0),
                            code: "20429".into(),
                            message: "Too Many Requests".into(),
                        },
                        2 if coin => released(w),
                        3 => failed(w),
                        _ => {
                            let sid = format!("SM{}", w.id);
                            events.push(event(&sid, RecipientStatus::Delivered));
                            events.push(event(&sid, RecipientStatus::Sent));
                            accepted(w, &sid)
                        }
                    });
                }
                store.record_results(&results, at(1)).await.expect("record");
                callbacks
                    .apply_status_events(&events, at(2))
                    .await
                    .expect("callbacks");
            }
            claims
        }));
    }
    let canceller = {
        let store = nodes[2].clone();
        let (a, id) = (a.clone(), cancelled.clone());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            store.cancel_campaign(&a, &id, at(3)).await.expect("cancel");
        })
    };
    let closers: Vec<_> = nodes
        .iter()
        .map(|store| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut closed = Vec::new();
                for _ in 0..40 {
                    closed.extend(store.finish_campaigns(at(4)).await.expect("finish"));
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                closed
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    canceller.await.unwrap();
    let mut closed = Vec::new();
    for c in closers {
        closed.extend(c.await.unwrap());
    }
    closed.extend(nodes[0].finish_campaigns(at(5)).await.unwrap());

    assert_eq!(
        closed,
        [(kept.clone(), CampaignStatus::Done)],
        "closed once"
    );
    let s = &*nodes[0];
    let done = checked_counts(s, &a, &kept).await;
    assert_eq!(done.pending_count, 0);
    assert_eq!(done.total_count, N as u64);
    let rows = recipients(s, &a, &cancelled).await;
    assert!(
        rows.iter().all(|r| r.status != RecipientStatus::Pending),
        "nothing stays pending in a cancelled campaign"
    );
    let counted = checked_counts(s, &a, &cancelled).await;
    assert_eq!(counted.pending_count, 0, "every sent one was delivered");
    assert_eq!(
        s.get_campaign(&a, &cancelled).await.unwrap().status,
        CampaignStatus::Cancelled
    );
    assert!(s.unknown_in_flight(10).await.unwrap().is_empty());
    assert_eq!(
        s.mark_all_in_flight_unknown().await.unwrap(),
        0,
        "nothing left in flight"
    );
}

async fn cancel_keeps_in_flight_recipients_and_stops_the_rest(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    let (id, seq) = create(&*s, &campaign(&a, &[SENDER], 6)).await;
    let w = s.claim_work(seq, SENDER, 3, at(0)).await.unwrap();
    assert_not_found(s.cancel_campaign(&b, &id, at(5)).await);
    s.cancel_campaign(&a, &id, at(10)).await.unwrap();

    use RecipientStatus::*;
    assert_eq!(
        statuses(&*s, &a, &id).await,
        [Pending, Pending, Pending, Cancelled, Cancelled, Cancelled],
        "in-flight recipients are kept until their outcome is known"
    );
    let c = s.get_campaign(&a, &id).await.unwrap();
    assert_eq!(c.status, CampaignStatus::Cancelled);
    assert_eq!(c.finished_at, Some(stored(at(10))));
    assert!(!s.campaign_running(seq).await.unwrap());
    assert!(
        s.claim_work(seq, SENDER, 10, at(20))
            .await
            .unwrap()
            .is_empty()
    );

    // The engine then releases what it had not sent, or stores what it had.
    s.record_results(
        &[
            released(&w[0]),
            SendResult::Retry {
                id: w[1].id,
                attempt_id: w[1].attempt_id.clone(),
                not_before: at(30),
                code: "503".into(),
                message: "Service Unavailable".into(),
            },
            accepted(&w[2], "SM2"),
        ],
        at(30),
    )
    .await
    .unwrap();
    assert_eq!(
        statuses(&*s, &a, &id).await,
        [
            Cancelled, Cancelled, Queued, Cancelled, Cancelled, Cancelled
        ]
    );
    assert_eq!(checked_counts(&*s, &a, &id).await, counts(0, 0, 1, 5));

    let message = assert_conflict(s.cancel_campaign(&a, &id, at(40)).await);
    assert!(message.contains("cancelled"), "{message}");
    assert_not_found(s.cancel_campaign(&a, &CampaignId::generate(), at(40)).await);

    // Drafts and scheduled campaigns cancel too; finished ones do not.
    for status in [CampaignStatus::Draft, CampaignStatus::Scheduled] {
        let mut new = campaign(&a, &[SENDER], 2);
        new.status = status;
        new.scheduled_at = Some(at(3_600_000));
        let (id, _) = create(&*s, &new).await;
        s.cancel_campaign(&a, &id, at(50)).await.unwrap();
        assert_eq!(statuses(&*s, &a, &id).await, [Cancelled, Cancelled]);
    }
    let mut all_opted_out = campaign(&a, &[SENDER], 1);
    all_opted_out.recipients[0].opted_out = true;
    let (done, _) = create(&*s, &all_opted_out).await;
    s.finish_campaigns(at(60)).await.unwrap();
    let message = assert_conflict(s.cancel_campaign(&a, &done, at(70)).await);
    assert!(message.contains("failed"), "{message}");
}

async fn launch_drafts(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    let draft = |scheduled_at: Option<OffsetDateTime>| {
        let mut new = campaign(&a, &[SENDER], 1);
        new.status = CampaignStatus::Draft;
        new.scheduled_at = scheduled_at;
        new
    };
    let (now_id, now_seq) = create(&*s, &draft(None)).await;
    let (later_id, _) = create(&*s, &draft(Some(at(3_600_000)))).await;
    let (past_id, _) = create(&*s, &draft(Some(at(-1_000)))).await;

    assert_not_found(s.launch_campaign(&b, &now_id, at(10)).await);
    assert_not_found(s.launch_campaign(&a, &CampaignId::generate(), at(10)).await);
    assert_eq!(
        s.launch_campaign(&a, &now_id, at(10)).await.unwrap(),
        CampaignStatus::Running
    );
    let c = s.get_campaign(&a, &now_id).await.unwrap();
    assert_eq!(
        (c.status, c.started_at),
        (CampaignStatus::Running, Some(stored(at(10))))
    );
    assert!(s.campaign_running(now_seq).await.unwrap());

    assert_eq!(
        s.launch_campaign(&a, &later_id, at(10)).await.unwrap(),
        CampaignStatus::Scheduled
    );
    let c = s.get_campaign(&a, &later_id).await.unwrap();
    assert_eq!((c.status, c.started_at), (CampaignStatus::Scheduled, None));
    assert_eq!(
        s.launch_campaign(&a, &past_id, at(10)).await.unwrap(),
        CampaignStatus::Running
    );

    let message = assert_conflict(s.launch_campaign(&a, &now_id, at(20)).await);
    assert!(message.contains("running"), "{message}");
    assert_conflict(s.launch_campaign(&a, &later_id, at(20)).await);
}

async fn scheduled_campaigns_are_promoted_once(db: &TestDb) {
    let nodes = nodes(db, 2).await;
    let s = &nodes[0];
    let a = new_account(&**s, "acme").await;
    let scheduled = |when: i64| {
        let mut new = campaign(&a, &[SENDER], 1);
        new.status = CampaignStatus::Scheduled;
        new.scheduled_at = Some(at(when));
        new
    };
    let mut due = HashSet::new();
    for _ in 0..6 {
        due.insert(create(&**s, &scheduled(10_000)).await.0);
    }
    let (later, _) = create(&**s, &scheduled(100_000)).await;

    assert!(s.promote_due_campaigns(at(5_000)).await.unwrap().is_empty());
    // Every node's scheduler ticks at once: each campaign starts once.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store: DynStore = nodes[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            store.promote_due_campaigns(at(20_000)).await.unwrap()
        }));
    }
    let mut promoted = Vec::new();
    for t in tasks {
        promoted.extend(t.await.unwrap());
    }
    assert_eq!(promoted.len(), due.len(), "{promoted:?}");
    assert_eq!(promoted.iter().cloned().collect::<HashSet<_>>(), due);
    for id in &due {
        let c = s.get_campaign(&a, id).await.unwrap();
        assert_eq!(
            (c.status, c.started_at),
            (CampaignStatus::Running, Some(stored(at(20_000))))
        );
    }
    assert!(
        s.promote_due_campaigns(at(20_000))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.promote_due_campaigns(at(100_000)).await.unwrap(), [later]);
}

async fn finish_marks_done_or_failed_once(db: &TestDb) {
    let nodes = nodes(db, 2).await;
    let s = &nodes[0];
    let a = new_account(&**s, "acme").await;

    let (all_failed, seq) = create(&**s, &campaign(&a, &[SENDER], 2)).await;
    let w = s.claim_work(seq, SENDER, 2, at(0)).await.unwrap();
    s.record_results(&[failed(&w[0]), failed(&w[1])], at(1))
        .await
        .unwrap();
    let (some_sent, seq) = create(&**s, &campaign(&a, &[SENDER], 2)).await;
    let w = s.claim_work(seq, SENDER, 2, at(0)).await.unwrap();
    s.record_results(&[failed(&w[0]), accepted(&w[1], "SM1")], at(1))
        .await
        .unwrap();
    // Failed after Twilio took it: the campaign still sent something.
    let (failed_later, seq) = create(&**s, &campaign(&a, &[SENDER], 1)).await;
    let w = s.claim_work(seq, SENDER, 1, at(0)).await.unwrap();
    s.record_results(&[accepted(&w[0], "SM9")], at(1))
        .await
        .unwrap();
    s.apply_status_events(&[event("SM9", RecipientStatus::Failed)], at(2))
        .await
        .unwrap();
    let mut opted = campaign(&a, &[SENDER], 2);
    opted.recipients[0].opted_out = true;
    opted.recipients[1].opted_out = true;
    let (all_opted_out, _) = create(&**s, &opted).await;
    let (untouched, _) = create(&**s, &campaign(&a, &[SENDER], 1)).await;
    let (in_flight, seq) = create(&**s, &campaign(&a, &[SENDER], 1)).await;
    s.claim_work(seq, SENDER, 1, at(0)).await.unwrap();
    let mut draft = campaign(&a, &[SENDER], 1);
    draft.status = CampaignStatus::Draft;
    draft.recipients[0].opted_out = true;
    let (draft, _) = create(&**s, &draft).await;

    // Both nodes close campaigns at the same moment: each one is closed once.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store: DynStore = nodes[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            store.finish_campaigns(at(100)).await.unwrap()
        }));
    }
    let mut finished: Vec<(CampaignId, CampaignStatus)> = Vec::new();
    for t in tasks {
        finished.extend(t.await.unwrap());
    }
    finished.sort_by(|x, y| x.0.cmp(&y.0));
    let mut expected = vec![
        (all_failed.clone(), CampaignStatus::Failed),
        (some_sent.clone(), CampaignStatus::Done),
        (failed_later.clone(), CampaignStatus::Done),
        (all_opted_out.clone(), CampaignStatus::Failed),
    ];
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(finished, expected);
    for (id, status) in &expected {
        let c = s.get_campaign(&a, id).await.unwrap();
        assert_eq!((c.status, c.finished_at), (*status, Some(stored(at(100)))));
    }
    for id in [&untouched, &in_flight] {
        assert_eq!(
            s.get_campaign(&a, id).await.unwrap().status,
            CampaignStatus::Running
        );
    }
    assert_eq!(
        s.get_campaign(&a, &draft).await.unwrap().status,
        CampaignStatus::Draft
    );
    assert!(s.finish_campaigns(at(200)).await.unwrap().is_empty());
}

async fn opt_outs_are_honoured_at_claim_time(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    let (id, seq) = create(&*s, &campaign(&a, &[SENDER], 5)).await;
    let all = recipients(&*s, &a, &id).await;
    s.add_opt_out(&a, &recipient_phone(0), "inbound", Some("STOP"), at(1))
        .await
        .unwrap();
    s.add_opt_out(&a, &recipient_phone(3), "inbound", Some("STOP"), at(1))
        .await
        .unwrap();
    s.add_opt_out(&b, &recipient_phone(1), "inbound", Some("STOP"), at(1))
        .await
        .unwrap();

    // The opted-out among the next `limit` fail; `limit` others are claimed.
    let w = s.claim_work(seq, SENDER, 2, at(10)).await.unwrap();
    assert_eq!(positions(&w, &all), [1, 2]);
    let rows = recipients(&*s, &a, &id).await;
    assert_eq!(rows[0].status, RecipientStatus::Failed);
    assert_eq!(rows[0].error_code.as_deref(), Some("opted_out"));
    assert_eq!(
        rows[0].error_message.as_deref(),
        Some("the recipient opted out of messages from this account")
    );
    assert_eq!(rows[0].updated_at, stored(at(10)));
    assert_eq!(
        rows[3].status,
        RecipientStatus::Pending,
        "not yet among the next two"
    );
    let w = s.claim_work(seq, SENDER, 5, at(20)).await.unwrap();
    assert_eq!(positions(&w, &all), [4]);
    assert_eq!(
        recipients(&*s, &a, &id).await[3].status,
        RecipientStatus::Failed
    );
    assert_eq!(checked_counts(&*s, &a, &id).await, counts(0, 2, 3, 0));
}

async fn in_flight_recipients_queue_for_reconciliation(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let (_, seq) = create(&*s, &campaign(&a, &[SENDER], 4)).await;
    let early = s.claim_work(seq, SENDER, 1, at(0)).await.unwrap();
    let late = s.claim_work(seq, SENDER, 2, at(1_000)).await.unwrap();
    assert!(s.unknown_in_flight(10).await.unwrap().is_empty());

    // At start-up every in-flight recipient is suspect, once.
    assert_eq!(s.mark_all_in_flight_unknown().await.unwrap(), 3);
    assert_eq!(s.mark_all_in_flight_unknown().await.unwrap(), 0);
    let unknown = s.unknown_in_flight(10).await.unwrap();
    let expected: Vec<&Work> = early.iter().chain(&late).collect();
    assert_eq!(unknown.len(), 3);
    for (u, w) in unknown.iter().zip(&expected) {
        assert_eq!((u.id, u.attempt_id.as_str()), (w.id, w.attempt_id.as_str()));
        assert_eq!(
            (u.phone.as_str(), u.from_number.as_str()),
            (w.phone.as_str(), SENDER)
        );
        assert_eq!((u.body.as_str(), u.attempts), (w.body.as_str(), 1));
    }
    assert_eq!(unknown[0].since, stored(at(0)));
    assert_eq!(unknown[1].since, stored(at(1_000)));
    assert_eq!(s.unknown_in_flight(1).await.unwrap()[0].id, early[0].id);

    // Settled ones leave the queue; an ambiguous answer joins it.
    s.record_results(&[accepted(&early[0], "SM0")], at(2_000))
        .await
        .unwrap();
    let ids: Vec<i64> = s
        .unknown_in_flight(10)
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, [late[0].id, late[1].id]);
    let fresh = s.claim_work(seq, SENDER, 1, at(3_000)).await.unwrap();
    s.record_results(
        &[SendResult::Unknown {
            id: fresh[0].id,
            attempt_id: fresh[0].attempt_id.clone(),
            message: "timed out".into(),
        }],
        at(3_500),
    )
    .await
    .unwrap();
    assert_eq!(s.unknown_in_flight(10).await.unwrap().len(), 3);
    assert_eq!(s.mark_all_in_flight_unknown().await.unwrap(), 0);
}

async fn known_sids_are_per_phone_and_sender(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let mut sids = Vec::new();
    for (i, from) in [SENDER, SENDER, SENDER_2].into_iter().enumerate() {
        let (_, seq) = create(&*s, &campaign(&a, &[from], 1)).await;
        let w = s.claim_work(seq, from, 1, at(0)).await.unwrap();
        let sid = format!("SM{i}");
        s.record_results(&[accepted(&w[0], &sid)], at(1))
            .await
            .unwrap();
        sids.push(sid);
    }
    let p = recipient_phone(0);
    assert_eq!(
        s.known_sids(&p, SENDER).await.unwrap(),
        HashSet::from([sids[0].clone(), sids[1].clone()])
    );
    assert_eq!(
        s.known_sids(&p, SENDER_2).await.unwrap(),
        HashSet::from([sids[2].clone()])
    );
    assert!(
        s.known_sids(&recipient_phone(1), SENDER)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn lanes_and_queue_depth(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    s.create_number(&a, &number(SENDER, 2.5, None))
        .await
        .unwrap();
    assert!(s.lanes_with_work(at(0)).await.unwrap().is_empty());
    assert_eq!(s.pending_total().await.unwrap(), 0);

    let (_, first) = create(&*s, &campaign(&a, &[SENDER, SENDER_2], 4)).await;
    let (_, second) = create(&*s, &campaign(&a, &[SENDER], 3)).await;
    let mut draft = campaign(&a, &[SENDER], 5);
    draft.status = CampaignStatus::Draft;
    create(&*s, &draft).await;

    let lanes = s.lanes_with_work(at(0)).await.unwrap();
    let lanes: Vec<(&str, f64)> = lanes.iter().map(|l| (l.phone.as_str(), l.mps)).collect();
    // Sorted by phone; a number that is not registered paces at the default 1/s.
    assert_eq!(lanes, [(SENDER_2, 1.0), (SENDER, 2.5)]);
    assert_eq!(
        s.lane_campaigns(SENDER, at(0)).await.unwrap(),
        [first, second]
    );
    assert_eq!(s.lane_campaigns(SENDER_2, at(0)).await.unwrap(), [first]);
    assert!(
        s.lane_campaigns("+447700900123", at(0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.pending_total().await.unwrap(),
        7,
        "running campaigns only"
    );

    let w = s.claim_work(second, SENDER, 3, at(0)).await.unwrap();
    assert_eq!(
        s.pending_total().await.unwrap(),
        7,
        "in flight is still pending"
    );
    s.record_results(&[accepted(&w[0], "SM0"), failed(&w[1])], at(1))
        .await
        .unwrap();
    assert_eq!(s.pending_total().await.unwrap(), 5);
}

async fn a_hundred_thousand_recipients_in_one_create(db: &TestDb) {
    // The full 100,000 (the API's limit) on PostgreSQL, whose bulk insert this is about;
    // 20,000 on SQLite, whose debug-build C library would take ~15 s for the full count.
    let n: usize = match db.backend {
        Backend::Postgres => 100_000,
        Backend::Sqlite => 20_000,
    };
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    // Parsing 100,000 phones would dominate the test: reuse a thousand.
    let phones: Vec<Phone> = (0..1_000).map(|i| phone(&recipient_phone(i))).collect();
    let sender = phone(SENDER);
    let mut new = campaign(&a, &[SENDER], 0);
    new.recipients = (0..n)
        .map(|i| NewRecipient {
            phone: phones[i % phones.len()].clone(),
            variables: variables(i),
            body: format!("Hi P{i}, Acme Dental is offering 20% off cleanings this month."),
            segments: 1,
            encoding: Encoding::Gsm7,
            from_number: sender.clone(),
            opted_out: i % 1_000 == 999,
            no_consent: false,
        })
        .collect();
    let started = std::time::Instant::now();
    s.create_campaign(&new, Some(&idempotency("big", 1)))
        .await
        .unwrap();
    let took = started.elapsed();
    eprintln!("{:?}: created {n} recipients in {took:?}", db.backend);
    let c = s.get_campaign(&a, &new.id).await.unwrap();
    assert_eq!(
        c.counts,
        counts(0, n as u64 / 1_000, n as u64 - n as u64 / 1_000, 0)
    );
    let last = s
        .list_recipients(
            &a,
            &new.id,
            &RecipientQuery {
                after: Some(n as i64 - 2),
                limit: 10,
                ..RecipientQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].position, n as i64 - 1);
    assert_eq!(last[0].variables, variables(n - 1));
    assert_eq!(last[0].status, RecipientStatus::Failed);
}
