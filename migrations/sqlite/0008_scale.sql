-- Campaigns at scale (docs/ARCHITECTURE.md §4): a woken lane asks only for the campaigns new
-- to it, by seq (created since) or by start time (launched or promoted since), never for all
-- running campaigns (of which there may be tens of thousands, one per appointment reminder).
CREATE INDEX campaigns_started ON campaigns(started_at) WHERE status = 'running';
