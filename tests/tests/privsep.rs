//! Least privilege: Suricata that drops root (`run-as`) in a namespace. Without the
//! helper the plugin decides but its nft, with no CAP_NET_ADMIN left, changes nothing;
//! with `[enforce] helper` the real `suriguard-nft-helper` (root with only CAP_NET_ADMIN
//! in its bounding set, its group Suricata's) puts the attacker in the set. The helper
//! refuses requests outside its protocol from the allowed user (a set that is not ours,
//! a raw nft command, a prefix too wide) and any request from another user, leaves out an
//! add against an allowlisted target, logs each, and the firewall does not change.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use suriguard_e2e::netns::{wait_for, Lab};
use suriguard_e2e::{bin, run_suricata, scenarios, RunOptions};

/// The unprivileged user the tests' Suricata runs as (created if missing).
const USER: &str = "sgrunas";
const FLOODER: &str = "203.0.113.50";

fn ensure_user() {
    let known = Command::new("id").arg(USER).output().unwrap();
    if !known.status.success() {
        let ok = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                USER,
            ])
            .status()
            .unwrap();
        assert!(ok.success(), "useradd {USER}");
    }
}

fn chown(path: &Path) {
    let ok = Command::new("chown")
        .arg(format!("{USER}:{USER}"))
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn in_block_set(lab: &Lab, ns: &str) -> bool {
    lab.try_sh(ns, "nft list set inet suriguard sg_block4")
        .stdout
        .windows(FLOODER.len())
        .any(|w| w == FLOODER.as_bytes())
}

/// Sends `line` to the helper's socket as `who` (setpriv arguments), prints the answer.
fn send_as(ns: &str, who: &str, socket: &Path, line: &str) -> String {
    // A refused peer gets its answer before the helper reads anything, so the send may
    // meet a closed socket: the answer is still there to read.
    let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ntry:\n    s.sendall(sys.argv[2].encode()+b'\\n')\nexcept BrokenPipeError:\n    pass\nprint(s.makefile().readline().strip())";
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "setpriv"])
        .args(who.split_whitespace())
        .args(["/usr/bin/python3", "-c", script])
        .arg(socket)
        .arg(line)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn an_unprivileged_suricata_blocks_through_the_helper_and_the_helper_refuses_the_rest() {
    ensure_user();
    let mut lab = Lab::new();
    let ns = lab.ns("ps");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let pcap = dir.join("flood.pcap");
    scenarios::http_flood(&pcap).unwrap();
    std::fs::set_permissions(&pcap, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run_as = vec![
        format!("run-as.user={USER}"),
        format!("run-as.group={USER}"),
    ];
    let network =
        "[network]\nhome-networks = [\"192.168.1.0/24\"]\nallowlist = [\"198.51.100.0/24\"]\n";

    // Without the helper: decided, journaled, not enforced.
    let plain = dir.join("plain");
    std::fs::create_dir(&plain).unwrap();
    chown(&plain);
    let run = run_suricata(
        &pcap,
        &plain,
        &RunOptions {
            netns: Some(ns.clone()),
            config: format!("{network}[enforce]\ntable = \"suriguard\"\nretry-secs = 1\n"),
            set: run_as.clone(),
            ..Default::default()
        },
    );
    run.ran.assert_success();
    assert!(
        run.decisions()
            .iter()
            .any(|d| d.target.to_string() == FLOODER),
        "the plugin did not decide: {:?}",
        run.decisions()
    );
    assert!(
        !in_block_set(&lab, &ns),
        "enforced without the helper: run-as did not drop CAP_NET_ADMIN?"
    );
    let stats = run.plugin_stats();
    let enforcement = stats.enforcement.expect("enforcement stats");
    assert!(
        enforcement.apply_errors >= 1 && !enforcement.healthy,
        "{enforcement:?}"
    );

    // The helper: root with only CAP_NET_ADMIN, its group Suricata's.
    let logs = dir.join("helped");
    std::fs::create_dir(&logs).unwrap();
    chown(&logs);
    let socket = dir.join("nft.sock");
    let helper_cfg = dir.join("helper.toml");
    std::fs::write(
        &helper_cfg,
        format!(
            "state-dir = {:?}\n{network}[enforce]\ntable = \"suriguard\"\n",
            logs.display().to_string()
        ),
    )
    .unwrap();
    let helper_log = dir.join("helper.log");
    let helper = bin("suriguard-nft-helper");
    let pid = lab.spawn(
        &ns,
        "setpriv",
        &[
            "--bounding-set=-all,+net_admin",
            &format!("--regid={USER}"),
            "--clear-groups",
            helper.to_str().unwrap(),
            "--config",
            helper_cfg.to_str().unwrap(),
            "--socket",
            socket.to_str().unwrap(),
            "--allow-user",
            USER,
        ],
        &helper_log,
    );
    assert!(
        wait_for(Duration::from_secs(10), || socket.exists()).is_some(),
        "helper did not start: {}",
        std::fs::read_to_string(&helper_log).unwrap_or_default()
    );
    let run = run_suricata(
        &pcap,
        &logs,
        &RunOptions {
            netns: Some(ns.clone()),
            config: format!(
                "{network}[enforce]\ntable = \"suriguard\"\nhelper = {:?}\n",
                socket.display().to_string()
            ),
            set: run_as,
            ..Default::default()
        },
    );
    run.ran.assert_success();
    assert!(
        in_block_set(&lab, &ns),
        "not blocked through the helper: {:?}\n{}",
        run.plugin_stats().enforcement,
        std::fs::read_to_string(&helper_log).unwrap_or_default()
    );
    let enforcement = run.plugin_stats().enforcement.unwrap();
    assert_eq!(enforcement.apply_errors, 0, "{enforcement:?}");

    // Outside the protocol, from the allowed user: refused, logged, nothing changes.
    // Rules and sets (not the elements' countdowns), the allow set with its elements.
    let state = |lab: &Lab| {
        lab.sh(&ns, "nft -t list table inet suriguard")
            + &lab.sh(&ns, "nft list set inet suriguard sg_allow4")
    };
    let before = state(&lab);
    let as_user = format!("--reuid={USER} --regid={USER} --clear-groups");
    for (line, why) in [
        (
            r#"{"op":"add","set":"block","target":"203.0.113.66","timeout":60}"#,
            "not in the protocol",
        ),
        (
            r#"{"op":"apply","ops":[{"op":"add","set":"allow","target":"203.0.113.66","timeout":60}]}"#,
            "not in the protocol",
        ),
        (
            "add rule inet suriguard sg_input accept",
            "not in the protocol",
        ),
        (
            r#"{"op":"apply","ops":[{"op":"add","set":"block","target":"0.0.0.0/1","timeout":60}]}"#,
            "wider than /8",
        ),
    ] {
        let answer = send_as(&ns, &as_user, &socket, line);
        assert!(
            answer.contains(r#""ok":false"#) && answer.contains(why),
            "{line}: {answer}"
        );
    }
    // An allowlisted target is left out (said in the answer and the log), the rest done.
    let answer = send_as(
        &ns,
        &as_user,
        &socket,
        r#"{"op":"apply","ops":[{"op":"add","set":"block","target":"198.51.100.9","timeout":60}]}"#,
    );
    assert!(
        answer.contains(r#""ok":true"#) && answer.contains("198.51.100.9: allowlisted"),
        "{answer}"
    );
    // Another user, even in the socket's group: refused before its request is read.
    let answer = send_as(
        &ns,
        &format!("--reuid=nobody --regid={USER} --clear-groups"),
        &socket,
        r#"{"op":"apply","ops":[{"op":"delete","set":"block","target":"203.0.113.50"}]}"#,
    );
    assert!(answer.contains("may not use the helper"), "{answer}");
    // Not in the socket's group: the socket's mode refuses it.
    let answer = send_as(
        &ns,
        "--reuid=nobody --regid=nogroup --clear-groups",
        &socket,
        r#"{"op":"setup"}"#,
    );
    assert!(answer.contains("PermissionError"), "{answer}");
    assert_eq!(state(&lab), before);
    assert!(in_block_set(&lab, &ns));

    // Within the protocol, from the allowed user: done.
    let answer = send_as(
        &ns,
        &as_user,
        &socket,
        r#"{"op":"apply","ops":[{"op":"delete","set":"block","target":"203.0.113.50"}]}"#,
    );
    assert_eq!(answer.trim(), r#"{"ok":true}"#);
    assert!(!in_block_set(&lab, &ns));
    lab.stop(pid, Duration::from_secs(5));
    let log = std::fs::read_to_string(&helper_log).unwrap();
    let uid = String::from_utf8(
        Command::new("id")
            .args(["-u", USER])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        log.matches(&format!("refused a request from uid {}", uid.trim()))
            .count(),
        4,
        "{log}"
    );
    assert_eq!(
        log.matches(&format!("left out 1 add(s) from uid {}", uid.trim()))
            .count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("not an allowed user").count(), 1, "{log}");
}
