//! The model's decisions do not depend on thread timing: within one Suricata run, the
//! plugin's live decisions (model verdicts included) and `suriguardctl analyze` replaying
//! the eve.json the plugin wrote, in the file's order (`--order file`), are identical in
//! every field, on a generated lab network and on real IoT captures the model decides
//! on, twice each. Across two runs Suricata itself emits flow records in another order
//! (its flow manager times flows out on its own thread), so the live verdicts of two runs
//! can differ; the canonical replay (the default order) is the same for both.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use suriguard_e2e::{bin, lab, shared_data, workspace_root, Ran};

/// The shipped model, its decisions enforcing (so they are decisions, not only alerts).
fn config(dir: &Path) -> PathBuf {
    let p = dir.join("model.toml");
    std::fs::write(
        &p,
        format!(
            "[model]\npath = {:?}\nresponse = {{ inbound = \"block\", home = \"quarantine\" }}\n",
            workspace_root()
                .join("models/seq-lstm/seq-lstm.onnx")
                .display()
                .to_string()
        ),
    )
    .unwrap();
    p
}

/// `analyze --pcap` in the given order: (replayed decisions, the plugin's live ones).
fn analyze(cfg: &Path, pcap: &Path, order: &str, out: &Path) -> (Vec<Value>, Vec<Value>) {
    let mut cmd = Command::new(bin("suriguardctl"));
    cmd.arg("--config")
        .arg(cfg)
        .args(["-o", "json", "analyze", "--order", order, "--pcap"])
        .arg(pcap)
        .arg("--out")
        .arg(out);
    Ran::run(cmd, &workspace_root()).assert_success();
    let rep: Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    let list = |v: &Value| v.as_array().unwrap().clone();
    (list(&rep["decisions"]), list(&rep["plugin"]["decisions"]))
}

/// What two Suricata runs cannot share: decision ids and flow ids (Suricata seeds its
/// flow hash per run).
fn without_run_ids(ds: &[Value]) -> Vec<Value> {
    ds.iter()
        .map(|d| {
            let mut d = d.clone();
            d.as_object_mut().unwrap().remove("id");
            d["evidence"]
                .as_object_mut()
                .unwrap()
                .remove("example_flow_ids");
            d
        })
        .collect()
}

#[test]
fn plugin_and_analyze_decide_identically_and_the_canonical_replay_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let generated = tmp.path().join("lab.pcap");
    let mut spec = lab::LabSpec::new(11);
    spec.minutes = 4;
    lab::generate(&spec, &generated, &tmp.path().join("lab.labels.jsonl")).unwrap();
    let iot = shared_data().join("traffic/iot-sentinel");
    let captures = [
        generated,
        iot.join("WeMoSwitch/Setup-A-6-STA.pcap"),
        iot.join("WeMoSwitch/Setup-A-9-STA.pcap"),
    ];
    let mut model_decisions = 0;
    for pcap in &captures {
        let mut canonical = Vec::new();
        for k in 0..2 {
            let out = tmp.path().join(format!("file-{k}.json"));
            let (replay, live) = analyze(&cfg, pcap, "file", &out);
            assert_eq!(
                replay,
                live,
                "{}: run {k}: the replay in the plugin's order decided otherwise",
                pcap.display()
            );
            model_decisions += live.iter().filter(|d| d["reason"] == "model").count();
            let out = tmp.path().join(format!("canonical-{k}.json"));
            canonical.push(without_run_ids(&analyze(&cfg, pcap, "canonical", &out).0));
        }
        assert_eq!(
            canonical[0],
            canonical[1],
            "{}: two canonical replays differ",
            pcap.display()
        );
    }
    // The comparison is about the model: it decided in these captures.
    assert!(model_decisions >= 10, "{model_decisions} model decisions");
}
