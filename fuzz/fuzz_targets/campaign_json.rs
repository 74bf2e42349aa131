//! The campaign JSON reader: any body is either read or refused (400/422), never a panic;
//! create's borrowed reading and preview's owned reading accept the same bodies and find the
//! same recipients, and the analysis (what create stores, what preview shows) is the same for
//! both; a refused body read field by field lists every problem without panicking.
//!
//! Input: the request body of `POST /v1/sms/campaigns` (and `/preview`).
#![no_main]

use std::collections::{HashMap, HashSet};

use herald::domain::campaign::{
    AccountContext, CampaignRequest, Limits, MisshapenRequest, RecipientInput, Recipients,
    RecipientsJson, analyse,
};
use herald::http::extract::{Unparsed, parse_json, parse_json_listing};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let ctx = context();
    let limits = Limits { max_recipients: 50 };
    // 2026-01-01T00:00:00Z: fixed, so a run is repeatable.
    let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("a valid time");

    let borrowed = parse_json::<CampaignRequest<RecipientsJson<'_>>>(data);
    let owned = parse_json::<CampaignRequest>(data);
    assert_eq!(
        borrowed.is_ok(),
        owned.is_ok(),
        "create and preview disagree on {:?}: {:?} / {:?}",
        String::from_utf8_lossy(data),
        borrowed.as_ref().err(),
        owned.as_ref().err()
    );
    match (&borrowed, &owned) {
        (Ok(b), Ok(o)) => {
            // The same recipients, read one at a time from the body.
            let (Some(list), Some(vec)) = (&b.recipients, &o.recipients) else {
                assert_eq!(b.recipients.is_some(), o.recipients.is_some());
                return compare(b, o, &ctx, &limits, now);
            };
            assert_eq!(list.len(), vec.len());
            let mut seen = 0;
            for (entry, want) in list.iter().zip(vec) {
                assert_eq!(entry.phone(), want.phone.as_deref());
                let vars = entry.variables().expect("a checked entry reads again");
                assert_eq!(vars.as_deref(), want.variables.as_ref());
                seen += 1;
            }
            assert_eq!(seen, vec.len());
            compare(b, o, &ctx, &limits, now);
        }
        (Err(_), Err(_)) => {
            // What create does with a refused body: read it field by field.
            match parse_json_listing::<CampaignRequest, _>(data, MisshapenRequest::read) {
                Ok(_) => panic!("read on the second try"),
                Err(Unparsed::Refused(_)) => {}
                Err(Unparsed::Misshapen(m)) => {
                    assert!(!m.errors.is_empty());
                    let analysis = analyse(&m.request, &ctx, &limits, now);
                    let all = m.with_value_errors(analysis.all_errors());
                    assert!(all.len() >= m.errors.len());
                    // (A field's path may be empty: an unknown key `""` is named as it is.)
                    assert!(all.iter().all(|e| !e.message.is_empty()));
                }
            }
        }
        _ => unreachable!(),
    }
});

/// Create (borrowed) and preview (owned) reach the same verdict on every field and recipient.
fn compare(
    b: &CampaignRequest<RecipientsJson<'_>>,
    o: &CampaignRequest,
    ctx: &AccountContext,
    limits: &Limits,
    now: OffsetDateTime,
) {
    let from_b = analyse(b, ctx, limits, now);
    let from_o = analyse(o, ctx, limits, now);
    assert_eq!(from_b.errors, from_o.errors);
    assert_eq!(from_b.recipients, from_o.recipients);
    assert_eq!(from_b.name, from_o.name);
    assert_eq!(from_b.from_numbers, from_o.from_numbers);
    assert_eq!(from_b.schedule, from_o.schedule);
    let valid = from_o.is_valid();
    let errors = from_o.all_errors();
    assert_eq!(valid, errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| !e.field.is_empty() && !e.message.is_empty())
    );
    match from_o.into_valid() {
        Ok(campaign) => {
            assert!(valid);
            assert!(!campaign.recipients.is_empty() || !campaign.duplicates.is_empty());
            for r in &campaign.recipients {
                assert!(r.segments >= 1);
                assert!(r.body.chars().count() <= herald::domain::campaign::MAX_BODY_CHARS);
            }
        }
        Err(errors) => assert!(!valid && !errors.is_empty()),
    }
}

/// An account with two numbers (one with a default agent), one agent, one opted-out and one
/// consenting recipient: numbers the seeds use.
fn context() -> AccountContext {
    AccountContext {
        agents: HashSet::from(["agent_1".to_owned()]),
        numbers: HashMap::from([
            ("+447111000001".to_owned(), Some("agent_1".to_owned())),
            ("+12025550104".to_owned(), None),
        ]),
        opted_out: HashSet::from(["+447700900123".to_owned()]),
        consented: HashSet::from(["+447700900124".to_owned()]),
    }
}
