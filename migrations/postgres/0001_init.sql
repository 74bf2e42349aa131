-- Herald's schema on PostgreSQL: the same tables and columns as migrations/sqlite/0001,
-- in PostgreSQL's own types.
--
-- * Times are `timestamptz` (the store writes them at millisecond precision, as SQLite
--   keeps them, so both backends return the same instants).
-- * Internal keys are `bigint` identities; public ids stay the opaque prefixed strings.
-- * Statuses are `text` with CHECK constraints rather than enum types: the store binds
--   and reads them as the same strings as on SQLite, and a later migration that adds a
--   status changes one constraint instead of running `ALTER TYPE … ADD VALUE`.
-- * Identifiers, phones and statuses use the "C" collation: byte order, as SQLite
--   compares text, so `ORDER BY phone` is the same on both backends whatever locale the
--   database was created with (and B-tree comparisons skip the locale).
-- * `variables` and `from_numbers` are `jsonb`.

CREATE TABLE accounts (
    id          text COLLATE "C" PRIMARY KEY,
    name        text NOT NULL,
    help_text   text,
    created_at  timestamptz NOT NULL
);

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     text COLLATE "C" NOT NULL REFERENCES accounts(id),
    username       text NOT NULL UNIQUE,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX users_account ON users(account_id);

CREATE TABLE api_keys (
    id           text COLLATE "C" PRIMARY KEY,
    account_id   text COLLATE "C" NOT NULL REFERENCES accounts(id),
    name         text NOT NULL,
    secret_hash  bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_account ON api_keys(account_id, created_at);

CREATE TABLE agents (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             text COLLATE "C" NOT NULL UNIQUE,
    account_id     text COLLATE "C" NOT NULL REFERENCES accounts(id),
    name           text NOT NULL,
    system_prompt  text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX agents_account ON agents(account_id, seq);

-- A sending number belongs to one account; Twilio routes inbound SMS by it.
CREATE TABLE numbers (
    phone       text COLLATE "C" PRIMARY KEY,
    account_id  text COLLATE "C" NOT NULL REFERENCES accounts(id),
    mps         double precision NOT NULL,
    agent_id    text COLLATE "C" REFERENCES agents(id),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX numbers_account ON numbers(account_id, phone);
-- PostgreSQL does not index the referencing side of a foreign key; deleting an agent
-- looks here.
CREATE INDEX numbers_agent ON numbers(agent_id) WHERE agent_id IS NOT NULL;

CREATE TABLE opt_outs (
    account_id  text COLLATE "C" NOT NULL REFERENCES accounts(id),
    phone       text COLLATE "C" NOT NULL,
    source      text NOT NULL,
    reason      text,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, phone)
);

CREATE TABLE campaigns (
    seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  text COLLATE "C" NOT NULL UNIQUE,
    account_id          text COLLATE "C" NOT NULL REFERENCES accounts(id),
    agent_id            text COLLATE "C" REFERENCES agents(id),
    name                text NOT NULL,
    message_template    text NOT NULL,
    from_numbers        jsonb NOT NULL CHECK (jsonb_typeof(from_numbers) = 'array'),
    status              text COLLATE "C" NOT NULL
        CHECK (status IN ('draft', 'scheduled', 'running', 'done', 'failed', 'cancelled')),
    source              text COLLATE "C" NOT NULL CHECK (source IN ('api', 'dashboard')),
    scheduled_at        timestamptz,
    duplicates_removed  bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    started_at          timestamptz,
    finished_at         timestamptz,
    cancelled_at        timestamptz
);
CREATE INDEX campaigns_account ON campaigns(account_id, seq);
-- The scheduler's question: which scheduled campaigns are due?
CREATE INDEX campaigns_due ON campaigns(scheduled_at) WHERE status = 'scheduled';
-- The engine's question, every tick: which campaigns are running?
CREATE INDEX campaigns_running ON campaigns(seq) WHERE status = 'running';
CREATE INDEX campaigns_agent ON campaigns(agent_id) WHERE agent_id IS NOT NULL;

CREATE TABLE recipients (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_seq    bigint NOT NULL REFERENCES campaigns(seq),
    position        bigint NOT NULL,          -- 0-based order in the request, after de-duplication
    phone           text COLLATE "C" NOT NULL,
    variables       jsonb NOT NULL,           -- JSON object
    body            text NOT NULL,            -- the rendered message
    segments        integer NOT NULL,
    from_number     text COLLATE "C" NOT NULL,
    status          text COLLATE "C" NOT NULL
        CHECK (status IN ('pending', 'queued', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled')),
    twilio_sid      text COLLATE "C",
    error_code      text,
    error_message   text,
    attempts        integer NOT NULL DEFAULT 0,      -- requests made to Twilio for this recipient
    attempt_id      text COLLATE "C",                -- the latest attempt; travels in the StatusCallback URL
    inflight_since  timestamptz,                     -- set before a request leaves, cleared when its outcome is stored
    reconcile       boolean NOT NULL DEFAULT false,  -- true when the in-flight request's outcome is unknown
    next_attempt_at timestamptz,                     -- retry backoff: not before this time
    submitted_at    timestamptz,                     -- when Twilio accepted it
    updated_at      timestamptz NOT NULL,
    UNIQUE (campaign_seq, position)
);
CREATE INDEX recipients_status ON recipients(campaign_seq, status, position);
CREATE INDEX recipients_sid ON recipients(twilio_sid) WHERE twilio_sid IS NOT NULL;
CREATE UNIQUE INDEX recipients_attempt ON recipients(attempt_id) WHERE attempt_id IS NOT NULL;
-- The engine's work queue: sendable recipients of a campaign, per sending number, in order.
-- `claim_work` takes them with FOR UPDATE SKIP LOCKED, so nodes never claim the same row.
CREATE INDEX recipients_work ON recipients(campaign_seq, from_number, position)
    WHERE status = 'pending' AND inflight_since IS NULL;
CREATE INDEX recipients_phone ON recipients(phone, from_number);
CREATE INDEX recipients_inflight ON recipients(inflight_since) WHERE inflight_since IS NOT NULL;

-- Idempotency-Key on campaign create: the same key returns the first campaign. The row is
-- inserted first (ON CONFLICT DO NOTHING) in the create's transaction, so concurrent
-- creates with one key on several nodes serialise on it and only one campaign is stored.
CREATE TABLE idempotency_keys (
    account_id    text COLLATE "C" NOT NULL,
    key           text COLLATE "C" NOT NULL,
    request_hash  bytea NOT NULL,
    campaign_id   text COLLATE "C" NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, key)
);
