//! Headless Chromium for page tests: the real browser renders the page, the test reads the
//! DOM it produced.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Finds Chromium: `CHROMIUM_BIN`, then the Debian paths. `scripts/test` installs it.
pub fn chromium() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("CHROMIUM_BIN") {
        return Some(PathBuf::from(bin));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Loads `url` in headless Chromium and returns the DOM after scripts ran. Panics with a
/// pointer to `./scripts/test` when Chromium is missing.
pub async fn dump_dom(url: &str) -> String {
    let bin = chromium().unwrap_or_else(|| {
        panic!("Chromium is needed for page tests; ./scripts/test installs it (Debian package chromium)")
    });
    let profile = tempfile::tempdir().expect("profile dir");
    let mut command = tokio::process::Command::from(Command::new(bin));
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("Chromium finished within a minute")
        .expect("run Chromium");
    assert!(
        output.status.success(),
        "Chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
