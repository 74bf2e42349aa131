//! The dashboard in a real headless Chromium: what an office manager does, click by click.
//!
//! Each test starts Herald in-process (engine and Twilio simulator included) on a random
//! loopback port with a fresh database, and its own chromedriver + Chromium.

mod browser;
mod eta;
mod flows;
mod operations;
mod prices;
mod sandbox;
mod settings;
mod test_send;
mod webhooks;
