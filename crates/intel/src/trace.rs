//! From an alert back to the indicators behind it.
//!
//! One rule covers a whole dataset, so its metadata can only name the set and the
//! sources (`suriguard_set`, `suriguard_source`). The value that matched is in the
//! alert record itself (the destination address, the DNS query, the TLS SNI, the HTTP
//! host and URL, a file hash, the JA3 hash); looked up in the index written beside the
//! rules (`index.json`, or rulesync's store) it gives each source's MISP events and
//! attributes, tags and first/last seen.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use super::indicator::Kind;
use super::store::Entry;
use suriguard_net::Cidr;

/// Indicators by kind and canonical value: `Store::indicators`, as rulesync's state and
/// each generation's `index.json` (a serialised `Store`) hold them.
pub type Index = BTreeMap<Kind, BTreeMap<String, Entry>>;

/// One indicator an alert matched, with its provenance.
#[derive(Debug, Clone, Serialize)]
pub struct Traced<'a> {
    pub set: String,
    pub kind: Kind,
    /// The canonical indicator (a prefix for a network indicator).
    pub value: String,
    /// What the alert showed, when it differs from `value` (the address inside a prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    pub entry: &'a Entry,
}

/// The rulesync set an alert record came from (its rule's `suriguard_set` metadata).
pub fn alert_set(alert: &Value) -> Option<&str> {
    alert["alert"]["metadata"]["suriguard_set"]
        .as_array()?
        .first()?
        .as_str()
}

/// The MISP attribute UUIDs an alert carries itself: Suricata 8's datajson context
/// (`alert.context.suriguard`, and `suriguard_host`/`suriguard_path` for URLs), written
/// by rulesync beside each value. `None` without a context; with a context whose lists
/// were cut (`omitted`), the second value is false and the index should be asked too.
pub fn context_attributes(alert: &Value) -> Option<(BTreeSet<String>, bool)> {
    let ctx = alert["alert"]["context"].as_object()?;
    let mut attrs = BTreeSet::new();
    let mut complete = true;
    let mut any = false;
    for key in suriguard_eve::INTEL_CONTEXT_KEYS {
        let Some(c) = ctx.get(key) else {
            continue;
        };
        any = true;
        if c.get("omitted").is_some_and(|n| n.as_u64() != Some(0)) {
            complete = false;
        }
        for a in c["misp_attributes"].as_array().into_iter().flatten() {
            if let Some(a) = a.as_str() {
                attrs.insert(a.to_owned());
            }
        }
    }
    any.then_some((attrs, complete))
}

/// The values in `alert` that the rule of `set` may have matched, as (kind, value).
fn candidates(set: &str, alert: &Value) -> Vec<(Kind, String)> {
    let s = |v: &Value| v.as_str().map(str::to_string);
    let mut out = Vec::new();
    let mut push = |kind: Kind, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.push((kind, v));
        }
    };
    match set {
        "suriguard-ip-src-v4" | "suriguard-ip-src-v6" | "suriguard-net-src" => {
            push(Kind::Ip, s(&alert["src_ip"]))
        }
        "suriguard-ip-dst-v4" | "suriguard-ip-dst-v6" | "suriguard-net-dst" => {
            push(Kind::Ip, s(&alert["dest_ip"]))
        }
        "suriguard-domains" => {
            // EVE dns v2 (Suricata 7.0) lists an alert's questions in `dns.query[]`,
            // v3 (8.0) in `dns.queries[]`.
            for list in ["query", "queries"] {
                for q in alert["dns"][list].as_array().into_iter().flatten() {
                    push(Kind::Domain, s(&q["rrname"]));
                }
            }
            push(Kind::Domain, s(&alert["dns"]["rrname"]));
            push(Kind::Domain, s(&alert["tls"]["sni"]));
            push(Kind::Domain, s(&alert["http"]["hostname"]));
        }
        "suriguard-url-hosts" => {
            let http = &alert["http"];
            if let (Some(h), Some(u)) = (http["hostname"].as_str(), http["url"].as_str()) {
                push(Kind::Url, Some(format!("{h}{u}")));
            }
        }
        "suriguard-md5" | "suriguard-sha1" | "suriguard-sha256" => {
            let (kind, field) = match set {
                "suriguard-md5" => (Kind::Md5, "md5"),
                "suriguard-sha1" => (Kind::Sha1, "sha1"),
                _ => (Kind::Sha256, "sha256"),
            };
            for f in alert["files"].as_array().into_iter().flatten() {
                push(kind, s(&f[field]));
            }
            push(kind, s(&alert["fileinfo"][field]));
        }
        "suriguard-ja3" => push(Kind::Ja3, s(&alert["tls"]["ja3"]["hash"])),
        _ => {}
    }
    out
}

/// The indicators behind an alert from a rulesync rule; empty for other alerts, or
/// when the index no longer holds the value (it expired since).
pub fn trace<'a>(index: &'a Index, alert: &Value) -> Vec<Traced<'a>> {
    let Some(set) = alert_set(alert) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (kind, raw) in candidates(set, alert) {
        let value = match kind {
            Kind::Domain => raw.trim_end_matches('.').to_ascii_lowercase(),
            Kind::Md5 | Kind::Sha1 | Kind::Sha256 | Kind::Ja3 => raw.to_ascii_lowercase(),
            _ => raw.clone(),
        };
        if !seen.insert((kind, value.clone())) {
            continue;
        }
        if set.starts_with("suriguard-net-") {
            let Ok(ip) = value.parse::<IpAddr>() else {
                continue;
            };
            for (net, entry) in index.get(&Kind::Net).into_iter().flatten() {
                if net.parse::<Cidr>().is_ok_and(|c| c.contains(ip)) {
                    out.push(Traced {
                        set: set.to_string(),
                        kind: Kind::Net,
                        value: net.clone(),
                        observed: Some(value.clone()),
                        entry,
                    });
                }
            }
        } else if let Some(entry) = index.get(&kind).and_then(|m| m.get(&value)) {
            out.push(Traced {
                set: set.to_string(),
                kind,
                value,
                observed: None,
                entry,
            });
        }
    }
    out
}

/// The indicators naming one address (as itself, or inside a prefix): what MISP knows of
/// a source that was decided without any rule (a honeypot visitor).
pub fn trace_address(index: &Index, ip: IpAddr) -> Vec<Traced<'_>> {
    let mut out = Vec::new();
    let value = ip.to_string();
    if let Some(entry) = index.get(&Kind::Ip).and_then(|m| m.get(&value)) {
        out.push(Traced {
            set: "address".into(),
            kind: Kind::Ip,
            value: value.clone(),
            observed: None,
            entry,
        });
    }
    for (net, entry) in index.get(&Kind::Net).into_iter().flatten() {
        if net.parse::<Cidr>().is_ok_and(|c| c.contains(ip)) {
            out.push(Traced {
                set: "address".into(),
                kind: Kind::Net,
                value: net.clone(),
                observed: Some(value.clone()),
                entry,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Sides;
    use crate::store::Mention;
    use serde_json::json;

    fn entry(event: &str) -> Entry {
        let mut e = Entry {
            sides: Sides::BOTH,
            ..Entry::default()
        };
        e.sources.mention("misp", || Mention {
            events: [event.to_string()].into(),
            ..Mention::default()
        });
        e
    }

    fn index() -> Index {
        let mut i = Index::new();
        let mut put = |k: Kind, v: &str, e: &str| {
            i.entry(k).or_default().insert(v.to_string(), entry(e));
        };
        put(Kind::Domain, "evil.xyz", "ev-domain");
        put(Kind::Ip, "45.9.148.108", "ev-ip");
        put(Kind::Net, "45.10.0.0/16", "ev-net");
        put(Kind::Url, "evil.xyz/gate.php", "ev-url");
        put(Kind::Sha256, &"ab".repeat(32), "ev-hash");
        i
    }

    fn alert(set: &str, extra: Value) -> Value {
        let mut a = json!({
            "src_ip": "192.168.1.50", "dest_ip": "45.9.148.108",
            "alert": {"signature_id": 9700002, "metadata": {"suriguard_set": [set]}}
        });
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    }

    fn events(t: &[Traced]) -> Vec<String> {
        t.iter()
            .flat_map(|t| t.entry.sources["misp"].events.iter().cloned())
            .collect()
    }

    #[test]
    fn an_address_is_traced_as_itself_and_inside_prefixes() {
        let i = index();
        assert_eq!(
            events(&trace_address(&i, "45.9.148.108".parse().unwrap())),
            ["ev-ip"]
        );
        let inside = trace_address(&i, "45.10.3.4".parse().unwrap());
        assert_eq!(events(&inside), ["ev-net"]);
        assert_eq!(inside[0].observed.as_deref(), Some("45.10.3.4"));
        assert!(trace_address(&i, "198.51.100.1".parse().unwrap()).is_empty());
    }

    #[test]
    fn each_set_finds_its_value_in_the_alert() {
        let i = index();
        let cases = [
            (alert("suriguard-ip-dst-v4", json!({})), "ev-ip"),
            (
                alert(
                    "suriguard-domains",
                    json!({"dns": {"query": [{"rrname": "Evil.XYZ."}]}}),
                ),
                "ev-domain",
            ),
            // Suricata 8.0: EVE dns version 3.
            (
                alert(
                    "suriguard-domains",
                    json!({"dns": {"version": 3, "type": "request", "queries": [{"rrname": "evil.xyz", "rrtype": "A"}]}}),
                ),
                "ev-domain",
            ),
            (
                alert("suriguard-domains", json!({"tls": {"sni": "evil.xyz"}})),
                "ev-domain",
            ),
            (
                alert(
                    "suriguard-url-hosts",
                    json!({"http": {"hostname": "evil.xyz", "url": "/gate.php"}}),
                ),
                "ev-url",
            ),
            (
                alert("suriguard-net-dst", json!({"dest_ip": "45.10.3.4"})),
                "ev-net",
            ),
            (
                alert(
                    "suriguard-sha256",
                    json!({"files": [{"sha256": "AB".repeat(32)}]}),
                ),
                "ev-hash",
            ),
        ];
        for (a, want) in cases {
            assert_eq!(events(&trace(&i, &a)), [want], "{a}");
        }
        let net = trace(
            &i,
            &alert("suriguard-net-dst", json!({"dest_ip": "45.10.3.4"})),
        );
        assert_eq!(net[0].value, "45.10.0.0/16");
        assert_eq!(net[0].observed.as_deref(), Some("45.10.3.4"));
    }

    #[test]
    fn an_alerts_own_context_names_its_attributes() {
        let mut a = alert("suriguard-ip-dst-v4", json!({}));
        assert!(context_attributes(&a).is_none());
        a["alert"]["context"] =
            json!({"suriguard": {"value": "45.9.148.108", "misp_attributes": ["at-1", "at-2"]}});
        let (attrs, complete) = context_attributes(&a).unwrap();
        assert_eq!(attrs.into_iter().collect::<Vec<_>>(), ["at-1", "at-2"]);
        assert!(complete);
        a["alert"]["context"] = json!({"suriguard_host": {"misp_attributes": ["h"]}, "suriguard_path": {"misp_attributes": ["p"], "omitted": 3}});
        let (attrs, complete) = context_attributes(&a).unwrap();
        assert_eq!(attrs.len(), 2);
        assert!(!complete);
    }

    #[test]
    fn other_alerts_and_unknown_values_trace_to_nothing() {
        let i = index();
        let mut foreign = alert("suriguard-ip-dst-v4", json!({}));
        foreign["alert"]["metadata"] = json!({"former_category": ["MALWARE"]});
        assert!(trace(&i, &foreign).is_empty());
        // The source side was not an indicator.
        assert!(trace(&i, &alert("suriguard-ip-src-v4", json!({}))).is_empty());
        let other = alert(
            "suriguard-domains",
            json!({"dns": {"query": [{"rrname": "good.org"}]}}),
        );
        assert!(trace(&i, &other).is_empty());
    }
}
