-- Campaign operations (docs/ARCHITECTURE.md §3): a campaign may be `paused` (SQLite keeps
-- statuses as plain text, so the new status needs no change here); a campaign made by a
-- resend names the campaign it resends (`resend_of`); a recipient keeps when the carrier
-- confirmed delivery (`delivered_at`, Unix milliseconds; `submitted_at` is when Twilio
-- accepted it, shown as `sent_at`).
ALTER TABLE campaigns ADD COLUMN resend_of TEXT;
ALTER TABLE recipients ADD COLUMN delivered_at INTEGER;
-- Every node's engine asks for the paused campaigns on each tick.
CREATE INDEX campaigns_paused ON campaigns(seq) WHERE status = 'paused';
-- A test send (`POST /v1/sms/test`) is a one-message campaign of kind `test` (a plain text
-- column here): sent by the engine like any message, never seen by the campaign queries.
