-- Several nodes (processes) may share one database: each sending number is paced by one node
-- at a time, the holder of its lease (DESIGN §4). Times are Unix milliseconds.
--
-- A lease is taken when it is free, expired or already the taker's, renewed by its holder's
-- heartbeat, and released by setting its expiry a little ahead (the hand-over guard), so the
-- next holder's first message never shares a carrier window with the last holder's.
CREATE TABLE number_leases (
    phone       TEXT PRIMARY KEY,   -- the sending number (E.164)
    node_id     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Live nodes, for fair shares of the numbers: each heartbeat refreshes its row.
CREATE TABLE nodes (
    node_id  TEXT PRIMARY KEY,
    seen_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- The node whose claim put a recipient in flight: when that node no longer holds the number's
-- lease (it died, or restarted under the same name), the recipient is reconciled with Twilio.
ALTER TABLE recipients ADD COLUMN claimed_by TEXT;
