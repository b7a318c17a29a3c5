-- Version 2: discovery (search, explore, trending topics, recommended profiles).
-- Filled in by the discovery port (crates/store/src/postgres/discovery.rs).
SELECT 1;
