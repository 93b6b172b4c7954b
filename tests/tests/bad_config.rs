//! A broken plugin configuration must stop Suricata with one clear error line that names
//! the problem, never with a crash.

//!
//! Suricata (7.0 and 8.0 alike) treats an output whose setup fails as a warning by default and runs on
//! without it; with `--init-errors-fatal` (engine.init-failure-fatal) it exits instead.
//! Both are Suricata's policy, not ours: the tests check our error line and a clean exit
//! in each mode, and that no suriguard output is left half-running.

use std::os::unix::process::ExitStatusExt;

use suriguard_e2e::{run_suricata, sv_pcap, RunOptions, Suricata, SuricataRun, PLUGIN_OUTPUT};

fn run(set: &[String], fatal: bool, suricata: Suricata) -> (SuricataRun, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut set = set.to_vec();
    if fatal {
        set.push("engine.init-failure-fatal=yes".into());
    }
    let opts = RunOptions {
        set,
        suricata,
        ..Default::default()
    };
    let run = run_suricata(&sv_pcap("http-all-headers/input.pcap"), tmp.path(), &opts);
    (run, tmp)
}

fn refused(set: &[String], expect: &str) {
    for suricata in Suricata::ALL {
        refused_on(set, expect, suricata);
    }
}

fn refused_on(set: &[String], expect: &str, suricata: Suricata) {
    for fatal in [false, true] {
        let (run, _tmp) = run(set, fatal, suricata);
        let ran = &run.ran;
        let status = ran.output.status;
        assert_eq!(status.signal(), None, "Suricata died from a signal\n{ran}");
        let all = format!("{}{}", ran.stdout(), ran.stderr());
        let line = all
            .lines()
            .find(|l| l.starts_with("E: suriguard:") && l.contains(expect));
        assert!(
            line.is_some(),
            "no `E: suriguard:` line mentioning {expect:?}\n{ran}"
        );
        assert!(
            !all.contains("panicked") && !all.contains("backtrace"),
            "a panic reached the console\n{ran}"
        );
        // The refused output never started: no worker, so no counters at shutdown.
        assert!(
            !run.stats_file().exists(),
            "the plugin ran despite its bad config\n{ran}"
        );
        if fatal {
            assert_eq!(
                status.code(),
                Some(1),
                "--init-errors-fatal should stop Suricata\n{ran}"
            );
        } else {
            assert!(
                status.success(),
                "Suricata's default is to run on without the output\n{ran}"
            );
            assert!(
                all.contains("output module \"eve-log\": setup failed"),
                "{ran}"
            );
        }
    }
}

fn key(k: &str, v: &str) -> String {
    format!("outputs.{PLUGIN_OUTPUT}.eve-log.suriguard.{k}={v}")
}

#[test]
fn unknown_key_is_named() {
    refused(&[key("queue-sise", "100")], "unknown key `queue-sise`");
}

#[test]
fn non_numeric_queue_size_is_named() {
    refused(
        &[key("queue-size", "lots")],
        "`queue-size` must be an integer",
    );
}

#[test]
fn zero_queue_size_is_refused() {
    refused(&[key("queue-size", "0")], "`queue-size` must be an integer");
}

#[test]
fn unreadable_config_file_is_named() {
    refused(
        &[key("config", "/nonexistent/suriguard.toml")],
        "cannot read config file /nonexistent/suriguard.toml",
    );
}

#[test]
fn config_file_with_unknown_key_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("suriguard.toml");
    std::fs::write(&cfg, "state-dri = \"/tmp\"\n").unwrap();
    refused(&[key("config", cfg.to_str().unwrap())], "state-dri");
}

#[test]
fn detect_mistake_still_refuses_with_the_key_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("suriguard.toml");
    std::fs::write(
        &cfg,
        "[detect]\nport-scan = { window = 0, threshold = 3 }\n[notify]\ncooldown = 60\n",
    )
    .unwrap();
    refused(
        &[key("config", cfg.to_str().unwrap())],
        "[detect] port-scan.window",
    );
}

#[test]
fn valid_config_file_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("suriguard.toml");
    std::fs::write(&cfg, format!("state-dir = \"{}\"\n", tmp.path().display())).unwrap();
    for suricata in Suricata::ALL {
        let (run, _logs) = run(&[key("config", cfg.to_str().unwrap())], true, suricata);
        run.ran.assert_success();
        let stats = run.plugin_stats();
        assert!(
            stats.balanced() && stats.ingest.parsed.total() > 0,
            "{suricata}: {stats:?}"
        );
    }
}

#[test]
fn unwritable_eve_file_is_named() {
    refused(
        &[key("eve-file", "/nonexistent/dir/eve.json")],
        "cannot open eve-file /nonexistent/dir/eve.json",
    );
}

#[test]
fn bad_eve_file_queue_is_named() {
    refused(
        &[key("eve-file-queue-bytes", "12")],
        "`eve-file-queue-bytes` must be a size in bytes",
    );
}
