//! Readers for every feed format rulesync takes: MISP events and attribute searches,
//! MISP feed manifests, CSV and plain-text lists, STIX 2.1 bundles, STIX 1.x and OpenIOC
//! XML, Cowrie honeypot logs.
//!
//! Each reader turns a document into [`Observation`]s (a type hint, a raw value, where it
//! came from) and per-document rejects; [`Intake`] normalises observations and counts
//! what it refuses. A reader fails as a whole only when the document itself is unusable
//! (not JSON, not XML, not the expected shape): the caller then keeps that source's
//! previous indicators.

use std::collections::{BTreeMap, BTreeSet};

use quick_xml::events::Event as XmlEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;

use super::indicator::{count_reject, Indicator, Normalizer, Reject, RejectCounts, Sides};

/// Where one indicator came from, as far as the source says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// MISP event (or STIX bundle / OpenIOC document) UUID.
    pub event: Option<String>,
    /// MISP attribute (or STIX indicator) UUID.
    pub attribute: Option<String>,
    /// Event title or indicator name.
    pub info: Option<String>,
    pub tags: BTreeSet<String>,
    /// STIX `valid_from` / `valid_until` (RFC 3339), as the source wrote them.
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

/// One value a source offers, before normalisation.
#[derive(Debug, Clone)]
pub struct Observation {
    /// What the source calls it (MISP attribute type names; other formats map onto them).
    pub hint: String,
    pub value: String,
    pub origin: Origin,
}

/// Normalised indicators of one source, with what was refused.
#[derive(Debug, Default)]
pub struct Intake {
    pub accepted: Vec<(Indicator, Origin)>,
    pub rejects: RejectCounts,
    /// Observations offered (accepted + rejected).
    pub offered: u64,
}

impl Intake {
    pub fn reject(&mut self, r: Reject) {
        self.offered += 1;
        count_reject(&mut self.rejects, &r);
    }

    pub fn offer(&mut self, n: &Normalizer, o: Observation) {
        self.offered += 1;
        match n.normalize(&o.hint, &o.value) {
            Ok(inds) => {
                for i in inds {
                    self.accepted.push((i, o.origin.clone()));
                }
            }
            Err(r) => count_reject(&mut self.rejects, &r),
        }
    }

    pub fn rejected(&self) -> u64 {
        self.rejects.values().sum()
    }
}

/// Reading options shared by the MISP formats.
#[derive(Debug, Clone)]
pub struct MispFilter {
    /// Only attributes flagged for detection (`to_ids`). Default true.
    pub to_ids_only: bool,
    /// Attribute types to take; empty = every type rulesync supports.
    pub types: BTreeSet<String>,
    /// Refuse attributes MISP reports warninglist hits for. Default true.
    pub warninglists: bool,
}

impl Default for MispFilter {
    fn default() -> Self {
        MispFilter {
            to_ids_only: true,
            types: BTreeSet::new(),
            warninglists: true,
        }
    }
}

#[derive(Deserialize)]
struct Tag {
    name: String,
}

#[derive(Deserialize)]
struct MispAttribute {
    #[serde(rename = "type")]
    kind: String,
    value: String,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default, deserialize_with = "loose_bool")]
    to_ids: bool,
    #[serde(default, deserialize_with = "loose_bool")]
    deleted: bool,
    #[serde(default, rename = "Tag")]
    tags: Vec<Tag>,
    /// Present in restSearch answers: the attribute's event, abridged.
    #[serde(default, rename = "Event")]
    event: Option<EventRef>,
    #[serde(default)]
    event_uuid: Option<String>,
    /// Unix seconds, as a string or a number depending on the MISP version.
    #[serde(default, deserialize_with = "loose_int")]
    timestamp: Option<i64>,
    /// Warninglist hits MISP reports with the attribute (`includeWarninglistHits`;
    /// `null` when there are none).
    #[serde(default)]
    warnings: Option<Vec<WarninglistHit>>,
}

#[derive(Deserialize)]
struct WarninglistHit {
    #[serde(default)]
    warninglist_name: Option<String>,
    #[serde(default)]
    warninglist_id: Option<Value>,
}

#[derive(Deserialize)]
struct EventRef {
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    info: Option<String>,
}

#[derive(Deserialize)]
struct MispObject {
    #[serde(default, rename = "Attribute")]
    attributes: Vec<MispAttribute>,
    #[serde(default, deserialize_with = "loose_bool")]
    deleted: bool,
}

#[derive(Deserialize)]
struct MispEvent {
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    info: Option<String>,
    #[serde(default, rename = "Tag")]
    tags: Vec<Tag>,
    #[serde(default, rename = "Attribute")]
    attributes: Vec<MispAttribute>,
    #[serde(default, rename = "Object")]
    objects: Vec<MispObject>,
}

/// MISP writes booleans as `true`, `1`, `"1"` or `"0"` depending on version and endpoint.
fn loose_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::Number(n) => n.as_u64() != Some(0),
        Value::String(s) => !matches!(s.as_str(), "" | "0" | "false"),
        _ => false,
    })
}

fn loose_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

fn attribute(a: MispAttribute, ev: &Origin, f: &MispFilter, n: &Normalizer, out: &mut Intake) {
    if a.deleted || (f.to_ids_only && !a.to_ids) {
        // Not an indicator the source asks to detect on: not offered at all.
        return;
    }
    if !f.types.is_empty() && !f.types.contains(&a.kind) {
        return;
    }
    if f.warninglists {
        if let Some(w) = a.warnings.as_deref().and_then(<[_]>::first) {
            let name = w
                .warninglist_name
                .clone()
                .or_else(|| {
                    w.warninglist_id.as_ref().map(|i| {
                        format!("misp-{}", i.as_str().map_or(i.to_string(), str::to_owned))
                    })
                })
                .unwrap_or_else(|| "misp".into());
            out.reject(Reject::Warninglisted(name));
            return;
        }
    }
    let mut origin = ev.clone();
    origin.attribute = a.uuid;
    if let Some(e) = a.event {
        origin.event = origin.event.or(e.uuid);
        origin.info = origin.info.or(e.info);
    }
    origin.event = origin.event.or(a.event_uuid);
    origin.tags.extend(a.tags.into_iter().map(|t| t.name));
    out.offer(
        n,
        Observation {
            hint: a.kind,
            value: a.value,
            origin,
        },
    );
}

/// A MISP event document (`{"Event": {...}}`, as in a MISP feed or `/events/view`).
pub fn misp_event(
    text: &str,
    f: &MispFilter,
    n: &Normalizer,
    out: &mut Intake,
) -> Result<(), Error> {
    #[derive(Deserialize)]
    struct Doc {
        #[serde(rename = "Event")]
        event: MispEvent,
    }
    let doc: Doc = serde_json::from_str(text).map_err(json("a MISP event"))?;
    event(doc.event, f, n, out);
    Ok(())
}

/// A file of MISP events as people publish them: one event wrapped (`{"Event": {...}}`)
/// or bare (the event object itself, as `/events/view` answers in some versions), a
/// list of either, or an events restSearch answer (`{"response": [{"Event": ...}]}`).
/// Returns how many events it held.
pub fn misp_event_file(
    text: &str,
    f: &MispFilter,
    n: &Normalizer,
    out: &mut Intake,
) -> Result<usize, Error> {
    let doc: Value = serde_json::from_str(text).map_err(json("JSON"))?;
    let not_events = || {
        Error::NotDocument {
        what: "MISP events",
        missing: "an event ({\"Event\": ...} or an object with \"Attribute\" or \"Object\"), a list of events or {\"response\": [...]}",
    }
    };
    let items: Vec<Value> = match doc {
        Value::Object(mut o) if o.contains_key("response") => match o.remove("response") {
            Some(Value::Array(a)) => a,
            Some(one @ Value::Object(_)) => vec![one],
            _ => return Err(not_events()),
        },
        Value::Array(a) => a,
        one @ Value::Object(_) => vec![one],
        _ => return Err(not_events()),
    };
    let mut events = 0;
    for item in items {
        let item = match item {
            Value::Object(mut o) if o.contains_key("Event") => {
                o.remove("Event").unwrap_or(Value::Null)
            }
            other => other,
        };
        let is_event = item.as_object().is_some_and(|o| {
            o.contains_key("Attribute") || o.contains_key("Object") || o.contains_key("uuid")
        });
        if !is_event {
            return Err(not_events());
        }
        let e: MispEvent = serde_json::from_value(item).map_err(json("a MISP event"))?;
        event(e, f, n, out);
        events += 1;
    }
    Ok(events)
}

fn event(e: MispEvent, f: &MispFilter, n: &Normalizer, out: &mut Intake) {
    let origin = Origin {
        event: e.uuid,
        info: e.info,
        tags: e.tags.into_iter().map(|t| t.name).collect(),
        ..Origin::default()
    };
    for a in e.attributes {
        attribute(a, &origin, f, n, out);
    }
    for o in e.objects.into_iter().filter(|o| !o.deleted) {
        for a in o.attributes {
            attribute(a, &origin, f, n, out);
        }
    }
}

/// One page of a MISP `/attributes/restSearch` answer (`{"response": {"Attribute":
/// [...]}}`). Returns how many attributes the page held (paging stops on a short page)
/// and the newest attribute `timestamp` on it (the next incremental pull starts there).
pub fn misp_attributes(
    text: &str,
    f: &MispFilter,
    n: &Normalizer,
    out: &mut Intake,
) -> Result<(usize, Option<i64>), Error> {
    #[derive(Deserialize)]
    struct Resp {
        #[serde(default, rename = "Attribute")]
        attributes: Vec<MispAttribute>,
    }
    #[derive(Deserialize)]
    struct Doc {
        response: Resp,
    }
    let doc: Doc = serde_json::from_str(text).map_err(json("a MISP attribute search answer"))?;
    let count = doc.response.attributes.len();
    let newest = doc
        .response
        .attributes
        .iter()
        .filter_map(|a| a.timestamp)
        .max();
    for a in doc.response.attributes {
        attribute(a, &Origin::default(), f, n, out);
    }
    Ok((count, newest))
}

/// The event UUIDs of a MISP feed's `manifest.json`.
pub fn misp_manifest(text: &str) -> Result<Vec<String>, Error> {
    let m: BTreeMap<String, Value> =
        serde_json::from_str(text).map_err(json("a MISP feed manifest"))?;
    let mut out = Vec::with_capacity(m.len());
    for uuid in m.into_keys() {
        // The UUID becomes a file name or URL path: refuse anything else.
        if uuid.len() != 36 || !uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(Error::EventUuid { uuid });
        }
        out.push(uuid);
    }
    Ok(out)
}

/// What a value in an untyped list looks like.
pub fn guess_type(v: &str) -> &'static str {
    let v = v.trim();
    let hex = !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit());
    if hex && matches!(v.len(), 32 | 40 | 64) {
        "hash"
    } else if v.contains("://")
        || v.contains('/') && !v.contains(':') && v.parse::<suriguard_net::Cidr>().is_err()
    {
        "url"
    } else if v.parse::<suriguard_net::Cidr>().is_ok() || v.parse::<std::net::SocketAddr>().is_ok()
    {
        "ip"
    } else if v.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b':' || b == b'/')
    {
        // Looks numeric but did not parse: let the address parser say why.
        "ip"
    } else {
        "domain"
    }
}

/// CSV or plain-text list options.
#[derive(Debug, Clone)]
pub struct ListFormat {
    /// 1-based column holding the value (CSV only).
    pub column: usize,
    pub delimiter: u8,
    /// Lines starting with this (after spaces) are comments.
    pub comment: String,
    /// Skip the first non-comment line (a CSV header).
    pub header: bool,
    /// The type of every value, or `None` to guess per value.
    pub kind: Option<String>,
    pub csv: bool,
}

impl Default for ListFormat {
    fn default() -> Self {
        ListFormat {
            column: 1,
            delimiter: b',',
            comment: "#".into(),
            header: false,
            kind: None,
            csv: false,
        }
    }
}

/// A CSV or text list. Lines (CSV: records) that are not UTF-8 are refused one by one.
///
/// A text list is read line by line. A CSV list is read record by record with RFC 4180
/// quoting: a quoted field may hold the delimiter, doubled quotes and line breaks, so a
/// record may span lines. Comments, blank lines and the header are whole lines outside
/// any record, in both.
pub fn list(bytes: &[u8], fmt: &ListFormat, name: &str, n: &Normalizer, out: &mut Intake) {
    let origin = Origin {
        info: Some(name.to_string()),
        ..Origin::default()
    };
    if fmt.csv {
        csv_list(bytes, fmt, &origin, n, out);
        return;
    }
    let mut header = fmt.header;
    for line in bytes.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            out.reject(Reject::NotText);
            continue;
        };
        let line = line.trim_end_matches('\r').trim();
        if line.is_empty() || is_comment(line, fmt) {
            continue;
        }
        if header {
            header = false;
            continue;
        }
        // Plain text: the first word; the rest of the line is a comment.
        let value = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        offer_listed(value, fmt, &origin, n, out);
    }
}

/// Whether a trimmed, non-empty line is a comment.
fn is_comment(line: &str, fmt: &ListFormat) -> bool {
    !fmt.comment.is_empty() && line.starts_with(fmt.comment.as_str())
}

fn offer_listed(
    value: String,
    fmt: &ListFormat,
    origin: &Origin,
    n: &Normalizer,
    out: &mut Intake,
) {
    let hint = fmt
        .kind
        .clone()
        .unwrap_or_else(|| guess_type(&value).to_string());
    out.offer(
        n,
        Observation {
            hint,
            value,
            origin: origin.clone(),
        },
    );
}

/// The reader of CSV lists: no header row (the caller skips it, after comments), records
/// of any length, RFC 4180 quoting, records ending at `\n` as lines do (a `\r` before it
/// ends up in the last field, which is trimmed).
fn csv_reader<R: std::io::Read>(delimiter: u8, rdr: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(rdr)
}

/// The CSV path of [`list`].
fn csv_list(bytes: &[u8], fmt: &ListFormat, origin: &Origin, n: &Normalizer, out: &mut Intake) {
    let mut rdr = csv_reader(fmt.delimiter, std::io::Cursor::new(bytes));
    let mut rec = csv::ByteRecord::new();
    let mut header = fmt.header;
    loop {
        // Comments, blank lines and leading spaces are line matters the csv reader knows
        // nothing of: look at the line the next record would start on, and step over it
        // (or over its leading spaces, so that a quote after them still opens a field).
        let pos = rdr.position().clone();
        let start = usize::try_from(pos.byte()).map_or(bytes.len(), |b| b.min(bytes.len()));
        let rest = &bytes[start..];
        if rest.is_empty() {
            break;
        }
        let eol = rest.iter().position(|&b| b == b'\n');
        // A line that is not UTF-8 is read as a record and refused as one.
        if let Ok(line) = std::str::from_utf8(&rest[..eol.unwrap_or(rest.len())]) {
            let trimmed = line.trim_end_matches('\r').trim();
            let skip = if trimmed.is_empty() || is_comment(trimmed, fmt) {
                Some((eol.map_or(rest.len(), |i| i + 1), 1))
            } else {
                let lead = line.len() - line.trim_start().len();
                (lead > 0).then_some((lead, 0))
            };
            if let Some((by, lines)) = skip {
                let mut next = pos.clone();
                next.set_byte(pos.byte() + by as u64)
                    .set_line(pos.line() + lines);
                if rdr.seek(next).is_err() {
                    out.reject(Reject::Invalid);
                    break;
                }
                continue;
            }
        }
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            // Reading from memory cannot fail; should it, the rest is unreadable.
            Err(_) => {
                out.reject(Reject::Invalid);
                break;
            }
        }
        if rec.iter().any(|f| std::str::from_utf8(f).is_err()) {
            out.reject(Reject::NotText);
            continue;
        }
        if header {
            header = false;
            continue;
        }
        match record_field(&rec, fmt.column) {
            Some(v) => offer_listed(v, fmt, origin, n, out),
            None => out.reject(Reject::Invalid),
        }
    }
}

/// Field `column` (1-based) of a CSV record, trimmed; `None` when the record is shorter
/// or the field is not UTF-8.
fn record_field(rec: &csv::ByteRecord, column: usize) -> Option<String> {
    let f = rec.get(column.checked_sub(1)?)?;
    Some(std::str::from_utf8(f).ok()?.trim().to_string())
}

/// Field `column` (1-based) of one CSV line, as [`list`] reads it.
#[cfg(test)]
fn csv_field(line: &str, delim: u8, column: usize) -> Option<String> {
    let mut rec = csv::ByteRecord::new();
    csv_reader(delim, line.as_bytes())
        .read_byte_record(&mut rec)
        .ok()?;
    record_field(&rec, column)
}

/// A STIX 2.0 or 2.1 bundle (2.0 names `spec_version` on the bundle, 2.1 on each
/// object; both read alike): each `indicator` object with a STIX pattern, one value per
/// alternative of its pattern (see [`stix_pattern`]). `now` (Unix seconds) drops
/// revoked indicators and those past their `valid_until`. Kept as provenance: the
/// bundle and indicator ids, the name, `labels` (2.0) and `indicator_types` (2.1) as
/// tags, `valid_from` and `valid_until`.
pub fn stix2(text: &str, now: i64, n: &Normalizer, out: &mut Intake) -> Result<(), Error> {
    let doc: Value = serde_json::from_str(text).map_err(json("JSON"))?;
    let objects = match (&doc["type"], &doc["objects"]) {
        (Value::String(t), Value::Array(o)) if t == "bundle" => o,
        _ => {
            return Err(Error::NotDocument {
                what: "a STIX 2 bundle",
                missing: "\"type\": \"bundle\" with \"objects\"",
            })
        }
    };
    let bundle = doc["id"].as_str().map(str::to_string);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect()
    };
    for o in objects.iter().filter(|o| o["type"] == "indicator") {
        let mut tags: BTreeSet<String> = strings(&o["labels"]).into_iter().collect();
        tags.extend(strings(&o["indicator_types"]));
        let origin = Origin {
            event: bundle.clone(),
            attribute: o["id"].as_str().map(str::to_string),
            info: o["name"].as_str().map(str::to_string),
            tags,
            valid_from: o["valid_from"].as_str().map(str::to_string),
            valid_until: o["valid_until"].as_str().map(str::to_string),
        };
        if o["revoked"] == true
            || o["valid_until"]
                .as_str()
                .and_then(rfc3339_secs)
                .is_some_and(|t| t < now)
        {
            out.reject(Reject::Expired);
            continue;
        }
        if o["pattern_type"].as_str().unwrap_or("stix") != "stix" {
            out.reject(Reject::Unsupported("pattern type"));
            continue;
        }
        let Some(pattern) = o["pattern"].as_str() else {
            out.reject(Reject::Invalid);
            continue;
        };
        match stix_pattern(pattern) {
            Ok(values) => {
                for v in values {
                    match v {
                        Ok((hint, value)) => out.offer(
                            n,
                            Observation {
                                hint: hint.to_string(),
                                value,
                                origin: origin.clone(),
                            },
                        ),
                        Err(r) => out.reject(r),
                    }
                }
            }
            Err(r) => out.reject(r),
        }
    }
    Ok(())
}

/// The MISP-style type of a STIX object path, or `None` when it is not compiled.
fn stix_path_type(path: &str) -> Option<&'static str> {
    let p = path.replace(['\'', '"'], "");
    Some(match p.to_ascii_lowercase().as_str() {
        "ipv4-addr:value" | "ipv6-addr:value" => "ip",
        "network-traffic:dst_ref.value" => "ip-dst",
        "network-traffic:src_ref.value" => "ip-src",
        "domain-name:value" => "domain",
        "url:value" => "url",
        "file:hashes.md5" => "md5",
        "file:hashes.sha-1" | "file:hashes.sha1" => "sha1",
        "file:hashes.sha-256" | "file:hashes.sha256" => "sha256",
        _ => return None,
    })
}

/// What one alternative of a STIX pattern reduces to: a value with its MISP-style type,
/// or why it cannot be matched value by value.
pub type StixValue = Result<(&'static str, String), Reject>;

/// The values a STIX pattern matches, one per alternative.
///
/// A pattern is observation expressions (`[...]`) joined by `OR`, `AND` or `FOLLOWEDBY`,
/// each holding comparisons joined by `AND` and `OR` (with parentheses). Alternatives
/// joined by `OR` each give a value. An `AND` inside one observation is accepted when
/// all its comparisons constrain the same object and exactly one of them names a value
/// we compile: the others may only qualify it (`network-traffic:dst_ref.type =
/// 'ipv4-addr'` with `network-traffic:dst_ref.value`, which is how large vendors publish
/// every address) or relate it (`domain-name:resolves_to_refs[*].value` beside
/// `domain-name:value`). An `AND` over different objects or properties, or between
/// observations, and `FOLLOWEDBY`, describe traffic no single value matches: refused
/// with their reason. Time qualifiers (`WITHIN`, `REPEATS`, `START`/`STOP`) narrow when,
/// not what, and are passed over. The whole pattern fails only when it cannot be read
/// or its observations must all be seen together.
pub fn stix_pattern(p: &str) -> Result<Vec<StixValue>, Reject> {
    let tokens = stix_tokens(p)?;
    if tokens.len() > STIX_MAX_TOKENS {
        return Err(Reject::Unsupported("stix pattern too complex"));
    }
    let mut depth = 0usize;
    for t in &tokens {
        match t {
            Tok::Punct(b'[' | b'(') => {
                depth += 1;
                if depth > STIX_MAX_DEPTH {
                    return Err(Reject::Unsupported("stix pattern too complex"));
                }
            }
            Tok::Punct(b']' | b')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let mut parser = StixParser { t: &tokens, k: 0 };
    let alternatives = parser.observations()?;
    if parser.k != tokens.len() {
        return Err(Reject::Invalid);
    }
    Ok(alternatives.into_iter().map(|c| reduce(&c)).collect())
}

/// Most alternatives a pattern may expand to (`AND` of `OR`s multiplies them).
const STIX_MAX_ALTERNATIVES: usize = 256;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Punct(u8),
    Word(String),
    Str(String),
}

/// Whether `b` (at a `[`) opens a list index of an object path (`[*]`, `[0]`), not an
/// observation (`OR[ipv4-addr:value = ...]`).
fn list_index(b: &[u8]) -> bool {
    match b.iter().position(|&c| c == b']') {
        Some(end) if end > 1 => {
            let inner = &b[1..end];
            inner == b"*" || inner.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// Deepest nesting of brackets and parentheses a pattern may have, and most tokens: a
/// feed's pattern must not exhaust the stack or the time of a run.
const STIX_MAX_DEPTH: usize = 32;
const STIX_MAX_TOKENS: usize = 4096;

fn stix_tokens(p: &str) -> Result<Vec<Tok>, Reject> {
    let mut tokens = Vec::new();
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(Reject::Invalid),
                    Some(b'\\') => {
                        // The escaped character, whole (it may be multi-byte).
                        let Some(e) = p.get(i + 1..).and_then(|r| r.chars().next()) else {
                            return Err(Reject::Invalid);
                        };
                        s.push(e);
                        i += 1 + e.len_utf8();
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(_) => {
                        // Copy one UTF-8 character.
                        let ch = p[i..].chars().next().ok_or(Reject::Invalid)?;
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            tokens.push(Tok::Str(s));
        } else if matches!(c, b'[' | b']' | b'(' | b')' | b',') {
            tokens.push(Tok::Punct(c));
            i += 1;
        } else {
            let start = i;
            // A path may hold quoted keys (file:hashes.'SHA-256') and list indexes
            // (resolves_to_refs[*].value); a literal may be typed
            // (t'2016-01-01T00:00:00Z', h'ff', b'AA==').
            while i < b.len()
                && !b[i].is_ascii_whitespace()
                && !matches!(b[i], b']' | b'(' | b')' | b',')
                && (b[i] != b'[' || (i > start && list_index(&b[i..])))
            {
                if b[i] == b'[' {
                    while i < b.len() && b[i] != b']' {
                        i += 1;
                    }
                    if i >= b.len() {
                        return Err(Reject::Invalid);
                    }
                } else if b[i] == b'\'' {
                    i += 1;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    if i >= b.len() {
                        return Err(Reject::Invalid);
                    }
                }
                i += 1;
            }
            tokens.push(Tok::Word(p[start..i.min(b.len())].to_string()));
        }
    }
    Ok(tokens)
}

/// One comparison: object path, operator, literal (a string's content, or a number or
/// typed literal as written).
#[derive(Debug, Clone)]
struct Cmp {
    path: String,
    op: String,
    value: String,
    quoted: bool,
}

/// Alternatives, each a conjunction of comparisons.
type Dnf = Vec<Vec<Cmp>>;

struct StixParser<'a> {
    t: &'a [Tok],
    k: usize,
}

impl StixParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.k)
    }

    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn punct(&mut self, c: u8) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.k += 1;
            true
        } else {
            false
        }
    }

    /// Observation expressions joined by `OR` (an `AND` or `FOLLOWEDBY` between them
    /// refuses the pattern).
    fn observations(&mut self) -> Result<Dnf, Reject> {
        let mut out = self.observation()?;
        loop {
            if self.word("OR") {
                self.k += 1;
                out.extend(self.observation()?);
                if out.len() > STIX_MAX_ALTERNATIVES {
                    return Err(Reject::Unsupported("stix pattern too complex"));
                }
            } else if self.word("AND") {
                return Err(Reject::Unsupported("stix AND of observations"));
            } else if self.word("FOLLOWEDBY") {
                return Err(Reject::Unsupported("stix FOLLOWEDBY"));
            } else {
                return Ok(out);
            }
        }
    }

    fn observation(&mut self) -> Result<Dnf, Reject> {
        let inner = if self.punct(b'[') {
            let c = self.comparisons()?;
            if !self.punct(b']') {
                return Err(Reject::Invalid);
            }
            c
        } else if self.punct(b'(') {
            let c = self.observations()?;
            if !self.punct(b')') {
                return Err(Reject::Invalid);
            }
            c
        } else {
            return Err(Reject::Invalid);
        };
        self.qualifiers()?;
        Ok(inner)
    }

    /// `WITHIN n SECONDS`, `REPEATS n TIMES`, `START t'..' STOP t'..'`: passed over.
    fn qualifiers(&mut self) -> Result<(), Reject> {
        loop {
            let skip = if self.word("WITHIN") || self.word("REPEATS") {
                3
            } else if self.word("START") || self.word("STOP") {
                2
            } else {
                return Ok(());
            };
            if self.k + skip > self.t.len() {
                return Err(Reject::Invalid);
            }
            self.k += skip;
        }
    }

    /// Comparisons joined by `OR` and `AND` (`AND` binds tighter), as alternatives.
    fn comparisons(&mut self) -> Result<Dnf, Reject> {
        let mut out = self.conjunction()?;
        while self.word("OR") {
            self.k += 1;
            out.extend(self.conjunction()?);
            if out.len() > STIX_MAX_ALTERNATIVES {
                return Err(Reject::Unsupported("stix pattern too complex"));
            }
        }
        Ok(out)
    }

    fn conjunction(&mut self) -> Result<Dnf, Reject> {
        let mut out = self.comparison()?;
        while self.word("AND") {
            self.k += 1;
            let right = self.comparison()?;
            if out.len() * right.len() > STIX_MAX_ALTERNATIVES {
                return Err(Reject::Unsupported("stix pattern too complex"));
            }
            out = out
                .iter()
                .flat_map(|l| {
                    right.iter().map(move |r| {
                        let mut c = l.clone();
                        c.extend(r.iter().cloned());
                        c
                    })
                })
                .collect();
        }
        Ok(out)
    }

    fn comparison(&mut self) -> Result<Dnf, Reject> {
        if self.punct(b'(') {
            let c = self.comparisons()?;
            if !self.punct(b')') {
                return Err(Reject::Invalid);
            }
            return Ok(c);
        }
        let Some(Tok::Word(path)) = self.peek().cloned() else {
            return Err(Reject::Invalid);
        };
        self.k += 1;
        let mut op = match self.peek() {
            Some(Tok::Word(op)) => op.to_ascii_uppercase(),
            _ => return Err(Reject::Invalid),
        };
        self.k += 1;
        if op == "NOT" {
            let Some(Tok::Word(next)) = self.peek() else {
                return Err(Reject::Invalid);
            };
            op = format!("NOT {}", next.to_ascii_uppercase());
            self.k += 1;
        }
        if op == "IN" || op == "NOT IN" {
            // `path IN ('a', 'b')`: one alternative per member.
            if !self.punct(b'(') {
                return Err(Reject::Invalid);
            }
            let mut out = Vec::new();
            loop {
                let (value, quoted) = self.literal()?;
                // `NOT IN` stays an operator reduce() refuses, for each member.
                out.push(vec![Cmp {
                    path: path.clone(),
                    op: if op == "IN" { "=".into() } else { op.clone() },
                    value,
                    quoted,
                }]);
                if out.len() > STIX_MAX_ALTERNATIVES {
                    return Err(Reject::Unsupported("stix pattern too complex"));
                }
                if self.punct(b')') {
                    break;
                }
                if !self.punct(b',') {
                    return Err(Reject::Invalid);
                }
            }
            return Ok(out);
        }
        let (value, quoted) = self.literal()?;
        Ok(vec![vec![Cmp {
            path,
            op,
            value,
            quoted,
        }]])
    }

    fn literal(&mut self) -> Result<(String, bool), Reject> {
        let v = match self.peek() {
            Some(Tok::Str(s)) => (s.clone(), true),
            Some(Tok::Word(w))
                if !w.eq_ignore_ascii_case("AND") && !w.eq_ignore_ascii_case("OR") =>
            {
                (w.clone(), false)
            }
            _ => return Err(Reject::Invalid),
        };
        self.k += 1;
        Ok(v)
    }
}

/// The object of a path (`network-traffic` of `network-traffic:dst_ref.value`) and its
/// property, lower-cased and without quotes.
fn split_path(path: &str) -> (String, String) {
    let p = path.replace(['\'', '"'], "").to_ascii_lowercase();
    match p.split_once(':') {
        Some((o, prop)) => (o.to_owned(), prop.to_owned()),
        None => (p, String::new()),
    }
}

/// One alternative (a conjunction) as one value, or why not (see [`stix_pattern`]).
fn reduce(conj: &[Cmp]) -> StixValue {
    if conj.iter().any(|c| c.op != "=") {
        return Err(Reject::Unsupported("stix operator other than ="));
    }
    let objects: BTreeSet<String> = conj.iter().map(|c| split_path(&c.path).0).collect();
    if objects.len() > 1 {
        return Err(Reject::Unsupported("stix AND over different objects"));
    }
    let object = objects.into_iter().next().unwrap_or_default();
    let mut value: Option<(&'static str, &Cmp)> = None;
    let mut qualifiers = Vec::new();
    for c in conj {
        match stix_path_type(&c.path) {
            Some(hint) => match value {
                None => value = Some((hint, c)),
                Some((_, v))
                    if split_path(&v.path) == split_path(&c.path) && v.value == c.value => {}
                Some((_, v)) if split_path(&v.path) == split_path(&c.path) => {
                    return Err(Reject::Unsupported("stix AND of two values"))
                }
                Some(_) => return Err(Reject::Unsupported("stix AND over different properties")),
            },
            None => qualifiers.push(c),
        }
    }
    let Some((mut hint, v)) = value else {
        return Err(if conj.len() == 1 {
            Reject::UnsupportedType(format!("stix:{object}"))
        } else {
            Reject::Unsupported("stix AND without a value")
        });
    };
    if !v.quoted {
        return Err(Reject::Invalid);
    }
    let (_, vprop) = split_path(&v.path);
    // The reference the value is reached through (`dst_ref` of `dst_ref.value`).
    let vref = vprop.rsplit_once('.').map(|(r, _)| r.to_owned());
    for q in qualifiers {
        let (_, prop) = split_path(&q.path);
        if let Some(r) = prop
            .strip_suffix(".type")
            .filter(|r| Some(*r) == vref.as_deref())
        {
            // The referenced object's type: it must fit the value, and may say a
            // network-traffic end is a domain rather than an address.
            let _ = r;
            hint = match (q.value.as_str(), hint) {
                ("ipv4-addr" | "ipv6-addr", h) => {
                    // An address of the other family contradicts the type (an IPv4
                    // address written as IPv6-mapped is IPv4); anything that is no
                    // address is the normaliser's to refuse.
                    let v4 = v
                        .value
                        .split('/')
                        .next()
                        .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                        .map(|a| a.to_canonical().is_ipv4());
                    if v4.is_some_and(|v4| v4 != (q.value == "ipv4-addr")) {
                        return Err(Reject::Invalid);
                    }
                    h
                }
                ("domain-name", "ip-dst" | "ip-src") => "domain",
                _ => return Err(Reject::Unsupported("stix type qualifier")),
            };
        } else if prop.starts_with("resolves_to_refs") && vref.is_none() {
            // What the value resolves to: context, the value still names the threat.
        } else {
            return Err(Reject::Unsupported("stix AND over different properties"));
        }
    }
    Ok((hint, v.value.clone()))
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2016-01-01T00:00:00Z`, fractions
/// allowed).
pub fn rfc3339_secs(s: &str) -> Option<i64> {
    suriguard_eve::EveTime::parse(s).map(|t| t.micros().div_euclid(1_000_000))
}

/// Local name of an XML element or attribute (`AddressObj:Address_Value` → `Address_Value`).
fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// An element's text, unescaped and trimmed.
fn xml_text(
    t: &quick_xml::events::BytesText<'_>,
    r: &quick_xml::Reader<&[u8]>,
) -> Result<String, Error> {
    Ok(t.unescape().map_err(xml(r))?.trim().to_string())
}

/// The error of `r` at its current position.
fn xml<'a>(r: &'a quick_xml::Reader<&[u8]>) -> impl FnOnce(quick_xml::Error) -> Error + 'a {
    move |source| Error::Xml {
        position: r.error_position(),
        source,
    }
}

/// A JSON document that is not `what`.
fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> Error {
    move |source| Error::Json { what, source }
}

fn attr(e: &quick_xml::events::BytesStart<'_>, want: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| local(a.key.as_ref()) == want)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// A STIX 1.x XML document: CybOX Address, DomainName, URI and File hash observables.
/// Conditions other than `Equals` (and none) are refused; address direction comes from
/// `is_source` / `is_destination`.
pub fn stix1(text: &str, n: &Normalizer, out: &mut Intake) -> Result<(), Error> {
    let mut r = quick_xml::Reader::from_str(text);
    // The current Properties' xsi:type, its direction, the current hash type.
    let mut props: Option<(String, Sides)> = None;
    let mut hash_type: Option<String> = None;
    let mut field: Option<(String, Option<String>)> = None;
    let mut package_id: Option<String> = None;
    let mut indicator: Option<(Option<String>, Option<String>)> = None;
    let mut depth_props = 0usize;
    let mut depth = 0usize;
    let mut saw_package = false;
    loop {
        match r.read_event() {
            Err(e) => return Err(xml(&r)(e)),
            Ok(XmlEvent::Eof) => break,
            Ok(XmlEvent::Start(e)) => {
                depth += 1;
                let name = local(e.name().as_ref()).to_vec();
                match name.as_slice() {
                    b"STIX_Package" => {
                        saw_package = true;
                        package_id = attr(&e, b"id");
                    }
                    b"Indicator" => indicator = Some((attr(&e, b"id"), None)),
                    b"Properties" | b"Defined_Object" => {
                        let t = attr(&e, b"type").unwrap_or_default();
                        let src = attr(&e, b"is_source").as_deref() == Some("true");
                        let dst = attr(&e, b"is_destination").as_deref() == Some("true");
                        let sides = match (src, dst) {
                            (true, false) => Sides::SRC,
                            (false, true) => Sides::DST,
                            _ => Sides::BOTH,
                        };
                        props = Some((t, sides));
                        depth_props = depth;
                    }
                    b"Address_Value" | b"Value" | b"Simple_Hash_Value" | b"Type" => {
                        field = Some((
                            String::from_utf8_lossy(&name).into_owned(),
                            attr(&e, b"condition"),
                        ));
                    }
                    _ => {}
                }
            }
            Ok(XmlEvent::End(e)) => {
                let name = local(e.name().as_ref()).to_vec();
                if matches!(name.as_slice(), b"Properties" | b"Defined_Object")
                    && depth == depth_props
                {
                    props = None;
                    hash_type = None;
                }
                if name.as_slice() == b"Indicator" {
                    indicator = None;
                }
                field = None;
                depth = depth.saturating_sub(1);
            }
            Ok(XmlEvent::Text(t)) => {
                let (Some((ptype, sides)), Some((fname, cond))) = (&props, &field) else {
                    continue;
                };
                let value = xml_text(&t, &r)?;
                if value.is_empty() {
                    continue;
                }
                let obj = ptype.split(':').next().unwrap_or_default();
                if fname == "Type" {
                    if obj.contains("File") {
                        hash_type = Some(value.to_ascii_lowercase().replace('-', ""));
                    }
                    continue;
                }
                if let Some(c) = cond {
                    if c != "Equals" {
                        out.reject(Reject::Unsupported("stix1 condition other than Equals"));
                        continue;
                    }
                }
                let hint = match (obj, fname.as_str()) {
                    ("AddressObj", "Address_Value") => match *sides {
                        Sides::SRC => "ip-src",
                        Sides::DST => "ip-dst",
                        _ => "ip",
                    },
                    ("DomainNameObj", "Value") => "domain",
                    ("URIObj", "Value") => "url",
                    (o, "Simple_Hash_Value") if o.contains("File") => match hash_type.as_deref() {
                        Some("md5") => "md5",
                        Some("sha1") => "sha1",
                        Some("sha256") => "sha256",
                        _ => "hash",
                    },
                    _ => continue,
                };
                // Lists in one value: `a##comma##b` (CybOX's delimiter).
                for v in value.split("##comma##") {
                    out.offer(
                        n,
                        Observation {
                            hint: hint.to_string(),
                            value: v.to_string(),
                            origin: Origin {
                                event: package_id.clone(),
                                attribute: indicator.as_ref().and_then(|i| i.0.clone()),
                                info: indicator.as_ref().and_then(|i| i.1.clone()),
                                ..Origin::default()
                            },
                        },
                    );
                }
            }
            Ok(_) => {}
        }
    }
    if !saw_package {
        return Err(Error::NotDocument {
            what: "a STIX 1 document",
            missing: "<STIX_Package> element",
        });
    }
    Ok(())
}

/// An OpenIOC 1.x document: `IndicatorItem`s whose context is a network address, DNS
/// name, URL or file hash and whose condition is `is`. Items under an `AND` are refused
/// (they describe the threat only together).
pub fn openioc(text: &str, n: &Normalizer, out: &mut Intake) -> Result<(), Error> {
    let mut r = quick_xml::Reader::from_str(text);
    let mut ops: Vec<String> = Vec::new();
    let mut ioc_id: Option<String> = None;
    let mut item: Option<(String, Option<String>)> = None; // (condition, search)
    let mut in_content = false;
    let mut saw_ioc = false;
    loop {
        match r.read_event() {
            Err(e) => return Err(xml(&r)(e)),
            Ok(XmlEvent::Eof) => break,
            Ok(XmlEvent::Start(e)) | Ok(XmlEvent::Empty(e))
                if local(e.name().as_ref()) == b"Context" =>
            {
                if let Some(it) = item.as_mut() {
                    it.1 = attr(&e, b"search");
                }
            }
            Ok(XmlEvent::Start(e)) => match local(e.name().as_ref()) {
                b"ioc" => {
                    saw_ioc = true;
                    ioc_id = attr(&e, b"id");
                }
                b"Indicator" => ops.push(
                    attr(&e, b"operator")
                        .unwrap_or_else(|| "OR".into())
                        .to_ascii_uppercase(),
                ),
                b"IndicatorItem" => item = Some((attr(&e, b"condition").unwrap_or_default(), None)),
                b"Content" => in_content = true,
                _ => {}
            },
            Ok(XmlEvent::End(e)) => match local(e.name().as_ref()) {
                b"Indicator" => {
                    ops.pop();
                }
                b"IndicatorItem" => item = None,
                b"Content" => in_content = false,
                _ => {}
            },
            Ok(XmlEvent::Text(t)) if in_content => {
                let Some((cond, Some(search))) = &item else {
                    continue;
                };
                // Every item is counted under its search path, so a user sees how many
                // network items there were and why each was refused.
                let hint = match search.as_str() {
                    "PortItem/remoteIP"
                    | "Network/IP"
                    | "ProcessItem/PortList/PortItem/remoteIP" => "ip-dst",
                    "DnsEntryItem/RecordName" | "DnsEntryItem/Host" | "Network/DNS" => "domain",
                    "Network/URI" | "UrlHistoryItem/URL" => "url",
                    "FileItem/Md5sum" => "md5",
                    "FileItem/Sha1sum" => "sha1",
                    "FileItem/Sha256sum" => "sha256",
                    other => {
                        out.reject(Reject::UnsupportedType(format!("openioc:{other}")));
                        continue;
                    }
                };
                if ops.last().map(String::as_str) == Some("AND") {
                    out.reject(Reject::UnsupportedItem(format!(
                        "openioc item under AND:{search}"
                    )));
                    continue;
                }
                if cond != "is" {
                    out.reject(Reject::UnsupportedItem(format!(
                        "openioc condition {cond}:{search}"
                    )));
                    continue;
                }
                let value = xml_text(&t, &r)?;
                out.offer(
                    n,
                    Observation {
                        hint: hint.to_string(),
                        value,
                        origin: Origin {
                            event: ioc_id.clone(),
                            ..Origin::default()
                        },
                    },
                );
            }
            Ok(_) => {}
        }
    }
    if !saw_ioc {
        return Err(Error::NotDocument {
            what: "an OpenIOC document",
            missing: "<ioc> element",
        });
    }
    Ok(())
}

/// Cowrie scoring: a source's score is failed logins + 2 × successful logins + 3 ×
/// commands; sources at or above `min_score` become `ip-src` indicators. Bare connections
/// (scanners that never tried to log in) score nothing.
pub fn cowrie(
    bytes: &[u8],
    min_score: u64,
    sensor: &str,
    n: &Normalizer,
    out: &mut Intake,
) -> Result<(), Error> {
    let mut scores: BTreeMap<String, u64> = BTreeMap::new();
    let mut lines = 0usize;
    let mut bad = 0usize;
    for line in bytes.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines += 1;
        #[derive(Deserialize)]
        struct Rec<'a> {
            eventid: &'a str,
            #[serde(default)]
            src_ip: Option<&'a str>,
        }
        let Ok(rec) = serde_json::from_slice::<Rec<'_>>(line) else {
            bad += 1;
            out.reject(Reject::Invalid);
            continue;
        };
        let w = match rec.eventid {
            "cowrie.login.failed" => 1,
            "cowrie.login.success" => 2,
            "cowrie.command.input" | "cowrie.command.failed" | "cowrie.session.file_download" => 3,
            _ => 0,
        };
        if let (Some(ip), true) = (rec.src_ip, w > 0) {
            *scores.entry(ip.to_string()).or_default() += w;
        }
    }
    if lines > 0 && bad == lines {
        return Err(Error::NotDocument {
            what: "a Cowrie JSON log",
            missing: "line parsed",
        });
    }
    for (ip, score) in scores {
        if score < min_score {
            continue;
        }
        out.offer(
            n,
            Observation {
                hint: "ip-src".into(),
                value: ip,
                origin: Origin {
                    info: Some(format!("cowrie {sensor}: score {score}")),
                    tags: ["cowrie".to_string()].into(),
                    ..Origin::default()
                },
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(p: &str) -> Vec<StixValue> {
        stix_pattern(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn ok(hint: &'static str, v: &str) -> StixValue {
        Ok((hint, v.to_owned()))
    }

    #[test]
    fn stix_patterns() {
        assert_eq!(
            values("[ipv4-addr:value = '198.51.100.1' OR domain-name:value = 'a.xyz']"),
            [ok("ip", "198.51.100.1"), ok("domain", "a.xyz")]
        );
        assert_eq!(
            values("[file:hashes.'SHA-256' = 'ab\\'c'] WITHIN 600 SECONDS"),
            [ok("sha256", "ab'c")]
        );
        assert_eq!(
            values("[a:b = 'x' AND c:d = 'y']"),
            [Err(Reject::Unsupported("stix AND over different objects"))]
        );
        assert_eq!(
            values("[email-message:subject MATCHES '^x']"),
            [Err(Reject::Unsupported("stix operator other than ="))]
        );
        assert_eq!(stix_pattern("[a:b = 'x").unwrap_err(), Reject::Invalid);
        assert_eq!(
            stix_pattern("[a:b = 'x'] [c:d = 'y']").unwrap_err(),
            Reject::Invalid
        );
        assert_eq!(stix_pattern("[a:b = ]").unwrap_err(), Reject::Invalid);
        assert_eq!(stix_pattern("").unwrap_err(), Reject::Invalid);
    }

    /// The shapes vendors publish: type-qualified references, a domain with what it
    /// resolves to, and the conjunctions that stay refused.
    #[test]
    fn stix_conjunctions_on_one_object_reduce_to_its_value() {
        let dst = "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '45.95.147.236']";
        assert_eq!(values(dst), [ok("ip-dst", "45.95.147.236")]);
        // The qualifier may come second, and on the source side.
        assert_eq!(
            values("[network-traffic:src_ref.value = '2a03:b0c0::1' AND network-traffic:src_ref.type = 'ipv6-addr']"),
            [ok("ip-src", "2a03:b0c0::1")]
        );
        assert_eq!(
            values("[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'c2.bad.top']"),
            [ok("domain", "c2.bad.top")]
        );
        assert_eq!(
            values("[domain-name:value = 'update-check.xyz' AND domain-name:resolves_to_refs[*].value = '94.103.91.17']"),
            [ok("domain", "update-check.xyz")]
        );
        // A type that contradicts the value, a type we do not compile.
        assert_eq!(
            values("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '2a03:b0c0::1']"),
            [Err(Reject::Invalid)]
        );
        assert_eq!(
            values("[network-traffic:dst_ref.type = 'mac-addr' AND network-traffic:dst_ref.value = '1.2.3.4']"),
            [Err(Reject::Unsupported("stix type qualifier"))]
        );
        // A qualifier on the other end is another property.
        assert_eq!(
            values("[network-traffic:src_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '1.2.3.4']"),
            [Err(Reject::Unsupported("stix AND over different properties"))]
        );
        assert_eq!(
            values(
                "[network-traffic:dst_ref.value = '45.95.147.1' AND network-traffic:dst_port = 22]"
            ),
            [Err(Reject::Unsupported(
                "stix AND over different properties"
            ))]
        );
        assert_eq!(
            values("[file:hashes.MD5 = 'a' AND file:hashes.'SHA-256' = 'b']"),
            [Err(Reject::Unsupported(
                "stix AND over different properties"
            ))]
        );
        assert_eq!(
            values("[x509-certificate:issuer = 'CN=A' AND x509-certificate:serial_number = '01']"),
            [Err(Reject::Unsupported("stix AND without a value"))]
        );
        assert_eq!(
            values("[x509-certificate:issuer = 'CN=A']"),
            [Err(Reject::UnsupportedType("stix:x509-certificate".into()))]
        );
        // Between observations: every one must be seen, no value alone matches.
        assert_eq!(
            stix_pattern("[ipv4-addr:value = '80.94.95.82'] AND [domain-name:value = 'y.top']"),
            Err(Reject::Unsupported("stix AND of observations"))
        );
        assert_eq!(
            stix_pattern("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.5']"),
            Err(Reject::Unsupported("stix FOLLOWEDBY"))
        );
    }

    #[test]
    fn stix_alternatives_groups_sets_and_qualifiers() {
        assert_eq!(
            values("[ipv4-addr:value IN ('193.32.162.10', '193.32.162.11')]"),
            [ok("ip", "193.32.162.10"), ok("ip", "193.32.162.11")]
        );
        assert_eq!(
            values("[(ipv4-addr:value = '1.1.1.3' OR ipv4-addr:value = '1.1.1.4') AND ipv4-addr:value = '1.1.1.3']"),
            [
                ok("ip", "1.1.1.3"),
                Err(Reject::Unsupported("stix AND of two values"))
            ]
        );
        assert_eq!(
            values(
                "([ipv4-addr:value = '1.1.1.5'] OR [url:value = 'http://a.top/x']) REPEATS 5 TIMES"
            ),
            [ok("ip", "1.1.1.5"), ok("url", "http://a.top/x")]
        );
        assert_eq!(
            values("[file:hashes.'SHA-256' = 'ab'] START t'2025-01-10T00:00:00Z' STOP t'2025-02-10T00:00:00Z'"),
            [ok("sha256", "ab")]
        );
        // A number is not an address.
        assert_eq!(
            values("[ipv4-addr:value = 16909060]"),
            [Err(Reject::Invalid)]
        );
        // Observations need no space after OR; NOT IN is an operator we refuse.
        assert_eq!(
            values("[ipv4-addr:value = '1.1.1.6']OR[ipv4-addr:value = '1.1.1.7']"),
            [ok("ip", "1.1.1.6"), ok("ip", "1.1.1.7")]
        );
        assert_eq!(
            values("[ipv4-addr:value NOT IN ('1.1.1.8')] OR [url:value = 'http://b.top/']"),
            [
                Err(Reject::Unsupported("stix operator other than =")),
                ok("url", "http://b.top/")
            ]
        );
        // An escaped multi-byte character, an IPv4-mapped address typed ipv4-addr, a
        // property spelled in another case.
        assert_eq!(
            values("[domain-name:value = 'a\\é.top']"),
            [ok("domain", "aé.top")]
        );
        assert_eq!(
            values("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '::ffff:1.2.3.4']"),
            [ok("ip-dst", "::ffff:1.2.3.4")]
        );
        assert_eq!(
            values("[file:hashes.MD5 = 'ab' AND file:hashes.md5 = 'ab']"),
            [ok("md5", "ab")]
        );
        // Hostile nesting and length are refused, not followed down.
        let deep = format!(
            "[{}ipv4-addr:value = '1.1.1.1'{}]",
            "(".repeat(20_000),
            ")".repeat(20_000)
        );
        assert_eq!(
            stix_pattern(&deep).unwrap_err(),
            Reject::Unsupported("stix pattern too complex")
        );
        let long = vec!["ipv4-addr:value = '1.1.1.1'"; 2000].join(" AND ");
        assert_eq!(
            stix_pattern(&format!("[{long}]")).unwrap_err(),
            Reject::Unsupported("stix pattern too complex")
        );
        let members = (0..300)
            .map(|i| format!("'1.1.{}.{}'", i / 250, i % 250))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            stix_pattern(&format!("[ipv4-addr:value IN ({members})]")).unwrap_err(),
            Reject::Unsupported("stix pattern too complex")
        );
        // AND of ORs multiplies; past the bound the pattern is refused, not expanded.
        let wide = (0..20)
            .map(|i| format!("(ipv4-addr:value = '1.1.1.{i}' OR ipv4-addr:value = '1.1.2.{i}')"))
            .collect::<Vec<_>>()
            .join(" AND ");
        assert_eq!(
            stix_pattern(&format!("[{wide}]")).unwrap_err(),
            Reject::Unsupported("stix pattern too complex")
        );
    }

    #[test]
    fn csv_fields_and_guesses() {
        assert_eq!(
            csv_field(r#"1,"evil, inc.xyz",x"#, b',', 2).as_deref(),
            Some("evil, inc.xyz")
        );
        assert_eq!(csv_field(r#"a;"b""c";d"#, b';', 2).as_deref(), Some("b\"c"));
        assert_eq!(csv_field("a,b", b',', 3), None);
        assert_eq!(guess_type("45.9.148.108"), "ip");
        assert_eq!(guess_type("45.9.0.0/16"), "ip");
        assert_eq!(guess_type("45.9.148.108:80"), "ip");
        assert_eq!(guess_type("2001:db8::1"), "ip");
        assert_eq!(guess_type("evil.xyz/a.php"), "url");
        assert_eq!(guess_type("http://evil.xyz"), "url");
        assert_eq!(guess_type("d41d8cd98f00b204e9800998ecf8427e"), "hash");
        assert_eq!(guess_type("evil.xyz"), "domain");
        assert_eq!(guess_type("999.1.1.1"), "ip");
    }

    #[test]
    fn csv_quoted_newline_stays_in_its_record() {
        let n = Normalizer::default();
        let mut out = Intake::default();
        // The description of the first record spans two lines; its second line looks like
        // a record of its own (and was read as one when lines were split first).
        let text = b"# feed: ip,description\n\
            ip,description\n\
            45.9.148.108,\"bad host\n45.9.148.110,phantom.xyz\"\n  \
            # an indented comment\n\
            45.9.148.109,\"quoted \"\"x\"\", with comma\"\r\n\
            \n\
            evil.xyz,\"multi\n# not a comment\nline\"";
        let fmt = ListFormat {
            csv: true,
            header: true,
            ..ListFormat::default()
        };
        list(text, &fmt, "t", &n, &mut out);
        let got: Vec<_> = out.accepted.iter().map(|(i, _)| i.value.as_str()).collect();
        assert_eq!(got, ["45.9.148.108", "45.9.148.109", "evil.xyz"]);
        assert_eq!(out.offered, 3);
        assert_eq!(out.rejected(), 0);
        assert!(!got
            .iter()
            .any(|v| v.contains("110") || v.contains("phantom")));
    }

    #[test]
    fn lists_count_what_they_refuse() {
        let n = Normalizer::default();
        let mut out = Intake::default();
        let text =
            b"# comment\n45.9.148.108 seen twice\n\n8.8.8.8\nevil.xyz\r\n\xff\xfe\nnot a domain!\n";
        list(text, &ListFormat::default(), "t", &n, &mut out);
        let got: Vec<_> = out.accepted.iter().map(|(i, _)| i.value.as_str()).collect();
        assert_eq!(got, ["45.9.148.108", "evil.xyz"]);
        assert_eq!(out.offered, 5);
        assert_eq!(
            out.rejects.get("warninglist:public-dns-resolvers"),
            Some(&1)
        );
        assert_eq!(out.rejects.get("not-text"), Some(&1));
        assert_eq!(out.rejects.get("invalid"), Some(&1));
    }
}
