//! `service-token …`: the credentials of platform services on the internal paths.

use clap::Subcommand;
use sendrealm_common::event::Timestamp;
use serde_json::json;

use crate::service_tokens;
use crate::store::Store;

/// `service-token …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServiceTokenCommand {
    /// Issue a token for a platform service (shown once).
    Create {
        /// The service that holds it (`mail`, `push`, `automations`, …).
        #[arg(long)]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (ids, names and prefixes only).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token, named by its id (`stk_…`) or by the token itself.
    Revoke {
        /// Token id or token.
        token: String,
    },
}

/// Runs a `service-token` command.
pub async fn service_token(store: Store, command: ServiceTokenCommand) -> anyhow::Result<()> {
    let now = Timestamp::now().unix_millis();
    match command {
        ServiceTokenCommand::Create { name, json } => {
            let issued = service_tokens::issue(&store, &name, now).await?;
            if json {
                println!(
                    "{}",
                    json!({"id": issued.id, "name": name.trim(), "service_token": issued.token})
                );
            } else {
                println!(
                    "Service token ({}) for {}, shown only once:\n{}",
                    issued.id,
                    name.trim(),
                    issued.token
                );
            }
        }
        ServiceTokenCommand::List { json } => {
            let tokens = store.service_tokens().await?;
            if json {
                let list: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        json!({"id": t.id, "name": t.name, "prefix": t.prefix,
                               "active": t.revoked_at.is_none(),
                               "created_at": Timestamp::from_unix_millis(t.created_at)})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for t in &tokens {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!("{}  {:<16} {}…  {state}", t.id, t.name, t.prefix);
                }
            }
        }
        ServiceTokenCommand::Revoke { token } => {
            service_tokens::revoke(&store, &token, now).await?;
            println!("Service token revoked; it is refused from now on.");
        }
    }
    store.close().await;
    Ok(())
}
