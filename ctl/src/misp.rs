//! Pushing incidents to MISP: events, attributes, tags, sightings, publishing.
//!
//! Nothing is lost when MISP misbehaves: an incident leaves the queue only once MISP
//! has accepted everything it contributes. A transport error, a timeout, 403 or 5xx
//! stops the run (MISP is down or refuses us, the next incident would fare no better)
//! and leaves the incident and everything after it queued for the next run.

use std::collections::BTreeSet;

use reqwest::blocking::Client;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};
use suriguard_intel::store::Store as IntelStore;
use suriguard_intel::trace;
use suriguard_net::NetworkModel;
use suriguard_report::incident::Incident;
use suriguard_report::misp_event::{self, MispPushConfig};
use suriguard_report::secret::Secret;

use crate::error::CtlError;
use crate::http::{self, Failure};
use crate::store::{now_us, Store};

pub struct Misp {
    http: Client,
    base: String,
    key: Secret,
}

/// What a push run did.
#[derive(Debug, Default, Serialize)]
pub struct PushReport {
    pub queued: usize,
    pub pushed: usize,
    pub events_created: usize,
    pub events_updated: usize,
    pub attributes_added: usize,
    pub tags_attached: usize,
    pub sightings: usize,
    pub published: usize,
    /// Still queued (MISP failed); retried on the next run.
    pub left_queued: usize,
    /// Given up after `max-attempts` runs; `events push --retry-failed` queues them again.
    pub failed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Misp {
    pub fn new(cfg: &MispPushConfig) -> Result<Misp, CtlError> {
        let url = cfg
            .url
            .clone()
            .ok_or(CtlError::Unset { key: "[misp] url" })?;
        let key = cfg
            .key
            .as_ref()
            .ok_or(CtlError::Unset { key: "[misp] key" })?
            .resolve()?;
        Ok(Misp {
            http: http::client(cfg.timeout, cfg.ca_file.as_deref())?,
            base: url.trim_end_matches('/').to_string(),
            key,
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        }
        .header("Authorization", self.key.expose())
        .header("Accept", "application/json")
        .header("Content-Type", "application/json");
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        http::send_json(req).map_err(|f| match f {
            Failure::Transport(m) => Failure::Transport(self.key.scrub(&m)),
            Failure::Status(c, m) => Failure::Status(c, self.key.scrub(&m)),
            Failure::Body(m) => Failure::Body(m),
            Failure::Store(m) => Failure::Store(m),
        })
    }

    fn id_of(v: &Value, object: &str) -> Option<String> {
        let id = &v[object]["id"];
        id.as_str()
            .map(str::to_string)
            .or_else(|| id.as_u64().map(|n| n.to_string()))
    }

    /// The id of tag `name`, found by search or created.
    fn tag_id(&self, store: &Store, name: &str) -> Result<String, Failure> {
        let cached: Option<String> = store
            .db
            .query_row(
                "SELECT id FROM misp_tag_ids WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Failure::from(store.failed("reading the MISP tag cache")(e)))?;
        if let Some(id) = cached {
            return Ok(id);
        }
        let term: String = url_escape(name);
        let found = self.call("GET", &format!("/tags/search/{term}"), None)?;
        let mut id = found.as_array().and_then(|tags| {
            tags.iter().find_map(|t| {
                let t = if t.get("Tag").is_some() { &t["Tag"] } else { t };
                (t["name"].as_str() == Some(name)).then(|| {
                    t["id"]
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| t["id"].as_u64().map(|n| n.to_string()))
                })?
            })
        });
        if id.is_none() {
            let made = self.call(
                "POST",
                "/tags/add",
                Some(&json!({"name": name, "colour": "#0088cc", "exportable": true})),
            )?;
            id = Self::id_of(&made, "Tag").or_else(|| made["id"].as_str().map(str::to_string));
        }
        let id = id.ok_or_else(|| Failure::Body(format!("MISP gave no id for tag {name}")))?;
        // Only a cache: the next push searches MISP again.
        if let Err(e) = store.db.execute(
            "INSERT OR REPLACE INTO misp_tag_ids(name, id) VALUES (?1, ?2)",
            params![name, id],
        ) {
            tracing::warn!("{}", store.failed("caching a MISP tag id")(e));
        }
        Ok(id)
    }
}

/// Whether `sql` (a `SELECT 1 ...`) finds a row.
fn exists(store: &Store, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<bool> {
    Ok(store
        .db
        .query_row(sql, p, |_| Ok(true))
        .optional()?
        .unwrap_or(false))
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a failure is MISP's (stop the run) or this incident's (go on with the next).
fn stops_run(f: &Failure) -> bool {
    match f {
        Failure::Transport(_) => true,
        Failure::Status(code, _) => *code == 403 || *code == 401 || *code >= 500 || *code == 429,
        Failure::Body(_) | Failure::Store(_) => true,
    }
}

/// Pushes every queued incident.
pub fn push(
    store: &Store,
    cfg: &MispPushConfig,
    net: &NetworkModel,
    retry_failed: bool,
) -> Result<PushReport, CtlError> {
    if retry_failed {
        store
            .db
            .execute(
                "UPDATE incidents SET misp_state = 'retry' WHERE misp_state = 'failed'",
                [],
            )
            .map_err(store.failed("queueing failed incidents again"))?;
    }
    let queue = store.misp_queue()?;
    let sight_queue = store.sighting_queue()?.len();
    let mut rep = PushReport {
        queued: queue.len() + sight_queue,
        ..Default::default()
    };
    if rep.queued == 0 {
        return Ok(rep);
    }
    let misp = Misp::new(cfg)?;
    let index = match (&cfg.intel_index, cfg.sightings) {
        (Some(p), true) => {
            Some(IntelStore::load(p).map_err(|source| CtlError::IntelIndex { source })?)
        }
        _ => None,
    };
    let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
    let mut stopped = false;
    for row in &queue {
        if stopped {
            rep.left_queued += 1;
            continue;
        }
        match push_one(store, cfg, net, &misp, &row.incident, &mut rep) {
            Ok((uuid, misp_id)) => {
                store.set_misp(row.id, "pushed", Some(&uuid), None)?;
                touched.insert((uuid, misp_id));
                rep.pushed += 1;
            }
            Err(f) => {
                let msg = f.to_string();
                let attempts = row.misp_attempts + 1;
                let state = if attempts >= cfg.max_attempts as i64 {
                    "failed"
                } else {
                    "retry"
                };
                store.set_misp(row.id, state, None, Some(&msg))?;
                if state == "failed" {
                    rep.failed += 1;
                } else {
                    rep.left_queued += 1;
                }
                if stops_run(&f) {
                    rep.error = Some(msg);
                    stopped = true;
                }
            }
        }
    }
    // Sightings: every alert from a rulesync rule, whatever its severity, and every
    // honeypot visitor MISP knows.
    if let Some(index) = index.as_ref().filter(|_| !stopped) {
        for row in store.sighting_queue()? {
            if stopped {
                rep.left_queued += 1;
                continue;
            }
            match sight_one(store, &misp, index, &row.incident, &mut rep) {
                Ok(()) => store.set_sight(row.id, "done")?,
                Err(f) => {
                    store.set_sight(row.id, "retry")?;
                    rep.left_queued += 1;
                    if stops_run(&f) {
                        rep.error = Some(format!("sighting: {f}"));
                        stopped = true;
                    }
                }
            }
        }
    }
    if cfg.publish {
        for (uuid, id) in touched {
            match misp.call("POST", &format!("/events/publish/{id}"), None) {
                Ok(_) => {
                    rep.published += 1;
                    if let Err(e) = store.db.execute(
                        "UPDATE misp_events SET published = 1 WHERE uuid = ?1",
                        params![uuid],
                    ) {
                        tracing::warn!("{}", store.failed("recording a published event")(e));
                    }
                }
                Err(f) => {
                    // The incidents are in MISP; the event is published by the next
                    // push that touches it (or by hand). Reported, not queued.
                    rep.error
                        .get_or_insert_with(|| format!("publish event {id}: {f}"));
                    if let Err(e) = store.db.execute(
                        "UPDATE misp_events SET published = 0 WHERE uuid = ?1",
                        params![uuid],
                    ) {
                        tracing::warn!("{}", store.failed("recording an unpublished event")(e));
                    }
                }
            }
        }
    }
    Ok(rep)
}

/// The event an incident belongs to: an existing one of its group within the window, or
/// a new local row (not yet in MISP).
fn event_for(
    store: &Store,
    cfg: &MispPushConfig,
    inc: &Incident,
) -> Result<(String, Option<String>, bool), Failure> {
    let group = misp_event::group_key(inc);
    let window = cfg.dedupe_window as i64 * 1_000_000;
    let db = |e: rusqlite::Error| {
        Failure::from(store.failed("finding the MISP event of an incident")(e))
    };
    let found: Option<(String, Option<String>)> = store
        .db
        .query_row(
            "SELECT uuid, misp_id FROM misp_events WHERE group_key = ?1
             AND ?2 - first_us <= ?3 AND first_us - ?2 <= ?3 ORDER BY first_us DESC LIMIT 1",
            params![group, inc.time_us, window],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db)?;
    if let Some((uuid, id)) = found {
        return Ok((uuid, id, false));
    }
    let uuid = misp_event::event_uuid(&group, &inc.key);
    let now = now_us();
    store
        .db
        .execute(
            "INSERT OR IGNORE INTO misp_events(uuid, group_key, info, threat_level, first_us, last_us,
             created_us, updated_us) VALUES (?1, ?2, '', ?3, ?4, ?4, ?5, ?5)",
            params![uuid, group, cfg.threat_level_of(inc), inc.time_us, now],
        )
        .map_err(db)?;
    Ok((uuid, None, true))
}

fn push_one(
    store: &Store,
    cfg: &MispPushConfig,
    net: &NetworkModel,
    misp: &Misp,
    inc: &Incident,
    rep: &mut PushReport,
) -> Result<(String, String), Failure> {
    let db = |e: rusqlite::Error| Failure::from(store.failed("recording a MISP event")(e));
    let (uuid, known_id, fresh) = event_for(store, cfg, inc)?;
    let id = match known_id {
        Some(id) => {
            rep.events_updated += 1;
            id
        }
        None => {
            // A creation whose answer was lost may have worked: ask by UUID first.
            let existing = if fresh {
                None
            } else {
                match misp.call("GET", &format!("/events/view/{uuid}"), None) {
                    Ok(v) => Misp::id_of(&v, "Event"),
                    Err(Failure::Status(404, _)) => None,
                    Err(f) => return Err(f),
                }
            };
            let body = misp_event::event_body(cfg, net, inc, &uuid);
            let id = match existing {
                Some(id) => id,
                None => {
                    let made = misp.call("POST", "/events/add", Some(&body))?;
                    rep.events_created += 1;
                    Misp::id_of(&made, "Event").ok_or_else(|| {
                        Failure::Body("MISP's answer to /events/add has no Event.id".into())
                    })?
                }
            };
            let info = body["info"].as_str().unwrap_or("").to_string();
            store
                .db
                .execute(
                    "UPDATE misp_events SET misp_id = ?2, info = ?3 WHERE uuid = ?1",
                    params![uuid, id, info],
                )
                .map_err(db)?;
            id
        }
    };
    // Tags.
    for tag in misp_event::event_tags(cfg, inc) {
        let have = exists(
            store,
            "SELECT 1 FROM misp_tags WHERE event_uuid = ?1 AND name = ?2",
            params![uuid, tag],
        )
        .map_err(db)?;
        if have {
            continue;
        }
        let tag_id = misp.tag_id(store, &tag)?;
        misp.call(
            "POST",
            &format!("/events/addTag/{id}/{tag_id}/local:0"),
            None,
        )?;
        store
            .db
            .execute(
                "INSERT OR IGNORE INTO misp_tags(event_uuid, name) VALUES (?1, ?2)",
                params![uuid, tag],
            )
            .map_err(db)?;
        rep.tags_attached += 1;
    }
    // Attributes not yet on the event.
    for a in misp_event::attributes(cfg, net, inc) {
        let have = exists(
            store,
            "SELECT 1 FROM misp_attributes WHERE event_uuid = ?1 AND type = ?2 AND value = ?3",
            params![uuid, a.kind, a.value],
        )
        .map_err(db)?;
        if have {
            continue;
        }
        let attr_id = match misp.call("POST", &format!("/attributes/add/{id}"), Some(&a.body())) {
            Ok(v) => Misp::id_of(&v, "Attribute"),
            // Added by an earlier try whose answer was lost.
            Err(Failure::Status(403, m)) if m.contains("already exists") => None,
            Err(f) => return Err(f),
        };
        store
            .db
            .execute(
                "INSERT OR IGNORE INTO misp_attributes(event_uuid, type, value, misp_id) VALUES (?1,?2,?3,?4)",
                params![uuid, a.kind, a.value, attr_id],
            )
            .map_err(db)?;
        rep.attributes_added += 1;
    }
    store
        .db
        .execute(
            "UPDATE misp_events SET incidents = incidents + 1, last_us = max(last_us, ?2), updated_us = ?3 WHERE uuid = ?1",
            params![uuid, inc.time_us, now_us()],
        )
        .map_err(db)?;
    Ok((uuid, id))
}

/// The sightings of one alert: one per MISP attribute behind the indicator it matched
/// (for a honeypot decision: behind its source address).
fn sight_one(
    store: &Store,
    misp: &Misp,
    index: &IntelStore,
    inc: &Incident,
    rep: &mut PushReport,
) -> Result<(), Failure> {
    let db = |e: rusqlite::Error| Failure::from(store.failed("recording MISP sightings")(e));
    // On Suricata 8 the alert names its value's attributes itself (datajson context);
    // the index is asked when there is no context, or the context's lists were cut.
    let (mut uuids, complete) = trace::context_attributes(&inc.raw).unwrap_or_default();
    // A honeypot visitor: what MISP knows of its address.
    let honeypot_source = (inc.origin == suriguard_report::incident::Origin::Decision
        && inc.signature == "honeypot")
        .then(|| inc.target.as_deref().and_then(|t| t.parse().ok()))
        .flatten();
    if let Some(ip) = honeypot_source {
        for t in trace::trace_address(&index.indicators, ip) {
            uuids.extend(
                t.entry
                    .sources
                    .iter()
                    .flat_map(|(_, m)| m.attributes.iter().cloned()),
            );
        }
    } else if !complete || uuids.is_empty() {
        for t in trace::trace(&index.indicators, &inc.raw) {
            uuids.extend(
                t.entry
                    .sources
                    .iter()
                    .flat_map(|(_, m)| m.attributes.iter().cloned()),
            );
        }
    }
    for attr in &uuids {
        let done = exists(store, "SELECT 1 FROM sightings WHERE incident_key = ?1 AND attribute_uuid = ?2 AND state = 'done'", params![inc.key, attr]).map_err(db)?;
        if done {
            continue;
        }
        match misp.call("POST", &format!("/sightings/add/{attr}"), None) {
            Ok(_) => {
                store
                        .db
                        .execute(
                            "INSERT OR REPLACE INTO sightings(incident_key, attribute_uuid, state, error) VALUES (?1, ?2, 'done', NULL)",
                            params![inc.key, attr],
                        )
                        .map_err(db)?;
                rep.sightings += 1;
            }
            // The attribute is not on this MISP (it came from a feed): noted, not retried.
            Err(Failure::Status(404, m)) => {
                store
                        .db
                        .execute(
                            "INSERT OR REPLACE INTO sightings(incident_key, attribute_uuid, state, error) VALUES (?1, ?2, 'unknown', ?3)",
                            params![inc.key, attr, m],
                        )
                        .map_err(db)?;
            }
            Err(f) => return Err(f),
        }
    }
    Ok(())
}

/// One row of `events list`.
#[derive(Debug, Serialize)]
pub struct EventRow {
    pub uuid: String,
    pub misp_id: Option<String>,
    pub info: String,
    pub threat_level: i64,
    pub first: String,
    pub last: String,
    pub incidents: i64,
    pub attributes: i64,
    pub published: bool,
}

pub fn list(store: &Store) -> Result<Vec<EventRow>, CtlError> {
    let mut st = store
        .db
        .prepare(
            "SELECT e.uuid, e.misp_id, e.info, e.threat_level, e.first_us, e.last_us, e.incidents,
             (SELECT count(*) FROM misp_attributes a WHERE a.event_uuid = e.uuid), e.published
             FROM misp_events e ORDER BY e.first_us",
        )
        .map_err(store.failed("listing MISP events"))?;
    let rows = st
        .query_map([], |r| {
            let t = |us: i64| suriguard_decision::rfc3339(suriguard_eve::EveTime(us));
            Ok(EventRow {
                uuid: r.get(0)?,
                misp_id: r.get(1)?,
                info: r.get(2)?,
                threat_level: r.get(3)?,
                first: t(r.get(4)?),
                last: t(r.get(5)?),
                incidents: r.get(6)?,
                attributes: r.get(7)?,
                published: r.get::<_, i64>(8)? != 0,
            })
        })
        .map_err(store.failed("listing MISP events"))?;
    rows.collect::<Result<_, _>>()
        .map_err(store.failed("listing MISP events"))
}
