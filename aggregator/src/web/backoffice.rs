//! The backoffice latency view: where time goes (queue lag vs processing) and where events
//! fail (poison, retries, dead letters), per project, for operators.
//!
//! `GET /v1/backoffice/latency` answers JSON; `GET /backoffice/latency` renders the same
//! as a page. Both need the admin token (Bearer, or as the Basic-auth password so a
//! browser can open the page).

use std::sync::Arc;

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::latency::Snapshot;
use serde::Serialize;
use warp::http::{HeaderValue, header};
use warp::reply::Response;

use super::State;
use super::session::Credentials;
use super::auth::Scope;
use super::reply::{ApiError, json, respond};

/// Milliseconds per microsecond.
const MS: f64 = 1000.0;

#[derive(Debug, Serialize)]
struct LatencyFigures {
    name: &'static str,
    count: u64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
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

#[derive(Debug, Serialize)]
struct ProjectFigures {
    project_id: String,
    name: String,
    stored: u64,
    avg_processing_ms: f64,
    avg_end_to_end_ms: f64,
    terminated: u64,
    nacked: u64,
    dead_letters_pending: i64,
    dead_letters_replayed: i64,
}

#[derive(Debug, Serialize)]
struct View {
    latency: Vec<LatencyFigures>,
    projects: Vec<ProjectFigures>,
}

async fn view(state: &State) -> Result<View, ApiError> {
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

/// `GET /backoffice/latency`: the page.
pub async fn latency_page(state: Arc<State>, credentials: Credentials) -> Response {
    if let Err(error) = admin(&state, &credentials).await {
        let mut response = error.into_response();
        // Let a browser ask for the token (as the password).
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Sendrealm backoffice\", charset=\"UTF-8\""),
        );
        return response;
    }
    match view(&state).await {
        Ok(view) => {
            let mut response = Response::new(render(&view).into());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn render(view: &View) -> String {
    let mut latency_rows = String::new();
    for l in &view.latency {
        latency_rows.push_str(&format!(
            "<tr data-metric=\"{}\"><th>{}</th><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>\n",
            l.name,
            l.name.replace('_', " "),
            l.count,
            l.mean_ms,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms
        ));
    }
    let mut project_rows = String::new();
    for p in &view.projects {
        project_rows.push_str(&format!(
            "<tr data-project=\"{}\"><th>{}<br><small>{}</small></th><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&p.project_id),
            escape(&p.name),
            escape(&p.project_id),
            p.stored,
            p.avg_processing_ms,
            p.avg_end_to_end_ms,
            p.terminated,
            p.nacked,
            p.dead_letters_pending,
            p.dead_letters_replayed
        ));
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sendrealm backoffice: latency</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2rem; color: #1c1c1c; }}
table {{ border-collapse: collapse; margin-bottom: 2rem; }}
th, td {{ padding: .35rem .7rem; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child {{ text-align: left; }}
caption {{ text-align: left; font-weight: 600; margin-bottom: .5rem; }}
p {{ color: #555; max-width: 48rem; }}
</style></head>
<body>
<h1>Latency</h1>
<p>Queue lag is the wait between the agent's receipt and this aggregator pulling the event;
processing is pulled to committed. High queue lag with normal processing means a backlog
(too few aggregators, a slow database earlier); failures show up per project as
terminated (poison), retried (nak'ed) and dead-lettered events.</p>
<table id="latency"><caption>Since this aggregator started (milliseconds)</caption>
<tr><th>stage</th><th>events</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{latency_rows}</table>
<table id="projects"><caption>Per project</caption>
<tr><th>project</th><th>stored</th><th>avg processing ms</th><th>avg end-to-end ms</th><th>terminated</th><th>retried</th><th>dead letters</th><th>replayed</th></tr>
{project_rows}</table>
</body></html>
"#
    )
}
