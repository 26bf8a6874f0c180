//! `sendrealm-aggregator`: reads config, starts tracing, runs a command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sendrealm_aggregator::cli::{self, ProjectCommand};
use sendrealm_aggregator::config::AggregatorConfig;
use sendrealm_aggregator::store::Store;
use sendrealm_aggregator::with_store;
use sendrealm_common::{config, service};

/// Exit code for configuration errors (EX_CONFIG).
const EX_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(version, about = "Sendrealm aggregator and admin CLI")]
struct Cli {
    /// TOML config file; `SENDREALM_*` variables override it.
    #[arg(long, global = true, env = "SENDREALM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Load and check the configuration, print it (secrets masked), and exit (78 on error).
    CheckConfig,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage projects and API keys.
    #[command(subcommand)]
    Project(ProjectCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load::<AggregatorConfig>(cli.config.as_deref())
        .and_then(|c| c.validate().map(|()| c))
    {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sendrealm-aggregator: {error}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    service::init_tracing(service::CLI_LOG_FILTER);
    match execute(config, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sendrealm-aggregator: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(config: AggregatorConfig, command: Option<Command>) -> anyhow::Result<()> {
    match command {
        Some(Command::CheckConfig) => {
            println!("{}", toml::to_string_pretty(&config.redacted())?);
            Ok(())
        }
        Some(Command::Migrate) => with_store!(config.database, |store| {
            store.close().await;
            println!("Database is up to date.");
            Ok(())
        }),
        Some(Command::Project(command)) => {
            with_store!(config.database, |store| cli::project(
                store, &config, command
            )
            .await)
        }
        None => anyhow::bail!("no command given; see --help"),
    }
}
