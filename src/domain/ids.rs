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
}
