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
}

impl Default for MispFilter {
    fn default() -> Self {
        MispFilter {
            to_ids_only: true,
            types: BTreeSet::new(),
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
    let e = doc.event;
    let origin = Origin {
        event: e.uuid,
        attribute: None,
        info: e.info,
        tags: e.tags.into_iter().map(|t| t.name).collect(),
    };
    for a in e.attributes {
        attribute(a, &origin, f, n, out);
    }
    for o in e.objects.into_iter().filter(|o| !o.deleted) {
        for a in o.attributes {
            attribute(a, &origin, f, n, out);
        }
    }
    Ok(())
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

/// A STIX 2.1 bundle: each `indicator` object with a STIX pattern. `now` (Unix seconds)
/// drops indicators past their `valid_until` and revoked ones.
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
    for o in objects.iter().filter(|o| o["type"] == "indicator") {
        let origin = Origin {
            event: bundle.clone(),
            attribute: o["id"].as_str().map(str::to_string),
            info: o["name"].as_str().map(str::to_string),
            tags: o["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect(),
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
            Ok(cmps) => {
                for (path, value) in cmps {
                    match stix_path_type(&path) {
                        Some(hint) => out.offer(
                            n,
                            Observation {
                                hint: hint.to_string(),
                                value,
                                origin: origin.clone(),
                            },
                        ),
                        None => {
                            let obj = path.split(':').next().unwrap_or_default();
                            out.reject(Reject::UnsupportedType(format!("stix:{obj}")));
                        }
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

/// The `(object path, value)` comparisons of a STIX pattern, when the pattern is a
/// disjunction of equality tests (`[a = 'x' OR b = 'y']`, several bracketed observation
/// expressions joined by `OR`). Anything narrower (`AND`, `FOLLOWEDBY`, other operators)
/// cannot be matched value by value and is refused.
pub fn stix_pattern(p: &str) -> Result<Vec<(String, String)>, Reject> {
    let mut out = Vec::new();
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
                        let Some(&e) = b.get(i + 1) else {
                            return Err(Reject::Invalid);
                        };
                        s.push(e as char);
                        i += 2;
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
        } else if matches!(c, b'[' | b']' | b'(' | b')') {
            tokens.push(Tok::Punct(c));
            i += 1;
        } else {
            let start = i;
            // A path may hold quoted keys: file:hashes.'SHA-256'.
            while i < b.len()
                && !b[i].is_ascii_whitespace()
                && !matches!(b[i], b'[' | b']' | b'(' | b')')
            {
                if b[i] == b'\'' && i > start && b[i - 1] == b'.' {
                    i += 1;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                }
                i += 1;
            }
            tokens.push(Tok::Word(p[start..i.min(b.len())].to_string()));
        }
    }
    let mut k = 0;
    while k < tokens.len() {
        match &tokens[k] {
            Tok::Punct(_) => k += 1,
            Tok::Word(w) if w.eq_ignore_ascii_case("OR") => k += 1,
            Tok::Word(w)
                if w.eq_ignore_ascii_case("AND") || w.eq_ignore_ascii_case("FOLLOWEDBY") =>
            {
                return Err(Reject::Unsupported("stix pattern with AND"));
            }
            Tok::Word(w)
                if matches!(
                    w.to_ascii_uppercase().as_str(),
                    "WITHIN" | "REPEATS" | "START" | "STOP"
                ) =>
            {
                // Qualifiers narrow in time; the values still identify the threat.
                k += 1;
                while k < tokens.len() && !matches!(&tokens[k], Tok::Punct(b'[')) {
                    k += 1;
                }
            }
            Tok::Word(path) => {
                let (Some(Tok::Word(op)), Some(Tok::Str(v))) =
                    (tokens.get(k + 1), tokens.get(k + 2))
                else {
                    return Err(Reject::Invalid);
                };
                if op != "=" {
                    return Err(Reject::Unsupported("stix operator other than ="));
                }
                out.push((path.clone(), v.clone()));
                k += 3;
            }
            Tok::Str(_) => return Err(Reject::Invalid),
        }
    }
    if out.is_empty() {
        return Err(Reject::Invalid);
    }
    Ok(out)
}

enum Tok {
    Punct(u8),
    Word(String),
    Str(String),
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
                                tags: BTreeSet::new(),
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
                let hint = match search.as_str() {
                    "PortItem/remoteIP"
                    | "Network/IP"
                    | "ProcessItem/PortList/PortItem/remoteIP" => "ip-dst",
                    "DnsEntryItem/RecordName" | "DnsEntryItem/Host" | "Network/DNS" => "domain",
                    "Network/URI" | "UrlHistoryItem/URL" => "url",
                    "FileItem/Md5sum" => "md5",
                    "FileItem/Sha1sum" => "sha1",
                    "FileItem/Sha256sum" => "sha256",
                    _ => continue,
                };
                if ops.last().map(String::as_str) == Some("AND") {
                    out.reject(Reject::Unsupported("openioc item under AND"));
                    continue;
                }
                if cond != "is" {
                    out.reject(Reject::Unsupported("openioc condition other than is"));
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

    #[test]
    fn stix_patterns() {
        assert_eq!(
            stix_pattern("[ipv4-addr:value = '198.51.100.1' OR domain-name:value = 'a.xyz']")
                .unwrap(),
            vec![
                ("ipv4-addr:value".into(), "198.51.100.1".into()),
                ("domain-name:value".into(), "a.xyz".into())
            ]
        );
        assert_eq!(
            stix_pattern("[file:hashes.'SHA-256' = 'ab\\'c'] WITHIN 600 SECONDS").unwrap(),
            vec![("file:hashes.'SHA-256'".into(), "ab'c".into())]
        );
        assert_eq!(
            stix_pattern("[a:b = 'x' AND c:d = 'y']").unwrap_err(),
            Reject::Unsupported("stix pattern with AND")
        );
        assert_eq!(
            stix_pattern("[email-message:subject MATCHES '^x']").unwrap_err(),
            Reject::Unsupported("stix operator other than =")
        );
        assert_eq!(stix_pattern("[a:b = 'x").unwrap_err(), Reject::Invalid);
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
