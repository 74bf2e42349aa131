//! Campaign preview: what create would do with a body (rendered messages, segments, cost,
//! every problem), with nothing stored.

use std::collections::HashSet;

use time::OffsetDateTime;

use super::page::{page_size, parse_cursor};
use super::{App, ServiceResult};
use crate::domain::campaign::Schedule;
use crate::domain::campaign::{self, CampaignAnalysis, CampaignRequest, RecipientOutcome};
use crate::domain::daily_cap::{self, DailyCap};
use crate::domain::ids::AccountId;
use crate::domain::prices::PriceTable;
use crate::domain::segments::Encoding;
use crate::domain::send_window::{SendWindow, held_until, recipient_zones, zones_for};
use crate::service::views::{
    CampaignPreview, CountryCost, InvalidRecipient, OptedOutRecipient, PreviewParams,
    PreviewRecipient, PreviewTotals,
};

/// Default and largest page of a preview's recipients (as for a campaign's).
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

/// What one segment costs (from the settings), so a preview can estimate a campaign's price
/// before sending.
#[derive(Debug, Clone, Copy)]
struct Pricing<'a> {
    /// Price of one SMS segment to a country not in `table`.
    price_per_segment: f64,
    /// Its currency (ISO 4217).
    currency: &'a str,
    /// Price of one segment by destination country, in `currency`.
    table: &'a PriceTable,
}

impl Pricing<'_> {
    /// The price of one segment to `country` (unknown: the fallback).
    fn price(&self, country: Option<&str>) -> f64 {
        country
            .and_then(|c| self.table.price(c))
            .unwrap_or(self.price_per_segment)
    }

    /// One line per destination, in country code order (unknown last), and their total.
    fn by_country(
        &self,
        counts: std::collections::BTreeMap<Option<String>, (u64, u64)>,
    ) -> (Vec<CountryCost>, f64) {
        let mut lines: Vec<CountryCost> = counts
            .into_iter()
            .map(|(country, (recipients, segments))| {
                let price = self.price(country.as_deref());
                CountryCost {
                    estimated_cost: estimate(segments, price),
                    country,
                    recipients,
                    segments,
                    price_per_segment: price,
                }
            })
            .collect();
        // `None` sorts first in a BTreeMap; unknown destinations read best last.
        lines.sort_by_key(|l| l.country.is_none());
        let total: f64 = lines.iter().map(|l| l.estimated_cost).sum();
        (lines, (total * 1e6).round() / 1e6)
    }
}

/// Previews a create body for `account`: the same analysis as create, reported instead of
/// enforced. Only the paging parameters can make it fail (422); a wrong body is described.
pub async fn preview(
    app: &App,
    account: &AccountId,
    request: &CampaignRequest,
    params: &PreviewParams,
) -> ServiceResult<CampaignPreview> {
    let store = app.store.as_ref();
    let settings = &app.settings;
    let pricing = Pricing {
        price_per_segment: settings.price_per_segment,
        currency: &settings.currency,
        table: &settings.prices,
    };
    let page = Page {
        limit: page_size(
            "recipients_limit",
            params.recipients_limit,
            DEFAULT_PAGE,
            MAX_PAGE,
        )? as usize,
        after: parse_cursor("recipients_cursor", params.recipients_cursor.as_deref())?,
    };
    let ctx = super::consents::campaign_context(store, account, request).await?;
    // The engine's clock (the real one, unless a test moved it): who would be held is decided
    // by the time the engine will see.
    let now = settings.engine.clock.now();
    let analysis = campaign::analyse(request, &ctx, &settings.limits, now);
    let account_id = account;
    let account = store
        .account_settings(account_id)
        .await
        .map_err(super::ServiceError::from_store("account"))?;
    let capped = capped_phones(
        app,
        account_id,
        account.max_messages_per_recipient_per_day,
        &analysis,
        now,
    )
    .await?;
    let hold = if request.respect_send_window == Some(false) {
        None
    } else {
        let start = match analysis.schedule {
            Schedule::At(t) | Schedule::Draft(Some(t)) => t.max(now),
            _ => now,
        };
        account.send_window.map(|window| Hold {
            window,
            zone: account.time_zone,
            start,
        })
    };
    Ok(report(
        request,
        analysis,
        pricing,
        page,
        hold.as_ref(),
        &capped,
    ))
}

/// The would-be-sent recipients' phones that are at the account's daily cap now: they already
/// got that many campaign messages in the last 24 hours (docs/ARCHITECTURE.md §4), so the
/// engine would refuse them (`frequency_capped`). Empty without a cap.
async fn capped_phones(
    app: &App,
    account: &AccountId,
    cap: Option<DailyCap>,
    analysis: &CampaignAnalysis,
    now: OffsetDateTime,
) -> ServiceResult<HashSet<String>> {
    if cap.is_none() {
        return Ok(HashSet::new());
    }
    let phones: Vec<String> = analysis
        .recipients
        .iter()
        .filter_map(|outcome| match outcome {
            RecipientOutcome::Sendable(r) if !r.opted_out && !r.no_consent => {
                Some(r.phone.as_str().to_owned())
            }
            _ => None,
        })
        .collect();
    let counted = app
        .store
        .recent_campaign_messages(account, &phones, now)
        .await
        .map_err(super::ServiceError::from_store("account"))?;
    Ok(counted
        .into_iter()
        .filter(|(_, n)| daily_cap::at_cap(cap, *n))
        .map(|(phone, _)| phone)
        .collect())
}

/// The account's send window, its fallback zone, and when the campaign would start.
struct Hold {
    window: SendWindow,
    zone: String,
    start: OffsetDateTime,
}

impl Hold {
    fn until(&self, phone: &str) -> Option<OffsetDateTime> {
        held_until(
            &self.window,
            &recipient_zones(phone, &self.zone),
            self.start,
        )
    }
}

/// Which recipients a preview shows: up to `limit` whose request index is after `after`.
#[derive(Debug, Clone, Copy)]
struct Page {
    limit: usize,
    after: Option<i64>,
}

/// Turns the analysis into the preview's answer: totals over everything, one page of
/// recipients, and every invalid, duplicate, opted-out and capped entry (`capped`: phones at
/// the daily cap).
fn report(
    request: &CampaignRequest,
    analysis: CampaignAnalysis,
    pricing: Pricing<'_>,
    page: Page,
    hold: Option<&Hold>,
    capped: &HashSet<String>,
) -> CampaignPreview {
    let valid = analysis.is_valid();
    let raw_phones = request.recipients.as_deref().unwrap_or_default();
    let mut out = CampaignPreview {
        valid,
        errors: analysis.errors,
        recipients: Vec::new(),
        recipients_next_cursor: None,
        totals: PreviewTotals {
            recipients: 0,
            sendable: 0,
            segments: 0,
            estimated_cost: 0.0,
            currency: pricing.currency.to_owned(),
            price_per_segment: pricing.price_per_segment,
            by_country: Vec::new(),
            held: 0,
            invalid: 0,
            duplicates: 0,
            opted_out: 0,
            no_consent: 0,
            frequency_capped: 0,
        },
        invalid: Vec::new(),
        duplicates: Vec::new(),
        opted_out: Vec::new(),
        no_consent: Vec::new(),
        frequency_capped: Vec::new(),
        notices: Vec::new(),
    };
    let mut more = false;
    let mut to_us = false;
    // Sendable recipients and segments per destination country, for the cost.
    let mut countries = std::collections::BTreeMap::<Option<String>, (u64, u64)>::new();
    for (index, outcome) in analysis.recipients.into_iter().enumerate() {
        match outcome {
            RecipientOutcome::Sendable(r) => {
                let segments = r.message.as_ref().map_or(0, |m| m.segments);
                let held_until = hold.and_then(|h| h.until(r.phone.as_str()));
                let frequency_capped =
                    !r.opted_out && !r.no_consent && capped.contains(r.phone.as_str());
                out.totals.recipients += 1;
                if r.opted_out {
                    out.totals.opted_out += 1;
                    out.opted_out.push(OptedOutRecipient {
                        index,
                        phone: r.phone.as_str().to_owned(),
                    });
                } else if r.no_consent {
                    out.totals.no_consent += 1;
                    out.no_consent.push(OptedOutRecipient {
                        index,
                        phone: r.phone.as_str().to_owned(),
                    });
                } else if frequency_capped {
                    out.totals.frequency_capped += 1;
                    out.frequency_capped.push(OptedOutRecipient {
                        index,
                        phone: r.phone.as_str().to_owned(),
                    });
                } else {
                    out.totals.sendable += 1;
                    out.totals.held += u64::from(held_until.is_some());
                    out.totals.segments += u64::from(segments);
                    let region = r.phone.region();
                    to_us = to_us || region.as_deref() == Some("US");
                    let line = countries.entry(region).or_default();
                    line.0 += 1;
                    line.1 += u64::from(segments);
                }
                let on_page = page.after.is_none_or(|after| index as i64 > after);
                if !on_page {
                    continue;
                }
                if out.recipients.len() == page.limit {
                    more = true;
                    continue;
                }
                let (body, encoding) = match r.message {
                    Some(m) => (m.body, m.encoding),
                    None => (String::new(), Encoding::Gsm7),
                };
                out.recipients.push(PreviewRecipient {
                    index,
                    phone: r.phone.as_str().to_owned(),
                    variables: r.variables,
                    body,
                    encoding,
                    segments,
                    from_number: r.from_number.map(|p| p.as_str().to_owned()),
                    opted_out: r.opted_out,
                    no_consent: r.no_consent,
                    frequency_capped,
                    missing_variables: r.missing_variables,
                    time_zones: zones_for(r.phone.as_str())
                        .iter()
                        .map(|z| (*z).to_owned())
                        .collect(),
                    held_until: held_until
                        .filter(|_| !r.opted_out && !r.no_consent && !frequency_capped),
                });
            }
            RecipientOutcome::Invalid(errors) => {
                out.totals.invalid += 1;
                let phone = raw_phones.get(index).and_then(|r| r.phone.clone());
                out.invalid
                    .extend(errors.into_iter().map(|e| InvalidRecipient {
                        index,
                        phone: phone.clone(),
                        field: e.field,
                        reason: e.message,
                    }));
            }
            RecipientOutcome::Duplicate(d) => {
                out.totals.duplicates += 1;
                out.duplicates.push(d);
            }
        }
    }
    if more {
        out.recipients_next_cursor = out.recipients.last().map(|r| r.index.to_string());
    }
    (out.totals.by_country, out.totals.estimated_cost) = pricing.by_country(countries);
    if to_us {
        out.notices.push(US_NOTICE.to_owned());
    }
    out
}

/// What a campaign to US numbers needs (the product page's compliance section).
pub const US_NOTICE: &str = "Some recipients are in the US: US carriers block application-to-person SMS from a 10-digit number that is not registered for A2P 10DLC (error 30034) and from a toll-free number that is not verified (error 30032). Register the sending number's brand and campaign, or verify the toll-free number, in the Twilio console before sending.";

/// Segments × price, rounded to 6 decimals so `3 × 0.0079` reads `0.0237`.
fn estimate(segments: u64, price: f64) -> f64 {
    ((segments as f64) * price * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaign::{AccountContext, Limits};
    use serde_json::json;

    fn pricing(table: &PriceTable) -> Pricing<'_> {
        Pricing {
            price_per_segment: 0.0079,
            currency: "USD",
            table,
        }
    }

    fn run(body: serde_json::Value, page: Page) -> CampaignPreview {
        let request: CampaignRequest = serde_json::from_value(body).unwrap();
        let ctx = AccountContext {
            numbers: [("+447446466847".to_owned(), None)].into(),
            opted_out: ["+447111000003".to_owned()].into(),
            ..AccountContext::default()
        };
        let now = time::macros::datetime!(2026-05-01 12:00 UTC);
        let analysis = campaign::analyse(&request, &ctx, &Limits::default(), now);
        let table = PriceTable::default();
        report(
            &request,
            analysis,
            pricing(&table),
            page,
            None,
            &HashSet::new(),
        )
    }

    fn body(recipients: serde_json::Value) -> serde_json::Value {
        json!({
            "from_number": "+447446466847", "name": "Test",
            "message_template": "Hi {{name}}", "recipients": recipients
        })
    }

    const ALL: Page = Page {
        limit: 100,
        after: None,
    };

    #[test]
    fn totals_cover_everything_and_opted_out_costs_nothing() {
        let p = run(
            body(json!([
                { "phone": "+447111000001", "variables": { "name": "A" } },
                { "phone": "+447111000002", "variables": { "name": "B".repeat(200) } },
                { "phone": "+447111000003", "variables": { "name": "C" } },
                { "phone": "bad" },
                { "phone": "+447111000001" }
            ])),
            ALL,
        );
        assert!(!p.valid);
        assert!(p.errors.is_empty());
        assert_eq!(p.recipients.len(), 3);
        assert_eq!(p.recipients[1].segments, 2);
        assert_eq!(p.totals.recipients, 3);
        assert_eq!(p.totals.sendable, 2);
        assert_eq!(p.totals.segments, 3);
        assert_eq!(p.totals.estimated_cost, 0.0237);
        assert_eq!(
            (p.totals.invalid, p.totals.duplicates, p.totals.opted_out),
            (1, 1, 1)
        );
        assert_eq!(p.invalid[0].phone.as_deref(), Some("bad"));
        assert_eq!(p.invalid[0].field, "recipients[3].phone");
        assert_eq!(p.opted_out[0].index, 2);
        assert_eq!(p.duplicates[0].first_index, 0);
    }

    #[test]
    fn each_destination_is_priced_from_the_table_and_the_total_is_their_sum() {
        let table = PriceTable::parse(
            "country,price_per_segment,currency,source\nGB,0.04,USD,\nUS,0.0083,USD,\n",
            "USD",
        )
        .unwrap();
        let request: CampaignRequest = serde_json::from_value(body(json!([
            { "phone": "+447111000001", "variables": { "name": "A".repeat(200) } },
            { "phone": "+447111000002", "variables": { "name": "B" } },
            { "phone": "+12025550123", "variables": { "name": "C" } },
            { "phone": "+33612345678", "variables": { "name": "D" } },
            { "phone": "+447111000003", "variables": { "name": "opted out" } }
        ])))
        .unwrap();
        let ctx = AccountContext {
            numbers: [("+447446466847".to_owned(), None)].into(),
            opted_out: ["+447111000003".to_owned()].into(),
            ..AccountContext::default()
        };
        let now = time::macros::datetime!(2026-05-01 12:00 UTC);
        let analysis = campaign::analyse(&request, &ctx, &Limits::default(), now);
        let p = report(
            &request,
            analysis,
            pricing(&table),
            ALL,
            None,
            &HashSet::new(),
        );
        let lines: Vec<_> = p
            .totals
            .by_country
            .iter()
            .map(|l| {
                (
                    l.country.as_deref().unwrap_or("?"),
                    l.recipients,
                    l.segments,
                    l.price_per_segment,
                    l.estimated_cost,
                )
            })
            .collect();
        // FR is not in the table: the fallback price. The opted-out GB number costs nothing.
        assert_eq!(
            lines,
            [
                ("FR", 1, 1, 0.0079, 0.0079),
                ("GB", 2, 3, 0.04, 0.12),
                ("US", 1, 1, 0.0083, 0.0083)
            ]
        );
        assert_eq!(p.totals.estimated_cost, 0.1362);
        assert_eq!(p.totals.price_per_segment, 0.0079);
        assert_eq!(p.notices, [US_NOTICE]);
    }

    #[test]
    fn recipients_at_the_daily_cap_are_left_out_of_what_is_sent() {
        let request: CampaignRequest = serde_json::from_value(body(json!([
            { "phone": "+447111000001", "variables": { "name": "A" } },
            { "phone": "+447111000002", "variables": { "name": "B" } },
            { "phone": "+447111000003", "variables": { "name": "C" } }
        ])))
        .unwrap();
        let ctx = AccountContext {
            numbers: [("+447446466847".to_owned(), None)].into(),
            opted_out: ["+447111000003".to_owned()].into(),
            ..AccountContext::default()
        };
        let now = time::macros::datetime!(2026-05-01 12:00 UTC);
        let analysis = campaign::analyse(&request, &ctx, &Limits::default(), now);
        // At the cap: the second, and the opted-out third (reported as opted out only).
        let capped: HashSet<String> =
            ["+447111000002".to_owned(), "+447111000003".to_owned()].into();
        let table = PriceTable::default();
        let p = report(&request, analysis, pricing(&table), ALL, None, &capped);
        assert_eq!(p.totals.recipients, 3);
        assert_eq!(p.totals.sendable, 1);
        assert_eq!(p.totals.segments, 1);
        assert_eq!(p.totals.estimated_cost, 0.0079);
        assert_eq!((p.totals.frequency_capped, p.totals.opted_out), (1, 1));
        assert_eq!(p.frequency_capped.len(), 1);
        assert_eq!(p.frequency_capped[0].index, 1);
        let flags: Vec<(bool, bool)> = p
            .recipients
            .iter()
            .map(|r| (r.frequency_capped, r.opted_out))
            .collect();
        assert_eq!(flags, [(false, false), (true, false), (false, true)]);
    }

    #[test]
    fn pages_follow_request_indexes() {
        let recipients: Vec<_> = (1..=5)
            .map(|i| json!({ "phone": format!("+44711100001{i}"), "variables": { "name": "X" } }))
            .collect();
        let first = run(
            body(json!(recipients)),
            Page {
                limit: 2,
                after: None,
            },
        );
        assert_eq!(first.recipients_next_cursor.as_deref(), Some("1"));
        let last = run(
            body(json!(recipients)),
            Page {
                limit: 3,
                after: Some(1),
            },
        );
        let indexes: Vec<usize> = last.recipients.iter().map(|r| r.index).collect();
        assert_eq!(indexes, [2, 3, 4]);
        assert_eq!(last.recipients_next_cursor, None);
        assert_eq!(last.totals.recipients, 5);
    }

    #[test]
    fn a_body_without_template_still_lists_recipients() {
        let mut b = body(json!([{ "phone": "+447111000001" }]));
        b.as_object_mut().unwrap().remove("message_template");
        let p = run(b, ALL);
        assert!(!p.valid);
        assert_eq!(p.errors[0].field, "message_template");
        assert_eq!(p.recipients[0].body, "");
        assert_eq!(p.recipients[0].segments, 0);
        assert_eq!(p.totals.estimated_cost, 0.0);
    }
}
