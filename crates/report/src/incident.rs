//! What `suriguardctl` reports on: Suricata alerts and suriguard's decisions, as one
//! owned, sanitised, bounded shape (an [`Incident`]).
//!
//! Both come from files Suricata and the plugin write (`eve.json`, the decisions
//! journal), so every string is bounded and stripped of control characters before it
//! goes anywhere else (the local store, MISP, a mail, an LLM prompt).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use suriguard_decision::{rfc3339, Action, Decision, Reason};
use suriguard_eve::EveTime;

use crate::error::Error;

/// Longest string kept from a record field (URLs, user agents, signatures).
pub const MAX_FIELD: usize = 512;

/// `[alerts]`: where suriguardctl reads incidents and keeps its store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AlertsConfig {
    /// Suricata's EVE log, read incrementally (alert records only).
    pub eve: PathBuf,
    /// The SQLite store; default `suriguard.db` in the state dir.
    pub database: Option<PathBuf>,
    /// Incidents older than this many days are removed from the store.
    pub keep_days: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            eve: PathBuf::from("/var/log/suricata/eve.json"),
            database: None,
            keep_days: 90,
        }
    }
}

impl suriguard_config::Section for AlertsConfig {
    const NAME: &'static str = "alerts";

    fn resolve_paths(&mut self, dir: &std::path::Path) {
        if let Some(p) = &mut self.database {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

/// Where an incident came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Alert,
    Decision,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Alert => "alert",
            Origin::Decision => "decision",
        }
    }
}

/// An alert or a decision, with what the reports need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub origin: Origin,
    /// Stable key: the same record read twice gives the same key.
    pub key: String,
    /// RFC 3339 UTC.
    pub time: String,
    pub time_us: i64,
    /// Suricata severity, 1 = most severe. Decisions: 1 for block/quarantine/rate-limit
    /// enforced, 2 in dry-run, 3 for alert-only.
    pub severity: u8,
    pub src_ip: Option<String>,
    pub src_port: Option<u16>,
    pub dest_ip: Option<String>,
    pub dest_port: Option<u16>,
    pub proto: Option<String>,
    pub app_proto: Option<String>,
    pub flow_id: Option<u64>,
    /// Alerts: signature id; decisions: none.
    pub signature_id: Option<u64>,
    /// Alerts: the signature text; decisions: the reason (`syn-flood`, ...).
    pub signature: String,
    /// Alerts: the classtype's description; decisions: the action.
    pub category: Option<String>,
    /// Suricata's action for alerts (`allowed`, `blocked`).
    pub action: Option<String>,
    pub http_host: Option<String>,
    pub http_url: Option<String>,
    pub http_user_agent: Option<String>,
    pub dns_query: Option<String>,
    pub tls_sni: Option<String>,
    /// The rulesync set behind the alert (`suriguard_set` rule metadata).
    pub intel_set: Option<String>,
    /// Decisions: the address decided on, the one-sentence summary and the evidence.
    pub target: Option<String>,
    pub summary: Option<String>,
    pub detail: Option<String>,
    pub confidence: Option<f64>,
    pub dry_run: bool,
    /// The record itself (alerts: the EVE record, bounded; decisions: the decision).
    pub raw: Value,
}

/// Largest EVE record kept whole in `raw`; a bigger one keeps its alert fields only.
pub const MAX_RAW: usize = 16 * 1024;

/// Keeps printable text only, at most `MAX_FIELD` bytes (on a char boundary).
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_FIELD));
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_FIELD {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out.trim().to_string()
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(clean).filter(|s| !s.is_empty())
}

fn port(v: &Value) -> Option<u16> {
    v.as_u64().and_then(|p| u16::try_from(p).ok())
}

/// FNV-1a over the parts, as 16 hex digits.
fn key_of(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in p.as_bytes().iter().chain(b"\x1f") {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl Incident {
    /// An EVE alert record, or `None` for any other record (or one without a signature).
    pub fn from_alert(rec: &Value, raw_len: usize) -> Option<Incident> {
        if rec["event_type"].as_str() != Some("alert") {
            return None;
        }
        let a = &rec["alert"];
        let signature = text(&a["signature"])?;
        let ts = rec["timestamp"].as_str().unwrap_or("");
        let time_us = EveTime::parse(ts).map(EveTime::micros).unwrap_or(0);
        let sid = a["signature_id"].as_u64();
        let src = text(&rec["src_ip"]);
        let dst = text(&rec["dest_ip"]);
        let flow_id = rec["flow_id"].as_u64();
        let pkt = rec["pcap_cnt"]
            .as_u64()
            .map(|n| n.to_string())
            .unwrap_or_default();
        let key = key_of(&[
            "alert",
            ts,
            &flow_id.map(|f| f.to_string()).unwrap_or_default(),
            &sid.map(|s| s.to_string()).unwrap_or_default(),
            src.as_deref().unwrap_or(""),
            dst.as_deref().unwrap_or(""),
            &pkt,
        ]);
        let raw = if raw_len <= MAX_RAW {
            rec.clone()
        } else {
            serde_json::json!({
                "timestamp": rec["timestamp"], "event_type": "alert", "flow_id": rec["flow_id"],
                "src_ip": rec["src_ip"], "src_port": rec["src_port"], "dest_ip": rec["dest_ip"],
                "dest_port": rec["dest_port"], "proto": rec["proto"], "alert": rec["alert"],
                "truncated": true,
            })
        };
        let http = &rec["http"];
        Some(Incident {
            origin: Origin::Alert,
            key,
            time: EveTime::parse(ts).map(rfc3339).unwrap_or_else(|| clean(ts)),
            time_us,
            severity: a["severity"]
                .as_u64()
                .map(|s| s.clamp(1, 255) as u8)
                .unwrap_or(3),
            src_ip: src,
            src_port: port(&rec["src_port"]),
            dest_ip: dst,
            dest_port: port(&rec["dest_port"]),
            proto: text(&rec["proto"]),
            app_proto: text(&rec["app_proto"]),
            flow_id,
            signature_id: sid,
            signature,
            category: text(&a["category"]),
            action: text(&a["action"]),
            http_host: text(&http["hostname"]),
            http_url: text(&http["url"]),
            http_user_agent: text(&http["http_user_agent"]),
            dns_query: text(&rec["dns"]["query"][0]["rrname"])
                .or_else(|| text(&rec["dns"]["rrname"]))
                .or_else(|| text(&rec["dns"]["queries"][0]["rrname"])),
            tls_sni: text(&rec["tls"]["sni"]),
            intel_set: suriguard_intel::trace::alert_set(rec).map(clean),
            target: None,
            summary: None,
            detail: None,
            confidence: None,
            dry_run: false,
            raw,
        })
    }

    /// A suriguard decision (from the decisions journal).
    pub fn from_decision(d: &Decision) -> Incident {
        let severity = match (d.action, d.dry_run) {
            (Action::AlertOnly, _) => 3,
            (_, true) => 2,
            (_, false) => 1,
        };
        let target = d.target.to_string();
        // The decision is against `target`; it is the source for inbound attacks and
        // the home device for quarantines, so it is reported as the source; a flooded
        // host (its sources spoofed) is the destination, with the service a rate limit
        // names.
        let victim = d.reason == Reason::FloodTarget;
        Incident {
            origin: Origin::Decision,
            key: d.id.clone(),
            time: d.time.clone(),
            time_us: d.time_us,
            severity,
            src_ip: (!victim).then(|| target.clone()),
            src_port: None,
            dest_ip: victim.then(|| target.clone()),
            dest_port: d
                .limit
                .map(|l| l.port)
                .or_else(|| d.evidence.detail.as_deref().and_then(port_in_detail)),
            proto: d.limit.map(|l| l.proto.as_str().to_ascii_uppercase()),
            app_proto: None,
            flow_id: d.evidence.example_flow_ids.last().copied(),
            signature_id: None,
            signature: d.reason.as_str().to_string(),
            category: Some(d.action.as_str().to_string()),
            action: None,
            http_host: None,
            http_url: None,
            http_user_agent: None,
            dns_query: None,
            tls_sni: None,
            intel_set: None,
            target: Some(target),
            summary: Some(clean(&d.summary)),
            detail: d.evidence.detail.as_deref().map(clean),
            confidence: Some(d.confidence),
            dry_run: d.dry_run,
            raw: serde_json::to_value(d).unwrap_or(Value::Null),
        }
    }

    /// Who the incident is about: the decision's target, else the alert's source.
    pub fn subject_ip(&self) -> Option<&str> {
        self.target.as_deref().or(self.src_ip.as_deref())
    }

    /// What it is about, as a stable name: the signature id (`sid:2100498`) for alerts,
    /// the reason for decisions.
    pub fn reason_key(&self) -> String {
        match self.signature_id {
            Some(sid) => format!("sid:{sid}"),
            None => self.signature.clone(),
        }
    }
}

/// `dport 23`, `port 2323`, `to port 22` ... in a decision's evidence detail.
fn port_in_detail(detail: &str) -> Option<u16> {
    let words: Vec<&str> = detail.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    words.windows(2).find_map(|w| {
        matches!(w[0], "port" | "dport" | "dest_port")
            .then(|| w[1].parse().ok())
            .flatten()
    })
}

/// The `event_type` of a JSON line, read without parsing it (whitespace around the colon
/// allowed, as tools that re-serialise EVE write it). `None` when it cannot be told.
fn event_type_of(line: &str) -> Option<&str> {
    let at = line.find("\"event_type\"")? + "\"event_type\"".len();
    let rest = line[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    Some(&rest[..end])
}

/// Reads alert records and decisions from JSON lines; other records are skipped.
/// `line` is one line of eve.json or of the decisions journal.
pub fn from_line(line: &str) -> Result<Option<Incident>, Error> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    // Fast path: eve.json is mostly flow, dns, http... records.
    if event_type_of(line).is_some_and(|t| t != "alert") {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(line).map_err(|source| Error::Json { source })?;
    if v.get("event_type").is_some() {
        return Ok(Incident::from_alert(&v, line.len()));
    }
    if v.get("reason").is_some() && v.get("target").is_some() {
        let d: Decision = serde_json::from_value(v).map_err(|source| Error::Decision { source })?;
        return Ok(Some(Incident::from_decision(&d)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT: &str = r#"{"timestamp":"2023-05-04T10:11:12.345678+0200","flow_id":77,"event_type":"alert","src_ip":"198.51.100.7","src_port":4444,"dest_ip":"192.168.1.20","dest_port":23,"proto":"TCP","pcap_cnt":9,"alert":{"action":"allowed","signature_id":2100498,"rev":7,"signature":"GPL ATTACK_RESPONSE id check\u0007 returned root","category":"Potentially Bad Traffic","severity":2},"http":{"hostname":"evil.example","url":"/x?y=1","http_user_agent":"curl/8"}}"#;

    #[test]
    fn alert_fields_are_kept_clean() {
        let i = from_line(ALERT).unwrap().unwrap();
        assert_eq!(i.origin, Origin::Alert);
        assert_eq!(i.severity, 2);
        assert_eq!(i.time, "2023-05-04T08:11:12.345678Z");
        assert_eq!(i.signature, "GPL ATTACK_RESPONSE id check  returned root");
        assert_eq!(i.src_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(i.dest_port, Some(23));
        assert_eq!(i.http_host.as_deref(), Some("evil.example"));
        assert_eq!(i.reason_key(), "sid:2100498");
        // Same record, same key; another packet of the flow, another key.
        assert_eq!(from_line(ALERT).unwrap().unwrap().key, i.key);
        let other = ALERT.replace("\"pcap_cnt\":9", "\"pcap_cnt\":10");
        assert_ne!(from_line(&other).unwrap().unwrap().key, i.key);
    }

    #[test]
    fn other_records_and_garbage() {
        assert!(from_line(r#"{"event_type":"flow","src_ip":"1.2.3.4"}"#)
            .unwrap()
            .is_none());
        assert!(from_line("").unwrap().is_none());
        assert!(from_line("{\"event_type\":\"alert\",").is_err());
        let long = "x".repeat(5000);
        assert!(clean(&long).len() <= MAX_FIELD + '…'.len_utf8());
    }

    #[test]
    fn spaced_json_is_read_too() {
        let spaced = ALERT.replace("\"event_type\":\"alert\"", "\"event_type\": \"alert\"");
        assert!(from_line(&spaced).unwrap().is_some());
        assert!(from_line(r#"{"event_type" : "flow"}"#).unwrap().is_none());
        assert_eq!(
            event_type_of(r#"{"a":1, "event_type" :  "dns", "x":2}"#),
            Some("dns")
        );
    }

    #[test]
    fn port_from_evidence_detail() {
        assert_eq!(
            port_in_detail("telnet login failures to dport 23"),
            Some(23)
        );
        assert_eq!(
            port_in_detail("SYN to 192.168.1.5 port 80 (http)"),
            Some(80)
        );
        assert_eq!(port_in_detail("no number"), None);
    }
}
