//! `sendrealm-agent`: reads config, starts tracing, binds, runs until a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sendrealm_agent::config::AgentConfig;
use sendrealm_common::{config, service};

// mimalloc: the request path allocates many small short-lived buffers, and glibc's
// malloc/free showed up as a quarter of the agent's CPU in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load::<AgentConfig>(cli.config.as_deref())
        .and_then(|c| c.validate().map(|()| c))
    {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sendrealm-agent: {error}");
            return ExitCode::from(config::EX_CONFIG);
        }
    };
    let runtime = match config.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        0 => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sendrealm-agent: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(execute(cli.command, config))
}

async fn execute(command: Option<Command>, config: AgentConfig) -> ExitCode {
    match command.unwrap_or(Command::Run { addr_file: None }) {
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
