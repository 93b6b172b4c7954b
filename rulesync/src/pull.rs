//! Pulling one source: local files, HTTP downloads, the MISP REST API.

use std::path::Path;

use suriguard_intel::formats::{self, ListFormat, MispFilter};
use suriguard_intel::store::SourceState;
use suriguard_intel::{Intake, Normalizer, Reject};

use crate::config::{SourceConfig, SourceType};
use crate::http::{err_chain, get, http_client, read_limited, Pulled};

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
    let events =
        formats::misp_manifest(&text(manifest, "manifest.json")?).map_err(|e| e.to_string())?;
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
