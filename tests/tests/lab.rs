//! Detection quality on real traffic, end to end: the real-tool lab (nmap, masscan,
//! hping3, hydra, iodine, dns2tcp, curl beacons, mosquitto, chrony... between network
//! namespaces, captured by real Suricata with af-packet) and the real IoT devices of
//! `../shared/data/traffic/iot-sentinel/`, each through `suriguardctl evaluate`, that is
//! real Suricata with the plugin over the capture and the canonical replay of its
//! eve.json.
//!
//! The lab's capture is made by `scripts/lab/real-tools.sh` (about four minutes, cached
//! in `target/lab/real-tools` by the script's own hash; `make test` makes it before the
//! tests run). If it is missing this test makes it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use suriguard_e2e::{bin, workspace_root, Ran, Suricata};

fn lab_manifest() -> PathBuf {
    let out = workspace_root().join("target/lab/real-tools");
    let script = workspace_root().join("scripts/lab/real-tools.sh");
    let mut cmd = Command::new(&script);
    cmd.arg(&out);
    Ran::run(cmd, &workspace_root()).assert_success();
    out.join("manifest.json")
}

fn evaluate(manifest: &std::path::Path, suricata: Suricata) -> Value {
    let mut cmd = Command::new(bin("suriguardctl"));
    cmd.args(["-o", "json", "evaluate", "--manifest"])
        .arg(manifest)
        .arg("--suricata")
        .arg(suricata.program())
        .arg("--plugin")
        .arg(bin("libsuriguard.so"))
        .arg("--suricata-config")
        .arg(workspace_root().join("suricata-conf/suricata-minimal.yaml"));
    let ran = Ran::run(cmd, &workspace_root());
    ran.assert_success();
    serde_json::from_slice(&ran.output.stdout).expect("evaluate -o json prints JSON")
}

/// The end of what a lab scenario's tool printed (for failure messages: real tools vary).
fn tool_log(scenario: &str) -> String {
    let p = workspace_root()
        .join("target/lab/real-tools/logs")
        .join(format!("{scenario}.log"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| format!("{}: {e}", p.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn sources<'a>(e: &'a Value, label: &str) -> Vec<&'a Value> {
    e["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["label"] == label)
        .collect()
}

fn decisions(s: &Value) -> Vec<(String, String)> {
    s["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["action"].as_str().unwrap().to_owned(),
                d["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The lab's capture through Suricata 7.0 and through 8.0 (whose EVE differs: dns
/// version 3, flow timeouts): the same bar on both.
#[test]
fn every_real_tool_attack_is_decided_by_its_detector_and_no_benign_client_is_blocked() {
    let manifest = lab_manifest();
    for suricata in Suricata::ALL {
        real_tools_on(&manifest, suricata);
    }
}

fn real_tools_on(manifest: &std::path::Path, suricata: Suricata) {
    let e = evaluate(manifest, suricata);
    let attacks: Vec<&Value> = sources(&e, "attack")
        .into_iter()
        .chain(sources(&e, "attack-target"))
        .collect();
    assert!(
        attacks.len() >= 25,
        "{suricata}: the lab lists its attacks: {e:#}"
    );
    for a in &attacks {
        assert_eq!(
            a["ran"], true,
            "{suricata}: the lab could not run {}",
            a["scenario"]
        );
        assert_eq!(
            a["outcome"],
            "hit",
            "{suricata}: {} ({}) not decided by {}: {:?}\nthe tool's own output:\n{}",
            a["scenario"],
            a["ip"],
            a["expected"],
            decisions(a),
            tool_log(a["scenario"].as_str().unwrap_or_default())
        );
    }
    // Every detector is exercised by a real tool.
    let reasons: BTreeSet<String> = attacks
        .iter()
        .flat_map(|a| decisions(a).into_iter().map(|(_, r)| r))
        .collect();
    for r in [
        "brute-force",
        "horizontal-scan",
        "syn-flood",
        "slow-scan",
        "scan-probes",
        "beaconing",
        "dns-tunnel",
        "volume-anomaly",
        "flood-target",
    ] {
        assert!(
            reasons.contains(r),
            "{suricata}: no real tool decided by {r}: {reasons:?}"
        );
    }
    // The spoofed floods: each victim gets a rate limit on the flooded service (hping3
    // -S -p 80: tcp/80; --udp -p 5000: udp/5000), the thousands of spoofed sources
    // nothing at all.
    let targets = sources(&e, "attack-target");
    assert_eq!(targets.len(), 2, "{suricata}: {targets:#?}");
    for v in targets {
        assert_eq!(
            decisions(v),
            [("rate-limit".into(), "flood-target".into())],
            "{suricata}: {v:#}"
        );
        let limit = &v["decisions"][0]["limit"];
        let want = match v["scenario"].as_str() {
            Some("spoofed-syn-flood") => serde_json::json!({"proto": "tcp", "port": 80}),
            Some("spoofed-udp-flood") => serde_json::json!({"proto": "udp", "port": 5000}),
            other => panic!("unexpected attack target {other:?}"),
        };
        assert_eq!(*limit, want, "{suricata}: {v:#}");
    }
    // Benign clients (CDN browsing, MQTT keep-alives, a reconnect loop, NTP, DNS, a
    // firmware download, a cloud poll, an admin's ssh) and every spoofed address: never
    // an enforcing decision (blocked, quarantined or rate-limited).
    let t = &e["totals"];
    assert_eq!(t["benign_blocked"], 0, "{suricata}: {:#}", e["sources"]);
    for s in sources(&e, "benign") {
        assert_ne!(s["outcome"], "false-block", "{suricata}: {s:#}");
    }
    let named: BTreeSet<&str> = sources(&e, "benign")
        .iter()
        .filter_map(|s| s["scenario"].as_str())
        .collect();
    for n in [
        "cdn-browsing",
        "mqtt-sensors",
        "mqtt-reconnect-loop",
        "ntp",
        "home-resolver",
    ] {
        assert!(
            named.contains(n),
            "{suricata}: the lab has no {n} client: {named:?}"
        );
    }
    // Live in the plugin and replayed: the same addresses get the same actions.
    for c in e["captures"].as_array().unwrap() {
        assert_eq!(
            c["live_action_differs"],
            Value::Array(vec![]),
            "{suricata}: live and replay disagree on {}",
            c["capture"]
        );
    }
}

#[test]
fn real_iot_devices_are_never_blocked() {
    let manifest = workspace_root().join("tests/data/eval/iot-sentinel.json");
    let e = evaluate(&manifest, Suricata::V7);
    let t = &e["totals"];
    assert!(t["benign"].as_u64().unwrap() >= 150, "{t:#}");
    assert_eq!(t["benign_blocked"], 0, "{:#}", e["sources"]);
    assert_eq!(e["captures"].as_array().unwrap().len(), 31);
    for c in e["captures"].as_array().unwrap() {
        assert_eq!(c["live_action_differs"], Value::Array(vec![]), "{c:#}");
    }
}

/// The flows Suricata writes as it stops (`"reason":"shutdown"`: every flow still open
/// when a capture ends) come out in its flow table's hash order, seeded afresh each run.
/// On the lab's own eve.json, with those records shuffled among their places, the
/// plugin's code (`analyze --order file`, Suricata's order) decides exactly as on the
/// file as written: every decision, evidence included.
#[test]
fn the_order_of_flows_logged_at_shutdown_changes_no_decision() {
    let manifest = lab_manifest();
    let dir = manifest.parent().unwrap();
    let text = std::fs::read_to_string(dir.join("eve.json")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at_shutdown: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            lines[i].contains(r#""event_type":"flow""#)
                && lines[i].contains(r#""reason":"shutdown""#)
        })
        .collect();
    assert!(
        at_shutdown.len() >= 500,
        "the lab's capture ends with flows open: {}",
        at_shutdown.len()
    );
    let tmp = tempfile::tempdir().unwrap();
    let decide = |name: &str, lines: &[&str]| -> Vec<Value> {
        let eve = tmp.path().join(format!("{name}.json"));
        std::fs::write(&eve, lines.join("\n") + "\n").unwrap();
        let out = tmp.path().join(format!("{name}.out.json"));
        let mut cmd = Command::new(bin("suriguardctl"));
        cmd.args(["-o", "json", "analyze", "--order", "file", "--eve"])
            .arg(&eve)
            .args([
                "--home-net",
                "192.168.50.0/24",
                "--home-net",
                "fd00:50::/64",
            ])
            .arg("--out")
            .arg(&out);
        Ran::run(cmd, &workspace_root()).assert_success();
        let rep: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        let mut ds = rep["decisions"].as_array().unwrap().clone();
        for d in &mut ds {
            d.as_object_mut().unwrap().remove("id");
        }
        assert_eq!(
            rep["records"].as_u64(),
            Some(lines.len() as u64),
            "{name}: every record read"
        );
        ds
    };
    let written = decide("written", &lines);
    assert!(written.len() >= 25, "{written:#?}");
    let mut x: u64 = 0x5eed;
    for round in 0..3 {
        let mut shuffled = lines.clone();
        let mut places = at_shutdown.clone();
        for i in (1..places.len()).rev() {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            places.swap(i, ((x >> 33) % (i as u64 + 1)) as usize);
        }
        for (&to, &from) in at_shutdown.iter().zip(&places) {
            shuffled[to] = lines[from];
        }
        assert_ne!(shuffled, lines);
        let ds = decide(&format!("shuffled-{round}"), &shuffled);
        assert_eq!(
            ds, written,
            "round {round}: shutdown flows in another order"
        );
    }
}
