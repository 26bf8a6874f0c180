//! `sendrealm-aggregator`: reads config, starts tracing, runs a command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sendrealm_aggregator::cli::{self, ProjectCommand};
use sendrealm_aggregator::config::AggregatorConfig;
use sendrealm_aggregator::service;
use sendrealm_aggregator::store::Store;
use sendrealm_common::config;
use sendrealm_common::service::{self as process, shutdown_signal};

// mimalloc: decoding and storing events allocates many small short-lived buffers; glibc's
// malloc/free were a large share of CPU in profiles of both services.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the service: consume, store, serve the read API (the default).
    #[command(alias = "serve")]
    Run {
        /// Write the bound address here once listening (for supervisors and tests).
        #[arg(long)]
        addr_file: Option<PathBuf>,
    },
    /// Make an admin token for the read API: prints the token (once) and its hash for
    /// `admin_token_sha256`.
    AdminToken,
    /// Load and check the configuration, print it (secrets masked), and exit (78 on error).
    CheckConfig,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage projects and API keys.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// List, inspect, replay and purge dead letters.
    #[command(subcommand)]
    Dlq(sendrealm_aggregator::dlq_cli::DlqCommand),
    /// Make a NATS user nkey pair: the seed goes to a new file (mode 0600), the public key
    /// (for the nats-server configuration) is printed.
    Nkey {
        /// Where to write the seed; the file must not exist.
        #[arg(long)]
        seed_file: PathBuf,
    },
    /// Provision the configured regions (streams, policy mirrors, sources) and show their
    /// state: lag and last activity of each. Exits 1 when one is not ready.
    Regions {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Issue, list and revoke the tokens of platform services (internal paths).
    #[command(subcommand)]
    ServiceToken(sendrealm_aggregator::tokens_cli::ServiceTokenCommand),
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
            return ExitCode::from(config::EX_CONFIG);
        }
    };
    let command = cli.command.unwrap_or(Command::Run { addr_file: None });
    process::init_tracing(match command {
        Command::Run { .. } => process::DEFAULT_LOG_FILTER,
        _ => process::CLI_LOG_FILTER,
    });
    match execute(config, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sendrealm-aggregator: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(config: AggregatorConfig, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run { addr_file } => {
            let listener = tokio::net::TcpListener::bind(&config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            if let Some(path) = addr_file {
                std::fs::write(&path, listener.local_addr()?.to_string())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            let store = open(&config).await?;
            service::run(config, store, listener, shutdown_signal()).await?;
            Ok(())
        }
        Command::AdminToken => {
            let token = sendrealm_aggregator::projects::new_admin_token()?;
            println!("admin token (shown once): {token}");
            println!(
                "admin_token_sha256 = \"{}\"",
                sendrealm_common::apikey::hash_api_key_hex(&token)
            );
            Ok(())
        }
        Command::CheckConfig => {
            println!("{}", toml::to_string_pretty(&config.redacted())?);
            Ok(())
        }
        Command::Migrate => {
            open(&config).await?.close().await;
            println!("Database is up to date.");
            Ok(())
        }
        Command::Dlq(command) => {
            sendrealm_aggregator::dlq_cli::dlq(open(&config).await?, &config, command).await
        }
        Command::Project(command) => cli::project(open(&config).await?, &config, command).await,
        Command::Nkey { seed_file } => {
            let public = sendrealm_aggregator::nats_cli::new_nkey(&seed_file)?;
            println!("{public}");
            Ok(())
        }
        Command::Regions { json } => sendrealm_aggregator::nats_cli::regions(&config, json).await,
        Command::ServiceToken(command) => {
            sendrealm_aggregator::tokens_cli::service_token(open(&config).await?, command).await
        }
    }
}

/// Opens the configured database, migrating it.
async fn open(config: &AggregatorConfig) -> anyhow::Result<Store> {
    Store::connect(&config.database)
        .await
        .context("while opening the database")
}
