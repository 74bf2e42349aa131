//! Opaque, prefixed identifiers (`smsc_…`, `agent_…`, `key_…`) that parse rather than get checked later.

use std::fmt;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id (64 random bits, hex-encoded after the prefix).
            pub fn generate() -> Self {
                Self(format!("{}{:016x}", $prefix, rand::random::<u64>()))
            }

            /// Accepts only ids of this kind: the prefix, then 1 to 64 ASCII alphanumerics.
            pub fn parse(raw: &str) -> Option<Self> {
                let rest = raw.strip_prefix($prefix)?;
                let ok = !rest.is_empty()
                    && rest.len() <= 64
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric());
                ok.then(|| Self(raw.to_owned()))
            }

            /// Wraps a value read back from the store, which only ever holds ids made by `generate`.
            pub fn from_trusted(raw: String) -> Self {
                Self(raw)
            }

            /// The id as it appears on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

prefixed_id!(
    /// An account: the tenant every other object belongs to.
    AccountId,
    "acct_"
);
prefixed_id!(
    /// A campaign, shown to users as `campaign_id`.
    CampaignId,
    "smsc_"
);
prefixed_id!(
    /// A test send (`POST /v1/sms/test`): one SMS, tracked, never a campaign.
    TestSendId,
    "smst_"
);
prefixed_id!(
    /// An AI agent that answers replies.
    AgentId,
    "agent_"
);
prefixed_id!(
    /// The public half of an API key (`KEY_ID` in `Bearer KEY_ID:KEY_SECRET`).
    KeyId,
    "key_"
);
prefixed_id!(
    /// A conversation: the messages between one of the account's numbers and one person.
    ConversationId,
    "conv_"
);
prefixed_id!(
    /// One message of a conversation.
    MessageId,
    "msg_"
);
prefixed_id!(
    /// One consent record (granted or revoked).
    ConsentId,
    "cons_"
);
prefixed_id!(
    /// An outgoing webhook endpoint (docs/ARCHITECTURE.md §10).
    EndpointId,
    "ep_"
);

/// A Herald node's name in a cluster: who holds a sending number's lease and who claimed a
/// recipient (docs/ARCHITECTURE.md §4). Chosen by the operator (`--node-id`) or derived from the host name
/// and listen address, so a node that restarts keeps its name and takes its numbers back at
/// once instead of waiting for its old leases to expire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(String);

impl NodeId {
    /// Longest accepted name.
    pub const MAX_LEN: usize = 128;

    /// Accepts 1 to 128 printable ASCII characters without spaces.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(raw.to_owned()))
    }

    /// The default name of a node listening on `bind` on host `host`: `host/bind`, with any
    /// character a name may not hold replaced by `_`.
    pub fn derive(host: &str, bind: &str) -> Self {
        let raw: String = format!("{}/{}", host.trim(), bind.trim())
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .take(Self::MAX_LEN)
            .collect();
        Self(raw)
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = CampaignId::generate();
        assert!(id.as_str().starts_with("smsc_"));
        assert_eq!(CampaignId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn wrong_prefix_or_junk_is_rejected() {
        assert_eq!(CampaignId::parse("agent_abc"), None);
        assert_eq!(CampaignId::parse("smsc_"), None);
        assert_eq!(CampaignId::parse("smsc_ab/../c"), None);
        assert_eq!(CampaignId::parse(""), None);
        assert!(CampaignId::parse("smsc_a1b2c3d4").is_some());
        assert!(AgentId::parse("agent_125207e452f8714a").is_some());
    }

    #[test]
    fn node_ids_are_printable_names() {
        assert!(NodeId::parse("node-a").is_some());
        assert!(NodeId::parse("").is_none());
        assert!(NodeId::parse("has space").is_none());
        assert!(NodeId::parse(&"x".repeat(129)).is_none());
        let derived = NodeId::derive("web 1\n", "0.0.0.0:8080");
        assert_eq!(derived.as_str(), "web_1/0.0.0.0:8080");
        assert!(NodeId::parse(derived.as_str()).is_some());
    }
}
