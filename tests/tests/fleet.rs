//! The fleet loop through MISP, end to end: what one gateway sees protects the others.
//!
//! Gateway A (Suricata 7.0 with the plugin, offline on a capture) decides against a
//! telnet brute-forcer; `suriguardctl events push` puts the decision into MISP (the
//! stand-in on loopback keeps state and serves published events to restSearch, requests
//! checked against MISP's openapi.yaml). Gateway B's `rulesync run` pulls it (tag
//! filter, `to_ids`, its own events excluded), compiles it for its Suricata 8.0 (the
//! Debian 13 root; validated by `suricata -T`), and B's next capture, in which a home
//! device reaches the attacker, alerts on it with the MISP event in the alert's context,
//! and B's plugin blocks it with that event in the evidence. A, pulling with its own
//! events excluded, imports nothing.

use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::Value;
use suriguard_decision::{Action, Reason};
use suriguard_e2e::servers::{PyServer, MISP_KEY};
use suriguard_e2e::{ctl, json, rulesync, run_suricata, scenarios, RunOptions, Suricata};

/// Public, on no warninglist.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(185, 156, 73, 54);
const KEY_ENV: &str = "SG_FLEET_MISP_KEY";

fn rulesync_config(
    dir: &Path,
    gateway: &str,
    misp: &str,
    suricata: Suricata,
) -> std::path::PathBuf {
    let p = dir.join(format!("rulesync-{gateway}.toml"));
    std::fs::write(
        &p,
        format!(
            "output-dir = \"{d}/rules-{gateway}\"\nstate-dir = \"{d}/rulesync-state-{gateway}\"\n\
             extra-rule-options = \"priority:1;\"\n\
             [suricata]\nbinary = \"{bin}\"\n\
             [[source]]\nname = \"fleet\"\ntype = \"misp\"\nurl = \"{misp}\"\napi-key-env = \"{KEY_ENV}\"\n\
             tags = [\"suriguard:fleet\", \"!suriguard:gateway=\\\"{gateway}\\\"\"]\n",
            d = dir.display(),
            bin = suricata.program().display(),
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_decision_on_one_gateway_becomes_a_block_on_another_through_misp() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let misp = PyServer::misp(dir);
    let env = [(KEY_ENV, MISP_KEY)];

    // Gateway A decides against the brute-forcer.
    let pcap_a = dir.join("a.pcap");
    scenarios::telnet_brute_force_from(&pcap_a, ATTACKER).unwrap();
    let a = run_suricata(
        &pcap_a,
        &dir.join("a"),
        &RunOptions {
            suricata: Suricata::V7,
            ..Default::default()
        },
    );
    a.ran.assert_success();
    let decided = a.decisions();
    assert!(
        decided
            .iter()
            .any(|d| d.target == std::net::IpAddr::V4(ATTACKER)
                && d.action == Action::Block
                && d.reason == Reason::BruteForce),
        "A did not block the attacker: {decided:?}"
    );

    // A pushes it: one event, the attacker as an IDS attribute, the fleet's tags.
    let cfg_a = dir.join("suriguard-a.toml");
    std::fs::write(
        &cfg_a,
        format!(
            "state-dir = \"{d}\"\n[network]\nhome-networks = [\"192.168.1.0/24\"]\n[enforce]\nbackend = \"none\"\n\
             [alerts]\neve = \"{d}/eve.json\"\n\
             [misp]\nurl = \"{url}\"\nkey = {{ env = \"{KEY_ENV}\" }}\n\
             tags = [\"tlp:green\", \"suriguard:fleet\", \"suriguard:gateway=\\\"a\\\"\"]\n",
            d = dir.join("a").display(),
            url = misp.url()
        ),
    )
    .unwrap();
    // Why A decided, as an operator asks for it.
    let r = ctl(
        &cfg_a,
        &["decisions", "explain", &ATTACKER.to_string()],
        &[],
    );
    r.assert_success();
    for want in [
        format!("block {ATTACKER} (brute-force, inbound)"),
        "login sessions to one service: 6 observed, threshold 6 within 60 s".into(),
        "detail:     telnet on 192.168.1.20 port 23".into(),
        "(flow_id in eve.json)".into(),
    ] {
        assert!(r.stdout().contains(&want), "{want:?} missing: {r}");
    }
    let id = decided[0].id.clone();
    let r = ctl(
        &cfg_a,
        &["decisions", "explain", &id[..8], "-o", "json"],
        &[],
    );
    r.assert_success();
    assert_eq!(json(&r)[0]["id"], id.as_str(), "{r}");
    let r = ctl(&cfg_a, &["decisions", "explain", "198.51.100.250"], &[]);
    assert_eq!(r.output.status.code(), Some(1), "{r}");
    assert!(r.stderr().contains("no decision"), "{r}");

    let r = ctl(&cfg_a, &["events", "push", "--ingest", "-o", "json"], &env);
    r.assert_success();
    let reqs = misp.take_requests();
    assert!(
        reqs.iter().all(|q| q["errors"] == serde_json::json!([])),
        "requests MISP's schema refuses: {reqs:?}"
    );
    let state = misp.get_json("/__state");
    let events = state["events"].as_array().unwrap();
    let event = events
        .iter()
        .find(|e| {
            e["Attribute"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["value"] == ATTACKER.to_string() && a["type"] == "ip-src")
        })
        .unwrap_or_else(|| panic!("no event names the attacker: {events:#?}"));
    let event_uuid = event["uuid"].as_str().unwrap().to_owned();
    assert_eq!(event["published"], true, "{event}");
    let attr = event["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["value"] == ATTACKER.to_string())
        .unwrap();
    assert_eq!(attr["to_ids"], true, "{attr}");
    for t in ["suriguard:fleet", "suriguard:gateway=\"a\""] {
        assert!(
            event["Tag"].as_array().unwrap().iter().any(|x| x == t),
            "{t} missing: {event}"
        );
    }
    // No home address leaves the gateway.
    assert!(
        !events.iter().any(|e| e["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["value"].as_str().unwrap_or("").starts_with("192.168."))),
        "{events:#?}"
    );

    // A, pulling the fleet's events without its own, imports nothing.
    let rs_a = rulesync_config(dir, "a", &misp.url(), Suricata::V7);
    let r = rulesync(&rs_a, &["run", "--dry-run", "-o", "json"], &env);
    r.assert_success();
    let rep = json(&r);
    assert_eq!(
        rep["sources"][0]["accepted"], 0,
        "A re-imported its own event: {rep}"
    );

    // Gateway B pulls, compiles for Suricata 8 and validates with its suricata -T.
    let rs_b = rulesync_config(dir, "b", &misp.url(), Suricata::V8);
    let r = rulesync(&rs_b, &["run", "-o", "json"], &env);
    r.assert_success();
    let rep = json(&r);
    assert_eq!(rep["sources"][0]["accepted"], 1, "{rep}");
    let reqs = misp.take_requests();
    assert!(
        reqs.iter().all(|q| q["errors"] == serde_json::json!([])),
        "requests MISP's schema refuses: {reqs:?}"
    );
    let rules_b = dir.join("rules-b/suriguard.rules");
    assert!(
        std::fs::read_to_string(&rules_b)
            .unwrap()
            .contains("context_key suriguard"),
        "B's rules are not datajson"
    );
    let lookup = rulesync(
        &rs_b,
        &["lookup", &ATTACKER.to_string(), "-o", "json"],
        &env,
    );
    lookup.assert_success();
    let l = json(&lookup);
    assert_eq!(l[0]["sources"]["fleet"]["events"][0], event_uuid, "{l}");

    // B's next capture: a home device reaches the attacker. B's Suricata alerts with the
    // event in the alert's context; B's plugin blocks the attacker, saying why.
    let pcap_b = dir.join("b.pcap");
    scenarios::intel_contacts(&pcap_b, &[("update.fleet-test.top", ATTACKER)]).unwrap();
    let b = run_suricata(
        &pcap_b,
        &dir.join("b"),
        &RunOptions {
            suricata: Suricata::V8,
            rules: vec![rules_b],
            ..Default::default()
        },
    );
    b.ran.assert_success();
    let eve = std::fs::read_to_string(b.eve_json()).unwrap();
    let alerts: Vec<Value> = eve
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event_type"] == "alert")
        .collect();
    let alert = alerts
        .iter()
        .find(|a| a["src_ip"] == ATTACKER.to_string())
        .unwrap_or_else(|| panic!("B did not alert on the attacker: {alerts:#?}\n{}", b.ran));
    let ctx = &alert["alert"]["context"]["suriguard"];
    assert!(
        ctx["misp_events"]
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e == event_uuid.as_str())),
        "{alert}"
    );
    let blocked = b.decisions();
    let d = blocked
        .iter()
        .find(|d| d.target == std::net::IpAddr::V4(ATTACKER))
        .unwrap_or_else(|| panic!("B did not decide against the attacker: {blocked:?}"));
    assert_eq!(
        (d.action, d.reason),
        (Action::Block, Reason::SuricataAlert),
        "{d:?}"
    );
    let detail = d.evidence.detail.as_deref().unwrap_or_default();
    assert!(detail.contains(&event_uuid), "{detail}");
    // The home device that reached it is not touched.
    assert!(
        blocked
            .iter()
            .all(|d| !d.target.to_string().starts_with("192.168.")),
        "{blocked:?}"
    );
}
