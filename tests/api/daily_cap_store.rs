//! The daily cap per recipient at claim time (docs/ARCHITECTURE.md §4), on every backend: a
//! number with the account's cap of campaign messages sent in the last 24 hours, or in flight,
//! is failed `frequency_capped` by the claim, whatever campaign and node claims it; test
//! sends and replies neither count nor are capped. (A child of the conformance suite: its
//! fixtures are the suite's.)

use super::*;
use herald::domain::daily_cap::DailyCap;
use herald::domain::ids::TestSendId;
use herald::store::NewTestSend;

on_every_backend!(
    the_cap_refuses_at_claim_across_campaigns_over_a_rolling_day,
    test_sends_and_replies_neither_count_nor_are_capped,
    racing_claims_of_one_phone_never_both_pass_a_full_cap,
);

const DAY: Duration = Duration::hours(24);

async fn set_cap(s: &dyn Store, a: &AccountId, cap: Option<u32>) {
    let update = AccountSettingsUpdate {
        max_messages_per_recipient_per_day: Some(cap.map(|n| DailyCap::new(i64::from(n)).unwrap())),
        ..Default::default()
    };
    let settings = s.update_account_settings(a, &update).await.unwrap();
    assert_eq!(
        settings
            .max_messages_per_recipient_per_day
            .map(DailyCap::get),
        cap
    );
}

/// A running campaign from `SENDER` to these phones, in order.
async fn campaign_to(s: &dyn Store, a: &AccountId, phones: &[&str]) -> (CampaignId, i64) {
    let mut c = campaign(a, &[SENDER], phones.len());
    for (r, p) in c.recipients.iter_mut().zip(phones) {
        r.phone = phone(p);
    }
    create(s, &c).await
}

fn phones_of(w: &[Work]) -> Vec<&str> {
    w.iter().map(|w| w.phone.as_str()).collect()
}

async fn the_cap_refuses_at_claim_across_campaigns_over_a_rolling_day(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let [p0, p1, p2, p5] = [0, 1, 2, 5].map(recipient_phone);
    set_cap(&*s, &a, Some(1)).await;
    let (first, first_seq) = campaign_to(&*s, &a, &[&p0, &p1, &p2]).await;
    let (second, second_seq) = campaign_to(&*s, &a, &[&p0, &p5, &p2]).await;

    // The first campaign claims p0 and p1: in flight, they count at once.
    let w1 = s
        .claim_work(&node(), first_seq, SENDER, 2, at(1))
        .await
        .unwrap();
    assert_eq!(phones_of(&w1), [&p0, &p1]);
    let w2 = s
        .claim_work(&node(), second_seq, SENDER, 10, at(2))
        .await
        .unwrap();
    assert_eq!(phones_of(&w2), [&p5, &p2], "p0 is in flight elsewhere");
    let rows = recipients(&*s, &a, &second).await;
    assert_eq!(rows[0].status, RecipientStatus::Failed);
    assert_eq!(rows[0].error_code.as_deref(), Some("frequency_capped"));
    assert!(
        rows[0]
            .error_message
            .as_deref()
            .unwrap()
            .contains("24 hours")
    );
    assert_eq!(rows[0].twilio_sid, None);
    assert_eq!(checked_counts(&*s, &a, &second).await, counts(0, 1, 2, 0));
    let errors = s.campaign_tallies(&a, &second).await.unwrap().errors;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].error_code, "frequency_capped");

    // Sent (accepted by Twilio at at(3)): they count from then.
    s.record_results(&[accepted(&w1[0], "SM0"), accepted(&w1[1], "SM1")], at(3))
        .await
        .unwrap();
    s.record_results(&[accepted(&w2[0], "SM5"), accepted(&w2[1], "SM2")], at(3))
        .await
        .unwrap();
    let w = s
        .claim_work(&node(), first_seq, SENDER, 10, at(4))
        .await
        .unwrap();
    assert!(w.is_empty(), "p2 got the second campaign's message");
    assert_eq!(
        recipients(&*s, &a, &first).await[2].error_code.as_deref(),
        Some("frequency_capped")
    );
    let counted = s
        .recent_campaign_messages(
            &a,
            &[p0.clone(), p1.clone(), p2.clone(), recipient_phone(9)],
            at(4),
        )
        .await
        .unwrap();
    assert_eq!(
        counted,
        HashMap::from([(p0.clone(), 1), (p1.clone(), 1), (p2.clone(), 1)]),
        "the refused ones never count"
    );

    // A day is rolling: exactly 24 hours after it was sent, p1's message still counts; a
    // millisecond later it does not.
    let (_, third_seq) = campaign_to(&*s, &a, &[&p1]).await;
    let w = s
        .claim_work(&node(), third_seq, SENDER, 10, at(3) + DAY)
        .await
        .unwrap();
    assert!(w.is_empty());
    let (fourth, fourth_seq) = campaign_to(&*s, &a, &[&p1]).await;
    let w = s
        .claim_work(&node(), fourth_seq, SENDER, 10, at(4) + DAY)
        .await
        .unwrap();
    assert_eq!(phones_of(&w), [&p1]);
    assert_eq!(
        recipients(&*s, &a, &fourth).await[0].status,
        RecipientStatus::Pending
    );
    assert!(
        s.recent_campaign_messages(&a, std::slice::from_ref(&p0), at(4) + DAY)
            .await
            .unwrap()
            .is_empty()
    );

    // A higher cap lets more through; no cap lets everything through.
    set_cap(&*s, &a, Some(2)).await;
    let (_, seq) = campaign_to(&*s, &a, &[&p0]).await;
    assert_eq!(
        s.claim_work(&node(), seq, SENDER, 10, at(5))
            .await
            .unwrap()
            .len(),
        1
    );
    let (_, seq) = campaign_to(&*s, &a, &[&p0]).await;
    assert!(
        s.claim_work(&node(), seq, SENDER, 10, at(6))
            .await
            .unwrap()
            .is_empty()
    );
    set_cap(&*s, &a, None).await;
    let (_, seq) = campaign_to(&*s, &a, &[&p0]).await;
    assert_eq!(
        s.claim_work(&node(), seq, SENDER, 10, at(7))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn test_sends_and_replies_neither_count_nor_are_capped(db: &TestDb) {
    let s = db.store().await;
    let a = new_account(&*s, "acme").await;
    let b = new_account(&*s, "other").await;
    s.create_number(&a, &number(SENDER, 2.0, None))
        .await
        .unwrap();
    let them = recipient_phone(0);
    set_cap(&*s, &a, Some(1)).await;
    set_cap(&*s, &b, Some(1)).await;

    // Sends everything the lane has to claim now, accepting it; returns how many were sent.
    let send_all = |t: OffsetDateTime| {
        let s = s.clone();
        async move {
            let mut sent = 0;
            for seq in s.lane_campaigns(SENDER).await.unwrap() {
                let w = s.claim_work(&node(), seq, SENDER, 10, t).await.unwrap();
                for (i, w) in w.iter().enumerate() {
                    let sid = format!("SM{seq}x{i}");
                    s.record_results(&[accepted(w, &sid)], t).await.unwrap();
                    sent += 1;
                }
            }
            sent
        }
    };
    let test_send = |at: OffsetDateTime| NewTestSend {
        id: TestSendId::generate(),
        account_id: a.clone(),
        message_template: "Test".into(),
        message: campaign(&a, &[SENDER], 1).recipients[0].clone(),
        created_at: at,
    };

    // A test send and a reply to them: sent, and not counted.
    s.create_test_send(&test_send(at(1))).await.unwrap();
    let got = received(&*s, &inbound(&a, SENDER, &them, "Hello?", "SMin1", at(1))).await;
    assert!(
        s.create_reply(&reply(&a, &got.message_id, "Hi!", at(1)))
            .await
            .unwrap()
    );
    assert_eq!(send_all(at(2)).await, 2);
    assert!(
        s.recent_campaign_messages(&a, std::slice::from_ref(&them), at(3))
            .await
            .unwrap()
            .is_empty()
    );
    // A campaign message: sent, and counted; now at the cap.
    campaign_to(&*s, &a, &[&them]).await;
    assert_eq!(send_all(at(3)).await, 1);
    assert_eq!(
        s.recent_campaign_messages(&a, std::slice::from_ref(&them), at(4))
            .await
            .unwrap(),
        HashMap::from([(them.clone(), 1)])
    );
    // At the cap, a test send and a reply still go; another campaign does not.
    s.create_test_send(&test_send(at(4))).await.unwrap();
    let got = received(&*s, &inbound(&a, SENDER, &them, "Again?", "SMin2", at(4))).await;
    assert!(
        s.create_reply(&reply(&a, &got.message_id, "Yes", at(4)))
            .await
            .unwrap()
    );
    let (capped, _) = campaign_to(&*s, &a, &[&them]).await;
    assert_eq!(send_all(at(5)).await, 2, "the test send and the reply");
    assert_eq!(
        recipients(&*s, &a, &capped).await[0].error_code.as_deref(),
        Some("frequency_capped")
    );
    // Another account's cap counts its own messages only.
    let mut c = campaign(&b, &[SENDER], 1);
    c.recipients[0].phone = phone(&them);
    let (theirs, _) = create(&*s, &c).await;
    assert_eq!(send_all(at(6)).await, 1);
    assert_eq!(
        recipients(&*s, &b, &theirs).await[0].status,
        RecipientStatus::Queued
    );
}

async fn racing_claims_of_one_phone_never_both_pass_a_full_cap(db: &TestDb) {
    // Several nodes claim campaigns that share one phone, all at once (on PostgreSQL each
    // node its own pool, so the claims really overlap): with a cap of 1 exactly one of them
    // takes it, every time; the others fail it.
    let nodes = nodes(db, 4).await;
    let s = &nodes[0];
    let a = new_account(&**s, "acme").await;
    set_cap(&**s, &a, Some(1)).await;
    for round in 0..20 {
        let shared = recipient_phone(100 + round);
        let mut seqs = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..16 {
            let (id, seq) = campaign_to(&**s, &a, &[&shared]).await;
            seqs.push(seq);
            ids.push(id);
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(seqs.len()));
        let claims: Vec<_> = seqs
            .iter()
            .enumerate()
            .map(|(i, seq)| {
                let store = nodes[i % nodes.len()].clone();
                let barrier = barrier.clone();
                let seq = *seq;
                tokio::spawn(async move {
                    barrier.wait().await;
                    let name = format!("node-{}", i % 4);
                    store
                        .claim_work(&node_named(&name), seq, SENDER, 10, at(1))
                        .await
                        .unwrap()
                        .len()
                })
            })
            .collect();
        let mut claimed = 0;
        for c in claims {
            claimed += c.await.unwrap();
        }
        assert_eq!(claimed, 1, "round {round}: one claim passes a cap of 1");
        let mut capped = 0;
        for id in &ids {
            let r = &recipients(&**s, &a, id).await[0];
            capped += usize::from(r.error_code.as_deref() == Some("frequency_capped"));
            checked_counts(&**s, &a, id).await;
        }
        assert_eq!(capped, ids.len() - 1, "round {round}");
    }
}
