//! The admin command line: projects and keys. Each command reuses the library (store,
//! projects, policies); none has a code path of its own.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use sendrealm_common::policy::SECS_PER_DAY;
use sendrealm_common::service;
use serde_json::json;

use crate::config::AggregatorConfig;
use crate::policies::PolicyBucket;
use crate::projects::{self, IssuedKey, NewProject, ProjectChanges};
use crate::sessions;
use crate::store::{ProjectRow, Store};

/// Who the policy history names for changes made from the command line.
const CLI_ACTOR: &str = "cli";

/// `project …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project and print its first API key (shown once).
    Create {
        /// Project name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: Settings,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List projects.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one project and its keys (ids and prefixes only).
    Show {
        /// Project id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a project's name, limits or retention.
    Update {
        /// Project id.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: Settings,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new API key (shown once) and revoke the others unless --keep-existing.
    RotateKey {
        /// Project id.
        id: String,
        /// Keep the existing keys active (for a gradual switch-over).
        #[arg(long)]
        keep_existing: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one API key, named by its id (`key_…`) or by the key itself.
    RevokeKey {
        /// Project id.
        id: String,
        /// Key id or key.
        key: String,
    },
    /// Issue an owner token (shown once): the owner signs in to the dashboard with it.
    OwnerToken {
        /// Project id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an owner token, named by its id (`otk_…`) or by the token itself; its
    /// dashboard sessions end at once.
    RevokeOwnerToken {
        /// Project id.
        id: String,
        /// Token id or token.
        token: String,
    },
    /// Republish every project's policy to the policy bucket.
    Sync,
}

/// Policy settings shared by `create` and `update`.
#[derive(Debug, Args)]
pub struct Settings {
    /// Largest accepted `payload`, in bytes.
    #[arg(long)]
    payload_limit_bytes: Option<u32>,
    /// Sustained events per second.
    #[arg(long)]
    rate_limit_per_sec: Option<u32>,
    /// Events allowed in a burst.
    #[arg(long)]
    rate_limit_burst: Option<u32>,
    /// Retention in days (default 90).
    #[arg(long, conflicts_with = "retention_secs")]
    retention_days: Option<u64>,
    /// Retention in seconds, for short-lived test projects.
    #[arg(long)]
    retention_secs: Option<u64>,
    /// Open waits allowed at once: a number, or `none` for no cap.
    #[arg(long, value_parser = parse_cap)]
    max_active_waits: Option<Cap>,
}

/// An open-waits cap as given on the command line.
#[derive(Debug, Clone, Copy)]
pub struct Cap(Option<u32>);

fn parse_cap(text: &str) -> Result<Cap, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Cap(None));
    }
    text.parse()
        .map(|n| Cap(Some(n)))
        .map_err(|_| "a number of waits, or `none`".to_owned())
}

impl Settings {
    fn retention_secs(&self) -> Option<u64> {
        self.retention_secs
            .or(self.retention_days.map(|d| d.saturating_mul(SECS_PER_DAY)))
    }
}

fn project_json(row: &ProjectRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "name": row.name,
        "event_payload_limit_bytes": row.event_payload_limit_bytes,
        "rate_limit_per_sec": row.rate_limit_per_sec,
        "rate_limit_burst": row.rate_limit_burst,
        "retention_secs": row.retention_secs,
        "retention_days": row.retention_secs as f64 / SECS_PER_DAY as f64,
        "max_active_waits": row.max_active_waits,
        "created_at": sendrealm_common::event::Timestamp::from_unix_millis(row.created_at),
        "updated_at": sendrealm_common::event::Timestamp::from_unix_millis(row.updated_at),
    })
}

fn print_project(row: &ProjectRow) {
    println!(
        "{}  {:<24} payload≤{} B  rate {}/s burst {}  retention {} s",
        row.id,
        row.name,
        row.event_payload_limit_bytes,
        row.rate_limit_per_sec,
        row.rate_limit_burst,
        row.retention_secs
    );
}

fn print_issued(row: &ProjectRow, key: &IssuedKey, json: bool) {
    if json {
        println!(
            "{}",
            json!({"project": project_json(row), "api_key": key.key, "api_key_id": key.id})
        );
    } else {
        print_project(row);
        println!("API key ({}), shown only once:\n{}", key.id, key.key);
    }
}

/// Publishes the policies of `rows` to the bucket.
pub async fn publish(
    store: &Store,
    config: &AggregatorConfig,
    rows: &[ProjectRow],
) -> anyhow::Result<()> {
    let client = service::connect_nats(&config.nats, "sendrealm-aggregator-cli").await?;
    let js = async_nats::jetstream::new(client.clone());
    let bucket = PolicyBucket::open(&js, &config.nats).await?;
    for row in rows {
        bucket.publish(store, &row.id).await?;
    }
    client.flush().await.ok();
    Ok(())
}

async fn publish_or_warn(
    store: &Store,
    config: &AggregatorConfig,
    row: &ProjectRow,
) -> anyhow::Result<()> {
    publish(store, config, std::slice::from_ref(row))
        .await
        .with_context(|| {
            format!(
                "the change to {} is saved but was not published to agents; \
             run `sendrealm-aggregator project sync` once NATS is reachable",
                row.id
            )
        })
}

/// Runs one `project` command.
pub async fn project(
    store: Store,
    config: &AggregatorConfig,
    command: ProjectCommand,
) -> anyhow::Result<()> {
    match command {
        ProjectCommand::Create {
            name,
            settings,
            json,
        } => {
            let (row, key) = projects::create(
                &store,
                NewProject {
                    name,
                    payload_limit_bytes: settings.payload_limit_bytes,
                    rate_limit_per_sec: settings.rate_limit_per_sec,
                    rate_limit_burst: settings.rate_limit_burst,
                    retention_secs: settings.retention_secs(),
                    max_active_waits: settings.max_active_waits.and_then(|c| c.0),
                },
            )
            .await?;
            publish_or_warn(&store, config, &row).await?;
            print_issued(&row, &key, json);
        }
        ProjectCommand::List { json } => {
            let rows = store.projects().await?;
            if json {
                let list: Vec<_> = rows.iter().map(project_json).collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                rows.iter().for_each(print_project);
            }
        }
        ProjectCommand::Show { id, json } => {
            let row = projects::get(&store, &id).await?;
            let keys = store.keys(&id).await?;
            let keys_json: Vec<_> = keys
                .iter()
                .map(|k| {
                    json!({"id": k.id, "prefix": k.prefix, "active": k.revoked_at.is_none(),
                           "created_at": sendrealm_common::event::Timestamp::from_unix_millis(k.created_at)})
                })
                .collect();
            if json {
                let mut value = project_json(&row);
                value["api_keys"] = serde_json::Value::Array(keys_json);
                println!("{value}");
            } else {
                print_project(&row);
                for k in &keys {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!("  {}  {}…  {state}", k.id, k.prefix);
                }
            }
        }
        ProjectCommand::Update {
            id,
            name,
            settings,
            json,
        } => {
            let row = projects::update(
                &store,
                &id,
                ProjectChanges {
                    name,
                    payload_limit_bytes: settings.payload_limit_bytes,
                    rate_limit_per_sec: settings.rate_limit_per_sec,
                    rate_limit_burst: settings.rate_limit_burst,
                    retention_secs: settings.retention_secs(),
                    max_active_waits: settings.max_active_waits.map(|c| c.0),
                },
                CLI_ACTOR,
            )
            .await?;
            publish_or_warn(&store, config, &row).await?;
            if json {
                println!("{}", project_json(&row));
            } else {
                print_project(&row);
            }
        }
        ProjectCommand::RotateKey {
            id,
            keep_existing,
            json,
        } => {
            let (key, revoked) = projects::rotate_key(&store, &id, keep_existing).await?;
            let row = projects::get(&store, &id).await?;
            publish_or_warn(&store, config, &row).await?;
            print_issued(&row, &key, json);
            if !json {
                println!("{revoked} earlier key(s) revoked.");
            }
        }
        ProjectCommand::RevokeKey { id, key } => {
            projects::revoke_key(&store, &id, &key).await?;
            let row = projects::get(&store, &id).await?;
            publish_or_warn(&store, config, &row).await?;
            println!("Key revoked; agents stop accepting it within seconds.");
        }
        ProjectCommand::OwnerToken { id, json } => {
            let now = sendrealm_common::event::Timestamp::now().unix_millis();
            let issued = sessions::issue_owner_token(&store, &id, now).await?;
            if json {
                println!(
                    "{}",
                    json!({"project_id": id, "owner_token": issued.token, "owner_token_id": issued.id})
                );
            } else {
                println!(
                    "Owner token ({}) for {id}, shown only once:\n{}",
                    issued.id, issued.token
                );
                println!("Sign in at /dashboard/login on the aggregator's HTTP address.");
            }
        }
        ProjectCommand::RevokeOwnerToken { id, token } => {
            let now = sendrealm_common::event::Timestamp::now().unix_millis();
            sessions::revoke_owner_token(&store, &id, &token, now).await?;
            println!("Owner token revoked; its dashboard sessions have ended.");
        }
        ProjectCommand::Sync => {
            let rows = store.projects().await?;
            publish(&store, config, &rows).await?;
            println!("Published {} project policies.", rows.len());
        }
    }
    store.close().await;
    Ok(())
}
