-- Status polling (docs/ARCHITECTURE.md §4): Twilio never resends a status callback it could not
-- deliver, so the engine asks Twilio for the status of every message it accepted that has no
-- final status some time after acceptance, again and again with a growing wait, until it is
-- final or 72 hours old.
--
-- `next_poll_at` is NULL until the first poll (due `--status-poll-after-ms` after
-- `submitted_at`), then the time of the next one (a claimed poll holds it a little ahead, so no
-- other node polls the message meanwhile); a message past Twilio's horizon keeps a time at the
-- end of time and is never polled again. Nodes claim due polls with FOR NO KEY UPDATE SKIP
-- LOCKED, so each poll is made by one node.
ALTER TABLE recipients ADD COLUMN next_poll_at timestamptz;

-- First polls: accepted messages without a final status, by acceptance time.
CREATE INDEX recipients_poll_first ON recipients(submitted_at)
    WHERE status IN ('queued', 'sent') AND next_poll_at IS NULL;
-- Later polls: by the time they are due.
CREATE INDEX recipients_poll_next ON recipients(next_poll_at)
    WHERE status IN ('queued', 'sent') AND next_poll_at IS NOT NULL;
