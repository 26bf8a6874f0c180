//! The backoffice latency view: where time goes (queue lag vs processing) and where events
//! fail (poison, retries, dead letters), per project, for operators.
//!
//! `GET /v1/backoffice/latency` answers JSON (admin token); the backoffice page
//! (`staff.rs`) shows the same figures.

use std::sync::Arc;

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::latency::Snapshot;
use serde::Serialize;
use warp::reply::Response;

use super::State;
use super::auth::Scope;
use super::reply::{ApiError, json, respond};
use super::session::Credentials;
use crate::figures;

/// Milliseconds per microsecond.
const MS: f64 = 1000.0;

/// One stage's latency figures, in milliseconds.
#[derive(Debug, Serialize)]
pub struct LatencyFigures {
    /// `queue_lag`, `processing`, `end_to_end`.
    pub name: &'static str,
    /// Events recorded.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl LatencyFigures {
    fn of(name: &'static str, s: &Snapshot) -> Self {
        LatencyFigures {
            name,
            count: s.count(),
            mean_ms: s.mean() / MS,
            p50_ms: s.quantile(0.5) as f64 / MS,
            p90_ms: s.quantile(0.9) as f64 / MS,
            p99_ms: s.quantile(0.99) as f64 / MS,
            p999_ms: s.quantile(0.999) as f64 / MS,
            max_ms: s.max() as f64 / MS,
        }
    }
}

/// One project's figures.
#[derive(Debug, Serialize)]
pub struct ProjectFigures {
    /// Project id.
    pub project_id: String,
    /// Its name.
    pub name: String,
    /// Events stored.
    pub stored: u64,
    /// Mean processing time.
    pub avg_processing_ms: f64,
    /// Mean end-to-end time.
    pub avg_end_to_end_ms: f64,
    /// Events terminated as poison.
    pub terminated: u64,
    /// Deliveries retried.
    pub nacked: u64,
    /// Dead letters not replayed.
    pub dead_letters_pending: i64,
    /// Dead letters replayed.
    pub dead_letters_replayed: i64,
    /// The last day, from every aggregator and agent (kept in the database).
    pub recent: Recent,
}

/// A stage over the last day.
#[derive(Debug, Serialize)]
pub struct RecentStage {
    /// Events.
    pub count: u64,
    /// Mean (ms).
    pub mean_ms: f64,
    /// Median (ms).
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
}

/// One refusal code's count.
#[derive(Debug, Serialize)]
pub struct RefusedCount {
    /// The error code.
    pub code: String,
    /// Events refused with it.
    pub count: u64,
}

/// One project's last day: where its delay comes from.
#[derive(Debug, Serialize)]
pub struct Recent {
    /// `queue lag`, `bad payloads`, `queue lag and bad payloads`, `ok` or `idle`.
    pub verdict: &'static str,
    /// Received → pulled.
    pub queue_lag: RecentStage,
    /// Pulled → committed.
    pub processing: RecentStage,
    /// Received → committed.
    pub end_to_end: RecentStage,
    /// Events stored.
    pub stored: u64,
    /// Events the agents refused, by code.
    pub refused: Vec<RefusedCount>,
    /// Deliveries retried.
    pub retried: u64,
    /// Events terminated as poison.
    pub terminated: u64,
    /// Dead letters recorded.
    pub dead_lettered: u64,
    #[serde(skip)]
    severity: u8,
    #[serde(skip)]
    refused_total: u64,
}

impl Recent {
    fn of(summary: &figures::ProjectSummary) -> Self {
        let stage = |i: usize| {
            let s = &summary.stages[i];
            RecentStage {
                count: s.count,
                mean_ms: s.mean_ms,
                p50_ms: s.p50_ms,
                p99_ms: s.p99_ms,
            }
        };
        let refused: Vec<RefusedCount> = summary
            .refused()
            .into_iter()
            .map(|(code, count)| RefusedCount { code, count })
            .collect();
        Recent {
            verdict: summary.verdict(),
            queue_lag: stage(0),
            processing: stage(1),
            end_to_end: stage(2),
            stored: summary.counter(figures::STORED),
            refused_total: refused.iter().map(|r| r.count).sum(),
            refused,
            retried: summary.counter(figures::RETRIED),
            terminated: summary.counter(figures::TERMINATED),
            dead_lettered: summary.counter(figures::DEAD_LETTERED),
            severity: summary.severity(),
        }
    }
}

/// Hours the backoffice's per-project view covers.
pub const RECENT_HOURS: i64 = 24;

/// The latency view.
#[derive(Debug, Serialize)]
pub struct View {
    /// Per stage.
    pub latency: Vec<LatencyFigures>,
    /// Per project, the worst first (by verdict, then share of refusals).
    pub projects: Vec<ProjectFigures>,
    /// Hours the projects' `recent` figures cover.
    pub recent_hours: i64,
}

/// The figures, from this aggregator's memory and the dead-letter counts.
pub async fn view(state: &State) -> Result<View, ApiError> {
    let latency = state
        .metrics
        .latencies()
        .iter()
        .map(|(name, snapshot)| LatencyFigures::of(name, snapshot))
        .collect();
    let stats = state.metrics.projects();
    let dlq = state.store.dlq_counts().await?;
    let now = sendrealm_common::event::Timestamp::now().unix_millis();
    let since = figures::hour_of(now) - (RECENT_HOURS - 1) * figures::HOUR_MS;
    let recent = figures::summarize(&state.store.figures_since(since).await?);
    let mut projects = Vec::new();
    for project in state.store.projects().await? {
        let s = stats.get(&project.id).cloned().unwrap_or_default();
        let d = dlq.iter().find(|c| c.project_id == project.id);
        let avg = |sum: u64| {
            if s.stored == 0 {
                0.0
            } else {
                sum as f64 / s.stored as f64 / MS
            }
        };
        let last_day = Recent::of(&recent.get(&project.id).cloned().unwrap_or_default());
        projects.push(ProjectFigures {
            recent: last_day,
            avg_processing_ms: avg(s.processing_us),
            avg_end_to_end_ms: avg(s.end_to_end_us),
            project_id: project.id,
            name: project.name,
            stored: s.stored,
            terminated: s.terminated,
            nacked: s.nacked,
            dead_letters_pending: d.map_or(0, |c| c.pending),
            dead_letters_replayed: d.map_or(0, |c| c.replayed),
        });
    }
    // Worst first: what needs a look reads at the top.
    projects.sort_by(|a, b| {
        let share = |p: &ProjectFigures| {
            p.recent.refused_total as f64 / (p.recent.stored + p.recent.refused_total).max(1) as f64
        };
        b.recent
            .severity
            .cmp(&a.recent.severity)
            .then(share(b).total_cmp(&share(a)))
            .then(a.name.cmp(&b.name))
    });
    Ok(View {
        latency,
        projects,
        recent_hours: RECENT_HOURS,
    })
}

async fn admin(state: &State, credentials: &Credentials) -> Result<(), ApiError> {
    match state.scope(credentials).await? {
        Scope::Admin => Ok(()),
        Scope::Project(_) => Err(ApiError::new(
            ErrorCode::InvalidApiKey,
            "the backoffice needs the admin token",
        )),
    }
}

/// `GET /v1/backoffice/latency`.
pub async fn latency_json(state: Arc<State>, credentials: Credentials) -> Response {
    respond(async {
        admin(&state, &credentials).await?;
        let view = view(&state).await?;
        Ok(json(200, serde_json::to_vec(&view).unwrap_or_default()))
    })
    .await
}
