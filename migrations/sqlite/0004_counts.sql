-- Per-campaign counts by recipient status, kept exact by the database itself so that reading
-- a campaign's counts costs a few rows whatever its size. `create_campaign` writes the initial
-- counts in the same transaction as the recipients; this trigger follows every status change.
-- The API's counts are the sums of these rows, and the store conformance tests check that they
-- always equal a GROUP BY over the recipients.

CREATE TABLE campaign_counts (
    campaign_seq  INTEGER NOT NULL,
    status        TEXT NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (campaign_seq, status)
) WITHOUT ROWID;

INSERT INTO campaign_counts (campaign_seq, status, n)
    SELECT campaign_seq, status, COUNT(*) FROM recipients GROUP BY campaign_seq, status;

CREATE TRIGGER recipients_status_counts AFTER UPDATE OF status ON recipients
WHEN OLD.status <> NEW.status
BEGIN
    UPDATE campaign_counts SET n = n - 1
        WHERE campaign_seq = OLD.campaign_seq AND status = OLD.status;
    INSERT INTO campaign_counts (campaign_seq, status, n) VALUES (NEW.campaign_seq, NEW.status, 1)
        ON CONFLICT (campaign_seq, status) DO UPDATE SET n = n + 1;
END;
