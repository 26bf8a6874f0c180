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
}

/// The latency view.
#[derive(Debug, Serialize)]
pub struct View {
    /// Per stage.
    pub latency: Vec<LatencyFigures>,
    /// Per project.
    pub projects: Vec<ProjectFigures>,
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
        projects.push(ProjectFigures {
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
    Ok(View { latency, projects })
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
