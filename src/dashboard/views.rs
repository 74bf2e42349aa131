//! What templates show: the page frame, times, status badges, progress bars, and the
//! country list for national numbers. Formatting only; no decisions.

use askama::Template;
use axum::response::Html;
use time::OffsetDateTime;
use time::macros::format_description;

use super::assets;
use super::error::render_failed;
use super::flash::{Flash, FlashKind, IncomingFlash};
use crate::domain::phone::Phone;
use crate::domain::status::{CampaignStatus, RecipientStatus};
use crate::service::sessions::SignedIn;
use crate::service::views::CampaignView;

/// Renders a template to HTML (a failure is logged and shown as a short error).
pub fn render(page: &impl Template) -> Html<String> {
    page.render().map(Html).unwrap_or_else(render_failed)
}

/// The frame around every page: title, navigation, the signed-in user, a flash message.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page's `<title>` and usually its heading.
    pub title: String,
    /// The signed-in user's name; `None` on the sign-in and error pages of visitors.
    pub user: Option<String>,
    /// The session's CSRF token (for the sign-out form in the header).
    pub csrf: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    /// A message carried over from the previous action.
    pub flash: Option<Flash>,
}

impl Layout {
    /// A frame for `user` (if signed in) in navigation `section`.
    pub fn new(title: impl Into<String>, user: Option<&SignedIn>, section: &'static str) -> Self {
        Self {
            title: title.into(),
            user: user.map(|u| u.username.clone()),
            csrf: user.map(|u| u.csrf_token.clone()).unwrap_or_default(),
            section,
            flash: None,
        }
    }

    /// Adds the flash message that arrived with the request.
    pub fn with_flash(mut self, flash: IncomingFlash) -> Self {
        self.flash = flash.0;
        self
    }

    /// URL of the stylesheet (its content hash in the path, cached for a year).
    pub fn css(&self) -> &'static str {
        assets::css_url()
    }

    /// URL of the script.
    pub fn js(&self) -> &'static str {
        assets::js_url()
    }

    /// URL of the icon.
    pub fn icon(&self) -> &'static str {
        assets::icon_url()
    }

    /// `aria-current` for a navigation entry.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }

    /// CSS class of the flash box.
    pub fn flash_class(&self) -> &'static str {
        match self.flash.as_ref().map(|f| f.kind) {
            Some(FlashKind::Warning) => "notice notice-warning",
            _ => "notice notice-success",
        }
    }
}

/// A moment as the page shows it: UTC text for readers without JavaScript, ISO for the
/// script that rewrites it in the reader's own time zone.
#[derive(Debug, Clone)]
pub struct When {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// "27 Nov 2026, 09:30 UTC".
    pub text: String,
}

impl When {
    /// Formats a UTC moment.
    pub fn new(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        let fmt = format_description!(
            "[day padding:none] [month repr:short] [year], [hour]:[minute] UTC"
        );
        Self {
            iso: t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            text: t.format(fmt).unwrap_or_default(),
        }
    }

    /// Formats an optional moment.
    pub fn opt(t: Option<OffsetDateTime>) -> Option<Self> {
        t.map(Self::new)
    }
}

/// Human name of a campaign status.
pub fn campaign_status_label(s: CampaignStatus) -> &'static str {
    match s {
        CampaignStatus::Draft => "Draft",
        CampaignStatus::Scheduled => "Scheduled",
        CampaignStatus::Running => "Running",
        CampaignStatus::Paused => "Paused",
        CampaignStatus::Done => "Done",
        CampaignStatus::Failed => "Failed",
        CampaignStatus::Cancelled => "Cancelled",
    }
}

/// A recipient status as the product page says the UI shows it (sent counts as failed).
pub fn recipient_status_label(s: RecipientStatus) -> &'static str {
    match s {
        RecipientStatus::Pending | RecipientStatus::Queued => "Pending",
        RecipientStatus::Delivered => "Delivered",
        RecipientStatus::Sent | RecipientStatus::Undelivered | RecipientStatus::Failed => "Failed",
        RecipientStatus::Cancelled => "Cancelled",
    }
}

/// CSS class of a recipient status badge (by what it is shown as).
pub fn recipient_status_class(s: RecipientStatus) -> &'static str {
    match recipient_status_label(s) {
        "Delivered" => "done",
        "Failed" => "failed",
        "Cancelled" => "cancelled",
        _ => "pending",
    }
}

/// A stacked progress bar: delivered, failed, cancelled, pending, as percentages of the total.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Width of the delivered part, in percent.
    pub delivered: String,
    /// Width of the failed part.
    pub failed: String,
    /// Width of the cancelled part.
    pub cancelled: String,
    /// Where the failed part starts.
    pub failed_x: String,
    /// Where the cancelled part starts.
    pub cancelled_x: String,
    /// Text alternative.
    pub label: String,
}

fn pct(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (n as f64) * 100.0 / (total as f64)
    }
}

impl Bar {
    /// The bar of a campaign's counts.
    pub fn new(c: &CampaignView) -> Self {
        let d = pct(c.delivered_count, c.total_count);
        let f = pct(c.failed_count, c.total_count);
        let x = pct(c.cancelled_count, c.total_count);
        Self {
            delivered: format!("{d:.2}"),
            failed: format!("{f:.2}"),
            cancelled: format!("{x:.2}"),
            failed_x: format!("{d:.2}"),
            cancelled_x: format!("{:.2}", d + f),
            label: format!(
                "{} of {} delivered, {} failed, {} pending{}",
                c.delivered_count,
                c.total_count,
                c.failed_count,
                c.pending_count,
                if c.cancelled_count > 0 {
                    format!(", {} cancelled", c.cancelled_count)
                } else {
                    String::new()
                }
            ),
        }
    }
}

/// One campaign as a row of the list (and the head of its own page).
#[derive(Debug, Clone)]
pub struct CampaignRow {
    /// The API's view of it (counts included).
    pub c: CampaignView,
    /// Status name.
    pub status_label: &'static str,
    /// Status CSS class (the API's status name).
    pub status_class: &'static str,
    /// The progress bar.
    pub bar: Bar,
    /// Creation time.
    pub created: When,
    /// Start time, for scheduled campaigns and drafts that have one.
    pub scheduled: Option<When>,
    /// When it started sending.
    pub started: Option<When>,
    /// When it finished.
    pub finished: Option<When>,
}

impl CampaignRow {
    /// Shapes a campaign for display.
    pub fn new(c: CampaignView) -> Self {
        Self {
            status_label: campaign_status_label(c.status),
            status_class: c.status.as_str(),
            bar: Bar::new(&c),
            created: When::new(c.created_at),
            scheduled: When::opt(c.scheduled_at),
            started: When::opt(c.started_at),
            finished: When::opt(c.finished_at),
            c,
        }
    }

    /// Whether the page should keep polling for changes (a paused campaign's counts still
    /// move as callbacks arrive).
    pub fn live(&self) -> bool {
        matches!(
            self.c.status,
            CampaignStatus::Running | CampaignStatus::Scheduled | CampaignStatus::Paused
        )
    }

    /// Whether it can be paused (running or scheduled).
    pub fn pausable(&self) -> bool {
        self.c.status.pause().is_ok()
    }

    /// Whether it is paused (and can be resumed).
    pub fn is_paused(&self) -> bool {
        self.c.status == CampaignStatus::Paused
    }

    /// Whether it can still be cancelled.
    pub fn cancellable(&self) -> bool {
        self.c.status.is_cancellable()
    }

    /// Whether it is a draft waiting to be launched.
    pub fn is_draft(&self) -> bool {
        self.c.status == CampaignStatus::Draft
    }
}

/// A phone number for a URL path segment (`+` must not be read as a space).
pub fn phone_path(phone: &str) -> String {
    phone.replace('+', "%2B")
}

/// Countries offered as the default for numbers written without a country code, by name.
const COUNTRIES: &[(&str, &str)] = &[
    ("AR", "Argentina"),
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BD", "Bangladesh"),
    ("BE", "Belgium"),
    ("BR", "Brazil"),
    ("BG", "Bulgaria"),
    ("CA", "Canada"),
    ("CL", "Chile"),
    ("CN", "China"),
    ("CO", "Colombia"),
    ("HR", "Croatia"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DK", "Denmark"),
    ("EG", "Egypt"),
    ("EE", "Estonia"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("GH", "Ghana"),
    ("GI", "Gibraltar"),
    ("GR", "Greece"),
    ("GG", "Guernsey"),
    ("HK", "Hong Kong"),
    ("HU", "Hungary"),
    ("IS", "Iceland"),
    ("IN", "India"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IM", "Isle of Man"),
    ("IL", "Israel"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("JE", "Jersey"),
    ("KE", "Kenya"),
    ("LV", "Latvia"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("MY", "Malaysia"),
    ("MT", "Malta"),
    ("MX", "Mexico"),
    ("MA", "Morocco"),
    ("NL", "Netherlands"),
    ("NZ", "New Zealand"),
    ("NG", "Nigeria"),
    ("NO", "Norway"),
    ("PK", "Pakistan"),
    ("PE", "Peru"),
    ("PH", "Philippines"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("RO", "Romania"),
    ("SA", "Saudi Arabia"),
    ("SG", "Singapore"),
    ("SK", "Slovakia"),
    ("SI", "Slovenia"),
    ("ZA", "South Africa"),
    ("KR", "South Korea"),
    ("ES", "Spain"),
    ("SE", "Sweden"),
    ("CH", "Switzerland"),
    ("TH", "Thailand"),
    ("TR", "Türkiye"),
    ("UA", "Ukraine"),
    ("AE", "United Arab Emirates"),
    ("GB", "United Kingdom"),
    ("US", "United States"),
    ("VN", "Vietnam"),
];

/// One entry of the default-country select.
#[derive(Debug, Clone)]
pub struct Country {
    /// ISO 3166 alpha-2.
    pub code: &'static str,
    /// "United Kingdom (+44)".
    pub label: String,
}

/// The default-country choices, by name, with their calling codes.
pub fn countries() -> Vec<Country> {
    COUNTRIES
        .iter()
        .filter_map(|(code, name)| {
            Phone::calling_code(code).map(|cc| Country {
                code,
                label: format!("{name} (+{cc})"),
            })
        })
        .collect()
}

/// The name of a country code ("GB" → "United Kingdom"), or the code itself.
pub fn country_name(code: &str) -> String {
    COUNTRIES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| (*n).to_owned())
        .unwrap_or_else(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_naturally() {
        let w = When::new(time::macros::datetime!(2026-05-20 09:05 UTC));
        assert_eq!(w.text, "20 May 2026, 09:05 UTC");
        assert_eq!(w.iso, "2026-05-20T09:05:00Z");
    }

    #[test]
    fn every_country_is_known_to_the_phone_parser() {
        assert_eq!(countries().len(), COUNTRIES.len());
        assert!(
            countries()
                .iter()
                .any(|c| c.label == "United Kingdom (+44)")
        );
        assert_eq!(country_name("GB"), "United Kingdom");
        assert_eq!(country_name("ZZ"), "ZZ");
    }

    #[test]
    fn statuses_show_as_the_product_page_says() {
        assert_eq!(recipient_status_label(RecipientStatus::Queued), "Pending");
        assert_eq!(recipient_status_label(RecipientStatus::Sent), "Failed");
        assert_eq!(recipient_status_class(RecipientStatus::Sent), "failed");
        assert_eq!(campaign_status_label(CampaignStatus::Running), "Running");
    }
}
