-- Version 2: what every node over one store must share to authenticate challenges and spend
-- each once, kept across restarts.

-- Store-wide secrets and values, by name. `challenge_key` is the HMAC key of `/challenge`
-- (32 random bytes, written by the migration).
CREATE TABLE IF NOT EXISTS store_settings (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- Challenges spent and not yet expired; rows past `expires_ms` are pruned as spends arrive.
CREATE TABLE IF NOT EXISTS spent_challenges (
    challenge BLOB PRIMARY KEY,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS spent_challenges_expiry ON spent_challenges (expires_ms);
