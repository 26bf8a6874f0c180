//! The backoffice pages' templates and what they show: plain strings built from stored
//! rows, the policy form's parsing, and the bulk replays' progress.

use askama::Template;
use sendrealm_common::policy::SECS_PER_DAY;

use super::backoffice::View;
use super::pages::Frame;
use super::replays::ReplayJob;
use super::session::Form;
use super::views::{EntryRow, when};
use crate::projects::ProjectChanges;
use crate::store::{DeadLetterRow, PolicyChangeRow, ProjectRow};

/// The catalog across projects.
#[derive(Template)]
#[template(path = "bo_catalog.html")]
pub struct BoCatalog {
    /// Frame.
    pub frame: Frame,
    /// Rendered at.
    pub as_of: String,
    /// This page.
    pub reload: String,
    /// A bad filter, or empty.
    pub error: String,
    /// Filters as given.
    pub filter_project: String,
    /// Event prefix.
    pub filter_event: String,
    /// Source.
    pub filter_source: String,
    /// PII.
    pub filter_pii: String,
    /// Drift since (a date).
    pub filter_drift: String,
    /// Rows.
    pub rows: Vec<EntryRow>,
    /// Always true here.
    pub show_project: bool,
    /// Next page, or empty.
    pub next: String,
}

/// One stage's latency, formatted.
pub struct StageLine {
    /// Metric name.
    pub name: String,
    /// Human label.
    pub label: String,
    /// Events.
    pub count: u64,
    /// Figures in ms, two decimals.
    pub mean: String,
    /// p50.
    pub p50: String,
    /// p90.
    pub p90: String,
    /// p99.
    pub p99: String,
    /// p99.9.
    pub p999: String,
    /// Max.
    pub max: String,
}

/// One project's failures and times, formatted.
pub struct ProjectFiguresLine {
    /// Id.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Stored.
    pub stored: u64,
    /// ms.
    pub avg_processing: String,
    /// ms.
    pub avg_end_to_end: String,
    /// Poison.
    pub terminated: u64,
    /// Retried.
    pub nacked: u64,
    /// Pending dead letters.
    pub dead_letters_pending: i64,
    /// Replayed dead letters.
    pub dead_letters_replayed: i64,
}

/// The latency page.
#[derive(Template)]
#[template(path = "bo_latency.html")]
pub struct BoLatency {
    /// Frame.
    pub frame: Frame,
    /// Rendered at.
    pub as_of: String,
    /// Per stage.
    pub latency: Vec<StageLine>,
    /// Per project.
    pub projects: Vec<ProjectFiguresLine>,
}

fn ms(value: f64) -> String {
    format!("{value:.2}")
}

impl BoLatency {
    /// The page of a latency view.
    pub fn of(frame: Frame, view: &View) -> Self {
        BoLatency {
            frame,
            as_of: when(sendrealm_common::event::Timestamp::now().unix_millis()),
            latency: view
                .latency
                .iter()
                .map(|l| StageLine {
                    name: l.name.to_owned(),
                    label: l.name.replace('_', " "),
                    count: l.count,
                    mean: ms(l.mean_ms),
                    p50: ms(l.p50_ms),
                    p90: ms(l.p90_ms),
                    p99: ms(l.p99_ms),
                    p999: ms(l.p999_ms),
                    max: ms(l.max_ms),
                })
                .collect(),
            projects: view
                .projects
                .iter()
                .map(|p| ProjectFiguresLine {
                    project_id: p.project_id.clone(),
                    name: p.name.clone(),
                    stored: p.stored,
                    avg_processing: ms(p.avg_processing_ms),
                    avg_end_to_end: ms(p.avg_end_to_end_ms),
                    terminated: p.terminated,
                    nacked: p.nacked,
                    dead_letters_pending: p.dead_letters_pending,
                    dead_letters_replayed: p.dead_letters_replayed,
                })
                .collect(),
        }
    }
}

/// One dead letter, formatted.
pub struct DeadLetterLine {
    /// Record id.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// Why it was dead-lettered.
    pub reason: String,
    /// The last processing error.
    pub error: String,
    /// Deliveries made.
    pub deliveries: i64,
    /// Recorded.
    pub created_at: String,
    /// `never`, or when and how often.
    pub replayed: String,
    /// Whether its original is there to replay.
    pub replayable: bool,
}

impl DeadLetterLine {
    /// The line of a stored record.
    pub fn of(row: &DeadLetterRow) -> Self {
        DeadLetterLine {
            id: row.id.clone(),
            project_id: row.project_id.clone(),
            reason: row.reason.clone(),
            error: row.error.clone(),
            deliveries: row.deliveries,
            created_at: when(row.created_at),
            replayed: match row.replayed_at {
                Some(at) => format!("{} ({}×)", when(at), row.replay_count),
                None => "never".into(),
            },
            replayable: row.payload.is_some(),
        }
    }
}

/// The dead-letter list.
#[derive(Template)]
#[template(path = "bo_dead_letters.html")]
pub struct BoDeadLetters {
    /// Frame.
    pub frame: Frame,
    /// A message, or empty.
    pub notice: String,
    /// The project filter.
    pub filter_project: String,
    /// Replayed ones too.
    pub show_all: bool,
    /// Pending records of the filtered project.
    pub pending: i64,
    /// Rows.
    pub rows: Vec<DeadLetterLine>,
}

/// One dead letter.
#[derive(Template)]
#[template(path = "bo_dead_letter.html")]
pub struct BoDeadLetter {
    /// Frame.
    pub frame: Frame,
    /// The record.
    pub d: DeadLetterLine,
    /// The event, redacted, pretty JSON.
    pub event: String,
}

/// A bulk replay's page.
#[derive(Template)]
#[template(path = "bo_replay.html")]
pub struct BoReplay {
    /// Frame.
    pub frame: Frame,
    /// Progress.
    pub job: ReplayJob,
}

/// A project, formatted.
pub struct ProjectLine {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Retention in days (decimals only when needed).
    pub retention_days: String,
    /// Bytes.
    pub payload_limit: i64,
    /// Per second.
    pub rate: i64,
    /// Burst.
    pub burst: i64,
    /// Cap, or `none`.
    pub max_waits: String,
    /// The form's value: the cap, or empty.
    pub max_waits_input: String,
    /// Last change.
    pub updated: String,
}

impl ProjectLine {
    /// The line of a stored project.
    pub fn of(row: &ProjectRow) -> Self {
        let days = row.retention_secs as f64 / SECS_PER_DAY as f64;
        ProjectLine {
            id: row.id.clone(),
            name: row.name.clone(),
            retention_days: if days.fract() == 0.0 {
                format!("{days:.0}")
            } else {
                format!("{days:.4}")
            },
            payload_limit: row.event_payload_limit_bytes,
            rate: row.rate_limit_per_sec,
            burst: row.rate_limit_burst,
            max_waits: row
                .max_active_waits
                .map_or("none".into(), |n| n.to_string()),
            max_waits_input: row
                .max_active_waits
                .map(|n| n.to_string())
                .unwrap_or_default(),
            updated: when(row.updated_at),
        }
    }
}

/// The project list.
#[derive(Template)]
#[template(path = "bo_projects.html")]
pub struct BoProjects {
    /// Frame.
    pub frame: Frame,
    /// Rows.
    pub rows: Vec<ProjectLine>,
}

/// One recorded change, formatted.
pub struct ChangeLine {
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// `retention_secs: 7776000 → 86400`.
    pub what: String,
}

impl ChangeLine {
    /// The line of a recorded change.
    pub fn of(row: &PolicyChangeRow) -> Self {
        let what = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&row.changes)
            .map(|fields| {
                fields
                    .iter()
                    .map(|(field, pair)| format!("{field}: {} → {}", pair[0], pair[1]))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        ChangeLine {
            at: when(row.changed_at),
            actor: row.actor.clone(),
            what: if what.is_empty() {
                "no change".into()
            } else {
                what
            },
        }
    }
}

/// A project's page.
#[derive(Template)]
#[template(path = "bo_project.html")]
pub struct BoProject {
    /// Frame.
    pub frame: Frame,
    /// The project.
    pub p: ProjectLine,
    /// A message, or empty.
    pub notice: String,
    /// Why the last save was refused, or empty.
    pub error: String,
    /// Its changes, newest first.
    pub history: Vec<ChangeLine>,
}

/// The changes the project form asks for (every field is sent, so each one is set), or
/// why the form is unreadable.
pub fn changes_of(form: &Form) -> Result<ProjectChanges, String> {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or("");
    let number = |name: &str, label: &str| -> Result<u32, String> {
        field(name)
            .parse::<u32>()
            .map_err(|_| format!("{label} must be a whole number."))
    };
    let days: f64 = field("retention_days")
        .parse()
        .ok()
        .filter(|d: &f64| d.is_finite() && *d > 0.0)
        .ok_or("Retention must be a positive number of days.")?;
    let max_active_waits = match field("max_active_waits") {
        "" | "none" => None,
        _ => Some(number("max_active_waits", "The open waits cap")?),
    };
    Ok(ProjectChanges {
        name: None,
        payload_limit_bytes: Some(number("event_payload_limit_bytes", "The payload limit")?),
        rate_limit_per_sec: Some(number("rate_limit_per_sec", "The rate limit")?),
        rate_limit_burst: Some(number("rate_limit_burst", "The burst")?),
        retention_secs: Some((days * SECS_PER_DAY as f64).round() as u64),
        max_active_waits: Some(max_active_waits),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_policy_form_reads_every_field_or_says_which_is_wrong() {
        let good = form(&[
            ("retention_days", "1.5"),
            ("event_payload_limit_bytes", "1024"),
            ("rate_limit_per_sec", "10"),
            ("rate_limit_burst", "20"),
            ("max_active_waits", ""),
        ]);
        let changes = changes_of(&good).unwrap();
        assert_eq!(changes.retention_secs, Some(129_600));
        assert_eq!(changes.max_active_waits, Some(None));
        assert_eq!(changes.payload_limit_bytes, Some(1024));
        let mut bad = good.clone();
        bad.insert("rate_limit_per_sec".into(), "ten".into());
        assert_eq!(
            changes_of(&bad).err().as_deref(),
            Some("The rate limit must be a whole number.")
        );
        let mut bad = good.clone();
        bad.insert("retention_days".into(), "-1".into());
        assert!(changes_of(&bad).is_err());
        let mut capped = good;
        capped.insert("max_active_waits".into(), "100".into());
        assert_eq!(
            changes_of(&capped).unwrap().max_active_waits,
            Some(Some(100))
        );
    }
}
