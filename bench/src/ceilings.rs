//! The machine's own ceilings, measured in the same run as the product: raw JetStream
//! publishing; for each database its physical ceiling (SQLite appending without indexes,
//! PostgreSQL's `COPY`) and the aggregator's own schema written the fastest plain way.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sqlx::{AssertSqlSafe, Connection};
use uuid::Uuid;

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

/// Rows per statement and per transaction: what the aggregator's statements hold.
const ROWS_PER_STATEMENT: usize = 1000;

/// The columns of a stored event, in insert order.
const COLUMNS: &str = "id, project_id, event, contact_id, sent_contact_id, external_id, email, \
     payload, occurred_at, received_at, stored_at, idempotency_key, source, region";

/// One row as the aggregator would store it.
pub struct Row {
    id: Uuid,
    contact: Uuid,
    key: String,
    email: String,
    payload: String,
    at: i64,
}

/// `n` rows exactly like the events the aggregator drains: the same idempotency keys and
/// the ids the agent derives from them, the same emails (1000 contacts) and payload.
pub fn rows(n: usize, run: &str, payload: &str) -> Vec<Row> {
    let contacts: Vec<Uuid> = (0..1000).map(|_| Uuid::now_v7()).collect();
    let at = sendrealm_common::event::Timestamp::now().unix_millis();
    (0..n)
        .map(|i| {
            let key = format!("bench-{run}-{i}");
            Row {
                id: Uuid::parse_str(&sendrealm_common::id::event_id_for_key("proj_bench", &key))
                    .expect("event ids are UUIDs"),
                contact: contacts[i % contacts.len()],
                key,
                email: format!("user{}@example.com", i % 1000),
                payload: payload.to_owned(),
                at,
            }
        })
        .collect()
}

fn sqlite_options(path: &std::path::Path) -> sqlx::sqlite::SqliteConnectOptions {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    // The aggregator's settings: WAL, every commit synced.
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
}

/// Inserts every row, `ROWS_PER_STATEMENT` per statement and transaction; rows/s.
async fn sqlite_insert(conn: &mut sqlx::SqliteConnection, rows: &[Row]) -> anyhow::Result<f64> {
    let started = Instant::now();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut tx = conn.begin().await?;
        let one = format!("({})", vec!["?"; 14].join(","));
        let sql = format!(
            // The aggregator's statement shape: `OR IGNORE` keeps SQLite from journalling
            // every page the statement touches.
            "INSERT OR IGNORE INTO events ({COLUMNS}) VALUES {}",
            vec![one.as_str(); chunk.len()].join(",")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(row.id)
                .bind("proj_bench")
                .bind("order.completed")
                .bind(row.contact)
                .bind(None::<Uuid>)
                .bind(None::<String>)
                .bind(&row.email)
                .bind(&row.payload)
                .bind(row.at)
                .bind(row.at)
                .bind(row.at)
                .bind(&row.key)
                .bind("api")
                .bind("bench");
        }
        query.execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64())
}

/// SQLite's physical ceiling for these rows: appends to a table with a sequential integer
/// key and no secondary index, WAL, synchronous FULL, 1000-row transactions; rows/s.
pub async fn sqlite_append(dir: &std::path::Path, rows: &[Row]) -> anyhow::Result<f64> {
    let mut conn =
        sqlx::SqliteConnection::connect_with(&sqlite_options(&dir.join("append.db"))).await?;
    sqlx::query(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, id BLOB NOT NULL, project_id TEXT NOT NULL, \
         event TEXT NOT NULL, contact_id BLOB, sent_contact_id BLOB, external_id TEXT, email TEXT, \
         payload TEXT NOT NULL, occurred_at BIGINT NOT NULL, received_at BIGINT NOT NULL, \
         stored_at BIGINT NOT NULL, idempotency_key TEXT, source TEXT NOT NULL, region TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    sqlite_insert(&mut conn, rows).await
}

/// The same rows into the aggregator's own SQLite schema (its indexes), same settings.
pub async fn sqlite_schema(dir: &std::path::Path, rows: &[Row]) -> anyhow::Result<f64> {
    let mut conn =
        sqlx::SqliteConnection::connect_with(&sqlite_options(&dir.join("schema.db"))).await?;
    sqlx::migrate!("../aggregator/migrations/sqlite")
        .run(&mut conn)
        .await?;
    sqlite_insert(&mut conn, rows).await
}

/// One value of PostgreSQL's COPY text format.
fn copy_field(out: &mut String, value: Option<&str>) {
    match value {
        None => out.push_str("\\N"),
        Some(text) => {
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

/// PostgreSQL's physical ceiling for these rows: `COPY` into a table without indexes,
/// 1000 rows per `COPY`; rows/s.
pub async fn postgres_copy(database_url: &str, rows: &[Row]) -> anyhow::Result<f64> {
    let mut conn = sqlx::PgConnection::connect(database_url).await?;
    sqlx::query(
        "CREATE TABLE events_copy (id uuid NOT NULL, project_id text NOT NULL, event text NOT NULL, \
         contact_id uuid, sent_contact_id uuid, external_id text, email text, payload text NOT NULL, \
         occurred_at bigint NOT NULL, received_at bigint NOT NULL, stored_at bigint NOT NULL, \
         idempotency_key text, source text NOT NULL, region text NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    let started = Instant::now();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut data = String::with_capacity(chunk.len() * 400);
        for row in chunk {
            let at = row.at.to_string();
            let fields = [
                Some(row.id.hyphenated().to_string()),
                Some("proj_bench".into()),
                Some("order.completed".into()),
                Some(row.contact.hyphenated().to_string()),
                None,
                None,
                Some(row.email.clone()),
                Some(row.payload.clone()),
                Some(at.clone()),
                Some(at.clone()),
                Some(at),
                Some(row.key.clone()),
                Some("api".into()),
                Some("bench".into()),
            ];
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    data.push('\t');
                }
                copy_field(&mut data, field.as_deref());
            }
            data.push('\n');
        }
        let mut copy = conn
            .copy_in_raw(&format!("COPY events_copy ({COLUMNS}) FROM STDIN"))
            .await?;
        copy.send(data.into_bytes()).await?;
        copy.finish().await?;
    }
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64())
}

/// The same rows into the aggregator's own PostgreSQL schema, as the aggregator writes
/// them (one `UNNEST` insert per 1000 rows, skipping existing ids); rows/s.
pub async fn postgres_schema(database_url: &str, rows: &[Row]) -> anyhow::Result<f64> {
    let mut conn = sqlx::PgConnection::connect(database_url).await?;
    sqlx::migrate!("../aggregator/migrations/postgres")
        .run(&mut conn)
        .await?;
    let started = Instant::now();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let column = |f: &dyn Fn(&Row) -> String| chunk.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO events (id, project_id, event, contact_id, email, payload, occurred_at, \
             received_at, stored_at, idempotency_key, source, region) \
             SELECT i, 'proj_bench', 'order.completed', c, m, p, t, t, t, k, 'api', 'bench' \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int8[], $6::text[]) \
             AS r(i, c, m, p, t, k) ON CONFLICT DO NOTHING",
        )
        .bind(chunk.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.contact).collect::<Vec<_>>())
        .bind(column(&|r| r.email.clone()))
        .bind(column(&|r| r.payload.clone()))
        .bind(chunk.iter().map(|r| r.at).collect::<Vec<_>>())
        .bind(column(&|r| r.key.clone()))
        .execute(&mut conn)
        .await?;
    }
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64())
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
