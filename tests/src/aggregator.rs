//! The real `sendrealm-aggregator` binary: the admin CLI.

use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

use crate::nats::NatsServer;

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

    /// The `SENDREALM_*` settings the CLI runs with.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Runs `sendrealm-aggregator <args>`.
    pub async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(crate::bin("sendrealm-aggregator"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["--config", "/dev/null"])
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
