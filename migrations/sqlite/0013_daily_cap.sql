-- Daily cap per recipient (docs/ARCHITECTURE.md §4): how many campaign messages one number may
-- get from the account in any 24 hours, and the index that counts a number's recent messages.
ALTER TABLE accounts ADD COLUMN max_messages_per_recipient_per_day INTEGER;  -- NULL: no cap

-- A message counts from when it was sent (`submitted_at`), or, while it is in flight, from
-- its claim: one range per phone, over the messages sent or claimed since a day ago. Pending
-- and never-sent rows are not in it.
CREATE INDEX recipients_recent ON recipients(phone, COALESCE(submitted_at, inflight_since))
    WHERE COALESCE(submitted_at, inflight_since) IS NOT NULL;
