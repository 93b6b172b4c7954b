//! rulesync with a running Suricata: the Infoblox MISP feed compiled into datasets, the
//! real Suricata in unix-socket mode replaying a capture that resolves and connects to
//! indicators, then later rulesync runs changing what is in force while the same
//! Suricata process keeps running: pushed live with `dataset-add`/`dataset-remove`
//! (`state` datasets), by rule reload (`load` datasets, a new rule), and a run whose
//! rules `suricata -T` refuses changing nothing at all.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::Value;
use suriguard_e2e::daemon::{socket_mode_yaml, Daemon};
use suriguard_e2e::{infoblox_origin, json, rulesync, scenarios, shared_data, Ran, Suricata};

fn run_json(cfg: &Path) -> (Ran, Value) {
    let r = rulesync(cfg, &["run", "-o", "json"], &[]);
    let v = json(&r);
    (r, v)
}

/// The name a DNS alert is about: `dns.query[0].rrname` in 7.0's EVE, `dns.queries[0].rrname`
/// in 8.0's (DNS records version 3).
fn dns_query(a: &Value) -> &Value {
    match &a["dns"]["queries"][0]["rrname"] {
        Value::Null => &a["dns"]["query"][0]["rrname"],
        v => v,
    }
}

/// What fired: (sid, the value the rule looks at).
fn hits(alerts: &[Value], base: u64) -> BTreeSet<(u64, String)> {
    alerts
        .iter()
        .map(|a| {
            let sid = a["alert"]["signature_id"].as_u64().unwrap() - base;
            let v = match sid {
                1 | 3 | 5 => &a["src_ip"],
                10 => dns_query(a),
                12 => &a["http"]["hostname"],
                _ => &a["dest_ip"],
            };
            (sid, v.as_str().unwrap_or("?").to_string())
        })
        .collect()
}

fn hit(sid: u64, v: &str) -> (u64, String) {
    (sid, v.to_string())
}

const BASE: u64 = 9_700_000;
const C2_DOMAIN: &str = "0u9rg3v.top";
const C2_ADDR: &str = "45.63.119.177";

struct Lab {
    suricata: Suricata,
    _tmp: tempfile::TempDir,
    root: PathBuf,
    out: PathBuf,
    extra: PathBuf,
    pcap: PathBuf,
    yaml: PathBuf,
    socket: PathBuf,
}

/// A home device resolving and reaching the Infoblox C2 domain and address, and two
/// addresses and names a local list will name and drop; rulesync validates with the
/// same Suricata the daemon runs.
fn lab(suricata: Suricata) -> Lab {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let out = data.join("suriguard");
    let pcap = root.join("contacts.pcap");
    scenarios::intel_contacts(
        &pcap,
        &[
            (C2_DOMAIN, C2_ADDR.parse().unwrap()),
            ("later-bad.xyz", Ipv4Addr::new(5, 6, 7, 8)),
            ("gone-soon.xyz", Ipv4Addr::new(5, 6, 7, 9)),
        ],
    )
    .unwrap();
    let socket = root.join("suricata.sock");
    let yaml = root.join("suricata.yaml");
    std::fs::write(
        &yaml,
        socket_mode_yaml(
            &out.join("suriguard.rules"),
            &socket,
            &root.join("log"),
            &data,
        ),
    )
    .unwrap();
    Lab {
        suricata,
        extra: root.join("extra.txt"),
        _tmp: tmp,
        root,
        out,
        pcap,
        yaml,
        socket,
    }
}

impl Lab {
    fn config(&self, mode: &str, infoblox: bool, extra_options: &str) -> PathBuf {
        let mut body = format!(
            "output-dir = \"{out}\"\nstate-dir = \"{root}/state\"\ndataset-mode = \"{mode}\"\nextra-rule-options = \"{extra_options}\"\n\
             [suricata]\nbinary = \"{binary}\"\nconfig = \"{yaml}\"\ndata-dir = \"{root}/data\"\nsocket = \"{sock}\"\nreload-timeout-secs = 60\n\
             [[source]]\nname = \"extra\"\ntype = \"text\"\npath = \"{extra}\"\nexpire-after-days = 0\n",
            out = self.out.display(),
            binary = self.suricata.program().display(),
            root = self.root.display(),
            yaml = self.yaml.display(),
            sock = self.socket.display(),
            extra = self.extra.display(),
        );
        if infoblox {
            body += &format!(
                "[[source]]\nname = \"infoblox\"\ntype = \"misp-feed\"\npath = \"{}\"\n",
                shared_data().join("misp/feeds/infoblox").display()
            );
        }
        let tag = if extra_options.is_empty() {
            ""
        } else {
            "-extra"
        };
        let p = self.root.join(format!("rulesync-{mode}{tag}.toml"));
        std::fs::write(&p, body).unwrap();
        p
    }

    fn start(&self) -> Daemon {
        Daemon::start_on(
            self.suricata,
            &self.yaml,
            &self.socket,
            &self.root.join("log"),
        )
    }

    /// Replay number `n` of the capture, its packets `n` hours later than in the file.
    /// Time goes on between replays as on a real network: Suricata 8.0 keeps threshold
    /// state in a table of its own that a `pcap-file` run does not reset (7.0 kept it
    /// with the hosts, which it does reset), so the network rules (`threshold: type
    /// limit, ..., seconds 60`) would stay silent on the same packets at the same times.
    fn replay(&self, d: &Daemon, n: u32) -> Vec<Value> {
        let dir = self.root.join("log").join(n.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let pcap = dir.join("contacts.pcap");
        std::fs::write(&pcap, later(&std::fs::read(&self.pcap).unwrap(), n * 3600)).unwrap();
        d.replay(&pcap, &dir)
    }
}

/// A classic pcap with every packet `secs` later.
fn later(pcap: &[u8], secs: u32) -> Vec<u8> {
    let mut out = pcap.to_vec();
    let mut at = 24;
    while at + 16 <= out.len() {
        let field = |i: usize| u32::from_le_bytes(out[at + i..at + i + 4].try_into().unwrap());
        let (ts, caplen) = (field(0), field(8) as usize);
        out[at..at + 4].copy_from_slice(&(ts + secs).to_le_bytes());
        at += 16 + caplen;
    }
    assert_eq!(at, out.len(), "not a classic pcap");
    out
}

/// Every file of the generation in force, by name.
fn snapshot(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn infoblox_alerts_trace_to_misp_events_and_state_datasets_change_live_on_suricata_7() {
    infoblox_alerts_trace_to_misp_events_and_state_datasets_change_live(Suricata::V7);
}

#[test]
fn infoblox_alerts_trace_to_misp_events_and_state_datasets_change_live_on_suricata_8() {
    infoblox_alerts_trace_to_misp_events_and_state_datasets_change_live(Suricata::V8);
}

fn infoblox_alerts_trace_to_misp_events_and_state_datasets_change_live(suricata: Suricata) {
    let lab = lab(suricata);
    let cfg = lab.config("state", true, "");
    std::fs::write(&lab.extra, "gone-soon.xyz\n5.6.7.9\n").unwrap();

    // Before Suricata runs: the files are made for it to load when it starts.
    let (r, rep) = run_json(&cfg);
    r.assert_success();
    assert_eq!(rep["applied"], "swapped-not-running", "{r}");
    let rules = std::fs::read_to_string(lab.out.join("suriguard.rules")).unwrap();
    match suricata {
        // Suricata 8 refuses `state` for datajson sets: loaded from rulesync's file,
        // changes pushed with dataset-add-json.
        Suricata::V8 => assert!(
            rules.contains(&format!(
                "load {}/domains.lst,format ndjson,context_key suriguard,value_key value",
                lab.out.display()
            )),
            "{rules}"
        ),
        Suricata::V7 => assert!(rules.contains("state suriguard/domains.lst"), "{rules}"),
    }

    let mut d = lab.start();
    let a1 = lab.replay(&d, 1);
    let h1 = hits(&a1, BASE);
    for want in [
        hit(10, C2_DOMAIN),
        hit(12, C2_DOMAIN),
        hit(2, C2_ADDR),
        hit(10, "gone-soon.xyz"),
        hit(2, "5.6.7.9"),
    ] {
        assert!(
            h1.contains(&want),
            "{want:?} did not fire: {h1:?}\n{}",
            d.console()
        );
    }
    assert!(
        !h1.iter()
            .any(|(_, v)| v == "later-bad.xyz" || v == "5.6.7.8"),
        "{h1:?}"
    );

    // The rule metadata names the set and the sources; the index names the MISP event
    // and attribute of the value that matched.
    let dns = a1.iter().find(|a| dns_query(a) == C2_DOMAIN).unwrap();
    let meta = &dns["alert"]["metadata"];
    assert_eq!(meta["suriguard_set"][0], "suriguard-domains", "{dns}");
    let srcs: Vec<&str> = meta["suriguard_source"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        srcs.contains(&"infoblox") && srcs.contains(&"extra"),
        "{meta}"
    );
    let traced = rulesync(
        &cfg,
        &[
            "lookup",
            "--eve",
            lab.root.join("log/1/eve.json").to_str().unwrap(),
            "-o",
            "json",
        ],
        &[],
    );
    traced.assert_success();
    let t = json(&traced);
    for value in [C2_DOMAIN, C2_ADDR] {
        let (event, attr) = infoblox_origin(value);
        let found = t["alerts"].as_array().unwrap().iter().any(|a| {
            a["indicators"].as_array().unwrap().iter().any(|i| {
                let m = &i["entry"]["sources"]["infoblox"];
                i["value"] == value
                    && m["events"].as_array().unwrap().iter().any(|e| e == &event)
                    && m["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x == &attr)
            })
        });
        assert!(
            found,
            "{value}: event {event} attribute {attr} not traced\n{t:#}"
        );
    }
    assert_eq!(t["untraced"], 0, "{t:#}");
    // Suricata 8: the alert itself names the value's MISP event and attribute
    // (datajson context); Suricata 7 has no per-value context.
    for value in [C2_DOMAIN, C2_ADDR] {
        let (event, attr) = infoblox_origin(value);
        let a = a1
            .iter()
            .find(|a| {
                a["alert"]["context"]["suriguard"]["value"] == value
                    || dns_query(a) == value
                    || a["dest_ip"] == value
            })
            .unwrap_or_else(|| panic!("no alert for {value}"));
        let ctx = &a["alert"]["context"]["suriguard"];
        match suricata {
            Suricata::V8 => {
                assert_eq!(ctx["value"], value, "{a}");
                let has = |k: &str, want: &str| {
                    ctx[k]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|x| x == want))
                };
                assert!(has("misp_events", &event), "{value}: {a}");
                assert!(has("misp_attributes", &attr), "{value}: {a}");
                assert!(has("sources", "infoblox"), "{value}: {a}");
            }
            Suricata::V7 => assert!(ctx.is_null(), "{a}"),
        }
    }

    // Live: one name and one address in, one of each out, pushed over the socket. No
    // reload, no restart.
    let loaded = d.reload_time();
    std::fs::write(&lab.extra, "later-bad.xyz\n5.6.7.8\n").unwrap();
    let (r, rep) = run_json(&cfg);
    r.assert_success();
    assert_eq!(rep["applied"], "live", "{r}");
    assert_eq!(d.reload_time(), loaded, "a reload happened");
    let h2 = hits(&lab.replay(&d, 2), BASE);
    for want in [
        hit(10, "later-bad.xyz"),
        hit(2, "5.6.7.8"),
        hit(1, "5.6.7.8"),
        hit(10, C2_DOMAIN),
    ] {
        assert!(
            h2.contains(&want),
            "{want:?} did not fire after the live change: {h2:?}"
        );
    }
    assert!(
        !h2.iter()
            .any(|(_, v)| v == "gone-soon.xyz" || v == "5.6.7.9"),
        "{h2:?}"
    );
    if suricata == Suricata::V8 {
        // The value pushed live came with its context.
        let a2 = std::fs::read_to_string(lab.root.join("log/2/eve.json")).unwrap();
        let ctx = a2
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|a| a["alert"]["context"]["suriguard"]["value"] == "later-bad.xyz")
            .map(|a| a["alert"]["context"]["suriguard"].clone())
            .expect("an alert for the live value carries its context");
        assert_eq!(ctx["sources"], serde_json::json!(["extra"]), "{ctx}");
    }

    // Reload: a network indicator is a new rule (addresses in the rule itself).
    std::fs::write(&lab.extra, "later-bad.xyz\n5.6.7.8\n5.6.7.0/24\n").unwrap();
    let (r, rep) = run_json(&cfg);
    r.assert_success();
    assert_eq!(rep["applied"], "reloaded", "{r}");
    assert_ne!(d.reload_time(), loaded, "no reload happened");
    let h3 = hits(&lab.replay(&d, 3), BASE);
    assert!(
        h3.contains(&hit(6, "5.6.7.9")),
        "the new network rule did not fire: {h3:?}"
    );
    assert!(
        h3.contains(&hit(10, "later-bad.xyz")),
        "live changes lost over the reload: {h3:?}"
    );

    // A generation suricata -T refuses: nothing changes, neither on disk nor in Suricata.
    let bad = lab.config("state", true, "nosuchkeyword;");
    std::fs::write(
        &lab.extra,
        "later-bad.xyz\n5.6.7.8\n5.6.7.0/24\nnever-applied.xyz\n",
    )
    .unwrap();
    let link = std::fs::read_link(&lab.out).unwrap();
    let files = snapshot(&lab.out);
    let state = std::fs::read(lab.root.join("state/rulesync-state.json")).unwrap();
    let reloaded = d.reload_time();
    let r = rulesync(&bad, &["run"], &[]);
    assert_eq!(r.output.status.code(), Some(1), "{r}");
    assert!(r.stderr().contains("nosuchkeyword"), "{r}");
    assert_eq!(std::fs::read_link(&lab.out).unwrap(), link);
    assert!(
        snapshot(&lab.out) == files,
        "files of the generation in force changed"
    );
    assert_eq!(
        std::fs::read(lab.root.join("state/rulesync-state.json")).unwrap(),
        state
    );
    assert_eq!(d.reload_time(), reloaded);
    let h4 = hits(&lab.replay(&d, 4), BASE);
    assert_eq!(h4, h3, "what fires changed after a refused run");
    let lookup = |b64: &str| {
        d.client()
            .answer(
                "dataset-lookup",
                Some(serde_json::json!({"setname": "suriguard-domains", "settype": "string", "datavalue": b64})),
            )
            .unwrap()
    };
    // later-bad.xyz is in the set, never-applied.xyz is not.
    assert!(lookup("bGF0ZXItYmFkLnh5eg==").is_ok());
    assert!(
        lookup("bmV2ZXItYXBwbGllZC54eXo=").is_err(),
        "never-applied.xyz reached Suricata"
    );

    assert!(d.running(), "Suricata died");
}

/// `load` datasets (the default): every change goes through a rule reload, which reads
/// the new files; the process keeps running.
#[test]
fn load_datasets_change_by_reload_without_restart_on_suricata_7() {
    load_datasets_change_by_reload_without_restart(Suricata::V7);
}

#[test]
fn load_datasets_change_by_reload_without_restart_on_suricata_8() {
    load_datasets_change_by_reload_without_restart(Suricata::V8);
}

fn load_datasets_change_by_reload_without_restart(suricata: Suricata) {
    let lab = lab(suricata);
    let cfg = lab.config("load", false, "");
    std::fs::write(&lab.extra, "gone-soon.xyz\n").unwrap();
    rulesync(&cfg, &["run"], &[]).assert_success();
    let rules = std::fs::read_to_string(lab.out.join("suriguard.rules")).unwrap();
    assert!(
        rules.contains(&format!("load {}/domains.lst", lab.out.display())),
        "{rules}"
    );

    let mut d = lab.start();
    let h1 = hits(&lab.replay(&d, 1), BASE);
    assert!(
        h1.contains(&hit(10, "gone-soon.xyz")),
        "{h1:?}\n{}",
        d.console()
    );
    assert!(
        !h1.iter()
            .any(|(_, v)| v == "later-bad.xyz" || v == C2_DOMAIN),
        "{h1:?}"
    );

    let loaded = d.reload_time();
    std::fs::write(&lab.extra, "later-bad.xyz\n").unwrap();
    let (r, rep) = run_json(&cfg);
    r.assert_success();
    assert_eq!(rep["applied"], "reloaded", "{r}");
    assert_ne!(d.reload_time(), loaded);
    let h2 = hits(&lab.replay(&d, 2), BASE);
    assert!(h2.contains(&hit(10, "later-bad.xyz")), "{h2:?}");
    assert!(h2.contains(&hit(12, "later-bad.xyz")), "{h2:?}");
    assert!(!h2.iter().any(|(_, v)| v == "gone-soon.xyz"), "{h2:?}");
    assert!(d.running(), "Suricata died");
}
