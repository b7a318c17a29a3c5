//! The conformance suite on the SQLite engine, each test in its own temporary directory.

use agora_store::sqlite::{SqliteOptions, SqliteStore};
use tempfile::TempDir;

use crate::conformance::Engine;

#[derive(Debug)]
struct Sqlite {
    /// Removed when the test ends; reopening the store in it is a restart.
    dir: TempDir,
}

impl Engine for Sqlite {
    type Store = SqliteStore;

    fn create() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn open(&self) -> SqliteStore {
        SqliteStore::open(self.dir.path(), SqliteOptions::default()).expect("sqlite store opens")
    }

    fn open_labeled(
        &self,
        labeler: Option<std::sync::Arc<agora_store::moderation::Labeler>>,
    ) -> SqliteStore {
        let options = SqliteOptions {
            labeler,
            ..SqliteOptions::default()
        };
        SqliteStore::open(self.dir.path(), options).expect("sqlite store opens")
    }
}

crate::conformance::suite!(Sqlite);
