//! Unit tests of campaign validation: the request forms, the checker and the analysis.

use std::borrow::Cow;

use super::*;
use crate::domain::template::Template;
use serde_json::json;

fn ctx() -> AccountContext {
    AccountContext {
        agents: ["agent_125207e452f8714a".to_owned()].into(),
        numbers: [
            ("+447446466847".to_owned(), None),
            (
                "+447446466848".to_owned(),
                Some("agent_125207e452f8714a".to_owned()),
            ),
        ]
        .into(),
        opted_out: ["+447111000009".to_owned()].into(),
        consented: ["+447111000001".to_owned(), "+447111000009".to_owned()].into(),
    }
}

fn request(v: serde_json::Value) -> CampaignRequest {
    serde_json::from_value(v).expect("request shape")
}

fn spec_request() -> serde_json::Value {
    json!({
        "agent_id": "agent_125207e452f8714a",
        "from_number": "+447446466847",
        "name": "March promotion",
        "message_template": "Hi {{first_name}}, Acme Dental offering 20% off cleanings this month. Reply YES to book.",
        "recipients": [
            { "phone": "+447111000001", "variables": { "first_name": "Sarah" } },
            { "phone": "+447111000002", "variables": { "first_name": "James" } }
        ],
        "schedule_type": "now"
    })
}

fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-05-01 12:00 UTC)
}

#[test]
fn the_spec_example_validates_and_renders() {
    let c = validate(&request(spec_request()), &ctx(), &Limits::default(), now()).unwrap();
    assert_eq!(c.name, "March promotion");
    assert_eq!(c.schedule, Schedule::Now);
    assert_eq!(c.recipients.len(), 2);
    assert_eq!(
        c.recipients[0].body,
        "Hi Sarah, Acme Dental offering 20% off cleanings this month. Reply YES to book."
    );
    assert_eq!(c.recipients[1].phone.as_str(), "+447111000002");
    assert_eq!(c.recipients[0].segments, 1);
    assert!(!c.recipients[0].opted_out);
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let req = request(json!({
        "agent_id": "agent_nope",
        "from_number": "+447700900999",
        "message_template": "Hi",
        "recipients": [
            { "phone": "+447111000001" },
            { "phone": "07111000002" },
            { "variables": {} },
            { "phone": "+447111000003", "variables": { "x": [1] } }
        ],
        "schedule_type": "schedule",
        "scheduled_at": "2020-01-01T00:00:00Z"
    }));
    let errors = validate(&req, &ctx(), &Limits::default(), now()).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "name",
            "from_number",
            "agent_id",
            "scheduled_at",
            "recipients[1].phone",
            "recipients[2].phone",
            "recipients[3].variables.x"
        ]
    );
}

#[test]
fn duplicates_collapse_to_the_first_and_opt_outs_are_kept() {
    let mut v = spec_request();
    v["recipients"] = json!([
        { "phone": "+447111000001", "variables": { "first_name": "A" } },
        { "phone": "+44 7111 000001", "variables": { "first_name": "B" } },
        { "phone": "+447111000009" }
    ]);
    let c = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap();
    assert_eq!(c.recipients.len(), 2);
    assert!(c.recipients[0].body.starts_with("Hi A,"));
    assert_eq!(
        c.duplicates,
        [Duplicate {
            index: 1,
            phone: "+447111000001".into(),
            first_index: 0
        }]
    );
    assert!(c.recipients[1].opted_out);
}

#[test]
fn with_require_consent_numbers_without_consent_are_kept_and_marked() {
    let mut v = spec_request();
    v["recipients"] = json!([
        { "phone": "+447111000001" },
        { "phone": "+447111000002" },
        { "phone": "+447111000009" }
    ]);
    let c = validate(&request(v.clone()), &ctx(), &Limits::default(), now()).unwrap();
    assert!(!c.require_consent);
    assert!(c.recipients.iter().all(|r| !r.no_consent));
    v["require_consent"] = json!(true);
    let c = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap();
    assert!(c.require_consent);
    let flags: Vec<(bool, bool)> = c
        .recipients
        .iter()
        .map(|r| (r.opted_out, r.no_consent))
        .collect();
    // Consented; no consent; opted out (which wins over consent).
    assert_eq!(flags, [(false, false), (false, true), (true, false)]);
}

#[test]
fn too_many_recipients_and_too_long_bodies_are_refused() {
    let mut v = spec_request();
    v["recipients"] = json!([{ "phone": "+447111000001" }, { "phone": "+447111000002" }]);
    let errors = validate(
        &request(v.clone()),
        &ctx(),
        &Limits { max_recipients: 1 },
        now(),
    )
    .unwrap_err();
    assert_eq!(errors[0].field, "recipients");

    v["message_template"] = json!("{{long}}{{more}}");
    v["recipients"] = json!([{ "phone": "+447111000001",
        "variables": { "long": "x".repeat(1000), "more": "x".repeat(601) } }]);
    let errors = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap_err();
    assert_eq!(errors[0].field, "recipients[0]");
}

#[test]
fn a_pool_spreads_recipients_and_the_number_supplies_the_agent() {
    let mut v = spec_request();
    v.as_object_mut().unwrap().remove("agent_id");
    v.as_object_mut().unwrap().remove("from_number");
    v["from_numbers"] = json!(["+447446466848", "+447446466847"]);
    let c = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap();
    assert_eq!(c.agent_id.as_deref(), Some("agent_125207e452f8714a"));
    assert_eq!(c.recipients[0].from_number.as_str(), "+447446466848");
    assert_eq!(c.recipients[1].from_number.as_str(), "+447446466847");
}

#[test]
fn schedules_parse() {
    let mut v = spec_request();
    v["schedule_type"] = json!("schedule");
    v["scheduled_at"] = json!("2026-05-20T09:00:00Z");
    let c = validate(&request(v.clone()), &ctx(), &Limits::default(), now()).unwrap();
    assert_eq!(
        c.schedule,
        Schedule::At(time::macros::datetime!(2026-05-20 09:00 UTC))
    );
    v["schedule_type"] = json!("draft");
    v.as_object_mut().unwrap().remove("scheduled_at");
    let c = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap();
    assert_eq!(c.schedule, Schedule::Draft(None));
}

fn recipient(v: serde_json::Value) -> RecipientRequest {
    serde_json::from_value(v).expect("recipient shape")
}

fn sendable(outcome: &RecipientOutcome) -> &SendableRecipient {
    match outcome {
        RecipientOutcome::Sendable(r) => r,
        other => panic!("expected a sendable recipient, got {other:?}"),
    }
}

#[test]
fn the_checker_gives_each_entry_its_fate_in_one_pass() {
    let template = Template::parse("Hi {{first_name}} {{last_name}}");
    let senders = [
        Phone::parse("+447446466847").unwrap(),
        Phone::parse("+447446466848").unwrap(),
    ];
    let opted_out: HashSet<String> = ["+447111000009".to_owned()].into();
    let mut checker = RecipientChecker::new(Some(&template), &senders, &opted_out);
    let outcomes: Vec<RecipientOutcome> = [
        json!({ "phone": "+447111000001", "variables": { "first_name": "Sarah", "last_name": "Lee" } }),
        json!({ "phone": "07111000002" }),
        json!({ "phone": "+44 7111 000001", "variables": { "first_name": "Again" } }),
        json!({ "phone": "+447111000009", "variables": { "first_name": "Opted" } }),
        json!({ "phone": "+447723456789", "variables": { "first_name": "James" } }),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, v)| checker.check(i, &recipient(v)))
    .collect();

    let first = sendable(&outcomes[0]);
    assert_eq!(first.phone.as_str(), "+447111000001");
    let message = first.message.as_ref().unwrap();
    assert_eq!(message.body, "Hi Sarah Lee");
    assert_eq!((message.segments, message.encoding), (1, Encoding::Gsm7));
    assert_eq!(first.from_number.as_ref(), Some(&senders[0]));
    assert!(first.missing_variables.is_empty());
    assert!(!first.opted_out);

    let RecipientOutcome::Invalid(errors) = &outcomes[1] else {
        panic!("{:?}", outcomes[1]);
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "recipients[1].phone");

    assert_eq!(
        outcomes[2],
        RecipientOutcome::Duplicate(Duplicate {
            index: 2,
            phone: "+447111000001".into(),
            first_index: 0
        })
    );

    // Opted out: kept and rendered, with the next sender of the pool.
    let opted = sendable(&outcomes[3]);
    assert!(opted.opted_out);
    assert_eq!(opted.from_number.as_ref(), Some(&senders[1]));
    assert_eq!(opted.missing_variables, ["last_name"]);

    // Invalid and duplicate entries take no turn of the pool.
    let last = sendable(&outcomes[4]);
    assert_eq!(last.from_number.as_ref(), Some(&senders[0]));
    assert_eq!(last.message.as_ref().unwrap().body, "Hi James ");
    assert_eq!(last.missing_variables, ["last_name"]);
}

#[test]
fn the_checker_reports_every_problem_of_an_entry_and_measures_ucs2() {
    let template = Template::parse("{{greeting}} 🎉 {{pad}}");
    let senders = [Phone::parse("+447446466847").unwrap()];
    let none = HashSet::new();
    let mut checker = RecipientChecker::new(Some(&template), &senders, &none);
    let bad = checker.check(0, &recipient(json!({ "variables": { "a": [1], "b": {} } })));
    let RecipientOutcome::Invalid(errors) = bad else {
        panic!("{bad:?}");
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "recipients[0].variables.a",
            "recipients[0].variables.b",
            "recipients[0].phone"
        ]
    );
    // 3 + 1 + 2 (emoji) + 1 + 64 = 71 UTF-16 units: two UCS-2 segments.
    let long = checker.check(
        1,
        &recipient(json!({ "phone": "+447111000001", "variables": { "greeting": "Hey", "pad": "x".repeat(64) } })),
    );
    let message = sendable(&long).message.clone().unwrap();
    assert_eq!((message.encoding, message.segments), (Encoding::Ucs2, 2));
}

#[test]
fn a_refused_body_does_not_claim_its_phone() {
    let template = Template::parse("{{text}}");
    let senders = [Phone::parse("+447446466847").unwrap()];
    let none = HashSet::new();
    let mut checker = RecipientChecker::new(Some(&template), &senders, &none);
    let empty = checker.check(0, &recipient(json!({ "phone": "+447111000001" })));
    assert_eq!(
        empty,
        RecipientOutcome::Invalid(vec![FieldError::new(
            "recipients[0]",
            "the rendered message is empty"
        )])
    );
    let later = checker.check(
        1,
        &recipient(json!({ "phone": "+447111000001", "variables": { "text": "Hello" } })),
    );
    assert_eq!(sendable(&later).message.as_ref().unwrap().body, "Hello");
}

#[test]
fn without_template_or_sender_entries_are_still_checked() {
    let none = HashSet::new();
    let mut checker = RecipientChecker::new(None, &[], &none);
    let first = checker.check(0, &recipient(json!({ "phone": "+447111000001" })));
    assert_eq!(sendable(&first).message, None);
    assert_eq!(sendable(&first).from_number, None);
    assert!(matches!(
        checker.check(1, &recipient(json!({ "phone": "+447111000001" }))),
        RecipientOutcome::Duplicate(_)
    ));
}

#[test]
fn a_default_country_reads_national_phones_as_import_does() {
    let none = HashSet::new();
    let mut checker = RecipientChecker::new(None, &[], &none).with_default_country(Some("GB"));
    let national = checker.check(0, &recipient(json!({ "phone": "07111 000001" })));
    assert_eq!(sendable(&national).phone.as_str(), "+447111000001");
    let mut v = spec_request();
    v["default_country"] = json!("XX");
    let analysis = analyse(&request(v), &ctx(), &Limits::default(), now());
    assert_eq!(analysis.errors[0].field, "default_country");
    let mut v = spec_request();
    v["default_country"] = json!("GB");
    v["recipients"] = json!([{ "phone": "07111 000001" }, { "phone": "+447111000001" }]);
    let valid = validate(&request(v), &ctx(), &Limits::default(), now()).unwrap();
    assert_eq!(valid.recipients.len(), 1);
    assert_eq!(valid.duplicates[0].first_index, 0);
}

#[test]
fn the_analysis_keeps_every_finding_and_agrees_with_validate() {
    let mut v = spec_request();
    v.as_object_mut().unwrap().remove("name");
    v["recipients"] = json!([
        { "phone": "+447111000001", "variables": { "first_name": "A" } },
        { "phone": "nope" },
        { "phone": "+447111000001" },
        { "phone": "+447111000009" }
    ]);
    let req = request(v);
    let analysis = analyse(&req, &ctx(), &Limits::default(), now());
    assert!(!analysis.is_valid());
    assert_eq!(analysis.errors, [FieldError::new("name", "is required")]);
    assert_eq!(analysis.recipients.len(), 4);
    assert!(matches!(
        analysis.recipients[0],
        RecipientOutcome::Sendable(_)
    ));
    assert!(matches!(
        analysis.recipients[1],
        RecipientOutcome::Invalid(_)
    ));
    assert!(matches!(
        analysis.recipients[2],
        RecipientOutcome::Duplicate(_)
    ));
    assert!(sendable(&analysis.recipients[3]).opted_out);
    let fields: Vec<String> = analysis.all_errors().into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["name", "recipients[1].phone"]);
    let errors = validate(&req, &ctx(), &Limits::default(), now()).unwrap_err();
    assert_eq!(errors, analysis.all_errors());

    let ok = analyse(&request(spec_request()), &ctx(), &Limits::default(), now());
    assert!(ok.is_valid());
    assert_eq!(ok.into_valid().unwrap().recipients.len(), 2);
}

fn borrowed(body: &str) -> Result<CampaignRequest<RecipientsJson<'_>>, serde_json::Error> {
    serde_json::from_str(body)
}

#[test]
fn recipients_json_reads_every_entry_as_the_owned_form_does() {
    let body = r#"{ "name": "N", "recipients" : [
        { "phone": "+447111000001", "variables": { "b": 2, "a": "x", "a": "y" } } ,
        {"variables":{"first_name":"S\u00e9b"},"phone":"\u002b447111000002"},
        { "phone": "+447111000003" },{}
      ] , "from_number": "+447446466847" }"#;
    let owned: CampaignRequest = serde_json::from_str(body).unwrap();
    let lazy = borrowed(body).unwrap();
    let list = lazy.recipients.as_ref().unwrap();
    assert_eq!(Recipients::len(list), 4);
    let entries: Vec<JsonEntry<'_>> = list.iter().collect();
    assert_eq!(entries.len(), 4);
    for (entry, want) in entries.iter().zip(owned.recipients.as_ref().unwrap()) {
        assert_eq!(entry.phone(), want.phone.as_deref());
        assert_eq!(
            entry.variables().unwrap().map(Cow::into_owned),
            want.variables.clone()
        );
    }
    // Unescaped text is borrowed from the body, not copied.
    let JsonEntry::Read(first) = &entries[0] else {
        panic!("{:?}", entries[0]);
    };
    assert!(matches!(first.phone, Some(BorrowedStr(Cow::Borrowed(_)))));
    // Reading again gives the same entries.
    assert_eq!(list.iter().count(), 4);
}

#[test]
fn recipients_json_refuses_what_the_owned_form_refuses() {
    for recipients in [
        r#"[{ "phone": 447111000001 }]"#,
        r#"[{ "phone": "+447111000001", "variables": [1] }]"#,
        r#"[{ "phone": "+447111000001", "variables": "x" }]"#,
        r#"[{ "phone": "+447111000001", "variables": { "n": 1e400 } }]"#,
        r#"[{ "phone": "+447111000001", "extra": 1 }]"#,
        r#"[null]"#,
        r#"{}"#,
        r#""x""#,
    ] {
        let body = format!(r#"{{ "recipients": {recipients} }}"#);
        assert!(
            serde_json::from_str::<CampaignRequest>(&body).is_err(),
            "owned form accepts {body}"
        );
        assert!(borrowed(&body).is_err(), "borrowed form accepts {body}");
    }
    let empty = borrowed(r#"{ "recipients": [ ] }"#).unwrap();
    assert_eq!(Recipients::len(empty.recipients.as_ref().unwrap()), 0);
    assert!(
        borrowed(r#"{ "recipients": null }"#)
            .unwrap()
            .recipients
            .is_none()
    );
}

#[test]
fn the_borrowed_and_owned_forms_give_the_same_analysis() {
    let mut v = spec_request();
    v["recipients"] = json!([
        { "phone": "+447111000001", "variables": { "first_name": "A" } },
        { "phone": "nope" },
        { "phone": "+44 7111 000001", "variables": { "first_name": "B" } },
        { "phone": "+447111000009", "variables": { "first_name": ["x"] } },
        { "phone": "+447111000009" }
    ]);
    let body = serde_json::to_string(&v).unwrap();
    let owned = analyse(&request(v), &ctx(), &Limits::default(), now());
    let lazy = analyse(&borrowed(&body).unwrap(), &ctx(), &Limits::default(), now());
    assert_eq!(lazy.recipients, owned.recipients);
    assert_eq!(lazy.all_errors(), owned.all_errors());
    let limited = plan(
        &borrowed(&body).unwrap(),
        &ctx(),
        &Limits { max_recipients: 4 },
        now(),
    );
    assert_eq!(limited.recipients, None);
    assert_eq!(limited.errors[0].field, "recipients");
}
