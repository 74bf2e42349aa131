-- The dashboard: sign-in sessions and the new-campaign drafts between preview and send
-- (the PostgreSQL twin of migrations/sqlite/0002_dashboard.sql).

-- A signed-in browser. Only the SHA-256 of the cookie's token is stored, so a copy of the
-- database cannot be used to sign in. Idle and absolute expiry are checked on every request.
CREATE TABLE dashboard_sessions (
    token_hash    bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions(user_id);
CREATE INDEX dashboard_sessions_seen ON dashboard_sessions(last_seen_at);

-- What the new-campaign form produced; the send button creates exactly it. `campaign_id` is
-- set once it was sent, so a second click finds that campaign instead of sending again.
CREATE TABLE dashboard_drafts (
    id           text COLLATE "C" PRIMARY KEY,
    account_id   text COLLATE "C" NOT NULL REFERENCES accounts(id),
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    data         text NOT NULL,
    upload       bytea,
    campaign_id  text COLLATE "C",
    created_at   timestamptz NOT NULL
);
CREATE INDEX dashboard_drafts_created ON dashboard_drafts(created_at);
