//! The enforcement journal (`enforce.jsonl`) is written by two programs: the plugin,
//! which compacts it every time it starts (an atomic replace under the journal's lock),
//! and `suriguardctl decisions add`, which appends. Here `suriguardctl` appends in a
//! loop, distinct targets, while real Suricata starts the plugin again and again: every
//! line added must still be in the journal at the end, exactly once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use suriguard_e2e::{ctl, run_suricata, sv_pcap, RunOptions};
use suriguard_enforce::journal::{append_to, replay, Entry};
use suriguard_enforce::SetKind;
use suriguard_net::Cidr;

/// Plugin starts (each one compacts the journal).
const STARTS: usize = 4;
/// Appends at least this many, however fast Suricata is.
const MIN_ADDS: usize = 40;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Stops the appending loop when the test ends, panicking or not.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn suriguardctl_appends_racing_plugin_compactions_lose_no_line() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // The plugin's journal: `<state-dir>/enforce.jsonl`, its state-dir being `logs`.
    let journal = logs.join("enforce.jsonl");
    // A line only a compaction removes (expired an hour ago): its absence at the end
    // shows the plugin did compact.
    let expired: Cidr = "192.0.2.99".parse().unwrap();
    append_to(
        &journal,
        &[Entry::add(
            SetKind::Block,
            expired,
            now_secs() - 3600,
            "expired",
            "",
            "test",
        )],
    )
    .unwrap();
    // suriguardctl writes the same journal and never touches nftables.
    let cfg = tmp.path().join("ctl.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = {:?}\n[enforce]\nbackend = \"none\"\n",
            logs.display().to_string()
        ),
    )
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let count = Arc::new(AtomicUsize::new(0));
    let adder = {
        let (cfg, stop, count): (PathBuf, _, _) = (cfg.clone(), stop.clone(), count.clone());
        std::thread::spawn(move || {
            let mut added: Vec<(Cidr, Instant)> = Vec::new();
            while added.len() < MIN_ADDS || !stop.load(Ordering::SeqCst) {
                let target = format!("2001:db8:1::{:x}", added.len() + 1);
                ctl(
                    &cfg,
                    &[
                        "decisions",
                        "add",
                        &target,
                        "--ttl",
                        "1h",
                        "--reason",
                        "race",
                    ],
                    &[],
                )
                .assert_success();
                added.push((target.parse().unwrap(), Instant::now()));
                count.fetch_add(1, Ordering::SeqCst);
            }
            added
        })
    };
    // The loop is running before the first start.
    let t0 = Instant::now();
    while count.load(Ordering::SeqCst) < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(60) && !adder.is_finished(),
            "suriguardctl decisions add does not run"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // The plugin enforces (so it opens and compacts the journal) with an nft it cannot
    // run: nothing reaches a firewall, the journal is written all the same.
    let opts = RunOptions {
        config: "[network]\nhome-networks = [\"198.51.100.0/24\"]\n\
                 [enforce]\nnft = \"/nonexistent/nft\"\n"
            .into(),
        ..Default::default()
    };
    let pcap = sv_pcap("firewall/tcp-session-syn-flood-drop-precedence/input.pcap");
    let mut runs = Vec::new();
    for _ in 0..STARTS {
        let start = Instant::now();
        let run = run_suricata(&pcap, &logs, &opts);
        run.ran.assert_success();
        let e = run.plugin_stats().enforcement.expect("the plugin enforced");
        assert_eq!(e.journal_errors, 0, "{e:?}\n{}", run.ran);
        runs.push((start, Instant::now()));
    }
    stop.store(true, Ordering::SeqCst);
    let added = adder.join().expect("the appending loop");

    // Appends did race the starts: some landed while each Suricata ran.
    for (i, (from, to)) in runs.iter().enumerate() {
        let during = added.iter().filter(|(_, at)| at > from && at < to).count();
        assert!(
            during > 0,
            "no suriguardctl append finished during plugin start {i}"
        );
    }

    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        !text.contains(&expired.to_string()),
        "the plugin never compacted the journal:\n{text}"
    );
    // Every target added is in force, on exactly one line.
    let mut lines: BTreeMap<Cidr, usize> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("torn line {line:?}: {e}"));
        if let Some(t) = v["target"].as_str() {
            *lines.entry(t.parse().unwrap()).or_default() += 1;
        }
    }
    let in_force = replay(&journal, now_secs()).unwrap();
    assert_eq!(in_force.bad_lines, 0);
    for (target, _) in &added {
        assert_eq!(
            lines.get(target).copied().unwrap_or(0),
            1,
            "{target}: lines lost or doubled by a compaction"
        );
        assert!(
            in_force
                .in_force
                .iter()
                .any(|f| f.kind == SetKind::Block && f.target == *target && f.reason == "race"),
            "{target} is not in force"
        );
    }
    eprintln!(
        "{} appends across {STARTS} plugin starts, none lost",
        added.len()
    );
}
