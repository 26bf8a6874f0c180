//! Admin commands about NATS itself: user nkeys for the services, and the regions' state.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::config::AggregatorConfig;
use crate::regions::{self, RegionState};

/// Makes a NATS user nkey pair: writes the seed (the secret) to `seed_file`, readable by
/// its owner only and never overwriting a file, and returns the public key for the
/// server's configuration.
pub fn new_nkey(seed_file: &Path) -> anyhow::Result<String> {
    let pair = nkeys::KeyPair::new_user();
    let seed = pair.seed().context("cannot encode the seed")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(seed_file)
        .with_context(|| format!("cannot create {} (it must not exist)", seed_file.display()))?;
    writeln!(file, "{seed}").with_context(|| format!("cannot write {}", seed_file.display()))?;
    Ok(pair.public_key())
}

/// Provisions the configured regions (as the service does) and prints their state.
pub async fn regions(config: &AggregatorConfig, json: bool) -> anyhow::Result<()> {
    if config.regions.names.is_empty() {
        anyhow::bail!("no regions configured ([regions] names)");
    }
    let client = sendrealm_common::service::connect_nats(&config.nats, "sendrealm-admin").await?;
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(std::time::Duration::from_millis(
            config.nats.request_timeout_ms,
        ))
        .build(client);
    let states = regions::check(&js.client(), &js, &config.nats, &config.regions, None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&states)?);
    } else {
        print_states(&states);
    }
    if states.iter().any(|s| s.error.is_some()) {
        anyhow::bail!("some regions are not ready");
    }
    Ok(())
}

fn print_states(states: &[RegionState]) {
    println!(
        "{:<16} {:<12} {:<8} {:>10} {:>10} {:>12}  error",
        "region", "provisioned", "sourced", "accepted", "lag", "last active"
    );
    for state in states {
        let active = state
            .last_active
            .map(|d| format!("{:.1}s ago", d.as_secs_f64()))
            .unwrap_or_else(|| "never".into());
        println!(
            "{:<16} {:<12} {:<8} {:>10} {:>12}  {}",
            state.name,
            state.provisioned,
            state.sourced,
            state
                .lag
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into()),
            active,
            state.error.as_deref().unwrap_or("")
        );
    }
}
