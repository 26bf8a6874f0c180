//! The agent's routes in-process: real handlers and error mapping over an in-memory
//! broker, no network. What needs real processes (JetStream, outages, shutdown) is in the
//! end-to-end suite.
#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::sync::Arc;

use bytes::Bytes;
use sendrealm_agent::broker::{Broker, Memory};
use sendrealm_agent::config::AgentConfig;
use sendrealm_agent::http::{State, routes::routes};
use sendrealm_agent::policy::Policies;
use sendrealm_common::apikey::hash_api_key_hex;
use sendrealm_common::policy::ProjectPolicy;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use warp::http::Response;

const KEY: &str = "sk_routes_test";
const PROJECT: &str = "proj_routes";

struct Agent {
    state: Arc<State>,
    broker: Arc<Memory>,
}

fn agent_with(rate: u32, payload_limit: u32) -> Agent {
    let broker = Arc::new(Memory::default());
    let policies = Arc::new(Policies::default());
    policies.load(vec![(
        1,
        ProjectPolicy {
            project_id: PROJECT.into(),
            name: "routes".into(),
            event_payload_limit_bytes: payload_limit,
            rate_limit_per_sec: rate,
            rate_limit_burst: rate,
            retention_secs: 86_400,
            api_key_hashes: vec![hash_api_key_hex(KEY)],
        },
    )]);
    let config = AgentConfig {
        max_body_bytes: 64 * 1024,
        region: "test-1".into(),
        ..AgentConfig::default()
    };
    let state = Arc::new(State::new(
        &config,
        Arc::clone(&broker) as Arc<dyn Broker>,
        policies,
        CancellationToken::new(),
    ));
    state.health.set_stream_ready();
    Agent { state, broker }
}

fn agent() -> Agent {
    agent_with(1_000, 32_768)
}

impl Agent {
    async fn post(&self, path: &str, key: Option<&str>, body: &str) -> Response<Bytes> {
        let mut request = warp::test::request()
            .method("POST")
            .path(path)
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        request.reply(&routes(Arc::clone(&self.state))).await
    }

    async fn get(&self, path: &str) -> Response<Bytes> {
        warp::test::request()
            .method("GET")
            .path(path)
            .reply(&routes(Arc::clone(&self.state)))
            .await
    }
}

fn json_of(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn docs_example() -> String {
    json!({"event": "order.completed", "email": "Olivia@Example.com",
           "payload": {"order_id": "ord_123", "amount": 4900, "currency": "USD"},
           "occurred_at": "2026-06-08T14:15:00.000Z",
           "idempotency_key": "evt_order_completed_ord_123"})
    .to_string()
}

#[tokio::test]
async fn accepts_an_event_into_the_broker_and_answers_its_data() {
    let agent = agent();
    let response = agent.post("/events", Some(KEY), &docs_example()).await;
    assert_eq!(response.status(), 202);
    let data = &json_of(&response)["data"];
    assert_eq!(data["resolved_identity_type"], "email");
    assert_eq!(data["resolved_identity_value"], "olivia@example.com");
    assert_eq!(data["deduplicated"], false);
    assert_eq!(response.headers()["ratelimit-limit"], "1000");
    let stored = agent.broker.messages();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].subject,
        format!("sendrealm.events.{PROJECT}.order.completed")
    );
    assert_eq!(
        stored[0].msg_id,
        format!("{PROJECT}:evt_order_completed_ord_123")
    );
    let in_broker: Value = serde_json::from_slice(&stored[0].payload).unwrap();
    assert_eq!(in_broker["id"], data["id"]);
    assert!(
        in_broker.get("deduplicated").is_none(),
        "answer-only fields stay out"
    );
}

#[tokio::test]
async fn replays_an_idempotency_key_with_the_original() {
    let agent = agent();
    let first = agent.post("/events", Some(KEY), &docs_example()).await;
    let mut changed: Value = serde_json::from_str(&docs_example()).unwrap();
    changed["payload"] = json!({"order_id": "ord_999"});
    let changed = changed.to_string();
    let again = agent.post("/events", Some(KEY), &changed).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (first, again) = (
        json_of(&first)["data"].clone(),
        json_of(&again)["data"].clone(),
    );
    assert_eq!(again["deduplicated"], true);
    assert_eq!(
        again["payload"], first["payload"],
        "the original, not the resend"
    );
    assert_eq!(agent.broker.messages().len(), 1);
}

#[tokio::test]
async fn refusals_carry_status_code_and_the_right_headers() {
    let agent = agent_with(1_000, 64);
    /// Key, body, then the status, code and param expected.
    type Case<'a> = (Option<&'a str>, String, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (None, docs_example(), 401, "missing_api_key", None),
        (
            Some("sk_unknown"),
            docs_example(),
            401,
            "invalid_api_key",
            None,
        ),
        (Some(KEY), "{not json".into(), 400, "malformed_json", None),
        (
            Some(KEY),
            json!({"event": "sendrealm.mail.open", "email": "a@b.co"}).to_string(),
            403,
            "reserved_event_name",
            Some("event"),
        ),
        (
            Some(KEY),
            json!({"event": "a.b", "contact_id": "5"}).to_string(),
            422,
            "invalid_identity",
            Some("contact_id"),
        ),
        (
            Some(KEY),
            json!({"event": "a.b", "emial": "a@b.co"}).to_string(),
            422,
            "unknown_field",
            Some("emial"),
        ),
        (
            Some(KEY),
            json!({"event": "a.b", "email": "a@b.co", "payload": {"k": "x".repeat(100)}})
                .to_string(),
            413,
            "payload_too_large",
            Some("payload"),
        ),
    ];
    for (key, body, status, code, param) in cases {
        let response = agent.post("/events", key, &body).await;
        let error = json_of(&response);
        assert_eq!(response.status(), status, "{error}");
        assert_eq!(error["status"], status);
        assert_eq!(error["error"]["code"], code);
        assert_eq!(error["error"]["param"].as_str(), param, "{error}");
        if status == 401 {
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
        }
    }
    let too_large = agent
        .post(
            "/events",
            Some(KEY),
            &format!("{{\"k\":\"{}\"}}", "x".repeat(70_000)),
        )
        .await;
    assert_eq!(too_large.status(), 413);
    assert_eq!(
        json_of(&too_large)["error"]["details"]["limit_bytes"],
        65_536
    );
    let wrong_type = warp::test::request()
        .method("POST")
        .path("/events")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "text/plain")
        .body(docs_example())
        .reply(&routes(Arc::clone(&agent.state)))
        .await;
    assert_eq!(wrong_type.status(), 415);
    assert!(
        agent.broker.messages().is_empty(),
        "nothing refused was published"
    );
}

#[tokio::test]
async fn over_the_rate_limit_is_429_with_retry_after() {
    let agent = agent_with(2, 32_768);
    let mut statuses = Vec::new();
    for i in 0..4 {
        let body = json!({"event": "a.b", "external_id": format!("u{i}")}).to_string();
        let response = agent.post("/events", Some(KEY), &body).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(json_of(&response)["error"]["code"], "rate_limited");
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [202, 202, 429, 429]);
}

#[tokio::test]
async fn a_broker_that_is_down_gets_503_and_the_agent_is_not_ready() {
    let agent = agent();
    assert_eq!(agent.get("/readyz").await.status(), 200);
    agent.broker.set_down(true);
    let response = agent.post("/events", Some(KEY), &docs_example()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(json_of(&response)["error"]["code"], "service_unavailable");
    let ready = agent.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(json_of(&ready)["nats_connected"], false);
    agent.broker.set_down(false);
    assert_eq!(
        agent
            .post("/events", Some(KEY), &docs_example())
            .await
            .status(),
        202
    );
}

#[tokio::test]
async fn a_batch_answers_each_event_in_order() {
    let agent = agent();
    let body = json!({"events": [
        {"event": "a.b", "email": "a@b.co", "idempotency_key": "k"},
        {"event": "Bad", "email": "a@b.co"},
        {"event": "a.b", "email": "a@b.co", "idempotency_key": "k"}
    ]})
    .to_string();
    let response = agent.post("/events/batch", Some(KEY), &body).await;
    assert_eq!(response.status(), 200);
    let batch = json_of(&response);
    let statuses: Vec<u64> = batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.len(), 3);
    assert_eq!(statuses[1], 422);
    let mut keyed = [statuses[0], statuses[2]];
    keyed.sort();
    assert_eq!(keyed, [200, 202]);
    assert_eq!(
        (batch["accepted"].as_u64(), batch["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(agent.broker.messages().len(), 1);
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_error_envelope() {
    let agent = agent();
    let missing = agent.get("/nope").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(json_of(&missing)["error"]["code"], "not_found");
    let wrong = agent.get("/events").await;
    assert_eq!(wrong.status(), 405);
    assert_eq!(json_of(&wrong)["status"], 405);
    let metrics = String::from_utf8(agent.get("/metrics").await.body().to_vec()).unwrap();
    assert!(metrics.contains("sendrealm_agent_projects 1"), "{metrics}");
}

#[tokio::test]
async fn refuses_payloads_nested_too_deep_and_keeps_nothing() {
    let agent = agent();
    let deep = |levels: usize| {
        format!(
            r#"{{"event":"a.b","email":"a@b.co","payload":{{"k":{}1{}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    // The payload object is level 1: 31 arrays inside it make 32 levels.
    let ok = agent.post("/events", Some(KEY), &deep(31)).await;
    assert_eq!(ok.status(), 202, "{:?}", ok.body());
    for levels in [32, 10_000] {
        let refused = agent.post("/events", Some(KEY), &deep(levels)).await;
        assert_eq!(refused.status(), 422);
        let error = &json_of(&refused)["error"];
        assert_eq!(error["code"], "payload_too_deep");
        assert_eq!(error["details"]["max_depth"], 32);
        assert_eq!(error["param"], "payload");
    }
    assert_eq!(agent.broker.messages().len(), 1, "only the accepted one");
}

#[tokio::test]
async fn wrong_methods_get_405_with_allow_and_unknown_paths_404() {
    let agent = agent();
    for (method, path, allow) in [
        ("GET", "/events", "POST"),
        ("PUT", "/events/batch", "POST"),
        ("DELETE", "/healthz", "GET"),
        ("POST", "/metrics", "GET"),
    ] {
        let response = warp::test::request()
            .method(method)
            .path(path)
            .reply(&routes(Arc::clone(&agent.state)))
            .await;
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert_eq!(json_of(&response)["error"]["code"], "method_not_allowed");
    }
    let missing = agent.get("/nope").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(json_of(&missing)["error"]["code"], "not_found");
    // A right method with a bad request is not a 405.
    let refused = agent.post("/events", Some(KEY), "{").await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn metrics_require_their_token_when_one_is_configured() {
    let open = agent();
    assert_eq!(open.get("/metrics").await.status(), 200, "open by default");

    let config = AgentConfig {
        metrics_token_sha256: Some(hash_api_key_hex("metrics-secret")),
        ..AgentConfig::default()
    };
    let state = Arc::new(State::new(
        &config,
        Arc::new(Memory::default()) as Arc<dyn Broker>,
        Arc::new(Policies::default()),
        CancellationToken::new(),
    ));
    let scrape = |token: Option<&'static str>| {
        let state = Arc::clone(&state);
        async move {
            let mut request = warp::test::request().method("GET").path("/metrics");
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            request.reply(&routes(state)).await
        }
    };
    let refused = scrape(None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(json_of(&refused)["error"]["code"], "missing_api_key");
    assert_eq!(scrape(Some("wrong")).await.status(), 401);
    assert_eq!(
        scrape(Some(KEY)).await.status(),
        401,
        "a project key is not it"
    );
    let allowed = scrape(Some("metrics-secret")).await;
    assert_eq!(allowed.status(), 200);
    assert!(String::from_utf8_lossy(allowed.body()).contains("sendrealm_agent"));
}

#[tokio::test]
async fn bodies_past_the_global_budget_get_503_and_the_budget_returns_after() {
    let agent = agent();
    // Requests in flight hold the whole budget.
    let total = agent.state.body_budget.available();
    let held = agent
        .state
        .body_budget
        .reserve(total)
        .expect("room for the requests in flight");
    let response = agent.post("/events", Some(KEY), &docs_example()).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json_of(&response)["error"]["code"], "service_unavailable");
    assert!(agent.broker.messages().is_empty(), "nothing was published");
    // Once they are answered, the next request goes through, and gives its share back.
    drop(held);
    let response = agent.post("/events", Some(KEY), &docs_example()).await;
    assert_eq!(response.status(), 202);
    assert_eq!(agent.state.body_budget.available(), total);
}
