//! Process plumbing both services share: logs, signals, systemd readiness, NATS connection.

use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use tracing_subscriber::EnvFilter;

use crate::config::NatsConfig;

/// Default log filter: our own crates at info, chatty dependencies turned down.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,async_nats=warn,hyper=warn,warp=warn";

/// Log filter for one-shot admin commands: only what needs attention.
pub const CLI_LOG_FILTER: &str = "warn";

/// Starts tracing: filter from `SENDREALM_LOG` (else `default_filter`), JSON lines when
/// `SENDREALM_LOG_FORMAT=json` (as the systemd units set), human-readable otherwise.
/// Logs go to stderr.
pub fn init_tracing(default_filter: &str) {
    let mut filter =
        EnvFilter::try_from_env("SENDREALM_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    // warp reports each malformed HTTP request from a client as an ERROR: anyone could
    // fill the log. It is the client's mistake, so it stays out unless asked for by name.
    if !std::env::var("SENDREALM_LOG").is_ok_and(|f| f.contains("warp::server"))
        && let Ok(directive) = "warp::server=off".parse()
    {
        filter = filter.add_directive(directive);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = std::env::var("SENDREALM_LOG_FORMAT").is_ok_and(|f| f == "json");
    // try_init: a second call (tests) keeps the first subscriber instead of panicking.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "Cannot listen for SIGTERM; only Ctrl-C stops the service.");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM received."),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received."),
    }
}

/// Tells systemd (`Type=notify`) the service is ready; a no-op outside systemd.
pub fn notify_ready() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
}

/// Pings systemd's watchdog (`WatchdogSec=`) at half its interval for as long as the
/// runtime runs, so a wedged process is restarted; returns at once without a watchdog.
/// Spawn it on the service's runtime: the pings then prove that runtime still schedules.
pub async fn watchdog() {
    let Some(interval) = watchdog_interval() else {
        return;
    };
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tick.tick().await;
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
    }
}

/// `WATCHDOG_USEC`, unless `WATCHDOG_PID` names another process (as sd_watchdog_enabled
/// reads them: the PID is optional).
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Tells systemd the service is stopping; a no-op outside systemd.
pub fn notify_stopping() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
}

/// Why the NATS connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NatsConnectError {
    /// The credentials file could not be read.
    #[error("cannot read NATS credentials {path}: {source}")]
    Credentials {
        /// The configured path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The nkey seed file could not be read or holds no user seed.
    #[error("cannot use the NATS nkey seed in {path}: {reason}")]
    Nkey {
        /// The configured path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Both a credentials file and an nkey seed are configured.
    #[error("give nats.credentials_file or nats.nkey_seed_file, not both")]
    TwoIdentities,
    /// The client could not be created.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The configured URL.
        url: String,
        /// The client error.
        source: async_nats::ConnectError,
    },
}

/// Connects to NATS. The first connection is retried in the background, so a service can
/// start (and report "not ready") while NATS is still down; reconnects are unlimited.
pub async fn connect_nats(config: &NatsConfig, role: &str) -> Result<Client, NatsConnectError> {
    let mut options = ConnectOptions::new()
        .name(config.name.clone().unwrap_or_else(|| role.to_owned()))
        .ping_interval(Duration::from_secs(config.ping_interval_secs.max(1)))
        .request_timeout(Some(Duration::from_millis(config.request_timeout_ms)))
        .retry_on_initial_connect()
        .event_callback(|event| async move {
            match event {
                Event::Connected => tracing::info!("Connected to NATS."),
                Event::Disconnected => tracing::warn!("Disconnected from NATS; reconnecting."),
                other => tracing::info!(event = %other, "NATS client event."),
            }
        });
    if config.credentials_file.is_some() && config.nkey_seed_file.is_some() {
        return Err(NatsConnectError::TwoIdentities);
    }
    if let Some(path) = &config.nkey_seed_file {
        options = options.nkey(read_nkey_seed(path)?);
    }
    if let Some(path) = &config.credentials_file {
        options = options.credentials_file(path).await.map_err(|source| {
            NatsConnectError::Credentials {
                path: path.display().to_string(),
                source,
            }
        })?;
    }
    // A comma-separated list seeds a cluster: the client tries them in turn and learns the
    // rest of the cluster from the server it reaches.
    let seeds: Vec<&str> = config
        .url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    options
        .connect(seeds)
        .await
        .map_err(|source| NatsConnectError::Connect {
            url: config.url.clone(),
            source,
        })
}

/// The user seed in `path`, checked to be one (a public key pasted by mistake would
/// otherwise fail later as an opaque authorization error).
fn read_nkey_seed(path: &std::path::Path) -> Result<String, NatsConnectError> {
    let fail = |reason: String| NatsConnectError::Nkey {
        path: path.display().to_string(),
        reason,
    };
    let seed = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let seed = seed.trim();
    if !seed.starts_with("SU") {
        return Err(fail("not a user seed (it starts with SU)".into()));
    }
    Ok(seed.to_owned())
}

/// The JetStream config of the events stream, as both services create it when missing.
///
/// `allow_direct` lets the agent read the original of a duplicate from any replica;
/// `allow_msg_ttl` lets each event carry its project's retention (`Nats-TTL`) beneath the
/// stream's `max_age` ceiling.
pub fn events_stream_config(
    config: &crate::config::StreamConfig,
) -> async_nats::jetstream::stream::Config {
    use async_nats::jetstream::stream;
    stream::Config {
        name: config.name.clone(),
        description: Some("Sendrealm events".into()),
        subjects: vec![crate::subjects::stream_subjects(&config.subject_prefix)],
        storage: match config.storage {
            crate::config::Storage::File => stream::StorageType::File,
            crate::config::Storage::Memory => stream::StorageType::Memory,
        },
        num_replicas: config.replicas,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        duplicate_window: Duration::from_secs(config.duplicate_window_secs),
        max_age: Duration::from_secs(config.max_age_days * crate::policy::SECS_PER_DAY),
        allow_direct: true,
        allow_message_ttl: true,
        ..Default::default()
    }
}

/// Why the events stream could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum StreamSetupError {
    /// It does not exist and this service is configured not to create it.
    #[error("stream {0} does not exist and nats.stream.create is false")]
    Missing(String),
    /// JetStream could not be asked (down, no JetStream, timeout).
    #[error("cannot read stream {name}: {source}")]
    Get {
        /// Stream name.
        name: String,
        /// Client error.
        source: async_nats::jetstream::context::GetStreamError,
    },
    /// Creating it failed.
    #[error("cannot create stream {name}: {source}")]
    Create {
        /// Stream name.
        name: String,
        /// Client error.
        source: async_nats::jetstream::context::CreateStreamError,
    },
}

/// Returns the events stream, creating it when missing (and allowed). An existing stream is
/// never changed; settings that differ from the config are logged.
pub async fn ensure_events_stream(
    js: &async_nats::jetstream::Context,
    config: &crate::config::StreamConfig,
) -> Result<async_nats::jetstream::stream::Stream, StreamSetupError> {
    use async_nats::jetstream::{ErrorCode, context::GetStreamErrorKind};
    match js.get_stream(&config.name).await {
        Ok(stream) => {
            let have = &stream.cached_info().config;
            let want = events_stream_config(config);
            if have.duplicate_window != want.duplicate_window
                || !have.allow_direct
                || !have.allow_message_ttl
                || have.subjects != want.subjects
            {
                tracing::warn!(
                    stream = %config.name,
                    duplicate_window = ?have.duplicate_window,
                    allow_direct = have.allow_direct,
                    allow_msg_ttl = have.allow_message_ttl,
                    subjects = ?have.subjects,
                    "The existing events stream differs from the configuration; it is left as it is."
                );
            }
            Ok(stream)
        }
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND => {
                if !config.create {
                    return Err(StreamSetupError::Missing(config.name.clone()));
                }
                let stream = js
                    .create_stream(events_stream_config(config))
                    .await
                    .map_err(|source| StreamSetupError::Create {
                        name: config.name.clone(),
                        source,
                    })?;
                tracing::info!(stream = %config.name, "Created the events stream.");
                Ok(stream)
            }
            _ => Err(StreamSetupError::Get {
                name: config.name.clone(),
                source: error,
            }),
        },
    }
}

/// Returns the stats stream (agents' refusal reports), creating it when missing. Reports
/// are kept a week: enough for an aggregator that was away to catch up. `replicas` follows
/// the events stream's, so a cluster keeps reports through the loss of a node.
pub async fn ensure_stats_stream(
    js: &async_nats::jetstream::Context,
    replicas: usize,
) -> Result<async_nats::jetstream::stream::Stream, String> {
    use crate::subjects::{REFUSALS_SUBJECT_PREFIX, STATS_STREAM};
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: STATS_STREAM.to_owned(),
        subjects: vec![format!("{REFUSALS_SUBJECT_PREFIX}.>")],
        max_age: Duration::from_secs(7 * 86_400),
        duplicate_window: Duration::from_secs(120),
        storage: async_nats::jetstream::stream::StorageType::File,
        num_replicas: replicas.max(1),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot create stream {STATS_STREAM}: {e}"))
}
