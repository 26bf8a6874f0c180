//! The backoffice's latency and dead-letter pages: templates and what they show, formatted
//! from the latency view and stored dead letters.

use askama::Template;

use super::backoffice::View;
use super::pages::Frame;
use super::replays::ReplayJob;
use super::views::when;
use crate::store::DeadLetterRow;

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

/// One project's last day, formatted.
pub struct ProjectFiguresLine {
    /// Id.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// What holds it up, in words.
    pub verdict: String,
    /// `ok`, `lag` or `bad` (the badge's look).
    pub verdict_class: String,
    /// Queue lag `p50 / p99 / mean` (ms).
    pub queue_lag: String,
    /// Processing `p50 / p99 / mean` (ms).
    pub processing: String,
    /// End to end `p50 / p99 / mean` (ms).
    pub end_to_end: String,
    /// Events stored.
    pub stored: u64,
    /// Refused in all.
    pub refused_total: u64,
    /// Refusals by code: `payload_too_large ×8, …`.
    pub refused: String,
    /// Deliveries retried.
    pub retried: u64,
    /// Dead letters recorded.
    pub dead_lettered: u64,
    /// Dead letters not replayed (now).
    pub dead_letters_pending: i64,
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
    /// Hours the per-project figures cover.
    pub recent_hours: i64,
    /// Per project, worst first.
    pub projects: Vec<ProjectFiguresLine>,
}

fn stage_text(s: &super::backoffice::RecentStage) -> String {
    if s.count == 0 {
        "–".into()
    } else {
        format!("{:.1} / {:.1} / {:.1}", s.p50_ms, s.p99_ms, s.mean_ms)
    }
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
            recent_hours: view.recent_hours,
            projects: view
                .projects
                .iter()
                .map(|p| {
                    let r = &p.recent;
                    ProjectFiguresLine {
                        project_id: p.project_id.clone(),
                        name: p.name.clone(),
                        verdict: r.verdict.to_owned(),
                        verdict_class: match r.verdict {
                            "ok" | "idle" => "ok",
                            "queue lag" => "drift",
                            _ => "bad",
                        }
                        .to_owned(),
                        queue_lag: stage_text(&r.queue_lag),
                        processing: stage_text(&r.processing),
                        end_to_end: stage_text(&r.end_to_end),
                        stored: r.stored,
                        refused_total: r.refused.iter().map(|c| c.count).sum(),
                        refused: r
                            .refused
                            .iter()
                            .map(|c| format!("{} ×{}", c.code, c.count))
                            .collect::<Vec<_>>()
                            .join(", "),
                        retried: r.retried,
                        dead_lettered: r.dead_lettered,
                        dead_letters_pending: p.dead_letters_pending,
                    }
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
