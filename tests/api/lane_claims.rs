//! Group claims (`claim_lane_work`), on every backend (as the conformance suite:
//! `sqlite::NAME` always, `postgres::NAME` when `TEST_DATABASE_URL` is set): several
//! campaigns of one number claimed in one transaction, each as a lone claim would be.

use herald::domain::Phone;
use herald::domain::campaign::NewRecipient;
use herald::domain::ids::{AccountId, CampaignId, KeyId, NodeId};
use herald::domain::segments::Encoding;
use herald::domain::status::{CampaignStatus, RecipientStatus, Source};
use herald::store::{
    Created, NewAccount, NewApiKey, NewCampaign, RecipientList, RecipientQuery, Store,
};
use serde_json::Map;
use time::OffsetDateTime;
use time::macros::datetime;

use herald_test_support::TestDb;

on_every_backend!(
    a_group_claim_takes_each_campaign_in_turn_up_to_its_limit,
    a_group_claim_skips_what_a_lone_claim_skips,
);

const T0: OffsetDateTime = datetime!(2026-03-01 10:00:00 UTC);
const SENDER: &str = "+447446466847";

fn node() -> NodeId {
    NodeId::parse("node-a").expect("a node name")
}

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

/// Stores a running campaign from [`SENDER`] to `phones` (`+4471110000NN`); returns its
/// id and seq.
async fn campaign(store: &dyn Store, account: &AccountId, phones: &[u32]) -> (CampaignId, i64) {
    let id = CampaignId::generate();
    let new = NewCampaign {
        id: id.clone(),
        account_id: account.clone(),
        name: "Reminder".into(),
        message_template: "Hi".into(),
        agent_id: None,
        from_numbers: vec![SENDER.to_owned()],
        status: CampaignStatus::Running,
        source: Source::Api,
        scheduled_at: None,
        require_consent: false,
        respect_send_window: false,
        send_window_reason: None,
        created_at: T0,
        resend_of: None,
    };
    let recipients = phones
        .iter()
        .map(|n| NewRecipient {
            phone: Phone::parse(&format!("+4471110{n:05}")).unwrap(),
            variables: Map::new(),
            body: format!("Hi {n}"),
            segments: 1,
            encoding: Encoding::Gsm7,
            from_number: Phone::parse(SENDER).unwrap(),
            opted_out: false,
            no_consent: false,
        })
        .collect();
    let created = store
        .create_campaign(&new, &mut RecipientList::new(recipients, 0), None)
        .await
        .expect("create");
    assert_eq!(created, Created::New(id.clone()));
    let seq = store.get_campaign(account, &id).await.unwrap().seq;
    (id, seq)
}

async fn a_group_claim_takes_each_campaign_in_turn_up_to_its_limit(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s).await;
    let (_, one) = campaign(&*s, &a, &[1]).await;
    let (big_id, big) = campaign(&*s, &a, &[2, 3, 4]).await;
    let (_, two) = campaign(&*s, &a, &[5]).await;
    let (_, three) = campaign(&*s, &a, &[6]).await;

    // The order given is kept; the limit counts recipients across the group, and a campaign
    // reached when little is left takes only that much.
    let claimed = s
        .claim_lane_work(&node(), &[two, big, one, three], SENDER, 3, T0)
        .await
        .unwrap();
    let seqs: Vec<i64> = claimed.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [two, big], "campaigns past the limit are left out");
    assert_eq!(claimed[0].1.len(), 1);
    let big_work = &claimed[1].1;
    assert_eq!(
        big_work
            .iter()
            .map(|w| w.phone.as_str())
            .collect::<Vec<_>>(),
        ["+447111000002", "+447111000003"],
        "in the campaign's order, no more than what was left"
    );
    assert!(big_work.iter().all(|w| w.campaign_seq == big
        && w.campaign_id == big_id
        && w.account_id == a
        && w.attempts == 1
        && !w.attempt_id.is_empty()));
    assert_eq!(claimed[0].1[0].body, "Hi 5");

    // Claimed means in flight: the next group claim takes only what is left, and a
    // campaign with nothing left answers with no work (it still counts as reached).
    let again = s
        .claim_lane_work(&node(), &[two, big, one, three], SENDER, 10, T0)
        .await
        .unwrap();
    let got: Vec<(i64, usize)> = again.iter().map(|(seq, w)| (*seq, w.len())).collect();
    assert_eq!(got, [(two, 0), (big, 1), (one, 1), (three, 1)]);
    let ids: std::collections::HashSet<i64> = claimed
        .iter()
        .chain(again.iter())
        .flat_map(|(_, w)| w.iter().map(|w| w.id))
        .collect();
    assert_eq!(ids.len(), 6, "every recipient claimed once");
}

async fn a_group_claim_skips_what_a_lone_claim_skips(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s).await;
    let (paused_id, paused) = campaign(&*s, &a, &[1]).await;
    let (cancelled_id, cancelled) = campaign(&*s, &a, &[2]).await;
    let (opted_id, opted) = campaign(&*s, &a, &[3, 4]).await;
    let (_, fine) = campaign(&*s, &a, &[5]).await;
    s.pause_campaign(&a, &paused_id, T0).await.unwrap();
    s.cancel_campaign(&a, &cancelled_id, T0).await.unwrap();
    s.add_opt_out(&a, "+447111000003", "api", None, T0)
        .await
        .unwrap();

    let claimed = s
        .claim_lane_work(
            &node(),
            &[paused, cancelled, opted, fine, i64::MAX],
            SENDER,
            10,
            T0,
        )
        .await
        .unwrap();
    let got: Vec<(i64, Vec<&str>)> = claimed
        .iter()
        .map(|(seq, w)| (*seq, w.iter().map(|w| w.phone.as_str()).collect()))
        .collect();
    assert_eq!(
        got,
        [
            (paused, vec![]),
            (cancelled, vec![]),
            (opted, vec!["+447111000004"]),
            (fine, vec!["+447111000005"]),
            (i64::MAX, vec![]),
        ]
    );
    // The opted-out recipient failed at the claim, as a lone claim fails it.
    let page = s
        .list_recipients(
            &a,
            &opted_id,
            &RecipientQuery {
                limit: 10,
                ..RecipientQuery::default()
            },
        )
        .await
        .unwrap();
    let statuses: Vec<(String, RecipientStatus)> =
        page.into_iter().map(|r| (r.phone, r.status)).collect();
    assert!(statuses.contains(&("+447111000003".to_owned(), RecipientStatus::Failed)));
}
