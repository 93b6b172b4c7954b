//! Enforcement benchmark, run inside a throwaway network namespace (`make bench-enforce`
//! creates it, runs this, deletes it):
//!
//! 1. decision → element committed latency at 1,000 decisions/s through the real
//!    enforcer thread (batches of 2 ms);
//! 2. 100,000 elements applied in one transaction;
//! 3. side by side, what the replaced system does: one `nft add element` process per
//!    address, timed over `PER_PROCESS` addresses in the same run.
//!
//! Prints a table and, last, one JSON line with the figures.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use suriguard_decision::{Action, Decision, Evidence, Reason};
use suriguard_enforce::nft::{Nft, Op};
use suriguard_enforce::{EnforceConfig, EnforcerSetup, SetKind};
use suriguard_net::{Cidr, Direction, NetworkModel};

const RATE_DECISIONS: u32 = 3_000;
const BULK: u32 = 100_000;
const PER_PROCESS: u32 = 1_000;

/// Distinct, unprotected addresses: 11.0.0.0/8 onwards.
fn addr(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i + 1))
}

fn decision(target: IpAddr) -> Decision {
    Decision {
        id: Decision::make_id(target, Reason::PortScan, 0),
        time: "2024-01-01T00:00:00.000000Z".into(),
        time_us: 0,
        target,
        action: Action::Block,
        limit: None,
        reason: Reason::PortScan,
        direction: Direction::Inbound,
        summary: "bench".into(),
        evidence: Evidence {
            counter: "bench".into(),
            observed: 1,
            threshold: 1,
            window_secs: 1.0,
            example_flow_ids: vec![],
            detail: None,
            model: None,
            honeypot: None,
        },
        ttl: 3600,
        confidence: 1.0,
        dry_run: false,
    }
}

fn nft(args: &[&str]) {
    let st = Command::new("nft").args(args).status().expect("run nft");
    assert!(st.success(), "nft {args:?}");
}

fn main() {
    let in_netns = Command::new("ip")
        .args(["netns", "identify"])
        .output()
        .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty());
    if !in_netns {
        eprintln!("enforce-bench: run me inside a network namespace (make bench-enforce)");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = EnforceConfig::default();
    let backend = Nft::new(cfg.clone());
    let net = NetworkModel::default();

    // 1. Latency at 1,000 decisions/s through the enforcer thread.
    let mut h = suriguard_enforce::start(EnforcerSetup {
        cfg: cfg.clone(),
        net: net.clone(),
        network: None,
        journal: dir.path().join("enforce.jsonl"),
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(500)); // setup done
    let t0 = Instant::now();
    for i in 0..RATE_DECISIONS {
        let due = t0 + Duration::from_micros(1000 * i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        h.submit(&decision(addr(i))).unwrap();
    }
    let st = h.stop();
    assert_eq!(st.applied, RATE_DECISIONS as u64, "{st:?}");
    let p50 = st.latency_quantile_us(0.50).unwrap();
    let p99 = st.latency_quantile_us(0.99).unwrap();
    let max = *st.latency_us.keys().last().unwrap();
    let live = backend.list().unwrap().len();
    assert_eq!(live, RATE_DECISIONS as usize);
    backend.apply(&[Op::Flush]).unwrap();

    // 2. 100,000 elements in one transaction.
    let ops: Vec<Op> = (0..BULK)
        .map(|i| Op::Add {
            kind: SetKind::Block,
            target: Cidr::host(addr(i)),
            limit: None,
            timeout_secs: 3600,
        })
        .collect();
    let t = Instant::now();
    let json_len = backend.apply_json(&ops).unwrap().len();
    let build = t.elapsed();
    let t = Instant::now();
    backend.apply(&ops).unwrap();
    let bulk = t.elapsed();
    assert_eq!(backend.list().unwrap().len(), BULK as usize);
    backend.apply(&[Op::Flush]).unwrap();

    // 3. One process per address, as the replaced system does.
    let t = Instant::now();
    for i in 0..PER_PROCESS {
        nft(&[
            "add",
            "element",
            "inet",
            &cfg.table,
            "sg_block4",
            &format!("{{ {} timeout 3600s }}", addr(i)),
        ]);
    }
    let per_proc = t.elapsed();
    assert_eq!(backend.list().unwrap().len(), PER_PROCESS as usize);
    backend.teardown().unwrap();

    let batch_rate = BULK as f64 / bulk.as_secs_f64();
    let proc_rate = PER_PROCESS as f64 / per_proc.as_secs_f64();
    println!(
        "decision -> element committed, {RATE_DECISIONS} decisions at 1,000/s, {} batches:",
        st.batches
    );
    println!(
        "  p50 <= {:.2} ms   p99 <= {:.2} ms   max <= {:.2} ms",
        p50 as f64 / 1e3,
        p99 as f64 / 1e3,
        max as f64 / 1e3
    );
    println!(
        "{BULK} elements in one transaction: {:.3} s ({:.0} elements/s), of which building the {:.1} MB of JSON {:.3} s",
        bulk.as_secs_f64(),
        batch_rate,
        json_len as f64 / 1e6,
        build.as_secs_f64()
    );
    println!(
        "one nft process per address ({PER_PROCESS} addresses): {:.3} s ({:.0} elements/s; {BULK} would take {:.0} s)",
        per_proc.as_secs_f64(),
        proc_rate,
        BULK as f64 / proc_rate
    );
    println!("batched / per-process: {:.0}x", batch_rate / proc_rate);
    println!(
        "{}",
        serde_json::json!({
            "latency_p50_us": p50, "latency_p99_us": p99, "latency_max_us": max,
            "batches": st.batches, "bulk_elements": BULK, "bulk_secs": bulk.as_secs_f64(), "bulk_json_build_secs": build.as_secs_f64(),
            "per_process_elements": PER_PROCESS, "per_process_secs": per_proc.as_secs_f64(),
            "speedup": batch_rate / proc_rate,
        })
    );
}
