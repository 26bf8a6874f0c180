//! `sendrealm-agent`: reads config, starts tracing, binds, runs until a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sendrealm_agent::config::AgentConfig;
use sendrealm_common::{config, service};

/// Exit code for configuration errors (EX_CONFIG).
const EX_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(version, about = "Sendrealm edge ingest agent")]
struct Cli {
    /// TOML config file; `SENDREALM_*` variables override it.
    #[arg(long, global = true, env = "SENDREALM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the events API (the default).
    Run {
        /// Write the bound address here once listening (for supervisors and tests).
        #[arg(long)]
        addr_file: Option<PathBuf>,
    },
    /// Load and check the configuration, print it, and exit (78 on error).
    CheckConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load::<AgentConfig>(cli.config.as_deref())
        .and_then(|c| c.validate().map(|()| c))
    {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sendrealm-agent: {error}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    match cli.command.unwrap_or(Command::Run { addr_file: None }) {
        Command::CheckConfig => {
            match toml_string(&config) {
                Ok(text) => println!("{text}"),
                Err(error) => eprintln!("sendrealm-agent: {error}"),
            }
            ExitCode::SUCCESS
        }
        Command::Run { addr_file } => {
            service::init_tracing(service::DEFAULT_LOG_FILTER);
            let listener = match tokio::net::TcpListener::bind(&config.listen).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::error!(%error, listen = %config.listen, "Cannot listen.");
                    return ExitCode::FAILURE;
                }
            };
            if let (Some(path), Ok(addr)) = (addr_file, listener.local_addr())
                && let Err(error) = std::fs::write(&path, addr.to_string())
            {
                tracing::error!(%error, path = %path.display(), "Cannot write the address file.");
                return ExitCode::FAILURE;
            }
            match sendrealm_agent::run(config, listener, service::shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(%error, "Agent failed.");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The resolved config as TOML. The agent holds no secrets: a credentials file is a path.
fn toml_string(config: &AgentConfig) -> Result<String, toml::ser::Error> {
    toml::to_string_pretty(config)
}
