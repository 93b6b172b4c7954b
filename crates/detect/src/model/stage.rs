//! The model stage as the plugin's worker runs it: sequences in, batches through the
//! model, verdicts through the policy, decisions out.
//!
//! Each flow record (after the engine has counted it) adds a step to its source's
//! sequence; unless the source is protected or already decided, the sequence is copied
//! into the pending batch then and there (so what the model reads is fixed when the
//! flow arrives). The batch runs when it is full ([`ModelConfig::batch`]) or when its
//! oldest sample has waited [`ModelConfig::deadline_ms`] ([`MlStage::poll`], which the
//! worker calls between records and when the queue is idle).
//!
//! When a batch ran does not change what is decided. Its samples that may be malicious
//! wait as [`Candidate`]s, with the number of the record they came from, until the
//! pipeline takes them ([`MlStage::take_scored`]) and applies them in record order,
//! interleaved with the heuristics' proposals of the same records ([`MlStage::record`]
//! turns one into a verdict, and into a [`Tip`] when the policy completes). tract's
//! scores differ in their last bits with the batch a sample ran in and its row there, so
//! a candidate is scored again alone, and that score is the verdict: a batch only
//! selects the candidates, with a margin ([`CANDIDATE_MARGIN`]) far wider than those
//! differences. A tip passes the same gate as the heuristics';
//! only a tip the gate admits is spelled out as a [`Proposal`] ([`MlStage::proposal`]),
//! so a source the gate refuses (cooldown, caps) costs no formatting. Its evidence is
//! the flows the verdicts came from, and its time the latest verdict's EVE time.
//!
//! A model that fails to run is retried on the next batch; after
//! [`MAX_CONSECUTIVE_FAILURES`] failures in a row the stage switches itself off and says
//! why ([`MlStage::disabled`]); the heuristics carry on.

use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use suriguard_decision::{rfc3339, Action, ModelEvidence, ModelVerdict, Proposal, Reason};
use suriguard_eve::{EveRecord, EveTime};
use suriguard_net::Direction;

use crate::engine::Engine;
use crate::model::policy::{PolicyConfig, Verdict};
use crate::model::runtime::{Model, ModelError, Runner};
use crate::model::seq::{Sequencer, Step};
use crate::model::{ModelConfig, ModelStats};

/// Enough malicious verdicts on one source within the policy's window: a would-be
/// decision, before the gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Tip {
    pub src: IpAddr,
    /// Direction of the source's latest flow.
    pub direction: Direction,
    /// The verdicts, oldest first (never empty).
    pub verdicts: Vec<Verdict>,
}

impl Tip {
    /// EVE time of the latest verdict.
    pub fn time_us(&self) -> i64 {
        self.verdicts.last().map_or(0, |v| v.time_us)
    }
}

/// Failed runs in a row after which the stage turns itself off.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 3;

/// How far below `min-confidence` a batched score still makes a sample a candidate
/// (scored again alone). Batched and lone scores differ by about 1e-7.
pub const CANDIDATE_MARGIN: f64 = 1e-3;

/// A sample whose batched score came near or above the policy's confidence: its step
/// and its input, to score alone when its turn comes.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub step: Step,
    sample: Box<[f32]>,
}

/// The model stage of one worker thread.
pub struct MlStage {
    runner: Runner,
    seq: Sequencer,
    policy: PolicyConfig,
    response: crate::behaviour::Response,
    batch: usize,
    deadline: Duration,
    input: Vec<f32>,
    output: Vec<f32>,
    pending: Vec<Step>,
    oldest: Option<Instant>,
    /// Candidates of batches that ran, in record order, for the pipeline.
    scored: Vec<Candidate>,
    failures: u32,
    label: String,
    stats: ModelStats,
}

impl std::fmt::Debug for MlStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlStage")
            .field("model", &self.label)
            .finish()
    }
}

impl MlStage {
    /// Loads the configured model. `Ok(None)` when no model is configured.
    pub fn load(cfg: &ModelConfig) -> Result<Option<MlStage>, ModelError> {
        let (Some(path), Some(meta)) = (cfg.path.as_ref(), cfg.meta_path()) else {
            return Ok(None);
        };
        let model = Model::load(path, &meta, cfg.batch)?;
        Ok(Some(MlStage::new(model, cfg)))
    }

    pub fn new(model: Arc<Model>, cfg: &ModelConfig) -> MlStage {
        let meta = model.meta();
        let label = if meta.version.is_empty() {
            meta.name.clone()
        } else {
            format!("{} {}", meta.name, meta.version)
        };
        let seq = Sequencer::new(meta.extractor, meta.sequence_length, cfg.max_sources);
        let batch = cfg.batch.clamp(1, model.max_batch().max(1));
        MlStage {
            input: Vec::with_capacity(batch * model.sample_len()),
            runner: model.runner(),
            seq,
            policy: cfg.policy.clone(),
            response: cfg.response,
            batch,
            deadline: Duration::from_millis(cfg.deadline_ms),
            output: Vec::new(),
            pending: Vec::with_capacity(batch),
            oldest: None,
            scored: Vec::new(),
            failures: 0,
            stats: ModelStats {
                model: label.clone(),
                ..ModelStats::default()
            },
            label,
        }
    }

    /// A line for the log: what was loaded.
    pub fn describe(&self) -> String {
        let m = self.runner.model();
        let meta = m.meta();
        format!(
            "model {} loaded from {} ({}, {} steps × {} features, {} classes, batches {:?}; policy {} verdicts ≥ {} within {} s)",
            self.label,
            m.path().display(),
            meta.extractor.as_str(),
            meta.sequence_length,
            meta.width(),
            meta.classes.len(),
            m.batch_sizes(),
            self.policy.verdicts,
            self.policy.min_confidence,
            self.policy.window
        )
    }

    pub fn disabled(&self) -> Option<&str> {
        self.stats.disabled.as_deref()
    }

    /// Adds the flow's step and queues its source's sequence; runs the batch when full.
    /// Call after `engine.handle(rec)`; `seq` is the record's number in the input.
    /// `may_decide` says whether a decision with an action against a source could still
    /// be admitted at a time (not protected, not already decided): only then is the
    /// model run on it.
    pub fn observe(
        &mut self,
        rec: &EveRecord<'_>,
        engine: &Engine,
        seq: u64,
        may_decide: impl Fn(IpAddr, i64, Action) -> bool,
    ) {
        if self.stats.disabled.is_some() {
            return;
        }
        let Some(mut step) = self.seq.observe(rec, engine) else {
            return;
        };
        step.seq = seq;
        if !may_decide(step.src, step.time_us, self.response.action(step.direction)) {
            self.stats.skipped_gated += 1;
            return;
        }
        let per = self.seq.sample_len();
        let at = self.input.len();
        self.input.resize(at + per, 0.0);
        let norm = self.runner.model().meta().normalisation.as_ref();
        self.seq.snapshot(step.src, norm, &mut self.input[at..]);
        self.pending.push(step);
        if self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
        if self.pending.len() >= self.batch {
            self.stats.flushed_full += 1;
            self.flush();
        }
    }

    /// Runs the pending batch if its deadline has passed.
    pub fn poll(&mut self, now: Instant) {
        if self
            .oldest
            .is_some_and(|t| now.duration_since(t) >= self.deadline)
        {
            self.stats.flushed_deadline += 1;
            self.flush();
        }
    }

    /// How long until the pending batch is due (`None`: nothing pending).
    pub fn due_in(&self, now: Instant) -> Option<Duration> {
        self.oldest
            .map(|t| self.deadline.saturating_sub(now.duration_since(t)))
    }

    /// Runs whatever is pending (end of input).
    pub fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.stats.flushed_final += 1;
            self.flush();
        }
    }

    /// Whether samples wait for their batch to run.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Candidates of the batches run since the last call, in record order, for the
    /// pipeline to apply with [`MlStage::record`].
    pub fn take_scored(&mut self) -> Vec<Candidate> {
        std::mem::take(&mut self.scored)
    }

    /// Scores a candidate alone (its canonical score); a malicious verdict is filed
    /// with its source, and a [`Tip`] comes back when it completes the policy.
    pub fn record(&mut self, c: &Candidate) -> Option<Tip> {
        let step = &c.step;
        let run = catch_unwind(AssertUnwindSafe(|| {
            self.runner.run(&c.sample, 1, &mut self.output)
        }));
        self.stats.rescored += 1;
        let why = match run {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("the model run panicked".to_owned()),
        };
        if let Some(why) = why {
            self.fail(why);
            return None;
        }
        self.failures = 0;
        let meta = self.runner.model().meta();
        let classes = meta.classes.len();
        let mut v = Verdict::from_probabilities(
            &self.output[..classes],
            meta.benign(),
            step.time_us,
            step.steps,
        );
        if !v.malicious(&self.policy) {
            return None;
        }
        v.flow_id = step.flow_id;
        self.stats.malicious_verdicts += 1;
        let src = self.seq.source_mut(step.src)?;
        let tipped = src.record_verdict(v, &self.policy)?;
        // Transit flows never become steps (the sequencer skips them).
        (!tipped.is_empty()).then_some(Tip {
            src: step.src,
            direction: step.direction,
            verdicts: tipped,
        })
    }

    /// Counts a verdict left unused because its source was already decided.
    pub fn count_gated(&mut self) {
        self.stats.skipped_gated += 1;
    }

    /// What a decision on this tip does (`[model] response`).
    pub fn action(&self, tip: &Tip) -> Action {
        self.response.action(tip.direction)
    }

    /// What a decision on a source seen in this direction would do.
    pub fn action_for(&self, direction: suriguard_net::Direction) -> Action {
        self.response.action(direction)
    }

    /// The proposal a tip the gate admitted becomes (verdicts, classes, examples).
    pub fn proposal(&self, tip: &Tip) -> Proposal {
        let meta = self.runner.model().meta();
        let action = self.action(tip);
        model_proposal(tip, &self.label, &meta.classes, &self.policy, action)
    }

    /// Counts a proposal of this stage that the gate admitted.
    pub fn count_decision(&mut self) {
        self.stats.decisions += 1;
    }

    pub fn stats(&self) -> ModelStats {
        ModelStats {
            steps: self.seq.stats.steps,
            sources_evicted: self.seq.stats.sources_evicted,
            too_old: self.seq.stats.too_old,
            ..self.stats.clone()
        }
    }

    fn flush(&mut self) {
        let n = self.pending.len();
        self.oldest = None;
        if n == 0 {
            return;
        }
        let started = Instant::now();
        let run = catch_unwind(AssertUnwindSafe(|| {
            self.runner.run(&self.input, n, &mut self.output)
        }));
        self.stats.run_micros = self
            .stats
            .run_micros
            .saturating_add(started.elapsed().as_micros() as u64);
        let failed = match run {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("the model run panicked".to_owned()),
        };
        if let Some(why) = failed {
            self.input.clear();
            self.pending.clear();
            self.fail(why);
            return;
        }
        self.failures = 0;
        self.stats.batches += 1;
        self.stats.samples += n as u64;
        let meta = self.runner.model().meta();
        let classes = meta.classes.len();
        let benign = meta.benign();
        let per = self.seq.sample_len();
        let floor = self.policy.min_confidence - CANDIDATE_MARGIN;
        for (k, step) in self.pending.drain(..).enumerate() {
            let probs = &self.output[k * classes..(k + 1) * classes];
            let v = Verdict::from_probabilities(probs, benign, step.time_us, step.steps);
            if (v.confidence as f64) < floor {
                continue;
            }
            self.scored.push(Candidate {
                step,
                sample: self.input[k * per..(k + 1) * per].into(),
            });
        }
        self.input.clear();
    }

    /// Counts a failed run; after [`MAX_CONSECUTIVE_FAILURES`] in a row the stage
    /// switches itself off.
    fn fail(&mut self, why: String) {
        self.stats.run_errors += 1;
        self.failures += 1;
        if self.failures >= MAX_CONSECUTIVE_FAILURES && self.stats.disabled.is_none() {
            self.stats.disabled = Some(format!(
                "model stage disabled after {} failed runs in a row; heuristics continue: {why}",
                self.failures
            ));
        }
    }

    /// Sources whose recent flows are remembered.
    pub fn tracked_sources(&self) -> usize {
        self.seq.tracked_sources()
    }
}

/// The proposal behind a tip: its verdicts, the model, the policy and the flows the
/// verdicts came from as examples.
fn model_proposal(
    tip: &Tip,
    model: &str,
    classes: &[String],
    policy: &PolicyConfig,
    action: Action,
) -> Proposal {
    let (src, dir, verdicts) = (tip.src, tip.direction, &tip.verdicts);
    let class = |v: &Verdict| {
        classes
            .get(v.class as usize)
            .cloned()
            .unwrap_or_else(|| format!("class-{}", v.class))
    };
    let mean = verdicts.iter().map(|v| v.confidence as f64).sum::<f64>() / verdicts.len() as f64;
    Proposal {
        target: src,
        direction: dir,
        time_us: tip.time_us(),
        action,
        limit: None,
        reason: Reason::Model,
        counter: "malicious model verdicts",
        observed: verdicts.len() as u64,
        threshold: policy.verdicts as u64,
        window: policy.window,
        detail: Some(format!(
            "model {model}: {}",
            verdicts
                .iter()
                .map(|v| format!("{} {:.2}", class(v), v.confidence))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        confidence: (mean * 10_000.0).round() / 10_000.0,
        example_flow_ids: {
            let mut ids: Vec<u64> = verdicts.iter().filter_map(|v| v.flow_id).collect();
            ids.dedup();
            ids
        },
        model: Some(ModelEvidence {
            model: model.to_owned(),
            min_confidence: policy.min_confidence,
            verdicts: verdicts
                .iter()
                .map(|v| ModelVerdict {
                    time: rfc3339(EveTime(v.time_us)),
                    class: class(v),
                    confidence: (v.confidence as f64 * 10_000.0).round() / 10_000.0,
                    steps: v.steps,
                })
                .collect(),
        }),
    }
}
