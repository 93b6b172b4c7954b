//! A bounded soak: real Suricata with the plugin capturing (af-packet) in a gateway
//! namespace with real nftables, for `SURIGUARD_SOAK_SECS` seconds (90 in `make test`,
//! 1,800 with `make soak`), while real tools run around it:
//!
//! - a home web server (Python's http.server) and a benign client fetching from it twice
//!   a second with curl;
//! - an attacker scanning the home host with nmap every 20 s: each scan must be decided
//!   and blocked, the block expires after 8 s, and the next scan is blocked again;
//! - an allowlisted partner that scans the home host with nmap every 30 s: never blocked;
//! - `suriguardctl run --follow` taking alerts and decisions into the store, and
//!   `rulesync run` against a local feed every 45 s.
//!
//! Every 2 s it samples the resident size and open files of Suricata and of the
//! suriguardctl loop, and the journals' sizes. At the end: no record lost between the
//! plugin and eve.json, every scan round decided, the partner never in a set, open files
//! flat, the enforcement journal small, and resident size flat after warm-up (the slope is
//! reported; in runs of ten minutes or more it must stay under 1 MB a minute). The report
//! is written to target/soak/report.md.

use std::path::Path;
use std::time::{Duration, Instant};

use suriguard_e2e::netns::{wait_for, Lab};
use suriguard_e2e::{bin, minimal_config, plugin_path, workspace_root};
use suriguard_guard::PluginStats;

const ATTACKER: &str = "203.0.113.2";
const PARTNER: &str = "203.0.113.3";
const HOME: &str = "192.168.50.2";

fn soak_secs() -> u64 {
    std::env::var("SURIGUARD_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(90)
}

/// Resident size (KB) and open descriptors of a process; `None` once it is gone.
fn sample(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}

/// One sample: seconds since the start, Suricata's RSS (KB) and open files, the intake
/// loop's RSS and open files, the enforcement journal's size.
#[derive(Clone, Copy)]
struct Sample {
    at: f64,
    suricata_rss: u64,
    suricata_fds: usize,
    intake_rss: u64,
    intake_fds: usize,
    journal: u64,
    /// The plugin's own heap from its running stats (bytes), if published yet.
    heap: Option<u64>,
}

/// Least-squares slope of `ys` over `xs`.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var
    }
}

/// Whether `addr` is in a block or quarantine set (the allow set holds the partner).
fn blocked(lab: &Lab, ns: &str, addr: &str) -> bool {
    ["sg_block4", "sg_blocknet4", "sg_quarantine4"]
        .iter()
        .any(|set| {
            String::from_utf8_lossy(
                &lab.try_sh(ns, &format!("nft list set inet suriguard {set}"))
                    .stdout,
            )
            .contains(addr)
        })
}

#[test]
fn soak_under_recurring_attacks_stays_flat_and_loses_nothing() {
    let secs = soak_secs();
    let mut lab = Lab::new();
    let attacker = lab.ns("a");
    let client = lab.ns("b");
    let gateway = lab.ns("g");
    let home = lab.ns("h");
    lab.link(
        &attacker,
        "a0",
        &["203.0.113.2/24", "203.0.113.3/24"],
        &gateway,
        "ga",
        &["203.0.113.1/24"],
    );
    lab.link(
        &client,
        "b0",
        &["198.51.100.2/24"],
        &gateway,
        "gb",
        &["198.51.100.1/24"],
    );
    lab.link(
        &home,
        "h0",
        &["192.168.50.2/24"],
        &gateway,
        "gh",
        &["192.168.50.1/24"],
    );
    for (ns, gw) in [
        (&attacker, "203.0.113.1"),
        (&client, "198.51.100.1"),
        (&home, "192.168.50.1"),
    ] {
        lab.sh(ns, &format!("ip route add default via {gw}"));
    }
    lab.sh(&gateway, "sysctl -qw net.ipv4.ip_forward=1");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = dir.join("suriguard.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = {:?}\n[network]\nhome-networks = [\"192.168.50.0/24\"]\nallowlist = [\"{PARTNER}\"]\nown-addresses = [\"192.168.50.1\", \"203.0.113.1\", \"198.51.100.1\"]\n[detect]\nport-scan = {{ window = 10, threshold = 15 }}\n[decisions]\nttl = 8\n[enforce]\ntable = \"suriguard\"\n[alerts]\neve = {:?}\n",
            dir.display().to_string(),
            dir.join("eve.json").display().to_string()
        ),
    )
    .unwrap();
    // A local feed for rulesync (compiled, never loaded into this Suricata).
    let feed = dir.join("feed.txt");
    std::fs::write(&feed, "198.18.0.1\n198.18.0.2\nbad.example\n").unwrap();
    let rs_cfg = dir.join("rulesync.toml");
    std::fs::write(
        &rs_cfg,
        format!(
            "state-dir = {:?}\noutput-dir = {:?}\n[[source]]\nname = \"local\"\ntype = \"text\"\npath = {:?}\n",
            dir.join("rulesync").display().to_string(),
            dir.join("datasets").display().to_string(),
            feed.display().to_string()
        ),
    )
    .unwrap();

    // The home web server, Suricata on the home side of the gateway.
    let web = lab.spawn(
        &home,
        "/usr/bin/python3",
        &["-m", "http.server", "80", "--bind", HOME],
        &dir.join("web.log"),
    );
    let suricata_args: Vec<String> = vec![
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
        "outputs.1.eve-log.suriguard.stats-interval=2".into(),
        "--set".into(),
        "flow-timeouts.tcp.new=2".into(),
        "--set".into(),
        "flow-timeouts.tcp.closed=0".into(),
        "--set".into(),
        "flow-timeouts.tcp.established=5".into(),
    ];
    let args: Vec<&str> = suricata_args.iter().map(String::as_str).collect();
    let suricata = lab.spawn(&gateway, "suricata", &args, &dir.join("suricata.out"));
    let ready = wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(dir.join("suricata.log"))
            .is_ok_and(|s| s.contains("Engine started"))
    });
    assert!(
        ready.is_some(),
        "{}",
        std::fs::read_to_string(dir.join("suricata.out")).unwrap_or_default()
    );
    let ctl_bin = bin("suriguardctl");
    let intake = lab.spawn(
        &gateway,
        ctl_bin.to_str().unwrap(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--follow",
            "--interval",
            "5",
        ],
        &dir.join("intake.log"),
    );
    // The benign client: twice a second, for the whole soak.
    let client_loop = lab.spawn(
        &client,
        "sh",
        &[
            "-c",
            &format!("while true; do curl -s -o /dev/null -m 2 http://{HOME}/; sleep 0.5; done"),
        ],
        &dir.join("client.log"),
    );

    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(secs);
    let (mut next_scan, mut next_partner, mut next_rulesync) =
        (t0, t0 + Duration::from_secs(10), t0);
    let mut rounds = 0u32;
    let mut partner_rounds = 0u32;
    let mut rulesync_runs = 0u32;
    let mut partner_blocked = 0u32;
    let mut samples: Vec<Sample> = Vec::new();
    let mut next_sample = t0;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_scan {
            // A real SYN scan of 200 ports; decided within the window, blocked 8 s.
            lab.try_sh(
                &attacker,
                &format!("nmap -sS -Pn -n -T4 -p 1-200 -S {ATTACKER} -e a0 --max-retries 0 {HOME} >/dev/null 2>&1"),
            );
            rounds += 1;
            next_scan = now + Duration::from_secs(20);
        }
        if now >= next_partner {
            lab.try_sh(
                &attacker,
                &format!("nmap -sS -Pn -n -T4 -p 1-200 -S {PARTNER} -e a0 --max-retries 0 {HOME} >/dev/null 2>&1"),
            );
            partner_rounds += 1;
            next_partner = now + Duration::from_secs(30);
        }
        if now >= next_rulesync {
            let out = std::process::Command::new(bin("rulesync"))
                .arg("-c")
                .arg(&rs_cfg)
                .args(["run", "--dry-run"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "rulesync: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            rulesync_runs += 1;
            next_rulesync = now + Duration::from_secs(45);
        }
        if now >= next_sample {
            if blocked(&lab, &gateway, PARTNER) {
                partner_blocked += 1;
            }
            let (s_rss, s_fds) = sample(suricata).expect("Suricata died");
            let (c_rss, c_fds) = sample(intake).expect("the intake loop died");
            let journal = std::fs::metadata(dir.join("enforce.jsonl")).map_or(0, |m| m.len());
            let heap = std::fs::read_to_string(dir.join("stats.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<PluginStats>(&t).ok())
                .filter(|st| st.running && st.heap.peak_bytes > 0)
                .map(|st| st.heap.bytes);
            samples.push(Sample {
                at: t0.elapsed().as_secs_f64(),
                suricata_rss: s_rss,
                suricata_fds: s_fds,
                intake_rss: c_rss,
                intake_fds: c_fds,
                journal,
                heap,
            });
            next_sample = now + Duration::from_secs(2);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    lab.stop(client_loop, Duration::from_secs(5));
    // The last scan's block and flows settle, then Suricata stops (its final stats).
    std::thread::sleep(Duration::from_secs(4));
    lab.stop(intake, Duration::from_secs(10));
    lab.stop(suricata, Duration::from_secs(60));
    lab.stop(web, Duration::from_secs(5));

    let stats: PluginStats =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap();
    assert!(!stats.running, "no final stats");
    let eve_lines = std::fs::read_to_string(dir.join("eve.json"))
        .unwrap()
        .lines()
        .count() as u64;
    let ef = stats.eve_file.clone().expect("eve-file counters");
    let decisions =
        suriguard_decision::DecisionLog::read_all(&dir.join("decisions.jsonl")).unwrap();
    let against_attacker = decisions
        .iter()
        .filter(|d| d.target.to_string() == ATTACKER)
        .count() as u32;
    let enforce_text = std::fs::read_to_string(dir.join("enforce.jsonl")).unwrap_or_default();

    // Warm-up: the first third.
    let warm: Vec<_> = samples
        .iter()
        .filter(|s| s.at >= secs as f64 / 3.0)
        .copied()
        .collect();
    let xs: Vec<f64> = warm.iter().map(|s| s.at / 60.0).collect();
    let s_slope = slope(
        &xs,
        &warm
            .iter()
            .map(|s| s.suricata_rss as f64 / 1024.0)
            .collect::<Vec<_>>(),
    );
    let c_slope = slope(
        &xs,
        &warm
            .iter()
            .map(|s| s.intake_rss as f64 / 1024.0)
            .collect::<Vec<_>>(),
    );
    // The plugin's own heap: its state and queues alone, whatever Suricata holds.
    let heaps: Vec<(f64, f64)> = warm
        .iter()
        .filter_map(|s| s.heap.map(|h| (s.at / 60.0, h as f64 / 1048576.0)))
        .collect();
    let h_slope = slope(
        &heaps.iter().map(|h| h.0).collect::<Vec<_>>(),
        &heaps.iter().map(|h| h.1).collect::<Vec<_>>(),
    );
    let fd_range = |f: fn(&Sample) -> usize| {
        let v: Vec<usize> = warm.iter().map(f).collect();
        v.iter().max().unwrap() - v.iter().min().unwrap()
    };
    let (s_fd, c_fd) = (fd_range(|s| s.suricata_fds), fd_range(|s| s.intake_fds));
    let journal_max = samples.iter().map(|s| s.journal).max().unwrap_or(0);
    let report = format!(
        "# Soak report\n\n{secs} s, Suricata {} af-packet with the plugin; {rounds} attacker scan rounds (nmap), {partner_rounds} allowlisted partner scans, {rulesync_runs} rulesync runs, the intake loop every 5 s.\n\n\
         | what | value |\n|---|---:|\n\
         | records through the plugin / written to eve.json / lines in eve.json | {} / {} / {eve_lines} |\n\
         | records dropped (detection queue full, writer queue full), lost by the writer | {}, {}, {} |\n\
         | decisions against the attacker / scan rounds | {against_attacker} / {rounds} |\n\
         | samples with the partner in a set | {partner_blocked} |\n\
         | Suricata RSS after warm-up: first, last (MB); slope (MB/min) | {:.1}, {:.1}; {s_slope:+.3} |\n\
         | suriguardctl run RSS after warm-up: first, last (MB); slope (MB/min) | {:.1}, {:.1}; {c_slope:+.3} |\n\
         | the plugin's own heap after warm-up: first, last, peak of the run (MiB); slope (MiB/min) | {:.2}, {:.2}, {:.2}; {h_slope:+.3} |\n\
         | open files after warm-up, range: Suricata, suriguardctl run | {s_fd}, {c_fd} |\n\
         | enforce.jsonl largest (bytes) | {journal_max} |\n",
        stats_version(dir),
        ef.queued,
        ef.written,
        stats.write.dropped_queue_full,
        ef.dropped_queue_full,
        ef.lost,
        warm.first().map_or(0.0, |s| s.suricata_rss as f64 / 1024.0),
        warm.last().map_or(0.0, |s| s.suricata_rss as f64 / 1024.0),
        warm.first().map_or(0.0, |s| s.intake_rss as f64 / 1024.0),
        warm.last().map_or(0.0, |s| s.intake_rss as f64 / 1024.0),
        heaps.first().map_or(0.0, |h| h.1),
        heaps.last().map_or(0.0, |h| h.1),
        stats.heap.peak_bytes as f64 / 1048576.0,
    );
    let out = workspace_root().join("target/soak");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report.md"), &report).unwrap();
    eprintln!("{report}");

    assert_eq!(ef.lost, 0, "{report}");
    assert_eq!(
        ef.written, eve_lines,
        "records lost on the way to eve.json\n{report}"
    );
    assert_eq!(
        (stats.write.dropped_queue_full, ef.dropped_queue_full),
        (0, 0),
        "{report}"
    );
    assert!(
        against_attacker >= rounds.saturating_sub(1).max(1),
        "scan rounds not decided\n{report}"
    );
    assert_eq!(partner_blocked, 0, "{report}");
    // The partner's scans were seen and refused at the gate, not missed.
    let refused = stats
        .ingest
        .detect
        .as_ref()
        .map_or(0, |d| d.gate.refused_protected);
    assert!(
        partner_rounds == 0 || refused >= 1,
        "the partner's scans never reached the gate\n{report}"
    );
    assert!(
        !enforce_text.contains(PARTNER),
        "the partner was journaled for enforcement\n{report}"
    );
    assert!(s_fd <= 8 && c_fd <= 8, "open files grow\n{report}");
    assert!(journal_max < 1 << 20, "{report}");
    // At least half the samples after warm-up read a running stats file with the heap
    // (the file is rewritten every few seconds), and the final one has it.
    assert!(
        heaps.len() * 2 >= warm.len() && stats.heap.peak_bytes > 0,
        "the plugin's heap was not published\n{report}"
    );
    if secs >= 600 {
        assert!(
            s_slope < 1.0 && c_slope < 1.0,
            "resident size grows\n{report}"
        );
        assert!(h_slope < 0.25, "the plugin's heap grows\n{report}");
    }
}

fn stats_version(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("suricata.log"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.split("This is Suricata version ")
                .nth(1)
                .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
        })
        .unwrap_or_default()
}
