-- The dashboard: sign-in sessions and the new-campaign drafts between preview and send.
-- Times are integer Unix milliseconds (UTC), as in 0001.

-- A signed-in browser. Only the SHA-256 of the cookie's token is stored, so a copy of the
-- database cannot be used to sign in. Idle and absolute expiry are checked on every request.
CREATE TABLE dashboard_sessions (
    token_hash    BLOB PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX dashboard_sessions_user ON dashboard_sessions(user_id);
CREATE INDEX dashboard_sessions_seen ON dashboard_sessions(last_seen_at);

-- What the new-campaign form produced: the form as typed, the upload, and the recipients it
-- was parsed into. The preview page shows it and the send button creates exactly it, so what
-- was previewed is what is sent. `campaign_id` is set once it was sent (a second click on
-- Send finds it and goes to that campaign instead of sending again).
CREATE TABLE dashboard_drafts (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    data         TEXT NOT NULL,          -- JSON, owned by the dashboard
    upload       BLOB,                   -- the CSV file as uploaded, if any
    campaign_id  TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX dashboard_drafts_created ON dashboard_drafts(created_at);
