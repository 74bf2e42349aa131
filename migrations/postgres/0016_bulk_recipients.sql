-- Recipients go in by the hundred thousand (create, append: one COPY per 5,000 rows), and
-- PostgreSQL checks a foreign key with a trigger per inserted row: a third of a 100,000-row
-- append was that check (1.39 s → 0.99 s for the COPY alone, measured 2026-12-04). The
-- reference is kept by the store instead: recipients are inserted only in the transaction that
-- inserts their campaign or holds its row locked (an append), and campaigns are never deleted.
-- SQLite keeps its reference (there the check is one primary-key probe per row, and dropping
-- it would rebuild the table).
ALTER TABLE recipients DROP CONSTRAINT recipients_campaign_seq_fkey;
