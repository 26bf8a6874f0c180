//! The real `sendrealm-aggregator` binary: the admin CLI.

use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

use crate::nats::NatsServer;

/// `project create` arguments for a rate limit no test load reaches.
pub const UNLIMITED: [&str; 4] = [
    "--rate-limit-per-sec",
    "1000000",
    "--rate-limit-burst",
    "1000000",
];

/// A project created through the CLI.
#[derive(Debug, Clone)]
pub struct Project {
    /// `proj_…`.
    pub id: String,
    /// Its API key.
    pub key: String,
    /// The key's id.
    pub key_id: String,
}

/// Runs admin commands against one database and one NATS server.
pub struct AdminCli {
    env: Vec<(String, String)>,
    _dir: Option<TempDir>,
}

impl AdminCli {
    /// A CLI on a fresh SQLite database in a temp dir.
    pub fn sqlite(nats: &NatsServer) -> AdminCli {
        let dir = tempfile::Builder::new()
            .prefix("sendrealm-db-")
            .tempdir()
            .expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("sendrealm.db").display());
        let mut cli = Self::with_database(nats, &url);
        cli._dir = Some(dir);
        cli
    }

    /// A CLI on the given database URL.
    pub fn with_database(nats: &NatsServer, database_url: &str) -> AdminCli {
        AdminCli {
            env: vec![
                ("SENDREALM_NATS__URL".into(), nats.url()),
                ("SENDREALM_DATABASE__URL".into(), database_url.into()),
            ],
            _dir: None,
        }
    }

    /// The same CLI with one more `SENDREALM_*` setting.
    pub fn with_setting(mut self, key: &str, value: &str) -> AdminCli {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The database URL.
    pub fn database_url(&self) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == "SENDREALM_DATABASE__URL")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The `SENDREALM_*` settings the CLI runs with.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Runs `sendrealm-aggregator <args>` (with the `SENDREALM_CONFIG` file among its
    /// settings, if any, else none).
    pub async fn run(&self, args: &[&str]) -> Output {
        let config = crate::process::config_file(&self.env);
        tokio::process::Command::new(crate::bin("sendrealm-aggregator"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["--config", config])
            .args(args)
            .output()
            .await
            .expect("run sendrealm-aggregator")
    }

    /// Runs a command that must succeed and print JSON.
    pub async fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "sendrealm-aggregator {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "sendrealm-aggregator {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `service-token create --name <name>`: a platform service's token.
    pub async fn service_token(&self, name: &str) -> String {
        let created = self
            .json(&["service-token", "create", "--name", name, "--json"])
            .await;
        created["service_token"]
            .as_str()
            .expect("a service token")
            .to_owned()
    }

    /// `project create --name <name> <extra> --json`.
    pub async fn create_project(&self, name: &str, extra: &[&str]) -> Project {
        let mut args = vec!["project", "create", "--name", name, "--json"];
        args.extend_from_slice(extra);
        let created = self.json(&args).await;
        Project {
            id: created["project"]["id"]
                .as_str()
                .expect("project id")
                .to_owned(),
            key: created["api_key"].as_str().expect("api key").to_owned(),
            key_id: created["api_key_id"].as_str().expect("key id").to_owned(),
        }
    }
}

/// A running `sendrealm-aggregator run`.
pub struct Aggregator {
    service: crate::process::Service,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    http: reqwest::Client,
}

/// The admin token tests configure, and its hash.
pub const ADMIN_TOKEN: &str = "sra_test_admin_token";

impl Aggregator {
    /// Starts the service on `nats` and the database of `cli`, with extra settings, and
    /// waits until it is ready.
    pub async fn start(nats: &NatsServer, cli: &AdminCli, env: &[(&str, &str)]) -> Aggregator {
        let aggregator = Self::spawn(nats, cli, env).await;
        aggregator.wait_ready().await;
        aggregator
    }

    /// Starts the service without waiting for readiness.
    pub async fn spawn(nats: &NatsServer, cli: &AdminCli, env: &[(&str, &str)]) -> Aggregator {
        let mut settings: Vec<(String, String)> = vec![
            (
                "SENDREALM_LOG".into(),
                "info,sendrealm_aggregator=debug".into(),
            ),
            ("SENDREALM_NATS__URL".into(), nats.url()),
            (
                "SENDREALM_ADMIN_TOKEN_SHA256".into(),
                sendrealm_common::apikey::hash_api_key_hex(ADMIN_TOKEN),
            ),
        ];
        settings.extend(cli.env().iter().cloned());
        settings.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let service = crate::process::Service::start("sendrealm-aggregator", &settings).await;
        Aggregator {
            url: service.url.clone(),
            service,
            http: reqwest::Client::new(),
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        crate::wait::until(
            crate::agent::READY_TIMEOUT,
            "the aggregator to be ready",
            || async {
                let response = self
                    .http
                    .get(format!("{}/readyz", self.url))
                    .send()
                    .await
                    .ok()?;
                (response.status().as_u16() == 200).then_some(())
            },
        )
        .await;
    }

    /// GET a read-API path with a token; returns status and JSON body.
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        Self::send(
            self.http
                .get(format!("{}{path}", self.url))
                .bearer_auth(token),
        )
        .await
    }

    /// POST a JSON body with a token; returns status and JSON body.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        Self::send(
            self.http
                .post(format!("{}{path}", self.url))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    /// DELETE with a token; returns status and JSON body.
    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        Self::send(
            self.http
                .delete(format!("{}{path}", self.url))
                .bearer_auth(token),
        )
        .await
    }

    /// Sends a request; returns status and the body as JSON (or as a JSON string when it
    /// is not JSON).
    async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request to the aggregator");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET without a token.
    pub async fn get_plain(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request to the aggregator");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    }

    /// All stored events of a project (admin view), page by page (`after` the last id).
    pub async fn all_events(&self, project_id: &str) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            let mut path = format!("/v1/events?project_id={project_id}&limit=100");
            if let Some(last) = out.last() {
                path.push_str(&format!(
                    "&after={}",
                    last["id"].as_str().expect("event id")
                ));
            }
            let (status, page) = self.get(&path, ADMIN_TOKEN).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["object"], "list", "{page}");
            out.extend(page["data"].as_array().cloned().unwrap_or_default());
            if page["has_more"] != true {
                return out;
            }
        }
    }

    /// GET one object (`{"data": …}`) with a token; returns status and the `data`, or the
    /// whole body when there is none (errors).
    pub async fn get_data(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, body) = self.get(path, token).await;
        match body.get("data") {
            Some(data) if status < 300 => (status, data.clone()),
            _ => (status, body),
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.service.process.log()
    }

    /// The process id (for memory readings).
    pub fn pid(&self) -> Option<u32> {
        self.service.process.pid()
    }

    /// Stops with SIGTERM and asserts exit status 0.
    pub fn stop(mut self) {
        self.service.process.stop_cleanly();
    }

    /// Kills with SIGKILL (a crash).
    pub fn kill(mut self) {
        self.service.process.kill();
    }

    /// Kills with SIGKILL in place (a crash), leaving a stopped handle behind.
    pub fn crash(&mut self) {
        self.service.process.kill();
    }
}
