-- Outgoing webhooks, the Standard Webhooks way (docs/ARCHITECTURE.md §10): endpoints, the
-- outbox of messages to deliver to them, and the log of delivery attempts. As on SQLite
-- (migrations/sqlite/0011): the outbox is written by triggers, in the same transaction as
-- the change that causes each event, one message per enabled endpoint of the account that
-- subscribes to the type. `webhook_enqueue` is the one place that writes it.
--
-- Recipients' final statuses are seen per statement (see webhook_recipient_batch below);
-- recipients that fail at create (rare) by a row trigger whose WHEN clause the others skip.

CREATE TABLE webhook_endpoints (
    seq                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                     text NOT NULL UNIQUE,
    account_id             text NOT NULL REFERENCES accounts(id),
    url                    text NOT NULL,
    description            text,
    events                 text NOT NULL,      -- the subscribed types, ',a,b,' (wrapped in commas)
    secret                 text NOT NULL,      -- whsec_<base64>: it signs, so it is kept, never shown again
    previous_secret        text,
    previous_secret_until  timestamptz,
    enabled                boolean NOT NULL DEFAULT true,
    disabled_reason        text,
    failing_since          timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id, seq);

CREATE TABLE webhook_messages (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       text NOT NULL UNIQUE,
    endpoint_seq     bigint NOT NULL REFERENCES webhook_endpoints(seq) ON DELETE CASCADE,
    event_type       text NOT NULL,
    data             jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    state            text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    finished_at      timestamptz
);
CREATE INDEX webhook_messages_due ON webhook_messages(next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages(endpoint_seq, id);

CREATE TABLE webhook_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id    bigint NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
    endpoint_seq  bigint NOT NULL,
    attempt       integer NOT NULL,
    status_code   integer,
    error         text,
    created_at    timestamptz NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_seq, id);
CREATE INDEX webhook_attempts_message ON webhook_attempts(message_id);

CREATE FUNCTION webhook_enqueue(acct text, kind text, payload jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, data, created_at, next_attempt_at)
    SELECT 'whmsg_' || replace(gen_random_uuid()::text, '-', ''), e.seq, kind, payload,
           date_trunc('milliseconds', now()), timestamptz '1970-01-01 00:00:00+00'
    FROM webhook_endpoints e
    WHERE e.account_id = acct AND e.enabled AND position(',' || kind || ',' IN e.events) > 0;
$$;

CREATE FUNCTION webhook_campaign_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    previous text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := 'campaign.started';
    ELSE
        previous := OLD.status;
        kind := CASE
            WHEN NEW.status = 'running' AND OLD.status = 'paused' THEN 'campaign.resumed'
            WHEN NEW.status = 'running' THEN 'campaign.started'
            WHEN NEW.status IN ('done', 'failed') THEN 'campaign.finished'
            WHEN NEW.status = 'cancelled' THEN 'campaign.cancelled'
            WHEN NEW.status = 'paused' THEN 'campaign.paused'
        END;
    END IF;
    IF kind IS NOT NULL THEN
        PERFORM webhook_enqueue(NEW.account_id, kind, jsonb_build_object(
            'campaign_id', NEW.id, 'name', NEW.name, 'status', NEW.status,
            'previous_status', previous));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_campaign_created AFTER INSERT ON campaigns
    FOR EACH ROW WHEN (NEW.kind = 'campaign' AND NEW.status = 'running')
    EXECUTE FUNCTION webhook_campaign_event();
CREATE TRIGGER webhook_campaign_status AFTER UPDATE OF status ON campaigns
    FOR EACH ROW WHEN (NEW.kind = 'campaign' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webhook_campaign_event();

CREATE FUNCTION webhook_recipient_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    SELECT id, account_id, kind INTO c FROM campaigns WHERE seq = NEW.campaign_seq;
    IF c.kind = 'campaign' THEN
        PERFORM webhook_enqueue(c.account_id,
            CASE NEW.status WHEN 'delivered' THEN 'recipient.delivered' ELSE 'recipient.failed' END,
            jsonb_build_object(
                'campaign_id', c.id, 'phone', NEW.phone, 'status', NEW.status,
                'error_code', NEW.error_code, 'error_message', NEW.error_message,
                'twilio_sid', NEW.twilio_sid, 'from_number', NEW.from_number));
    END IF;
    RETURN NULL;
END;
$$;

-- A final status arrives in batches (callbacks, outcomes, polls: one UPDATE of many rows), so
-- this one runs once per statement over its transition tables, like the counts trigger of
-- 0004, and returns at once while no enabled endpoint wants recipient events (a row trigger
-- made a 20,000-row status change ten times slower with no endpoint at all). It runs without
-- nested loops: the planner knows nothing of the transition tables, and a nested-loop join of
-- the two took seconds for a few thousand rows in 0004.
CREATE FUNCTION webhook_recipient_batch() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints
                   WHERE enabled AND (position(',recipient.delivered,' IN events) > 0
                                      OR position(',recipient.failed,' IN events) > 0)) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_messages (webhook_id, endpoint_seq, event_type, data, created_at, next_attempt_at)
    SELECT 'whmsg_' || replace(gen_random_uuid()::text, '-', ''), e.seq, k.t,
           jsonb_build_object(
               'campaign_id', c.id, 'phone', n.phone, 'status', n.status,
               'error_code', n.error_code, 'error_message', n.error_message,
               'twilio_sid', n.twilio_sid, 'from_number', n.from_number),
           date_trunc('milliseconds', now()), timestamptz '1970-01-01 00:00:00+00'
    FROM new_rows n
    JOIN old_rows o ON o.id = n.id
    JOIN campaigns c ON c.seq = n.campaign_seq AND c.kind = 'campaign'
    JOIN webhook_endpoints e ON e.account_id = c.account_id AND e.enabled
    CROSS JOIN LATERAL (SELECT CASE n.status WHEN 'delivered' THEN 'recipient.delivered'
                               ELSE 'recipient.failed' END AS t) k
    WHERE position(',' || k.t || ',' IN e.events) > 0
      AND ((o.status IS DISTINCT FROM n.status AND n.status IN ('delivered', 'failed', 'undelivered'))
           OR (n.status = 'sent' AND n.next_poll_at >= timestamptz '9999-12-31 00:00:00+00'
               AND (o.next_poll_at IS NULL OR o.next_poll_at < timestamptz '9999-12-31 00:00:00+00')))
    ORDER BY n.id, e.seq;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_recipient_final AFTER UPDATE ON recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_recipient_batch();
CREATE TRIGGER webhook_recipient_failed_at_create AFTER INSERT ON recipients
    FOR EACH ROW WHEN (NEW.status = 'failed')
    EXECUTE FUNCTION webhook_recipient_event();

CREATE FUNCTION webhook_message_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    SELECT id, account_id, our_number, their_number, campaign_id INTO c
        FROM conversations WHERE seq = NEW.conversation_seq;
    PERFORM webhook_enqueue(c.account_id, 'message.received', jsonb_build_object(
        'message_id', NEW.id, 'conversation_id', c.id, 'from', c.their_number,
        'to', c.our_number, 'body', NEW.body, 'kind', NEW.kind,
        'campaign_id', c.campaign_id, 'twilio_sid', NEW.twilio_sid));
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_message_received AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.direction = 'inbound')
    EXECUTE FUNCTION webhook_message_event();

CREATE FUNCTION webhook_opt_out_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM webhook_enqueue(NEW.account_id, 'opt_out.created', jsonb_build_object(
            'phone', NEW.phone, 'source', NEW.source, 'reason', NEW.reason));
    ELSE
        PERFORM webhook_enqueue(OLD.account_id, 'opt_out.removed', jsonb_build_object(
            'phone', OLD.phone));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_opt_out_created AFTER INSERT ON opt_outs
    FOR EACH ROW EXECUTE FUNCTION webhook_opt_out_event();
CREATE TRIGGER webhook_opt_out_removed AFTER DELETE ON opt_outs
    FOR EACH ROW EXECUTE FUNCTION webhook_opt_out_event();
