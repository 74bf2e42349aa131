//! A real headless Chromium driven through chromedriver (WebDriver), one per test.
//!
//! Debian's `chromium` and `chromium-driver` packages (`scripts/test.sh` installs them). Without
//! them the tests are skipped with a message, except under `CI=true`, where they must run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;

/// Where Debian puts the browser and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Generous: a busy 2-core machine builds pages slowly in debug builds; never a timing assertion.
pub const WAIT: Duration = Duration::from_secs(30);
/// Desktop window.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone held upright.
pub const PHONE: (u32, u32) = (375, 812);

/// `Some(reason)` when the browser is missing and the tests may be skipped (not in CI).
pub fn skip_reason() -> Option<String> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let reason = format!(
        "browser tests need Debian's chromium and chromium-driver ({} missing): \
         run `bash scripts/test.sh`, or `apt-get install -y chromium chromium-driver`",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{reason} (CI=true: browser tests must run)");
    }
    Some(reason)
}

/// A chromedriver process and a browser session in it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--lang=en-GB".to_owned(),
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + WAIT;
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("could not start a Chromium session: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigation");
    }

    /// Waits for an element.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?} within {WAIT:?}: {e}"))
    }

    /// Every element matching now.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
    }

    /// Types into the field with this CSS selector (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("typing");
    }

    /// Puts text into a field as a paste does (typing a tab would move the focus instead).
    pub async fn paste(&self, css: &str, text: &str) {
        self.find(css).await;
        self.js(
            "const e = document.querySelector(arguments[0]); e.focus(); e.value = arguments[1]; \
             e.dispatchEvent(new Event('input', {bubbles: true})); return true;",
            vec![json!(css), json!(text)],
        )
        .await;
    }

    /// Clicks the element with this CSS selector.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Clicks the button or link whose visible text contains `text`.
    pub async fn click_text(&self, text: &str) {
        let xpath = format!(
            "//*[self::button or self::a][contains(normalize-space(.), {})]",
            xpath_literal(text)
        );
        let e = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button or link {text:?}: {e}"));
        e.click().await.expect("click");
    }

    /// Text of the element with this CSS selector.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Text of the element with this CSS selector, if it is there now.
    pub async fn client_text(&self, css: &str) -> Option<String> {
        let e = self.client.find(Locator::Css(css)).await.ok()?;
        e.text().await.ok()
    }

    /// Runs JavaScript and returns its result.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .expect("script runs")
    }

    /// The current path (and query).
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until `check` returns `Some`, polling; panics with `what` at the deadline.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the text of `css` contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        self.eventually(&format!("{css:?} to contain {needle:?}"), || async {
            let e = self.client.find(Locator::Css(css)).await.ok()?;
            let t = e.text().await.ok()?;
            t.contains(needle).then_some(t)
        })
        .await
    }

    /// Waits until the current path starts with `prefix`.
    pub async fn wait_path(&self, prefix: &str) -> String {
        self.eventually(&format!("the page {prefix}"), || async {
            let p = self.path().await;
            p.starts_with(prefix).then_some(p)
        })
        .await
    }

    /// Resizes the window.
    pub async fn size(&self, (w, h): (u32, u32)) {
        self.client.set_window_size(w, h).await.expect("resize");
    }

    /// Saves a full-page screenshot as `name`.png (see [`screenshot_dirs`]).
    pub async fn screenshot(&self, name: &str) {
        let (w, h) = self.client.get_window_size().await.expect("size");
        let height = self
            .js(
                "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight;",
                vec![],
            )
            .await
            .as_u64()
            .unwrap_or(h)
            .clamp(300, 4000);
        self.size((w as u32, height as u32)).await;
        // From the top, without the focus highlight, once the layout settled at the new size.
        self.js(
            "if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0); \
             return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));",
            vec![],
        )
        .await;
        let png = self.client.screenshot().await.expect("screenshot");
        self.size((w as u32, h as u32)).await;
        for dir in screenshot_dirs() {
            std::fs::create_dir_all(&dir).expect("screenshot dir");
            std::fs::write(dir.join(format!("{name}.png")), &png).expect("screenshot written");
        }
    }

    /// Signs in through the form.
    pub async fn sign_in(&self, base: &str, user: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("#username", user).await;
        self.fill("#password", password).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
        self.wait_path("/campaigns").await;
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// Screenshots go to the target directory; with `HERALD_UPDATE_SCREENSHOTS=1` also to
/// `docs/screenshots/` (committed, shown in the README), so a normal test run leaves the work
/// tree clean.
pub fn screenshot_dirs() -> Vec<PathBuf> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let mut dirs = vec![target.join("screenshots")];
    if std::env::var("HERALD_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"));
    }
    dirs
}

/// An XPath string literal for any text.
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
