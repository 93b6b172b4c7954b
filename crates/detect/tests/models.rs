//! The model runtime on the committed models: the seed model converted from TFLite
//! against the TFLite interpreter's outputs, our model against the training framework's,
//! and every way a model file can be wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use suriguard_detect::model::runtime::{Model, ModelError, Runner};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared(rel: &str) -> PathBuf {
    root().join("../shared/data").join(rel)
}

fn seed_model() -> (PathBuf, PathBuf) {
    let dir = root().join("models/seed");
    (
        dir.join("seed-bilstm.onnx"),
        dir.join("seed-bilstm.meta.json"),
    )
}

/// Runs on a runner that is reused across calls, as the plugin's worker does: nothing
/// of one run (an LSTM's last hidden state) may leak into the next.
fn run(runner: &mut Runner, input: &[f32], n: usize) -> Vec<f32> {
    let mut out = Vec::new();
    runner.run(input, n, &mut out).unwrap();
    out
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0
}

#[test]
fn converted_seed_model_matches_the_tflite_interpreter() {
    let (onnx, meta) = seed_model();
    let model = Model::load(&onnx, &meta, 64).unwrap();
    let mut runner = Arc::clone(&model).runner();
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared("seed-model/reference-outputs.json")).unwrap(),
    )
    .unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 73);
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    // One at a time, and all in batches: the same answers.
    let inputs: Vec<f32> = cases.iter().flat_map(|c| floats(&c["input"])).collect();
    let batched = run(&mut runner, &inputs, cases.len());
    let (mut worst, mut worst_name) = (0f32, String::new());
    for (k, case) in cases.iter().enumerate() {
        let want = floats(&case["tflite_output"]);
        let single = run(&mut runner, &floats(&case["input"]), 1);
        let got = &batched[k * 34..(k + 1) * 34];
        assert_eq!(
            argmax(&single),
            argmax(&want),
            "case {}: argmax differs",
            case["name"]
        );
        assert_eq!(argmax(got), argmax(&want), "case {} batched", case["name"]);
        for (a, b) in single.iter().zip(&want).chain(got.iter().zip(&want)) {
            if (a - b).abs() > worst {
                worst = (a - b).abs();
                worst_name = case["name"].as_str().unwrap().to_owned();
            }
        }
    }
    eprintln!(
        "seed model through tract vs TFLite: argmax 73/73, max |diff| {worst:e} (case {worst_name})"
    );
    assert!(worst < 1e-4, "max |diff| {worst} at {worst_name}");
}

#[test]
fn the_original_tflite_model_is_refused_with_the_operator_and_the_converter() {
    let dir = tempfile::tempdir().unwrap();
    let tflite = dir.path().join("seed.tflite");
    std::fs::copy(shared("seed-model/Lstm_converted2.tflite"), &tflite).unwrap();
    let meta = dir.path().join("seed.meta.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(seed_model().1).unwrap()).unwrap();
    m["format"] = "tflite".into();
    std::fs::write(&meta, m.to_string()).unwrap();
    let e = Model::load(&tflite, &meta, 8).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ModelError::UnsupportedTflite { .. }), "{text}");
    assert!(text.contains("convert_seed.py"), "{text}");
    assert!(text.contains("operator STRIDED_SLICE"), "{text}");
    eprintln!("{text}");
}

#[test]
fn corrupt_truncated_and_mismatched_models_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (onnx, meta) = seed_model();
    let bytes = std::fs::read(&onnx).unwrap();
    let meta_text = std::fs::read_to_string(&meta).unwrap();
    let put = |name: &str, data: &[u8], meta: &str| -> (PathBuf, PathBuf) {
        let m = dir.path().join(format!("{name}.onnx"));
        std::fs::write(&m, data).unwrap();
        let s = dir.path().join(format!("{name}.meta.json"));
        std::fs::write(&s, meta).unwrap();
        (m, s)
    };
    let load = |p: &(PathBuf, PathBuf)| Model::load(&p.0, &p.1, 8).unwrap_err().to_string();

    let e = load(&put("truncated", &bytes[..bytes.len() / 2], &meta_text));
    assert!(e.contains("truncated.onnx"), "{e}");
    eprintln!("{e}");
    let e = load(&put("garbage", b"this is not a model at all", &meta_text));
    assert!(e.contains("garbage.onnx"), "{e}");
    eprintln!("{e}");
    let e = load(&put("empty", b"", &meta_text));
    assert!(e.contains("empty"), "{e}");
    // Bytes flipped in the middle of the weights may still parse: then the model must
    // load and run to finite numbers, or be refused; no panic escapes either way.
    let mut flipped = bytes.clone();
    for b in &mut flipped[bytes.len() / 3..bytes.len() / 3 + 64] {
        *b = !*b;
    }
    let p = put("flipped", &flipped, &meta_text);
    if let Err(e) = Model::load(&p.0, &p.1, 8) {
        assert!(e.to_string().contains("flipped"), "{e}");
    }
    // Metadata of another extractor: the model does not take that input.
    let mut m: serde_json::Value = serde_json::from_str(&meta_text).unwrap();
    m["extractor"] = "flow-seq-v1".into();
    m["sequence-length"] = 8.into();
    m["features"] = serde_json::to_value(suriguard_detect::features::FLOW_STEP_FEATURES).unwrap();
    let e = load(&put("other-extractor", &bytes, &m.to_string()));
    assert!(
        e.contains("[?, 1, 24]") && e.contains("[batch, 8, 24]"),
        "{e}"
    );
    eprintln!("{e}");
    // Fewer classes than the model has.
    let mut m: serde_json::Value = serde_json::from_str(&meta_text).unwrap();
    m["classes"] = serde_json::json!(["benign", "attack"]);
    let e = load(&put("classes", &bytes, &m.to_string()));
    assert!(e.contains("2 classes"), "{e}");
    eprintln!("{e}");
    // Features in another order than the extractor's.
    let mut m: serde_json::Value = serde_json::from_str(&meta_text).unwrap();
    m["features"].as_array_mut().unwrap().swap(0, 1);
    let e = load(&put("order", &bytes, &m.to_string()));
    assert!(e.contains("position 0"), "{e}");
    // No sidecar.
    let e = Model::load(&onnx, &dir.path().join("none.meta.json"), 8)
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.meta.json"), "{e}");
}

/// Our committed model (plans up to `batch`), and its reference rows under `key`
/// (`inputs` or `outputs`) from `reference.json`.
fn our_model(batch: usize) -> Arc<Model> {
    let dir = root().join("models/seq-lstm");
    Model::load(
        &dir.join("seq-lstm.onnx"),
        &dir.join("seq-lstm.meta.json"),
        batch,
    )
    .unwrap()
}

fn reference_rows(key: &str) -> Vec<Vec<f32>> {
    let path = root().join("models/seq-lstm/reference.json");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    reference[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

#[test]
fn our_model_matches_the_training_framework() {
    let model = our_model(32);
    let mut runner = Arc::clone(&model).runner();
    let (inputs, outputs) = (reference_rows("inputs"), reference_rows("outputs"));
    assert!(inputs.len() >= 40, "{} reference vectors", inputs.len());
    let classes = model.classes();
    let flat: Vec<f32> = inputs.concat();
    // 69 vectors: batches of 32, 32 and a padded 5 (twice: the second pass on a state
    // that has run before); and each alone.
    let first = run(&mut runner, &flat, inputs.len());
    let batched = run(&mut runner, &flat, inputs.len());
    assert_eq!(first, batched, "a second run on the same state differs");
    let mut worst = 0f32;
    for (k, (x, want)) in inputs.iter().zip(&outputs).enumerate() {
        let single = run(&mut runner, x, 1);
        let got = &batched[k * classes..(k + 1) * classes];
        for (a, b) in single.iter().zip(want).chain(got.iter().zip(want)) {
            worst = worst.max((a - b).abs());
        }
        assert_eq!(argmax(&single), argmax(want), "vector {k}");
    }
    eprintln!(
        "our model through tract vs tf-keras: {} vectors, max |diff| {worst:e}",
        inputs.len()
    );
    assert!(worst <= 1e-4, "max |diff| {worst}");
}

/// A scan of 30 ports from one outside source, one SYN per second.
fn scan_records() -> Vec<String> {
    (0..30)
        .map(|k| {
            let t = format!("2024-01-01T00:00:{k:02}.000000+0000");
            format!(
                r#"{{"timestamp":"{t}","flow_id":{k},"event_type":"flow","src_ip":"203.0.113.9","src_port":40000,"dest_ip":"192.168.1.10","dest_port":{},"proto":"TCP","flow":{{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":60,"bytes_toclient":54,"start":"{t}","end":"{t}","age":0,"state":"closed"}},"tcp":{{"tcp_flags":"16","tcp_flags_ts":"02","tcp_flags_tc":"14"}}}}"#,
                1000 + k * 7
            )
        })
        .collect()
}

#[test]
fn the_stage_batches_by_size_and_deadline_and_decides_with_its_verdicts() {
    use std::time::{Duration, Instant};
    use suriguard_decision::Reason;
    use suriguard_detect::model::stage::MlStage;
    use suriguard_detect::model::ModelConfig;
    use suriguard_detect::{Pipeline, PipelineConfig};

    let mut cfg = PipelineConfig::default();
    cfg.detect.heuristics = false;
    let enforce: suriguard_detect::behaviour::Response =
        serde_json::from_str(r#"{"inbound": "block", "home": "quarantine"}"#).unwrap();
    let mc = ModelConfig {
        path: Some(root().join("models/seq-lstm/seq-lstm.onnx")),
        batch: 4,
        deadline_ms: 50,
        response: enforce,
        ..ModelConfig::default()
    };
    let stage = MlStage::load(&mc).unwrap().unwrap();
    let mut p = Pipeline::build(&cfg).0.with_model(stage);
    // With a model nothing is held back at shutdown: its samples are scored as flows come.
    let home_flow_at_shutdown = r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"flow","src_ip":"192.168.1.2","src_port":1024,"dest_ip":"203.0.113.1","dest_port":80,"proto":"TCP","flow":{"pkts_toserver":3,"pkts_toclient":3,"start":"2024-01-01T00:00:00.000000+0000","end":"2024-01-01T00:00:09.000000+0000","state":"established","reason":"shutdown"}}"#;
    let parsed = suriguard_eve::parse(home_flow_at_shutdown.as_bytes()).unwrap();
    assert!(!p.holds_until_the_end(&parsed));
    assert!(Pipeline::build(&cfg).0.holds_until_the_end(&parsed));
    let recs = scan_records();
    // One sample: below the batch size, so it waits for the deadline; one verdict is
    // not yet a decision.
    p.handle(recs[0].as_bytes()).unwrap();
    let now = Instant::now();
    assert!(p
        .due_in(now)
        .is_some_and(|d| d <= Duration::from_millis(50)));
    p.poll(now);
    assert_eq!(p.drain_decisions().count(), 0);
    assert_eq!(p.model().unwrap().stats().batches, 0);
    p.poll(now + Duration::from_millis(60));
    assert_eq!(p.drain_decisions().count(), 0);
    let st = p.model().unwrap().stats();
    assert_eq!((st.batches, st.samples, st.flushed_deadline), (1, 1, 1));
    assert!(p.due_in(Instant::now()).is_none());
    // The rest: a full batch runs as soon as it fills; the scanner is decided once.
    let mut decisions = Vec::new();
    for r in &recs[1..] {
        p.handle(r.as_bytes()).unwrap();
        decisions.extend(p.drain_decisions());
    }
    p.finish();
    decisions.extend(p.drain_decisions());
    let st = p.model().unwrap().stats();
    assert!(st.flushed_full >= 1, "{st:?}");
    assert_eq!(decisions.len(), 1, "{decisions:#?}");
    let d = &decisions[0];
    assert_eq!(
        (d.target.to_string().as_str(), d.reason),
        ("203.0.113.9", Reason::Model)
    );
    let ev = d.evidence.model.as_ref().unwrap();
    assert_eq!(ev.verdicts.len(), 2);
    assert!(ev
        .verdicts
        .iter()
        .all(|v| v.class == "scan" && v.confidence >= 0.6));
    assert_eq!(d.action, suriguard_decision::Action::Block);
    // After the decision the source is not run through the model again.
    assert!(st.skipped_gated > 0, "{st:?}");

    // By default a model decision only alerts.
    let mc = ModelConfig {
        path: Some(root().join("models/seq-lstm/seq-lstm.onnx")),
        ..ModelConfig::default()
    };
    let stage = MlStage::load(&mc).unwrap().unwrap();
    let mut p = Pipeline::build(&cfg).0.with_model(stage);
    let mut decisions = Vec::new();
    for r in &recs {
        p.handle(r.as_bytes()).unwrap();
        decisions.extend(p.drain_decisions());
    }
    p.finish();
    decisions.extend(p.drain_decisions());
    assert_eq!(decisions.len(), 1, "{decisions:#?}");
    assert_eq!(
        (decisions[0].reason, decisions[0].action),
        (Reason::Model, suriguard_decision::Action::AlertOnly)
    );
}

/// A mixed stream: an outside port scan slow enough for the model alone, a fast one the
/// heuristics decide, a home device's ordinary traffic and scattered outside clients,
/// interleaved as Suricata's flow records would be (each stamped with its own time).
fn mixed_records() -> Vec<String> {
    let flow = |t: u32, src: &str, sport: u32, dst: &str, dport: u32, answered: bool| {
        let ts = format!(
            "2024-01-01T00:{:02}:{:02}.{:06}+0000",
            t / 60_000_000,
            t / 1_000_000 % 60,
            t % 1_000_000
        );
        let (pc, bc, fl, tc) = if answered {
            (4, 900, "1b", "1b")
        } else {
            (1, 54, "02", "14")
        };
        format!(
            r#"{{"timestamp":"{ts}","flow_id":{t},"event_type":"flow","src_ip":"{src}","src_port":{sport},"dest_ip":"{dst}","dest_port":{dport},"proto":"TCP","flow":{{"pkts_toserver":{pc},"pkts_toclient":{pc},"bytes_toserver":400,"bytes_toclient":{bc},"start":"{ts}","end":"{ts}","age":0,"state":"closed"}},"tcp":{{"tcp_flags":"{fl}","tcp_flags_ts":"{fl}","tcp_flags_tc":"{tc}"}}}}"#
        )
    };
    let mut recs = Vec::new();
    let mut x: u32 = 12345;
    let mut rnd = |m: u32| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (x >> 8) % m
    };
    for k in 0..600u32 {
        let t = k * 250_000;
        match k % 6 {
            0 => recs.push(flow(
                t,
                "203.0.113.9",
                40000,
                "192.168.1.10",
                1000 + k,
                false,
            )),
            1 => recs.push(flow(
                t,
                "203.0.113.77",
                41000,
                "192.168.1.11",
                2000 + k % 50,
                false,
            )),
            2 => recs.push(flow(
                t,
                "192.168.1.20",
                50000 + k,
                "198.51.100.5",
                443,
                true,
            )),
            _ => {
                let host = rnd(40);
                let ip = format!("198.51.100.{}", 100 + host);
                recs.push(flow(
                    t,
                    &ip,
                    30000 + rnd(20000),
                    "192.168.1.30",
                    443,
                    rnd(4) > 0,
                ));
            }
        }
    }
    recs
}

/// Everything a decision says that must not depend on when a batch ran.
fn decision_facts(ds: &[suriguard_decision::Decision]) -> Vec<String> {
    ds.iter()
        .map(|d| {
            format!(
                "{} {} {:?} {:?} {} {:?} {:?}",
                d.id,
                d.target,
                d.reason,
                d.action,
                d.time,
                d.evidence.example_flow_ids,
                d.evidence.model.as_ref().map(|m| m
                    .verdicts
                    .iter()
                    .map(|v| (v.time.clone(), v.class.clone(), v.confidence))
                    .collect::<Vec<_>>())
            )
        })
        .collect()
}

#[test]
fn decisions_do_not_depend_on_when_batches_run() {
    use std::time::{Duration, Instant};
    use suriguard_decision::Reason;
    use suriguard_detect::model::stage::MlStage;
    use suriguard_detect::model::ModelConfig;
    use suriguard_detect::{Pipeline, PipelineConfig};

    let recs = mixed_records();
    // `flush`: after which records the worker's clock says the batch is due.
    let run = |batch: usize, flush: &dyn Fn(usize) -> bool| {
        let mc = ModelConfig {
            path: Some(root().join("models/seq-lstm/seq-lstm.onnx")),
            batch,
            deadline_ms: 10,
            ..ModelConfig::default()
        };
        let stage = MlStage::load(&mc).unwrap().unwrap();
        let mut p = Pipeline::build(&PipelineConfig::default())
            .0
            .with_model(stage);
        let mut out = Vec::new();
        let t0 = Instant::now();
        for (k, r) in recs.iter().enumerate() {
            p.handle(r.as_bytes()).unwrap();
            if flush(k) {
                p.poll(t0 + Duration::from_secs(1 + k as u64));
            }
            out.extend(p.drain_decisions());
        }
        p.finish();
        out.extend(p.drain_decisions());
        let st = p.model().unwrap().stats();
        (out, st)
    };
    // Offline: batches of 64 run when full and at the end.
    let (offline, st_off) = run(64, &|_| false);
    // Live under light load: every batch runs on its deadline after a record or two.
    let (deadline, st_dl) = run(64, &|k| k % 2 == 1);
    // Irregular deadlines, and batches of one.
    let (irregular, _) = run(64, &|k| (k * 7919) % 13 < 3);
    let (single, _) = run(1, &|_| false);
    assert!(
        st_off.flushed_full > 0 && st_off.flushed_deadline == 0,
        "{st_off:?}"
    );
    assert!(st_dl.flushed_deadline > 50, "{st_dl:?}");
    let facts = decision_facts(&offline);
    assert!(
        offline.iter().any(|d| d.reason == Reason::Model),
        "the model decides someone: {facts:#?}"
    );
    assert!(
        offline.iter().any(|d| d.reason != Reason::Model),
        "the heuristics decide someone: {facts:#?}"
    );
    assert_eq!(decision_facts(&deadline), facts, "deadline flushes");
    assert_eq!(decision_facts(&irregular), facts, "irregular flushes");
    assert_eq!(decision_facts(&single), facts, "batches of one");
    // And twice the same.
    assert_eq!(decision_facts(&run(64, &|k| k % 2 == 1).0), facts, "repeat");
}

#[test]
fn batched_scores_stay_within_the_candidate_margin_of_lone_ones() {
    use suriguard_detect::model::stage::CANDIDATE_MARGIN;
    let model = our_model(64);
    let mut runner = Arc::clone(&model).runner();
    let inputs = reference_rows("inputs");
    let classes = model.classes();
    // The lone score is the canonical one: the same on every run.
    let alone: Vec<Vec<f32>> = inputs.iter().map(|x| run(&mut runner, x, 1)).collect();
    for (x, a) in inputs.iter().zip(&alone) {
        assert_eq!(&run(&mut runner, x, 1), a);
    }
    // In batches of every size the plugin's deadline can leave, scores move by far less
    // than the margin within which a batched score makes a sample a candidate.
    let mut worst = 0f64;
    for n in [2usize, 3, 4, 5, 16, 17, 40, 64] {
        let n = n.min(inputs.len());
        let out = run(&mut runner, &inputs[..n].concat(), n);
        for k in 0..n {
            for (b, a) in out[k * classes..(k + 1) * classes].iter().zip(&alone[k]) {
                worst = worst.max((b - a).abs() as f64);
            }
        }
    }
    eprintln!("batched against lone scores: max |diff| {worst:e}");
    assert!(worst * 100.0 < CANDIDATE_MARGIN, "max |diff| {worst}");
}
