//! The aggregator's configuration (see `config/aggregator.example.toml`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use sendrealm_common::config::{self, ConfigError, NatsConfig};

/// Everything the aggregator reads from its config file and `SENDREALM_*` environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregatorConfig {
    /// Address of the admin/read API and dashboards.
    pub listen: String,
    /// The database.
    pub database: DatabaseConfig,
    /// Region stamped on the system events this aggregator emits.
    pub region: String,
    /// SHA-256 (hex) of the admin token for the read API across projects; unset: no
    /// admin access. `sendrealm-aggregator admin-token` makes one.
    pub admin_token_sha256: Option<String>,
    /// SHA-256 (hex) of a token `/metrics` requires as `Authorization: Bearer` (the admin
    /// token works too); unset: `/metrics` is open.
    pub metrics_token_sha256: Option<String>,
    /// NATS connection, events stream and policy bucket.
    pub nats: NatsConfig,
    /// The durable consumer.
    pub consumer: ConsumerConfig,
    /// The database purge.
    pub retention: RetentionConfig,
    /// The event catalog.
    pub catalog: CatalogConfig,
    /// The dead-letter queue.
    pub dlq: DlqConfig,
    /// The owner dashboard and backoffice pages.
    pub dashboard: DashboardConfig,
    /// Fault injection, for dead-letter drills.
    pub faults: FaultsConfig,
    /// Regions whose leaf nodes feed the events stream (docs/deploy.md).
    pub regions: RegionsConfig,
    /// How long shutdown waits for the current batch to commit and ack.
    pub shutdown_timeout_secs: u64,
    /// How often the policy bucket is compared with the database and corrected (a change
    /// the CLI could not publish while NATS was away reaches agents this soon after).
    pub policy_reconcile_secs: u64,
}

/// The durable pull consumer on the events stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// Durable name; aggregators sharing it share the work.
    pub durable: String,
    /// Most messages per pull request.
    pub batch_size: usize,
    /// Most events stored in one transaction. Transactions grow to this while a backlog
    /// exists (each commit and index page is then shared by many events) and stay small
    /// when the pipeline is idle.
    pub max_transaction_events: usize,
    /// Transactions in flight at once; unset: 1 on SQLite (one writer: a second
    /// transaction would only wait for the connection, its wait counted as latency) and 4
    /// on PostgreSQL (transactions overlap there, up to the pool size).
    pub concurrency: Option<usize>,
    /// Deliveries before an event goes to the dead-letter queue.
    pub max_deliver: i64,
    /// Wait before each redelivery (ack timeout or failure), growing; at most
    /// `max_deliver` entries.
    pub backoff_ms: Vec<u64>,
    /// Unacknowledged events the server lets this consumer hold.
    pub max_ack_pending: i64,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            durable: "sendrealm-aggregator".into(),
            batch_size: 1_000,
            max_transaction_events: 10_000,
            concurrency: None,
            max_deliver: 6,
            backoff_ms: vec![10_000, 30_000, 60_000, 300_000, 900_000],
            max_ack_pending: 20_000,
        }
    }
}

/// The dead-letter queue: advisory capture, DLQ stream, worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DlqConfig {
    /// Limits stream capturing the consumer's MAX_DELIVERIES and MSG_TERMINATED advisories.
    pub advisory_stream: String,
    /// How long captured advisories are kept (the worker normally handles them at once).
    pub advisory_max_age_days: u64,
    /// Stream holding a copy of every dead letter.
    pub stream: String,
    /// Its subjects are `<subject_prefix>.<project_id>`.
    pub subject_prefix: String,
    /// How long copies stay in the DLQ stream (records stay in the database until purged).
    pub max_age_days: u64,
    /// Durable name of the advisory worker.
    pub durable: String,
}

impl Default for DlqConfig {
    fn default() -> Self {
        DlqConfig {
            advisory_stream: "SENDREALM_ADVISORIES".into(),
            advisory_max_age_days: 7,
            stream: "SENDREALM_DLQ".into(),
            subject_prefix: "sendrealm.dlq".into(),
            max_age_days: 30,
            durable: "sendrealm-dlq".into(),
        }
    }
}

/// Fault injection: makes chosen projects' events fail as if the database were down, to
/// rehearse retries and dead-lettering. Empty in production.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultsConfig {
    /// Projects whose events fail transiently on every delivery.
    pub fail_projects: Vec<String>,
}

/// Regions: each a NATS leaf node with its own JetStream domain, where agents publish to a
/// regional stream that the hub's events stream sources. Empty: one NATS for everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegionsConfig {
    /// Region names, each also its leaf's JetStream domain and its agents' `region`.
    pub names: Vec<String>,
    /// The hub's JetStream domain (where this aggregator's streams and policy bucket are).
    pub hub_domain: String,
    /// How long a region keeps its events: the longest hub outage it rides out.
    pub keep_days: u64,
    /// Most bytes a region's stream holds; when full, its agents answer `503` rather than
    /// drop anything. 0: bounded by the leaf's JetStream storage only.
    pub max_bytes: u64,
    /// How often regions are checked: provisioning retried, source lag exported.
    pub check_secs: u64,
}

impl Default for RegionsConfig {
    fn default() -> Self {
        RegionsConfig {
            names: Vec::new(),
            hub_domain: "hub".into(),
            keep_days: 7,
            max_bytes: 0,
            check_secs: 10,
        }
    }
}

/// The database purge of expired events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How often expired events are deleted.
    pub purge_interval_secs: u64,
    /// Rows per delete statement.
    pub purge_batch: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            purge_interval_secs: 60,
            purge_batch: 1_000,
        }
    }
}

/// The owner dashboard and backoffice pages (docs/dashboard.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// Mark session cookies `Secure` (with the `__Host-` prefix): set it whenever browsers
    /// reach the aggregator over HTTPS, as they must outside a local machine.
    pub secure_cookies: bool,
}

/// The event catalog (docs/catalog.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Whether stored events are folded into the catalog.
    pub enabled: bool,
    /// Events of an entry that form its baseline: fields and types first seen among them
    /// are not drift.
    pub baseline_events: u64,
    /// A field is reported missing once absent from at least this many latest events of
    /// its entry…
    pub missing_after_events: u64,
    /// …and for at least this long.
    pub missing_after_secs: u64,
    /// Redacted examples kept per entry.
    pub examples: usize,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        let limits = crate::catalog::Limits::default();
        CatalogConfig {
            enabled: true,
            baseline_events: limits.baseline_events,
            missing_after_events: limits.missing_after_events,
            missing_after_secs: (limits.missing_after_ms / 1000) as u64,
            examples: limits.examples,
        }
    }
}

impl CatalogConfig {
    /// The catalog's bounds, or `None` when the catalog is off.
    pub fn limits(&self) -> Option<crate::catalog::Limits> {
        self.enabled.then(|| crate::catalog::Limits {
            baseline_events: self.baseline_events,
            missing_after_events: self.missing_after_events,
            missing_after_ms: i64::try_from(self.missing_after_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            examples: self.examples,
            ..crate::catalog::Limits::default()
        })
    }
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            listen: "127.0.0.1:8081".into(),
            database: DatabaseConfig::default(),
            region: "central".into(),
            admin_token_sha256: None,
            metrics_token_sha256: None,
            nats: NatsConfig::default(),
            consumer: ConsumerConfig::default(),
            retention: RetentionConfig::default(),
            catalog: CatalogConfig::default(),
            dlq: DlqConfig::default(),
            dashboard: DashboardConfig::default(),
            faults: FaultsConfig::default(),
            regions: RegionsConfig::default(),
            shutdown_timeout_secs: 20,
            policy_reconcile_secs: 10,
        }
    }
}

/// Where data lives: SQLite (the default, embedded) or PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: Option<String>,
    /// A file holding the URL (for secrets via systemd `LoadCredential=`).
    pub url_file: Option<PathBuf>,
    /// Pool size for PostgreSQL. SQLite always uses one connection: one writer, no
    /// lock contention between our own connections.
    pub max_connections: u32,
    /// SQLite durability: `full` syncs every commit, so an acked event survives a power
    /// loss; `normal` is faster but a power loss can drop the last commits, whose
    /// messages were already acked and are not redelivered.
    pub sqlite_synchronous: SqliteSync,
}

/// SQLite's `synchronous` setting (WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSync {
    /// Sync on every commit.
    Full,
    /// Sync at checkpoints only.
    Normal,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            url_file: None,
            max_connections: 8,
            sqlite_synchronous: SqliteSync::Full,
        }
    }
}

/// The database URL used when none is configured.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://sendrealm.db";

impl DatabaseConfig {
    /// The effective URL, reading `url_file` if that is how it was given.
    pub fn resolved_url(&self) -> Result<String, ConfigError> {
        Ok(
            config::secret(self.url.as_deref(), self.url_file.as_deref())?
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
        )
    }
}

impl AggregatorConfig {
    /// Checks relations between values that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database.resolved_url()?;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(ConfigError::Inconsistent(
                "database.url must start with sqlite:, postgres: or postgresql:".into(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Inconsistent(
                "database.max_connections must be positive".into(),
            ));
        }
        let regions = &self.regions;
        if let Some(bad) = regions
            .names
            .iter()
            .chain(std::iter::once(&regions.hub_domain))
            .find(|n| n.len() > 64 || !sendrealm_common::subjects::is_token(n))
        {
            return Err(ConfigError::Inconsistent(format!(
                "region and domain names are 1-64 letters, digits, '-' or '_': {bad:?}"
            )));
        }
        if regions.names.contains(&regions.hub_domain) {
            return Err(ConfigError::Inconsistent(
                "regions.names must not include regions.hub_domain".into(),
            ));
        }
        if regions.keep_days == 0 || regions.check_secs == 0 {
            return Err(ConfigError::Inconsistent(
                "regions.keep_days and regions.check_secs must be positive".into(),
            ));
        }
        for (name, hash) in [
            ("admin_token_sha256", &self.admin_token_sha256),
            ("metrics_token_sha256", &self.metrics_token_sha256),
        ] {
            if hash
                .as_deref()
                .is_some_and(|h| sendrealm_common::apikey::parse_key_hash(h).is_none())
            {
                return Err(ConfigError::Inconsistent(format!(
                    "{name} must be 64 hex digits (a SHA-256)"
                )));
            }
        }
        Ok(())
    }

    /// A copy safe to print: the database URL's password is masked.
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        if let Some(url) = &copy.database.url {
            copy.database.url = Some(redact_url(url));
        }
        copy
    }
}

/// Masks the password of `scheme://user:password@host/...`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_matches_the_defaults() {
        let example: AggregatorConfig =
            toml::from_str(include_str!("../../config/aggregator.example.toml")).unwrap();
        assert_eq!(example, AggregatorConfig::default());
        example.validate().unwrap();
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
