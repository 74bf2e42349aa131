//! The product page's create example and the account it refers to.

use herald::domain::ids::{AccountId, AgentId};
use herald::store::Agent;

use crate::app::TestApp;

/// The create request exactly as the product page prints it.
pub const SPEC_CREATE: &str = r#"{
"agent_id": "agent_125207e452f8714a",
"from_number": "+447446466847",
"name": "March promotion",
"message_template": "Hi {{first_name}}, Acme Dental offering 20% off cleanings this month. Reply YES to book.",
"recipients": [
{ "phone": "+447111000001", "variables": { "first_name": "Sarah" } },
{ "phone": "+447111000002", "variables": { "first_name": "James" } }
],
"schedule_type": "now"
}"#;

/// Sets up what the spec example refers to: its agent id and its sending number.
pub async fn spec_setup(app: &TestApp) {
    let now = time::OffsetDateTime::now_utc();
    let account = AccountId::parse(&app.creds.account_id).unwrap();
    app.store
        .create_agent(
            &account,
            &Agent {
                id: AgentId::parse("agent_125207e452f8714a").unwrap(),
                name: "Acme Dental receptionist".into(),
                system_prompt: "You are the receptionist at Acme Dental.".into(),
                created_at: now,
                updated_at: now,
            },
        )
        .await
        .unwrap();
    app.add_number("+447446466847").await;
}
