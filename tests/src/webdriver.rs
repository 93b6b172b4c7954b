//! Real headless Chromium (Debian's `chromium` and `chromium-driver`) driven over the W3C
//! WebDriver protocol, from inside a test's network namespace: chromedriver runs there
//! and every WebDriver call is a curl request to it in the same namespace, so the browser
//! sees the namespace's loopback (where the console listens) and nothing else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::netns::{wait_for, Lab};

/// A browser session.
pub struct Browser<'a> {
    lab: &'a Lab,
    ns: String,
    dir: PathBuf,
    port: u16,
    session: String,
    driver: std::process::Child,
}

/// The W3C element key in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl<'a> Browser<'a> {
    /// Starts chromedriver in `ns` on `port` and opens a headless session; files go to
    /// `dir`.
    pub fn start(lab: &'a Lab, ns: &str, dir: &Path, port: u16) -> Browser<'a> {
        std::fs::create_dir_all(dir).unwrap();
        let log = std::fs::File::create(dir.join("chromedriver.log")).unwrap();
        let driver = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "chromedriver",
                &format!("--port={port}"),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start chromedriver (install-deps installs chromium-driver)");
        let mut b = Browser {
            lab,
            ns: ns.to_owned(),
            dir: dir.to_owned(),
            port,
            session: String::new(),
            driver,
        };
        let up = wait_for(Duration::from_secs(15), || {
            b.call("GET", "/status", None)
                .pointer("/value/ready")
                .and_then(Value::as_bool)
                == Some(true)
        });
        assert!(up.is_some(), "chromedriver did not start in {ns}");
        let profile = dir.join("profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v = b.call("POST", "/session", Some(&caps));
        b.session = v
            .pointer("/value/sessionId")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        b
    }

    /// One WebDriver request; the answer's JSON (an error answer too).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body_file = self.dir.join("wd-body.json");
        let data = match body {
            Some(b) => {
                std::fs::write(&body_file, b.to_string()).unwrap();
                format!(
                    "-H 'Content-Type: application/json' --data-binary @{}",
                    body_file.display()
                )
            }
            None => String::new(),
        };
        let out = self.lab.try_sh(
            &self.ns,
            &format!(
                "curl -s -m 60 -X {method} {data} http://127.0.0.1:{}{path}",
                self.port
            ),
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn session_call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let v = self.call(method, &format!("/session/{}{path}", self.session), body);
        if let Some(e) = v.pointer("/value/error").and_then(Value::as_str) {
            panic!("WebDriver {method} {path}: {e}: {v}");
        }
        v
    }

    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(&json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.session_call("GET", "/url", None)["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn title(&self) -> String {
        self.session_call("GET", "/title", None)["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element a CSS selector finds (panics if none).
    pub fn find(&self, css: &str) -> String {
        let v = self.session_call(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        );
        v["value"][ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    /// How many elements a CSS selector finds.
    pub fn count(&self, css: &str) -> usize {
        let v = self.session_call(
            "POST",
            "/elements",
            Some(&json!({"using": "css selector", "value": css})),
        );
        v["value"].as_array().map_or(0, Vec::len)
    }

    pub fn text(&self, element: &str) -> String {
        self.session_call("GET", &format!("/element/{element}/text"), None)["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn type_into(&self, element: &str, text: &str) {
        self.session_call(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({ "text": text })),
        );
    }

    pub fn click(&self, element: &str) {
        self.session_call(
            "POST",
            &format!("/element/{element}/click"),
            Some(&json!({})),
        );
    }

    /// Whether a JavaScript dialog (alert) is open.
    pub fn alert_open(&self) -> bool {
        let v = self.call(
            "GET",
            &format!("/session/{}/alert/text", self.session),
            None,
        );
        v.pointer("/value/error").is_none()
    }

    /// Saves a PNG screenshot of the viewport.
    pub fn screenshot(&self, to: &Path) {
        let v = self.session_call("GET", "/screenshot", None);
        let b64 = v["value"].as_str().expect("screenshot data");
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("screenshot in base64");
        std::fs::write(to, png).unwrap();
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
