//! The real libsuriguard.so driven the way a buggy or hostile Suricata could drive it
//! (tests/harness/hostile_host.c): NULL and negative lengths, a zero-length record,
//! invalid UTF-8, truncated JSON, a 1 MiB record, forced panics in `Write` and in the
//! worker, a write without init_data, and 1,000,000 records from four threads into a
//! queue of 1,024 while the worker is held. Nothing may crash, every bad record must be
//! counted as what it is, drops must be exact, and `Write` must never wait.

use std::collections::BTreeMap;
use std::process::Command;

use suriguard_core::stats::PluginStats;
use suriguard_e2e::{plugin_path, Ran};

const HOST: &str = env!("SURIGUARD_HOSTILE_HOST");

fn results(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn hostile_host_cannot_hurt_the_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let stats_path = tmp.path().join("stats.json");
    let mut cmd = Command::new(HOST);
    cmd.arg(plugin_path())
        .arg("hostile")
        .arg("queue-size=1024")
        .arg(format!("stats-file={}", stats_path.display()))
        .env(
            "SURIGUARD_FAILPOINTS",
            "pause-worker,panic-in-worker,panic-in-write",
        )
        // Even with backtraces requested, a contained panic must log one line only.
        .env("RUST_BACKTRACE", "1");
    let ran = Ran::run(cmd, tmp.path());
    ran.assert_success();
    let out = ran.stdout();
    let res = results(&out);
    assert_eq!(res.get("init").map(String::as_str), Some("0"), "{ran}");

    let stats: PluginStats =
        serde_json::from_str(&std::fs::read_to_string(&stats_path).unwrap()).unwrap();
    let w = &stats.write;
    let i = &stats.ingest;

    // 12 single hostile/good records + 1,000,000 flood records reached a live output.
    assert_eq!(w.calls, 1_000_012, "{stats:?}");
    assert_eq!(w.rejected_invalid, 3, "NULL buffer, negative length, both");
    assert_eq!(w.rejected_empty, 1);
    assert_eq!(w.rejected_oversized, 1, "the 1 MiB record");
    assert_eq!(w.write_panics, 1);
    // The worker was held, so exactly the queue's capacity got in: 6 singles first, then
    // 1,018 flood records; every other flood record is a counted drop.
    assert_eq!(w.queued, 1024);
    assert_eq!(w.dropped_queue_full, 1_000_000 - 1_018);
    assert_eq!(i.records, 1024);
    assert_eq!(i.parse_errors, 2, "invalid UTF-8 and truncated JSON");
    assert_eq!(i.worker_panics, 1);
    assert_eq!(i.parsed.get("flow"), 1 + 1_018);
    assert_eq!(i.parsed.get("dns"), 1);
    assert_eq!(i.parsed.get("alert"), 1);
    assert!(stats.balanced(), "{stats:?}");
    assert_eq!(
        stats.eve_threads, 4,
        "each flood thread went through ThreadInit"
    );

    // Write never waited: the flood finished although nothing drained the queue, and
    // 99.9% of calls took under 100 µs of wall time (the max includes preemption of the
    // four writer threads on a small machine, so it only has to stay far from a stall).
    let p999: f64 = res["p999_write_us"].parse().unwrap();
    let max: f64 = res["max_write_us"].parse().unwrap();
    assert!(p999 < 100.0, "p99.9 Write latency {p999} µs\n{ran}");
    assert!(max < 250_000.0, "a Write took {max} µs\n{ran}");

    // Panics: one line each through Suricata's logger, no backtrace anywhere.
    let panic_lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("contained a panic"))
        .collect();
    assert_eq!(panic_lines.len(), 2, "{ran}");
    assert!(panic_lines.iter().any(|l| l.contains("panic-in-write")));
    assert!(panic_lines.iter().any(|l| l.contains("panic-in-worker")));
    let all = format!("{out}{}", ran.stderr());
    assert!(
        !all.contains("stack backtrace") && !all.contains("RUST_BACKTRACE"),
        "{ran}"
    );

    // Parse errors were logged a bounded number of times, and the summary came last.
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("not valid EVE JSON"))
            .count(),
        2
    );
    assert!(out.contains(&stats.summary_line()), "{ran}");
    assert!(out.contains("1 writes arrived without init_data"), "{ran}");
    assert!(
        out.contains("Init called without a place for init_data"),
        "{ran}"
    );
}

#[test]
fn init_and_deinit_without_traffic() {
    let tmp = tempfile::tempdir().unwrap();
    let stats_path = tmp.path().join("stats.json");
    let mut cmd = Command::new(HOST);
    cmd.arg(plugin_path())
        .arg("init-only")
        .arg(format!("stats-file={}", stats_path.display()));
    let ran = Ran::run(cmd, tmp.path());
    ran.assert_success();
    let stats: PluginStats =
        serde_json::from_str(&std::fs::read_to_string(&stats_path).unwrap()).unwrap();
    assert_eq!(
        stats,
        PluginStats {
            queue_size: 65_536,
            ..Default::default()
        }
    );
}

#[test]
fn bad_settings_fail_init_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(HOST);
    cmd.arg(plugin_path())
        .arg("init-only")
        .arg("queue-size=-3")
        .arg("stats-file");
    let ran = Ran::run(cmd, tmp.path());
    assert_eq!(ran.output.status.code(), Some(1), "{ran}");
    assert!(ran.stdout().contains("RESULT init -1"), "{ran}");
    assert!(
        ran.stdout()
            .contains("`queue-size` must be an integer from 1 to 16777216, got \"-3\""),
        "{ran}"
    );
}

#[test]
fn queue_memory_is_bounded_by_queue_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let stats_path = tmp.path().join("stats.json");
    let mut cmd = Command::new(HOST);
    cmd.arg(plugin_path())
        .arg("budget")
        .arg("queue-size=1024")
        .arg("queue-bytes=20000")
        .arg(format!("stats-file={}", stats_path.display()))
        .env("SURIGUARD_FAILPOINTS", "pause-worker");
    let ran = Ran::run(cmd, tmp.path());
    ran.assert_success();
    let res = results(&ran.stdout());
    let len: u64 = res["record_len"].parse().unwrap();
    let stats: PluginStats =
        serde_json::from_str(&std::fs::read_to_string(&stats_path).unwrap()).unwrap();
    // 1,000 records fit the queue's slot count but not its byte budget.
    let fit = 20_000 / len;
    assert!(fit < 1000);
    assert_eq!(stats.write.queued, fit, "{stats:?}");
    assert_eq!(stats.write.dropped_queue_full, 1000 - fit);
    assert_eq!(stats.ingest.parsed.get("flow"), fit);
    assert!(stats.balanced());
}
