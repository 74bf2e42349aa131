-- Small caches that keep a campaign's GET and its estimated finish cheap at any size
-- (docs/ARCHITECTURE.md §3, §4), kept exact by the database itself as `campaign_counts` is
-- (0004): the store writes the rows of new recipients in the transaction that inserts them;
-- these triggers follow every later change. The store conformance tests check that they
-- always equal a GROUP BY over the recipients.
--
-- * `campaign_queues`: per campaign and sending number, the pending recipients not held by
--   their send window (`pending`, and their `segments`), and those held (`held`). A row whose
--   counts all reach zero is deleted, so a number's rows are the campaigns with work on it.
-- * `campaign_errors`: per campaign and error code, the failed and undelivered recipients
--   (`n`) and the greatest error message stored with them.

CREATE TABLE campaign_queues (
    campaign_seq  INTEGER NOT NULL,
    from_number   TEXT NOT NULL,
    pending       INTEGER NOT NULL,
    segments      INTEGER NOT NULL,
    held          INTEGER NOT NULL,
    PRIMARY KEY (campaign_seq, from_number)
) WITHOUT ROWID;
-- The queue waiting on a number (the estimated finish of every campaign sending from it).
CREATE INDEX campaign_queues_number ON campaign_queues(from_number, campaign_seq);

CREATE TABLE campaign_errors (
    campaign_seq   INTEGER NOT NULL,
    error_code     TEXT NOT NULL,
    n              INTEGER NOT NULL,
    error_message  TEXT,
    PRIMARY KEY (campaign_seq, error_code)
) WITHOUT ROWID;

INSERT INTO campaign_queues (campaign_seq, from_number, pending, segments, held)
    SELECT campaign_seq, from_number, SUM(held_until IS NULL),
           SUM(CASE WHEN held_until IS NULL THEN segments ELSE 0 END), SUM(held_until IS NOT NULL)
    FROM recipients WHERE status = 'pending' GROUP BY campaign_seq, from_number;

INSERT INTO campaign_errors (campaign_seq, error_code, n, error_message)
    SELECT campaign_seq, error_code, COUNT(*), MAX(error_message) FROM recipients
    WHERE status IN ('failed', 'undelivered') AND error_code IS NOT NULL
    GROUP BY campaign_seq, error_code;

-- A recipient leaves the queue (sent, failed, cancelled) or moves between held and not.
CREATE TRIGGER recipients_queue_out AFTER UPDATE OF status, held_until ON recipients
WHEN OLD.status = 'pending'
    AND (NEW.status <> 'pending' OR (OLD.held_until IS NULL) <> (NEW.held_until IS NULL))
BEGIN
    UPDATE campaign_queues SET
        pending = pending - (OLD.held_until IS NULL),
        segments = segments - (CASE WHEN OLD.held_until IS NULL THEN OLD.segments ELSE 0 END),
        held = held - (OLD.held_until IS NOT NULL)
        WHERE campaign_seq = OLD.campaign_seq AND from_number = OLD.from_number;
    DELETE FROM campaign_queues
        WHERE campaign_seq = OLD.campaign_seq AND from_number = OLD.from_number
        AND pending = 0 AND held = 0 AND segments = 0;
END;

-- A recipient (re)enters the queue, or moves between held and not.
CREATE TRIGGER recipients_queue_in AFTER UPDATE OF status, held_until ON recipients
WHEN NEW.status = 'pending'
    AND (OLD.status <> 'pending' OR (OLD.held_until IS NULL) <> (NEW.held_until IS NULL))
BEGIN
    INSERT INTO campaign_queues (campaign_seq, from_number, pending, segments, held)
        VALUES (NEW.campaign_seq, NEW.from_number, NEW.held_until IS NULL,
                CASE WHEN NEW.held_until IS NULL THEN NEW.segments ELSE 0 END,
                NEW.held_until IS NOT NULL)
        ON CONFLICT (campaign_seq, from_number) DO UPDATE SET
            pending = pending + excluded.pending,
            segments = segments + excluded.segments,
            held = held + excluded.held;
END;

-- A recipient becomes, or stops being, failed or undelivered with a code.
CREATE TRIGGER recipients_errors AFTER UPDATE OF status, error_code ON recipients
WHEN (OLD.status <> NEW.status OR OLD.error_code IS NOT NEW.error_code)
    AND ((OLD.status IN ('failed', 'undelivered') AND OLD.error_code IS NOT NULL)
         OR (NEW.status IN ('failed', 'undelivered') AND NEW.error_code IS NOT NULL))
BEGIN
    UPDATE campaign_errors SET n = n - 1
        WHERE OLD.status IN ('failed', 'undelivered')
        AND campaign_seq = OLD.campaign_seq AND error_code = OLD.error_code;
    INSERT INTO campaign_errors (campaign_seq, error_code, n, error_message)
        SELECT NEW.campaign_seq, NEW.error_code, 1, NEW.error_message
        WHERE NEW.status IN ('failed', 'undelivered') AND NEW.error_code IS NOT NULL
        ON CONFLICT (campaign_seq, error_code) DO UPDATE SET
            n = n + 1,
            error_message = CASE
                WHEN error_message IS NULL OR excluded.error_message > error_message
                THEN COALESCE(excluded.error_message, error_message)
                ELSE error_message END;
END;
