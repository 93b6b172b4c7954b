//! One blocking HTTP client shape for MISP, the LLM providers, Telegram and webhooks:
//! a total timeout per request, an optional extra CA, and errors that never quote the
//! URL (a Telegram URL carries the bot token).

use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

use crate::error::CtlError;

pub fn client(timeout: f64, ca_file: Option<&Path>) -> Result<Client, CtlError> {
    let mut b = Client::builder()
        .timeout(Duration::from_secs_f64(timeout))
        .connect_timeout(Duration::from_secs_f64(timeout.min(10.0)))
        .user_agent(concat!("suriguard/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).map_err(CtlError::file("read the CA file", ca))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| CtlError::CaPem {
            path: ca.to_owned(),
            source: e.into(),
        })?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|source| CtlError::HttpClient { source })
}

/// How a request failed. The texts are what the service said, never the URL (a
/// Telegram URL carries the bot token); callers scrub them of the key they sent.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No answer: connection refused, timeout, TLS failure.
    #[error("{0}")]
    Transport(String),
    /// An HTTP error status, with the body's message if it had one.
    #[error("HTTP {0}: {1}")]
    Status(u16, String),
    /// 2xx with a body that is not the JSON expected.
    #[error("bad answer: {0}")]
    Body(String),
    /// The local store failed (the error names the file and the operation).
    #[error(transparent)]
    Store(Box<CtlError>),
}

impl From<CtlError> for Failure {
    fn from(e: CtlError) -> Failure {
        Failure::Store(Box::new(e))
    }
}

fn transport(e: reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // without_url: the URL may carry a secret (Telegram's bot token).
    let e = e.without_url();
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    Failure::Transport(msg)
}

/// Sends and reads a JSON answer (an empty body is `null`).
pub fn send_json(req: RequestBuilder) -> Result<Value, Failure> {
    let resp = req.send().map_err(transport)?;
    let status = resp.status();
    let text = resp.text().map_err(transport)?;
    let body: Option<Value> = serde_json::from_str(&text).ok();
    if !status.is_success() {
        let msg = body
            .as_ref()
            .and_then(|b| {
                b["message"]
                    .as_str()
                    .or(b["description"].as_str())
                    .or(b["error"]["message"].as_str())
                    .or(b["error"].as_str())
                    .or(b["errors"].as_str())
                    .map(str::to_string)
                    .or_else(|| (!b["errors"].is_null()).then(|| b["errors"].to_string()))
            })
            .unwrap_or_else(|| {
                let t: String = text.chars().take(120).collect();
                t.split_whitespace().collect::<Vec<_>>().join(" ")
            });
        return Err(Failure::Status(status.as_u16(), msg));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    body.ok_or_else(|| {
        Failure::Body(format!(
            "not JSON ({} bytes, starts {:?})",
            text.len(),
            text.chars().take(40).collect::<String>()
        ))
    })
}
