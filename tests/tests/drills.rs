//! Failure drills with real Suricata and real nftables in a namespace: the journals on a
//! full filesystem, journals cut mid-line by a crash, the store locked by another
//! process, EVE time jumping backwards, and Suricata killed with SIGKILL mid-run and
//! started again. In each: detection goes on, nothing in force is lost, and the problem is
//! reported once, clearly.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use suriguard_e2e::netns::{wait_for, Lab};
use suriguard_e2e::{run_suricata, scenarios, RunOptions};

const NETWORK: &str = "[network]\nhome-networks = [\"192.168.1.0/24\"]\n";
const ATTACKERS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(203, 0, 113, 71),
    Ipv4Addr::new(203, 0, 113, 72),
    Ipv4Addr::new(203, 0, 113, 73),
];

fn in_set(lab: &Lab, ns: &str, set: &str, addr: &str) -> bool {
    String::from_utf8_lossy(
        &lab.try_sh(ns, &format!("nft list set inet suriguard {set}"))
            .stdout,
    )
    .contains(addr)
}

/// Three telnet brute forces, one capture each, all starting at the same instant: read
/// as a directory, EVE time jumps back twice.
fn three_brute_forces(dir: &Path) -> std::path::PathBuf {
    let pcaps = dir.join("pcaps");
    std::fs::create_dir_all(&pcaps).unwrap();
    for (i, a) in ATTACKERS.iter().enumerate() {
        scenarios::telnet_brute_force_from(&pcaps.join(format!("{i}.pcap")), *a).unwrap();
    }
    pcaps
}

/// Every non-empty line of a JSON-lines file parses.
fn whole_lines(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    for (n, l) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("{}:{}: {e}: {l:?}", path.display(), n + 1));
    }
    text.lines().filter(|l| !l.is_empty()).count()
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn journals_on_a_full_filesystem_detection_and_enforcement_go_on_and_it_is_said_once() {
    let mut lab = Lab::new();
    let ns = lab.ns("full");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let full = dir.join("full");
    std::fs::create_dir(&full).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(ok.success(), "mount tmpfs");
    let _mount = Mount(full.clone());
    // Full: a file takes every block.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", full.join("filler").display()))
        .stderr(Stdio::null())
        .status();
    let pcaps = three_brute_forces(dir);
    let logs = dir.join("logs");
    let config = format!(
        "{NETWORK}[decisions]\nlog = {:?}\n[enforce]\ntable = \"suriguard\"\njournal = {:?}\n",
        full.join("decisions.jsonl").display().to_string(),
        full.join("enforce.jsonl").display().to_string()
    );
    let run = run_suricata(
        &pcaps,
        &logs,
        &RunOptions {
            netns: Some(ns.clone()),
            config: config.clone(),
            ..Default::default()
        },
    );
    run.ran.assert_success();
    for a in ATTACKERS {
        assert!(
            in_set(&lab, &ns, "sg_block4", &a.to_string()),
            "{a} not blocked with the journals on a full disk\n{}",
            run.suricata_log()
        );
    }
    let stats = run.plugin_stats();
    let sink = stats.decisions.expect("decision counters");
    assert_eq!((sink.journaled, sink.journal_errors), (0, 3), "{sink:?}");
    let log = run.suricata_log();
    assert_eq!(
        log.matches("cannot append to the decisions journal")
            .count(),
        1,
        "{log}"
    );
    assert!(log.contains("No space left on device"), "{log}");
    assert!(
        log.matches("enforcement journal").count() <= 2,
        "the enforcement journal's failure said more than once: {log}"
    );

    // Space again: the same run journals, and every line of the journal is whole.
    std::fs::remove_file(full.join("filler")).unwrap();
    lab.sh(&ns, "nft flush ruleset");
    let logs2 = dir.join("logs2");
    let run = run_suricata(
        &pcaps,
        &logs2,
        &RunOptions {
            netns: Some(ns.clone()),
            config,
            ..Default::default()
        },
    );
    run.ran.assert_success();
    assert_eq!(whole_lines(&full.join("decisions.jsonl")), 3);
    whole_lines(&full.join("enforce.jsonl"));
    for a in ATTACKERS {
        assert!(in_set(&lab, &ns, "sg_block4", &a.to_string()));
    }
}

#[test]
fn journals_cut_by_a_crash_lose_only_the_cut_line_and_say_so() {
    let mut lab = Lab::new();
    let ns = lab.ns("cut");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let cfg = logs.join("ctl.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = {:?}\n{NETWORK}[enforce]\ntable = \"suriguard\"\n",
            logs.display().to_string()
        ),
    )
    .unwrap();
    let add = |target: &str| {
        suriguard_e2e::ctl_in(&ns, &cfg, &["decisions", "add", target, "--ttl", "1h"])
            .assert_success();
    };
    // What a crash in the middle of a write leaves: whole lines, then half of one.
    add("198.18.0.7");
    let cut = |path: &Path, half: &str| {
        let mut text = std::fs::read(path).unwrap_or_default();
        text.extend_from_slice(half.as_bytes());
        std::fs::write(path, text).unwrap();
    };
    cut(
        &logs.join("enforce.jsonl"),
        "{\"op\":\"add\",\"kind\":\"blo",
    );
    cut(
        &logs.join("decisions.jsonl"),
        "{\"id\":\"cut\",\"time\":\"2024-01-01T00:",
    );
    // An admin adds a block before Suricata is back: not glued to the cut line.
    add("198.18.0.8");
    // A reboot wiped the ruleset: the start restores it from the journal.
    lab.sh(&ns, "nft flush ruleset");
    let pcap = dir.join("bf.pcap");
    scenarios::telnet_brute_force_from(&pcap, ATTACKERS[0]).unwrap();
    let run = run_suricata(
        &pcap,
        &logs,
        &RunOptions {
            netns: Some(ns.clone()),
            config: format!("{NETWORK}[enforce]\ntable = \"suriguard\"\n"),
            ..Default::default()
        },
    );
    run.ran.assert_success();
    for a in ["198.18.0.7", "198.18.0.8", &ATTACKERS[0].to_string()] {
        assert!(
            in_set(&lab, &ns, "sg_block4", a),
            "{a} not in force after the restart\n{}",
            run.suricata_log()
        );
    }
    let log = run.suricata_log();
    assert_eq!(
        log.matches("1 unreadable line(s)").count(),
        1,
        "the enforcement journal's cut line not said once: {log}"
    );
    assert_eq!(log.matches("ended in a cut line").count(), 1, "{log}");
    // The new decision is whole and readable after the cut line.
    let decided: Vec<String> = run
        .decisions()
        .iter()
        .map(|d| d.target.to_string())
        .collect();
    assert_eq!(decided, vec![ATTACKERS[0].to_string()]);
}

#[test]
fn eve_time_jumping_backwards_still_decides_every_attacker() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pcaps = three_brute_forces(dir);
    let run = run_suricata(
        &pcaps,
        &dir.join("logs"),
        &RunOptions {
            config: NETWORK.into(),
            ..Default::default()
        },
    );
    run.ran.assert_success();
    let mut decided: Vec<String> = run
        .decisions()
        .iter()
        .map(|d| d.target.to_string())
        .collect();
    decided.sort();
    let want: Vec<String> = ATTACKERS.iter().map(|a| a.to_string()).collect();
    assert_eq!(decided, want, "{}", run.suricata_log());
    let stats = run.plugin_stats();
    assert_eq!(stats.ingest.worker_panics, 0);
}

#[test]
fn the_store_locked_by_another_process_fails_clearly_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let eve = dir.join("eve.json");
    let alert = |i: u32| {
        format!(
            "{{\"timestamp\":\"2026-12-01T10:00:0{i}.000000+0000\",\"flow_id\":{i},\"event_type\":\"alert\",\"src_ip\":\"203.0.113.{i}\",\"src_port\":4000,\"dest_ip\":\"192.168.1.20\",\"dest_port\":23,\"proto\":\"TCP\",\"alert\":{{\"action\":\"allowed\",\"gid\":1,\"signature_id\":{},\"rev\":1,\"signature\":\"drill {i}\",\"category\":\"Attempted Administrator Privilege Gain\",\"severity\":1}}}}\n",
            9000 + i
        )
    };
    let cfg = dir.join("suriguard.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = {:?}\n{NETWORK}[alerts]\neve = {:?}\n",
            dir.display().to_string(),
            eve.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(&eve, "").unwrap();
    suriguard_e2e::ctl(&cfg, &["alerts", "ingest"], &[]).assert_success();
    std::fs::write(&eve, (1..=3).map(alert).collect::<String>()).unwrap();
    // Another process holds the store's write lock.
    let db = dir.join("suriguard.db");
    let mut holder = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked',flush=True)\ntime.sleep(60)",
        ])
        .arg(&db)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let t0 = std::time::Instant::now();
    let ran = suriguard_e2e::ctl(&cfg, &["alerts", "ingest"], &[]);
    let waited = t0.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(!ran.success(), "ingested into a locked store: {ran}");
    let err = ran.stderr();
    assert!(
        err.contains("suriguard.db") && err.contains("locked"),
        "not a clear error: {err}"
    );
    assert_eq!(
        err.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{err}"
    );
    assert!(waited >= Duration::from_secs(5), "gave up after {waited:?}");
    // Released: everything is ingested, once.
    suriguard_e2e::ctl(&cfg, &["alerts", "ingest"], &[]).assert_success();
    let listed = suriguard_e2e::json(
        suriguard_e2e::ctl(&cfg, &["alerts", "list", "-o", "json"], &[]).assert_success(),
    );
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    suriguard_e2e::ctl(&cfg, &["alerts", "ingest"], &[]).assert_success();
    let listed = suriguard_e2e::json(
        suriguard_e2e::ctl(&cfg, &["alerts", "list", "-o", "json"], &[]).assert_success(),
    );
    assert_eq!(
        listed.as_array().unwrap().len(),
        3,
        "ingested twice: {listed}"
    );
}

#[test]
fn suricata_killed_mid_run_then_started_again_loses_nothing_in_force() {
    let mut lab = Lab::new();
    let ns = lab.ns("kill");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pcaps = three_brute_forces(dir);
    let logs = dir.join("logs");
    // An alert on the first login attempt decides at once (the alert fast path), so the
    // decision does not wait for flows to end.
    let rules = dir.join("drill.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any 23 (msg:\"drill telnet login\"; flow:to_server; content:\"root\"; sid:9000001; rev:1;)\n",
    )
    .unwrap();
    let opts = RunOptions {
        netns: Some(ns.clone()),
        config: format!(
            "{NETWORK}[detect.alert]\nsids = [9000001]\n[enforce]\ntable = \"suriguard\"\n"
        ),
        rules: vec![rules],
        // Suricata keeps running after the captures (waiting for more in the
        // directory), with its plugin, worker and enforcer threads alive.
        set: vec!["pcap-file.continuous=true".into()],
        ..Default::default()
    };
    // Started in the background; killed with SIGKILL once the first decision is
    // journaled.
    let journal = logs.join("decisions.jsonl");
    let runner = {
        let pcaps = pcaps.clone();
        let logs = logs.clone();
        let opts = opts.clone();
        std::thread::spawn(move || run_suricata(&pcaps, &logs, &opts))
    };
    let first = wait_for(Duration::from_secs(120), || {
        std::fs::read_to_string(&journal).is_ok_and(|t| t.lines().count() >= 1)
    });
    assert!(first.is_some(), "no decision within two minutes");
    let killed = Command::new("pkill")
        .args(["-KILL", "-f"])
        .arg(format!("suricata .*-l {}", logs.display()))
        .status()
        .unwrap();
    assert!(killed.success(), "no Suricata to kill");
    // Its flows, pcap loop and threads died with it: no orderly shutdown ran.
    let run = runner.join().unwrap();
    assert!(!run.ran.success(), "Suricata was not killed: {}", run.ran);
    // What was applied was journaled first: everything in the kernel is in the
    // enforcement journal. (A decision still on its way to the enforcer when the process
    // died, at most one batch, is in the decisions journal only.)
    let set_now = |lab: &Lab| -> Vec<String> {
        ATTACKERS
            .iter()
            .map(|a| a.to_string())
            .filter(|a| in_set(lab, &ns, "sg_block4", a))
            .collect()
    };
    let applied = set_now(&lab);
    let journaled: Vec<String> = suriguard_enforce::journal::replay(
        &logs.join("enforce.jsonl"),
        suriguard_enforce::now_secs(),
    )
    .unwrap()
    .in_force
    .iter()
    .map(|f| f.target.to_string())
    .collect();
    let decided = suriguard_decision::DecisionLog::read_all(&journal).unwrap();
    eprintln!(
        "killed: {} decided, {} journaled for enforcement, {} in the kernel",
        decided.len(),
        journaled.len(),
        applied.len()
    );
    assert!(!journaled.is_empty(), "nothing journaled for enforcement");
    for a in &applied {
        assert!(journaled.contains(a), "{a} applied but not journaled");
    }
    // A reboot wipes the ruleset; the next start restores everything journaled.
    lab.sh(&ns, "nft flush ruleset");
    let empty = dir.join("empty.pcap");
    scenarios::mixed_iot(&empty, 2).unwrap();
    let again = run_suricata(
        &empty,
        &logs,
        &RunOptions {
            set: Vec::new(),
            ..opts
        },
    );
    again.ran.assert_success();
    let restored = set_now(&lab);
    for a in &journaled {
        assert!(
            restored.contains(a),
            "{a} not restored after the restart: {restored:?}"
        );
    }
    assert!(whole_lines(&logs.join("enforce.jsonl")) >= journaled.len());
}
