//! Agents and sending numbers: the records and the [`ResourceStore`] trait.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;
use crate::domain::ids::{AccountId, AgentId};

/// An AI agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its id.
    pub id: AgentId,
    /// Its name.
    pub name: String,
    /// The prompt that tells it how to answer replies.
    pub system_prompt: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A sending number.
#[derive(Debug, Clone)]
pub struct Number {
    /// E.164.
    pub phone: String,
    /// Segments per second this number may send.
    pub mps: f64,
    /// Agent answering replies to this number when a campaign names none.
    pub agent_id: Option<AgentId>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// Which account owns a number, and the number's default agent.
#[derive(Debug, Clone)]
pub struct NumberOwner {
    /// The account.
    pub account_id: AccountId,
    /// The agent answering replies when no campaign names one.
    pub agent_id: Option<AgentId>,
}

/// The account's agents and sending numbers. Every method that takes an account scopes to it.
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// Stores a new agent.
    async fn create_agent(&self, account: &AccountId, agent: &Agent) -> StoreResult<()>;
    /// The account's agents, oldest first.
    async fn list_agents(&self, account: &AccountId) -> StoreResult<Vec<Agent>>;
    /// One agent.
    async fn get_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<Agent>;
    /// Replaces an agent's name and prompt.
    async fn update_agent(&self, account: &AccountId, agent: &Agent) -> StoreResult<()>;
    /// Deletes an agent; `Conflict` while a number or campaign refers to it.
    async fn delete_agent(&self, account: &AccountId, id: &AgentId) -> StoreResult<()>;
    /// Stores a new sending number; `Conflict` if the phone is already registered.
    async fn create_number(&self, account: &AccountId, number: &Number) -> StoreResult<()>;
    /// The account's numbers, by phone.
    async fn list_numbers(&self, account: &AccountId) -> StoreResult<Vec<Number>>;
    /// One number.
    async fn get_number(&self, account: &AccountId, phone: &str) -> StoreResult<Number>;
    /// Replaces a number's rate and agent.
    async fn update_number(&self, account: &AccountId, number: &Number) -> StoreResult<()>;
    /// Deletes a number; `Conflict` while an unfinished campaign sends from it.
    async fn delete_number(&self, account: &AccountId, phone: &str) -> StoreResult<()>;

    /// The account owning a sending number (Twilio routes inbound SMS by number).
    async fn number_owner(&self, phone: &str) -> StoreResult<Option<NumberOwner>>;
}
