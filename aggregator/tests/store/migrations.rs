//! Upgrading a database written by the release before this schema: every row survives.

use sendrealm_aggregator::config::DatabaseConfig;
use sendrealm_aggregator::plan::WriteOutcome;
use sendrealm_aggregator::store::{EventFilter, Store};
use sendrealm_common::id::event_id_for_key;
use sqlx::Connection;
use uuid::Uuid;

use crate::support::{Backend, on_both, store_batch};

/// The last migration of the release that wrote text ids (`evt_…`, `ct_…`).
const OLD_VERSION: i64 = 3;
/// Events written at the old schema.
const EVENTS: usize = 30;

fn legacy(prefix: &str, uuid: Uuid) -> String {
    format!("{prefix}{}", uuid.simple())
}

/// What the old release stored: a project, 3 contacts with identifiers, 30 events (keyed,
/// so their ids derive from their keys), a conflict, an outbox row, a dead letter.
fn old_rows() -> (Vec<String>, Vec<Uuid>, Vec<Uuid>) {
    let contacts: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let mut events = Vec::new();
    let mut sql = vec![
        "INSERT INTO projects VALUES ('proj_old', 'old', 32768, 100, 200, 7776000, 1, 1)"
            .to_owned(),
        "INSERT INTO api_keys VALUES ('key_old', 'proj_old', 'hash_old', 'srk_old', 1, NULL)"
            .to_owned(),
    ];
    for (i, c) in contacts.iter().enumerate() {
        sql.push(format!(
            "INSERT INTO contacts VALUES ('{}', 'proj_old', 1)",
            legacy("ct_", *c)
        ));
        sql.push(format!(
            "INSERT INTO contact_identifiers VALUES ('proj_old', 'email', 'u{i}@x.co', '{}', 1)",
            legacy("ct_", *c)
        ));
    }
    for n in 0..EVENTS {
        let key = format!("k{n}");
        let id = Uuid::parse_str(&event_id_for_key("proj_old", &key)).unwrap();
        events.push(id);
        let contact = legacy("ct_", contacts[n % 3]);
        // Every third event was sent with its contact id.
        let sent = if n % 3 == 0 {
            format!("'{contact}'")
        } else {
            "NULL".into()
        };
        sql.push(format!(
            "INSERT INTO events (id, project_id, event, contact_id, sent_contact_id, external_id, email, \
             payload, occurred_at, received_at, stored_at, idempotency_key, source, region) VALUES \
             ('{}', 'proj_old', 'order.completed', '{contact}', {sent}, NULL, 'u{}@x.co', '{{}}', \
             1, {}, 1, '{key}', 'api', 'eu')",
            legacy("evt_", id),
            n % 3,
            sendrealm_common::event::Timestamp::now().unix_millis() + n as i64,
        ));
    }
    sql.push(format!(
        "INSERT INTO identity_conflicts (project_id, event_id, kind, value, identifier_contact, \
         resolved_contact, created_at) VALUES ('proj_old', '{}', 'email', 'u1@x.co', '{}', '{}', 1)",
        legacy("evt_", events[0]),
        legacy("ct_", contacts[1]),
        legacy("ct_", contacts[0]),
    ));
    sql.push("INSERT INTO outbox VALUES ('evt_00000000000000000000000000000001', 'proj_old', 's', 'm', '{}', 1)".into());
    sql.push(
        "INSERT INTO dead_letters VALUES ('dlq_old', 'SENDREALM_EVENTS', 99, 'proj_old', 's', NULL, '{}', \
         '{not json', FALSE, FALSE, 'terminated', 'e', 1, 1, 1, 1, NULL, 0)"
            .into(),
    );
    (sql, contacts, events)
}

async fn write_old(url: &str, backend: Backend, sql: &[String]) {
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(name);
    let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    macro_rules! fill {
        ($conn:expr) => {{
            let mut conn = $conn;
            migrator.run_to(OLD_VERSION, &mut conn).await.unwrap();
            for statement in sql {
                sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }};
    }
    match backend {
        Backend::Sqlite => {
            let options = url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true);
            fill!(
                sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap()
            )
        }
        Backend::Postgres => fill!(sqlx::PgConnection::connect(url).await.unwrap()),
    }
}

async fn an_old_database_upgrades_without_losing_rows(backend: Backend) {
    let (url, _sqlite, _pg) = backend.database().await;
    let (sql, contacts, events) = old_rows();
    write_old(&url, backend, &sql).await;

    let store = Store::open(&url, &DatabaseConfig::default()).await.unwrap();
    let count = |table: &'static str| {
        let url = url.clone();
        async move {
            let sql: &'static str = match table {
                "events" => "SELECT count(*) FROM events",
                "contacts" => "SELECT count(*) FROM contacts",
                "contact_identifiers" => "SELECT count(*) FROM contact_identifiers",
                "identity_conflicts" => "SELECT count(*) FROM identity_conflicts",
                "outbox" => "SELECT count(*) FROM outbox",
                _ => "SELECT count(*) FROM dead_letters",
            };
            sendrealm_e2e::db::count(&url, sql, &[]).await
        }
    };
    assert_eq!(count("events").await, EVENTS as i64);
    assert_eq!(count("contacts").await, 3);
    assert_eq!(count("contact_identifiers").await, 3);
    assert_eq!(count("identity_conflicts").await, 1);
    assert_eq!(count("outbox").await, 1);
    assert_eq!(count("dead_letters").await, 1);

    // Same ids, same contacts, same order.
    let rows = store
        .events(&EventFilter {
            project_id: Some("proj_old".into()),
            limit: 100,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    let mut stored: Vec<Uuid> = rows.iter().rev().map(|r| r.id).collect();
    assert_eq!(stored, events, "every event, in its original order");
    stored.dedup();
    for (n, row) in rows.iter().rev().enumerate() {
        assert_eq!(row.contact_id, Some(contacts[n % 3]));
        assert_eq!(row.sent_contact_id, (n % 3 == 0).then_some(contacts[n % 3]));
    }
    assert_eq!(
        store
            .contact_for("proj_old", "email", "u2@x.co")
            .await
            .unwrap(),
        Some(contacts[2])
    );
    assert_eq!(store.identifiers(contacts[1]).await.unwrap().len(), 1);

    // The upgraded database takes new events, and an old key still names its event.
    let mut again =
        crate::support::incoming("proj_old", "order.completed", (None, None, Some("u0@x.co")));
    again.id = events[5];
    again.event.id = events[5].hyphenated().to_string();
    let fresh =
        crate::support::incoming("proj_old", "order.completed", (None, None, Some("u0@x.co")));
    let outcomes = store_batch(&store, &[again, fresh]).await;
    assert_eq!(outcomes[0], WriteOutcome::Duplicate);
    assert_eq!(
        outcomes[1],
        WriteOutcome::Stored {
            contact_id: Some(contacts[0])
        }
    );
    assert_eq!(count("events").await, EVENTS as i64 + 1);
    store.close().await;
}

on_both!(
    an_old_database_upgrades_without_losing_rows,
    super::an_old_database_upgrades_without_losing_rows
);
