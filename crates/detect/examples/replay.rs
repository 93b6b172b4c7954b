//! Runs the detection pipeline once over an EVE file, for instruction counts
//! (`valgrind --tool=callgrind`, repeatable where wall-clock benchmarks on a small shared
//! machine are not). `MODE` is `load` (read and filter the file only), `parse` (parse only) or `detect` (parse + state + every
//! detector, default configuration); `FILTER=flow` keeps only flow records. With `WARM` set in
//! the environment the records go through once before the timed pass (tables already grown,
//! as in a long-running plugin).
//!
//!   cargo build --release -p suriguard-detect --example replay
//!   valgrind --tool=callgrind target/release/examples/replay detect flow target/bench/eve.json

use suriguard_detect::{Pipeline, PipelineConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, filter, path) = match args.as_slice() {
        [_, m, f, p] => (m.as_str(), f.as_str(), p.as_str()),
        _ => {
            eprintln!("usage: replay load|parse|detect flow|all EVE_FILE");
            std::process::exit(2);
        }
    };
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let needle: &[u8] = b"\"event_type\":\"flow\"";
    let recs: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter(|l| filter != "flow" || l.windows(needle.len()).any(|w| w == needle))
        .collect();
    if mode == "load" {
        println!("{} records loaded", recs.len());
        return;
    }
    let mut p = match mode {
        "parse" => Pipeline::new(),
        _ => Pipeline::build(&PipelineConfig::default()).0,
    };
    if std::env::var_os("WARM").is_some() {
        for r in &recs {
            let _ = std::hint::black_box(p.handle(r));
        }
    }
    let start = std::time::Instant::now();
    for r in &recs {
        let _ = std::hint::black_box(p.handle(r));
    }
    let elapsed = start.elapsed();
    let decisions = p.drain_decisions().count();
    let stats = p.into_stats();
    println!(
        "{} records, {} decisions, {:?}; {:.3} s, {:.0} records/s",
        recs.len(),
        decisions,
        stats.records,
        elapsed.as_secs_f64(),
        recs.len() as f64 / elapsed.as_secs_f64()
    );
}
