//! The machine's own ceilings, measured in the same run as the product: raw JetStream
//! publishing and raw batched inserts into SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sqlx::{AssertSqlSafe, Connection};

/// Acks kept in flight by the raw publisher (CEILINGS.md: ~1024 is the knee).
const IN_FLIGHT: usize = 1024;

/// Publishes `n` copies of `payload` with unique `Nats-Msg-Id`s (and a `Nats-TTL` when
/// given), acks pipelined; msg/s.
pub async fn jetstream(
    js: &jetstream::Context,
    subject: &str,
    payload: &[u8],
    n: u64,
    ttl: Option<&str>,
) -> anyhow::Result<f64> {
    let payload = bytes::Bytes::copy_from_slice(payload);
    let mut inflight = FuturesUnordered::new();
    let started = Instant::now();
    for i in 0..n {
        let mut message = PublishMessage::build()
            .payload(payload.clone())
            .message_id(format!("raw-{i}-{}", uuid::Uuid::now_v7().simple()));
        if let Some(ttl) = ttl {
            message = message.header(sendrealm_common::subjects::NATS_TTL, ttl);
        }
        inflight.push(
            js.send_publish(subject.to_owned(), message)
                .await?
                .into_future(),
        );
        while inflight.len() >= IN_FLIGHT {
            if let Some(ack) = inflight.next().await {
                ack?;
            }
        }
    }
    while let Some(ack) = inflight.next().await {
        ack?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Rows per multi-VALUES statement and per transaction.
const ROWS_PER_STATEMENT: usize = 500;
const ROWS_PER_TX: usize = 1000;

const INSERT_HEAD: &str = "INSERT INTO events (id, project_id, event, contact_id, sent_contact_id, external_id, email, \
     payload, occurred_at, received_at, stored_at, idempotency_key, source, region) VALUES ";

fn values(rows: usize) -> String {
    let mut out = String::new();
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..14 {
            if c > 0 {
                out.push(',');
            }
            out.push_str(&format!("${}", r * 14 + c + 1));
        }
        out.push(')');
    }
    out
}

/// One row as the aggregator would store it.
pub struct Row {
    id: String,
    key: String,
    email: String,
    payload: String,
}

/// `n` rows exactly like the events the aggregator drains: the same idempotency keys and
/// the ids the agent derives from them, the same emails and payload.
pub fn rows(n: usize, run: &str, payload: &str) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let key = format!("bench-{run}-{i}");
            Row {
                id: sendrealm_common::id::event_id_for_key("proj_bench", &key),
                key,
                email: format!("user{}@example.com", i % 1000),
                payload: payload.to_owned(),
            }
        })
        .collect()
}

macro_rules! insert_all {
    ($conn:expr, $rows:expr) => {{
        let started = Instant::now();
        for tx_rows in $rows.chunks(ROWS_PER_TX) {
            let mut tx = $conn.begin().await?;
            for chunk in tx_rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!("{INSERT_HEAD}{}", values(chunk.len()));
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for row in chunk {
                    query = query
                        .bind(&row.id)
                        .bind("proj_bench")
                        .bind("order.completed")
                        .bind("ct_bench")
                        .bind(None::<String>)
                        .bind(None::<String>)
                        .bind(&row.email)
                        .bind(&row.payload)
                        .bind(0_i64)
                        .bind(0_i64)
                        .bind(0_i64)
                        .bind(&row.key)
                        .bind("api")
                        .bind("bench");
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok($rows.len() as f64 / started.elapsed().as_secs_f64())
    }};
}

/// Batched inserts into a fresh SQLite file (WAL) with the aggregator's schema; rows/s.
pub async fn sqlite(dir: &std::path::Path, rows: &[Row]) -> anyhow::Result<f64> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::new()
        .filename(dir.join("ceiling.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::migrate!("../aggregator/migrations/sqlite")
        .run(&mut conn)
        .await?;
    insert_all!(conn, rows)
}

/// Batched inserts into a fresh PostgreSQL database with the aggregator's schema; rows/s.
pub async fn postgres(database_url: &str, rows: &[Row]) -> anyhow::Result<f64> {
    let mut conn = sqlx::PgConnection::connect(database_url).await?;
    sqlx::migrate!("../aggregator/migrations/postgres")
        .run(&mut conn)
        .await?;
    insert_all!(conn, rows)
}

/// Waits with a deadline (for drains).
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        anyhow::ensure!(Instant::now() < deadline, "timed out after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
