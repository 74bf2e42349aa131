-- Replies and compliance: conversations, their messages, consent records, account settings.
-- Times are integer Unix milliseconds (UTC), as in 0001. Kept portable to PostgreSQL where it
-- costs nothing (PostgreSQL: INTEGER times -> BIGINT, AUTOINCREMENT -> GENERATED ... AS
-- IDENTITY, 0/1 flags -> BOOLEAN, the two triggers -> a PL/pgSQL trigger function).

-- Herald answers STOP/START/HELP with its own confirmation SMS unless this is 0 (e.g. when
-- Twilio's default opt-out handling already answers). accounts.help_text exists since 0001.
ALTER TABLE accounts ADD COLUMN keyword_replies INTEGER NOT NULL DEFAULT 1;

-- 'campaign' for user campaigns; 'reply' for the one-recipient campaigns that carry an
-- agent's answer through the engine. Public campaign queries only ever see 'campaign'.
ALTER TABLE campaigns ADD COLUMN kind TEXT NOT NULL DEFAULT 'campaign';
-- 1: recipients without granted consent fail with 'no_consent' (at create and before sending).
ALTER TABLE campaigns ADD COLUMN require_consent INTEGER NOT NULL DEFAULT 0;

-- The messages between one of the account's numbers and one person.
CREATE TABLE conversations (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    our_number       TEXT NOT NULL,
    their_number     TEXT NOT NULL,
    agent_id         TEXT,          -- the agent that owns it now (no FK: agents may be deleted)
    campaign_id      TEXT,          -- the campaign it answers, when there is one
    created_at       INTEGER NOT NULL,
    last_message_at  INTEGER NOT NULL,
    UNIQUE (account_id, our_number, their_number)
);
CREATE INDEX conversations_activity ON conversations(account_id, last_message_at, seq);

CREATE TABLE messages (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    conversation_seq  INTEGER NOT NULL REFERENCES conversations(seq),
    direction         TEXT NOT NULL,   -- 'inbound' | 'outbound'
    -- inbound: 'message' (for the agent), 'opt_out', 'opt_in', 'help';
    -- outbound: 'agent' (sent through the engine), 'confirmation' (keyword answer, TwiML)
    kind              TEXT NOT NULL,
    body              TEXT NOT NULL,
    twilio_sid        TEXT,            -- inbound: Twilio's MessageSid (outbound: see recipient)
    recipient_id      INTEGER REFERENCES recipients(id),  -- outbound through the engine
    -- outbound 'agent': the inbound message it answers (the agent's history places the answer
    -- right after it, even when more messages arrived while the model was thinking)
    reply_to_seq      INTEGER,
    -- inbound 'message' only: pending, answered, failed, no_model, no_agent, opted_out,
    -- superseded, empty
    reply_status      TEXT,
    reply_error       TEXT,
    created_at        INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_seq, seq);
-- Twilio may deliver one inbound webhook twice: the second is recognised and ignored.
CREATE UNIQUE INDEX messages_inbound_sid ON messages(twilio_sid) WHERE twilio_sid IS NOT NULL;

-- Consent records: append-only history (never updated, never deleted).
CREATE TABLE consents (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    phone        TEXT NOT NULL,
    status       TEXT NOT NULL,      -- 'granted' | 'revoked'
    source       TEXT NOT NULL,      -- web_form, paper, keyword, import, api, twilio_21610, ...
    evidence     TEXT,
    occurred_at  INTEGER NOT NULL,   -- when it was given or withdrawn
    recorded_at  INTEGER NOT NULL    -- when Herald stored it
);
CREATE INDEX consents_account ON consents(account_id, seq);
CREATE INDEX consents_phone ON consents(account_id, phone, seq);

CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

-- Each number's current consent: its latest record by (occurred_at, seq), kept in step with
-- `consents` so campaign create and the engine's claim read one row per number.
CREATE TABLE consent_state (
    account_id   TEXT NOT NULL,
    phone        TEXT NOT NULL,
    status       TEXT NOT NULL,
    occurred_at  INTEGER NOT NULL,
    consent_seq  INTEGER NOT NULL,
    PRIMARY KEY (account_id, phone)
);

-- Opt-outs listed newest first.
CREATE INDEX opt_outs_recent ON opt_outs(account_id, created_at);
