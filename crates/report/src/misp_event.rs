//! Incidents as MISP events: what is pushed, with which threat level, tags and
//! attributes (the `[misp]` section of suriguard.toml). The HTTP side is in
//! `suriguardctl`; everything here is plain data so it can be tested on its own.
//!
//! **Severity.** Suricata's severity 1 is the *most* severe (it comes from the
//! classtype's priority); MISP's `threat_level_id` 1 is "High". The default mapping is
//! therefore the identity on 1..=3 (1 → High, 2 → Medium, 3 → Low) and anything else is
//! 4 ("Undefined"). Only incidents with severity ≤ `min-severity` (default 2) are pushed.
//! Enforced decisions count as severity 1, dry-run decisions as 2.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::Error;
use crate::incident::{Incident, Origin};
use crate::secret::SecretRef;
use suriguard_net::NetworkModel;

/// `[misp]`: where and how incidents are pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct MispPushConfig {
    /// MISP's base URL (`https://misp.example.org`); unset: nothing is pushed.
    pub url: Option<String>,
    /// The API key (`{ env = "..." }` or `{ file = "..." }`).
    pub key: Option<SecretRef>,
    /// A CA certificate (PEM) to trust besides the system's, for a private MISP.
    pub ca_file: Option<PathBuf>,
    /// Seconds per request.
    pub timeout: f64,
    /// Push incidents with Suricata severity ≤ this (1 = most severe).
    pub min_severity: u8,
    /// Push block and quarantine decisions.
    pub push_decisions: bool,
    /// Also push alert-only decisions (beaconing, DNS tunnels, volume, flood targets...):
    /// their attributes are never marked `to_ids`, since an alert is not near-certain.
    pub push_alert_only: bool,
    /// Also push decisions taken in dry-run.
    pub push_dry_run: bool,
    /// Suricata severity → MISP threat_level_id (1 High, 2 Medium, 3 Low, 4 Undefined).
    pub threat_level: BTreeMap<String, u8>,
    /// `distribution` of new events: 0 organisation, 1 community, 2 connected, 3 all,
    /// 4 sharing group.
    pub distribution: u8,
    /// Required with distribution 4.
    pub sharing_group_id: Option<u32>,
    /// `analysis`: 0 initial, 1 ongoing, 2 complete.
    pub analysis: u8,
    /// Tags on every event (a TLP tag at least).
    pub tags: Vec<String>,
    /// Another incident with the same source and signature within this many seconds
    /// (of the first one's time) is added to the same event.
    pub dedupe_window: u64,
    /// Publish events after creating or updating them.
    pub publish: bool,
    /// Add a sighting to the MISP attribute behind an alert from a rulesync rule.
    pub sightings: bool,
    /// rulesync's index (`index.json` in its output dir) for tracing alerts to attributes.
    pub intel_index: Option<PathBuf>,
    /// Put home-network addresses into events (off: they stay local).
    pub share_home_addresses: bool,
    /// Give up on an incident after this many failed runs (it stays listed as failed).
    pub max_attempts: u32,
}

impl Default for MispPushConfig {
    fn default() -> Self {
        MispPushConfig {
            url: None,
            key: None,
            ca_file: None,
            timeout: 10.0,
            min_severity: 2,
            push_decisions: true,
            push_alert_only: true,
            push_dry_run: false,
            threat_level: [("1", 1), ("2", 2), ("3", 3)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            distribution: 0,
            sharing_group_id: None,
            analysis: 0,
            tags: vec!["tlp:amber".into()],
            dedupe_window: 86_400,
            publish: true,
            sightings: true,
            intel_index: None,
            share_home_addresses: false,
            max_attempts: 20,
        }
    }
}

impl suriguard_config::Section for MispPushConfig {
    const NAME: &'static str = "misp";

    fn validate(&self) -> Result<(), String> {
        MispPushConfig::validate(self).map_err(|e| e.to_string())
    }
}

impl MispPushConfig {
    /// Checks the settings; the error names the table and the key.
    pub fn validate(&self) -> Result<(), Error> {
        for (k, v) in &self.threat_level {
            if k.parse::<u8>().is_err() {
                return Err(Error::invalid(
                    "misp",
                    format!("threat-level key {k:?} is not a Suricata severity"),
                ));
            }
            if !(1..=4).contains(v) {
                return Err(Error::invalid(
                    "misp",
                    format!("threat-level.{k} = {v}: MISP threat levels are 1..4"),
                ));
            }
        }
        if self.distribution > 4 {
            return Err(Error::invalid(
                "misp",
                format!(
                    "distribution = {}: MISP event distributions are 0..4",
                    self.distribution
                ),
            ));
        }
        if self.distribution == 4 && self.sharing_group_id.is_none() {
            return Err(Error::invalid(
                "misp",
                "distribution = 4 needs sharing-group-id",
            ));
        }
        if self.analysis > 2 {
            return Err(Error::invalid(
                "misp",
                format!("analysis = {}: must be 0, 1 or 2", self.analysis),
            ));
        }
        if !(self.timeout > 0.0 && self.timeout <= 600.0) {
            return Err(Error::invalid(
                "misp",
                "timeout must be between 0 and 600 seconds",
            ));
        }
        if let Some(u) = &self.url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(Error::invalid(
                    "misp",
                    format!("url {u:?} must start with https:// or http://"),
                ));
            }
            if self.key.is_none() {
                return Err(Error::invalid(
                    "misp",
                    "url is set but key is not ({ env = \"...\" } or { file = \"...\" })",
                ));
            }
        }
        Ok(())
    }

    /// MISP threat level for an incident.
    pub fn threat_level_of(&self, inc: &Incident) -> u8 {
        self.threat_level
            .get(&inc.severity.to_string())
            .copied()
            .unwrap_or(4)
    }

    /// Whether the incident is pushed at all. Decisions: blocks and quarantines only (an
    /// alert-only decision names no attacker for sure, and a rate limit's target is the
    /// flooded home host, its sources spoofed).
    pub fn wants(&self, inc: &Incident) -> bool {
        match inc.origin {
            Origin::Alert => inc.severity <= self.min_severity,
            Origin::Decision => {
                self.push_decisions
                    && (!is_alert_only(inc) || self.push_alert_only)
                    && inc.category.as_deref() != Some("rate-limit")
                    && inc.signature != "flood-target"
                    && (!inc.dry_run || self.push_dry_run)
            }
        }
    }
}

/// An alert-only decision: reported, never enforced.
fn is_alert_only(inc: &Incident) -> bool {
    inc.origin == Origin::Decision && inc.category.as_deref() == Some("alert-only")
}

/// Same source, same signature (or decision reason): same event within the window.
pub fn group_key(inc: &Incident) -> String {
    format!("{}|{}", inc.subject_ip().unwrap_or("-"), inc.reason_key())
}

/// A deterministic UUID (version 8 layout) for the event of a group, so a retried
/// creation whose answer was lost finds the event MISP already has.
pub fn event_uuid(group: &str, first_key: &str) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for &x in group
        .bytes()
        .chain([0x1f])
        .chain(first_key.bytes())
        .collect::<Vec<_>>()
        .iter()
    {
        a ^= x as u64;
        a = a.wrapping_mul(0x0100_0000_01b3);
        b = b.rotate_left(5) ^ (x as u64);
        b = b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    let hex = format!("{a:016x}{b:016x}");
    // version 8 (custom), RFC 4122 variant
    format!(
        "{}-{}-8{}-{:x}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        (u8::from_str_radix(&hex[16..17], 16).unwrap_or(0) & 0x3) | 0x8,
        &hex[17..20],
        &hex[20..32]
    )
}

/// The `/events/add` body (MISP's `EventNoId`).
pub fn event_body(cfg: &MispPushConfig, net: &NetworkModel, inc: &Incident, uuid: &str) -> Value {
    let what = match inc.origin {
        Origin::Alert => format!("Suricata alert: {}", inc.signature),
        Origin::Decision => format!(
            "suriguard {} ({})",
            inc.category.as_deref().unwrap_or("decision"),
            inc.signature
        ),
    };
    let mut ev = json!({
        "info": private_text(
            cfg,
            net,
            &format!("suriguard: {what} from {}", inc.subject_ip().unwrap_or("unknown"))
        ),
        "date": inc.time.get(..10).unwrap_or("1970-01-01"),
        "threat_level_id": cfg.threat_level_of(inc).to_string(),
        "analysis": cfg.analysis.to_string(),
        "distribution": cfg.distribution.to_string(),
        "published": false,
        "uuid": uuid,
    });
    if let Some(sg) = cfg.sharing_group_id.filter(|_| cfg.distribution == 4) {
        ev["sharing_group_id"] = json!(sg.to_string());
    }
    ev
}

/// Tags for an incident's event: the configured ones and `suriguard:*` machine tags.
pub fn event_tags(cfg: &MispPushConfig, inc: &Incident) -> Vec<String> {
    let mut tags = cfg.tags.clone();
    tags.push(format!("suriguard:origin=\"{}\"", inc.origin.as_str()));
    match inc.signature_id {
        Some(sid) => tags.push(format!("suriguard:signature-id=\"{sid}\"")),
        None => tags.push(format!("suriguard:reason=\"{}\"", inc.signature)),
    }
    if let Some(set) = &inc.intel_set {
        tags.push(format!("suriguard:intel-set=\"{set}\""));
    }
    tags.sort();
    tags.dedup();
    tags
}

/// One attribute to add (MISP's `AttributeNoId`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AttributeSpec {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub category: &'static str,
    pub value: String,
    pub to_ids: bool,
    pub comment: String,
}

impl AttributeSpec {
    pub fn body(&self) -> Value {
        json!({
            "type": self.kind,
            "category": self.category,
            "value": self.value,
            "to_ids": self.to_ids,
            "comment": self.comment,
            "distribution": "5",
        })
    }
}

/// Text that leaves for MISP: unless `share-home-addresses`, every home address in it
/// becomes "a home device" and what a device's baseline says (its MAC address, DHCP host
/// name, habits) is left out.
pub fn private_text(cfg: &MispPushConfig, net: &NetworkModel, text: &str) -> String {
    if cfg.share_home_addresses {
        return text.to_owned();
    }
    let text = match text.find("Baseline:") {
        Some(i) => text[..i].trim_end_matches([' ', ',', '.', ';']),
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Address-shaped runs: hex digits, dots and colons.
    while let Some(start) = rest.find(|c: char| c.is_ascii_hexdigit() || c == ':') {
        out.push_str(&rest[..start]);
        let run = &rest[start..];
        let len = run
            .find(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
            .unwrap_or(run.len());
        let word = run[..len].trim_end_matches(['.', ':']);
        match word.parse::<IpAddr>() {
            Ok(ip) if net.is_home(ip) => {
                out.push_str("a home device");
                out.push_str(&run[word.len()..len]);
            }
            _ => out.push_str(&run[..len]),
        }
        rest = &run[len..];
    }
    out.push_str(rest);
    out
}

/// The attributes an incident contributes. Home-network addresses are left out unless
/// `share-home-addresses` is set.
pub fn attributes(cfg: &MispPushConfig, net: &NetworkModel, inc: &Incident) -> Vec<AttributeSpec> {
    let mut out = Vec::new();
    // An alert-only decision is not near-certain: nothing of it becomes an IDS indicator
    // that other gateways would block on.
    let ids_ok = !is_alert_only(inc);
    let mut add = |kind, category, value: &str, to_ids: bool, comment: String| {
        if !value.is_empty() {
            out.push(AttributeSpec {
                kind,
                category,
                value: value.to_string(),
                to_ids: to_ids && ids_ok,
                comment,
            });
        }
    };
    let shareable = |ip: &str| -> Option<bool> {
        let addr: IpAddr = ip.parse().ok()?;
        let home = net.is_home(addr);
        (!home || cfg.share_home_addresses).then_some(!home)
    };
    let proto = inc.proto.as_deref().unwrap_or("");
    if let Some(ip) = inc.src_ip.as_deref() {
        if let Some(remote) = shareable(ip) {
            add(
                "ip-src",
                "Network activity",
                ip,
                remote,
                format!("source {proto}").trim().to_string(),
            );
        }
    }
    if let Some(ip) = inc.dest_ip.as_deref() {
        if let Some(remote) = shareable(ip) {
            add(
                "ip-dst",
                "Network activity",
                ip,
                remote,
                format!("destination {proto}").trim().to_string(),
            );
        }
    }
    if let Some(p) = inc.src_port {
        add(
            "port",
            "Network activity",
            &p.to_string(),
            false,
            "source port".into(),
        );
    }
    if let Some(p) = inc.dest_port {
        add(
            "port",
            "Network activity",
            &p.to_string(),
            false,
            "destination port".into(),
        );
    }
    let sig = match inc.signature_id {
        Some(sid) => format!("[{sid}] {}", inc.signature),
        None => {
            let text = inc.summary.clone().unwrap_or_else(|| inc.signature.clone());
            private_text(cfg, net, &text)
        }
    };
    add(
        "text",
        "Other",
        &sig,
        false,
        match inc.origin {
            Origin::Alert => "Suricata signature".into(),
            Origin::Decision => format!("suriguard decision {}", inc.key),
        },
    );
    if !proto.is_empty() {
        add("text", "Network activity", proto, false, "protocol".into());
    }
    if let Some(h) = &inc.http_host {
        let is_ip = h.parse::<IpAddr>().is_ok();
        if !is_ip {
            add("hostname", "Network activity", h, true, "HTTP host".into());
        }
    }
    if let (Some(h), Some(u)) = (&inc.http_host, &inc.http_url) {
        let url = if u.starts_with("http://") || u.starts_with("https://") {
            u.clone()
        } else {
            format!("http://{h}{u}")
        };
        add("url", "Network activity", &url, false, "HTTP URL".into());
    }
    if let Some(ua) = &inc.http_user_agent {
        add(
            "user-agent",
            "Network activity",
            ua,
            false,
            "HTTP user agent".into(),
        );
    }
    // What a honeypot visitor made the honeypot fetch: payload URLs and file hashes,
    // worth blocking elsewhere too.
    if inc.origin == Origin::Decision && inc.signature == "honeypot" {
        let downloads = inc
            .raw
            .pointer("/evidence/honeypot/downloads")
            .and_then(Value::as_array);
        for d in downloads.into_iter().flatten() {
            if let Some(url) = d.get("url").and_then(Value::as_str) {
                add(
                    "url",
                    "Payload delivery",
                    url,
                    true,
                    "fetched through the honeypot".into(),
                );
            }
            if let Some(sha) = d.get("sha256").and_then(Value::as_str) {
                add(
                    "sha256",
                    "Payload delivery",
                    sha,
                    true,
                    "file fetched through the honeypot".into(),
                );
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::from_line;

    fn net() -> NetworkModel {
        NetworkModel::new(
            vec!["192.168.1.0/24".parse().unwrap()],
            Vec::new(),
            Vec::new(),
        )
    }

    const A: &str = r#"{"timestamp":"2023-05-04T10:11:12.345678+0200","flow_id":77,"event_type":"alert","src_ip":"198.51.100.7","src_port":4444,"dest_ip":"192.168.1.20","dest_port":80,"proto":"TCP","alert":{"signature_id":2100498,"signature":"GPL id check","category":"x","severity":1},"http":{"hostname":"evil.example","url":"/a","http_user_agent":"curl/8"}}"#;

    #[test]
    fn severity_one_is_high_and_pushed() {
        let cfg = MispPushConfig::default();
        let mut inc = from_line(A).unwrap().unwrap();
        assert_eq!(cfg.threat_level_of(&inc), 1);
        assert!(cfg.wants(&inc));
        inc.severity = 3;
        assert_eq!(cfg.threat_level_of(&inc), 3);
        assert!(
            !cfg.wants(&inc),
            "severity 3 is below the default threshold"
        );
        inc.severity = 4;
        assert_eq!(cfg.threat_level_of(&inc), 4);
    }

    #[test]
    fn attributes_leave_home_addresses_out() {
        let cfg = MispPushConfig::default();
        let inc = from_line(A).unwrap().unwrap();
        let attrs = attributes(&cfg, &net(), &inc);
        let kinds: Vec<_> = attrs.iter().map(|a| (a.kind, a.value.as_str())).collect();
        assert!(kinds.contains(&("ip-src", "198.51.100.7")));
        assert!(
            !kinds.iter().any(|(_, v)| *v == "192.168.1.20"),
            "{kinds:?}"
        );
        assert!(kinds.contains(&("url", "http://evil.example/a")));
        assert!(kinds.contains(&("user-agent", "curl/8")));
        assert!(kinds.contains(&("port", "80")));
        let shared = MispPushConfig {
            share_home_addresses: true,
            ..cfg
        };
        let attrs = attributes(&shared, &net(), &inc);
        let dst = attrs.iter().find(|a| a.kind == "ip-dst").unwrap();
        assert!(!dst.to_ids, "a home address is never an IDS indicator");
    }

    #[test]
    fn honeypot_downloads_become_url_and_sha256_indicators() {
        use suriguard_decision::{
            Action, Decision, Evidence, HoneypotDownload, HoneypotEvidence, Reason,
        };
        use suriguard_net::Direction;
        let d = Decision {
            id: "hp".into(),
            time: "2024-01-01T00:00:00Z".into(),
            time_us: 1_704_067_200_000_000,
            target: "203.0.113.9".parse().unwrap(),
            action: Action::Block,
            reason: Reason::Honeypot,
            direction: Direction::Inbound,
            summary: "block 203.0.113.9: honeypot".into(),
            evidence: Evidence {
                counter: "honeypot interactions".into(),
                observed: 3,
                threshold: 1,
                window_secs: 0.5,
                example_flow_ids: Vec::new(),
                detail: None,
                model: None,
                honeypot: Some(Box::new(HoneypotEvidence {
                    downloads: vec![HoneypotDownload {
                        url: Some("http://198.51.100.7/bins/x86".into()),
                        sha256: Some("ab".repeat(32)),
                    }],
                    ..HoneypotEvidence::default()
                })),
            },
            ttl: 3600,
            confidence: 0.99,
            dry_run: false,
            limit: None,
        };
        let inc = Incident::from_decision(&d);
        let attrs = attributes(&MispPushConfig::default(), &net(), &inc);
        let find = |k: &str| attrs.iter().find(|a| a.kind == k).unwrap();
        assert_eq!(find("url").value, "http://198.51.100.7/bins/x86");
        assert!(find("url").to_ids && find("sha256").to_ids);
        assert_eq!(find("sha256").value, "ab".repeat(32));
        assert!(find("ip-src").to_ids);
    }

    #[test]
    fn alert_only_decisions_are_pushed_without_ids_flags_or_home_identities() {
        use suriguard_decision::{Action, Decision, Evidence, Reason};
        use suriguard_net::Direction;
        let d = Decision {
            id: "ab".into(),
            time: "2024-01-01T00:00:00Z".into(),
            time_us: 1_704_067_200_000_000,
            target: "192.168.1.40".parse().unwrap(),
            action: Action::AlertOnly,
            reason: Reason::Beaconing,
            direction: Direction::Outbound,
            summary: "alert-only 192.168.1.40: regular contacts to one remote host \
                      (198.51.100.66 port 443: every 3.0 s). Baseline: device \
                      aa:bb:cc:00:00:50 \"cam-kitchen\"; baseline of 14 days"
                .into(),
            evidence: Evidence {
                counter: "regular contacts to one remote host".into(),
                observed: 40,
                threshold: 12,
                window_secs: 120.0,
                example_flow_ids: Vec::new(),
                detail: None,
                model: None,
                honeypot: None,
            },
            ttl: 3600,
            confidence: 0.8,
            dry_run: false,
            limit: None,
        };
        let inc = crate::incident::Incident::from_decision(&d);
        let cfg = MispPushConfig::default();
        assert!(
            cfg.wants(&inc),
            "alert-only decisions reach MISP by default"
        );
        let off = MispPushConfig {
            push_alert_only: false,
            ..MispPushConfig::default()
        };
        assert!(!off.wants(&inc));
        let flood = Decision {
            reason: Reason::FloodTarget,
            ..d.clone()
        };
        assert!(
            !cfg.wants(&crate::incident::Incident::from_decision(&flood)),
            "a flood's target is the victim, not an indicator"
        );
        let attrs = attributes(&cfg, &net(), &inc);
        assert!(!attrs.is_empty());
        assert!(attrs.iter().all(|a| !a.to_ids), "{attrs:?}");
        for a in &attrs {
            for secret in ["192.168.1.40", "aa:bb:cc", "cam-kitchen"] {
                assert!(!a.value.contains(secret), "{secret} leaked in {a:?}");
            }
        }
        assert!(
            attrs
                .iter()
                .any(|a| a.value.contains("198.51.100.66 port 443")),
            "{attrs:?}"
        );
    }

    #[test]
    fn text_for_misp_names_no_home_device() {
        let cfg = MispPushConfig::default();
        let t = private_text(
            &cfg,
            &net(),
            "quarantine 192.168.1.50: 70 distinct external hosts, Baseline: device \
             aa:bb:cc:00:00:50 \"cam\"; ftp on 192.168.1.25 port 21",
        );
        assert_eq!(t, "quarantine a home device: 70 distinct external hosts");
        let t = private_text(
            &cfg,
            &net(),
            "block 198.51.100.7: ftp on 192.168.1.25. port 21 to fe80::1",
        );
        assert_eq!(
            t,
            "block 198.51.100.7: ftp on a home device. port 21 to fe80::1"
        );
        let body = event_body(&cfg, &net(), &from_line(A).unwrap().unwrap(), "u");
        assert!(body["info"].as_str().unwrap().contains("198.51.100.7"));
        let shared = MispPushConfig {
            share_home_addresses: true,
            ..MispPushConfig::default()
        };
        assert!(private_text(&shared, &net(), "x 192.168.1.5").contains("192.168.1.5"));
    }

    #[test]
    fn uuid_is_stable_and_well_formed() {
        let u = event_uuid("1.2.3.4|sid:1", "k");
        assert_eq!(u, event_uuid("1.2.3.4|sid:1", "k"));
        assert_ne!(u, event_uuid("1.2.3.4|sid:2", "k"));
        let parts: Vec<_> = u.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&u[14..15], "8");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn config_is_checked() {
        let bad = MispPushConfig {
            distribution: 4,
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("sharing-group-id"));
        let mut bad = MispPushConfig::default();
        bad.threat_level.insert("1".into(), 7);
        assert!(bad.validate().is_err());
        let bad = MispPushConfig {
            url: Some("https://m".into()),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("key"));
    }
}
