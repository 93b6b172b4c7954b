//! Pulling one source: local files, HTTP downloads, the MISP REST API.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use suriguard_intel::formats::{self, ListFormat, MispFilter};
use suriguard_intel::store::SourceState;
use suriguard_intel::{Intake, Normalizer, Reject};

use crate::config::{SourceConfig, SourceType};

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

fn read_limited(mut r: impl Read, what: &str) -> Result<Vec<u8>, String> {
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

fn get(client: &reqwest::blocking::Client, url: &str) -> Result<Vec<u8>, String> {
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

/// The documents of a file- or URL-backed source: one file, every file of a directory
/// whose name ends with `suffix` (sorted by name), or one URL.
fn documents(s: &SourceConfig) -> Result<Vec<(String, Vec<u8>)>, String> {
    let read = |p: &Path| -> Result<(String, Vec<u8>), String> {
        let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok((
            p.display().to_string(),
            read_limited(f, &p.display().to_string())?,
        ))
    };
    match (&s.path, &s.url) {
        (Some(p), _) if p.is_dir() => {
            let mut files: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .filter(|f| {
                    let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    s.suffix.as_deref().is_none_or(|x| name.ends_with(x))
                })
                .collect();
            files.sort();
            files.iter().map(|f| read(f)).collect()
        }
        (Some(p), _) => Ok(vec![read(p)?]),
        (None, Some(u)) => Ok(vec![(u.clone(), get(&http_client(s)?, u)?)]),
        (None, None) => Err("no path or url".into()),
    }
}

fn text(b: Vec<u8>, what: &str) -> Result<String, String> {
    String::from_utf8(b)
        .map_err(|e| format!("{what}: not UTF-8 (byte {})", e.utf8_error().valid_up_to()))
}

pub fn pull(
    s: &SourceConfig,
    prev: &SourceState,
    now: i64,
    n: &Normalizer,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<Pulled, String> {
    let mut intake = Intake::default();
    let filter = MispFilter {
        to_ids_only: s.to_ids,
        types: s.types.iter().cloned().collect(),
    };
    match s.kind {
        SourceType::Misp => return crate::misp::pull(s, prev, now, n, progress),
        SourceType::MispFeed => {
            misp_feed(s, &filter, n, &mut intake, progress)?;
        }
        SourceType::Csv | SourceType::Text => {
            let fmt = ListFormat {
                column: s.column,
                delimiter: u8::try_from(s.delimiter)
                    .map_err(|_| "delimiter must be ASCII".to_string())?,
                comment: s.comment.clone(),
                header: s.header,
                kind: s.indicator_type.clone(),
                csv: s.kind == SourceType::Csv,
            };
            for (_, doc) in documents(s)? {
                formats::list(&doc, &fmt, &s.name, n, &mut intake);
            }
        }
        kind => {
            for (name, doc) in documents(s)? {
                let r = match kind {
                    SourceType::Stix2 => formats::stix2(&text(doc, &name)?, now, n, &mut intake),
                    SourceType::Stix1 => formats::stix1(&text(doc, &name)?, n, &mut intake),
                    SourceType::Openioc => formats::openioc(&text(doc, &name)?, n, &mut intake),
                    _ => formats::cowrie(&doc, s.min_score, &s.name, n, &mut intake),
                };
                r.map_err(|e| format!("{name}: {e}"))?;
            }
        }
    }
    Ok(Pulled {
        intake,
        cursor: None,
        complete: true,
    })
}

/// A MISP feed: `manifest.json` and one `<uuid>.json` per event, from a directory or a
/// URL. One unreadable event fails the pull (a partial feed would expire the rest).
fn misp_feed(
    s: &SourceConfig,
    f: &MispFilter,
    n: &Normalizer,
    out: &mut Intake,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<(), String> {
    let client = match &s.url {
        Some(_) => Some(http_client(s)?),
        None => None,
    };
    // Ok(None): the document does not exist (a missing file, HTTP 404).
    let fetch = |name: &str| -> Result<Option<Vec<u8>>, String> {
        match (&s.path, &s.url, &client) {
            (Some(dir), _, _) => {
                let p = Path::new(dir).join(name);
                match std::fs::File::open(&p) {
                    Ok(file) => read_limited(file, &p.display().to_string()).map(Some),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(format!("{}: {e}", p.display())),
                }
            }
            (None, Some(base), Some(c)) => {
                let url = format!("{}/{name}", base.trim_end_matches('/'));
                let resp = c
                    .get(&url)
                    .send()
                    .map_err(|e| format!("GET {url}: {}", err_chain(&e)))?;
                match resp.status().as_u16() {
                    404 => Ok(None),
                    200..=299 => read_limited(resp, &format!("GET {url}")).map(Some),
                    st => Err(format!("GET {url}: HTTP {st}")),
                }
            }
            _ => Err("no path or url".into()),
        }
    };
    let manifest = fetch("manifest.json")?.ok_or("manifest.json: not found")?;
    let events = formats::misp_manifest(&text(manifest, "manifest.json")?)?;
    let total = events.len() as u64;
    let mut found = 0usize;
    for (i, uuid) in events.iter().enumerate() {
        let name = format!("{uuid}.json");
        // An event the manifest lists but the feed does not serve is counted; any other
        // failure fails the pull, since a half-read feed would start expiring the rest.
        match fetch(&name)? {
            None => out.reject(Reject::Unavailable),
            Some(body) => {
                found += 1;
                let body = text(body, &name)?;
                formats::misp_event(&body, f, n, out).map_err(|e| format!("{name}: {e}"))?;
            }
        }
        progress(i as u64 + 1, Some(total));
    }
    if found == 0 && !events.is_empty() {
        return Err(format!(
            "none of the {} events in manifest.json could be fetched",
            events.len()
        ));
    }
    Ok(())
}
