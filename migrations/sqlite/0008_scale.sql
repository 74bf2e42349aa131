-- Campaigns at scale (docs/ARCHITECTURE.md §4): a woken lane asks only for the campaigns new
-- to it, by seq (created since) or by start time (launched or promoted since), never for all
-- running campaigns (of which there may be tens of thousands, one per appointment reminder).
CREATE INDEX campaigns_started ON campaigns(started_at) WHERE status = 'running';

-- Appends to a draft (`POST /v1/sms/campaigns/{id}/recipients`) share create's idempotency
-- keys; a retried append replays what the first one stored, kept here as JSON.
ALTER TABLE idempotency_keys ADD COLUMN outcome TEXT;
