//! The conformance suite on the PostgreSQL engine: each test in a schema of its own, created
//! for it and dropped after it, in the database `AGORA_TEST_DATABASE_URL` names (default: the
//! local server's `test` database).

use agora_store::postgres::{PgOptions, PgStore};

use crate::conformance::Engine;

/// The database the tests use.
pub fn database_url() -> String {
    std::env::var("AGORA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Runs `future` to its end from synchronous code inside a multi-threaded tokio test.
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

/// Runs one SQL statement on a connection of its own.
async fn execute(sql: &str) {
    let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .expect("the test database answers (is PostgreSQL running?)");
    let connection = tokio::spawn(connection);
    client.batch_execute(sql).await.expect(sql);
    drop(client);
    connection.await.ok();
}

#[derive(Debug)]
pub struct Postgres {
    schema: String,
}

impl Postgres {
    fn options(&self) -> PgOptions {
        PgOptions {
            schema: Some(self.schema.clone()),
            connections_max: 4,
            ..PgOptions::new(database_url())
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        // Dropped inside a test's runtime or after it: a thread of its own does it either way.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(execute(&sql));
        })
        .join()
        .ok();
    }
}

impl Engine for Postgres {
    type Store = PgStore;

    fn create() -> Self {
        let schema = format!("agora_test_{:016x}", rand::random::<u64>());
        block_on(execute(&format!("CREATE SCHEMA {schema}")));
        Self { schema }
    }

    fn open(&self) -> PgStore {
        block_on(PgStore::open(self.options())).expect("postgres store opens")
    }

    fn nodes(&self) -> Vec<std::sync::Arc<PgStore>> {
        (0..3).map(|_| std::sync::Arc::new(self.open())).collect()
    }

    fn open_labeled(
        &self,
        labeler: Option<std::sync::Arc<agora_store::moderation::Labeler>>,
    ) -> PgStore {
        let options = PgOptions {
            labeler,
            ..self.options()
        };
        block_on(PgStore::open(options)).expect("postgres store opens")
    }
}

crate::conformance::suite!(Postgres);
