//! The backoffice pages' templates and what they show: plain strings built from stored
//! rows, and the policy form's parsing. Latency and dead letters: `staff_figures.rs`.

use askama::Template;
use sendrealm_common::policy::SECS_PER_DAY;

use super::pages::Frame;
use super::session::Form;
use super::views::{EntryRow, when};
use crate::projects::ProjectChanges;
use crate::store::{PolicyChangeRow, ProjectRow};

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
