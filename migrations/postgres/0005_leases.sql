-- Several nodes share one database: each sending number is paced by one node at a time, the
-- holder of its lease (DESIGN §4).
--
-- Lease times come from the database's clock (`clock_timestamp()`), never a node's, so nodes
-- need not agree on the time: a holder counts its lease from the moment it asked, which is
-- never later than the database's own stamp, so it stops before the database lets anyone else
-- take the number. A lease is taken when it is free, expired or already the taker's, renewed
-- by its holder's heartbeat, and released by moving its expiry a little ahead (the hand-over
-- guard), so the next holder's first message never shares a carrier window with the last
-- holder's.
CREATE TABLE number_leases (
    phone       text COLLATE "C" PRIMARY KEY,   -- the sending number (E.164)
    node_id     text COLLATE "C" NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX number_leases_node ON number_leases(node_id);

-- Live nodes, for fair shares of the numbers: each heartbeat refreshes its row.
CREATE TABLE nodes (
    node_id  text COLLATE "C" PRIMARY KEY,
    seen_at  timestamptz NOT NULL
);

-- The node whose claim put a recipient in flight: when that node no longer holds the number's
-- lease (it died, or restarted under the same name), the recipient is reconciled with Twilio.
ALTER TABLE recipients ADD COLUMN claimed_by text COLLATE "C";
