//! Upgrading a database written by a release with `evt_…` / `ct_…` ids: its events keep
//! serving, under the same ids in canonical UUID form, and their idempotency keys still
//! name them.

use std::time::Duration;

use sendrealm_common::apikey::hash_api_key_hex;
use sendrealm_common::id::event_id_for_key;
use sendrealm_e2e::agent::Agent;
use sendrealm_e2e::aggregator::{ADMIN_TOKEN, AdminCli, Aggregator};
use sendrealm_e2e::nats::NatsServer;
use sendrealm_e2e::stack::Database;
use sendrealm_e2e::{db, wait};
use sqlx::Connection;

use crate::docs_example;

const PROJECT: &str = "proj_legacy";
const KEY: &str = "srk_legacy_key_of_an_earlier_release";
const CONTACT_HEX: &str = "0190b0a07c3e7a1b9c2d3e4f5a6b7c8d";
/// The last migration of the release that wrote `evt_` / `ct_` ids.
const OLD_SCHEMA_VERSION: i64 = 3;

fn canonical(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Statements that write what the earlier release stored for the docs example.
fn legacy_rows(event_hex: &str) -> Vec<String> {
    // Recent: retention must not purge it while the test runs.
    let now = sendrealm_common::event::Timestamp::now().unix_millis();
    vec![
        format!(
            "INSERT INTO projects VALUES ('{PROJECT}', 'legacy', 32768, 1000, 1000, 7776000, {now}, {now})"
        ),
        format!(
            "INSERT INTO api_keys VALUES ('key_legacy', '{PROJECT}', '{}', 'srk_legacy_k', {now}, NULL)",
            hash_api_key_hex(KEY)
        ),
        format!("INSERT INTO contacts VALUES ('ct_{CONTACT_HEX}', '{PROJECT}', {now})"),
        format!(
            "INSERT INTO contact_identifiers VALUES ('{PROJECT}', 'email', 'olivia@example.com', 'ct_{CONTACT_HEX}', {now})"
        ),
        format!(
            "INSERT INTO events (id, project_id, event, contact_id, sent_contact_id, external_id, email, \
             payload, occurred_at, received_at, stored_at, idempotency_key, source, region) VALUES \
             ('evt_{event_hex}', '{PROJECT}', 'order.completed', 'ct_{CONTACT_HEX}', NULL, NULL, \
             'olivia@example.com', '{{\"order_id\": \"ord_123\"}}', {now}, {now}, {now}, \
             'evt_order_completed_ord_123', 'api', 'eu')"
        ),
    ]
}

/// Brings a database to the old schema and fills it.
async fn write_old_database(url: &str, backend: &str, event_hex: &str) {
    let dir = sendrealm_e2e::repo_root().join(format!("aggregator/migrations/{backend}"));
    let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    if backend == "sqlite" {
        let options = url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        migrator
            .run_to(OLD_SCHEMA_VERSION, &mut conn)
            .await
            .unwrap();
        for sql in legacy_rows(event_hex) {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        migrator
            .run_to(OLD_SCHEMA_VERSION, &mut conn)
            .await
            .unwrap();
        for sql in legacy_rows(event_hex) {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

async fn old_ids_keep_serving_after_the_upgrade(database: Database) {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (url, backend) = match &database {
        Database::Sqlite => (
            format!("sqlite://{}", dir.path().join("old.db").display()),
            "sqlite",
        ),
        Database::Postgres(pg) => (pg.url.clone(), "postgres"),
    };
    let event_id = event_id_for_key(PROJECT, "evt_order_completed_ord_123");
    let event_hex = event_id.replace('-', "");
    write_old_database(&url, backend, &event_hex).await;

    let cli = AdminCli::with_database(&nats, &url);
    let aggregator = Aggregator::start(&nats, &cli, &[]).await;

    // The old ids are read in both forms and answered in canonical form.
    for asked in [format!("evt_{event_hex}"), event_id.clone()] {
        let (status, event) = aggregator
            .get_data(&format!("/v1/events/{asked}"), ADMIN_TOKEN)
            .await;
        assert_eq!(status, 200, "{asked}: {event}");
        assert_eq!(event["id"], event_id.as_str());
        assert_eq!(event["contact_id"], canonical(CONTACT_HEX).as_str());
        assert_eq!(event["resolved_identity_type"], "email");
    }
    let (status, contact) = aggregator
        .get_data(&format!("/v1/contacts/ct_{CONTACT_HEX}"), ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["id"], canonical(CONTACT_HEX).as_str());
    assert_eq!(contact["identifiers"][0]["value"], "olivia@example.com");
    let (status, page) = aggregator
        .get(
            &format!("/v1/events?project_id={PROJECT}&email=olivia@example.com"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"][0]["id"], event_id.as_str());
    assert_eq!(
        db::count_ids(
            &url,
            "SELECT count(*) FROM events WHERE id = $1 AND contact_id = $2",
            &[&event_id, &canonical(CONTACT_HEX)]
        )
        .await,
        1,
        "the stored ids are the same 128 bits, now as UUIDs"
    );

    // The old key still authenticates, and the same idempotency key still names the
    // stored event: sending it again stores nothing new.
    let agent = Agent::start(&nats, &[]).await;
    let reply = wait::until(
        Duration::from_secs(10),
        "the legacy key to reach the agent",
        || async {
            let reply = agent.send_event(KEY, &docs_example()).await;
            (reply.status != 401).then_some(reply)
        },
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(reply.data()["id"], event_id.as_str());
    wait::until(
        Duration::from_secs(20),
        "the resend to be consumed",
        || async {
            let (_, text) = aggregator.get_plain("/metrics").await;
            text.contains("sendrealm_aggregator_events_total{outcome=\"duplicate\"} 1")
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        db::count(
            &url,
            "SELECT count(*) FROM events WHERE project_id = $1",
            &[PROJECT]
        )
        .await,
        1
    );
    agent.stop();
    aggregator.stop();
}

#[tokio::test]
async fn old_ids_keep_serving_after_the_upgrade_on_sqlite() {
    old_ids_keep_serving_after_the_upgrade(Database::Sqlite).await;
}

#[tokio::test]
async fn old_ids_keep_serving_after_the_upgrade_on_postgres() {
    let database = Database::postgres().await;
    old_ids_keep_serving_after_the_upgrade(database).await;
}
