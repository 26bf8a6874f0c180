//! A fresh store per test on either backend, and builders for the rows tests write.

use sendrealm_aggregator::catalog::Limits;
use sendrealm_aggregator::catalog_folder::{self, Pass};
use sendrealm_aggregator::config::DatabaseConfig;
use sendrealm_aggregator::plan::{self, Incoming, WriteOutcome};
use sendrealm_aggregator::store::{ApiKeyRow, ProjectRow, Store};
use sendrealm_aggregator::system_events::SystemEvents;
use sendrealm_common::event::{Event, EventObject, Source, Timestamp};
use sendrealm_e2e::postgres::PgDatabase;
use uuid::Uuid;

/// A store on a fresh database; keeps the database alive while the test runs.
pub struct Fresh {
    /// The store, migrated.
    pub store: Store,
    /// Its URL.
    pub url: String,
    _sqlite: Option<tempfile::TempDir>,
    _postgres: Option<PgDatabase>,
}

/// The backends a test body runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// A SQLite file in a temp dir.
    Sqlite,
    /// A throwaway PostgreSQL database.
    Postgres,
}

impl Backend {
    /// A fresh database URL of this backend, and what keeps it alive.
    pub async fn database(self) -> (String, Option<tempfile::TempDir>, Option<PgDatabase>) {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("store.db").display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let db = PgDatabase::require().await;
                (db.url.clone(), None, Some(db))
            }
        }
    }

    /// A migrated store on a fresh database.
    pub async fn fresh(self) -> Fresh {
        let (url, sqlite, postgres) = self.database().await;
        let store = Store::open(&url, &DatabaseConfig::default()).await.unwrap();
        Fresh {
            store,
            url,
            _sqlite: sqlite,
            _postgres: postgres,
        }
    }
}

/// Declares `mod $name { sqlite(); postgres(); }`, each running `$body(Backend)`.
macro_rules! on_both {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                $body($crate::support::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                $body($crate::support::Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use on_both;

/// A project row with defaults.
pub fn project(id: &str, now: i64) -> ProjectRow {
    ProjectRow {
        id: id.into(),
        name: format!("{id} name"),
        event_payload_limit_bytes: 32_768,
        rate_limit_per_sec: 100,
        rate_limit_burst: 200,
        retention_secs: 86_400,
        max_active_waits: None,
        created_at: now,
        updated_at: now,
    }
}

/// A key row.
pub fn key(id: &str, project_id: &str, hash: &str, now: i64) -> ApiKeyRow {
    ApiKeyRow {
        id: id.into(),
        project_id: project_id.into(),
        key_hash: hash.into(),
        prefix: "sk_test_".into(),
        created_at: now,
        revoked_at: None,
    }
}

/// Creates a project (with one key) in the store.
pub async fn with_project(store: &Store, id: &str) {
    store
        .insert_project(
            &project(id, 1),
            &key(&format!("key_{id}"), id, &format!("hash_{id}"), 1),
        )
        .await
        .unwrap();
}

/// An event as the consumer decodes it.
pub fn incoming(
    project_id: &str,
    name: &str,
    identity: (Option<Uuid>, Option<&str>, Option<&str>),
) -> Incoming {
    let id = Uuid::now_v7();
    let (contact, external_id, email) = identity;
    Incoming {
        event: Event {
            id: id.hyphenated().to_string(),
            object: EventObject::Event,
            project_id: project_id.into(),
            event: name.into(),
            contact_id: contact.map(|c| c.hyphenated().to_string()),
            external_id: external_id.map(str::to_owned),
            email: email.map(str::to_owned),
            payload: serde_json::value::to_raw_value(&serde_json::json!({"n": 1})).unwrap(),
            occurred_at: Timestamp::from_unix_millis(1_000),
            received_at: Timestamp::now(),
            idempotency_key: None,
            source: Source::Api,
            region: "eu".into(),
        },
        id,
        sent_contact: contact,
    }
}

/// Stores a batch the way the consumer does: lookups, plan, write, settle.
pub async fn store_batch(store: &Store, events: &[Incoming]) -> Vec<WriteOutcome> {
    let system = SystemEvents {
        subject_prefix: "sendrealm.events".into(),
        region: "central".into(),
    };
    let now = Timestamp::now().unix_millis();
    let written = store
        .write_batch(&plan::lookups(events), now, |found| {
            let (mut writes, outcomes) = plan::plan_batch(events, found, &system, now);
            // As the consumer does with the catalog on (the default).
            writes.catalog = true;
            (writes, outcomes)
        })
        .await
        .unwrap();
    plan::settle(events, written.decided, &written.inserted)
}

/// Folds everything queued into the catalog, as the aggregator's folder does.
pub async fn fold_catalog(store: &Store) {
    loop {
        let now = Timestamp::now().unix_millis();
        match catalog_folder::pass(
            store,
            &sendrealm_aggregator::catalog_handoff::Handoff::default(),
            Limits::default(),
            now,
        )
        .await
        .unwrap()
        {
            Pass::Idle => return,
            Pass::Folded(_) | Pass::Raced => {}
        }
    }
}

/// The event with this payload instead.
pub fn with_payload(mut incoming: Incoming, payload: serde_json::Value) -> Incoming {
    incoming.event.payload = serde_json::value::to_raw_value(&payload).unwrap();
    incoming
}

/// The contact of a stored outcome.
pub fn contact_of(outcome: &WriteOutcome) -> Option<Uuid> {
    match outcome {
        WriteOutcome::Stored { contact_id } => *contact_id,
        WriteOutcome::Duplicate => panic!("expected a stored event, got a duplicate"),
    }
}
