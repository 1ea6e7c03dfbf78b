//! Drives headless Chromium through chromedriver's W3C WebDriver protocol
//! (HTTP with JSON, https://www.w3.org/TR/webdriver2/), with the test
//! helpers' own HTTP client: no async runtime to build.

use super::http_client;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The flags the project starts Chromium with (no sandbox: CI runs as root).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
];

/// Debian's `chromium` and `chromium-driver`, if installed.
pub fn find_chromium() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|path| path.is_file())
            })
        })
    };
    Some((
        find(&["chromium", "chromium-browser"])?,
        find(&["chromedriver"])?,
    ))
}

pub struct Browser {
    driver: Child,
    address: String,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of `width` x `height`.
    pub fn start(chromium: &PathBuf, chromedriver: &PathBuf, width: u32, height: u32) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http_client::request(&address, "GET", "/status", &[], b"")
                .ok()
                .filter(|answer| answer.status == 200)
                .is_some_and(|answer| answer.json()["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready after 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--window-size={width},{height}"));
        let mut browser = Browser {
            driver,
            address,
            session: String::new(),
        };
        let created = browser.send(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args}
            }}}),
        );
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser
    }

    /// One WebDriver command; panics with the driver's message on an error.
    fn send(&self, method: &str, path: &str, body: Value) -> Value {
        let bytes = match method {
            "GET" | "DELETE" => Vec::new(),
            _ => body.to_string().into_bytes(),
        };
        let headers = [("Content-Type", "application/json; charset=utf-8")];
        let answer = http_client::request(&self.address, method, path, &headers, &bytes)
            .unwrap_or_else(|e| panic!("chromedriver {method} {path}: {e}"));
        let value = answer.json()["value"].take();
        assert_eq!(answer.status, 200, "chromedriver {method} {path}: {value}");
        value
    }

    fn session_command(&self, method: &str, path: &str, body: Value) -> Value {
        self.send(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_command("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.session_command(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Runs `script`, whose last argument is a callback to call with the result.
    pub fn execute_async(&self, script: &str, args: Value) -> Value {
        self.session_command(
            "POST",
            "/execute/async",
            json!({"script": script, "args": args}),
        )
    }

    /// The element matching a CSS selector (its WebDriver reference).
    pub fn element(&self, css: &str) -> Value {
        let found = self.session_command(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        json!({ ELEMENT_KEY: found[ELEMENT_KEY] })
    }

    fn element_id(element: &Value) -> &str {
        element[ELEMENT_KEY].as_str().expect("an element reference")
    }

    pub fn click(&self, element: &Value) {
        let path = format!("/element/{}/click", Browser::element_id(element));
        self.session_command("POST", &path, json!({}));
    }

    pub fn text(&self, element: &Value) -> String {
        let path = format!("/element/{}/text", Browser::element_id(element));
        self.session_command("GET", &path, json!({}))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Types `text` into an element; for a file input, the path of a file to upload.
    pub fn send_keys(&self, element: &Value, text: &str) {
        let path = format!("/element/{}/value", Browser::element_id(element));
        self.session_command("POST", &path, json!({ "text": text }));
    }

    pub fn is_displayed(&self, element: &Value) -> bool {
        let path = format!("/element/{}/displayed", Browser::element_id(element));
        self.session_command("GET", &path, json!({})) == true
    }

    /// Performs a list of input sources' actions (WebDriver "Perform Actions").
    pub fn perform_actions(&self, actions: Value) {
        self.session_command("POST", "/actions", json!({ "actions": actions }));
        self.session_command("DELETE", "/actions", json!({}));
    }

    /// Presses and releases one key, sent to the focused element.
    pub fn press_key(&self, key: &str) {
        self.perform_actions(json!([{
            "type": "key", "id": "keyboard",
            "actions": [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]
        }]));
    }

    /// A Chrome DevTools Protocol command (chromedriver's extension),
    /// e.g. to emulate dark mode or a phone's screen.
    pub fn cdp(&self, command: &str, params: Value) -> Value {
        self.session_command(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": command, "params": params}),
        )
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.session_command("GET", "/screenshot", json!({}));
        base64_decode(encoded.as_str().expect("base64 text"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = http_client::request(&self.address, "DELETE", &path, &[], b"");
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (RFC 4648), as WebDriver sends screenshots.
pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(value)
        .collect();
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for group in digits.chunks(4) {
        let mut word = 0u32;
        for (i, &d) in group.iter().enumerate() {
            word |= u32::from(d) << (18 - 6 * i);
        }
        let produced = group.len() * 6 / 8;
        for i in 0..produced {
            bytes.push((word >> (16 - 8 * i)) as u8);
        }
    }
    bytes
}
