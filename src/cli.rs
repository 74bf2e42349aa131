//! The `herald` command line (docs/ARCHITECTURE.md §7): every flag also reads `HERALD_<FLAG>` from the environment.

use clap::{Args, Parser, Subcommand};

use crate::config::{Settings, TwilioSettings, redact_database_url, redact_error};
use crate::domain::campaign::Limits;
use crate::domain::ids::NodeId;
use crate::service::accounts;
use crate::startup::Application;
use crate::{store, telemetry};

/// Herald: SMS campaigns through Twilio.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the serve variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API, dashboard and send engine.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage accounts.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Manage dashboard users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Run the Twilio-compatible carrier simulator on its own.
    Simulator(crate::simulator::SimulatorArgs),
    /// Benchmarks and torture tests of record.
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AccountsCommand {
    /// Create an account with a dashboard user and an API key.
    Create {
        /// The account's name.
        name: String,
        /// Print one JSON line: {"account_id", "api_key", "user", "password"}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List every account with its id, name and dashboard users.
    List {
        /// Print one JSON array: [{"account_id", "name", "users", "created_at"}].
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Rename an account (its name starts every STOP/HELP confirmation).
    Rename {
        /// The account's id (`acct_…`, see `herald accounts list`).
        account_id: String,
        /// The new name.
        name: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Give a dashboard user a new random password (printed once) and sign them out everywhere.
    ResetPassword {
        /// The user's sign-in name (`herald accounts list` shows them).
        username: String,
        /// Print one JSON line: {"user", "password"}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// Database URL: sqlite://PATH (created if missing) or postgres://USER@HOST/DATABASE.
    #[arg(
        long,
        env = "HERALD_DATABASE_URL",
        default_value = "sqlite://herald.db",
        hide_env_values = true
    )]
    database: String,
    /// Most database connections this process opens (PostgreSQL; SQLite uses up to 4 readers).
    #[arg(long, env = "HERALD_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    db_max_connections: u32,
    /// PostgreSQL cancels a statement that runs longer than this (0: no limit).
    #[arg(long, env = "HERALD_DB_STATEMENT_TIMEOUT_MS", default_value_t = 30_000)]
    db_statement_timeout_ms: u64,
}

impl DatabaseArgs {
    /// Opens the database; an error quoting the URL has its password masked.
    async fn connect(&self) -> anyhow::Result<store::DynStore> {
        store::connect(&self.database, &self.options())
            .await
            .map_err(|e| redact_error(e, &self.database))
    }

    fn options(&self) -> store::DbOptions {
        store::DbOptions {
            max_connections: self.db_max_connections,
            statement_timeout: std::time::Duration::from_millis(self.db_statement_timeout_ms),
        }
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HERALD_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Name of the account created on first start (an empty database); it starts every
    /// STOP/HELP confirmation. Rename later with `herald accounts rename`.
    #[arg(long, env = "HERALD_ACCOUNT_NAME", default_value = crate::service::accounts::DEFAULT_ACCOUNT_NAME)]
    account_name: String,
    #[command(flatten)]
    db: DatabaseArgs,
    /// Public URL Twilio reaches this server at (default: http:// + the bound address).
    #[arg(long, env = "HERALD_PUBLIC_URL")]
    public_url: Option<String>,
    /// The built-in simulator's numbers (comma-separated E.164): only these can be added;
    /// without it, every number.
    #[arg(long, env = "HERALD_INCOMING_NUMBERS", value_delimiter = ',')]
    incoming_numbers: Option<Vec<String>>,
    /// Most recipients in one campaign create, and most rows a recipient import reads.
    #[arg(long, env = "HERALD_MAX_RECIPIENTS", default_value_t = 100_000)]
    max_recipients: usize,
    /// Largest request body, in bytes.
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Price of one SMS segment, for preview cost estimates (default: Twilio's US price).
    #[arg(long, env = "HERALD_PRICE_PER_SEGMENT", default_value_t = crate::config::DEFAULT_PRICE_PER_SEGMENT, value_parser = parse_price)]
    price_per_segment: f64,
    /// Currency of --price-per-segment (ISO 4217 code).
    #[arg(long, env = "HERALD_CURRENCY", default_value = crate::config::DEFAULT_CURRENCY, value_parser = parse_currency)]
    currency: String,
    /// CSV of prices per segment by destination country (`country,price_per_segment,currency,source`,
    /// as data/prices/twilio-sms.csv): its rows override Twilio's built-in prices; countries in
    /// neither cost --price-per-segment. A bad file refuses to start, naming the line.
    #[arg(long, env = "HERALD_PRICE_FILE")]
    price_file: Option<std::path::PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "HERALD_LOG_JSON")]
    log_json: bool,
    /// Twilio account SID (`AC…`); without it (and the auth token) the built-in simulator is used.
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    twilio_account_sid: Option<String>,
    /// Twilio auth token (signs webhooks; authenticates REST calls without an API key).
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    twilio_auth_token: Option<String>,
    /// Twilio API key SID (`SK…`) for REST calls, with --twilio-api-secret.
    #[arg(long, env = "TWILIO_API_KEY", hide_env_values = true)]
    twilio_api_key: Option<String>,
    /// Twilio API key secret.
    #[arg(long, env = "TWILIO_API_SECRET", hide_env_values = true)]
    twilio_api_secret: Option<String>,
    /// Where the built-in Twilio simulator listens when no Twilio credentials are given
    /// (default: a free loopback port; the address is printed at start).
    #[arg(long, env = "HERALD_SIMULATOR_BIND", default_value = "127.0.0.1:0")]
    simulator_bind: String,
    /// What the built-in simulator does with messages: `delivered` (every one delivered) or
    /// `realistic` (94 % delivered, 4 % undelivered with 30003, 2 % failed with 30008).
    #[arg(long, env = "HERALD_SIMULATOR_MIX", value_enum, default_value_t = crate::simulator::SimulatorMix::Delivered)]
    simulator_mix: crate::simulator::SimulatorMix,
    /// Twilio's API origin (a Twilio-compatible carrier works too).
    #[arg(
        long,
        env = "HERALD_TWILIO_BASE_URL",
        default_value = "https://api.twilio.com"
    )]
    twilio_base_url: String,
    /// Most Twilio requests in flight at once.
    #[arg(long, env = "HERALD_MAX_IN_FLIGHT", default_value_t = 256)]
    max_in_flight: usize,
    /// Most requests per recipient for errors Twilio did not process (429, connection errors).
    #[arg(long, env = "HERALD_MAX_ATTEMPTS", default_value_t = 6)]
    max_attempts: u32,
    /// How long after an unknown outcome (timeout, 5xx, crash) to ask Twilio whether the
    /// message exists, in ms.
    #[arg(long, env = "HERALD_RECONCILE_AFTER_MS", default_value_t = 5000)]
    reconcile_after_ms: u64,
    /// How long after Twilio accepted a message without a final status to ask Twilio for its
    /// status (a lost callback is never resent), in ms; then again with a growing wait until it
    /// is final or 72 hours old.
    #[arg(long, env = "HERALD_STATUS_POLL_AFTER_MS", default_value_t = 600_000)]
    status_poll_after_ms: u64,
    /// Most status polls (Twilio fetches) a second on this node, so a large campaign whose
    /// callbacks were lost never trips Twilio's API limits (Twilio answers 429 to an account
    /// making too many requests at once); 0.01 to 1000.
    #[arg(long, env = "HERALD_STATUS_POLL_RPS", default_value_t = 10.0, value_parser = parse_poll_rps)]
    status_poll_rps: f64,
    /// This node's name when several nodes share a PostgreSQL database (default: the host
    /// name and the listen address). A node that restarts under the same name takes its
    /// sending numbers back at once; two live nodes must never share a name.
    #[arg(long, env = "HERALD_NODE_ID", value_parser = parse_node_id)]
    node_id: Option<NodeId>,
    /// How long a node's lease on a sending number lasts without renewal, in ms (renewed
    /// every third of it): how soon the other nodes take over the numbers of a node that died.
    #[arg(long, env = "HERALD_LEASE_TTL_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1_000..=3_600_000))]
    lease_ttl_ms: u64,
    /// Base URL of the agent's OpenAI-compatible model server (e.g. https://api.openai.com/v1,
    /// http://127.0.0.1:11434 for Ollama); without it replies are stored, not answered.
    #[arg(long, env = "HERALD_LLM_BASE_URL")]
    llm_base_url: Option<String>,
    /// The model name the server knows (e.g. gpt-4o-mini, llama3.1).
    #[arg(long, env = "HERALD_LLM_MODEL")]
    llm_model: Option<String>,
    /// API key sent as `Authorization: Bearer …` (local servers usually need none).
    #[arg(long, env = "HERALD_LLM_API_KEY", hide_env_values = true)]
    llm_api_key: Option<String>,
    /// Seconds one model answer may take before the reply is given up (logged, left unanswered).
    #[arg(long, env = "HERALD_LLM_TIMEOUT", default_value_t = 30)]
    llm_timeout: u64,
    /// Bearer token `/metrics` requires; without it only clients on loopback may read metrics.
    #[arg(long, env = "HERALD_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Most client connections served at once (more wait to be accepted).
    #[arg(long, env = "HERALD_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// A connection must send its whole request head within this many ms, or it is closed.
    #[arg(long, env = "HERALD_HEADER_READ_TIMEOUT_MS", default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    header_read_timeout_ms: u64,
    /// Let webhook endpoints use plain http and private, loopback or link-local addresses
    /// (for tests and private deployments; by default only https URLs that resolve to public
    /// addresses are accepted and connected to).
    #[arg(long, env = "HERALD_ALLOW_PRIVATE_WEBHOOK_URLS", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    allow_private_webhook_urls: bool,
    /// How long one webhook post may take, in ms, before it counts as failed and is retried.
    #[arg(long, env = "HERALD_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    webhook_timeout_ms: u64,
    /// The wait before a failed webhook's first retry, in ms; each next wait doubles (with
    /// jitter) up to two hours, for about 24 hours.
    #[arg(long, env = "HERALD_WEBHOOK_RETRY_BASE_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    webhook_retry_base_ms: u64,
}

/// Parses the command line and runs the command.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Simulator(args) => crate::simulator::cli::run(args).await,
        Command::Bench { command } => {
            telemetry::init(false);
            crate::bench::run(command).await
        }
        Command::Migrate(db) => {
            telemetry::init(false);
            let store = db.connect().await?;
            store
                .migrate()
                .await
                .map_err(|e| redact_error(e.into(), &db.database))?;
            eprintln!(
                "migrations applied to {}",
                redact_database_url(&db.database)
            );
            Ok(())
        }
        Command::Accounts {
            command: AccountsCommand::Create { name, json, db },
        } => {
            telemetry::init(false);
            let store = db.connect().await?;
            store
                .migrate()
                .await
                .map_err(|e| redact_error(e.into(), &db.database))?;
            let creds = accounts::create_account(store.as_ref(), &name)
                .await
                .map_err(|e| anyhow::anyhow!("creating the account: {e}"))?;
            if json {
                println!("{}", serde_json::to_string(&creds)?);
            } else {
                print_credentials("Account created.", &creds);
            }
            Ok(())
        }
        Command::Accounts {
            command: AccountsCommand::List { json, db },
        } => {
            telemetry::init(false);
            let store = migrated(&db).await?;
            let list = accounts::list(store.as_ref())
                .await
                .map_err(|e| anyhow::anyhow!("listing the accounts: {e}"))?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for a in &list {
                    println!(
                        "{}  {:?}  users: {}",
                        a.account_id,
                        a.name,
                        a.users.join(", ")
                    );
                }
            }
            Ok(())
        }
        Command::Accounts {
            command:
                AccountsCommand::Rename {
                    account_id,
                    name,
                    db,
                },
        } => {
            telemetry::init(false);
            let store = migrated(&db).await?;
            let a = accounts::rename(store.as_ref(), &account_id, &name)
                .await
                .map_err(|e| anyhow::anyhow!("renaming {account_id}: {}", service_error(e)))?;
            println!("{} is now called {:?}.", a.account_id, a.name);
            Ok(())
        }
        Command::Users {
            command: UsersCommand::ResetPassword { username, json, db },
        } => {
            telemetry::init(false);
            let store = migrated(&db).await?;
            let password = accounts::reset_password(store.as_ref(), &username)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "resetting the password of {username:?}: {}",
                        service_error(e)
                    )
                })?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "user": username.trim(), "password": password })
                );
            } else {
                println!(
                    "New password for {}, shown once (their other sessions were signed out):",
                    username.trim()
                );
                println!("  password:       {password}");
            }
            Ok(())
        }
    }
}

/// Opens and migrates the database of an admin command.
async fn migrated(db: &DatabaseArgs) -> anyhow::Result<store::DynStore> {
    let store = db.connect().await?;
    store
        .migrate()
        .await
        .map_err(|e| redact_error(e.into(), &db.database))?;
    Ok(store)
}

/// A use case's refusal in words (a field's problem, or what was not found).
fn service_error(e: crate::service::ServiceError) -> String {
    match e {
        crate::service::ServiceError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        crate::service::ServiceError::NotFound(what) => {
            format!("no such {what} (herald accounts list shows them)")
        }
        other => other.to_string(),
    }
}

fn print_credentials(title: &str, c: &accounts::AccountCredentials) {
    println!("{title} These secrets are shown once; keep them safe.");
    println!("  account:        {}", c.account_id);
    println!("  API key:        {}", c.api_key);
    println!("  dashboard user: {}", c.user);
    println!("  password:       {}", c.password);
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_json);
    let twilio = match (args.twilio_account_sid, args.twilio_auth_token) {
        (Some(account_sid), Some(auth_token)) => Some(TwilioSettings {
            base_url: args.twilio_base_url,
            account_sid,
            auth_token,
            api_key: args.twilio_api_key.zip(args.twilio_api_secret),
            timeout: std::time::Duration::from_secs(10),
        }),
        (None, None) => None,
        _ => anyhow::bail!(
            "set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (the token also verifies webhooks), or neither to use the built-in simulator"
        ),
    };
    let mut settings = Settings::new(&args.db.database);
    settings.db = args.db.options();
    settings.bind = args.bind;
    settings.account_name = args.account_name;
    settings.public_url = args.public_url;
    settings.max_body_bytes = args.max_body_bytes;
    settings.limits = Limits {
        max_recipients: args.max_recipients,
    };
    settings.twilio = twilio;
    settings.simulator_bind = args.simulator_bind;
    args.simulator_mix.apply(&mut settings.simulator);
    settings.simulator.incoming_numbers =
        crate::simulator::cli::incoming_numbers(args.incoming_numbers.as_deref());
    settings.price_per_segment = args.price_per_segment;
    settings.currency = args.currency;
    settings.price_file = args.price_file;
    settings.llm = match (args.llm_base_url, args.llm_model) {
        (Some(base_url), Some(model)) => Some(crate::provider::llm::LlmConfig {
            base_url,
            model,
            api_key: args.llm_api_key,
            timeout: std::time::Duration::from_secs(args.llm_timeout.max(1)),
        }),
        (None, None) if args.llm_api_key.is_none() => None,
        _ => anyhow::bail!(
            "set both --llm-base-url (HERALD_LLM_BASE_URL) and --llm-model (HERALD_LLM_MODEL) for the agent to answer replies, or neither"
        ),
    };
    settings.engine.max_in_flight = args.max_in_flight;
    settings.engine.retry.max_attempts = args.max_attempts.max(1);
    settings.engine.reconcile_after = std::time::Duration::from_millis(args.reconcile_after_ms);
    settings.engine.status_poll_after = std::time::Duration::from_millis(args.status_poll_after_ms);
    settings.engine.status_poll_rate = args.status_poll_rps;
    settings.engine.lease_ttl = std::time::Duration::from_millis(args.lease_ttl_ms);
    settings.node_id = args.node_id;
    settings.metrics_token = args.metrics_token.filter(|t| !t.is_empty());
    settings.max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    settings.header_read_timeout = std::time::Duration::from_millis(args.header_read_timeout_ms);
    settings.webhooks.allow_private = args.allow_private_webhook_urls;
    settings.webhooks.timeout = std::time::Duration::from_millis(args.webhook_timeout_ms);
    settings.webhooks.retry_base = std::time::Duration::from_millis(args.webhook_retry_base_ms);
    let app = Application::build(settings).await?;
    if let Some(creds) = &app.bootstrap {
        print_credentials(
            &format!(
                "Herald created your first account, {:?}.",
                app.settings().account_name
            ),
            creds,
        );
        println!(
            "  Its name starts every STOP/HELP confirmation. Rename it: herald accounts rename {} \"Your business\" (or PATCH /v1/account {{\"name\": …}}, or start a new install with --account-name).",
            creds.account_id
        );
    }
    tracing::info!(address = %app.local_addr(), "herald is listening");
    println!(
        "Dashboard: {}/ (sign in with the dashboard user)",
        app.settings().public_base()
    );
    if let Some(sim) = &app.simulator {
        println!(
            "No Twilio credentials: messages go to the built-in Twilio simulator at {} (no real SMS leaves).",
            sim.base_url
        );
        println!(
            "  Pretend someone texts one of your numbers: curl -X POST {}/sim/inbound -H 'Content-Type: application/json' -d '{{\"from\":\"+15551230001\",\"to\":\"YOUR_NUMBER\",\"body\":\"STOP\"}}'",
            sim.base_url
        );
    }
    println!("Herald is listening on http://{}", app.local_addr());
    app.run_until(crate::shutdown::signal()).await?;
    tracing::info!("herald stopped");
    Ok(())
}

/// A price is a finite, non-negative number (0 hides costs).
fn parse_price(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!(
            "{raw:?} is not a price: give a non-negative number such as 0.0079"
        )),
    }
}

/// Status polls a second: a positive number, 0.01 to 1000 (the poller's pacing bounds).
fn parse_poll_rps(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(r) if (0.01..=1000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "{raw:?} is not a rate: give requests per second from 0.01 to 1000, such as 10"
        )),
    }
}

/// A currency is an ISO 4217 code: three letters, upper-cased.
fn parse_currency(raw: &str) -> Result<String, String> {
    let code = raw.trim();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(format!(
            "{raw:?} is not a currency: give a three-letter ISO 4217 code such as USD"
        ))
    }
}

fn parse_node_id(raw: &str) -> Result<NodeId, String> {
    NodeId::parse(raw).ok_or_else(|| {
        format!(
            "{raw:?} is not a node name: give 1 to {} printable characters without spaces",
            NodeId::MAX_LEN
        )
    })
}
