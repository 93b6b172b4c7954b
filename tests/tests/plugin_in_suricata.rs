//! The real libsuriguard.so inside real Suricata 7, fed real captures from
//! suricata-verify: every record Suricata writes to a regular eve.json must reach the
//! plugin, counted by event type, in threaded and non-threaded eve modes alike.

use std::path::PathBuf;

use suriguard_e2e::{eve_counts, run_suricata, sv_pcap, RunOptions};

struct Case {
    pcap: &'static str,
    rules: Option<&'static str>,
}

fn check(name: &str, case: Case, threaded: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let rules: Vec<PathBuf> = case.rules.into_iter().map(sv_pcap).collect();
    let run = run_suricata(
        &sv_pcap(case.pcap),
        tmp.path(),
        &RunOptions {
            threaded,
            rules,
            ..Default::default()
        },
    );
    run.ran.assert_success();

    let expected = eve_counts(&run.eve_json());
    let stats = run.plugin_stats();
    let got = stats.ingest.parsed.to_map();
    assert!(
        !expected.is_empty(),
        "{name}: Suricata wrote no records at all\n{}",
        run.ran
    );
    assert_eq!(
        got, expected,
        "{name} (threaded: {threaded}): plugin counts differ from eve.json\n{}",
        run.ran
    );
    assert_eq!(stats.threaded, threaded);
    // Threaded eve hands each packet thread its own context; non-threaded never does.
    assert_eq!(
        stats.eve_threads > 0,
        threaded,
        "{name}: eve_threads {} with threaded {threaded}",
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
    // The one-line summary went to Suricata's log through SCLogMessage.
    let log = std::fs::read_to_string(tmp.path().join("suricata.log")).unwrap();
    let summary = format!(
        "{} records received, {} parsed",
        stats.write.calls,
        stats.ingest.parsed.total()
    );
    assert!(
        log.contains(&summary),
        "{name}: no summary line `{summary}` in suricata.log:\n{log}"
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
        seen.extend(run.plugin_stats().ingest.parsed.to_map().into_keys());
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
    assert_eq!(stats.ingest.parsed.to_map(), expected);
    assert_eq!(stats.write.dropped_queue_full, 0);
    assert!(stats.balanced());
}
