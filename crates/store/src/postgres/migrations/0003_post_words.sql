-- Version 3: search pages in document order. Each word of a post's search document (post_search)
-- by word, then document id, so the newest documents holding a word are one index range read
-- backwards from a cursor, as SQLite's FTS5 reads its doclists. The GIN index of post_search finds
-- the documents holding a word but not in that order, so a page of a common word sorted every
-- one of them. discovery.rs writes a document's words with the document; they go with it.
CREATE TABLE post_words (
    word text COLLATE "C" NOT NULL,
    id bigint NOT NULL REFERENCES post_search (id) ON DELETE CASCADE,
    PRIMARY KEY (word, id)
);
CREATE INDEX post_words_id ON post_words (id);
INSERT INTO post_words (word, id)
SELECT DISTINCT word, id FROM post_search, unnest(tsvector_to_array(words)) AS word;
