//! The outside services Herald speaks to: Twilio, exactly as Twilio documents it (the REST
//! client, webhook signatures, TwiML), and the agent's OpenAI-compatible model.

pub mod llm;
pub mod signature;
pub mod standard_webhooks;
pub mod twilio;
pub mod twiml;
