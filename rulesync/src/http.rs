//! What every pull shares: the HTTP client of a source, bounded reads, error chains,
//! and the result of a pull. `pull` (files, URLs, feeds) and `misp` (the REST API) both
//! build on it; neither depends on the other's internals.

use std::io::Read;
use std::time::Duration;

use suriguard_intel::Intake;

use crate::config::SourceConfig;
use crate::error::SyncError;

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

pub fn http_client(s: &SourceConfig) -> Result<reqwest::blocking::Client, SyncError> {
    let mut b = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(s.timeout_secs))
        .connect_timeout(Duration::from_secs(s.timeout_secs.min(15)))
        .user_agent(concat!("suriguard-rulesync/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &s.ca_file {
        let ca_err = |e: Box<dyn std::error::Error + Send + Sync>| SyncError::CaFile {
            path: ca.clone(),
            source: e,
        };
        let pem = std::fs::read(ca).map_err(|e| ca_err(e.into()))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| ca_err(e.into()))?;
        b = b.add_root_certificate(cert);
    }
    if s.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|source| SyncError::HttpClient { source })
}

/// Reads at most [`MAX_BODY`] bytes; `what` names the document (a path, `GET <url>`).
pub fn read_limited(mut r: impl Read, what: &str) -> Result<Vec<u8>, SyncError> {
    let mut buf = Vec::new();
    (&mut r)
        .take(MAX_BODY + 1)
        .read_to_end(&mut buf)
        .map_err(|source| SyncError::Read {
            what: what.to_owned(),
            source,
        })?;
    if buf.len() as u64 > MAX_BODY {
        return Err(SyncError::TooLarge {
            what: what.to_owned(),
            limit_mib: MAX_BODY >> 20,
        });
    }
    Ok(buf)
}

pub fn get(client: &reqwest::blocking::Client, url: &str) -> Result<Vec<u8>, SyncError> {
    let resp = client.get(url).send().map_err(|source| SyncError::Http {
        method: "GET",
        url: url.to_owned(),
        source,
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(SyncError::HttpStatus {
            method: "GET",
            url: url.to_owned(),
            status,
        });
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
