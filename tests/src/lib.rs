//! The black-box test harness: real nats-server, aggregator and agent processes on
//! loopback, each test with its own ports, temp dirs and database.
//!
//! # Layout
//!
//! * [`nats`]: a nats-server 2.15.1 on a free port with a temp store, restartable.
//! * [`process`]: a child process that is stopped with SIGTERM and must exit 0.
//! * [`browser`]: headless Chromium for page tests, driven over the DevTools protocol.
//! * [`pages`]: the pages' sign-in and forms over plain HTTP, for status-code checks.
//! * [`agent`]: the real `sendrealm-agent` binary, started and waited on until ready.
//! * [`aggregator`]: the real `sendrealm-aggregator` binary: admin CLI (and later the service).
//! * [`postgres`]: a throwaway PostgreSQL database per test.
//! * [`db`]: counting stored rows directly.
//! * [`load`]: load with a ledger of acknowledged keys, for fault tests.
//! * [`stack`]: nats-server + project + agent (+ aggregator) in one call.
//! * [`proxy`]: a TCP proxy to cut, to take a database away mid-test.
//! * [`regions`]: a hub and two leaf nodes from `config/regions/`, with agents and nkeys.
//! * [`wait`]: waiting on a condition with a deadline (never a bare sleep).

pub mod agent;
pub mod aggregator;
pub mod browser;
pub mod db;
pub mod load;
pub mod nats;
pub mod pages;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod regions;
pub mod stack;
pub mod wait;

use std::path::PathBuf;

/// A directory of binaries that replaces the built ones for processes started from now on
/// (the benchmark runs an earlier release's aggregator this way).
static BIN_DIR_OVERRIDE: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// Starts processes from `dir` (or, with `None`, from the built binaries again).
pub fn use_bin_dir(dir: Option<PathBuf>) {
    if let Ok(mut current) = BIN_DIR_OVERRIDE.lock() {
        *current = dir;
    }
}

/// Directory holding the built binaries: the [`use_bin_dir`] override,
/// `SENDREALM_TEST_BIN_DIR`, or the profile directory this test binary was built into
/// (`target/<profile>/deps/..`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = BIN_DIR_OVERRIDE.lock().ok().and_then(|d| d.clone()) {
        return dir;
    }
    if let Some(dir) = std::env::var_os("SENDREALM_TEST_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current test executable");
    let deps = exe.parent().expect("test binary directory");
    let profile = if deps.ends_with("deps") {
        deps.parent().expect("profile directory")
    } else {
        deps
    };
    profile.to_path_buf()
}

/// Path of a workspace binary, with an actionable message when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`./scripts/test` does: cargo build --bins), \
         or point SENDREALM_TEST_BIN_DIR at them",
        path.display()
    );
    path
}

/// The repository root (for example configs and fixtures).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A short random suffix for unique names.
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{:x}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
