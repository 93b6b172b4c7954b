//! Runs a model on its committed reference inputs, `ROUNDS` batches of `BATCH` samples,
//! for counting instructions per sample with callgrind (steady on a shared machine,
//! where criterion's wall clock moves by ±40 % between runs):
//!
//!     cargo build --release -p suriguard-detect --features ml --example model_run
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!         target/release/examples/model_run MODEL.onnx META.json BATCH ROUNDS
//!
//! Instructions of `ROUNDS` = R minus those of `ROUNDS` = 0 (loading alone), divided by
//! R × BATCH, is the cost of one sample.

use std::path::Path;
use std::sync::Arc;

use suriguard_detect::model::runtime::Model;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 5 {
        eprintln!("usage: model_run MODEL.onnx META.json BATCH ROUNDS");
        std::process::exit(2);
    }
    let batch: usize = a[3].parse().expect("BATCH");
    let rounds: usize = a[4].parse().expect("ROUNDS");
    let model = Model::load(Path::new(&a[1]), Path::new(&a[2]), batch).expect("model");
    let reference =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/seq-lstm/reference.json");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reference).expect("reference.json")).expect("json");
    let pool: Vec<f32> = v["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .flat_map(|r| r.as_array().expect("row").clone())
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    let x: Vec<f32> = pool
        .iter()
        .copied()
        .cycle()
        .take(batch * model.sample_len())
        .collect();
    let mut runner = Arc::clone(&model).runner();
    let mut out = Vec::new();
    let mut sum = 0.0f64;
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        runner.run(&x, batch, &mut out).expect("run");
        sum += out[0] as f64;
    }
    let el = t.elapsed();
    if rounds > 0 {
        println!(
            "{:.2} µs/sample ({} rounds of {batch}; checksum {sum:.6})",
            el.as_secs_f64() * 1e6 / (rounds * batch) as f64,
            rounds
        );
    }
}
