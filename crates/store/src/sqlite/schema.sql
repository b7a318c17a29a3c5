-- Agora's SQLite schema, version 1 (migrations.rs). Frozen: a change to the schema is a new
-- migration. Every statement is idempotent, so a store made before versions takes it too.

-- Every stored event, with the exact signed bytes. `feed_*` place the row in per-type feeds:
-- for an ordinary event its own (type, time, process, clock); for the DELETE that holds a
-- tombstone, the deleted event's; NULL for a DELETE whose target already had a tombstone.
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    system BLOB NOT NULL,
    process BLOB NOT NULL,
    logical_clock INTEGER NOT NULL,
    content_type INTEGER NOT NULL,
    unix_ms INTEGER,
    received_ms INTEGER NOT NULL,
    signature BLOB NOT NULL,
    event BLOB NOT NULL,
    feed_type INTEGER,
    feed_ms INTEGER,
    feed_process BLOB,
    feed_lc INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS events_slot ON events (system, process, logical_clock);
CREATE INDEX IF NOT EXISTS events_latest ON events (system, content_type, process, logical_clock);
CREATE INDEX IF NOT EXISTS events_feed ON events (system, feed_type, feed_ms, feed_process, feed_lc)
    WHERE feed_type IS NOT NULL;

-- One tombstone per deleted slot (the primary key is what keeps ranges from overlapping).
CREATE TABLE IF NOT EXISTS deletions (
    system BLOB NOT NULL,
    process BLOB NOT NULL,
    logical_clock INTEGER NOT NULL,
    delete_id INTEGER NOT NULL,
    PRIMARY KEY (system, process, logical_clock)
) WITHOUT ROWID;

-- Pointer (kind 2, subject = slot key), bytes (kind 3) and, for FOLLOWs, system (kind 1)
-- references of live events. `score` is the referencing event's likes minus dislikes, kept
-- exact whenever a winning opinion about it changes (crates/store/src/sqlite/scores.rs), so
-- a `/query_references` page is a range of `refs_ranked` (of one type) or
-- `refs_ranked_any_type` after its cursor. A store made before the column gets it in
-- version 1 (migrations.rs), before this schema runs.
CREATE TABLE IF NOT EXISTS refs (
    event_id INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    subject BLOB NOT NULL,
    from_type INTEGER NOT NULL,
    score INTEGER NOT NULL DEFAULT 0
);
DROP INDEX IF EXISTS refs_subject;
CREATE INDEX IF NOT EXISTS refs_ranked ON refs (kind, subject, from_type, score, event_id);
CREATE INDEX IF NOT EXISTS refs_ranked_any_type ON refs (kind, subject, score, event_id);
CREATE INDEX IF NOT EXISTS refs_event ON refs (event_id);

-- Live reference counts, kept equal to the refs rows in the same transaction.
CREATE TABLE IF NOT EXISTS ref_counts (
    kind INTEGER NOT NULL,
    subject BLOB NOT NULL,
    from_type INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (kind, subject, from_type)
) WITHOUT ROWID;

-- Every live LWW-element write that references a subject (opinions, in practice).
CREATE TABLE IF NOT EXISTS lww_refs (
    event_id INTEGER NOT NULL,
    author BLOB NOT NULL,
    content_type INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    subject BLOB NOT NULL,
    lww_ms INTEGER NOT NULL,
    process BLOB NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS lww_refs_subject
    ON lww_refs (author, content_type, kind, subject, lww_ms, process);
CREATE INDEX IF NOT EXISTS lww_refs_event ON lww_refs (event_id);

-- The winning write per (author, type, subject), and the counts derived from the winners only.
CREATE TABLE IF NOT EXISTS lww_latest (
    author BLOB NOT NULL,
    content_type INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    subject BLOB NOT NULL,
    event_id INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (author, content_type, kind, subject)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lww_counts (
    kind INTEGER NOT NULL,
    subject BLOB NOT NULL,
    value BLOB NOT NULL,
    from_type INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (kind, subject, value, from_type)
) WITHOUT ROWID;

-- Operator curation (POST /censor, `agora admin censor`). `kind` is do_not_recommend or refuse_storage.
CREATE TABLE IF NOT EXISTS censored_systems (
    system BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS censored_events (
    system BLOB NOT NULL,
    process BLOB NOT NULL,
    logical_clock INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (system, process, logical_clock)
) WITHOUT ROWID;

-- Systems being removed (purge, refuse_storage of a system), in steps of a bounded number of
-- events each (crates/store/src/sqlite/removal.rs): the row is written in the transaction that
-- begins the removal and deleted by the step that ends it. Ingest refuses the system's events
-- while it exists, and every open resumes the removals a crash interrupted.
CREATE TABLE IF NOT EXISTS pending_removals (
    system BLOB PRIMARY KEY,
    reason TEXT NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Identity (handles and claims, crates/store/src/sqlite/identity.rs).
-- One handle per system and one system per handle, whatever its case: the unique
-- `handles_folded` index on (handle COLLATE NOCASE) is created in version 1 by identity.rs
-- `fold_handles`, after releasing bindings of stores from when handles were case-sensitive
-- that differ only in case. `handle` keeps the spelling claimed. `proven` = bound by a signed
-- claim.
CREATE TABLE IF NOT EXISTS handles (
    handle TEXT PRIMARY KEY,
    system BLOB NOT NULL UNIQUE,
    proven INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
-- Every live CLAIM event, its type, and its fields; filled by ingest, emptied by the trigger
-- below whenever the event row goes (delete, purge, any other removal).
CREATE TABLE IF NOT EXISTS claims (
    event_id INTEGER PRIMARY KEY,
    system BLOB NOT NULL,
    claim_type INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS claims_system ON claims (system, claim_type);
CREATE TABLE IF NOT EXISTS claim_fields (
    event_id INTEGER NOT NULL,
    key INTEGER NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS claim_fields_value ON claim_fields (value, event_id);
CREATE INDEX IF NOT EXISTS claim_fields_event ON claim_fields (event_id);
-- `claims_indexed` present = every stored CLAIM is in `claims` (set by the one-time backfill at
-- open, crates/store/src/sqlite/identity.rs `prepare`, for stores older than the claims table);
-- `follows_indexed` = every stored FOLLOW is in `refs` as a system reference (ingest.rs
-- `index_follows`); `reference_scores` = every `refs` row holds its event's score (scores.rs
-- `backfill`).
CREATE TABLE IF NOT EXISTS identity_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS claims_follow_events AFTER DELETE ON events
WHEN OLD.content_type = 12
BEGIN
    DELETE FROM claims WHERE event_id = OLD.id;
    DELETE FROM claim_fields WHERE event_id = OLD.id;
END;

-- Discovery (search, explore, trending topics, recommended profiles). Every row below is derived
-- from one live event and written in the ingest transaction; the AFTER DELETE triggers remove
-- them whatever path deletes the event (a DELETE event, purge, refuse_storage).

-- Post text, rowid = events.id. Contentless: the text lives in `events` only.
CREATE VIRTUAL TABLE IF NOT EXISTS post_search USING fts5(
    text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
-- The typo vocabulary (crates/store/src/sqlite/vocabulary.rs): every word of a live searchable
-- text (`kind` 0: posts and post edits, 1: usernames and descriptions) with how many live events
-- hold it; a word goes with the last of them. Forms of a term are a range of one length.
CREATE TABLE IF NOT EXISTS search_vocabulary (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    length INTEGER NOT NULL,
    word TEXT NOT NULL,
    events INTEGER NOT NULL,
    UNIQUE (kind, length, word)
);
-- Its deletion neighbourhood: each word under each of its typo keys (its first seven characters
-- with up to two after the first deleted), so a term's typos are a few seeks, not a scan.
CREATE TABLE IF NOT EXISTS search_typo_keys (
    kind INTEGER NOT NULL,
    key TEXT NOT NULL,
    word INTEGER NOT NULL,
    PRIMARY KEY (kind, key, word)
) WITHOUT ROWID;

-- Live POSTs in explore order: `order_ms` is the post's time, capped at its arrival plus a margin.
CREATE TABLE IF NOT EXISTS explore (
    event_id INTEGER PRIMARY KEY,
    system BLOB NOT NULL,
    order_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS explore_order ON explore (order_ms, event_id);
CREATE INDEX IF NOT EXISTS explore_system ON explore (system);

-- The UTF-8 topic (bytes reference) of live POSTs; `folded` is lowercase without leading '/'.
CREATE TABLE IF NOT EXISTS topics (
    event_id INTEGER NOT NULL,
    topic TEXT NOT NULL,
    folded TEXT NOT NULL,
    order_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS topics_time ON topics (order_ms, folded);
CREATE INDEX IF NOT EXISTS topics_event ON topics (event_id);

-- Live USERNAME and DESCRIPTION writes; the LWW winner per (system, type) is the profile.
CREATE TABLE IF NOT EXISTS profile_fields (
    event_id INTEGER PRIMARY KEY,
    system BLOB NOT NULL,
    content_type INTEGER NOT NULL,
    lww_ms INTEGER NOT NULL,
    process BLOB NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS profile_fields_winner
    ON profile_fields (system, content_type, lww_ms, process);
-- One search document per identity; rowid = profile_search rowid. A rewritten document takes a
-- new id above every other, so it leaves the pages of a search pinned before the rewrite.
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY,
    system BLOB NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE IF NOT EXISTS profile_search USING fts5(
    username, description, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER IF NOT EXISTS discovery_post_removed AFTER DELETE ON events
WHEN old.content_type = 3 BEGIN
    DELETE FROM post_search WHERE rowid = old.id;
    DELETE FROM explore WHERE event_id = old.id;
    DELETE FROM topics WHERE event_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS discovery_profile_field_removed AFTER DELETE ON events
WHEN old.content_type IN (5, 6) BEGIN
    DELETE FROM profile_fields WHERE event_id = old.id;
END;
-- The profile document always holds the current winners: rewritten whenever a write comes or goes.
-- Dropped and recreated with version 1, so a store made before versions gets the current ones.
DROP TRIGGER IF EXISTS discovery_profile_added;
DROP TRIGGER IF EXISTS discovery_profile_removed;
-- The profile triggers below pick winners in the LWW order of lww.rs (`winner_first!`),
-- written out here because this file is frozen as version 1.
CREATE TRIGGER IF NOT EXISTS discovery_profile_added AFTER INSERT ON profile_fields BEGIN
    INSERT OR IGNORE INTO profiles (system) VALUES (new.system);
    DELETE FROM profile_search WHERE rowid = (SELECT id FROM profiles WHERE system = new.system);
    UPDATE profiles SET id = (SELECT max(id) + 1 FROM profiles) WHERE system = new.system;
    INSERT INTO profile_search (rowid, username, description)
    SELECT id,
           (SELECT value FROM profile_fields WHERE system = new.system AND content_type = 5
            ORDER BY lww_ms DESC, process DESC LIMIT 1),
           (SELECT value FROM profile_fields WHERE system = new.system AND content_type = 6
            ORDER BY lww_ms DESC, process DESC LIMIT 1)
    FROM profiles WHERE system = new.system;
END;
CREATE TRIGGER IF NOT EXISTS discovery_profile_removed AFTER DELETE ON profile_fields BEGIN
    DELETE FROM profile_search WHERE rowid = (SELECT id FROM profiles WHERE system = old.system);
    UPDATE profiles SET id = (SELECT max(id) + 1 FROM profiles) WHERE system = old.system;
    INSERT INTO profile_search (rowid, username, description)
    SELECT id,
           (SELECT value FROM profile_fields WHERE system = old.system AND content_type = 5
            ORDER BY lww_ms DESC, process DESC LIMIT 1),
           (SELECT value FROM profile_fields WHERE system = old.system AND content_type = 6
            ORDER BY lww_ms DESC, process DESC LIMIT 1)
    FROM profiles
    WHERE system = old.system
      AND EXISTS (SELECT 1 FROM profile_fields WHERE system = old.system);
END;

-- Moderation (crates/store/src/sqlite/moderation.rs): the local labeler's output. A status row
-- means "labeled by the rules with this digest"; tags are one (name, level) per category of
-- those rules. The trigger drops both whenever the event row goes (delete, purge, any other
-- removal). `moderation_meta` remembers which rules the stored labels follow.
CREATE TABLE IF NOT EXISTS moderation_status (
    event_id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    rules TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS moderation_tags (
    event_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    PRIMARY KEY (event_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS moderation_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS moderation_follows_events AFTER DELETE ON events
WHEN OLD.content_type IN (3, 5, 6)
BEGIN
    DELETE FROM moderation_status WHERE event_id = OLD.id;
    DELETE FROM moderation_tags WHERE event_id = OLD.id;
END;

-- Device revocations (docs/protocol.md, "Devices"): one row per stored DEVICE_REVOKE (1002),
-- keyed by the device it revokes; the event itself holds the bounds. Written in the ingest
-- transaction and emptied with its event by the trigger.
CREATE TABLE IF NOT EXISTS device_revocations (
    event_id INTEGER PRIMARY KEY,
    device BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS device_revocations_device ON device_revocations (device);
CREATE TRIGGER IF NOT EXISTS device_revocations_follow_events AFTER DELETE ON events
WHEN OLD.content_type = 1002
BEGIN
    DELETE FROM device_revocations WHERE event_id = OLD.id;
END;

-- Live subscriptions (docs/protocol.md, "Live stream"): each stored event's position in commit
-- order. AUTOINCREMENT, so a position is never reused after its event is removed; the row goes
-- with its event (trigger). Events stored before this table existed have no position.
CREATE TABLE IF NOT EXISTS stream_log (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS stream_log_event ON stream_log (event_id);
CREATE TRIGGER IF NOT EXISTS stream_log_follows_events AFTER DELETE ON events
BEGIN
    DELETE FROM stream_log WHERE event_id = OLD.id;
END;
