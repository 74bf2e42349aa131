-- Small caches that keep a campaign's GET and its estimated finish cheap at any size
-- (docs/ARCHITECTURE.md §3, §4), kept exact by the database itself as `campaign_counts` is
-- (0004, whose reasons this follows): the store writes the rows of new recipients (slot 0) in
-- the transaction that inserts them; a trigger per statement, over the statement's transition
-- tables, follows every later change in rows of the server process's own
-- (`slot = pg_backend_pid()`), so status changes never wait on one another here; the engine
-- folds those into slot 0 (`fold_tallies`, beside `fold_counts`) and deletes the slot-0 rows
-- of `campaign_queues` that reached zero. A value is the SUM over a key's slots; the store
-- conformance tests check that it always equals a GROUP BY over the recipients.
--
-- * `campaign_queues`: per campaign and sending number, the pending recipients not held by
--   their send window (`pending`, and their `segments`), and those held (`held`).
-- * `campaign_errors`: per campaign and error code, the failed and undelivered recipients
--   (`n`) and the greatest error message stored with them.

CREATE TABLE campaign_queues (
    campaign_seq  bigint NOT NULL,   -- no FK: the FK check would lock the campaign row
    from_number   text COLLATE "C" NOT NULL,
    slot          integer NOT NULL,
    pending       bigint NOT NULL,
    segments      bigint NOT NULL,
    held          bigint NOT NULL,
    PRIMARY KEY (campaign_seq, from_number, slot)
);
-- The queue waiting on a number (the estimated finish of every campaign sending from it).
CREATE INDEX campaign_queues_number ON campaign_queues(from_number, campaign_seq);
CREATE INDEX campaign_queues_unfolded ON campaign_queues(campaign_seq) WHERE slot <> 0;

CREATE TABLE campaign_errors (
    campaign_seq   bigint NOT NULL,
    error_code     text COLLATE "C" NOT NULL,
    slot           integer NOT NULL,
    n              bigint NOT NULL,
    error_message  text,
    PRIMARY KEY (campaign_seq, error_code, slot)
);
CREATE INDEX campaign_errors_unfolded ON campaign_errors(campaign_seq) WHERE slot <> 0;

INSERT INTO campaign_queues (campaign_seq, from_number, slot, pending, segments, held)
    SELECT campaign_seq, from_number, 0, COUNT(*) FILTER (WHERE held_until IS NULL),
           COALESCE(SUM(segments) FILTER (WHERE held_until IS NULL), 0),
           COUNT(*) FILTER (WHERE held_until IS NOT NULL)
    FROM recipients WHERE status = 'pending' GROUP BY campaign_seq, from_number;

INSERT INTO campaign_errors (campaign_seq, error_code, slot, n, error_message)
    SELECT campaign_seq, error_code, 0, COUNT(*), MAX(error_message) FROM recipients
    WHERE status IN ('failed', 'undelivered') AND error_code IS NOT NULL
    GROUP BY campaign_seq, error_code;

CREATE FUNCTION recipients_tallies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_queues AS q (campaign_seq, from_number, slot, pending, segments, held)
        SELECT d.campaign_seq, d.from_number, pg_backend_pid(),
               SUM(d.pending), SUM(d.segments), SUM(d.held)
        FROM (SELECT campaign_seq, from_number,
                     -(held_until IS NULL)::int AS pending,
                     CASE WHEN held_until IS NULL THEN -segments ELSE 0 END AS segments,
                     -(held_until IS NOT NULL)::int AS held
              FROM old_rows WHERE status = 'pending'
              UNION ALL
              SELECT campaign_seq, from_number,
                     (held_until IS NULL)::int,
                     CASE WHEN held_until IS NULL THEN segments ELSE 0 END,
                     (held_until IS NOT NULL)::int
              FROM new_rows WHERE status = 'pending') AS d
        GROUP BY d.campaign_seq, d.from_number
        HAVING SUM(d.pending) <> 0 OR SUM(d.segments) <> 0 OR SUM(d.held) <> 0
        ORDER BY d.campaign_seq, d.from_number
    ON CONFLICT (campaign_seq, from_number, slot) DO UPDATE SET
        pending = q.pending + excluded.pending,
        segments = q.segments + excluded.segments,
        held = q.held + excluded.held;

    INSERT INTO campaign_errors AS e (campaign_seq, error_code, slot, n, error_message)
        SELECT d.campaign_seq, d.error_code, pg_backend_pid(), SUM(d.n), MAX(d.error_message)
        FROM (SELECT campaign_seq, error_code, -1 AS n, NULL::text AS error_message
              FROM old_rows
              WHERE status IN ('failed', 'undelivered') AND error_code IS NOT NULL
              UNION ALL
              SELECT campaign_seq, error_code, 1, error_message
              FROM new_rows
              WHERE status IN ('failed', 'undelivered') AND error_code IS NOT NULL) AS d
        GROUP BY d.campaign_seq, d.error_code
        HAVING SUM(d.n) <> 0
        ORDER BY d.campaign_seq, d.error_code
    ON CONFLICT (campaign_seq, error_code, slot) DO UPDATE SET
        n = e.n + excluded.n,
        error_message = GREATEST(e.error_message, excluded.error_message);
    RETURN NULL;
END;
$$;

CREATE TRIGGER recipients_tallies AFTER UPDATE ON recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION recipients_tallies();
