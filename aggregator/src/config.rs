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
    /// NATS connection, events stream and policy bucket.
    pub nats: NatsConfig,
    /// How long shutdown waits for the current batch to commit and ack.
    pub shutdown_timeout_secs: u64,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            listen: "127.0.0.1:8081".into(),
            database: DatabaseConfig::default(),
            nats: NatsConfig::default(),
            shutdown_timeout_secs: 20,
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
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            url_file: None,
            max_connections: 8,
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
