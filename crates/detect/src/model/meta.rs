//! A model's sidecar metadata (`<model>.meta.json`), and its check against the feature
//! extractor the runtime will feed it from.
//!
//! ```json
//! {
//!   "name": "suriguard-seq-lstm", "version": "2", "format": "onnx",
//!   "extractor": "flow-seq-v1", "sequence-length": 8,
//!   "features": ["present", "log_bytes_toserver", "..."],
//!   "normalisation": { "mean": [0.0, 5.1, "..."], "std": [1.0, 2.3, "..."] },
//!   "output": "probabilities",
//!   "classes": ["benign", "scan", "flood", "brute-force", "c2"],
//!   "benign-class": "benign"
//! }
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::features::{FLOW_STEP_FEATURES, SEED_FEATURES};

/// Longest sequence a model may ask for.
pub const MAX_SEQUENCE: usize = 64;
/// Largest sidecar file read.
const MAX_META_BYTES: u64 = 1 << 20;

/// Where the features come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Extractor {
    /// One flow record at a time, the replaced system's 24 raw features.
    #[serde(rename = "seed-v1")]
    SeedV1,
    /// The last T flows of a source, [`crate::features::flow_step`] each.
    #[serde(rename = "flow-seq-v1")]
    FlowSeqV1,
}

impl Extractor {
    pub fn as_str(self) -> &'static str {
        match self {
            Extractor::SeedV1 => "seed-v1",
            Extractor::FlowSeqV1 => "flow-seq-v1",
        }
    }

    /// The feature names this extractor produces, in order.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Extractor::SeedV1 => &SEED_FEATURES,
            Extractor::FlowSeqV1 => &FLOW_STEP_FEATURES,
        }
    }

    /// Where the gap to the previous flow sits in a step (`log_gap`), if it has one: the
    /// sequencer fills it in when it reads a sequence.
    pub fn gap_feature(self) -> Option<usize> {
        self.features().iter().position(|f| *f == "log_gap")
    }
}

/// File format of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Onnx,
    Tflite,
}

/// What the model's one output holds, per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// Class probabilities (a softmax inside the model).
    #[default]
    Probabilities,
    /// Raw scores; the runtime applies the softmax.
    Logits,
}

/// Per-feature `(x - mean) / std`, applied to every real step (padding stays zero).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalisation {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// The sidecar file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModelMeta {
    pub name: String,
    #[serde(default)]
    pub version: String,
    /// Default: from the model file's extension.
    #[serde(default)]
    pub format: Option<Format>,
    pub extractor: Extractor,
    pub sequence_length: usize,
    pub features: Vec<String>,
    /// Absent: the features go in as they are.
    #[serde(default)]
    pub normalisation: Option<Normalisation>,
    #[serde(default)]
    pub output: Output,
    pub classes: Vec<String>,
    pub benign_class: String,
    /// Free text and figures for people (training data, model card); not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<serde_json::Value>,
}

/// `seq-lstm.onnx` → `seq-lstm.meta.json`.
pub fn default_meta_path(model: &Path) -> PathBuf {
    model.with_extension("meta.json")
}

impl ModelMeta {
    /// Reads and checks a sidecar file.
    pub fn load(path: &Path) -> Result<ModelMeta, String> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_META_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| format!("cannot read the model metadata {}: {e}", path.display()))?;
        if text.len() as u64 > MAX_META_BYTES {
            return Err(format!(
                "the model metadata {} is larger than {MAX_META_BYTES} bytes",
                path.display()
            ));
        }
        let meta: ModelMeta = serde_json::from_str(&text)
            .map_err(|e| format!("the model metadata {} is not valid: {e}", path.display()))?;
        meta.check()
            .map_err(|e| format!("the model metadata {} does not fit: {e}", path.display()))?;
        Ok(meta)
    }

    /// Number of features per step.
    pub fn width(&self) -> usize {
        self.features.len()
    }

    /// Index of the benign class.
    pub fn benign(&self) -> usize {
        self.classes
            .iter()
            .position(|c| *c == self.benign_class)
            .unwrap_or(0)
    }

    /// Checks the metadata against the extractor it names.
    pub fn check(&self) -> Result<(), String> {
        let want = self.extractor.features();
        if self.features.len() != want.len() || self.features.iter().zip(want).any(|(a, b)| a != b)
        {
            let first = self
                .features
                .iter()
                .zip(want)
                .position(|(a, b)| a != b)
                .unwrap_or(self.features.len().min(want.len()));
            return Err(format!(
                "its features do not match extractor {} ({} given, {} expected; first difference at position {first}: {:?} where the extractor has {:?})",
                self.extractor.as_str(),
                self.features.len(),
                want.len(),
                self.features.get(first).map(String::as_str).unwrap_or("<none>"),
                want.get(first).copied().unwrap_or("<none>"),
            ));
        }
        if self.sequence_length == 0 || self.sequence_length > MAX_SEQUENCE {
            return Err(format!(
                "sequence-length must be 1..={MAX_SEQUENCE}, not {}",
                self.sequence_length
            ));
        }
        if self.extractor == Extractor::SeedV1 && self.sequence_length != 1 {
            return Err("extractor seed-v1 reads one flow: sequence-length must be 1".into());
        }
        if let Some(n) = &self.normalisation {
            if n.mean.len() != want.len() || n.std.len() != want.len() {
                return Err(format!(
                    "normalisation has {} means and {} standard deviations for {} features",
                    n.mean.len(),
                    n.std.len(),
                    want.len()
                ));
            }
            if let Some(k) = n.mean.iter().position(|m| !m.is_finite()) {
                return Err(format!("normalisation mean of {} is not finite", want[k]));
            }
            if let Some(k) = n.std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(format!(
                    "normalisation std of {} must be finite and positive, not {}",
                    want[k], n.std[k]
                ));
            }
        }
        if self.classes.len() < 2 {
            return Err("a model needs at least two classes".into());
        }
        if !self.classes.contains(&self.benign_class) {
            return Err(format!(
                "benign-class {:?} is not one of the classes {:?}",
                self.benign_class, self.classes
            ));
        }
        Ok(())
    }

    /// The format: declared, or from the model file's extension.
    pub fn format_for(&self, model: &Path) -> Result<Format, String> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        match model.extension().and_then(|e| e.to_str()) {
            Some("onnx") => Ok(Format::Onnx),
            Some("tflite") => Ok(Format::Tflite),
            _ => Err(format!(
                "cannot tell the format of {} (not .onnx or .tflite; set \"format\" in its metadata)",
                model.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn seq_meta() -> ModelMeta {
        ModelMeta {
            name: "t".into(),
            version: "1".into(),
            format: None,
            extractor: Extractor::FlowSeqV1,
            sequence_length: 8,
            features: FLOW_STEP_FEATURES.iter().map(|s| s.to_string()).collect(),
            normalisation: Some(Normalisation {
                mean: vec![0.0; 24],
                std: vec![1.0; 24],
            }),
            output: Output::Probabilities,
            classes: vec!["benign".into(), "scan".into()],
            benign_class: "benign".into(),
            about: None,
        }
    }

    #[test]
    fn a_matching_sidecar_passes() {
        seq_meta().check().unwrap();
        assert_eq!(seq_meta().benign(), 0);
        assert_eq!(
            default_meta_path(Path::new("/m/seq-lstm.onnx")),
            PathBuf::from("/m/seq-lstm.meta.json")
        );
    }

    #[test]
    fn mismatches_are_named() {
        let mut m = seq_meta();
        m.features.swap(1, 2);
        let e = m.check().unwrap_err();
        assert!(
            e.contains("position 1") && e.contains("log_bytes_toclient"),
            "{e}"
        );

        let mut m = seq_meta();
        m.features.pop();
        assert!(m.check().unwrap_err().contains("23 given, 24 expected"));

        let mut m = seq_meta();
        m.normalisation.as_mut().unwrap().std[3] = 0.0;
        let e = m.check().unwrap_err();
        assert!(e.contains("log_pkts_toserver"), "{e}");

        let mut m = seq_meta();
        m.benign_class = "normal".into();
        assert!(m.check().unwrap_err().contains("benign-class"));

        let mut m = seq_meta();
        m.extractor = Extractor::SeedV1;
        assert!(m.check().unwrap_err().contains("seed-v1"));

        let mut m = seq_meta();
        m.sequence_length = 0;
        assert!(m.check().unwrap_err().contains("sequence-length"));
    }

    #[test]
    fn unknown_keys_and_bad_json_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.meta.json");
        let mut v = serde_json::to_value(seq_meta()).unwrap();
        v["colour"] = "blue".into();
        std::fs::write(&p, v.to_string()).unwrap();
        let e = ModelMeta::load(&p).unwrap_err();
        assert!(e.contains("colour") && e.contains("m.meta.json"), "{e}");
        std::fs::write(&p, "{\"name\": ").unwrap();
        assert!(ModelMeta::load(&p).unwrap_err().contains("not valid"));
        std::fs::write(&p, serde_json::to_string(&seq_meta()).unwrap()).unwrap();
        assert_eq!(ModelMeta::load(&p).unwrap(), seq_meta());
    }
}
