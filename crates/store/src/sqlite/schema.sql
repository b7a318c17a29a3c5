-- Agora's SQLite schema. Applied on every open; every statement is idempotent.

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

-- Pointer (kind 2, subject = slot key) and bytes (kind 3) references of live events.
CREATE TABLE IF NOT EXISTS refs (
    event_id INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    subject BLOB NOT NULL,
    from_type INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_subject ON refs (kind, subject, from_type, event_id);
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
