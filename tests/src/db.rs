//! Reading the aggregator's database directly: tests assert stored rows.

use sqlx::Connection;

/// Runs a `SELECT count(*) …` with text parameters against a SQLite or PostgreSQL URL.
pub async fn count(url: &str, sql: &'static str, params: &[&str]) -> i64 {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url)
            .await
            .expect("open SQLite");
        let mut query = sqlx::query_scalar::<_, i64>(sql);
        for p in params {
            query = query.bind(*p);
        }
        query.fetch_one(&mut conn).await.expect("count query")
    } else {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .expect("open PostgreSQL");
        let mut query = sqlx::query_scalar::<_, i64>(sql);
        for p in params {
            query = query.bind(*p);
        }
        query.fetch_one(&mut conn).await.expect("count query")
    }
}

/// Waits until a count query answers `n`.
pub async fn wait_count(
    url: &str,
    sql: &'static str,
    params: &[&str],
    n: i64,
    timeout: std::time::Duration,
) {
    crate::wait::until(timeout, &format!("{n} rows from {sql}"), || async {
        (count(url, sql, params).await == n).then_some(())
    })
    .await;
}
