//! Throughput of the worker's parse path over a recorded EVE file.
//!
//! The file is produced by real Suricata from the `pcapgen bench` capture (`make
//! bench-data` writes target/bench/eve.json: ~191k records, 110k of them flows, with http,
//! dns and alerts, from 10,000 sources). Override with SURIGUARD_BENCH_EVE=path.
//!
//! Compared side by side: suriguard's typed, borrowed parse + count (what the plugin's
//! worker runs) and parsing into `serde_json::Value` (what a straightforward port of the
//! replaced Python loop would do).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use suriguard_detect::{Pipeline, PipelineConfig};

fn records() -> Vec<Vec<u8>> {
    let path = std::env::var_os("SURIGUARD_BENCH_EVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/bench/eve.json"
            ))
        });
    let text = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `make bench-data` first (or set SURIGUARD_BENCH_EVE)",
            path.display()
        )
    });
    let recs: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    assert!(
        recs.len() >= 100_000,
        "{} holds only {} records; the benchmark wants at least 100,000",
        path.display(),
        recs.len()
    );
    recs
}

fn parse(c: &mut Criterion) {
    let recs = records();
    let mut g = c.benchmark_group("eve-parse");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(8));

    g.bench_function("pipeline (typed, borrowed)", |b| {
        b.iter(|| {
            let mut p = Pipeline::new();
            for r in &recs {
                let _ = black_box(p.handle(black_box(r)));
            }
            assert_eq!(p.stats().parse_errors, 0);
            p.into_stats()
        })
    });

    g.bench_function("serde_json::Value (baseline)", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for r in &recs {
                let v: serde_json::Value = serde_json::from_slice(black_box(r)).unwrap();
                n += v["event_type"].is_string() as u64;
            }
            n
        })
    });
    g.finish();
}

/// Issue 3: parse → per-source state → heuristics → gate, the plugin worker's full path,
/// with the default configuration (home networks: the private ranges).
fn detect(c: &mut Criterion) {
    let recs = records();
    let needle: &[u8] = b"\"event_type\":\"flow\"";
    let flows: Vec<Vec<u8>> = recs
        .iter()
        .filter(|r| r.windows(needle.len()).any(|w| w == needle))
        .cloned()
        .collect();
    assert!(
        flows.len() >= 100_000,
        "the benchmark wants at least 100,000 flow records, got {}",
        flows.len()
    );
    let cfg = PipelineConfig::default();
    let engine = || Pipeline::build(&cfg).0;
    let mut g = c.benchmark_group("detect");
    g.sample_size(10).measurement_time(Duration::from_secs(8));

    g.throughput(Throughput::Elements(flows.len() as u64));
    g.bench_function("flow records: parse only", |b| {
        b.iter(|| {
            let mut p = Pipeline::new();
            for r in &flows {
                let _ = black_box(p.handle(black_box(r)));
            }
            p.into_stats()
        })
    });
    g.bench_function("flow records: parse + state + heuristics", |b| {
        b.iter(|| {
            let mut p = engine();
            for r in &flows {
                let _ = black_box(p.handle(black_box(r)));
            }
            p.into_stats()
        })
    });

    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("all records: parse + state + heuristics", |b| {
        b.iter(|| {
            let mut p = engine();
            for r in &recs {
                let _ = black_box(p.handle(black_box(r)));
            }
            p.into_stats()
        })
    });
    g.finish();
}

criterion_group!(benches, parse, detect);
criterion_main!(benches);
