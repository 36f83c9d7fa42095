//! PostgreSQL through an r2d2 pool. Blocking calls never run on the async executor: every query
//! goes through [`Db::run`], which moves it to tokio's blocking pool.

use bootstrap::database::{Database, MakeTlsConnector};
use r2d2_postgres::PostgresConnectionManager;

use crate::error::ApiError;

pub(crate) type Pool = r2d2::Pool<PostgresConnectionManager<MakeTlsConnector>>;

#[derive(Clone)]
pub(crate) struct Db {
    pool: Pool,
}

impl Db {
    /// Builds the pool without connecting, so the server starts (and reports `degraded`) while
    /// the database is down.
    pub(crate) fn new(database: &Database, size: u32) -> Self {
        let manager = PostgresConnectionManager::new(database.config().clone(), database.tls());
        let pool = r2d2::Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(0))
            .connection_timeout(std::time::Duration::from_secs(5))
            .build_unchecked(manager);
        Self { pool }
    }

    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut postgres::Client) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }
}
