//! The services under systemd (`Type=notify`, `WatchdogSec=`): readiness, watchdog pings
//! and stopping, first against the test's own notify socket (runs everywhere), then under
//! a real service manager where the machine has one.

use std::time::Duration;

use sendrealm_e2e::agent::Agent;
use sendrealm_e2e::aggregator::{AdminCli, Aggregator};
use sendrealm_e2e::nats::NatsServer;
use tokio::net::UnixDatagram;

/// What a service told the notify socket, in order.
struct Notifications {
    socket: UnixDatagram,
    _dir: tempfile::TempDir,
    path: String,
}

impl Notifications {
    fn bind() -> Notifications {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        Notifications {
            socket,
            path: path.display().to_string(),
            _dir: dir,
        }
    }

    /// The environment systemd gives a `Type=notify` service with `WatchdogSec=1`.
    fn env(&self) -> [(&str, &str); 2] {
        [
            ("NOTIFY_SOCKET", self.path.as_str()),
            ("WATCHDOG_USEC", "1000000"),
        ]
    }

    /// Waits for a datagram holding `line`, returning how many others came first.
    async fn expect(&self, line: &str) -> usize {
        let mut others = 0;
        let mut buffer = [0u8; 512];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(20), self.socket.recv(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("no {line} within 20 s"))
                .unwrap();
            let text = String::from_utf8_lossy(&buffer[..n]);
            if text.lines().any(|l| l == line) {
                return others;
            }
            others += 1;
        }
    }
}

#[tokio::test]
async fn services_report_ready_ping_the_watchdog_and_report_stopping() {
    let nats = NatsServer::start();
    let cli = AdminCli::sqlite(&nats);
    cli.create_project("notify", &[]).await;

    let agent_socket = Notifications::bind();
    let agent = Agent::spawn(&nats, &agent_socket.env()).await;
    agent_socket.expect("READY=1").await;
    agent.wait_ready().await;
    // Half the interval apart: two pings within ~1 s of each other.
    agent_socket.expect("WATCHDOG=1").await;
    agent_socket.expect("WATCHDOG=1").await;
    agent.stop();
    agent_socket.expect("STOPPING=1").await;

    let aggregator_socket = Notifications::bind();
    let aggregator = Aggregator::spawn(&nats, &cli, &aggregator_socket.env()).await;
    aggregator_socket.expect("READY=1").await;
    aggregator_socket.expect("WATCHDOG=1").await;
    aggregator_socket.expect("WATCHDOG=1").await;
    aggregator.stop();
    aggregator_socket.expect("STOPPING=1").await;
}

/// `systemctl [--user] <args>`.
fn systemctl(user: bool, args: &[&str]) -> String {
    let mut command = std::process::Command::new("systemctl");
    if user {
        command.arg("--user");
    }
    let out = command.args(args).output().expect("systemctl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_agent_runs_as_a_notify_unit_under_the_service_manager() {
    // ./scripts/test sets this when systemd-run works here and skips this test otherwise
    // (saying so); it never passes without a service manager.
    let mode = std::env::var("SENDREALM_TEST_SYSTEMD").expect(
        "this test needs a systemd service manager (SENDREALM_TEST_SYSTEMD=user|system, set by ./scripts/test)",
    );
    let user = mode == "user";
    let nats = NatsServer::start();
    let cli = AdminCli::sqlite(&nats);
    cli.create_project("unit", &[]).await;
    let unit = format!("sendrealm-agent-test-{}", sendrealm_e2e::unique_suffix());
    let mut command = std::process::Command::new("systemd-run");
    if user {
        command.arg("--user");
    }
    let nats_url = format!("SENDREALM_NATS__URL={}", nats.url());
    let out = command
        .args(["--unit", &unit, "--collect"])
        .args([
            "--property",
            "Type=notify",
            "--property",
            "NotifyAccess=main",
        ])
        .args([
            "--property",
            "WatchdogSec=10",
            "--property",
            "TimeoutStartSec=60",
        ])
        .args([
            "--setenv",
            &nats_url,
            "--setenv",
            "SENDREALM_LISTEN=127.0.0.1:0",
        ])
        .arg(sendrealm_e2e::bin("sendrealm-agent"))
        .args(["--config", "/dev/null", "run"])
        .output()
        .expect("systemd-run");
    // systemd-run returns once the start job is done: for Type=notify, after READY=1.
    assert!(
        out.status.success(),
        "systemd-run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = systemctl(
        user,
        &["show", "-p", "ActiveState", "-p", "SubState", &unit],
    );
    assert!(
        state.contains("ActiveState=active") && state.contains("SubState=running"),
        "{state}"
    );
    systemctl(user, &["stop", &unit]);
    // `show` answers for a unit that was collected too (as inactive).
    let result = systemctl(user, &["show", "-p", "ActiveState", &unit]);
    assert!(result.contains("ActiveState=inactive"), "{result}");
}
