//! The model stage: per-source sequences of flow features, a model run through tract,
//! and the policy that turns its verdicts into decisions.
//!
//! - [`meta`]: the sidecar file that says what a model expects (extractor, feature names
//!   and order, sequence length, normalisation, classes, the benign class); checked
//!   against the feature extractor at load, before a single flow reaches the model.
//! - [`seq`]: the last T feature steps of every source, snapshotted into batches.
//! - [`policy`]: N malicious verdicts with confidence ≥ c within W seconds (EVE time)
//!   make a decision; by default the replaced system's 2, 0.60 and 60 s.
//! - `runtime` and `stage` (feature `ml`): tract itself and the glue the plugin's worker
//!   runs. Without the feature, this crate builds without tract.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod meta;
pub mod policy;
pub mod seq;

#[cfg(feature = "ml")]
pub mod runtime;
#[cfg(feature = "ml")]
pub mod stage;

pub use meta::{Extractor, ModelMeta};
pub use policy::PolicyConfig;

/// `[model]` in suriguard.toml. No `path`, no model stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ModelConfig {
    /// The model file (`.onnx`, or `.tflite` where tract-tflite supports its operators).
    pub path: Option<PathBuf>,
    /// Its sidecar metadata; default: the model's path with the extension replaced by
    /// `.meta.json` (`seq-lstm.onnx` → `seq-lstm.meta.json`).
    pub meta: Option<PathBuf>,
    /// Samples per model run; a pending batch runs as soon as it is this full.
    pub batch: usize,
    /// ... or once its oldest sample has waited this long (milliseconds, wall clock).
    pub deadline_ms: u64,
    /// Sources whose recent flows are remembered for the model (least recently seen
    /// forgotten beyond it). Each costs `sequence-length × features × 4` bytes.
    pub max_sources: usize,
    pub policy: PolicyConfig,
    /// What a model decision does: alert-only by default on both sides (the shipped
    /// model decides against too many real benign devices to block on its word, see
    /// models/seq-lstm/MODEL_CARD.md); `{ inbound = "block", home = "quarantine" }` to
    /// enforce.
    pub response: crate::behaviour::Response,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            path: None,
            meta: None,
            batch: 32,
            deadline_ms: 20,
            max_sources: 16_384,
            policy: PolicyConfig::default(),
            response: crate::behaviour::Response::new(
                suriguard_decision::Action::AlertOnly,
                suriguard_decision::Action::AlertOnly,
            ),
        }
    }
}

/// Counters of the model stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStats {
    pub model: String,
    /// Flow steps added to sequences.
    pub steps: u64,
    /// Samples run through the model.
    pub samples: u64,
    /// Model runs (batches).
    pub batches: u64,
    /// Batches run because they were full / because their deadline passed / at the end.
    pub flushed_full: u64,
    pub flushed_deadline: u64,
    pub flushed_final: u64,
    /// Samples not run, or malicious verdicts left unused, because the source is
    /// protected or already decided (which of the two depends on when batches ran; the
    /// decisions do not).
    pub skipped_gated: u64,
    pub malicious_verdicts: u64,
    /// Decisions admitted by the gate.
    pub decisions: u64,
    /// Runs that failed (the samples were dropped).
    pub run_errors: u64,
    pub sources_evicted: u64,
    /// Flows older than every step of their source's full sequence (not scored).
    #[serde(default)]
    pub too_old: u64,
    /// Candidates scored again alone for their verdict (not in `samples`).
    #[serde(default)]
    pub rescored: u64,
    /// Wall-clock time spent in batch runs (µs; failed runs included). Never read by
    /// detection: only reported.
    #[serde(default)]
    pub run_micros: u64,
    /// Set when the stage switched itself off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
}

impl suriguard_config::Section for ModelConfig {
    const NAME: &'static str = "model";

    fn validate(&self) -> Result<(), String> {
        ModelConfig::validate(self)
    }

    /// A relative model path is relative to the configuration file.
    fn resolve_paths(&mut self, dir: &std::path::Path) {
        for p in [&mut self.path, &mut self.meta].into_iter().flatten() {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

impl ModelConfig {
    /// The sidecar's path: `meta`, or the model's path with `.meta.json`.
    pub fn meta_path(&self) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        Some(
            self.meta
                .clone()
                .unwrap_or_else(|| meta::default_meta_path(path)),
        )
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.batch == 0 || self.batch > 1024 {
            return Err(format!(
                "[model] batch must be 1..=1024, not {}",
                self.batch
            ));
        }
        if self.deadline_ms > 10_000 {
            return Err(format!(
                "[model] deadline-ms must be at most 10000, not {}",
                self.deadline_ms
            ));
        }
        if self.max_sources == 0 {
            return Err("[model] max-sources must be at least 1".into());
        }
        self.response.check("[model] response")?;
        self.policy.validate()
    }
}
