//! Headless Chromium for page tests: the real browser loads the pages, follows redirects,
//! keeps cookies and submits forms; the test drives it over the DevTools protocol and reads
//! the DOM it produced.

use std::path::PathBuf;
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

/// A headless Chromium driven over the DevTools protocol: one tab, its cookies kept between
/// pages like a user's browser. Dropping it kills the browser.
pub struct Browser {
    socket: tokio::sync::Mutex<Socket>,
    session: String,
    next_id: std::sync::atomic::AtomicU64,
    _child: tokio::process::Child,
    _profile: tempfile::TempDir,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long one page may take to load.
const PAGE_DEADLINE: Duration = Duration::from_secs(20);

impl Browser {
    /// Starts Chromium with an empty profile and opens one tab. Panics with a pointer to
    /// `./scripts/test` when Chromium is missing.
    pub async fn launch() -> Browser {
        use tokio::io::AsyncBufReadExt as _;
        let bin = chromium().unwrap_or_else(|| {
            panic!("Chromium is needed for page tests; ./scripts/test installs it (Debian package chromium)")
        });
        let profile = tempfile::tempdir().expect("profile dir");
        let mut command = tokio::process::Command::new(bin);
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
                // DevTools on a free port, printed on stderr.
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start Chromium");
        let stderr = child.stderr.take().expect("Chromium's stderr");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read Chromium's stderr") {
                if let Some(at) = line.find("ws://") {
                    return line[at..].trim().to_owned();
                }
            }
            panic!("Chromium exited without a DevTools address")
        })
        .await
        .expect("Chromium printed its DevTools address within 30 s");
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to DevTools");
        let mut browser = Browser {
            socket: tokio::sync::Mutex::new(socket),
            session: String::new(),
            next_id: std::sync::atomic::AtomicU64::new(1),
            _child: child,
            _profile: profile,
        };
        let target = browser
            .call(
                "Target.createTarget",
                serde_json::json!({"url": "about:blank"}),
            )
            .await;
        let attached = browser
            .call(
                "Target.attachToTarget",
                serde_json::json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a DevTools session")
            .to_owned();
        browser
    }

    /// Sends one DevTools command (to the tab once attached) and returns its result.
    pub async fn call(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let reply = self.send(method, params).await;
        assert!(
            reply["error"].is_null(),
            "{method} failed: {}",
            reply["error"]
        );
        reply["result"].clone()
    }

    /// Sends one DevTools command and returns the whole reply, errors included.
    async fn send(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        use futures::{SinkExt as _, StreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut message = serde_json::json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = serde_json::Value::String(self.session.clone());
        }
        let mut socket = self.socket.lock().await;
        socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send to DevTools");
        tokio::time::timeout(PAGE_DEADLINE, async {
            while let Some(frame) = socket.next().await {
                let frame = frame.expect("read from DevTools");
                let Ok(text) = frame.to_text() else { continue };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
                    continue;
                };
                if value["id"] == id {
                    return value;
                }
            }
            panic!("DevTools closed")
        })
        .await
        .unwrap_or_else(|_| panic!("DevTools answered {method} within {PAGE_DEADLINE:?}"))
    }

    /// Evaluates JavaScript in the page and returns its value.
    pub async fn eval(&self, expression: &str) -> serde_json::Value {
        let result = self
            .call(
                "Runtime.evaluate",
                serde_json::json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Marks the current document, so [`Self::settled`] can tell when another replaced it.
    async fn mark(&self) {
        self.eval("window.__sendrealm_marker = true").await;
    }

    /// Waits until a new document replaced the marked one and finished loading.
    async fn settled(&self) {
        let deadline = tokio::time::Instant::now() + PAGE_DEADLINE;
        loop {
            // Between two documents an evaluation may fail (no context yet): not loaded.
            let reply = self
                .send(
                    "Runtime.evaluate",
                    serde_json::json!({"expression": "window.__sendrealm_marker === undefined && document.readyState === 'complete'", "returnByValue": true}),
                )
                .await;
            if reply["result"]["result"]["value"] == serde_json::Value::Bool(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page did not load within {PAGE_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.mark().await;
        self.call("Page.navigate", serde_json::json!({"url": url}))
            .await;
        self.settled().await;
    }

    /// Runs `action` (JavaScript that submits a form or follows a link) and waits for the
    /// page it leads to.
    pub async fn act(&self, action: &str) {
        self.mark().await;
        self.eval(action).await;
        self.settled().await;
    }

    /// Fills the input matched by `selector` with `value`.
    pub async fn fill(&self, selector: &str, value: &str) {
        let script = format!(
            "document.querySelector({}).value = {}",
            serde_json::Value::String(selector.to_owned()),
            serde_json::Value::String(value.to_owned())
        );
        self.eval(&script).await;
    }

    /// Clicks the element matched by `selector` and waits for the page it leads to.
    pub async fn click(&self, selector: &str) {
        let script = format!(
            "document.querySelector({}).click()",
            serde_json::Value::String(selector.to_owned())
        );
        self.act(&script).await;
    }

    /// The text of the element matched by `selector`, or `None` when there is none.
    pub async fn text(&self, selector: &str) -> Option<String> {
        let script = format!(
            "(document.querySelector({}) || {{}}).innerText",
            serde_json::Value::String(selector.to_owned())
        );
        self.eval(&script).await.as_str().map(str::to_owned)
    }

    /// The page's URL.
    pub async fn url(&self) -> String {
        self.eval("location.href")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's whole HTML.
    pub async fn html(&self) -> String {
        self.eval("document.documentElement.outerHTML")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of the browser's cookie `name` (HttpOnly ones too).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let cookies = self.call("Network.getCookies", serde_json::json!({})).await;
        cookies["cookies"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["value"].as_str().map(str::to_owned))
    }

    /// Sets the page's width (CSS pixels), to see it as a phone would.
    pub async fn set_width(&self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
    }

    /// Saves a PNG of the whole page at `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let shot = self
            .call(
                "Page.captureScreenshot",
                serde_json::json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}
