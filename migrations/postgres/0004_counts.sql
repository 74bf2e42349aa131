-- Per-campaign counts by recipient status, kept exact by the database itself (as on SQLite, see
-- migrations/sqlite/0004) so that reading a campaign's counts costs a few rows whatever its size.
-- `create_campaign` writes the initial counts in the same transaction as the recipients; the
-- trigger below follows every status change. A campaign's count of a status is the SUM of its
-- rows here; the store conformance tests check that it always equals a GROUP BY over the
-- recipients.
--
-- Two things differ from SQLite, where one writer at a time updates one row per status:
--
-- * Several nodes change the statuses of one campaign at once. One row per (campaign, status)
--   would be a lock that every such transaction holds from its first change to its commit:
--   they would queue behind one another, and two whose changes lock the rows in different
--   orders would deadlock. So each server process writes rows of its own:
--   `slot = pg_backend_pid()`. A backend runs one transaction at a time and no two live
--   backends share a pid, so no two transactions ever write the same row here: status
--   changes never wait on this table. `slot = 0` holds the initial counts (written once, by
--   the transaction that creates the campaign) and what the store folds into it (see
--   `PgStore::fold_counts`), which bounds the rows per campaign.
--
-- * The trigger runs once per statement, over the statement's transition tables, instead of
--   once per row: updating one row N times in one transaction makes N row versions that each
--   later update steps over, so a row trigger made a 20,000-recipient cancel take 9 s and a
--   100,000-recipient one six minutes. Per statement it is one upsert per (campaign, status)
--   changed. (Transition tables cannot be combined with `UPDATE OF status`, so it runs after
--   every UPDATE of recipients.) The same rows are in both tables, so each (campaign, status)
--   changes by its count after minus its count before: a row whose status stayed adds and
--   takes one, and no join of the two tables is needed (the planner, which knows nothing of
--   them, chose a nested loop for one: a 4,096-row update then took five seconds).

CREATE TABLE campaign_counts (
    campaign_seq  bigint NOT NULL,   -- no FK: the FK check would lock the campaign row
    status        text COLLATE "C" NOT NULL,
    slot          integer NOT NULL,  -- 0, or the pid of the backend that wrote the row
    n             bigint NOT NULL,
    PRIMARY KEY (campaign_seq, status, slot)
);
-- What `fold_counts` looks for.
CREATE INDEX campaign_counts_unfolded ON campaign_counts(campaign_seq) WHERE slot <> 0;

INSERT INTO campaign_counts (campaign_seq, status, slot, n)
    SELECT campaign_seq, status, 0, COUNT(*) FROM recipients GROUP BY campaign_seq, status;

CREATE FUNCTION recipients_status_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counts AS c (campaign_seq, status, slot, n)
        SELECT d.campaign_seq, d.status, pg_backend_pid(), SUM(d.n)
        FROM (SELECT campaign_seq, status, -1 AS n FROM old_rows
              UNION ALL
              SELECT campaign_seq, status, 1 AS n FROM new_rows) AS d
        GROUP BY d.campaign_seq, d.status
        HAVING SUM(d.n) <> 0
        ORDER BY d.campaign_seq, d.status
    ON CONFLICT (campaign_seq, status, slot) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END;
$$;

CREATE TRIGGER recipients_status_counts AFTER UPDATE ON recipients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION recipients_status_counts();
