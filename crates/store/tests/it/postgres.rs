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

/// The PostgreSQL engine's removal steps, with a step of three events: counts stay exact over many
/// steps, a removal goes on when its caller stops waiting, and one left by a crash is finished
/// at the next open.
mod removal_steps {
    use super::*;
    use crate::conformance::support::*;
    use agora_protocol::content::opinion;
    use agora_store::{IngestOutcome, Store};

    async fn pending(schema: &str) -> i64 {
        let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .query_one(
                &format!("SELECT count(*) FROM {schema}.pending_removals"),
                &[],
            )
            .await
            .expect("count")
            .get(0)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_removal_in_small_steps_goes_on_alone_and_resumes_after_a_crash() {
        let place = <Postgres as crate::conformance::Engine>::create();
        let options = PgOptions {
            removal_events_per_step: 3,
            ..place.options()
        };
        let store = PgStore::open(options.clone()).await.expect("open");
        let mut alice = author(1, 1);
        let mut bob = author(2, 2);
        let post = alice.post("p", 100).expect("post");
        let mut events = vec![post.clone()];
        events.push(
            bob.opinion(&post.pointer(), opinion::LIKE, 150)
                .expect("like"),
        );
        for n in 0..20 {
            events.push(bob.post("x", 200 + n).expect("post"));
        }
        let regret = bob.post("r", 300).expect("post");
        events.push(regret.clone());
        events.push(bob.delete(&regret, 301).expect("delete"));
        let outcomes = store.ingest(events).await.expect("ingest");
        assert!(outcomes.iter().all(|o| *o == IngestOutcome::Stored));
        assert_eq!(counts(&store, &post).await, Counts::new(1, 0, 0));
        assert_eq!(store.remove_system(bob.system()).await.expect("remove"), 22);
        assert_eq!(held(&store, bob.system()).await, []);
        assert_eq!(counts(&store, &post).await, Counts::new(0, 0, 0));
        assert_eq!(pending(&place.schema).await, 0);

        // A caller that stops waiting: the removal goes on.
        let mut carol = author(3, 3);
        let many: Vec<_> = (0..300)
            .map(|n| carol.post("c", 100 + n).expect("post"))
            .collect();
        store.ingest(many).await.expect("ingest");
        let task = tokio::spawn({
            let store = store.clone();
            let carol = carol.system();
            async move { store.remove_system(carol).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        task.abort();
        for _ in 0..500 {
            if pending(&place.schema).await == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(pending(&place.schema).await, 0);
        assert_eq!(held(&store, carol.system()).await, []);

        // A crash mid-removal: a pending row left; the next open finishes it.
        let mut dan = author(4, 4);
        let many: Vec<_> = (0..30)
            .map(|n| dan.post("d", 100 + n).expect("post"))
            .collect();
        store.ingest(many).await.expect("ingest");
        drop(store);
        let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .execute(
                &format!(
                    "INSERT INTO {}.pending_removals VALUES ($1, 'purge', 0)",
                    place.schema
                ),
                &[&&dan.system().as_bytes()[..]],
            )
            .await
            .expect("pending");
        let store = PgStore::open(options).await.expect("reopen");
        let refused = store
            .ingest(vec![dan.post("late", 999).expect("post")])
            .await
            .expect("ingest");
        assert!(
            matches!(refused[0], IngestOutcome::Rejected(_)),
            "{refused:?}"
        );
        for _ in 0..500 {
            if pending(&place.schema).await == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(held(&store, dan.system()).await, []);
        let back = store
            .ingest(vec![dan.post("back", 1000).expect("post")])
            .await
            .expect("ingest");
        assert_eq!(back, [IngestOutcome::Stored]);
    }
}
