//! The enforcer against real nftables, each test in a namespace of its own: restart
//! without a gap (and back within a second after the ruleset is wiped), the allowlist and
//! own addresses under a spoofed flood, and nft failing in every way we know (table
//! deleted, program missing, permission denied) — decisions stay journaled and land when
//! nft works again.
//!
//! The enforcer runs in the test process; its `nft` is a small script that runs the real
//! nft inside the test's namespace (and, on request, without CAP_NET_ADMIN).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use suriguard_decision::{Action, Decision, Evidence, Reason};
use suriguard_e2e::netns::{wait_for, Lab};
use suriguard_e2e::{json, run_suricata, scenarios, Ran, RunOptions};
use suriguard_enforce::nft::{LiveElement, Nft, NftError};
use suriguard_enforce::{
    EnforceConfig, EnforceStats, EnforcerHandle, EnforcerSetup, Limit, RateLimitConfig, SetKind, L4,
};
use suriguard_net::{Cidr, Direction, NetworkModel};

struct Bed {
    lab: Lab,
    ns: String,
    dir: tempfile::TempDir,
    /// What the enforcer runs (fails on request).
    nft: PathBuf,
    /// What the test reads the sets with (always works).
    nft_admin: PathBuf,
}

/// A namespace and two `nft` wrappers for it: `nft`, which runs without CAP_NET_ADMIN
/// while a file `deny` exists next to it, and `nft-admin`, which always works.
fn bed() -> Bed {
    let mut lab = Lab::new();
    let ns = lab.ns("e");
    let dir = tempfile::tempdir().unwrap();
    let nft = dir.path().join("nft");
    std::fs::write(
        &nft,
        format!(
            "#!/bin/sh\nif [ -e {deny} ]; then exec ip netns exec {ns} setpriv --bounding-set -net_admin nft \"$@\"; fi\nexec ip netns exec {ns} nft \"$@\"\n",
            deny = dir.path().join("deny").display()
        ),
    )
    .unwrap();
    let nft_admin = dir.path().join("nft-admin");
    std::fs::write(
        &nft_admin,
        format!("#!/bin/sh\nexec ip netns exec {ns} nft \"$@\"\n"),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&nft)
        .arg(&nft_admin)
        .status()
        .unwrap();
    Bed {
        lab,
        ns,
        dir,
        nft,
        nft_admin,
    }
}

fn net() -> NetworkModel {
    NetworkModel::new(
        vec![
            "192.168.50.0/24".parse().unwrap(),
            "fd50::/64".parse().unwrap(),
        ],
        vec!["198.51.100.0/24".parse().unwrap()],
        vec!["192.168.50.1".parse().unwrap()],
    )
}

fn config(nft: &Path) -> EnforceConfig {
    EnforceConfig {
        nft: nft.display().to_string(),
        retry_secs: 1,
        ..EnforceConfig::default()
    }
}

fn start(cfg: EnforceConfig, journal: &Path) -> EnforcerHandle {
    start_logged(cfg, journal).0
}

/// Starts an enforcer whose log lines are also kept for the test to read.
fn start_logged(cfg: EnforceConfig, journal: &Path) -> (EnforcerHandle, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&lines);
    // The enforcer thread logs through the subscriber in force where it starts.
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .without_time()
        .with_writer(move || Keep(Arc::clone(&keep)))
        .finish();
    let h = tracing::subscriber::with_default(subscriber, || {
        suriguard_enforce::start(EnforcerSetup {
            cfg,
            net: net(),
            network: None,
            journal: journal.to_owned(),
        })
        .unwrap()
    });
    (h, lines)
}

/// A log line sink for [`start_logged`].
struct Keep(Arc<Mutex<Vec<String>>>);

impl std::io::Write for Keep {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf).into_owned();
        eprint!("enforcer: {line}");
        self.0.lock().unwrap().push(line);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn decision(target: &str, action: Action, ttl: u64) -> Decision {
    let target: IpAddr = target.parse().unwrap();
    Decision {
        id: Decision::make_id(target, Reason::PortScan, 0),
        time: "2024-01-01T00:00:00.000000Z".into(),
        time_us: 0,
        target,
        action,
        limit: None,
        reason: Reason::PortScan,
        direction: Direction::Inbound,
        summary: "test".into(),
        evidence: Evidence {
            counter: "distinct ports on one host".into(),
            observed: 30,
            threshold: 20,
            window_secs: 10.0,
            example_flow_ids: vec![],
            detail: None,
            model: None,
            honeypot: None,
        },
        ttl,
        confidence: 0.9,
        dry_run: false,
    }
}

/// The elements in the sets; none when our table does not exist. Any other failure to
/// read them fails the test.
fn live(b: &Bed) -> Vec<LiveElement> {
    match Nft::new(config(&b.nft_admin)).list() {
        Ok(els) => els,
        Err(NftError::Missing(_)) => Vec::new(),
        Err(e) => panic!("cannot list the sets: {e}"),
    }
}

fn has(els: &[LiveElement], kind: SetKind, target: &str) -> Option<u64> {
    let t: Cidr = target.parse().unwrap();
    els.iter()
        .find(|e| e.kind == kind && e.target == t)
        .map(|e| e.expires_secs.unwrap_or(0))
}

const TARGETS: [(&str, Action, SetKind); 3] = [
    ("203.0.113.7", Action::Block, SetKind::Block),
    ("2001:db8::7", Action::Block, SetKind::Block),
    ("192.168.50.23", Action::Quarantine, SetKind::Quarantine),
];

#[test]
fn restart_keeps_elements_and_restores_a_wiped_ruleset_within_a_second() {
    let b = bed();
    let journal = b.dir.path().join("enforce.jsonl");
    let mut h = start(config(&b.nft), &journal);
    for (t, a, _) in TARGETS {
        h.submit(&decision(t, a, 60)).unwrap();
    }
    let all_in = |els: &[LiveElement]| TARGETS.iter().all(|&(t, _, k)| has(els, k, t).is_some());
    assert!(
        wait_for(Duration::from_secs(5), || all_in(&live(&b))).is_some(),
        "{:?}",
        live(&b)
    );
    let st = h.stop();
    assert_eq!(
        (st.received, st.applied, st.apply_errors),
        (3, 3, 0),
        "{st:?}"
    );

    // Stopped: the elements stay (the kernel expires them), so a restart has no gap.
    assert!(all_in(&live(&b)));
    let h = start(config(&b.nft), &journal);
    assert!(all_in(&live(&b)));
    drop(h);

    // The ruleset wiped (a reboot, a firewall reload): a new enforcer puts everything
    // back with the time it has left.
    b.lab.sh(&b.ns, "nft flush ruleset");
    assert!(live(&b).is_empty());
    let t0 = Instant::now();
    let h = start(config(&b.nft), &journal);
    let back = wait_for(Duration::from_secs(5), || all_in(&live(&b)));
    let back = back.expect("elements not restored");
    eprintln!("restored in {:?}", t0.elapsed());
    assert!(back <= Duration::from_secs(1), "restored after {back:?}");
    let els = live(&b);
    for (t, _, k) in TARGETS {
        let left = has(&els, k, t).unwrap();
        assert!((45..=60).contains(&left), "{t}: {left} s left");
    }
    let st = h.stop();
    assert_eq!(st.reapplies, 1);
}

#[test]
fn protected_targets_are_refused_and_never_reach_the_sets() {
    let b = bed();
    let mut h = start(config(&b.nft), &b.dir.path().join("enforce.jsonl"));
    for t in [
        "198.51.100.7",
        "192.168.50.1",
        "127.0.0.1",
        "255.255.255.255",
        "224.0.0.1",
    ] {
        h.submit(&decision(t, Action::Block, 60)).unwrap();
    }
    h.submit(&decision("203.0.113.9", Action::Block, 60))
        .unwrap();
    let st = h.stop();
    assert_eq!(st.refused_protected, 5, "{st:?}");
    let els = live(&b);
    assert_eq!(els.len(), 1, "{els:?}");
    assert!(has(&els, SetKind::Block, "203.0.113.9").is_some());
    // The allow sets hold the allowlist and own addresses, and are consulted first.
    let ruleset = b.lab.sh(&b.ns, "nft list table inet suriguard");
    assert!(
        ruleset.contains("elements = { 192.168.50.1, 198.51.100.0/24 }"),
        "{ruleset}"
    );
    let input = &ruleset[ruleset.find("chain sg_input").unwrap()..];
    assert!(input.find("@sg_allow4 accept").unwrap() < input.find("@sg_block4 drop").unwrap());
}

/// The allow sets' elements, as nft prints them.
fn allow_set(b: &Bed) -> String {
    b.lab.sh(&b.ns, "nft list set inet suriguard sg_allow4")
}

#[test]
fn the_enforcer_lifts_what_the_allowlist_file_now_protects() {
    let b = bed();
    let journal = b.dir.path().join("enforce.jsonl");
    let file = b.dir.path().join("allowlist.txt");
    let network = suriguard_net::NetworkConfig {
        home_networks: vec!["192.168.50.0/24".parse().unwrap()],
        allowlist: vec!["198.51.100.0/24".parse().unwrap()],
        allowlist_file: Some(file.clone()),
        own_addresses: vec!["192.168.50.1".parse().unwrap()],
    };
    let mut h = suriguard_enforce::start(EnforcerSetup {
        cfg: config(&b.nft),
        net: network.model(),
        network: Some(network),
        journal: journal.clone(),
    })
    .unwrap();
    for t in ["203.0.113.7", "203.0.113.8"] {
        h.submit(&decision(t, Action::Block, 600)).unwrap();
    }
    let both = |els: &[LiveElement]| {
        has(els, SetKind::Block, "203.0.113.7").is_some()
            && has(els, SetKind::Block, "203.0.113.8").is_some()
    };
    assert!(wait_for(Duration::from_secs(5), || both(&live(&b))).is_some());

    // Written by hand (not through suriguardctl): the enforcer notices on its own.
    std::fs::write(&file, "# partners\n203.0.113.7  # our partner\n").unwrap();
    let lifted = wait_for(Duration::from_secs(10), || {
        has(&live(&b), SetKind::Block, "203.0.113.7").is_none()
    });
    assert!(lifted.is_some(), "{:?}", live(&b));
    assert!(allow_set(&b).contains("203.0.113.7"), "{}", allow_set(&b));
    assert!(has(&live(&b), SetKind::Block, "203.0.113.8").is_some());
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.lines().any(|l| l.contains("\"delete\"")
            && l.contains("203.0.113.7")
            && l.contains("allowlist")),
        "{text}"
    );
    // Decided again (the plugin had not re-read the file yet): refused.
    h.submit(&decision("203.0.113.7", Action::Block, 600))
        .unwrap();
    let st = h.stop();
    assert_eq!(st.refused_protected, 1, "{st:?}");
    assert!(has(&live(&b), SetKind::Block, "203.0.113.7").is_none());
    // A restart keeps it lifted: the journal says deleted, the file says protected.
    let h = start(config(&b.nft), &journal);
    assert!(has(&live(&b), SetKind::Block, "203.0.113.7").is_none());
    assert!(has(&live(&b), SetKind::Block, "203.0.113.8").is_some());
    drop(h);
}

#[test]
fn spoofed_flood_through_suricata_fills_the_set_only_up_to_the_caps() {
    let b = bed();
    let pcap = b.dir.path().join("flood.pcap");
    scenarios::spoofed_syn_flood(&pcap).unwrap();
    let run = run_suricata(
        &pcap,
        &b.dir.path().join("logs"),
        &RunOptions {
            netns: Some(b.ns.clone()),
            config: format!(
                "[network]\nallowlist = [\"{}\"]\n[decisions]\nmax-per-minute = 5\nmax-active = 8\n[enforce]\nretry-secs = 1\n",
                scenarios::ALLOWLISTED_FLOODER
            ),
            ..Default::default()
        },
    );
    run.ran.assert_success();
    let els = live(&b);
    let stats = run.plugin_stats();
    let e: EnforceStats = stats.enforcement.clone().expect("enforcement counters");
    // Five enforcing decisions fit in the minute: blocks of real flooders, and maybe the
    // victim's rate limit on tcp/80 (when it came before the fifth flooder); never a
    // spoofed source.
    assert_eq!(els.len(), 5, "{els:?}\n{e:?}");
    for l in &els {
        match l.kind {
            SetKind::Block => assert!(l.target.to_string().starts_with("203.0.113."), "{l:?}"),
            SetKind::RateLimit => assert_eq!(
                (l.target.to_string(), l.limit.map(|x| x.to_string())),
                ("192.168.1.10".into(), Some("tcp/80".into()))
            ),
            _ => panic!("{l:?}"),
        }
    }
    assert!(has(&els, SetKind::Block, scenarios::ALLOWLISTED_FLOODER).is_none());
    assert_eq!((e.applied, e.apply_errors), (5, 0), "{e:?}");
    let gate = &stats.ingest.detect.as_ref().unwrap().gate;
    assert!(
        gate.refused_protected >= 1 && gate.rate_limited >= 5,
        "{gate:?}"
    );
    // The allowlisted flooder is in the allow set, ahead of the block rules.
    let allow = b.lab.sh(&b.ns, "nft list set inet suriguard sg_allow4");
    assert!(allow.contains(scenarios::ALLOWLISTED_FLOODER), "{allow}");
}

#[test]
fn table_deleted_behind_our_back_is_rebuilt_with_everything_in_force() {
    let b = bed();
    let mut h = start(config(&b.nft), &b.dir.path().join("enforce.jsonl"));
    h.submit(&decision("203.0.113.7", Action::Block, 60))
        .unwrap();
    assert!(wait_for(Duration::from_secs(5), || has(
        &live(&b),
        SetKind::Block,
        "203.0.113.7"
    )
    .is_some())
    .is_some());
    b.lab.sh(&b.ns, "nft delete table inet suriguard");
    let t0 = Instant::now();
    h.submit(&decision("203.0.113.8", Action::Block, 60))
        .unwrap();
    let both = wait_for(Duration::from_secs(5), || {
        let els = live(&b);
        has(&els, SetKind::Block, "203.0.113.7").is_some()
            && has(&els, SetKind::Block, "203.0.113.8").is_some()
    });
    assert!(both.is_some(), "{:?}", live(&b));
    eprintln!("rebuilt in {:?}", t0.elapsed());
    let st = h.stop();
    assert_eq!(st.reapplies, 2, "{st:?}"); // start-up, and after the deletion
}

/// nft failing, then working again: decisions arriving meanwhile are journaled, counted,
/// and applied on the next retry; the caller is never held up.
fn fails_then_recovers(
    b: &Bed,
    cfg: EnforceConfig,
    break_it: impl FnOnce(),
    fix_it: impl FnOnce(),
    expect: &str,
) {
    break_it();
    let journal = b.dir.path().join("enforce.jsonl");
    let (mut h, logs) = start_logged(cfg, &journal);
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    for (t, a, _) in TARGETS {
        h.submit(&decision(t, a, 60)).unwrap();
    }
    assert!(
        t0.elapsed() < Duration::from_millis(50),
        "enforce() waited {:?}",
        t0.elapsed()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(live(b).is_empty());
    let text = std::fs::read_to_string(&journal).unwrap();
    for (t, _, _) in TARGETS {
        assert!(
            text.contains(&format!("\"{t}\"")),
            "{t} not journaled:\n{text}"
        );
    }
    fix_it();
    let all = wait_for(Duration::from_secs(5), || {
        let els = live(b);
        TARGETS.iter().all(|&(t, _, k)| has(&els, k, t).is_some())
    });
    assert!(
        all.is_some(),
        "not applied after nft came back: {:?}",
        live(b)
    );
    let st = h.stop();
    assert!(st.apply_errors >= 1, "{st:?}");
    assert!(st.last_error.is_none(), "healthy again: {st:?}");
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter()
            .any(|l| l.contains(expect) && l.contains("journaled")),
        "no clear error mentioning {expect:?}: {logs:#?}"
    );
}

#[test]
fn nft_missing_then_installed() {
    let b = bed();
    let late = b.dir.path().join("later/nft");
    let cfg = EnforceConfig {
        nft: late.display().to_string(),
        ..config(&b.nft)
    };
    fails_then_recovers(
        &b,
        cfg,
        || {},
        || {
            std::fs::create_dir_all(late.parent().unwrap()).unwrap();
            std::fs::copy(&b.nft, &late).unwrap();
        },
        "cannot run",
    );
}

#[test]
fn permission_denied_then_granted() {
    let b = bed();
    let deny = b.dir.path().join("deny");
    fails_then_recovers(
        &b,
        config(&b.nft),
        || std::fs::write(&deny, "").unwrap(),
        || std::fs::remove_file(&deny).unwrap(),
        "permission denied",
    );
}

#[test]
fn suricata_runs_on_when_nft_cannot_be_run() {
    // No namespace needed: nft is never reached.
    let tmp = tempfile::tempdir().unwrap();
    let run = run_suricata(
        &suriguard_e2e::sv_pcap("firewall/tcp-session-syn-flood-drop-precedence/input.pcap"),
        &tmp.path().join("logs"),
        &RunOptions {
            // The capture's victim is in 198.51.100.0/24: make it home.
            config: "[network]\nhome-networks = [\"198.51.100.0/24\"]\n[enforce]\nnft = \"/nonexistent/nft\"\n".into(),
            ..Default::default()
        },
    );
    run.ran.assert_success();
    assert!(!run.decisions().is_empty(), "{}", run.ran);
    let stats = run.plugin_stats();
    assert!(stats.balanced(), "{stats:?}");
    let e = stats.enforcement.expect("enforcement counters");
    assert!(e.apply_errors >= 1 && e.applied == 0, "{e:?}");
    assert!(
        e.last_error
            .as_deref()
            .unwrap_or("")
            .contains("/nonexistent/nft"),
        "{e:?}"
    );
    let journal = std::fs::read_to_string(tmp.path().join("logs/enforce.jsonl")).unwrap();
    assert!(journal.contains("\"op\":\"add\""), "{journal}");
    assert!(
        run.ran.stderr().contains("/nonexistent/nft")
            || run.ran.stdout().contains("/nonexistent/nft"),
        "{}",
        run.ran
    );
}

fn ctl(b: &Bed, cfg: &Path, args: &[&str]) -> Ran {
    suriguard_e2e::ctl_in(&b.ns, cfg, args)
}

#[test]
fn suriguardctl_decisions_add_list_delete_flush() {
    let b = bed();
    let cfg = b.dir.path().join("suriguard.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = \"{}\"\n[network]\nhome-networks = [\"192.168.50.0/24\"]\nallowlist = [\"198.51.100.0/24\"]\nown-addresses = [\"192.168.50.1\"]\n",
            b.dir.path().display()
        ),
    )
    .unwrap();
    let ok = |args: &[&str]| ctl(&b, &cfg, args).assert_success().stdout();
    ok(&[
        "decisions",
        "add",
        "203.0.113.7",
        "--ttl",
        "10m",
        "--reason",
        "manual-test",
    ]);
    ok(&["decisions", "add", "2001:db8::7", "--ttl", "90"]);
    ok(&[
        "decisions",
        "add",
        "192.168.50.23",
        "--quarantine",
        "--ttl",
        "1h",
    ]);
    // A prefix replaces the addresses it covers.
    let out = ok(&["decisions", "add", "203.0.113.0/24", "--ttl", "1h"]);
    assert!(out.contains("replaced 203.0.113.7"), "{out}");
    for (target, why) in [
        ("198.51.100.9", "allowlisted"),
        ("192.168.50.1", "own or gateway address"),
        ("0.0.0.0/0", ""),
    ] {
        let o = ctl(&b, &cfg, &["decisions", "add", target]);
        let err = o.stderr();
        assert!(
            !o.success() && err.contains("refusing to block") && err.contains(why),
            "{target}: {o}"
        );
    }
    let rows = json(ctl(&b, &cfg, &["decisions", "list", "-o", "json"]).assert_success());
    let got: Vec<(String, String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().into(),
                r["action"].as_str().unwrap().into(),
                r["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("203.0.113.0/24".into(), "block".into(), "enforced".into()),
            ("2001:db8::7".into(), "block".into(), "enforced".into()),
            (
                "192.168.50.23".into(),
                "quarantine".into(),
                "enforced".into()
            ),
        ]
    );
    let left = rows[1]["expires_in"].as_u64().unwrap();
    assert!((80..=90).contains(&left), "{left}");
    ok(&["decisions", "delete", "2001:db8::7"]);
    assert!(has(&live(&b), SetKind::Block, "2001:db8::7").is_none());
    assert!(!ctl(&b, &cfg, &["decisions", "delete", "2001:db8::7"]).success());
    ok(&["decisions", "flush"]);
    assert!(live(&b).is_empty());
    assert!(ok(&["decisions", "list"]).contains("no decisions in force"));
    // The journal says the same after a restart of nothing: a restore brings back nothing.
    assert!(ok(&["firewall", "restore"]).contains("0 element(s)"));
    ok(&["firewall", "teardown"]);
    assert!(!b
        .lab
        .try_sh(&b.ns, "nft list table inet suriguard")
        .status
        .success());
}

#[test]
fn suriguardctl_allowlist_add_lifts_decisions_and_protects_from_new_ones() {
    let b = bed();
    let cfg = b.dir.path().join("suriguard.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = \"{}\"\n[network]\nhome-networks = [\"192.168.50.0/24\"]\nallowlist = [\"198.51.100.0/24\"]\n",
            b.dir.path().display()
        ),
    )
    .unwrap();
    let ok = |args: &[&str]| ctl(&b, &cfg, args).assert_success().stdout();
    ok(&["decisions", "add", "203.0.113.7", "--ttl", "1h"]);
    ok(&["decisions", "add", "203.0.113.9", "--ttl", "1h"]);
    ok(&["decisions", "add", "192.168.50.23", "--quarantine"]);
    // A /30 holding one of the blocks: that one is lifted, the other stays.
    let out = ok(&[
        "allowlist",
        "add",
        "203.0.113.4/30",
        "--note",
        "partner office",
    ]);
    assert!(out.contains("lifted block 203.0.113.7"), "{out}");
    let els = live(&b);
    assert!(
        has(&els, SetKind::Block, "203.0.113.7").is_none(),
        "{els:?}"
    );
    assert!(
        has(&els, SetKind::Block, "203.0.113.9").is_some(),
        "{els:?}"
    );
    assert!(
        allow_set(&b).contains("203.0.113.4/30"),
        "{}",
        allow_set(&b)
    );
    let o = ctl(&b, &cfg, &["decisions", "add", "203.0.113.6"]);
    assert!(!o.success() && o.stderr().contains("allowlisted"), "{o}");
    // A home device too (quarantine lifted).
    let out = ok(&["allowlist", "add", "192.168.50.23"]);
    assert!(out.contains("lifted quarantine 192.168.50.23"), "{out}");
    assert!(has(&live(&b), SetKind::Quarantine, "192.168.50.23").is_none());

    let list = json(ctl(&b, &cfg, &["allowlist", "list", "-o", "json"]).assert_success());
    let rows: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().into(),
                r["source"].as_str().unwrap().into(),
                r["note"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("198.51.100.0/24", "config")
    );
    assert_eq!(rows[1].0, "203.0.113.4/30");
    assert!(
        rows[1].2.starts_with("suriguardctl, 20") && rows[1].2.ends_with(": partner office"),
        "{rows:?}"
    );
    for (target, why) in [
        ("0.0.0.0/0", "wider than /8"),
        ("2001:db8::/16", "wider than /32"),
    ] {
        let o = ctl(&b, &cfg, &["allowlist", "add", target]);
        assert!(!o.success() && o.stderr().contains(why), "{target}: {o}");
    }
    let o = ctl(&b, &cfg, &["allowlist", "delete", "198.51.100.0/24"]);
    assert!(
        !o.success() && o.stderr().contains("[network] allowlist"),
        "{o}"
    );
    ok(&["allowlist", "delete", "203.0.113.4/30"]);
    assert!(!allow_set(&b).contains("203.0.113.4"), "{}", allow_set(&b));
    ok(&["decisions", "add", "203.0.113.6"]);
    assert!(has(&live(&b), SetKind::Block, "203.0.113.6").is_some());
}

#[test]
fn chains_in_an_existing_table_are_added_and_removed_without_touching_the_rest() {
    let b = bed();
    b.lab.sh(&b.ns, "nft add table inet filter && nft add chain inet filter theirs '{ type filter hook input priority 0; }' && nft add rule inet filter theirs tcp dport 22 accept");
    let cfg = EnforceConfig {
        table: "filter".into(),
        own_table: false,
        ..config(&b.nft)
    };
    let nft = Nft::new(cfg);
    nft.setup(&net().never_blocked()).unwrap();
    nft.setup(&net().never_blocked()).unwrap(); // idempotent: rules are not doubled
    let text = b.lab.sh(&b.ns, "nft list table inet filter");
    // input: saddr; forward: saddr and daddr — once each after two setups
    assert_eq!(text.matches("@sg_block4 drop").count(), 3, "{text}");
    assert!(text.contains("chain theirs"));
    nft.teardown().unwrap();
    let text = b.lab.sh(&b.ns, "nft list table inet filter");
    assert!(
        !text.contains("sg_") && text.contains("tcp dport 22 accept"),
        "{text}"
    );
}

/// Opens `n` TCP connections from `src` to `dst:port` in `ns` without waiting between
/// them (or `interval` seconds apart), then waits `window` seconds (less than the first
/// SYN retransmission, 1 s) for answers; nothing listens on the victim, so an answer is
/// its RST: the SYN reached it. Prints `sent answered seconds-to-send`.
const CONNECT_BURST: &str = r#"
import select, socket, sys, time
src, dst, port, n, window, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
socks = []
t0 = time.monotonic()
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.setblocking(False)
    s.connect_ex((dst, port))
    socks.append(s)
    if interval:
        time.sleep(interval)
sent = time.monotonic() - t0
p = select.poll()
for s in socks:
    p.register(s.fileno(), select.POLLOUT | select.POLLERR | select.POLLHUP)
answered = set()
deadline = time.monotonic() + window
while len(answered) < n:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    for fd, _ in p.poll(left * 1000):
        answered.add(fd)
        p.unregister(fd)
print(n, len(answered), "%.3f" % sent)
"#;

/// A client and a victim behind the bed's namespace, which routes between them: the
/// client holds an ordinary outside address and an allowlisted one; the victim counts
/// the SYNs reaching it on ports 80 and 22 (nft counters of its own).
struct Flood {
    client: String,
    victim: String,
    script: PathBuf,
}

const VICTIM: &str = "192.168.50.40";
const OUTSIDE: &str = "203.0.113.50";
const ALLOWLISTED: &str = "198.51.100.7";

fn flood_topology(b: &mut Bed) -> Flood {
    let client = b.lab.ns("c");
    let victim = b.lab.ns("v");
    b.lab.link(
        &client,
        "rlc0",
        &["203.0.113.50/24", "198.51.100.7/24"],
        &b.ns,
        "rlgc",
        &["203.0.113.1/24", "198.51.100.1/24"],
    );
    b.lab.link(
        &victim,
        "rlv0",
        &["192.168.50.40/24"],
        &b.ns,
        "rlgv",
        &["192.168.50.1/24"],
    );
    b.lab.sh(&client, "ip route add default via 203.0.113.1");
    b.lab.sh(&victim, "ip route add default via 192.168.50.1");
    b.lab.sh(&b.ns, "sysctl -qw net.ipv4.ip_forward=1");
    b.lab.sh(
        &victim,
        "nft add table inet count && nft add chain inet count syn '{ type filter hook input priority 0; }' \
         && nft add rule inet count syn tcp dport 80 'tcp flags & (syn | ack) == syn' counter \
         && nft add rule inet count syn tcp dport 22 'tcp flags & (syn | ack) == syn' counter",
    );
    let script = b.dir.path().join("burst.py");
    std::fs::write(&script, CONNECT_BURST).unwrap();
    Flood {
        client,
        victim,
        script,
    }
}

/// What one burst gave: connections attempted, answered by the victim, SYNs its counter
/// saw, seconds the client took to send them.
#[derive(Debug)]
struct Burst {
    sent: u64,
    answered: u64,
    reached: u64,
    send_secs: f64,
}

impl Flood {
    /// SYNs the victim has counted on `port` so far.
    fn syns(&self, b: &Bed, port: u16) -> u64 {
        let text = b.lab.sh(&self.victim, "nft list chain inet count syn");
        let line = text
            .lines()
            .find(|l| l.contains(&format!("dport {port} ")))
            .unwrap_or_else(|| panic!("no counter for {port}: {text}"));
        let after = line.split("counter packets ").nth(1).unwrap();
        after.split_whitespace().next().unwrap().parse().unwrap()
    }

    fn burst(&self, b: &Bed, src: &str, port: u16, n: u32, interval: f64) -> Burst {
        let before = self.syns(b, port);
        let out = b.lab.sh(
            &self.client,
            &format!(
                "python3 {} {src} {VICTIM} {port} {n} 0.6 {interval}",
                self.script.display()
            ),
        );
        let f: Vec<&str> = out.split_whitespace().collect();
        let r = Burst {
            sent: f[0].parse().unwrap(),
            answered: f[1].parse().unwrap(),
            reached: self.syns(b, port) - before,
            send_secs: f[2].parse().unwrap(),
        };
        eprintln!("{src} -> {VICTIM}:{port}: {r:?}");
        r
    }
}

fn rate_limit(target: &str, proto: L4, port: u16, ttl: u64) -> Decision {
    let mut d = decision(target, Action::RateLimit, ttl);
    d.reason = Reason::FloodTarget;
    d.id = Decision::make_id(d.target, Reason::FloodTarget, 0);
    d.limit = Some(Limit { proto, port });
    d
}

fn rate_limited(els: &[LiveElement], target: &str, limit: &str) -> Option<u64> {
    let t: Cidr = target.parse().unwrap();
    els.iter()
        .find(|e| {
            e.kind == SetKind::RateLimit
                && e.target == t
                && e.limit.map(|l| l.to_string()).as_deref() == Some(limit)
        })
        .map(|e| e.expires_secs.unwrap_or(0))
}

/// A flooded victim's service rate-limited in the real kernel: the element holds the
/// decision's ttl; of a burst of new connections only about `burst` reach the victim, while another port, an allowlisted source and connections below the rate all
/// pass; a restart over a wiped ruleset (setup + restore from the journal) brings the
/// element and the limit back, and `suriguardctl decisions delete` lifts it.
#[test]
fn a_rate_limit_drops_new_connections_above_the_rate_and_survives_a_restart() {
    let mut b = bed();
    let f = flood_topology(&mut b);
    let journal = b.dir.path().join("enforce.jsonl");
    let cfg = EnforceConfig {
        rate_limit: RateLimitConfig {
            per_second: 10,
            burst: 20,
        },
        ..config(&b.nft)
    };
    // Nothing limited yet: a burst reaches the victim whole.
    let free = f.burst(&b, OUTSIDE, 80, 100, 0.0);
    assert_eq!((free.answered, free.reached), (100, 100), "{free:?}");

    let mut h = start(cfg.clone(), &journal);
    h.submit(&rate_limit(VICTIM, L4::Tcp, 80, 120)).unwrap();
    h.submit(&rate_limit("fd50::40", L4::Udp, 5000, 120))
        .unwrap();
    let both = wait_for(Duration::from_secs(5), || {
        let els = live(&b);
        rate_limited(&els, VICTIM, "tcp/80").is_some()
            && rate_limited(&els, "fd50::40", "udp/5000").is_some()
    });
    assert!(both.is_some(), "{:?}", live(&b));
    let left = rate_limited(&live(&b), VICTIM, "tcp/80").unwrap();
    assert!(
        (110..=120).contains(&left),
        "the element's timeout: {left} s left"
    );

    // Above the rate: the kernel lets the burst through at once, then the rate (over
    // the time the burst took to send); the rest is dropped.
    let most = |r: &Burst| 20 + (10.0 * r.send_secs).ceil() as u64 + 2;
    let limited = f.burst(&b, OUTSIDE, 80, 200, 0.0);
    assert_eq!(limited.answered, limited.reached, "{limited:?}");
    assert!(
        (20..=most(&limited)).contains(&limited.reached),
        "{} of {} new connections reached the victim: {limited:?}",
        limited.reached,
        limited.sent
    );
    // Another port of the victim is not limited...
    let other = f.burst(&b, OUTSIDE, 22, 100, 0.0);
    assert_eq!((other.answered, other.reached), (100, 100), "{other:?}");
    // ...nor is an allowlisted source (accepted before the rate-limit rule).
    let allowed = f.burst(&b, ALLOWLISTED, 80, 100, 0.0);
    assert_eq!(
        (allowed.answered, allowed.reached),
        (100, 100),
        "{allowed:?}"
    );
    // Below the rate (4 a second against 10), after the bucket refilled: all pass.
    std::thread::sleep(Duration::from_secs(3));
    let slow = f.burst(&b, OUTSIDE, 80, 12, 0.25);
    assert_eq!((slow.answered, slow.reached), (12, 12), "{slow:?}");
    let st = h.stop();
    assert_eq!((st.applied, st.apply_errors), (2, 0), "{st:?}");

    // A restart with the ruleset wiped: setup + restore from the journal put the element
    // back with the time it has left, and the limit works again.
    b.lab.sh(&b.ns, "nft flush ruleset");
    assert!(live(&b).is_empty());
    let h = start(cfg.clone(), &journal);
    let back = wait_for(Duration::from_secs(5), || {
        rate_limited(&live(&b), VICTIM, "tcp/80").is_some()
    });
    assert!(back.is_some(), "not restored: {:?}", live(&b));
    let els = live(&b);
    let left = rate_limited(&els, VICTIM, "tcp/80").unwrap();
    assert!(
        (90..=118).contains(&left),
        "{left} s left after the restart"
    );
    assert!(
        rate_limited(&els, "fd50::40", "udp/5000").is_some(),
        "{els:?}"
    );
    drop(h);
    std::thread::sleep(Duration::from_secs(3)); // the meter was re-created: full bucket
    let again = f.burst(&b, OUTSIDE, 80, 200, 0.0);
    assert!(
        (20..=most(&again)).contains(&again.reached),
        "after the restart: {again:?}"
    );
    // Setup again without a wipe (a plain restart) keeps the element.
    Nft::new(cfg.clone()).setup(&net().never_blocked()).unwrap();
    assert!(rate_limited(&live(&b), VICTIM, "tcp/80").is_some());

    // suriguardctl shows the rate limits with their service and lifts them.
    let ctl_cfg = b.dir.path().join("suriguard.toml");
    std::fs::write(
        &ctl_cfg,
        format!(
            "state-dir = \"{}\"\n[network]\nhome-networks = [\"192.168.50.0/24\", \"fd50::/64\"]\nallowlist = [\"198.51.100.0/24\"]\nown-addresses = [\"192.168.50.1\"]\n",
            b.dir.path().display()
        ),
    )
    .unwrap();
    let rows = json(ctl(&b, &ctl_cfg, &["decisions", "list", "-o", "json"]).assert_success());
    let got: Vec<(String, String, serde_json::Value, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().into(),
                r["action"].as_str().unwrap().into(),
                r["limit"].clone(),
                r["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                VICTIM.into(),
                "rate-limit".into(),
                serde_json::json!({"proto": "tcp", "port": 80}),
                "enforced".into()
            ),
            (
                "fd50::40".into(),
                "rate-limit".into(),
                serde_json::json!({"proto": "udp", "port": 5000}),
                "enforced".into()
            ),
        ]
    );
    let table = ctl(&b, &ctl_cfg, &["decisions", "list"])
        .assert_success()
        .stdout();
    assert!(table.contains("rate-limit tcp/80"), "{table}");
    let out = ctl(&b, &ctl_cfg, &["decisions", "delete", VICTIM])
        .assert_success()
        .stdout();
    assert!(out.contains("rate-limit tcp/80"), "{out}");
    assert!(rate_limited(&live(&b), VICTIM, "tcp/80").is_none());
    let free = f.burst(&b, OUTSIDE, 80, 100, 0.0);
    assert_eq!((free.answered, free.reached), (100, 100), "{free:?}");
    // The journal agrees: a restore brings back only the IPv6 one.
    assert!(ctl(&b, &ctl_cfg, &["firewall", "restore"])
        .assert_success()
        .stdout()
        .contains("1 element(s)"));
}
