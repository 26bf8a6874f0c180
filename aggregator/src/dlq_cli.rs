//! `sendrealm-aggregator dlq …`: list, inspect, replay and purge dead letters.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use sendrealm_common::event::Timestamp;
use sendrealm_common::service;
use serde_json::json;

use crate::config::AggregatorConfig;
use crate::dlq::replay;
use crate::store::{DeadLetterFilter, DeadLetterRow, Store};

/// Records fetched per page when replaying many.
const PAGE: i64 = 200;

/// `dlq …` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first.
    List {
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
        /// Only this reason (`terminated`, `max_deliveries`).
        #[arg(long)]
        reason: Option<String>,
        /// Only records made since this time (RFC 3339, or an age like 30m, 2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only records not replayed yet.
        #[arg(long)]
        pending: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its original headers and body.
    Show {
        /// Record id (`dlq_…`).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish originals again (after fixing the cause). One record by id, or every
    /// pending record of a project; an interrupted run resumes where it stopped.
    Replay {
        /// Record id (`dlq_…`).
        #[arg(required_unless_present = "project", conflicts_with = "project")]
        id: Option<String>,
        /// Replay every pending record of this project.
        #[arg(long)]
        project: Option<String>,
        /// Only records with this reason.
        #[arg(long)]
        reason: Option<String>,
        /// Only records made since this time.
        #[arg(long)]
        since: Option<String>,
        /// Show what would be replayed, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete dead-letter records.
    Purge {
        /// Only this project's records.
        #[arg(long, required_unless_present = "all")]
        project: Option<String>,
        /// Every project's records.
        #[arg(long, conflicts_with = "project")]
        all: bool,
        /// Only records that were replayed.
        #[arg(long)]
        replayed: bool,
    },
}

/// Parses `--since`: RFC 3339, or an age (`90s`, `30m`, `2h`, `7d`) before now.
pub fn parse_since(text: &str, now: Timestamp) -> anyhow::Result<i64> {
    if let Ok(at) = Timestamp::parse_rfc3339(text) {
        return Ok(at.unix_millis());
    }
    let (number, unit) = text.split_at(
        text.trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .len(),
    );
    let n: i64 = number
        .parse()
        .with_context(|| format!("--since {text:?}: use RFC 3339 or e.g. 30m, 2h, 7d"))?;
    let per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("--since {text:?}: the unit must be s, m, h or d"),
    };
    let millis = n
        .checked_mul(per_unit)
        .and_then(|secs| secs.checked_mul(1000))
        .with_context(|| format!("--since {text:?} is too far back"))?;
    Ok(now.unix_millis().saturating_sub(millis))
}

fn row_json(row: &DeadLetterRow, with_body: bool) -> serde_json::Value {
    let mut value = json!({
        "id": row.id,
        "project_id": row.project_id,
        "reason": row.reason,
        "error": row.error,
        "deliveries": row.deliveries,
        "stream": row.stream,
        "stream_seq": row.stream_seq,
        "subject": row.subject,
        "msg_id": row.msg_id,
        "original_missing": row.original_missing,
        "first_failed_at": Timestamp::from_unix_millis(row.first_failed_at),
        "last_failed_at": Timestamp::from_unix_millis(row.last_failed_at),
        "created_at": Timestamp::from_unix_millis(row.created_at),
        "replayed_at": row.replayed_at.map(Timestamp::from_unix_millis),
        "replay_count": row.replay_count,
    });
    if with_body {
        value["headers"] = serde_json::from_str(&row.headers).unwrap_or_default();
        value["payload"] = json!(row.payload);
        value["payload_base64"] = json!(row.payload_base64);
    }
    value
}

fn print_row(row: &DeadLetterRow) {
    let state = if row.replayed_at.is_some() {
        "replayed"
    } else {
        "pending"
    };
    println!(
        "{}  {}  {:<14} {:>3}×  {}  {}  {}",
        row.id,
        Timestamp::from_unix_millis(row.created_at),
        row.reason,
        row.deliveries,
        row.project_id,
        state,
        row.error
    );
}

/// Runs one `dlq` command.
pub async fn dlq(
    store: Store,
    config: &AggregatorConfig,
    command: DlqCommand,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    match command {
        DlqCommand::List {
            project,
            reason,
            since,
            pending,
            limit,
            json,
        } => {
            let filter = DeadLetterFilter {
                project_id: project,
                reason,
                since: since.map(|s| parse_since(&s, now)).transpose()?,
                pending_only: pending,
                limit,
            };
            let rows = store.dead_letters(&filter).await?;
            if json {
                println!(
                    "{}",
                    serde_json::Value::Array(rows.iter().map(|r| row_json(r, false)).collect())
                );
            } else if rows.is_empty() {
                println!("No dead letters.");
            } else {
                rows.iter().for_each(print_row);
            }
        }
        DlqCommand::Show { id, json } => {
            let row = store
                .dead_letter(&id)
                .await?
                .with_context(|| format!("no dead letter {id}"))?;
            let value = row_json(&row, true);
            if json {
                println!("{value}");
            } else {
                println!("{}", serde_json::to_string_pretty(&value)?);
            }
        }
        DlqCommand::Replay {
            id,
            project,
            reason,
            since,
            dry_run,
        } => {
            let client = service::connect_nats(&config.nats, "sendrealm-aggregator-cli").await?;
            let js = async_nats::jetstream::new(client.clone());
            if let Some(id) = id {
                let row = store
                    .dead_letter(&id)
                    .await?
                    .with_context(|| format!("no dead letter {id}"))?;
                if dry_run {
                    println!("would replay {} to {}", row.id, row.subject);
                } else {
                    if row.replayed_at.is_some() {
                        println!("{} was replayed before; replaying again.", row.id);
                    }
                    replay::replay_one(&store, &js, &row).await?;
                    println!("Replayed {} to {}.", row.id, row.subject);
                }
            } else {
                let filter = DeadLetterFilter {
                    project_id: project,
                    reason,
                    since: since.map(|s| parse_since(&s, now)).transpose()?,
                    pending_only: true,
                    limit: PAGE,
                };
                replay_all(&store, &js, filter, dry_run).await?;
            }
            client.flush().await.ok();
        }
        DlqCommand::Purge {
            project,
            all,
            replayed,
        } => {
            let scope = if all { None } else { project.as_deref() };
            let deleted = store.purge_dead_letters(scope, replayed).await?;
            println!("Deleted {deleted} dead-letter record(s).");
        }
    }
    store.close().await;
    Ok(())
}

/// Replays every pending record matching `filter`, page by page, printing progress.
/// Each record is marked as soon as it is published, so a rerun after an interruption
/// continues with the rest.
async fn replay_all(
    store: &Store,
    js: &async_nats::jetstream::Context,
    filter: DeadLetterFilter,
    dry_run: bool,
) -> anyhow::Result<()> {
    if dry_run {
        let rows = store
            .dead_letters(&DeadLetterFilter {
                limit: i64::MAX,
                ..filter
            })
            .await?;
        for row in &rows {
            println!(
                "would replay {} ({}) to {}",
                row.id, row.reason, row.subject
            );
        }
        println!("{} record(s) would be replayed.", rows.len());
        return Ok(());
    }
    let total = store
        .dead_letters(&DeadLetterFilter {
            limit: i64::MAX,
            ..filter.clone()
        })
        .await?
        .len();
    let (mut done, mut skipped) = (0usize, 0usize);
    let mut failed: Vec<String> = Vec::new();
    loop {
        let rows = store.dead_letters(&filter).await?;
        let page: Vec<&DeadLetterRow> = rows.iter().filter(|r| !failed.contains(&r.id)).collect();
        if page.is_empty() {
            break;
        }
        for row in page {
            match replay::replay_one(store, js, row).await {
                Ok(()) => done += 1,
                Err(replay::ReplayError::NoOriginal(id)) => {
                    // Nothing to publish; mark it so it leaves the pending list.
                    store
                        .mark_replayed(&id, Timestamp::now().unix_millis())
                        .await?;
                    eprintln!("skipped {id}: the original was gone before it was recorded");
                    skipped += 1;
                }
                Err(error) => {
                    eprintln!("{error}");
                    failed.push(row.id.clone());
                }
            }
            let settled = done + skipped + failed.len();
            if settled.is_multiple_of(50) || settled == total {
                eprintln!("replayed {done}/{total}");
            }
        }
    }
    println!(
        "Replayed {done} of {total} record(s); {skipped} without original; {} failed.",
        failed.len()
    );
    if !failed.is_empty() {
        bail!(
            "{} record(s) could not be replayed; run the command again to retry them",
            failed.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_ages() {
        let now = Timestamp::from_unix_millis(10_000_000);
        assert_eq!(parse_since("2h", now).unwrap(), 10_000_000 - 7_200_000);
        assert_eq!(parse_since("1970-01-01T00:00:01Z", now).unwrap(), 1000);
        assert!(parse_since("2 weeks", now).is_err());
        assert!(parse_since("5y", now).is_err());
    }
}
