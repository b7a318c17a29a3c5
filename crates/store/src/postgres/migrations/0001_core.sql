-- Agora's PostgreSQL schema, version 1: the core that the SQLite engine's schema.sql also holds,
-- in PostgreSQL's types. Every integer is bigint (clocks and times are kept below 2^63,
-- bounds.rs); keys, processes and subjects are bytea, which compares as unsigned bytes as
-- SQLite's BLOB does. Rows derived from one event reference it with ON DELETE CASCADE, so
-- whatever removes an event row removes them (the SQLite engine uses triggers).

-- Every stored event, with the exact signed bytes. `feed_*` place the row in per-type feeds:
-- for an ordinary event its own (type, time, process, clock); for the DELETE that holds a
-- tombstone, the deleted event's; NULL for a DELETE whose target already had a tombstone.
-- `position` is the event's place in commit order for live subscriptions: every write holds
-- the store's write lock (mod.rs), so positions from the sequence commit in order.
CREATE SEQUENCE stream_positions;
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    system bytea NOT NULL,
    process bytea NOT NULL,
    logical_clock bigint NOT NULL,
    content_type bigint NOT NULL,
    unix_ms bigint,
    received_ms bigint NOT NULL,
    signature bytea NOT NULL,
    event bytea NOT NULL,
    feed_type bigint,
    feed_ms bigint,
    feed_process bytea,
    feed_lc bigint,
    position bigint NOT NULL DEFAULT nextval('stream_positions')
);
CREATE UNIQUE INDEX events_slot ON events (system, process, logical_clock);
CREATE INDEX events_latest ON events (system, content_type, process, logical_clock);
CREATE INDEX events_feed ON events (system, feed_type, feed_ms, feed_process, feed_lc)
    WHERE feed_type IS NOT NULL;
CREATE UNIQUE INDEX events_position ON events (position);

-- One tombstone per deleted slot (the primary key keeps ranges from overlapping).
CREATE TABLE deletions (
    system bytea NOT NULL,
    process bytea NOT NULL,
    logical_clock bigint NOT NULL,
    delete_id bigint NOT NULL,
    PRIMARY KEY (system, process, logical_clock)
);

-- Pointer (kind 2, subject = slot key), bytes (kind 3) and, for FOLLOWs, system (kind 1)
-- references of live events; `score` is the referencing event's likes minus dislikes.
CREATE TABLE refs (
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    kind bigint NOT NULL,
    subject bytea NOT NULL,
    from_type bigint NOT NULL,
    score bigint NOT NULL DEFAULT 0
);
CREATE INDEX refs_ranked ON refs (kind, subject, from_type, score, event_id);
CREATE INDEX refs_ranked_any_type ON refs (kind, subject, score, event_id);
CREATE INDEX refs_event ON refs (event_id);

-- Live reference counts, kept equal to the refs rows in the same transaction.
CREATE TABLE ref_counts (
    kind bigint NOT NULL,
    subject bytea NOT NULL,
    from_type bigint NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (kind, subject, from_type)
);

-- Every live LWW-element write that references a subject (opinions, in practice), the winner
-- per (author, type, subject), and the counts derived from the winners only.
CREATE TABLE lww_refs (
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    author bytea NOT NULL,
    content_type bigint NOT NULL,
    kind bigint NOT NULL,
    subject bytea NOT NULL,
    lww_ms bigint NOT NULL,
    process bytea NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX lww_refs_subject ON lww_refs (author, content_type, kind, subject, lww_ms, process);
CREATE INDEX lww_refs_event ON lww_refs (event_id);
CREATE TABLE lww_latest (
    author bytea NOT NULL,
    content_type bigint NOT NULL,
    kind bigint NOT NULL,
    subject bytea NOT NULL,
    event_id bigint NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (author, content_type, kind, subject)
);
CREATE TABLE lww_counts (
    kind bigint NOT NULL,
    subject bytea NOT NULL,
    value bytea NOT NULL,
    from_type bigint NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (kind, subject, value, from_type)
);

-- Operator curation. `kind` is do_not_recommend or refuse_storage.
CREATE TABLE censored_systems (
    system bytea PRIMARY KEY,
    kind text NOT NULL,
    created_ms bigint NOT NULL
);
CREATE TABLE censored_events (
    system bytea NOT NULL,
    process bytea NOT NULL,
    logical_clock bigint NOT NULL,
    kind text NOT NULL,
    created_ms bigint NOT NULL,
    PRIMARY KEY (system, process, logical_clock)
);

-- Systems being removed (purge, refuse_storage of a system), in steps; ingest refuses the
-- system's events while its row exists, and every start resumes what a crash interrupted.
CREATE TABLE pending_removals (
    system bytea PRIMARY KEY,
    reason text NOT NULL,
    created_ms bigint NOT NULL
);

-- One handle per system and one system per handle, whatever its case (`folded` is its
-- lowercase); `handle` keeps the spelling claimed; `proven` = bound by a signed claim.
CREATE TABLE handles (
    handle text NOT NULL,
    folded text PRIMARY KEY,
    system bytea NOT NULL UNIQUE,
    proven boolean NOT NULL,
    updated_ms bigint NOT NULL
);
-- Every live CLAIM event, its type, and its fields.
CREATE TABLE claims (
    event_id bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    system bytea NOT NULL,
    claim_type bigint NOT NULL
);
CREATE INDEX claims_system ON claims (system, claim_type);
CREATE TABLE claim_fields (
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    key bigint NOT NULL,
    value text NOT NULL
);
CREATE INDEX claim_fields_value ON claim_fields (value, event_id);
CREATE INDEX claim_fields_event ON claim_fields (event_id);

-- One row per stored DEVICE_REVOKE (1002), keyed by the device it revokes.
CREATE TABLE device_revocations (
    event_id bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    device bytea NOT NULL
);
CREATE INDEX device_revocations_device ON device_revocations (device);

-- The local labeler's output: a status row per labeled event, one tag per rules category,
-- and which rules the stored labels follow.
CREATE TABLE moderation_status (
    event_id bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    status text NOT NULL,
    rules text NOT NULL
);
CREATE TABLE moderation_tags (
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name text NOT NULL,
    level bigint NOT NULL,
    PRIMARY KEY (event_id, name)
);
CREATE TABLE moderation_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);

-- Store-wide secrets and values (`challenge_key`: 32 random bytes, written at the first start);
-- challenges spent and not yet expired.
CREATE TABLE store_settings (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE spent_challenges (
    challenge bytea PRIMARY KEY,
    expires_ms bigint NOT NULL
);
CREATE INDEX spent_challenges_expiry ON spent_challenges (expires_ms);
