//! The real `sendrealm-agent` binary, configured by environment only.

use std::time::Duration;

use serde_json::Value;

use crate::nats::NatsServer;
use crate::process::Service;
use crate::wait;

/// How long an agent may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running agent.
pub struct Agent {
    service: Service,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// A client for requests to it.
    pub http: reqwest::Client,
}

/// A response: status, headers, body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    /// The `data` object of a success body (`{"data": …}`), checked to be there.
    pub fn data(&self) -> Value {
        let body = self.json();
        assert!(
            body["data"].is_object(),
            "no `data` object in the body: {}",
            self.text
        );
        body["data"].clone()
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error code of an error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Agent {
    /// Starts an agent on `nats` with extra `SENDREALM_*` settings, and waits until ready.
    pub async fn start(nats: &NatsServer, env: &[(&str, &str)]) -> Agent {
        let agent = Self::spawn(nats, env).await;
        agent.wait_ready().await;
        agent
    }

    /// Starts an agent without waiting for readiness.
    pub async fn spawn(nats: &NatsServer, env: &[(&str, &str)]) -> Agent {
        let mut settings: Vec<(String, String)> = vec![
            ("SENDREALM_LOG".into(), "info,sendrealm_agent=debug".into()),
            ("SENDREALM_REGION".into(), "test-1".into()),
            ("SENDREALM_NATS__URL".into(), nats.url()),
        ];
        settings.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let service = Service::start("sendrealm-agent", &settings).await;
        Agent {
            url: service.url.clone(),
            service,
            http: reqwest::Client::new(),
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        wait::until(READY_TIMEOUT, "the agent to be ready", || async {
            let status = self.get("/readyz").await.ok()?.status;
            (status == 200).then_some(())
        })
        .await;
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> reqwest::Result<Reply> {
        into_reply(self.http.get(format!("{}{path}", self.url)).send().await?).await
    }

    /// POST a JSON value with an API key.
    pub async fn post_json(&self, path: &str, key: &str, body: &Value) -> Reply {
        self.post_raw(path, Some(key), Some("application/json"), body.to_string())
            .await
    }

    /// POST raw bytes with optional key and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self.http.post(format!("{}{path}", self.url)).body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        into_reply(request.send().await.expect("request to the agent"))
            .await
            .expect("response body")
    }

    /// POST a batch: `{"events": events}`.
    pub async fn send_batch(&self, key: &str, events: Vec<Value>) -> Reply {
        self.post_json(
            "/events/batch",
            key,
            &serde_json::json!({ "events": events }),
        )
        .await
    }

    /// POST one event.
    pub async fn send_event(&self, key: &str, event: &Value) -> Reply {
        self.post_json("/events", key, event).await
    }

    /// The process id (for CPU pinning and memory readings).
    pub fn pid(&self) -> Option<u32> {
        self.service.process.pid()
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        self.service.process.log()
    }

    /// Kills with SIGKILL in place (a crash), leaving a stopped handle behind.
    pub fn crash(&mut self) {
        self.service.process.kill();
    }

    /// Stops with SIGTERM and asserts exit status 0.
    pub fn stop(mut self) {
        self.service.process.stop_cleanly();
    }
}

async fn into_reply(response: reqwest::Response) -> reqwest::Result<Reply> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await?;
    Ok(Reply {
        status,
        headers,
        text,
    })
}
