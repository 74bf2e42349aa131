-- Outgoing webhooks, the Standard Webhooks way (docs/ARCHITECTURE.md §10): endpoints, the
-- outbox of messages to deliver to them, and the log of delivery attempts. Times are integer
-- Unix milliseconds (UTC), as in 0001.
--
-- The outbox is written by triggers, so an event is stored in the same transaction as the
-- change that causes it, whichever statement made the change: a campaign's status, a
-- recipient's final status, an inbound message, an opt-out added or removed. A trigger writes
-- one message per enabled endpoint of the account that subscribes to the event type (none
-- when the account has no endpoint, so sending without webhooks pays one index lookup).

CREATE TABLE webhook_endpoints (
    seq                    INTEGER PRIMARY KEY AUTOINCREMENT,
    id                     TEXT NOT NULL UNIQUE,
    account_id             TEXT NOT NULL REFERENCES accounts(id),
    url                    TEXT NOT NULL,
    description            TEXT,
    events                 TEXT NOT NULL,      -- the subscribed types, ',a,b,' (wrapped in commas)
    secret                 TEXT NOT NULL,      -- whsec_<base64>: it signs, so it is kept, never shown again
    previous_secret        TEXT,               -- after a rotation, also signs until previous_secret_until
    previous_secret_until  INTEGER,
    enabled                INTEGER NOT NULL DEFAULT 1,
    disabled_reason        TEXT,               -- why Herald disabled it (a day of failures); NULL when a user did
    failing_since          INTEGER,            -- first failure since the last success
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id, seq);

-- One event for one endpoint: delivered at least once, retried with the same webhook_id.
CREATE TABLE webhook_messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       TEXT NOT NULL UNIQUE,       -- the `webhook-id` header: whmsg_<random>
    endpoint_seq     INTEGER NOT NULL REFERENCES webhook_endpoints(seq) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    data             TEXT NOT NULL,              -- JSON object: the body's `data`
    created_at       INTEGER NOT NULL,           -- the body's `timestamp`
    state            TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,           -- due time; a claim holds it ahead
    finished_at      INTEGER
);
CREATE INDEX webhook_messages_due ON webhook_messages(next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages(endpoint_seq, id);

CREATE TABLE webhook_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    INTEGER NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
    endpoint_seq  INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_seq, id);
CREATE INDEX webhook_attempts_message ON webhook_attempts(message_id);

-- Campaign events (user campaigns only; reply campaigns are internal).
CREATE TRIGGER webhook_campaign_created AFTER INSERT ON campaigns
WHEN NEW.kind = 'campaign' AND NEW.status = 'running'
BEGIN
    INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, data, created_at, next_attempt_at)
    SELECT 'whmsg_' || lower(hex(randomblob(12))), e.seq, 'campaign.started',
           json_object('campaign_id', NEW.id, 'name', NEW.name, 'status', NEW.status,
                       'previous_status', NULL),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 0
    FROM webhook_endpoints e
    WHERE e.account_id = NEW.account_id AND e.enabled = 1
      AND instr(e.events, ',campaign.started,') > 0;
END;

CREATE TRIGGER webhook_campaign_status AFTER UPDATE OF status ON campaigns
WHEN NEW.kind = 'campaign' AND OLD.status <> NEW.status
BEGIN
    INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, data, created_at, next_attempt_at)
    SELECT 'whmsg_' || lower(hex(randomblob(12))), e.seq, k.t,
           json_object('campaign_id', NEW.id, 'name', NEW.name, 'status', NEW.status,
                       'previous_status', OLD.status),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 0
    FROM (SELECT CASE
                   WHEN NEW.status = 'running' AND OLD.status = 'paused' THEN 'campaign.resumed'
                   WHEN NEW.status = 'running' THEN 'campaign.started'
                   WHEN NEW.status IN ('done', 'failed') THEN 'campaign.finished'
                   WHEN NEW.status = 'cancelled' THEN 'campaign.cancelled'
                   WHEN NEW.status = 'paused' THEN 'campaign.paused'
                 END AS t) k
    JOIN webhook_endpoints e ON e.account_id = NEW.account_id
    WHERE k.t IS NOT NULL AND e.enabled = 1 AND instr(e.events, ',' || k.t || ',') > 0;
END;

-- Recipient events: a final status (delivered; failed or undelivered), or `sent` that stays
-- final because Twilio's horizon passed (next_poll_at moved to the end of time).
CREATE TRIGGER webhook_recipient_final AFTER UPDATE OF status, next_poll_at ON recipients
WHEN (OLD.status <> NEW.status AND NEW.status IN ('delivered', 'failed', 'undelivered'))
  OR (NEW.status = 'sent' AND NEW.next_poll_at >= 253402214400000
      AND (OLD.next_poll_at IS NULL OR OLD.next_poll_at < 253402214400000))
BEGIN
    INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, data, created_at, next_attempt_at)
    SELECT 'whmsg_' || lower(hex(randomblob(12))), e.seq, k.t,
           json_object('campaign_id', c.id, 'phone', NEW.phone, 'status', NEW.status,
                       'error_code', NEW.error_code, 'error_message', NEW.error_message,
                       'twilio_sid', NEW.twilio_sid, 'from_number', NEW.from_number),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 0
    FROM (SELECT CASE NEW.status WHEN 'delivered' THEN 'recipient.delivered'
                 ELSE 'recipient.failed' END AS t) k
    JOIN campaigns c ON c.seq = NEW.campaign_seq
    JOIN webhook_endpoints e ON e.account_id = c.account_id
    WHERE c.kind = 'campaign' AND e.enabled = 1 AND instr(e.events, ',' || k.t || ',') > 0;
END;

-- Recipients that fail at create (opted out, no consent).
CREATE TRIGGER webhook_recipient_failed_at_create AFTER INSERT ON recipients
WHEN NEW.status = 'failed'
BEGIN
    INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, data, created_at, next_attempt_at)
    SELECT 'whmsg_' || lower(hex(randomblob(12))), e.seq, 'recipient.failed',
           json_object('campaign_id', c.id, 'phone', NEW.phone, 'status', NEW.status,
                       'error_code', NEW.error_code, 'error_message', NEW.error_message,
                       'twilio_sid', NEW.twilio_sid, 'from_number', NEW.from_number),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 0
    FROM campaigns c JOIN webhook_endpoints e ON e.account_id = c.account_id
    WHERE c.seq = NEW.campaign_seq AND c.kind = 'campaign' AND e.enabled = 1
      AND instr(e.events, ',recipient.failed,') > 0;
END;

-- An inbound message (any: a reply, a keyword).
CREATE TRIGGER webhook_message_received AFTER INSERT ON messages
WHEN NEW.direction = 'inbound'
BEGIN
    INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, data, created_at, next_attempt_at)
    SELECT 'whmsg_' || lower(hex(randomblob(12))), e.seq, 'message.received',
           json_object('message_id', NEW.id, 'conversation_id', c.id, 'from', c.their_number,
                       'to', c.our_number, 'body', NEW.body, 'kind', NEW.kind,
                       'campaign_id', c.campaign_id, 'twilio_sid', NEW.twilio_sid),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 0
    FROM conversations c JOIN webhook_endpoints e ON e.account_id = c.account_id
    WHERE c.seq = NEW.conversation_seq AND e.enabled = 1
      AND instr(e.events, ',message.received,') > 0;
END;

CREATE TRIGGER webhook_opt_out_created AFTER INSERT ON opt_outs
BEGIN
    INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, data, created_at, next_attempt_at)
    SELECT 'whmsg_' || lower(hex(randomblob(12))), e.seq, 'opt_out.created',
           json_object('phone', NEW.phone, 'source', NEW.source, 'reason', NEW.reason),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 0
    FROM webhook_endpoints e
    WHERE e.account_id = NEW.account_id AND e.enabled = 1
      AND instr(e.events, ',opt_out.created,') > 0;
END;

CREATE TRIGGER webhook_opt_out_removed AFTER DELETE ON opt_outs
BEGIN
    INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, data, created_at, next_attempt_at)
    SELECT 'whmsg_' || lower(hex(randomblob(12))), e.seq, 'opt_out.removed',
           json_object('phone', OLD.phone),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 0
    FROM webhook_endpoints e
    WHERE e.account_id = OLD.account_id AND e.enabled = 1
      AND instr(e.events, ',opt_out.removed,') > 0;
END;
