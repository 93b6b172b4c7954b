//! What every pull shares: the HTTP client of a source, bounded reads, error chains,
//! and the result of a pull. `pull` (files, URLs, feeds) and `misp` (the REST API) both
//! build on it; neither depends on the other's internals.

use std::io::Read;
use std::time::Duration;

use suriguard_intel::Intake;

use crate::config::SourceConfig;

/// Largest document rulesync reads from one file or HTTP answer.
const MAX_BODY: u64 = 512 << 20;

/// The outcome of one successful pull.
pub struct Pulled {
    pub intake: Intake,
    /// The next MISP cursor (the newest attribute timestamp seen).
    pub cursor: Option<i64>,
    /// Whether the pull covered the source's whole content (expiry applies), as opposed
    /// to an incremental MISP pull.
    pub complete: bool,
}

pub fn http_client(s: &SourceConfig) -> Result<reqwest::blocking::Client, String> {
    let mut b = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(s.timeout_secs))
        .connect_timeout(Duration::from_secs(s.timeout_secs.min(15)))
        .user_agent(concat!("suriguard-rulesync/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &s.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("ca-file {}: {e}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("ca-file {}: {e}", ca.display()))?;
        b = b.add_root_certificate(cert);
    }
    if s.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

pub fn read_limited(mut r: impl Read, what: &str) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    (&mut r)
        .take(MAX_BODY + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{what}: {e}"))?;
    if buf.len() as u64 > MAX_BODY {
        return Err(format!("{what}: larger than {} MiB", MAX_BODY >> 20));
    }
    Ok(buf)
}

pub fn get(client: &reqwest::blocking::Client, url: &str) -> Result<Vec<u8>, String> {
    let resp = client
        .get(url)
        .send()
        .map_err(|e| format!("GET {url}: {}", err_chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    read_limited(resp, &format!("GET {url}"))
}

/// An error with its causes ("error sending request: … connection refused").
pub fn err_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
