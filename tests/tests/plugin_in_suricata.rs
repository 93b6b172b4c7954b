//! The real libsuriguard.so inside real Suricata 7.0 and 8.0, fed real captures from
//! suricata-verify. The plugin writes eve.json (`eve-file`): its per-type counts must
//! equal the lines of that file, and the file must hold, per type and after sorting,
//! what a regular eve-log output writes in another run of the same capture; in threaded
//! and non-threaded eve modes alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use suriguard_e2e::{
    eve_counts, run_suricata, sv_pcap, RunOptions, Suricata, PLUGIN_OUTPUT, REGULAR_OUTPUT,
};

struct Case {
    pcap: &'static str,
    rules: Option<&'static str>,
}

/// The records of an eve.json by type, each without what differs between two runs of
/// one capture (`flow_id` and its kin hash with a per-run random seed), sorted.
pub fn comparable(path: &Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let o = v.as_object_mut().unwrap();
        for k in ["flow_id", "parent_id"] {
            o.remove(k);
        }
        // Whether a flow ended by "timeout" or at "shutdown" depends on when Suricata's
        // flow manager thread last ran before the capture ended: 8.0 differs between two
        // runs of the same capture with the same output.
        if let Some(f) = o.get_mut("flow").and_then(|f| f.as_object_mut()) {
            f.remove("reason");
        }
        let t = o["event_type"].as_str().unwrap().to_owned();
        by_type.entry(t).or_default().push(v.to_string());
    }
    for v in by_type.values_mut() {
        v.sort();
    }
    by_type
}

/// The same capture through a regular eve-log output, without suriguard.
fn regular_run(pcap: &Path, dir: &Path, rules: Vec<PathBuf>, suricata: Suricata) -> PathBuf {
    let run = run_suricata(
        pcap,
        dir,
        &RunOptions {
            rules,
            suricata,
            set: vec![
                format!("outputs.{REGULAR_OUTPUT}.eve-log.enabled=yes"),
                format!("outputs.{PLUGIN_OUTPUT}.eve-log.enabled=no"),
            ],
            ..Default::default()
        },
    );
    run.ran.assert_success();
    assert!(!run.stats_file().exists(), "the plugin output ran");
    run.eve_json()
}

fn check(name: &str, case: Case, threaded: bool) {
    for suricata in Suricata::ALL {
        check_on(name, &case, threaded, suricata);
    }
}

fn check_on(name: &str, case: &Case, threaded: bool, suricata: Suricata) {
    let tmp = tempfile::tempdir().unwrap();
    let rules: Vec<PathBuf> = case.rules.into_iter().map(sv_pcap).collect();
    let run = run_suricata(
        &sv_pcap(case.pcap),
        &tmp.path().join("plugin"),
        &RunOptions {
            threaded,
            rules: rules.clone(),
            suricata,
            ..Default::default()
        },
    );
    run.ran.assert_success();
    let name = format!("{name} on {suricata} (threaded: {threaded})");

    let written = eve_counts(&run.eve_json());
    let stats = run.plugin_stats();
    assert!(
        !written.is_empty(),
        "{name}: Suricata wrote no records at all\n{}",
        run.ran
    );
    assert_eq!(
        stats.by_type(),
        written,
        "{name}: plugin counts differ from the eve.json it wrote\n{}",
        run.ran
    );
    let eve = stats.eve_file.clone().expect("eve-file stats");
    assert_eq!(eve.written, written.values().sum::<u64>());
    assert_eq!((eve.dropped_queue_full, eve.lost, eve.errors), (0, 0, 0));
    if !threaded {
        // Threaded eve interleaves records of several threads in any order; the
        // regular output of another run is compared once per capture.
        let regular = regular_run(
            &sv_pcap(case.pcap),
            &tmp.path().join("regular"),
            rules,
            suricata,
        );
        let (ours, theirs) = (comparable(&run.eve_json()), comparable(&regular));
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{name}: types differ from a regular eve-log's"
        );
        for (t, lines) in &ours {
            if lines != &theirs[t] {
                let only_ours: Vec<_> = lines.iter().filter(|l| !theirs[t].contains(l)).collect();
                let only_theirs: Vec<_> = theirs[t].iter().filter(|l| !lines.contains(l)).collect();
                panic!(
                    "{name}: `{t}` records differ from a regular eve-log's ({} vs {})\nonly ours: {only_ours:#?}\nonly theirs: {only_theirs:#?}",
                    lines.len(),
                    theirs[t].len()
                );
            }
        }
    }
    assert_eq!(stats.threaded, threaded);
    // Threaded eve hands each packet thread its own context. Non-threaded: 7.0 never
    // calls ThreadInit, 8.0 calls it once for the one shared context.
    let shared = match suricata {
        Suricata::V7 => 0,
        Suricata::V8 => 1,
    };
    assert!(
        if threaded {
            stats.eve_threads > 0
        } else {
            stats.eve_threads == shared
        },
        "{name}: eve_threads {}",
        stats.eve_threads
    );
    assert!(
        stats.balanced(),
        "{name}: counters do not add up: {stats:?}"
    );
    assert_eq!(
        stats.write.dropped_queue_full, 0,
        "{name}: drops on a tiny capture"
    );
    assert_eq!(
        stats.ingest.parse_errors, 0,
        "{name}: Suricata records that did not parse"
    );
    // The one-line summary went to Suricata's log through SCLogMessage, and the start
    // line names the Suricata that loaded the plugin.
    let log = std::fs::read_to_string(run.log_dir.join("suricata.log")).unwrap();
    let summary = format!(
        "{} records received, {} parsed",
        stats.write.calls,
        stats.ingest.parsed.total()
    );
    assert!(
        log.contains(&summary),
        "{name}: no summary line `{summary}` in suricata.log:\n{log}"
    );
    assert!(
        log.contains(&format!("started in {}", suricata.version_prefix())),
        "{name}: the start line does not name {suricata}:\n{log}"
    );
}

macro_rules! cases {
    ($($name:ident: $pcap:expr, $rules:expr;)*) => {
        mod non_threaded {
            use super::*;
            $(#[test] fn $name() { check(stringify!($name), Case { pcap: $pcap, rules: $rules }, false) })*
        }
        mod threaded {
            use super::*;
            $(#[test] fn $name() { check(stringify!($name), Case { pcap: $pcap, rules: $rules }, true) })*
        }
    };
}

cases! {
    http_all_headers: "http-all-headers/input.pcap", None;
    mqtt5_publish_with_alerts: "mqtt-pub-rules/mqtt5_pub_jpeg.pcap", Some("mqtt-pub-rules/test.rules");
    mqtt311_userpass: "mqtt311-pub-userpass/input.pcap", None;
    mqtt5_qos1: "mqtt5-pub-qos1/input.pcap", None;
    modbus_with_alerts: "modbus/modbus.pcap", Some("modbus/test.rules");
    ssh_bypass: "bypass-ssh-enabled/input.pcap", None;
    syn_flood: "firewall/tcp-session-syn-flood-drop-precedence/input.pcap", None;
    flow_vlan: "eve-flow-vlan/input.pcap", None;
}

/// The captures above exercise the record types later stages depend on.
#[test]
fn captures_cover_the_record_types_we_use() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (i, (pcap, rules)) in [
        ("http-all-headers/input.pcap", None),
        (
            "mqtt-pub-rules/mqtt5_pub_jpeg.pcap",
            Some("mqtt-pub-rules/test.rules"),
        ),
        ("modbus/modbus.pcap", Some("modbus/test.rules")),
        ("bypass-ssh-enabled/input.pcap", None),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tmp.path().join(i.to_string());
        let rules = rules.into_iter().map(sv_pcap).collect();
        let run = run_suricata(
            &sv_pcap(pcap),
            &dir,
            &RunOptions {
                rules,
                ..Default::default()
            },
        );
        run.ran.assert_success();
        seen.extend(run.plugin_stats().by_type().into_keys());
    }
    for t in ["alert", "flow", "http", "mqtt", "modbus", "ssh"] {
        assert!(
            seen.contains(t),
            "no `{t}` record in any capture; saw {seen:?}"
        );
    }
}

/// A larger mixed capture (3,000 sources, ~45,000 records: flow, http, dns, alert from
/// IPv4 and IPv6 sources) fits the default queue, so nothing may be dropped and the
/// counts must match eve.json exactly.
#[test]
fn mixed_capture_at_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("mixed.pcap");
    suriguard_e2e::scenarios::mixed_iot(&pcap, 3_000).unwrap();
    let rules = vec![suriguard_e2e::workspace_root().join("tests/data/bench.rules")];
    let run = run_suricata(
        &pcap,
        &tmp.path().join("logs"),
        &RunOptions {
            rules,
            ..Default::default()
        },
    );
    run.ran.assert_success();
    let expected = eve_counts(&run.eve_json());
    let stats = run.plugin_stats();
    assert!(expected.values().sum::<u64>() > 40_000, "{expected:?}");
    for t in ["alert", "dns", "flow", "http"] {
        assert!(
            expected.get(t).copied().unwrap_or(0) > 0,
            "no {t} records: {expected:?}"
        );
    }
    assert_eq!(stats.by_type(), expected);
    assert_eq!(stats.write.dropped_queue_full, 0);
    assert!(stats.balanced());
}

/// Detection stalls (the `pause-worker` failpoint keeps the worker from taking anything
/// off its queue until shutdown) while a large capture goes through: detection drops
/// what does not fit and counts it, and eve.json still gets every record.
#[test]
fn a_stalled_detection_worker_drops_detection_input_only() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("mixed.pcap");
    suriguard_e2e::scenarios::mixed_iot(&pcap, 3_000).unwrap();
    let rules = vec![suriguard_e2e::workspace_root().join("tests/data/bench.rules")];
    for suricata in Suricata::ALL {
        let run = run_suricata(
            &pcap,
            &tmp.path().join(format!("logs-{}", suricata.name())),
            &RunOptions {
                rules: rules.clone(),
                suricata,
                env: vec![("SURIGUARD_FAILPOINTS".into(), "pause-worker".into())],
                set: vec![format!(
                    "outputs.{PLUGIN_OUTPUT}.eve-log.suriguard.queue-size=1000"
                )],
                ..Default::default()
            },
        );
        run.ran.assert_success();
        let stats = run.plugin_stats();
        let written = eve_counts(&run.eve_json());
        let total: u64 = written.values().sum();
        assert!(total > 40_000, "{suricata}: {written:?}");
        let w = &stats.write;
        // Everything Suricata handed over is in the file.
        assert_eq!(w.calls, total, "{suricata}");
        let eve = stats.eve_file.clone().unwrap();
        assert_eq!(
            (eve.written, eve.dropped_queue_full, eve.lost),
            (total, 0, 0)
        );
        // Detection got what its queue held (whole chunks of the file, at most 1,000
        // records) and counted the rest.
        assert!(w.queued > 0 && w.queued <= 1000, "{suricata}: {w:?}");
        assert!(w.dropped_queue_full > 30_000, "{suricata}: {w:?}");
        assert_eq!(w.queued + w.dropped_queue_full, total, "{suricata}: {w:?}");
        assert!(stats.balanced(), "{suricata}: {stats:?}");
        assert!(
            run.suricata_log().contains("fault injection enabled"),
            "{suricata}: the failpoint was not on"
        );
    }
}
