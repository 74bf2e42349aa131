-- An append checks its phones against the draft's own (docs/ARCHITECTURE.md §4). That check
-- was an index probe in `recipients_phone` (phone, from_number), an index over every recipient
-- that every bulk load had to keep up: a list exported from a CRM is in no phone order, so each
-- new recipient landed anywhere in that index, 0.35 s of a 100,000-row COPY into a
-- 500,000-row table (0.09 s when the phones ascend; measured 2026-12-04). Now each draft keeps
-- its phones as sorted runs of 64-bit keys (one run per append, merged past eight; written in
-- the append's transaction, rebuilt from the recipients whenever they do not cover them, and
-- deleted at launch and cancel), and the index goes. The two other lookups by phone, a reply's
-- campaign context and reconciliation's known message ids, only look at messages that were
-- sent, which `recipients_recent` (0013) holds.
CREATE TABLE draft_phones (
    campaign_seq  bigint NOT NULL,
    run           integer NOT NULL,
    piece         integer NOT NULL, -- a run in pieces of at most 8,192 keys, in key order
    phones        bytea NOT NULL,   -- the keys, 8 little-endian bytes each, ascending
    PRIMARY KEY (campaign_seq, run, piece)
);
-- Keys do not compress: store them as they are.
ALTER TABLE draft_phones ALTER COLUMN phones SET STORAGE EXTERNAL;

DROP INDEX recipients_phone;
