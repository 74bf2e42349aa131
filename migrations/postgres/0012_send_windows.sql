-- Send windows (docs/ARCHITECTURE.md §4): the account's local sending hours and fallback zone,
-- a campaign's opt-out of them, and the recipients held until their window opens.
ALTER TABLE accounts ADD COLUMN send_window_start integer;  -- minutes after local midnight; NULL: no window
ALTER TABLE accounts ADD COLUMN send_window_end integer;
ALTER TABLE accounts ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
ALTER TABLE campaigns ADD COLUMN respect_send_window boolean NOT NULL DEFAULT true;
ALTER TABLE campaigns ADD COLUMN send_window_reason text;
ALTER TABLE recipients ADD COLUMN held_until timestamptz;      -- outside its window: not claimed before this

-- The work queue leaves held recipients out, so a claim never walks past them; a second
-- index finds the holds that ended (and counts a campaign's held recipients).
DROP INDEX recipients_work;
CREATE INDEX recipients_work ON recipients(campaign_seq, from_number, position)
    WHERE status = 'pending' AND inflight_since IS NULL AND held_until IS NULL;
CREATE INDEX recipients_held ON recipients(campaign_seq, held_until, from_number)
    WHERE status = 'pending' AND held_until IS NOT NULL;
