//! The model stage end to end: real Suricata with the plugin on a lab capture the model
//! never saw, the heuristics switched off, so every decision is the model's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use suriguard_decision::{Action, Decision, Reason};
use suriguard_e2e::{lab, run_suricata, scenarios, workspace_root, RunOptions, SuricataRun};

fn model_config(model: &Path, heuristics: bool) -> String {
    format!(
        "[detect]\nheuristics = {heuristics}\n[model]\npath = {:?}\n\
         response = {{ inbound = \"block\", home = \"quarantine\" }}\n",
        model.display().to_string()
    )
}

fn our_model() -> std::path::PathBuf {
    workspace_root().join("models/seq-lstm/seq-lstm.onnx")
}

fn run(pcap: &Path, dir: &Path, config: String) -> (SuricataRun, Vec<Decision>) {
    let run = run_suricata(
        pcap,
        &dir.join("logs"),
        &RunOptions {
            config,
            ..Default::default()
        },
    );
    run.ran.assert_success();
    let stats = run.plugin_stats();
    assert!(stats.balanced(), "{stats:?}");
    let ds = run.decisions();
    (run, ds)
}

/// Source address → the classes of its flows, from the lab's labels.
fn labelled_sources(labels: &Path) -> BTreeMap<IpAddr, BTreeSet<String>> {
    let mut out: BTreeMap<IpAddr, BTreeSet<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(labels).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let src: IpAddr = v["src"].as_str().unwrap().parse().unwrap();
        out.entry(src)
            .or_default()
            .insert(v["class"].as_str().unwrap().to_owned());
    }
    out
}

#[test]
fn the_model_alone_finds_the_attackers_of_an_unseen_lab_network() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("lab.pcap");
    let labels = tmp.path().join("lab.labels.jsonl");
    // Seed 11: not one of the six networks the model was trained, validated or tested on.
    let mut spec = lab::LabSpec::new(11);
    spec.minutes = 8;
    lab::generate(&spec, &pcap, &labels).unwrap();
    let sources = labelled_sources(&labels);

    let (run, ds) = run(&pcap, tmp.path(), model_config(&our_model(), false));
    let stats = run.plugin_stats();
    let model = stats.ingest.model.as_ref().expect("model stage ran");
    assert!(model.samples > 1000, "{model:?}");
    assert!(model.disabled.is_none(), "{model:?}");
    assert!(!ds.is_empty());
    for d in &ds {
        assert_eq!(d.reason, Reason::Model, "heuristics are off: {d:?}");
        let ev = d.evidence.model.as_ref().expect("verdicts in the evidence");
        assert_eq!(ev.verdicts.len(), 2);
        assert!(ev.verdicts.iter().all(|v| v.confidence >= 0.6), "{ev:?}");
    }
    let decided: BTreeSet<IpAddr> = ds.iter().map(|d| d.target).collect();
    assert_eq!(decided.len(), ds.len(), "one decision per source: {ds:#?}");

    // Every outside attacker is blocked; every infected home device quarantined.
    let attackers: Vec<IpAddr> = sources
        .iter()
        .filter(|(_, c)| !c.contains("benign"))
        .map(|(s, _)| *s)
        .collect();
    let infected: Vec<IpAddr> = sources
        .iter()
        .filter(|(_, c)| c.contains("benign") && c.len() > 1)
        .map(|(s, _)| *s)
        .collect();
    assert!(attackers.len() >= 10 && infected.len() == 3);
    for a in &attackers {
        let d = ds.iter().find(|d| d.target == *a);
        assert!(
            d.is_some_and(|d| d.action == Action::Block),
            "attacker {a} ({:?}) not blocked",
            sources[a]
        );
    }
    for i in &infected {
        let d = ds.iter().find(|d| d.target == *i);
        assert!(
            d.is_some_and(|d| d.action == Action::Quarantine),
            "infected {i} not quarantined"
        );
    }
    // No purely benign source is touched.
    for d in &ds {
        let c = &sources[&d.target];
        assert!(
            c.iter().any(|c| c != "benign"),
            "benign source {} decided: {d:#?}",
            d.target
        );
    }
    let benign = sources
        .values()
        .filter(|c| c.len() == 1 && c.contains("benign"))
        .count();
    eprintln!(
        "model stage: {} decisions, {} attackers blocked, {} infected quarantined, 0 of {benign} benign sources touched; {} samples in {} runs",
        ds.len(),
        attackers.len(),
        infected.len(),
        model.samples,
        model.batches
    );
}

#[test]
fn a_broken_model_leaves_the_plugin_on_heuristics() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("scan.pcap");
    scenarios::horizontal_scan(&pcap).unwrap();
    let bad = tmp.path().join("bad.onnx");
    let good = std::fs::read(our_model()).unwrap();
    std::fs::write(&bad, &good[..good.len() / 3]).unwrap();
    std::fs::copy(
        workspace_root().join("models/seq-lstm/seq-lstm.meta.json"),
        tmp.path().join("bad.meta.json"),
    )
    .unwrap();
    let (run, ds) = run(&pcap, tmp.path(), model_config(&bad, true));
    let log = run.ran.stdout() + &run.ran.stderr() + &run.suricata_log();
    assert!(
        log.contains("cannot load the model") && log.contains("bad.onnx"),
        "no clear error in the log:\n{log}"
    );
    assert!(log.contains("heuristics keep running"), "{log}");
    assert!(run.plugin_stats().ingest.model.is_none());
    // The heuristics still decide.
    assert_eq!(ds.len(), 1, "{ds:#?}");
    assert_eq!(ds[0].reason, Reason::HorizontalScan);
}
