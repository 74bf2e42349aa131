//! Outgoing webhooks' rules: the event types, which URLs may receive them, and the retry and
//! disable policy (docs/ARCHITECTURE.md §10).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What happened: the `type` of a webhook body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    /// A campaign began sending (launched, promoted at its time, or created to send now).
    #[serde(rename = "campaign.started")]
    CampaignStarted,
    /// A campaign ended: `done`, or `failed` when every recipient failed at submission.
    #[serde(rename = "campaign.finished")]
    CampaignFinished,
    /// A campaign was cancelled.
    #[serde(rename = "campaign.cancelled")]
    CampaignCancelled,
    /// A running campaign was paused (emitted once campaigns can be paused: a `paused` status).
    #[serde(rename = "campaign.paused")]
    CampaignPaused,
    /// A paused campaign was resumed (from `paused` back to `running`).
    #[serde(rename = "campaign.resumed")]
    CampaignResumed,
    /// A recipient's message was delivered.
    #[serde(rename = "recipient.delivered")]
    RecipientDelivered,
    /// A recipient's message failed, was undelivered, or stayed `sent` past Twilio's horizon.
    #[serde(rename = "recipient.failed")]
    RecipientFailed,
    /// An inbound SMS arrived (a reply or a keyword).
    #[serde(rename = "message.received")]
    MessageReceived,
    /// A number was opted out (STOP, the API, the dashboard, Twilio's 21610).
    #[serde(rename = "opt_out.created")]
    OptOutCreated,
    /// A number was taken off the opt-out list (START, the API, the dashboard).
    #[serde(rename = "opt_out.removed")]
    OptOutRemoved,
}

impl EventType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [EventType; 10] = [
        Self::CampaignStarted,
        Self::CampaignFinished,
        Self::CampaignCancelled,
        Self::CampaignPaused,
        Self::CampaignResumed,
        Self::RecipientDelivered,
        Self::RecipientFailed,
        Self::MessageReceived,
        Self::OptOutCreated,
        Self::OptOutRemoved,
    ];

    /// The wire name (`campaign.started`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CampaignStarted => "campaign.started",
            Self::CampaignFinished => "campaign.finished",
            Self::CampaignCancelled => "campaign.cancelled",
            Self::CampaignPaused => "campaign.paused",
            Self::CampaignResumed => "campaign.resumed",
            Self::RecipientDelivered => "recipient.delivered",
            Self::RecipientFailed => "recipient.failed",
            Self::MessageReceived => "message.received",
            Self::OptOutCreated => "opt_out.created",
            Self::OptOutRemoved => "opt_out.removed",
        }
    }

    /// The type named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// The type a campaign's status change emits, if any (`None` for draft → scheduled and
    /// the like). The database triggers of migration 0011 apply exactly this table.
    pub fn of_campaign_change(from: &str, to: &str) -> Option<Self> {
        match (from, to) {
            (_, _) if from == to => None,
            ("paused", "running") => Some(Self::CampaignResumed),
            (_, "running") => Some(Self::CampaignStarted),
            (_, "done" | "failed") => Some(Self::CampaignFinished),
            (_, "cancelled") => Some(Self::CampaignCancelled),
            (_, "paused") => Some(Self::CampaignPaused),
            _ => None,
        }
    }
}

/// Event types as stored on an endpoint: `,a,b,` so that SQL finds one with `,type,`.
pub fn encode_event_list(events: &[EventType]) -> String {
    let mut out = String::from(",");
    for e in events {
        out.push_str(e.as_str());
        out.push(',');
    }
    out
}

/// The stored list back (unknown names, which Herald never writes, are skipped).
pub fn decode_event_list(raw: &str) -> Vec<EventType> {
    raw.split(',').filter_map(EventType::parse).collect()
}

/// Whether `url` may receive webhooks, and why not. `allow_private` (the
/// `--allow-private-webhook-urls` flag) admits plain http and private addresses.
pub fn check_url(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim()).map_err(|_| "must be an absolute URL".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("must be an https URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    if raw.len() > 2000 {
        return Err("must be at most 2000 characters".into());
    }
    let Some(host) = url.host() else {
        return Err("must name a host".into());
    };
    if !allow_private {
        let ip = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost"
                    || name.ends_with(".localhost")
                    || name.ends_with(".internal")
                    || name.ends_with(".local")
                    || !name.contains('.')
                {
                    return Err("must be a public address".into());
                }
                None
            }
        };
        if ip.is_some_and(|ip| !is_public(ip)) {
            return Err("must be a public address".into());
        }
    }
    Ok(url)
}

/// True for an address on the public internet: not loopback, private, link-local (which
/// holds the cloud metadata service, 169.254.169.254), shared (CGNAT), documentation,
/// multicast, unspecified or otherwise reserved; IPv4-mapped and NAT64 IPv6 addresses are
/// judged by the IPv4 address inside.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // 64:ff9b::/96 (NAT64) carries an IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard 100::/64
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
                && v6 != Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) // AWS metadata (fd00:ec2::254, in fc00::/7 anyway)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// How long Herald keeps retrying one message (then it is given up as `failed`).
pub const RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
/// An endpoint failing for this long without one success is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2 * 3600);

/// The wait before attempt `attempt + 1` after `attempt` failed (1-based): `base · 2^(attempt-1)`,
/// at most [`MAX_BACKOFF`], times a jitter factor `jitter` in [0.5, 1.5) (the caller draws it),
/// so endpoints that failed together do not all retry together.
pub fn backoff(base: Duration, attempt: u32, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let raw = base.saturating_mul(1u32 << exp.min(20)).min(MAX_BACKOFF);
    raw.mul_f64(jitter.clamp(0.5, 1.5))
}

/// What to do with a message whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(OffsetDateTime),
    /// Give it up: it is older than [`RETRY_FOR`].
    GiveUp,
}

/// The retry decision for a message created at `created_at` whose `attempt` just failed.
pub fn after_failure(
    created_at: OffsetDateTime,
    attempt: u32,
    now: OffsetDateTime,
    base: Duration,
    jitter: f64,
) -> AfterFailure {
    let next = now + backoff(base, attempt, jitter);
    if next > created_at + RETRY_FOR {
        AfterFailure::GiveUp
    } else {
        AfterFailure::RetryAt(next)
    }
}

/// Whether an endpoint that has failed since `failing_since` (no success in between) is to
/// be disabled now.
pub fn should_disable(failing_since: OffsetDateTime, now: OffsetDateTime) -> bool {
    now - failing_since >= DISABLE_AFTER
}

/// Whether an HTTP status acknowledges a delivery (any 2xx, as the specification says).
pub fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn event_names_round_trip_and_lists_encode_for_sql() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
        assert_eq!(EventType::parse("campaign.exploded"), None);
        let list = [EventType::CampaignStarted, EventType::OptOutRemoved];
        let enc = encode_event_list(&list);
        assert_eq!(enc, ",campaign.started,opt_out.removed,");
        assert_eq!(decode_event_list(&enc), list);
    }

    #[test]
    fn campaign_changes_map_to_events() {
        use EventType::*;
        let cases = [
            ("draft", "running", Some(CampaignStarted)),
            ("scheduled", "running", Some(CampaignStarted)),
            ("running", "done", Some(CampaignFinished)),
            ("running", "failed", Some(CampaignFinished)),
            ("running", "cancelled", Some(CampaignCancelled)),
            ("running", "paused", Some(CampaignPaused)),
            ("paused", "running", Some(CampaignResumed)),
            ("draft", "scheduled", None),
            ("running", "running", None),
        ];
        for (from, to, want) in cases {
            assert_eq!(
                EventType::of_campaign_change(from, to),
                want,
                "{from}->{to}"
            );
        }
    }

    #[test]
    fn only_https_public_urls_unless_private_is_allowed() {
        for ok in [
            "https://hooks.example.com/herald",
            "https://93.184.216.34/x",
            "https://[2606:4700::1111]/x",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[fe80::1]/x",
            "https://[fd00:ec2::254]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[64:ff9b::a00:1]/x",
            "https://metadata.google.internal/x",
            "https://intranet/x",
            "https://user:pw@hooks.example.com/x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/hook", true).is_err());
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(base, 2, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(base, 4, 1.0), Duration::from_secs(40));
        assert_eq!(backoff(base, 30, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(base, 2, 0.5), Duration::from_secs(5));
        assert_eq!(backoff(base, 2, 9.0), Duration::from_secs(15));
        assert_eq!(backoff(base, 100, 1.4), MAX_BACKOFF.mul_f64(1.4));
    }

    #[test]
    fn a_message_is_retried_for_a_day_and_an_endpoint_disabled_after_one() {
        let created = datetime!(2026-01-01 00:00 UTC);
        let base = Duration::from_secs(5);
        // Retried about a day: count the attempts until it is given up.
        let (mut now, mut attempt) = (created, 1);
        while let AfterFailure::RetryAt(t) = after_failure(created, attempt, now, base, 1.0) {
            assert!(t > now);
            now = t;
            attempt += 1;
        }
        assert!(now - created > time::Duration::hours(21), "{now}");
        assert!(now - created <= time::Duration::hours(24));
        assert!((15..30).contains(&attempt), "{attempt}");
        assert!(!should_disable(
            created,
            created + time::Duration::hours(23)
        ));
        assert!(should_disable(created, created + time::Duration::hours(24)));
    }

    #[test]
    fn any_2xx_acknowledges() {
        assert!(is_success(200) && is_success(204) && is_success(299));
        assert!(!is_success(301) && !is_success(400) && !is_success(500));
    }
}
