//! suriguardctl's incident loop against real peers: the MISP stand-in validating every
//! request against MISP's openapi.yaml, a real SMTP server (aiosmtpd, plain, STARTTLS +
//! AUTH, implicit TLS), Telegram / webhook / LLM stubs speaking their documented
//! formats, and alerts from real Suricata on real captures.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use suriguard_e2e::servers::{PyServer, MISP_KEY};
use suriguard_e2e::{infoblox_origin, shared_data, workspace_root, Ran};

fn ctl() -> PathBuf {
    workspace_root().join("target/release/suriguardctl")
}

fn ctl_run(cfg: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut c = Command::new(ctl());
    c.args(args).arg("--config").arg(cfg);
    for (k, v) in env {
        c.env(k, v);
    }
    Ran::run(c, cfg.parent().unwrap())
}

fn json(r: &Ran) -> Value {
    serde_json::from_str(&r.stdout()).unwrap_or_else(|e| panic!("{e}: not JSON\n{r}"))
}

const HOME_DEVICE: &str = "192.168.1.20";
const ATTACKER: &str = "203.0.113.50";

/// An alert record in the shape Suricata 7 writes.
fn alert(
    ts: &str,
    flow: u64,
    src: &str,
    dst: &str,
    dport: u16,
    sid: u64,
    sig: &str,
    sev: u8,
    extra: &str,
) -> String {
    format!(
        r#"{{"timestamp":"{ts}","flow_id":{flow},"in_iface":"eth0","event_type":"alert","src_ip":"{src}","src_port":40000,"dest_ip":"{dst}","dest_port":{dport},"proto":"TCP","pkt_src":"wire/pcap","alert":{{"action":"allowed","gid":1,"signature_id":{sid},"rev":1,"signature":"{sig}","category":"","severity":{sev}}}{extra}}}"#
    ) + "\n"
}

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn base_config(dir: &Path, extra: &str) -> PathBuf {
    let cfg = dir.join("suriguard.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = \"{d}\"\n[network]\nhome-networks = [\"192.168.1.0/24\"]\n[enforce]\nbackend = \"none\"\n[alerts]\neve = \"{d}/eve.json\"\n{extra}",
            d = dir.display()
        ),
    )
    .unwrap();
    cfg
}

fn incidents(cfg: &Path) -> Vec<Value> {
    let r = ctl_run(cfg, &["alerts", "list", "-o", "json"], &[]);
    r.assert_success();
    json(&r).as_array().unwrap().clone()
}

/// Severity mapping, dedupe into an existing event, sightings on the attribute behind a
/// rulesync alert, and MISP failing (500, timeout, 403) without losing an incident.
#[test]
fn misp_events_severity_dedupe_sightings_and_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let misp = PyServer::misp(dir);
    // rulesync's index for the Infoblox feed: the sightings' source of attribute UUIDs.
    let index = rulesync_index(dir);
    let (_, c2_attr) = infoblox_origin("45.63.119.177");
    let cfg = base_config(
        dir,
        &format!(
            "[misp]\nurl = \"{}\"\nkey = {{ env = \"SG_TEST_MISP_KEY\" }}\ntimeout = 1.5\nintel-index = \"{}\"\ntags = [\"tlp:amber\"]\n",
            misp.url(),
            index.display()
        ),
    );
    let env = [("SG_TEST_MISP_KEY", MISP_KEY)];
    let eve = dir.join("eve.json");
    let mut text = String::new();
    text += &alert(
        "2024-03-01T10:00:00.000000+0000",
        1,
        ATTACKER,
        HOME_DEVICE,
        23,
        9100001,
        "SG TEST telnet login attempt",
        1,
        "",
    );
    text += &alert(
        "2024-03-01T10:10:00.000000+0000",
        2,
        ATTACKER,
        HOME_DEVICE,
        2323,
        9100001,
        "SG TEST telnet login attempt",
        1,
        "",
    );
    text += &alert(
        "2024-03-01T10:20:00.000000+0000",
        3,
        "198.51.100.9",
        HOME_DEVICE,
        80,
        9100002,
        "SG TEST web exploit",
        2,
        r#","app_proto":"http","http":{"hostname":"bad.example","url":"/cgi-bin/x?token=SECRET","http_user_agent":"Mozi/1.0"}"#,
    );
    text += &alert(
        "2024-03-01T10:30:00.000000+0000",
        4,
        "198.51.100.10",
        HOME_DEVICE,
        80,
        9100003,
        "SG TEST informational",
        3,
        "",
    );
    text += &alert(
        "2024-03-01T10:40:00.000000+0000", 5, HOME_DEVICE, "45.63.119.177", 443, 9700002, "suriguard intel: ip.dst", 2,
        "",
    )
    .replace(
        r#""severity":2}"#,
        r#""severity":2,"metadata":{"suriguard_set":["suriguard-ip-dst-v4"],"suriguard_source":["infoblox"]}}"#,
    );
    text += "{\"event_type\":\"alert\", broken\n";
    std::fs::write(&eve, &text).unwrap();
    // An enforced block decision from the plugin's journal.
    std::fs::write(
        dir.join("decisions.jsonl"),
        r#"{"id":"d0c1510n00000001","time":"2024-03-01T10:50:00.000000Z","time_us":1709290200000000,"target":"203.0.113.77","action":"block","reason":"syn-flood","direction":"inbound","summary":"203.0.113.77 sent 900 SYNs in 3 s","evidence":{"counter":"syn","observed":900,"threshold":200,"window_secs":3.0,"example_flow_ids":[9],"detail":"port 80"},"ttl":3600,"confidence":0.97,"dry_run":false}"#.to_string() + "\n",
    )
    .unwrap();

    // MISP down in three ways: every incident stays queued, none is lost.
    for (mode, needle) in [
        ("500", "HTTP 500"),
        ("slow", "timed out"),
        ("403", "HTTP 403"),
    ] {
        misp.set_mode(mode);
        let r = ctl_run(&cfg, &["events", "push", "--ingest"], &env);
        assert!(!r.success(), "{mode}: {r}");
        assert!(
            r.stderr().contains(needle) && r.stderr().contains("stay queued"),
            "{mode}: {r}"
        );
        assert!(!r.stderr().contains(MISP_KEY), "the key leaked: {r}");
        let inc = incidents(&cfg);
        assert_eq!(inc.len(), 6, "5 alerts and 1 decision: {inc:?}");
        let queued = inc
            .iter()
            .filter(|i| i["misp_state"] == "retry" || i["misp_state"] == "pending")
            .count();
        assert_eq!(queued, 5, "{mode}: {inc:?}");
        let local: Vec<_> = inc.iter().filter(|i| i["misp_state"] == "local").collect();
        assert_eq!(local.len(), 1, "severity 3 is not pushed");
        assert_eq!(local[0]["severity"], 3);
        // The run stopped at the first failure.
        let reqs = misp.take_requests();
        assert_eq!(reqs.len(), 1, "{mode}: {reqs:?}");
    }
    assert!(misp.get_json("/__state")["events"]
        .as_array()
        .unwrap()
        .is_empty());

    misp.set_mode("ok");
    let r = ctl_run(&cfg, &["events", "push", "-o", "json"], &env);
    r.assert_success();
    let rep = json(&r);
    assert_eq!(rep["pushed"], 5, "{rep}");
    assert_eq!(
        rep["events_created"], 4,
        "two telnet alerts share one event: {rep}"
    );
    assert_eq!(rep["sightings"], 1, "{rep}");
    let reqs = misp.take_requests();
    for q in &reqs {
        assert_eq!(
            q["errors"],
            serde_json::json!([]),
            "invalid against openapi.yaml: {q}"
        );
        assert_eq!(q["auth_ok"], true);
    }
    let adds = reqs.iter().filter(|q| q["path"] == "/events/add").count();
    assert_eq!(adds, 4);

    let state = misp.get_json("/__state");
    let events = state["events"].as_array().unwrap();
    let by_info = |needle: &str| -> &Value {
        events
            .iter()
            .find(|e| e["info"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no event with {needle}: {events:?}"))
    };
    let telnet = by_info("SG TEST telnet");
    assert_eq!(
        telnet["threat_level_id"], "1",
        "Suricata severity 1 is MISP High"
    );
    assert_eq!(telnet["distribution"], "0");
    assert_eq!(telnet["published"], true);
    let values = |e: &Value| -> Vec<(String, String)> {
        e["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["type"].as_str().unwrap().to_string(),
                    a["value"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let tv = values(telnet);
    for want in [
        ("ip-src", ATTACKER),
        ("port", "23"),
        ("port", "2323"),
        ("text", "TCP"),
    ] {
        assert!(
            tv.contains(&(want.0.into(), want.1.into())),
            "{want:?} missing: {tv:?}"
        );
    }
    assert!(
        tv.iter().any(|(t, v)| t == "text" && v.contains("9100001")),
        "{tv:?}"
    );
    assert!(
        !tv.iter().any(|(_, v)| v == HOME_DEVICE),
        "home address shared: {tv:?}"
    );
    let tags: Vec<&str> = telnet["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"tlp:amber") && tags.contains(&"suriguard:signature-id=\"9100001\""),
        "{tags:?}"
    );

    let web = by_info("SG TEST web exploit");
    assert_eq!(web["threat_level_id"], "2");
    let wv = values(web);
    for want in [
        ("hostname", "bad.example"),
        ("url", "http://bad.example/cgi-bin/x?token=SECRET"),
        ("user-agent", "Mozi/1.0"),
        ("ip-src", "198.51.100.9"),
    ] {
        assert!(
            wv.contains(&(want.0.into(), want.1.into())),
            "{want:?} missing: {wv:?}"
        );
    }
    let block = by_info("syn-flood");
    assert_eq!(
        block["threat_level_id"], "1",
        "an enforced block counts as severity 1"
    );
    assert!(values(block).contains(&("ip-src".into(), "203.0.113.77".into())));
    assert!(!events
        .iter()
        .any(|e| e["info"].as_str().unwrap().contains("informational")));
    // The sighting went to the Infoblox attribute the alert's indicator came from.
    let sightings: Vec<&str> = state["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["attribute_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(sightings, [c2_attr.as_str()]);
    let intel = by_info("suriguard intel");
    assert!(values(intel).contains(&("ip-dst".into(), "45.63.119.177".into())));

    // The same source and signature 20 minutes later: the existing event is updated.
    append(
        &eve,
        &alert(
            "2024-03-01T10:20:00.000000+0000",
            7,
            ATTACKER,
            HOME_DEVICE,
            8023,
            9100001,
            "SG TEST telnet login attempt",
            1,
            "",
        ),
    );
    let r = ctl_run(&cfg, &["events", "push", "--ingest", "-o", "json"], &env);
    r.assert_success();
    let rep = json(&r);
    assert_eq!(
        (
            rep["pushed"].as_u64(),
            rep["events_created"].as_u64(),
            rep["events_updated"].as_u64()
        ),
        (Some(1), Some(0), Some(1)),
        "{rep}"
    );
    let reqs = misp.take_requests();
    assert!(!reqs.iter().any(|q| q["path"] == "/events/add"), "{reqs:?}");
    let id = telnet["id"].as_str().unwrap();
    assert!(
        reqs.iter()
            .any(|q| q["path"] == format!("/attributes/add/{id}") && q["body"]["value"] == "8023"),
        "{reqs:?}"
    );
    let state = misp.get_json("/__state");
    assert_eq!(state["events"].as_array().unwrap().len(), 4);

    // Nothing left queued; events list knows every event and how many incidents each holds.
    let r = ctl_run(&cfg, &["events", "list", "-o", "json"], &[]);
    r.assert_success();
    let listed = json(&r);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4);
    let t = listed.iter().find(|e| e["misp_id"] == id).unwrap();
    assert_eq!(t["incidents"], 3);
    assert!(incidents(&cfg)
        .iter()
        .all(|i| i["misp_state"] == "pushed" || i["misp_state"] == "local"));
    // The table form too.
    let r = ctl_run(&cfg, &["alerts", "list", "--severity", "1"], &[]);
    r.assert_success();
    assert!(
        r.stdout().contains("SG TEST telnet") && !r.stdout().contains("web exploit"),
        "{r}"
    );
}

/// rulesync's index.json for the Infoblox feed (load mode, no Suricata needed).
fn rulesync_index(dir: &Path) -> PathBuf {
    let out = dir.join("intel");
    let cfg = dir.join("rulesync.toml");
    std::fs::write(
        &cfg,
        format!(
            "output-dir = \"{out}\"\nstate-dir = \"{state}\"\ndataset-mode = \"load\"\n[suricata]\nvalidate = false\n\
             [[source]]\nname = \"infoblox\"\ntype = \"misp-feed\"\npath = \"{feed}\"\n",
            out = out.display(),
            state = dir.join("rulesync-state").display(),
            feed = shared_data().join("misp/feeds/infoblox").display()
        ),
    )
    .unwrap();
    let mut c = Command::new(workspace_root().join("target/release/rulesync"));
    c.arg("-c").arg(&cfg).arg("run");
    Ran::run(c, dir).assert_success();
    let index = out.join("index.json");
    assert!(index.exists());
    index
}
