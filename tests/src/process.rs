//! A child process with its log in a file. Stopping sends SIGTERM and waits; a service that
//! does not exit 0 fails the test (graceful shutdown is tested on every run).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::wait;

/// How long a service may take to stop after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running child process.
pub struct Process {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    /// Whether a non-zero exit on stop fails the test.
    must_exit_cleanly: bool,
}

impl Process {
    /// Spawns `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Process {
        let out = std::fs::File::create(log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
            must_exit_cleanly: true,
        }
    }

    /// Do not fail the test when this process exits non-zero (e.g. nats-server killed).
    pub fn allow_unclean_exit(&mut self) {
        self.must_exit_cleanly = false;
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The last lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait up to [`STOP_TIMEOUT`]; SIGKILL after that. Returns the status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let status = wait::until_blocking(STOP_TIMEOUT, || child.try_wait().ok().flatten());
        match status {
            Some(status) => Some(status),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not stop within {STOP_TIMEOUT:?} of SIGTERM; log tail:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
        }
    }

    /// SIGKILL and reap (simulates a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and asserts a clean exit (status 0).
    pub fn stop_cleanly(&mut self) {
        if let Some(status) = self.stop() {
            assert!(
                status.success(),
                "{} exited with {status} after SIGTERM; log tail:\n{}",
                self.name,
                self.log_tail(40)
            );
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Already failing: show what the process said, and never panic twice.
            if self.child.is_some() {
                eprintln!("--- {} log tail ---\n{}", self.name, self.log_tail(30));
            }
            self.kill();
            return;
        }
        if self.must_exit_cleanly {
            self.stop_cleanly();
        } else {
            let _ = self.stop();
        }
    }
}

/// Resident memory of a process, MB: now (`VmRSS`) and its peak so far (`VmHWM`).
pub fn rss_mb(pid: Option<u32>) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let field = |name: &str| -> Option<f64> {
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The `--config` a service or CLI gets: the last `SENDREALM_CONFIG` of `env`, else none
/// (`/dev/null`; the environment still overrides either).
pub fn config_file(env: &[(String, String)]) -> &str {
    env.iter()
        .rev()
        .find(|(k, _)| k == "SENDREALM_CONFIG")
        .map_or("/dev/null", |(_, v)| v.as_str())
}

/// A service binary (agent or aggregator) started from `SENDREALM_*` settings only, with
/// its log and its address file in a temp dir of its own.
pub struct Service {
    /// The process.
    pub process: Process,
    /// `http://127.0.0.1:<port>`, read from the address file.
    pub url: String,
    _dir: tempfile::TempDir,
}

/// How long a service may take to report its address.
const ADDRESS_TIMEOUT: Duration = Duration::from_secs(20);

impl Service {
    /// Starts `binary run` on a free loopback port with `env` (later entries win) and
    /// waits for the address it bound. A `SENDREALM_CONFIG` entry names the config file
    /// (the environment still overrides it); without one there is none.
    pub async fn start(binary: &str, env: &[(String, String)]) -> Service {
        let config = config_file(env);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{binary}-"))
            .tempdir()
            .expect("temp dir");
        let addr_file = dir.path().join("addr");
        let mut command = Command::new(crate::bin(binary));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SENDREALM_LISTEN", "127.0.0.1:0")
            .env("SENDREALM_SHUTDOWN_TIMEOUT_SECS", "10")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["--config", config, "run", "--addr-file"])
            .arg(&addr_file);
        let mut process = Process::spawn(binary, command, &dir.path().join("service.log"));
        let addr = wait::until(ADDRESS_TIMEOUT, &format!("{binary}'s address file"), || {
            let running = process.is_running();
            let addr = std::fs::read_to_string(&addr_file)
                .ok()
                .filter(|a| !a.is_empty());
            async move {
                assert!(running || addr.is_some(), "{binary} exited during start-up");
                addr
            }
        })
        .await;
        Service {
            process,
            url: format!("http://{addr}"),
            _dir: dir,
        }
    }
}
