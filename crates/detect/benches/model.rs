//! The model stage's cost: µs per sample through tract for our sequence LSTM and the
//! converted seed model, one sample at a time and in batches; and the worker pipeline's
//! throughput with the model stage on, over the `make bench-data` EVE file (every flow
//! record becomes a sample), next to the same pipeline without it.
//!
//!     make bench-data && cargo bench -p suriguard-core --features ml --bench model

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use suriguard_detect::model::runtime::Model;
use suriguard_detect::model::stage::MlStage;
use suriguard_detect::model::ModelConfig;
use suriguard_detect::{Pipeline, PipelineConfig};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(dir: &str, name: &str, batch: usize) -> Arc<Model> {
    let d = root().join("models").join(dir);
    Model::load(
        &d.join(format!("{name}.onnx")),
        &d.join(format!("{name}.meta.json")),
        batch,
    )
    .unwrap()
}

/// Real inputs: the committed reference vectors, cycled to fill `n` samples.
fn inputs(model: &Model, n: usize) -> Vec<f32> {
    let per = model.sample_len();
    let pool: Vec<f32> = if per == 24 {
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root().join("../shared/data/seed-model/reference-outputs.json"))
                .unwrap(),
        )
        .unwrap();
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["input"].as_array().unwrap().clone())
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    } else {
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root().join("models/seq-lstm/reference.json")).unwrap(),
        )
        .unwrap();
        v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().clone())
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    pool.iter().copied().cycle().take(n * per).collect()
}

fn inference(c: &mut Criterion) {
    let mut g = c.benchmark_group("model-inference");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for (dir, name) in [("seq-lstm", "seq-lstm"), ("seed", "seed-bilstm")] {
        for batch in [1usize, 32, 64] {
            let model = load(dir, name, batch);
            let mut runner = Arc::clone(&model).runner();
            let x = inputs(&model, batch);
            let mut out = Vec::new();
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, &n| {
                b.iter(|| {
                    runner.run(black_box(&x), n, &mut out).unwrap();
                    black_box(&out);
                })
            });
        }
    }
    g.finish();
}

fn records() -> Option<Vec<Vec<u8>>> {
    let path = std::env::var_os("SURIGUARD_BENCH_EVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/bench/eve.json"));
    let text = std::fs::read(&path).ok()?;
    Some(
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
    )
}

fn pipeline(c: &mut Criterion) {
    let Some(recs) = records() else {
        eprintln!(
            "model bench: no target/bench/eve.json (run `make bench-data`); pipeline skipped"
        );
        return;
    };
    let cfg = PipelineConfig::default();
    let engine = || Pipeline::build(&cfg).0;
    let mut g = c.benchmark_group("pipeline-with-model");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("engine only", |b| {
        b.iter(|| {
            let mut p = engine();
            for r in &recs {
                let _ = black_box(p.handle(black_box(r)));
            }
            p.finish();
            black_box(p.drain_decisions().count());
        })
    });
    for (dir, name) in [("seq-lstm", "seq-lstm"), ("seed", "seed-bilstm")] {
        let d = root().join("models").join(dir);
        let mc = ModelConfig {
            path: Some(d.join(format!("{name}.onnx"))),
            batch: 32,
            ..ModelConfig::default()
        };
        let model = load(dir, name, mc.batch);
        g.bench_function(format!("engine + {name} (batch 32)"), |b| {
            b.iter(|| {
                let stage = MlStage::new(Arc::clone(&model), &mc);
                let mut p = engine().with_model(stage);
                for r in &recs {
                    let _ = black_box(p.handle(black_box(r)));
                }
                p.finish();
                black_box(p.drain_decisions().count());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, inference, pipeline);
criterion_main!(benches);
