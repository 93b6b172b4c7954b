//! MISP REST API: `POST /attributes/restSearch`, paged, incremental by `timestamp`.
//!
//! A full pull (the first one, and one every `full-pull-hours`) asks for everything the
//! filters select and counts as the source's whole content, so what is no longer there
//! starts to expire. In between, pulls ask only for attributes changed since the newest
//! `timestamp` seen (`cursor`), and merge.

use serde_json::json;
use suriguard_intel::formats::{self, MispFilter};
use suriguard_intel::store::SourceState;
use suriguard_intel::{Intake, Normalizer};

use crate::config::SourceConfig;
use crate::error::SyncError;
use crate::http::{http_client, Pulled};

/// Never page beyond this (a server that ignores `limit` would loop forever).
const MAX_PAGES: u32 = 100_000;

/// The API key, from the environment or from a file only its owner can read.
pub fn api_key(s: &SourceConfig) -> Result<String, SyncError> {
    if let Some(var) = &s.api_key_env {
        if let Ok(k) = std::env::var(var) {
            if !k.trim().is_empty() {
                return Ok(k.trim().to_string());
            }
        }
        if s.api_key_file.is_none() {
            return Err(SyncError::ApiKeyEnv { var: var.clone() });
        }
    }
    let path = s.api_key_file.as_ref().ok_or_else(|| SyncError::NoApiKey {
        source_name: s.name.clone(),
    })?;
    let file_err = |source| SyncError::ApiKeyFile {
        path: path.clone(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(path).map_err(file_err)?;
        if md.mode() & 0o077 != 0 {
            return Err(SyncError::ApiKeyMode {
                path: path.clone(),
                mode: md.mode() & 0o777,
            });
        }
    }
    let k = std::fs::read_to_string(path).map_err(file_err)?;
    let k = k.trim();
    if k.is_empty() {
        return Err(SyncError::ApiKeyEmpty { path: path.clone() });
    }
    Ok(k.to_string())
}

pub fn pull(
    s: &SourceConfig,
    prev: &SourceState,
    now: i64,
    n: &Normalizer,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<Pulled, SyncError> {
    let key = api_key(s)?;
    let client = http_client(s)?;
    let base = s
        .url
        .as_deref()
        .ok_or_else(|| SyncError::NoLocation {
            source_name: s.name.clone(),
        })?
        .trim_end_matches('/');
    let url = format!("{base}/attributes/restSearch");
    let full_due = prev
        .last_full
        .is_none_or(|t| now - t >= i64::from(s.full_pull_hours) * 3600);
    let since = if full_due { None } else { prev.cursor };
    let filter = MispFilter {
        to_ids_only: s.to_ids,
        types: s.types.iter().cloned().collect(),
        // The server already leaves warninglisted values out (`enforceWarninglist`).
        warninglists: s.enforce_warninglist,
    };
    let mut intake = Intake::default();
    let mut newest = prev.cursor;
    // MISP's schema takes one type per search: one paged series per configured type.
    let types: Vec<Option<&str>> = if s.types.is_empty() {
        vec![None]
    } else {
        s.types.iter().map(|t| Some(t.as_str())).collect()
    };
    let mut fetched = 0u64;
    for ty in types {
        let mut page = 1u32;
        loop {
            let mut body = json!({
                "returnFormat": "json",
                "page": page,
                "limit": s.page_size,
                "to_ids": s.to_ids,
                "enforceWarninglist": s.enforce_warninglist,
                "includeEventUuid": true,
                "includeEventTags": true,
            });
            if s.published {
                body["published"] = json!(true);
            }
            if let Some(t) = ty {
                body["type"] = json!(t);
            }
            if !s.tags.is_empty() {
                body["tags"] = json!(s.tags);
            }
            if let Some(ts) = since {
                body["timestamp"] = json!(ts.to_string());
            }
            let text = post(&client, &url, &key, &body)?;
            let (count, page_newest) = formats::misp_attributes(&text, &filter, n, &mut intake)
                .map_err(|source| SyncError::Document {
                    document: format!("POST {url} page {page}"),
                    source,
                })?;
            newest = newest.max(page_newest);
            fetched += count as u64;
            progress(fetched, None);
            if count < s.page_size as usize {
                break;
            }
            page += 1;
            if page > MAX_PAGES {
                return Err(SyncError::TooManyPages {
                    url,
                    pages: MAX_PAGES,
                });
            }
        }
    }
    Ok(Pulled {
        intake,
        cursor: newest,
        complete: since.is_none(),
    })
}

fn post(
    client: &reqwest::blocking::Client,
    url: &str,
    key: &str,
    body: &serde_json::Value,
) -> Result<String, SyncError> {
    let resp = client
        .post(url)
        .header("Authorization", key)
        .header("Accept", "application/json")
        .json(body)
        .send()
        .map_err(|source| SyncError::Http {
            method: "POST",
            url: url.to_owned(),
            source,
        })?;
    let status = resp.status();
    match status.as_u16() {
        200..=299 => {}
        401 | 403 => {
            return Err(SyncError::MispKey {
                url: url.to_owned(),
                status,
            })
        }
        _ => {
            return Err(SyncError::HttpStatus {
                method: "POST",
                url: url.to_owned(),
                status,
            })
        }
    }
    let bytes = resp.bytes().map_err(|source| SyncError::MispAnswer {
        url: url.to_owned(),
        source,
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|e| SyncError::NotUtf8 {
        document: format!("POST {url}: the answer"),
        valid_up_to: e.utf8_error().valid_up_to(),
    })
}
