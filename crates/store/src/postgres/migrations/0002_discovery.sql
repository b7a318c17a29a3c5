-- Version 2: discovery (search, explore, trending topics, recommended profiles), the rows of the
-- SQLite engine's schema.sql "Discovery" section (crates/store/src/postgres/discovery.rs writes
-- them). Every row below is derived from one live event and written in the ingest transaction;
-- the rows that reference `events (id) ON DELETE CASCADE` go with the event whatever path
-- deletes it (a DELETE event, purge, refuse_storage). Profile documents and the vocabulary are
-- rewritten by discovery.rs's `forget_event`, which the one removal path (ingest's
-- `remove_event`) calls just before the event row goes.
--
-- Search documents hold the folded words of `crate::discovery::words` as a tsvector (exactly
-- those lexemes, no parser or dictionary), so the index and the typo vocabulary agree. Text that
-- is compared by range (vocabulary words) uses the "C" collation, and texts that may hold any
-- character (topics, profile values) are bytea: both compare as SQLite compares TEXT, byte by
-- byte.

-- Post text, id = events.id: the words of the post's latest version.
CREATE TABLE post_search (
    id bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    words tsvector NOT NULL
);
CREATE INDEX post_search_words ON post_search USING gin (words);

-- The typo vocabulary (crates/store/src/postgres/vocabulary.rs): every word of a live searchable
-- text (`kind` 0: posts and post edits, 1: usernames and descriptions) with how many live events
-- hold it; a word goes with the last of them. Forms of a term are a range of one length.
CREATE TABLE search_vocabulary (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind bigint NOT NULL,
    length bigint NOT NULL,
    word text COLLATE "C" NOT NULL,
    events bigint NOT NULL,
    UNIQUE (kind, length, word)
);
-- Its deletion neighbourhood: each word under each of its typo keys (its first seven characters
-- with up to two after the first deleted), so a term's typos are a few seeks, not a scan.
CREATE TABLE search_typo_keys (
    kind bigint NOT NULL,
    key text COLLATE "C" NOT NULL,
    word bigint NOT NULL,
    PRIMARY KEY (kind, key, word)
);

-- Live POSTs in explore order: `order_ms` is the post's time, capped at its arrival plus a margin.
CREATE TABLE explore (
    event_id bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    system bytea NOT NULL,
    order_ms bigint NOT NULL
);
CREATE INDEX explore_order ON explore (order_ms, event_id);
CREATE INDEX explore_system ON explore (system);

-- The UTF-8 topic (bytes reference) of live POSTs; `folded` is lowercase without leading '/'.
CREATE TABLE topics (
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    topic bytea NOT NULL,
    folded bytea NOT NULL,
    order_ms bigint NOT NULL
);
CREATE INDEX topics_time ON topics (order_ms, folded);
CREATE INDEX topics_event ON topics (event_id);

-- Live USERNAME and DESCRIPTION writes; the LWW winner per (system, type) is the profile.
-- `value` is the element's bytes.
CREATE TABLE profile_fields (
    event_id bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    system bytea NOT NULL,
    content_type bigint NOT NULL,
    lww_ms bigint NOT NULL,
    process bytea NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX profile_fields_winner
    ON profile_fields (system, content_type, lww_ms, process);

-- One search document per identity with a live field: the words of its current username and
-- description. A rewritten document (a field write comes or goes) takes a new id from the
-- sequence, above every other, so it leaves the pages of a search pinned before the rewrite.
CREATE SEQUENCE profile_ids;
CREATE TABLE profiles (
    system bytea PRIMARY KEY,
    id bigint NOT NULL UNIQUE,
    words tsvector NOT NULL
);
CREATE INDEX profiles_words ON profiles USING gin (words);
