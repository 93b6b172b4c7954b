//! `suriguardctl evaluate`: detection quality per source on labelled captures.
//!
//! A manifest names captures and labels the addresses in them: `attack` sources (the
//! right outcome is a decision against them, ideally by one of the detectors named),
//! `attack-target`s (home hosts under a flood from spoofed sources: the right outcome is
//! a decision that protects the target, never one against the spoofed sources) and
//! `benign` ones; every other address that starts a flow counts as the capture's
//! `unlisted` label (benign by default). Any enforcing decision (block, quarantine, rate
//! limit) about a benign address is a false decision; an alert-only one a false alert.
//! Each capture runs through real Suricata with the
//! plugin, exactly as `analyze --pcap` does, and the decisions of the canonical replay
//! are scored. The plugin's live decisions are compared with the replay's: a difference
//! is reported, since the same capture must give the same decisions.
//!
//! Manifest (JSON; paths relative to the manifest's folder):
//! ```json
//! {"name": "lab", "captures": [{"pcap": "lab.pcap", "home": ["192.168.50.0/24"],
//!   "unlisted": "benign", "sources": [{"ip": "203.0.113.11", "label": "attack",
//!   "scenario": "nmap-syn", "tool": "nmap -sS …", "detectors": ["port-scan"]}]}]}
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analyze::{self, SuricataSetup};
use crate::config::Config;
use crate::error::CtlError;
use suriguard_decision::{Action, Decision, Limit};
use suriguard_net::Cidr;

/// What an address in a capture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    Attack,
    AttackTarget,
    Benign,
}

fn benign() -> Label {
    Label::Benign
}

fn yes() -> bool {
    true
}

/// The labelled captures.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub name: String,
    pub captures: Vec<CaptureSpec>,
}

#[derive(Debug, Deserialize)]
pub struct CaptureSpec {
    /// A capture file or a folder of captures, relative to the manifest.
    pub pcap: PathBuf,
    /// Home networks of this capture, added to the configuration's.
    #[serde(default)]
    pub home: Vec<Cidr>,
    /// The label of addresses the manifest does not list.
    #[serde(default = "benign")]
    pub unlisted: Label,
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SourceSpec {
    pub ip: IpAddr,
    pub label: Label,
    #[serde(default)]
    pub scenario: String,
    #[serde(default)]
    pub tool: Option<String>,
    /// Reasons that would be the right call (none: any decision is right).
    #[serde(default)]
    pub detectors: Option<Vec<String>>,
    /// False when the lab could not run the tool: the source is reported, not scored.
    #[serde(default = "yes")]
    pub ran: bool,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<(Manifest, PathBuf), CtlError> {
        let text =
            std::fs::read_to_string(path).map_err(CtlError::file("read the manifest", path))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|source| CtlError::Manifest {
            path: path.to_owned(),
            source,
        })?;
        if m.captures.is_empty() {
            return Err(CtlError::EmptyManifest {
                path: path.to_owned(),
            });
        }
        let base = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok((m, base))
    }
}

/// The outcome for one address.
#[derive(Debug, Clone, Serialize)]
pub struct SourceResult {
    pub capture: String,
    pub ip: IpAddr,
    pub label: Label,
    pub scenario: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    pub expected: Vec<String>,
    pub ran: bool,
    /// Flow records the address started.
    pub flows: u64,
    /// `hit` (decided by a right detector), `other-detector`, `missed`, or for benign
    /// addresses `false-block`, `false-alert`, `clean`; `not-run` when the lab could not
    /// run its tool.
    pub outcome: &'static str,
    /// The decisions against the address: action, reason, summary.
    pub decisions: Vec<Decided>,
    /// Named in the manifest (unlisted clean addresses are counted, not listed).
    #[serde(skip)]
    listed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub action: Action,
    /// What a rate limit limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    pub reason: String,
    pub confidence: f64,
    pub summary: String,
}

/// Counts over sources.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Attack sources and targets the lab ran.
    pub attacks: u64,
    /// ... decided by one of their right detectors.
    pub attacks_hit: u64,
    /// ... decided, but by another detector.
    pub attacks_other_detector: u64,
    pub attacks_missed: u64,
    pub benign: u64,
    /// Benign addresses blocked, quarantined or rate-limited: false (enforcing) decisions.
    pub benign_blocked: u64,
    /// Benign addresses with alert-only decisions: false alerts.
    pub benign_alerted: u64,
    /// Decided attack sources / all decided sources.
    pub precision: f64,
    /// Decided attack sources / attack sources (any detector).
    pub recall: f64,
    /// Benign addresses blocked, quarantined or rate-limited / benign addresses, in
    /// percent.
    pub benign_blocked_pct: f64,
}

/// Per reason: how many attack and benign addresses it decided.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ByReason {
    pub attack: u64,
    pub benign_blocked: u64,
    pub benign_alerted: u64,
}

/// What one capture gave.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureResult {
    pub capture: String,
    pub records: u64,
    pub sources: u64,
    pub decisions: u64,
    /// Decisions (target, reason, action) the plugin made live but the replay did not,
    /// or the other way round.
    pub live_differs: Vec<String>,
    /// The same by (target, strongest action) only: which addresses were blocked,
    /// quarantined, rate-limited or only alerted. Records reach the plugin in Suricata's
    /// output order and the replay in event-time order, so when two detectors trip for
    /// one source the first reason can differ, and an alert can come before a block in
    /// one and be held back by it in the other; what is done to whom must not differ.
    pub live_action_differs: Vec<String>,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub manifest: String,
    pub name: String,
    pub totals: Totals,
    pub by_reason: BTreeMap<String, ByReason>,
    pub captures: Vec<CaptureResult>,
    /// Every labelled address, and every unlisted one a decision was made against.
    pub sources: Vec<SourceResult>,
}

/// Runs every capture of the manifest and scores the decisions.
pub fn run(manifest: &Path, cfg: &Config, setup: &SuricataSetup) -> Result<Evaluation, CtlError> {
    let (m, base) = Manifest::load(manifest)?;
    let mut captures = Vec::new();
    let mut sources = Vec::new();
    for spec in &m.captures {
        let pcap = base.join(&spec.pcap);
        let mut cfg = cfg.clone();
        for n in &spec.home {
            if !cfg.network.home_networks.contains(n) {
                cfg.network.home_networks.push(*n);
            }
        }
        tracing::info!(capture = %pcap.display(), "evaluating");
        let run = analyze::run_suricata(&pcap, &cfg, setup)?;
        let flows = flow_sources(&run.eve())?;
        let report = analyze::eve_file(&run.eve(), &cfg, analyze::ReplayOrder::Canonical)?;
        let name = spec.pcap.display().to_string();
        captures.push(CaptureResult {
            capture: name.clone(),
            records: report.records,
            sources: flows.len() as u64,
            decisions: report.decisions.len() as u64,
            live_differs: differences(&run.live, &report.decisions, key),
            live_action_differs: differences(
                &strongest(&run.live),
                &strongest(&report.decisions),
                action_key,
            ),
        });
        sources.extend(score(&name, spec, &flows, &report.decisions));
    }
    let (totals, by_reason) = totals(&sources);
    // Clean unlisted addresses are counted, not listed.
    sources.retain(|s| s.outcome != "clean" || s.listed);
    Ok(Evaluation {
        manifest: manifest.display().to_string(),
        name: m.name,
        totals,
        by_reason,
        captures,
        sources,
    })
}

/// Flow records started, per source address.
fn flow_sources(eve: &Path) -> Result<BTreeMap<IpAddr, u64>, CtlError> {
    let text = std::fs::read(eve).map_err(CtlError::file("read", eve))?;
    let mut out = BTreeMap::new();
    for line in text.split(|&b| b == b'\n') {
        let Ok(rec) = suriguard_eve::parse(line) else {
            continue;
        };
        if rec.kind() == suriguard_eve::EventType::Flow {
            if let Some(src) = rec.src_ip {
                *out.entry(src).or_insert(0) += 1;
            }
        }
    }
    Ok(out)
}

fn key(d: &Decision) -> String {
    format!("{} {} {}", d.target, d.reason.as_str(), d.action.as_str())
}

fn action_key(d: &Decision) -> String {
    format!("{} {}", d.target, d.action.as_str())
}

/// Each target's strongest decision (block or quarantine over rate-limit over
/// alert-only): what was done to it. An alert that an enforcing decision later
/// overtook, or that one in force held back, depends on the order records came in.
fn strongest(ds: &[Decision]) -> Vec<Decision> {
    let rank = |a: Action| match a {
        Action::AlertOnly => 0,
        Action::RateLimit => 1,
        Action::Block | Action::Quarantine => 2,
    };
    let mut best: BTreeMap<IpAddr, &Decision> = BTreeMap::new();
    for d in ds {
        let e = best.entry(d.target).or_insert(d);
        if rank(d.action) > rank(e.action) {
            *e = d;
        }
    }
    best.into_values().cloned().collect()
}

fn differences(
    live: &[Decision],
    replay: &[Decision],
    key: fn(&Decision) -> String,
) -> Vec<String> {
    let a: BTreeSet<String> = live.iter().map(key).collect();
    let b: BTreeSet<String> = replay.iter().map(key).collect();
    a.symmetric_difference(&b)
        .map(|k| {
            if a.contains(k) {
                format!("live only: {k}")
            } else {
                format!("replay only: {k}")
            }
        })
        .collect()
}

/// Scores every address of one capture.
fn score(
    capture: &str,
    spec: &CaptureSpec,
    flows: &BTreeMap<IpAddr, u64>,
    decisions: &[Decision],
) -> Vec<SourceResult> {
    let mut by_target: BTreeMap<IpAddr, Vec<&Decision>> = BTreeMap::new();
    for d in decisions {
        by_target.entry(d.target).or_default().push(d);
    }
    let listed: BTreeMap<IpAddr, &SourceSpec> = spec.sources.iter().map(|s| (s.ip, s)).collect();
    let mut addrs: BTreeSet<IpAddr> = flows.keys().copied().collect();
    addrs.extend(listed.keys().copied());
    addrs.extend(by_target.keys().copied());
    addrs
        .into_iter()
        .map(|ip| {
            let s = listed.get(&ip);
            let label = s.map_or(spec.unlisted, |s| s.label);
            let expected = s.and_then(|s| s.detectors.clone()).unwrap_or_default();
            let ran = s.is_none_or(|s| s.ran);
            let ds: Vec<&Decision> = by_target.get(&ip).cloned().unwrap_or_default();
            let outcome = outcome(label, &expected, ran, &ds);
            SourceResult {
                capture: capture.to_owned(),
                ip,
                label,
                scenario: s.map(|s| s.scenario.clone()).unwrap_or_default(),
                tool: s.and_then(|s| s.tool.clone()),
                expected,
                ran,
                flows: flows.get(&ip).copied().unwrap_or(0),
                outcome,
                listed: s.is_some(),
                decisions: ds
                    .iter()
                    .map(|d| Decided {
                        action: d.action,
                        limit: d.limit,
                        reason: d.reason.as_str().to_owned(),
                        confidence: d.confidence,
                        summary: d.summary.clone(),
                    })
                    .collect(),
            }
        })
        .collect()
}

fn outcome(label: Label, expected: &[String], ran: bool, ds: &[&Decision]) -> &'static str {
    if !ran {
        return "not-run";
    }
    match label {
        Label::Attack | Label::AttackTarget => {
            if ds.is_empty() {
                "missed"
            } else if expected.is_empty()
                || ds
                    .iter()
                    .any(|d| expected.iter().any(|e| e == d.reason.as_str()))
            {
                "hit"
            } else {
                "other-detector"
            }
        }
        Label::Benign => {
            // A rate limit enforces too: on a benign address it is a false decision.
            if ds.iter().any(|d| d.action.enforces()) {
                "false-block"
            } else if ds.is_empty() {
                "clean"
            } else {
                "false-alert"
            }
        }
    }
}

fn totals(sources: &[SourceResult]) -> (Totals, BTreeMap<String, ByReason>) {
    let mut t = Totals::default();
    let mut by: BTreeMap<String, ByReason> = BTreeMap::new();
    for s in sources {
        match (s.label, s.outcome) {
            (_, "not-run") => continue,
            (Label::Benign, o) => {
                t.benign += 1;
                match o {
                    "false-block" => t.benign_blocked += 1,
                    "false-alert" => t.benign_alerted += 1,
                    _ => {}
                }
                for d in &s.decisions {
                    let e = by.entry(d.reason.clone()).or_default();
                    if !d.action.enforces() {
                        e.benign_alerted += 1;
                    } else {
                        e.benign_blocked += 1;
                    }
                }
            }
            (_, o) => {
                t.attacks += 1;
                match o {
                    "hit" => t.attacks_hit += 1,
                    "other-detector" => t.attacks_other_detector += 1,
                    _ => t.attacks_missed += 1,
                }
                for d in &s.decisions {
                    by.entry(d.reason.clone()).or_default().attack += 1;
                }
            }
        }
    }
    let decided_attacks = t.attacks_hit + t.attacks_other_detector;
    let decided = decided_attacks + t.benign_blocked + t.benign_alerted;
    t.precision = ratio(decided_attacks, decided);
    t.recall = ratio(decided_attacks, t.attacks);
    t.benign_blocked_pct = (ratio(t.benign_blocked, t.benign) * 10_000.0).round() / 100.0;
    (t, by)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        return 0.0;
    }
    (a as f64 / b as f64 * 1000.0).round() / 1000.0
}

/// The evaluation for people: totals, per reason, then every scored address.
pub fn table(e: &Evaluation) -> String {
    let t = &e.totals;
    let mut out = format!(
        "{}: attacks {}/{} decided ({} by the right detector, {} by another, {} missed); \
         benign {}: {} blocked, quarantined or rate-limited ({:.2} %), {} alerted; precision {:.3}, recall {:.3}\n",
        if e.name.is_empty() { &e.manifest } else { &e.name },
        t.attacks_hit + t.attacks_other_detector,
        t.attacks,
        t.attacks_hit,
        t.attacks_other_detector,
        t.attacks_missed,
        t.benign,
        t.benign_blocked,
        t.benign_blocked_pct,
        t.benign_alerted,
        t.precision,
        t.recall,
    );
    for c in &e.captures {
        if !c.live_action_differs.is_empty() {
            for d in &c.live_action_differs {
                out.push_str(&format!("  {}: live and replay differ: {d}\n", c.capture));
            }
        } else if !c.live_differs.is_empty() {
            out.push_str(&format!(
                "  {}: live and replay agree on targets and actions; first reasons differ: {}\n",
                c.capture,
                c.live_differs.join("; ")
            ));
        }
    }
    out.push_str("\nREASON                 ATTACKS  BENIGN-BLOCKED  BENIGN-ALERTED\n");
    for (r, b) in &e.by_reason {
        out.push_str(&format!(
            "{r:<22} {:>7}  {:>14}  {:>14}\n",
            b.attack, b.benign_blocked, b.benign_alerted
        ));
    }
    out.push_str("\nOUTCOME         LABEL          ADDRESS                   SCENARIO                  FLOWS  DECISIONS\n");
    for s in &e.sources {
        let ds: Vec<String> = s
            .decisions
            .iter()
            .map(|d| match d.limit {
                Some(l) => format!("{} {l}:{}", d.action.as_str(), d.reason),
                None => format!("{}:{}", d.action.as_str(), d.reason),
            })
            .collect();
        let label = match s.label {
            Label::Attack => "attack",
            Label::AttackTarget => "attack-target",
            Label::Benign => "benign",
        };
        out.push_str(&format!(
            "{:<15} {:<14} {:<25} {:<25} {:>5}  {}\n",
            s.outcome,
            label,
            s.ip.to_string(),
            s.scenario,
            s.flows,
            if ds.is_empty() {
                "-".into()
            } else {
                ds.join(", ")
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use suriguard_decision::Reason;
    use suriguard_net::Direction;

    fn decision(target: &str, action: Action, reason: Reason) -> Decision {
        let target: IpAddr = target.parse().unwrap();
        Decision {
            id: Decision::make_id(target, reason, 0),
            time: String::new(),
            time_us: 0,
            target,
            action,
            limit: (action == Action::RateLimit).then_some(Limit {
                proto: suriguard_decision::L4::Tcp,
                port: 80,
            }),
            reason,
            direction: Direction::Inbound,
            summary: String::new(),
            evidence: suriguard_decision::Evidence {
                counter: String::new(),
                observed: 0,
                threshold: 0,
                window_secs: 0.0,
                example_flow_ids: vec![],
                detail: None,
                model: None,
                honeypot: None,
            },
            ttl: 1,
            confidence: 0.9,
            dry_run: true,
        }
    }

    fn src(ip: &str, label: Label, det: &[&str]) -> SourceSpec {
        SourceSpec {
            ip: ip.parse().unwrap(),
            label,
            scenario: "s".into(),
            tool: None,
            detectors: Some(det.iter().map(|s| s.to_string()).collect()),
            ran: true,
        }
    }

    #[test]
    fn scores_hits_misses_other_detectors_and_false_decisions() {
        let spec = CaptureSpec {
            pcap: "x.pcap".into(),
            home: vec![],
            unlisted: Label::Benign,
            sources: vec![
                src("203.0.113.1", Label::Attack, &["port-scan"]),
                src("203.0.113.2", Label::Attack, &["brute-force"]),
                src("203.0.113.3", Label::Attack, &["beaconing"]),
                src("192.168.50.9", Label::Benign, &[]),
                src("192.168.50.40", Label::AttackTarget, &["flood-target"]),
                src("192.168.50.41", Label::AttackTarget, &["flood-target"]),
                src("192.168.50.12", Label::Benign, &[]),
            ],
        };
        let flows: BTreeMap<IpAddr, u64> = [
            ("203.0.113.1", 5),
            ("203.0.113.2", 5),
            ("203.0.113.3", 5),
            ("192.168.50.9", 3),
            ("192.168.50.10", 3),
            ("192.168.50.11", 3),
            ("192.168.50.12", 3),
        ]
        .into_iter()
        .map(|(a, n)| (a.parse().unwrap(), n))
        .collect();
        let ds = vec![
            decision("203.0.113.1", Action::Block, Reason::PortScan),
            decision("203.0.113.2", Action::Block, Reason::ConnectionRate),
            decision("192.168.50.9", Action::Quarantine, Reason::OutboundFanOut),
            decision("192.168.50.10", Action::AlertOnly, Reason::SuricataAlert),
            decision("192.168.50.40", Action::RateLimit, Reason::FloodTarget),
            decision("192.168.50.41", Action::RateLimit, Reason::SynFlood),
            // A rate limit enforces: on a benign address it is a false decision.
            decision("192.168.50.12", Action::RateLimit, Reason::FloodTarget),
        ];
        let rs = score("x.pcap", &spec, &flows, &ds);
        let get = |ip: &str| {
            rs.iter()
                .find(|r| r.ip == ip.parse::<IpAddr>().unwrap())
                .unwrap()
                .outcome
        };
        assert_eq!(get("203.0.113.1"), "hit");
        assert_eq!(get("203.0.113.2"), "other-detector");
        assert_eq!(get("203.0.113.3"), "missed");
        assert_eq!(get("192.168.50.9"), "false-block");
        assert_eq!(get("192.168.50.10"), "false-alert");
        assert_eq!(get("192.168.50.11"), "clean");
        assert_eq!(get("192.168.50.40"), "hit");
        assert_eq!(get("192.168.50.41"), "other-detector");
        assert_eq!(get("192.168.50.12"), "false-block");
        let (t, by) = totals(&rs);
        assert_eq!((t.attacks, t.attacks_hit, t.attacks_missed), (5, 2, 1));
        assert_eq!((t.benign, t.benign_blocked, t.benign_alerted), (4, 2, 1));
        assert_eq!(t.recall, 0.8);
        assert_eq!(t.precision, 0.571);
        assert_eq!(by["outbound-fan-out"].benign_blocked, 1);
        assert_eq!(
            (by["flood-target"].attack, by["flood-target"].benign_blocked),
            (1, 1)
        );
        let shown = table(&Evaluation {
            name: "x".into(),
            manifest: String::new(),
            totals: t,
            by_reason: by,
            captures: vec![],
            sources: rs,
        });
        assert!(shown.contains("rate-limit tcp/80:flood-target"), "{shown}");
    }

    #[test]
    fn live_and_replay_differences_are_named() {
        let a = vec![decision("203.0.113.1", Action::Block, Reason::PortScan)];
        let b = vec![decision("203.0.113.2", Action::Block, Reason::PortScan)];
        let d = differences(&a, &b, key);
        assert_eq!(d.len(), 2);
        assert!(d[0].starts_with("live only: 203.0.113.1"));
        assert!(differences(&a, &a, key).is_empty());
        // Another reason for the same target and action: a reason difference only.
        let c = vec![decision("203.0.113.1", Action::Block, Reason::ScanProbes)];
        assert_eq!(differences(&a, &c, key).len(), 2);
        assert!(differences(&a, &c, action_key).is_empty());
    }

    #[test]
    fn manifest_paths_are_relative_to_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        std::fs::write(
            &p,
            r#"{"name":"n","captures":[{"pcap":"a.pcap","home":["192.168.50.0/24"],
                "sources":[{"ip":"203.0.113.1","label":"attack-target","ran":false}]}]}"#,
        )
        .unwrap();
        let (m, base) = Manifest::load(&p).unwrap();
        assert_eq!(base, dir.path());
        assert_eq!(m.captures[0].sources[0].label, Label::AttackTarget);
        assert!(!m.captures[0].sources[0].ran);
        assert_eq!(m.captures[0].unlisted, Label::Benign);
        std::fs::write(&p, r#"{"captures":[]}"#).unwrap();
        assert!(Manifest::load(&p)
            .unwrap_err()
            .to_string()
            .contains("no captures"));
    }
}
