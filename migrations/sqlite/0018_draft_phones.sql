-- An append checks its phones against the draft's own (docs/ARCHITECTURE.md §4). That check
-- was an index probe in `recipients_phone` (phone, from_number), an index over every recipient
-- that every bulk load had to keep up: a list exported from a CRM is in no phone order, so each
-- new recipient landed anywhere in that index and an append of 100,000 to a large draft
-- rewrote most of its pages (1.3 s against 0.7 s with ascending phones; measured 2026-12-04).
-- Now each draft keeps its phones as sorted runs of 64-bit keys (one run per append, merged
-- past eight; written in the append's transaction, rebuilt from the recipients whenever they
-- do not cover them, and deleted at launch and cancel), and the index goes. The two other
-- lookups by phone, a reply's campaign context and reconciliation's known message ids, only
-- look at messages that were sent, which `recipients_recent` (0013) holds.
CREATE TABLE draft_phones (
    campaign_seq  INTEGER NOT NULL,
    run           INTEGER NOT NULL,
    piece         INTEGER NOT NULL, -- a run in pieces of at most 8,192 keys, in key order
    phones        BLOB NOT NULL,    -- the keys, 8 little-endian bytes each, ascending
    PRIMARY KEY (campaign_seq, run, piece)
) WITHOUT ROWID;

DROP INDEX recipients_phone;
