//! Loopback servers the tests start: the MISP stand-in (`tests/misp/misp_server.py`),
//! the HTTP stubs for Telegram, LLMs and webhooks (`tests/servers/http_stub.py`), and a
//! real SMTP server (`tests/servers/smtp_server.py`, Debian's python3-aiosmtpd).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::{shared_data, workspace_root};

/// A Python server that prints its port on its first line.
pub struct PyServer {
    child: Child,
    pub port: u16,
    pub mode: PathBuf,
    pub log: PathBuf,
}

impl PyServer {
    /// Starts `script` with `args`; `--mode-file` and `--log` are added when `logged`.
    pub fn start(
        python: &str,
        script: &str,
        args: &[&str],
        dir: &Path,
        name: &str,
        logged: bool,
    ) -> PyServer {
        let mode = dir.join(format!("{name}-mode"));
        let log = dir.join(format!("{name}-requests.jsonl"));
        std::fs::write(&mode, "ok").unwrap();
        let mut cmd = Command::new(python);
        cmd.arg(workspace_root().join(script)).args(args);
        if logged {
            cmd.arg("--mode-file").arg(&mode).arg("--log").arg(&log);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{python} {script}: {e}"));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{script} said {line:?}"));
        PyServer {
            child,
            port,
            mode,
            log,
        }
    }

    /// The MISP test server.
    pub fn misp(dir: &Path) -> PyServer {
        let data = shared_data().display().to_string();
        PyServer::start(
            "python3",
            "tests/misp/misp_server.py",
            &["--data", &data],
            dir,
            "misp",
            true,
        )
    }

    /// The Telegram / LLM / webhook stub.
    pub fn http_stub(dir: &Path) -> PyServer {
        PyServer::start(
            "python3",
            "tests/servers/http_stub.py",
            &[],
            dir,
            "stub",
            true,
        )
    }

    /// A real SMTP server writing what it receives to `maildir`.
    pub fn smtp(dir: &Path, name: &str, args: &[&str]) -> PyServer {
        PyServer::start(
            "/usr/bin/python3",
            "tests/servers/smtp_server.py",
            args,
            dir,
            name,
            false,
        )
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET `path` and parse the JSON answer (plain HTTP/1.0, no client library).
    pub fn get_json(&self, path: &str) -> Value {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).unwrap();
        let body = buf.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {buf}"))
    }

    pub fn set_mode(&self, m: &str) {
        std::fs::write(&self.mode, m).unwrap();
    }

    /// The requests logged since the last call.
    pub fn take_requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::write(&self.log, "");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The MISP test server's API key.
pub const MISP_KEY: &str = "suriguard-test-key-0123456789abcdef0123456";
