//! Statements prepared once per connection. `tokio_postgres` prepares a statement given as text
//! on every call (a round trip of its own before the query's); [`Cached`] gives a transaction
//! the same `query`, `query_one`, `query_opt` and `execute`, taking the text or a statement, and
//! prepares text through the connection's statement cache, so a write of many statements pays
//! one round trip each.

use std::future::Future;

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row, Statement};

/// SQL text, or a statement already prepared.
pub(crate) trait Sql: Sync {
    fn statement(
        &self,
        tx: &Transaction<'_>,
    ) -> impl Future<Output = Result<Statement, Error>> + Send;
}

impl Sql for str {
    async fn statement(&self, tx: &Transaction<'_>) -> Result<Statement, Error> {
        tx.prepare_cached(self).await
    }
}

impl Sql for String {
    async fn statement(&self, tx: &Transaction<'_>) -> Result<Statement, Error> {
        tx.prepare_cached(self).await
    }
}

impl Sql for Statement {
    async fn statement(&self, _: &Transaction<'_>) -> Result<Statement, Error> {
        Ok(self.clone())
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Queries through the statement cache.
pub(crate) trait Cached {
    fn query<S: Sql + ?Sized>(
        &self,
        sql: &S,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send;
    fn query_one<S: Sql + ?Sized>(
        &self,
        sql: &S,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Row, Error>> + Send;
    fn query_opt<S: Sql + ?Sized>(
        &self,
        sql: &S,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<Row>, Error>> + Send;
    fn execute<S: Sql + ?Sized>(
        &self,
        sql: &S,
        params: Params<'_>,
    ) -> impl Future<Output = Result<u64, Error>> + Send;
}

impl Cached for Transaction<'_> {
    async fn query<S: Sql + ?Sized>(&self, sql: &S, params: Params<'_>) -> Result<Vec<Row>, Error> {
        let statement = sql.statement(self).await?;
        (**self).query(&statement, params).await
    }

    async fn query_one<S: Sql + ?Sized>(&self, sql: &S, params: Params<'_>) -> Result<Row, Error> {
        let statement = sql.statement(self).await?;
        (**self).query_one(&statement, params).await
    }

    async fn query_opt<S: Sql + ?Sized>(
        &self,
        sql: &S,
        params: Params<'_>,
    ) -> Result<Option<Row>, Error> {
        let statement = sql.statement(self).await?;
        (**self).query_opt(&statement, params).await
    }

    async fn execute<S: Sql + ?Sized>(&self, sql: &S, params: Params<'_>) -> Result<u64, Error> {
        let statement = sql.statement(self).await?;
        (**self).execute(&statement, params).await
    }
}
