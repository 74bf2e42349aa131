//! Store behaviour at scale, on every backend (as the conformance suite: `sqlite::NAME`
//! always, `postgres::NAME` when `TEST_DATABASE_URL` is set): the lane's look at new
//! campaigns.

use herald::domain::Phone;
use herald::domain::campaign::NewRecipient;
use herald::domain::ids::{AccountId, CampaignId, KeyId};
use herald::domain::segments::Encoding;
use herald::domain::status::{CampaignStatus, Source};
use herald::store::{Created, NewAccount, NewApiKey, NewCampaign, RecipientList, Store};
use serde_json::Map;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use herald_test_support::TestDb;

on_every_backend!(a_lane_asks_only_for_campaigns_created_or_started_since);

const T0: OffsetDateTime = datetime!(2026-03-01 10:00:00 UTC);
const SENDER: &str = "+447446466847";
const OTHER_SENDER: &str = "+14155552671";

async fn new_account(store: &dyn Store) -> AccountId {
    let id = AccountId::generate();
    store
        .create_account(&NewAccount {
            id: id.clone(),
            name: "acme".into(),
            username: format!("acme-{}", &id.as_str()[5..11]),
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

/// Stores a one-recipient campaign from `from` in `status`, created (and, when running,
/// started) at `at`; returns its id and seq.
async fn campaign(
    store: &dyn Store,
    account: &AccountId,
    from: &str,
    status: CampaignStatus,
    at: OffsetDateTime,
) -> (CampaignId, i64) {
    let id = CampaignId::generate();
    let new = NewCampaign {
        id: id.clone(),
        account_id: account.clone(),
        name: "Reminder".into(),
        message_template: "Hi".into(),
        agent_id: None,
        from_numbers: vec![from.to_owned()],
        status,
        source: Source::Api,
        scheduled_at: None,
        require_consent: false,
        respect_send_window: true,
        send_window_reason: None,
        created_at: at,
        resend_of: None,
    };
    let recipient = NewRecipient {
        phone: Phone::parse("+447111000001").unwrap(),
        variables: Map::new(),
        body: "Hi".into(),
        segments: 1,
        encoding: Encoding::Gsm7,
        from_number: Phone::parse(from).unwrap(),
        opted_out: false,
        no_consent: false,
    };
    let created = store
        .create_campaign(&new, &mut RecipientList::new(vec![recipient], 0), None)
        .await
        .expect("create");
    assert_eq!(created, Created::New(id.clone()));
    let seq = store.get_campaign(account, &id).await.unwrap().seq;
    (id, seq)
}

async fn a_lane_asks_only_for_campaigns_created_or_started_since(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s).await;
    let running = CampaignStatus::Running;
    let (_, first) = campaign(&*s, &a, SENDER, running, T0).await;
    let (draft, draft_seq) = campaign(&*s, &a, SENDER, CampaignStatus::Draft, T0).await;
    let (_, second) = campaign(&*s, &a, SENDER, running, T0).await;
    let (_, elsewhere) = campaign(&*s, &a, OTHER_SENDER, running, T0).await;
    let later = T0 + Duration::hours(1);
    assert_eq!(s.lane_campaigns(SENDER).await.unwrap(), [first, second]);

    // Created since the lane saw `first`: a higher seq, running, on this number.
    let new = s.lane_campaigns_new(SENDER, first, later).await.unwrap();
    assert_eq!(new, [second]);
    assert!(
        s.lane_campaigns_new(SENDER, elsewhere, later)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.lane_campaigns_new(OTHER_SENDER, second, later)
            .await
            .unwrap(),
        [elsewhere]
    );

    // A draft launched later has an old seq: found by its start.
    assert_eq!(
        s.launch_campaign(&a, &draft, later).await.unwrap(),
        CampaignStatus::Running
    );
    assert!(draft_seq < second);
    let new = s
        .lane_campaigns_new(SENDER, elsewhere, later)
        .await
        .unwrap();
    assert_eq!(new, [draft_seq]);
    let after_it = later + Duration::seconds(1);
    assert!(
        s.lane_campaigns_new(SENDER, elsewhere, after_it)
            .await
            .unwrap()
            .is_empty()
    );
    // Started at T0, not since `later`, and not newer than `first`: not new.
    assert!(
        !s.lane_campaigns_new(SENDER, first, later)
            .await
            .unwrap()
            .contains(&first)
    );
}
