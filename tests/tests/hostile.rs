//! The real libsuriguard.so driven the way a buggy or hostile Suricata could drive it
//! (tests/harness/hostile_host.c): NULL and negative lengths, a zero-length record,
//! invalid UTF-8, truncated JSON, a 1 MiB record, forced panics in `Write` and in the
//! worker, a write without init_data, and 1,000,000 records from four threads into a
//! queue of 1,024 while the worker is held. Nothing may crash, every bad record must be
//! counted as what it is, drops must be exact, and `Write` must never wait.

use std::collections::BTreeMap;
use std::process::Command;

use suriguard_e2e::{plugin_path, Ran};
use suriguard_guard::PluginStats;

const HOST: &str = env!("SURIGUARD_HOSTILE_HOST");

fn results(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// One run of the harness: `scenario` with the plugin settings `settings` (key=value),
/// a config and a `stats-file` in a temporary directory, `failpoints` in the environment.
struct HostRun {
    ran: Ran,
    res: BTreeMap<String, String>,
    stats_path: std::path::PathBuf,
    tmp: tempfile::TempDir,
}

impl HostRun {
    fn new(scenario: &str, settings: &[&str], failpoints: &str) -> HostRun {
        let tmp = tempfile::tempdir().unwrap();
        let stats_path = tmp.path().join("stats.json");
        // The decisions journal goes to the state dir: keep it in the temporary directory.
        let config = tmp.path().join("suriguard.toml");
        std::fs::write(
            &config,
            format!("state-dir = {:?}\n", tmp.path().display().to_string()),
        )
        .unwrap();
        let mut cmd = Command::new(HOST);
        cmd.arg(plugin_path())
            .arg(scenario)
            .arg(format!("config={}", config.display()))
            .args(settings)
            .arg(format!("stats-file={}", stats_path.display()))
            .env("SURIGUARD_FAILPOINTS", failpoints)
            // Even with backtraces requested, a contained panic must log one line only.
            .env("RUST_BACKTRACE", "1");
        let ran = Ran::run(cmd, tmp.path());
        let res = results(&ran.stdout());
        HostRun {
            ran,
            res,
            stats_path,
            tmp,
        }
    }

    fn dir(&self) -> &std::path::Path {
        self.tmp.path()
    }

    fn stats(&self) -> PluginStats {
        let text = std::fs::read_to_string(&self.stats_path)
            .unwrap_or_else(|e| panic!("no stats file: {e}\n{}", self.ran));
        serde_json::from_str(&text).unwrap()
    }
}

#[test]
fn hostile_host_cannot_hurt_the_plugin() {
    let run = HostRun::new(
        "hostile",
        &["queue-size=1024"],
        "pause-worker,panic-in-worker,panic-in-write",
    );
    let ran = &run.ran;
    ran.assert_success();
    let out = ran.stdout();
    let res = &run.res;
    assert_eq!(res.get("init").map(String::as_str), Some("0"), "{ran}");

    let stats = run.stats();
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
    // The flood is 1,019 unanswered SYNs from one source: one SYN-flood decision, journaled.
    assert_eq!(
        stats.decisions.as_ref().map(|d| d.journaled),
        Some(1),
        "{stats:?}"
    );
    assert_eq!(stats.ingest.detect.as_ref().map(|d| d.decisions), Some(1));
    let journal = std::fs::read_to_string(run.dir().join("decisions.jsonl")).unwrap();
    assert!(
        journal.contains(r#""target":"192.0.2.1","action":"block","reason":"syn-flood""#),
        "{journal}"
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
    let run = HostRun::new("init-only", &[], "");
    run.ran.assert_success();
    let stats = run.stats();
    assert_eq!(
        (stats.write.calls, stats.ingest.records, stats.queue_size),
        (0, 0, 65_536)
    );
    assert!(stats.balanced());
    assert_eq!(stats.decisions, Some(Default::default()));
}

#[test]
fn bad_settings_fail_init_cleanly() {
    let run = HostRun::new("init-only", &["queue-size=-3"], "");
    let ran = &run.ran;
    assert_eq!(ran.output.status.code(), Some(1), "{ran}");
    assert_eq!(run.res.get("init").map(String::as_str), Some("-1"), "{ran}");
    assert!(
        ran.stdout()
            .contains("`queue-size` must be an integer from 1 to 16777216, got \"-3\""),
        "{ran}"
    );
    assert!(!run.stats_path.exists());
}

#[test]
fn unwritable_journal_fails_init_cleanly() {
    let run = HostRun::new("init-only", &["config=/dev/null/suriguard.toml"], "");
    let ran = &run.ran;
    assert_eq!(run.res.get("init").map(String::as_str), Some("-1"), "{ran}");
    assert!(
        ran.stdout()
            .contains("cannot read config file /dev/null/suriguard.toml"),
        "{ran}"
    );
}

#[test]
fn queue_memory_is_bounded_by_queue_bytes() {
    let run = HostRun::new(
        "budget",
        &["queue-size=1024", "queue-bytes=20000"],
        "pause-worker",
    );
    run.ran.assert_success();
    let len: u64 = run.res["record_len"].parse().unwrap();
    let stats = run.stats();
    // 1,000 records fit the queue's slot count but not its byte budget.
    let fit = 20_000 / len;
    assert!(fit < 1000);
    assert_eq!(stats.write.queued, fit, "{stats:?}");
    assert_eq!(stats.write.dropped_queue_full, 1000 - fit);
    assert_eq!(stats.ingest.parsed.get("flow"), fit);
    assert!(stats.balanced());
}

#[test]
fn unsupported_suricata_gets_one_error_line_and_no_file_type() {
    for (version, shown) in [
        ("9.0.0 RELEASE", "Suricata 9.0"),
        ("6.0.20 RELEASE", "Suricata 6.0"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(HOST);
        cmd.arg(plugin_path())
            .arg("unsupported")
            .env("HOSTILE_SURICATA_VERSION", version)
            .env("RUST_BACKTRACE", "1");
        let ran = Ran::run(cmd, tmp.path());
        ran.assert_success();
        let res = results(&ran.stdout());
        assert_eq!(
            res.get("registered").map(String::as_str),
            Some("0"),
            "{ran}"
        );
        // A later Suricata reads 8.0's layout and refuses it by its API version.
        let api = version.starts_with('9').then_some("800");
        assert_eq!(res.get("api-version").map(String::as_str), api, "{ran}");
        let stdout = ran.stdout();
        let logged: Vec<&str> = stdout.lines().filter(|l| l.starts_with("LOG ")).collect();
        assert_eq!(logged.len(), 1, "{ran}");
        // SC_LOG_ERROR is 1.
        assert!(logged[0].starts_with("LOG 1 suriguard: "), "{ran}");
        assert!(logged[0].contains("supports Suricata 7.0 and 8.0"), "{ran}");
        assert!(logged[0].contains(shown), "{ran}");
        assert!(logged[0].contains(version), "{ran}");
    }
}
