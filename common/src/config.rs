//! Layered configuration: defaults, then a TOML file, then `SENDREALM_*` environment.
//!
//! Nested keys use `__` in the environment: `SENDREALM_NATS__URL` sets `nats.url`. Unknown
//! keys are errors, so a typo names itself instead of being ignored. The sections both
//! services share ([`NatsConfig`], [`StreamConfig`]) live here; each binary owns its own
//! top-level config type.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::subjects;

/// Exit status for configuration errors (EX_CONFIG from sysexits.h); `check-config` and
/// start-up use it so supervisors can tell a bad config from a crash.
pub const EX_CONFIG: u8 = 78;

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "SENDREALM_";

/// `SENDREALM_*` variables that are not configuration keys: the config path, logging, and
/// the values `scripts/quickstart` writes for shells and clients.
pub const NON_CONFIG_ENV: [&str; 12] = [
    "config",
    "log",
    "log_format",
    "agent_url",
    "aggregator_url",
    "project_id",
    "api_key",
    "nats_url",
    "owner_token",
    "admin_token",
    "bin",
    "test_bin_dir",
];

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` / `SENDREALM_CONFIG` does not exist.
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value is malformed or a key is unknown; figment names the key and its source.
    #[error("{0}")]
    Invalid(#[from] Box<figment::Error>),
    /// The values parse but contradict each other.
    #[error("invalid configuration: {0}")]
    Inconsistent(String),
}

/// Loads `T`: its defaults, overridden by `file` (if any), overridden by the environment.
pub fn load<T>(file: Option<&Path>) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize + Default,
{
    figment::<T>(file)?
        .extract()
        .map_err(|e| ConfigError::Invalid(Box::new(e)))
}

fn figment<T: Serialize + Default>(file: Option<&Path>) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        // /dev/null is the documented way to say "no file, environment only".
        if path != Path::new("/dev/null") {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
    }
    Ok(figment.merge(
        Env::prefixed(ENV_PREFIX)
            .ignore(&NON_CONFIG_ENV)
            .split("__"),
    ))
}

/// Reads a secret given either inline or as a file path (`*_file` keys, for systemd
/// `LoadCredential=`); surrounding whitespace of the file is trimmed.
pub fn secret(inline: Option<&str>, file: Option<&Path>) -> Result<Option<String>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(path)) => Err(ConfigError::Inconsistent(format!(
            "give the secret inline or as a file ({}), not both",
            path.display()
        ))),
        (Some(value), None) => Ok(Some(value.to_owned())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|e| ConfigError::Inconsistent(format!("cannot read {}: {e}", path.display()))),
        (None, None) => Ok(None),
    }
}

/// How to reach NATS, shared by agent and aggregator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated.
    pub url: String,
    /// A `.creds` file (JWT) for NATS authentication.
    pub credentials_file: Option<PathBuf>,
    /// A file holding this service's NATS user nkey seed (`SU…`): the server keeps only the
    /// public key. Works with systemd `LoadCredential=`.
    pub nkey_seed_file: Option<PathBuf>,
    /// Connection name shown in server monitoring.
    pub name: Option<String>,
    /// Keep-alive ping interval; a dead link is noticed after about two intervals.
    pub ping_interval_secs: u64,
    /// Timeout of JetStream API requests (stream info, KV reads) and publish acks.
    pub request_timeout_ms: u64,
    /// KV bucket holding project policies.
    pub policy_bucket: String,
    /// The events stream.
    pub stream: StreamConfig,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            credentials_file: None,
            nkey_seed_file: None,
            name: None,
            ping_interval_secs: 10,
            request_timeout_ms: 5_000,
            policy_bucket: subjects::DEFAULT_POLICY_BUCKET.into(),
            stream: StreamConfig::default(),
        }
    }
}

/// Where stream data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// Files under the server's store dir (durable across restarts).
    File,
    /// Memory only (tests and throwaway setups).
    Memory,
}

/// The events stream, as the agent creates it when it is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Stream name.
    pub name: String,
    /// Subjects are `<subject_prefix>.<project_id>.<event>`.
    pub subject_prefix: String,
    /// File or memory.
    pub storage: Storage,
    /// Replicas (1 single node, 3 in a cluster).
    pub replicas: usize,
    /// `Nats-Msg-Id` deduplication window. Longer windows cost ~150 B per event in it.
    pub duplicate_window_secs: u64,
    /// Ceiling on message age; per-project retention (a per-message TTL) works beneath it.
    pub max_age_days: u64,
    /// Create the stream at start when it does not exist.
    pub create: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            name: subjects::DEFAULT_STREAM.into(),
            subject_prefix: subjects::DEFAULT_SUBJECT_PREFIX.into(),
            storage: Storage::File,
            replicas: 1,
            duplicate_window_secs: 120,
            max_age_days: 400,
            create: true,
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error.
mod tests {
    use super::*;
    use figment::Jail;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Sample {
        listen: String,
        nats: NatsConfig,
    }

    #[test]
    fn file_then_env_override_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "s.toml",
                "listen = \"0.0.0.0:1\"\n[nats]\nurl = \"nats://f:1\"",
            )?;
            jail.set_env("SENDREALM_NATS__URL", "nats://env:2");
            jail.set_env("SENDREALM_NATS__STREAM__DUPLICATE_WINDOW_SECS", "30");
            jail.set_env("SENDREALM_CONFIG", "ignored");
            jail.set_env("SENDREALM_API_KEY", "ignored");
            let cfg: Sample = load(Some(Path::new("s.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(cfg.listen, "0.0.0.0:1");
            assert_eq!(cfg.nats.url, "nats://env:2");
            assert_eq!(cfg.nats.stream.duplicate_window_secs, 30);
            assert_eq!(cfg.nats.stream.name, subjects::DEFAULT_STREAM);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_name_themselves() {
        Jail::expect_with(|jail| {
            jail.set_env("SENDREALM_NATS__URLL", "x");
            let err = load::<Sample>(None).unwrap_err().to_string();
            assert!(err.contains("urll"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_an_error() {
        // Inside a Jail: other tests set SENDREALM_* variables concurrently.
        Jail::expect_with(|_| {
            let err = load::<Sample>(Some(Path::new("/nonexistent/x.toml"))).unwrap_err();
            assert!(matches!(err, ConfigError::MissingFile(_)));
            assert!(load::<Sample>(Some(Path::new("/dev/null"))).is_ok());
            Ok(())
        });
    }
}
