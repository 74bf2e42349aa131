-- Herald's schema on SQLite. Times are integer Unix milliseconds (UTC).

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    help_text   TEXT,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts(id),
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_account ON api_keys(account_id, created_at);

CREATE TABLE agents (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    account_id     TEXT NOT NULL REFERENCES accounts(id),
    name           TEXT NOT NULL,
    system_prompt  TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX agents_account ON agents(account_id, seq);

-- A sending number belongs to one account; Twilio routes inbound SMS by it.
CREATE TABLE numbers (
    phone       TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    mps         REAL NOT NULL,
    agent_id    TEXT REFERENCES agents(id),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX numbers_account ON numbers(account_id, phone);

CREATE TABLE opt_outs (
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    phone       TEXT NOT NULL,
    source      TEXT NOT NULL,
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, phone)
) WITHOUT ROWID;

CREATE TABLE campaigns (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    account_id          TEXT NOT NULL REFERENCES accounts(id),
    agent_id            TEXT REFERENCES agents(id),
    name                TEXT NOT NULL,
    message_template    TEXT NOT NULL,
    from_numbers        TEXT NOT NULL,          -- JSON array of E.164 strings
    status              TEXT NOT NULL,
    source              TEXT NOT NULL,
    scheduled_at        INTEGER,
    duplicates_removed  INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    started_at          INTEGER,
    finished_at         INTEGER,
    cancelled_at        INTEGER
);
CREATE INDEX campaigns_account ON campaigns(account_id, seq);
CREATE INDEX campaigns_due ON campaigns(status, scheduled_at);

CREATE TABLE recipients (
    id             INTEGER PRIMARY KEY,
    campaign_seq   INTEGER NOT NULL REFERENCES campaigns(seq),
    position       INTEGER NOT NULL,          -- 0-based order in the request, after de-duplication
    phone          TEXT NOT NULL,
    variables      TEXT NOT NULL,             -- JSON object
    body           TEXT NOT NULL,             -- the rendered message
    segments       INTEGER NOT NULL,
    from_number    TEXT NOT NULL,
    status         TEXT NOT NULL,
    twilio_sid     TEXT,
    error_code     TEXT,
    error_message  TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,   -- requests made to Twilio for this recipient
    attempt_id     TEXT,                         -- the latest attempt; travels in the StatusCallback URL
    inflight_since INTEGER,                      -- set before a request leaves, cleared when its outcome is stored
    reconcile      INTEGER NOT NULL DEFAULT 0,   -- 1 when the in-flight request's outcome is unknown
    next_attempt_at INTEGER,                     -- retry backoff: not before this time
    submitted_at   INTEGER,                      -- when Twilio accepted it
    updated_at     INTEGER NOT NULL,
    UNIQUE (campaign_seq, position)
);
CREATE INDEX recipients_status ON recipients(campaign_seq, status, position);
CREATE INDEX recipients_sid ON recipients(twilio_sid) WHERE twilio_sid IS NOT NULL;
CREATE UNIQUE INDEX recipients_attempt ON recipients(attempt_id) WHERE attempt_id IS NOT NULL;
-- The engine's work queue: sendable recipients of a campaign, per sending number, in order.
CREATE INDEX recipients_work ON recipients(campaign_seq, from_number, position)
    WHERE status = 'pending' AND inflight_since IS NULL;
CREATE INDEX recipients_phone ON recipients(phone, from_number);
CREATE INDEX recipients_inflight ON recipients(inflight_since) WHERE inflight_since IS NOT NULL;

-- Idempotency-Key on campaign create: the same key returns the first campaign.
CREATE TABLE idempotency_keys (
    account_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    campaign_id   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
