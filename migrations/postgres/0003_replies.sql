-- Replies and compliance on PostgreSQL: conversations, their messages, consent records, account
-- settings. The same tables and columns as migrations/sqlite/0003, in the types of 0001 here
-- (times `timestamptz` at millisecond precision, `bigint` identities, booleans, "C" collation
-- for ids, phones and statuses). 0002 is left to the dashboard, as on SQLite.

-- Herald answers STOP/START/HELP with its own confirmation SMS unless this is false (e.g. when
-- Twilio's default opt-out handling already answers). accounts.help_text exists since 0001.
ALTER TABLE accounts ADD COLUMN keyword_replies boolean NOT NULL DEFAULT true;

-- 'campaign' for user campaigns; 'reply' for the one-recipient campaigns that carry an
-- agent's answer through the engine. Public campaign queries only ever see 'campaign'.
ALTER TABLE campaigns ADD COLUMN kind text COLLATE "C" NOT NULL DEFAULT 'campaign'
    CHECK (kind IN ('campaign', 'reply'));
-- true: recipients without granted consent fail with 'no_consent' (at create and before sending).
ALTER TABLE campaigns ADD COLUMN require_consent boolean NOT NULL DEFAULT false;

-- The messages between one of the account's numbers and one person.
CREATE TABLE conversations (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text COLLATE "C" NOT NULL UNIQUE,
    account_id       text COLLATE "C" NOT NULL REFERENCES accounts(id),
    our_number       text COLLATE "C" NOT NULL,
    their_number     text COLLATE "C" NOT NULL,
    agent_id         text COLLATE "C",   -- the agent that owns it now (no FK: agents may be deleted)
    campaign_id      text COLLATE "C",   -- the campaign it answers, when there is one
    created_at       timestamptz NOT NULL,
    last_message_at  timestamptz NOT NULL,
    UNIQUE (account_id, our_number, their_number)
);
CREATE INDEX conversations_activity ON conversations(account_id, last_message_at, seq);

CREATE TABLE messages (
    seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                text COLLATE "C" NOT NULL UNIQUE,
    conversation_seq  bigint NOT NULL REFERENCES conversations(seq),
    direction         text COLLATE "C" NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- inbound: 'message' (for the agent), 'opt_out', 'opt_in', 'help';
    -- outbound: 'agent' (sent through the engine), 'confirmation' (keyword answer, TwiML)
    kind              text COLLATE "C" NOT NULL,
    body              text NOT NULL,
    twilio_sid        text COLLATE "C",   -- inbound: Twilio's MessageSid (outbound: see recipient)
    recipient_id      bigint REFERENCES recipients(id),  -- outbound through the engine
    -- outbound 'agent': the inbound message it answers (the agent's history places the answer
    -- right after it, even when more messages arrived while the model was thinking)
    reply_to_seq      bigint,
    -- inbound 'message' only: pending, answered, failed, no_model, no_agent, opted_out,
    -- superseded, empty
    reply_status      text COLLATE "C",
    reply_error       text,
    created_at        timestamptz NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_seq, seq);
-- Twilio may deliver one inbound webhook twice: the second is recognised and ignored.
CREATE UNIQUE INDEX messages_inbound_sid ON messages(twilio_sid) WHERE twilio_sid IS NOT NULL;

-- Consent records: append-only history (never updated, never deleted).
CREATE TABLE consents (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           text COLLATE "C" NOT NULL UNIQUE,
    account_id   text COLLATE "C" NOT NULL REFERENCES accounts(id),
    phone        text COLLATE "C" NOT NULL,
    status       text COLLATE "C" NOT NULL CHECK (status IN ('granted', 'revoked')),
    source       text NOT NULL,          -- web_form, paper, keyword, import, api, twilio_21610, ...
    evidence     text,
    occurred_at  timestamptz NOT NULL,   -- when it was given or withdrawn
    recorded_at  timestamptz NOT NULL    -- when Herald stored it
);
CREATE INDEX consents_account ON consents(account_id, seq);
CREATE INDEX consents_phone ON consents(account_id, phone, seq);

-- SQLite's two RAISE(ABORT) triggers as one function; TRUNCATE (which SQLite lacks) too.
CREATE FUNCTION consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent records are append-only';
END;
$$;
CREATE TRIGGER consents_no_update_or_delete BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_append_only();
CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON consents
    FOR EACH STATEMENT EXECUTE FUNCTION consents_append_only();

-- Each number's current consent: its latest record by (occurred_at, seq), kept in step with
-- `consents` so campaign create and the engine's claim read one row per number.
CREATE TABLE consent_state (
    account_id   text COLLATE "C" NOT NULL,
    phone        text COLLATE "C" NOT NULL,
    status       text COLLATE "C" NOT NULL,
    occurred_at  timestamptz NOT NULL,
    consent_seq  bigint NOT NULL,
    PRIMARY KEY (account_id, phone)
);

-- Opt-outs listed newest first.
CREATE INDEX opt_outs_recent ON opt_outs(account_id, created_at);
