//! The peer: mq-bridge 1.2.0, an HTTP→JetStream bridge that answers `202` after the
//! PubAck (`fire_and_forget: false`, `deduplicate: true`), run from the virtualenv that
//! `scripts/bench` installs (PyPI `mq-bridge`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Header mq-bridge turns into `Nats-Msg-Id` (a UUID per request, so dedupe is real).
pub const ID_HEADER: &str = "message-id";

/// A running peer.
pub struct Peer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The path it serves.
    pub path: String,
    child: tokio::process::Child,
}

impl Peer {
    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

fn python() -> PathBuf {
    std::env::var_os("MQ_BRIDGE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| sendrealm_e2e::repo_root().join(".tools/mq-bridge/bin/python3"))
}

/// Starts mq-bridge publishing to `subject` (the stream must exist; mq-bridge would
/// otherwise create one with other settings).
pub async fn start(nats_url: &str, stream: &str, subject: &str) -> anyhow::Result<Peer> {
    let python = python();
    anyhow::ensure!(
        python.is_file(),
        "{} missing: run ./scripts/bench, which installs mq-bridge",
        python.display()
    );
    let addr = crate::measure::free_addr();
    let script = sendrealm_e2e::repo_root().join("bench/peer/mq_bridge_peer.py");
    let child = tokio::process::Command::new(python)
        .arg(script)
        .args([
            "--listen",
            &addr.to_string(),
            "--nats-url",
            nats_url,
            "--stream",
            stream,
            "--subject",
            subject,
        ])
        .args([
            "--path",
            "/events",
            "--concurrency-limit",
            "1024",
            "--id-header",
            ID_HEADER,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    crate::measure::wait_port(addr).await?;
    // Its route connects to NATS after the port opens; give it a moment with a probe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(Peer {
        addr,
        path: "/events".into(),
        child,
    })
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}
