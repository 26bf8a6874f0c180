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

/// Runs a `SELECT count(*) …` whose parameters are ids (UUID text), bound as UUIDs: a
/// 16-byte blob on SQLite, `uuid` on PostgreSQL, as the store keeps them.
pub async fn count_ids(url: &str, sql: &'static str, ids: &[&str]) -> i64 {
    let ids: Vec<uuid::Uuid> = ids
        .iter()
        .map(|id| uuid::Uuid::parse_str(id).expect("a UUID"))
        .collect();
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url)
            .await
            .expect("open SQLite");
        let mut query = sqlx::query_scalar::<_, i64>(sql);
        for id in &ids {
            query = query.bind(*id);
        }
        query.fetch_one(&mut conn).await.expect("count query")
    } else {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .expect("open PostgreSQL");
        let mut query = sqlx::query_scalar::<_, i64>(sql);
        for id in &ids {
            query = query.bind(*id);
        }
        query.fetch_one(&mut conn).await.expect("count query")
    }
}

/// The idempotency keys of the stored events named `event`, one entry per row.
pub async fn stored_keys(url: &str, event: &str) -> Vec<String> {
    const SQL: &str = "SELECT idempotency_key FROM events WHERE event = $1";
    let rows: Vec<Option<String>> = if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url)
            .await
            .expect("open SQLite");
        sqlx::query_scalar(SQL)
            .bind(event)
            .fetch_all(&mut conn)
            .await
            .expect("keys query")
    } else {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .expect("open PostgreSQL");
        sqlx::query_scalar(SQL)
            .bind(event)
            .fetch_all(&mut conn)
            .await
            .expect("keys query")
    };
    rows.into_iter().flatten().collect()
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
