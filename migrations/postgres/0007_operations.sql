-- Campaign operations (docs/ARCHITECTURE.md §3): a campaign may be `paused`; a campaign made by
-- a resend names the campaign it resends (`resend_of`); a recipient keeps when the carrier
-- confirmed delivery (`delivered_at`; `submitted_at` is when Twilio accepted it, shown as
-- `sent_at`). New nullable columns without a default: no table rewrite.
ALTER TABLE campaigns DROP CONSTRAINT campaigns_status_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_status_check
    CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'done', 'failed', 'cancelled'));
ALTER TABLE campaigns ADD COLUMN resend_of text COLLATE "C";
ALTER TABLE recipients ADD COLUMN delivered_at timestamptz;
-- Every node's engine asks for the paused campaigns on each tick.
CREATE INDEX campaigns_paused ON campaigns(seq) WHERE status = 'paused';
-- A test send (`POST /v1/sms/test`) is a one-message campaign of kind `test`: sent by the engine
-- like any message, never seen by the campaign queries (which read kind `campaign` only).
ALTER TABLE campaigns DROP CONSTRAINT campaigns_kind_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_kind_check
    CHECK (kind IN ('campaign', 'reply', 'test'));
