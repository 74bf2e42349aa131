-- A dashboard user's own phone (E.164), where "Send me a test" sends (docs/ARCHITECTURE.md §6).
ALTER TABLE users ADD COLUMN phone text;
