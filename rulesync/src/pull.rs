//! Pulling one source: local files, HTTP downloads, the MISP REST API.

use std::path::Path;

use suriguard_intel::formats::{self, ListFormat, MispFilter};
use suriguard_intel::store::SourceState;
use suriguard_intel::{Intake, Normalizer, Reject};

use crate::config::{SourceConfig, SourceType};
use crate::error::SyncError;
use crate::http::{get, http_client, read_limited, Pulled};

/// The documents of a file- or URL-backed source: one file, every file of a directory
/// whose name ends with `suffix` (sorted by name), or one URL.
fn documents(s: &SourceConfig) -> Result<Vec<(String, Vec<u8>)>, SyncError> {
    let read = |p: &Path| -> Result<(String, Vec<u8>), SyncError> {
        let f = std::fs::File::open(p).map_err(SyncError::io("read", p))?;
        Ok((
            p.display().to_string(),
            read_limited(f, &p.display().to_string())?,
        ))
    };
    match (&s.path, &s.url) {
        (Some(p), _) if p.is_dir() => {
            let mut files: Vec<_> = std::fs::read_dir(p)
                .map_err(SyncError::io("list", p))?
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
        (None, None) => Err(SyncError::NoLocation {
            source_name: s.name.clone(),
        }),
    }
}

fn text(b: Vec<u8>, what: &str) -> Result<String, SyncError> {
    String::from_utf8(b).map_err(|e| SyncError::NotUtf8 {
        document: what.to_owned(),
        valid_up_to: e.utf8_error().valid_up_to(),
    })
}

pub fn pull(
    s: &SourceConfig,
    prev: &SourceState,
    now: i64,
    n: &Normalizer,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<Pulled, SyncError> {
    let mut intake = Intake::default();
    let filter = MispFilter {
        to_ids_only: s.to_ids,
        types: s.types.iter().cloned().collect(),
        warninglists: s.enforce_warninglist,
    };
    match s.kind {
        SourceType::Misp => return crate::misp::pull(s, prev, now, n, progress),
        SourceType::MispFeed => {
            misp_feed(s, &filter, n, &mut intake, progress)?;
        }
        SourceType::Csv | SourceType::Text => {
            let fmt = ListFormat {
                column: s.column,
                delimiter: u8::try_from(s.delimiter).map_err(|_| SyncError::Delimiter {
                    source_name: s.name.clone(),
                    delimiter: s.delimiter,
                })?,
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
                    SourceType::MispEvent => {
                        formats::misp_event_file(&text(doc, &name)?, &filter, n, &mut intake)
                            .map(|_| ())
                    }
                    _ => formats::cowrie(&doc, s.min_score, &s.name, n, &mut intake),
                };
                r.map_err(|source| SyncError::Document {
                    document: name,
                    source,
                })?;
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
) -> Result<(), SyncError> {
    let client = match &s.url {
        Some(_) => Some(http_client(s)?),
        None => None,
    };
    // Ok(None): the document does not exist (a missing file, HTTP 404).
    let fetch = |name: &str| -> Result<Option<Vec<u8>>, SyncError> {
        match (&s.path, &s.url, &client) {
            (Some(dir), _, _) => {
                let p = Path::new(dir).join(name);
                match std::fs::File::open(&p) {
                    Ok(file) => read_limited(file, &p.display().to_string()).map(Some),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(SyncError::io("read", p)(e)),
                }
            }
            (None, Some(base), Some(c)) => {
                let url = format!("{}/{name}", base.trim_end_matches('/'));
                let resp = c.get(&url).send().map_err(|source| SyncError::Http {
                    method: "GET",
                    url: url.clone(),
                    source,
                })?;
                match resp.status().as_u16() {
                    404 => Ok(None),
                    200..=299 => read_limited(resp, &format!("GET {url}")).map(Some),
                    _ => Err(SyncError::HttpStatus {
                        method: "GET",
                        url,
                        status: resp.status(),
                    }),
                }
            }
            _ => Err(SyncError::NoLocation {
                source_name: s.name.clone(),
            }),
        }
    };
    // The feed, as messages name it: its directory or base URL.
    let feed = match (&s.path, &s.url) {
        (Some(p), _) => p.display().to_string(),
        (None, Some(u)) => u.clone(),
        (None, None) => s.name.clone(),
    };
    let manifest =
        fetch("manifest.json")?.ok_or_else(|| SyncError::NoManifest { feed: feed.clone() })?;
    let events = formats::misp_manifest(&text(manifest, "manifest.json")?).map_err(|source| {
        SyncError::Document {
            document: feed.clone(),
            source,
        }
    })?;
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
                formats::misp_event(&body, f, n, out).map_err(|source| SyncError::Document {
                    document: name,
                    source,
                })?;
            }
        }
        progress(i as u64 + 1, Some(total));
    }
    if found == 0 && !events.is_empty() {
        return Err(SyncError::NoEvents {
            feed,
            events: events.len(),
        });
    }
    Ok(())
}
