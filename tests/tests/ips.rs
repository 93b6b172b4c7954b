//! The golden end-to-end IPS test: real Suricata with the plugin, capturing with
//! af-packet inside a gateway namespace that routes between an attacker, a benign client
//! and a home device, and real nftables in that namespace.
//!
//! ```text
//!   attacker  203.0.113.2 / 2001:db8:a::2 ──ga┐
//!                                            gateway (Suricata on gh, nftables)
//!   client    198.51.100.2 / 2001:db8:b::2 ──gb┘   └gh── home 192.168.50.2 / fd50::2
//! ```
//!
//! The attacker scans the home device; its address must land in the block set, its
//! connects and pings must then fail while the client's still work, and once the ttl has
//! run out the element must be gone and the attacker's traffic flow again. Then the same
//! over IPv6. On Suricata 7.0 (the host) and 8.0 (the Debian 13 root).
//!
//! The plugin writes eve.json meanwhile; between the scans it is moved away twice, as
//! logrotate does: once without a signal (noticed by the writer), once followed by
//! SIGHUP (Suricata's rotation flag). Later records land in the new file, none is lost.
//!
//! While the attacker is blocked, the plugin's stats file (rewritten every second) says
//! so, and `suriguardctl metrics` exports the same counters in Prometheus' text format,
//! read back by a parser that is not ours; after the stop, the final counters again.

use std::path::Path;
use std::time::Duration;

use suriguard_e2e::netns::{wait_for, Lab};
use suriguard_e2e::prom::Metrics;
use suriguard_e2e::{ctl, eve_counts, minimal_config, plugin_path, Suricata};
use suriguard_guard::PluginStats;

const TTL: u64 = 6;

struct Topology {
    lab: Lab,
    /// The nft of the Suricata under test.
    nft: String,
    attacker: String,
    client: String,
    gateway: String,
    home: String,
}

fn topology(suricata: Suricata) -> Topology {
    let mut lab = Lab::new();
    let attacker = lab.ns("a");
    let client = lab.ns("b");
    let gateway = lab.ns("g");
    let home = lab.ns("h");
    lab.link(
        &attacker,
        "a0",
        &["203.0.113.2/24", "2001:db8:a::2/64"],
        &gateway,
        "ga",
        &["203.0.113.1/24", "2001:db8:a::1/64"],
    );
    lab.link(
        &client,
        "b0",
        &["198.51.100.2/24", "2001:db8:b::2/64"],
        &gateway,
        "gb",
        &["198.51.100.1/24", "2001:db8:b::1/64"],
    );
    lab.link(
        &home,
        "h0",
        &["192.168.50.2/24", "fd50::2/64"],
        &gateway,
        "gh",
        &["192.168.50.1/24", "fd50::1/64"],
    );
    for (ns, gw4, gw6) in [
        (&attacker, "203.0.113.1", "2001:db8:a::1"),
        (&client, "198.51.100.1", "2001:db8:b::1"),
        (&home, "192.168.50.1", "fd50::1"),
    ] {
        lab.sh(
            ns,
            &format!("ip route add default via {gw4} && ip -6 route add default via {gw6}"),
        );
    }
    lab.sh(
        &gateway,
        "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1",
    );
    Topology {
        lab,
        nft: suricata.nft(),
        attacker,
        client,
        gateway,
        home,
    }
}

fn suriguard_toml(dir: &Path) -> String {
    format!(
        r#"state-dir = "{}"
[network]
home-networks = ["192.168.50.0/24", "fd50::/64"]
own-addresses = ["192.168.50.1", "203.0.113.1", "198.51.100.1", "fd50::1", "2001:db8:a::1", "2001:db8:b::1"]
[detect]
port-scan = {{ window = 10, threshold = 15 }}
[decisions]
ttl = {TTL}
[enforce]
table = "suriguard"
"#,
        dir.display()
    )
}

/// Starts Suricata in the gateway namespace, capturing on the home-side interface; waits
/// until the engine runs and the plugin's table exists.
fn start_suricata(t: &mut Topology, dir: &Path, suricata: Suricata) -> u32 {
    let cfg = dir.join("suriguard.toml");
    std::fs::write(&cfg, suriguard_toml(dir)).unwrap();
    let log = dir.join("suricata.out");
    let args: Vec<String> = vec![
        "-c".into(),
        minimal_config().display().to_string(),
        "-l".into(),
        dir.display().to_string(),
        "--af-packet=gh".into(),
        "-k".into(),
        "none".into(),
        "-S".into(),
        "/dev/null".into(),
        "--set".into(),
        format!("plugins.0={}", plugin_path().display()),
        "--set".into(),
        format!("outputs.1.eve-log.suriguard.config={}", cfg.display()),
        "--set".into(),
        format!(
            "outputs.1.eve-log.suriguard.stats-file={}",
            dir.join("stats.json").display()
        ),
        "--set".into(),
        "outputs.1.eve-log.suriguard.stats-interval=1".into(),
        // Flows are logged when they time out: keep that short for scans (closed by RST)
        // and unanswered SYNs.
        "--set".into(),
        "flow-timeouts.tcp.new=2".into(),
        "--set".into(),
        "flow-timeouts.tcp.emergency-new=1".into(),
        "--set".into(),
        "flow-timeouts.tcp.closed=0".into(),
        "--set".into(),
        "flow-timeouts.tcp.emergency-closed=0".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gw = t.gateway.clone();
    let program = suricata.program();
    let pid = t.lab.spawn(&gw, program.to_str().unwrap(), &args, &log);
    let ready = wait_for(Duration::from_secs(30), || {
        // suricata.log is written line by line (the console copy is buffered).
        std::fs::read_to_string(dir.join("suricata.log"))
            .is_ok_and(|s| s.contains("Engine started"))
            && t.lab
                .try_sh(
                    &gw,
                    &format!("{} list set inet suriguard sg_block4", suricata.nft()),
                )
                .status
                .success()
    });
    assert!(
        ready.is_some(),
        "Suricata did not start:\n{}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default(),
        std::fs::read_to_string(dir.join("suricata.log")).unwrap_or_default()
    );
    pid
}

fn in_block_set(t: &Topology, addr: &str) -> bool {
    let set = if addr.contains(':') {
        "sg_block6"
    } else {
        "sg_block4"
    };
    let out = t.lab.try_sh(
        &t.gateway,
        &format!("{} -j list set inet suriguard {set}", t.nft),
    );
    assert!(
        out.status.success(),
        "nft list set: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|o| o["set"]["elem"].as_array().cloned().unwrap_or_default())
        .any(|e| e["elem"]["val"].as_str() == Some(addr))
}

/// One scan, blocked, lifted after the ttl; `home`, `attacker_addr` are of one family.
fn scan_block_and_expire(t: &mut Topology, dir: &Path, attacker_addr: &str, home: &str) {
    // Before: everyone reaches the home device's service.
    assert!(
        t.lab.tcp_connects(&t.attacker, home, 8080, 2.0),
        "attacker → home before the scan"
    );
    assert!(
        t.lab.pings(&t.attacker, home),
        "attacker pings home before the scan"
    );
    assert!(
        t.lab.tcp_connects(&t.client, home, 8080, 2.0),
        "client → home before the scan"
    );

    // A bounded scan: 40 closed ports, each connect answered by RST or given up after
    // 0.3 s once the block lands.
    let scan = format!(
        "python3 -c 'import socket\nfor p in range(2000, 2040):\n    s = socket.socket(socket.AF_INET6 if \":\" in \"{home}\" else socket.AF_INET)\n    s.settimeout(0.3)\n    try: s.connect((\"{home}\", p))\n    except OSError: pass\n    s.close()'"
    );
    let attacker = t.attacker.clone();
    let scan_log = dir.join(format!("scan-{}.log", attacker_addr.replace(':', "_")));
    t.lab.spawn(&attacker, "sh", &["-c", &scan], &scan_log);

    let took = wait_for(Duration::from_secs(30), || in_block_set(t, attacker_addr));
    assert!(
        took.is_some(),
        "{attacker_addr} never reached the block set; decisions: {}",
        std::fs::read_to_string(dir.join("decisions.jsonl")).unwrap_or_default()
    );
    eprintln!(
        "{attacker_addr} blocked {:?} after the scan started",
        took.unwrap()
    );

    assert!(
        !t.lab.tcp_connects(&t.attacker, home, 8080, 1.0),
        "attacker connects while blocked"
    );
    assert!(
        !t.lab.pings(&t.attacker, home),
        "attacker pings while blocked"
    );
    assert!(
        t.lab.tcp_connects(&t.client, home, 8080, 2.0),
        "client cut off by the attacker's block"
    );
    assert!(
        t.lab.pings(&t.client, home),
        "client's ping cut off by the attacker's block"
    );
    live_counters(dir);

    // The kernel lifts it when the ttl runs out.
    let gone = wait_for(Duration::from_secs(TTL + 10), || {
        !in_block_set(t, attacker_addr)
    });
    assert!(
        gone.is_some(),
        "{attacker_addr} still blocked long after its ttl"
    );
    assert!(
        t.lab.tcp_connects(&t.attacker, home, 8080, 2.0),
        "attacker still cut off after the ttl"
    );
}

#[test]
fn scan_is_blocked_in_nftables_and_lifted_after_the_ttl_ipv4_and_ipv6_on_suricata_7() {
    scan_is_blocked_and_lifted(Suricata::V7);
}

#[test]
fn scan_is_blocked_in_nftables_and_lifted_after_the_ttl_ipv4_and_ipv6_on_suricata_8() {
    scan_is_blocked_and_lifted(Suricata::V8);
}

/// The stats file a running plugin publishes, and `suriguardctl metrics` on it.
fn stats_and_metrics(dir: &Path, stats: &Path) -> (PluginStats, Metrics) {
    let text = std::fs::read_to_string(stats).unwrap();
    let st: PluginStats = serde_json::from_str(&text).unwrap();
    let frozen = dir.join("stats-frozen.json");
    std::fs::write(&frozen, text).unwrap();
    let cfg = dir.join("suriguard.toml");
    let ran = ctl(
        &cfg,
        &["metrics", "--stats-file", frozen.to_str().unwrap()],
        &[],
    );
    ran.assert_success();
    (st, Metrics::parse(&ran.stdout()))
}

/// While an element is in force: the published counters show it within two intervals,
/// and /metrics says what they say.
fn live_counters(dir: &Path) {
    let stats = dir.join("stats.json");
    let published = wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&stats)
            .ok()
            .and_then(|t| serde_json::from_str::<PluginStats>(&t).ok())
            .is_some_and(|s| {
                s.running
                    && s.enforcement
                        .as_ref()
                        .is_some_and(|e| e.in_force >= 1 && e.healthy)
            })
    });
    assert!(
        published.is_some(),
        "no running stats with an element in force: {}",
        std::fs::read_to_string(&stats).unwrap_or_default()
    );
    let (st, m) = stats_and_metrics(dir, &stats);
    m.assert_matches_plugin(&st);
    // The running plugin's own heap: its queue's slots alone are more than 64 KiB.
    assert!(
        st.heap.bytes > 64 << 10 && st.heap.peak_bytes >= st.heap.bytes,
        "{:?}",
        st.heap
    );
    assert!(m.get("suriguard_enforce_elements", &[]) >= 1.0);
    assert!(m.get("suriguard_in_force", &[("set", "block")]) >= 1.0);
    let decided: f64 =
        m.0.samples
            .iter()
            .filter(|s| s.metric == "suriguard_decisions_total")
            .filter_map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => Some(v),
                _ => None,
            })
            .sum();
    assert!(decided >= 1.0, "no decision in suriguard_decisions_total");
}

fn lines(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .count() as u64
}

fn scan_is_blocked_and_lifted(suricata: Suricata) {
    let mut t = topology(suricata);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let home = t.home.clone();
    t.lab.spawn(
        &home,
        "python3",
        &["-m", "http.server", "8080", "--bind", "::"],
        &dir.join("http.log"),
    );
    assert!(
        wait_for(Duration::from_secs(10), || t.lab.tcp_connects(
            &home,
            "127.0.0.1",
            8080,
            1.0
        ))
        .is_some(),
        "home service did not start"
    );
    let pid = start_suricata(&mut t, &dir, suricata);
    let eve = dir.join("eve.json");

    scan_block_and_expire(&mut t, &dir, "203.0.113.2", "192.168.50.2");
    // Once the kernel lifted it, the published gauge says so too (the enforcer
    // republishes every 5 s, the plugin writes every second). On 7.0 the scan's last flow
    // records come after the first block expired and block the scanner once more, for
    // one more ttl: the gauge shows that element, then 0.
    let stats = dir.join("stats.json");
    let cleared = wait_for(Duration::from_secs(2 * TTL + 12), || {
        std::fs::read_to_string(&stats)
            .ok()
            .and_then(|t| serde_json::from_str::<PluginStats>(&t).ok())
            .is_some_and(|s| s.enforcement.is_some_and(|e| e.in_force == 0))
    });
    assert!(
        cleared.is_some(),
        "{suricata}: elements in force not back to 0 after the ttl: {}\n{}",
        std::fs::read_to_string(&stats).unwrap_or_default(),
        std::fs::read_to_string(dir.join("decisions.jsonl")).unwrap_or_default()
    );
    // logrotate without a signal: the writer notices the path names another file.
    std::fs::rename(&eve, dir.join("eve.json.1")).unwrap();
    let recreated = wait_for(Duration::from_secs(5), || eve.exists());
    assert!(
        recreated.is_some(),
        "{suricata}: eve.json not created again after a move"
    );
    scan_block_and_expire(&mut t, &dir, "2001:db8:a::2", "fd50::2");
    // logrotate with `postrotate kill -HUP`: Suricata raises the rotation flag.
    std::fs::rename(&eve, dir.join("eve.json.2")).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status();
    let recreated = wait_for(Duration::from_secs(5), || eve.exists());
    assert!(
        recreated.is_some(),
        "{suricata}: eve.json not created again after SIGHUP"
    );
    // One more flow after the second rotation.
    assert!(t.lab.tcp_connects(&t.client, "192.168.50.2", 8080, 2.0));

    let status = t.lab.stop(pid, Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "{suricata} did not stop cleanly: {status:?}"
    );
    let stats: PluginStats =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap();
    let e = stats.enforcement.clone().expect("enforcement counters");
    assert!(e.applied >= 2 && e.apply_errors == 0, "{e:?}");
    assert_eq!(e.refused_protected, 0, "{e:?}");
    // The journal recorded both decisions with their targets.
    let journal = std::fs::read_to_string(dir.join("enforce.jsonl")).unwrap();
    assert!(
        journal.contains("\"203.0.113.2\"") && journal.contains("\"2001:db8:a::2\""),
        "{journal}"
    );
    // Stopping Suricata leaves the table in place (no gap across a restart).
    assert!(t
        .lab
        .try_sh(&t.gateway, &format!("{} list table inet suriguard", t.nft))
        .status
        .success());

    // eve.json across two rotations: every record in exactly one of the three files.
    let w = stats.eve_file.clone().expect("eve-file counters");
    let files = ["eve.json.1", "eve.json.2", "eve.json"].map(|f| dir.join(f));
    let per_file = files.clone().map(|f| lines(&f));
    assert!(per_file.iter().all(|&n| n > 0), "{suricata}: {per_file:?}");
    assert_eq!(per_file.iter().sum::<u64>(), w.written, "{suricata}: {w:?}");
    assert_eq!((w.lost, w.errors, w.dropped_queue_full), (0, 0, 0), "{w:?}");
    assert!(w.reopened >= 2, "{suricata}: {w:?}");
    // The second reopening came from Suricata's rotation flag, not the path check.
    let log = std::fs::read_to_string(dir.join("suricata.log")).unwrap();
    assert!(
        log.contains("reopened on Suricata's request"),
        "{suricata}: SIGHUP did not reach the writer:\n{log}"
    );
    let mut all = std::collections::BTreeMap::new();
    for f in &files {
        for (k, n) in eve_counts(f) {
            *all.entry(k).or_insert(0) += n;
        }
    }
    assert_eq!(stats.by_type(), all, "{suricata}");
    // The second scan (IPv6) is in the file written after the first move.
    let second = std::fs::read_to_string(&files[1]).unwrap();
    assert!(
        second.contains("2001:0db8:000a:0000:0000:0000:0000:0002")
            || second.contains("2001:db8:a::2"),
        "{suricata}: no IPv6 scan in eve.json.2"
    );
    assert!(stats.balanced(), "{stats:?}");
    // The final counters, and /metrics on them.
    assert!(!stats.running, "{stats:?}");
    let (st, m) = stats_and_metrics(&dir, &dir.join("stats.json"));
    m.assert_matches_plugin(&st);
}
