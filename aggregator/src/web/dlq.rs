//! Dead-letter counts over HTTP.

use std::sync::Arc;

use sendrealm_common::event::Timestamp;
use serde::Serialize;
use warp::reply::Response;

use super::State;
use super::reply::{json, respond};
use super::session::Credentials;

#[derive(Serialize)]
struct DlqCountObject {
    project_id: String,
    pending: i64,
    replayed: i64,
    oldest_pending_at: Option<Timestamp>,
}

/// `GET /v1/dlq/counts`: dead letters per project (admins: all; owners: their own).
pub async fn dlq_counts(state: Arc<State>, credentials: Credentials) -> Response {
    respond(async {
        let scope = state.scope(&credentials).await?;
        let data: Vec<DlqCountObject> = state
            .store
            .dlq_counts()
            .await?
            .into_iter()
            .filter(|c| scope.allows(&c.project_id))
            .map(|c| DlqCountObject {
                project_id: c.project_id,
                pending: c.pending,
                replayed: c.replayed,
                oldest_pending_at: c.oldest_pending_at.map(Timestamp::from_unix_millis),
            })
            .collect();
        Ok(json(
            200,
            serde_json::to_vec(
                &serde_json::json!({"object": "list", "data": data, "has_more": false}),
            )
            .unwrap_or_default(),
        ))
    })
    .await
}
