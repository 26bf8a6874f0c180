//! The databases: their ceilings, and the aggregator draining a pre-filled stream into
//! each, as ratios to those ceilings (and, when given, against an earlier release).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sendrealm_common::event::{Event, EventObject, Source, Timestamp};
use sendrealm_common::subjects::{DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX, event_subject};
use sendrealm_e2e::aggregator::{AdminCli, Aggregator};
use sendrealm_e2e::nats::NatsServer;
use sendrealm_e2e::postgres::PgDatabase;

use crate::measure::cpu_secs;
use crate::report::Findings;
use crate::{Plan, ceilings};

/// Ceilings and drains for SQLite, then PostgreSQL when reachable. Returns the SQLite
/// drain rate (what the pipeline's end-to-end phase is sized by).
pub async fn run(
    plan: &Plan,
    body: &[u8],
    baseline: Option<&PathBuf>,
    findings: &mut Findings,
) -> anyhow::Result<f64> {
    let request: sendrealm_common::event::EventRequest = serde_json::from_slice(body)?;
    let payload = request
        .payload
        .map(|p| p.get().to_owned())
        .unwrap_or_default();
    let rows = ceilings::rows(plan.drain_events as usize, "drain", &payload);
    let dir = tempfile::tempdir()?;

    let append = ceilings::sqlite_append(dir.path(), &rows).await?;
    findings.rate(
        "SQLite append ceiling (sequential key, no index, WAL, synchronous FULL, 1000-row tx)",
        "rows/s",
        append,
    );
    let schema = ceilings::sqlite_schema(dir.path(), &rows).await?;
    findings.rate(
        "raw insert into the aggregator's SQLite schema (same settings)",
        "rows/s",
        schema,
    );
    let drained = drain(plan, None, &[], true, 0).await?;
    let sqlite_drain = drained.rate;
    findings.rate("aggregator draining into SQLite", "events/s", sqlite_drain);
    drained.note_cpu("SQLite", findings);
    findings.at_least(
        "aggregator / SQLite append ceiling",
        sqlite_drain / append,
        0.25,
    );
    findings.note(
        "aggregator / raw insert into its own SQLite schema",
        format!("{:.2}", sqlite_drain / schema),
    );
    eprintln!(
        "SQLite: append {append:.0} rows/s, own schema {schema:.0} rows/s, aggregator {sqlite_drain:.0} events/s"
    );
    if let Some(dir) = baseline {
        let before = with_binaries(dir, drain(plan, None, &[], false, 0))
            .await?
            .rate;
        findings.rate(
            "earlier release's aggregator draining into SQLite",
            "events/s",
            before,
        );
        findings.at_least(
            "aggregator / earlier release (SQLite)",
            sqlite_drain / before,
            3.0,
        );
        eprintln!("SQLite: earlier release {before:.0} events/s");
    }
    catalog_cost(plan, None, sqlite_drain, "SQLite", findings).await?;
    waits_cost(plan, sqlite_drain, findings).await?;

    let Some(copy_db) = PgDatabase::create().await else {
        findings.note("PostgreSQL", "not reachable; skipped");
        return Ok(sqlite_drain);
    };
    let copy = ceilings::postgres_copy(&copy_db.url, &rows).await?;
    findings.rate(
        "PostgreSQL COPY ceiling (no index, 1000 rows per COPY)",
        "rows/s",
        copy,
    );
    let schema_db = PgDatabase::require().await;
    let schema = ceilings::postgres_schema(&schema_db.url, &rows).await?;
    findings.rate(
        "raw insert into the aggregator's PostgreSQL schema (UNNEST, 1000 rows)",
        "rows/s",
        schema,
    );
    let drain_db = PgDatabase::require().await;
    let drained = drain(plan, Some(&drain_db), &[], true, 0).await?;
    let pg_drain = drained.rate;
    findings.rate("aggregator draining into PostgreSQL", "events/s", pg_drain);
    drained.note_cpu("PostgreSQL", findings);
    findings.at_least("aggregator / PostgreSQL COPY ceiling", pg_drain / copy, 0.5);
    findings.note(
        "aggregator / raw insert into its own PostgreSQL schema",
        format!("{:.2}", pg_drain / schema),
    );
    eprintln!(
        "PostgreSQL: COPY {copy:.0} rows/s, own schema {schema:.0} rows/s, aggregator {pg_drain:.0} events/s"
    );
    let off_db = PgDatabase::require().await;
    catalog_cost(plan, Some(&off_db), pg_drain, "PostgreSQL", findings).await?;
    if let Some(dir) = baseline {
        let db = PgDatabase::require().await;
        let before = with_binaries(dir, drain(plan, Some(&db), &[], false, 0))
            .await?
            .rate;
        findings.rate(
            "earlier release's aggregator draining into PostgreSQL",
            "events/s",
            before,
        );
        findings.note(
            "aggregator / earlier release (PostgreSQL)",
            format!("{:.2}", pg_drain / before),
        );
    }
    Ok(sqlite_drain)
}

/// The drain again with the event catalog off: what keeping the catalog costs, as the
/// ratio of the drain with it (`with_catalog`) to the drain without.
async fn catalog_cost(
    plan: &Plan,
    postgres: Option<&PgDatabase>,
    with_catalog: f64,
    backend: &str,
    findings: &mut Findings,
) -> anyhow::Result<()> {
    let without = drain(
        plan,
        postgres,
        &[("SENDREALM_CATALOG__ENABLED", "false")],
        false,
        0,
    )
    .await?
    .rate;
    findings.rate(
        &format!("aggregator draining into {backend}, catalog off"),
        "events/s",
        without,
    );
    findings.at_least(
        &format!("drain with the catalog / without ({backend})"),
        with_catalog / without,
        0.85,
    );
    eprintln!("{backend}: catalog off {without:.0} events/s");
    Ok(())
}

/// Open waits the waits phase registers before draining.
const OPEN_WAITS: usize = 100_000;

/// The drain again with 100 000 open waits for the drained event name (for other
/// contacts, so none resolves): what matching costs the drain.
async fn waits_cost(plan: &Plan, without: f64, findings: &mut Findings) -> anyhow::Result<()> {
    let with_waits = drain(plan, None, &[], true, OPEN_WAITS).await?.rate;
    findings.rate(
        "aggregator draining into SQLite with 100 000 open waits",
        "events/s",
        with_waits,
    );
    findings.note(
        "drain with 100 000 open waits / without (SQLite)",
        format!("{:.2}", with_waits / without),
    );
    eprintln!("SQLite: {OPEN_WAITS} open waits {with_waits:.0} events/s");
    Ok(())
}

/// Registers `n` open waits for `event` in a project, straight into the database.
async fn insert_open_waits(
    url: &str,
    project_id: &str,
    event: &str,
    n: usize,
) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let now = Timestamp::now().unix_millis();
    let far = now + 30 * 86_400_000;
    const COLUMNS: &str = "id, project_id, event, identity_type, identity_value, match_json, \
         after_at, timeout_at, metadata, request_hash, status, created_at";
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             INSERT INTO waits ({COLUMNS}) SELECT 'bench-' || i, $2, $3, 'email', \
             'waiter' || i || '@example.com', '{{}}', 0, $4, '{{}}', 'bench', 'waiting', $5 FROM n"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(n as i64)
            .bind(project_id)
            .bind(event)
            .bind(far)
            .bind(now)
            .execute(&mut conn)
            .await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let sql = format!(
            "INSERT INTO waits ({COLUMNS}) SELECT 'bench-' || i, $2, $3, 'email', \
             'waiter' || i || '@example.com', '{{}}', 0, $4, '{{}}', 'bench', 'waiting', $5 \
             FROM generate_series(1, $1::int8) AS i"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(n as i64)
            .bind(project_id)
            .bind(event)
            .bind(far)
            .bind(now)
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

/// Runs a phase with the binaries of `dir` (an earlier release) in place of the built ones.
async fn with_binaries<T>(
    dir: &Path,
    phase: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    sendrealm_e2e::use_bin_dir(Some(dir.to_path_buf()));
    let result = phase.await;
    sendrealm_e2e::use_bin_dir(None);
    result
}

/// What a drain measured.
pub struct Drained {
    /// Events/s.
    pub rate: f64,
    /// CPU per event (µs) of the aggregator and of nats-server while draining: steadier than
    /// the rate on a noisy machine.
    pub cpu_us: (f64, f64),
}

impl Drained {
    /// Notes the CPU per event.
    fn note_cpu(&self, backend: &str, findings: &mut Findings) {
        findings.note(
            format!(
                "aggregator draining into {backend}: CPU per event, aggregator / nats-server (µs)"
            ),
            format!("{:.1} / {:.1}", self.cpu_us.0, self.cpu_us.1),
        );
    }
}

/// Pre-fills a fresh stream with events of a fresh project, then times an aggregator
/// (started with `env`) draining it into SQLite (or the given PostgreSQL database). With
/// `catalog`, the drain ends only once the catalog counts every event too; with
/// `open_waits`, that many waits are open for the drained event name. Events/s.
pub async fn drain(
    plan: &Plan,
    postgres: Option<&PgDatabase>,
    env: &[(&str, &str)],
    catalog: bool,
    open_waits: usize,
) -> anyhow::Result<Drained> {
    let nats = NatsServer::start();
    let cli = match postgres {
        Some(db) => AdminCli::with_database(&nats, &db.url),
        None => AdminCli::sqlite(&nats),
    };
    let project = cli.create_project("drain", &[]).await;
    let js = nats.jetstream().await;
    sendrealm_common::service::ensure_events_stream(
        &js,
        &sendrealm_common::config::StreamConfig::default(),
    )
    .await?;
    let subject = event_subject(DEFAULT_SUBJECT_PREFIX, &project.id, "order.completed");
    let mut inflight = futures::stream::FuturesUnordered::new();
    let now = Timestamp::now();
    for n in 0..plan.drain_events {
        let request: sendrealm_common::event::EventRequest =
            serde_json::from_slice(&crate::bodies::event_body("drain", n))?;
        let event = Event {
            id: sendrealm_common::id::event_id_for_key(
                &project.id,
                request.idempotency_key.as_deref().unwrap_or(""),
            ),
            object: EventObject::Event,
            project_id: project.id.clone(),
            event: request.event,
            contact_id: None,
            external_id: None,
            email: request.email,
            payload: request
                .payload
                .unwrap_or_else(sendrealm_common::event::empty_payload),
            occurred_at: now,
            received_at: now,
            idempotency_key: request.idempotency_key,
            source: Source::Api,
            region: "bench".into(),
        };
        let message = async_nats::jetstream::message::PublishMessage::build()
            .payload(event.to_json().into())
            .message_id(event.msg_id());
        inflight.push(
            js.send_publish(subject.clone(), message)
                .await?
                .into_future(),
        );
        while inflight.len() >= 1024 {
            use futures::StreamExt;
            inflight.next().await.transpose()?;
        }
    }
    {
        use futures::StreamExt;
        while let Some(ack) = inflight.next().await {
            ack?;
        }
    }
    if open_waits > 0 {
        insert_open_waits(
            &cli.database_url(),
            &project.id,
            "order.completed",
            open_waits,
        )
        .await?;
    }
    let mut settings = plan.aggregator_settings();
    settings.extend_from_slice(env);
    let aggregator = Aggregator::start(&nats, &cli, &settings).await;
    let stream = js.get_stream(DEFAULT_STREAM).await?;
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer("sendrealm-aggregator")
        .await
        .map_err(|e| anyhow::anyhow!("consumer: {e}"))?;
    let first = consumer.get_info().await?;
    let remaining_at_start = first.num_pending + first.num_ack_pending as u64;
    let t0 = Instant::now();
    let cpu0 = (cpu_secs(aggregator.pid()), cpu_secs(nats.pid()));
    ceilings::wait_until(Duration::from_secs(600), || async {
        consumer
            .get_info()
            .await
            .is_ok_and(|i| i.num_pending == 0 && i.num_ack_pending == 0)
    })
    .await?;
    if catalog {
        ceilings::wait_until(Duration::from_secs(600), || async {
            let (status, entry) = aggregator
                .get_data("/v1/catalog/order.completed", &project.key)
                .await;
            status == 200 && entry["count"].as_u64() >= Some(plan.drain_events)
        })
        .await?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = (cpu_secs(aggregator.pid()), cpu_secs(nats.pid()));
    if open_waits > 0 {
        // Matching trails the drain: say how far behind it finished.
        let url = cli.database_url();
        ceilings::wait_until(Duration::from_secs(600), || async {
            sendrealm_e2e::db::count(&url, "SELECT count(*) FROM wait_queue", &[]).await == 0
        })
        .await?;
        eprintln!(
            "wait matching caught up {:.1} s after the drain ({open_waits} open waits)",
            t0.elapsed().as_secs_f64() - elapsed
        );
    }
    aggregator.stop();
    // System events (contact.created) were published into the stream while draining; the
    // rate counts the pre-filled events only.
    let events = remaining_at_start.min(plan.drain_events) as f64;
    let per_event = |before: f64, after: f64| (after - before) * 1e6 / events.max(1.0);
    Ok(Drained {
        rate: events / elapsed,
        cpu_us: (per_event(cpu0.0, cpu1.0), per_event(cpu0.1, cpu1.1)),
    })
}
