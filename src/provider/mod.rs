//! Twilio, spoken exactly as Twilio documents it: the REST client and webhook signatures.

pub mod signature;
pub mod twilio;
