//! Running a model through tract.
//!
//! [`Model::load`] reads the sidecar, checks it against the extractor, loads the model
//! (ONNX through tract-onnx; TFLite through tract-tflite where its operators are
//! supported), fixes every input shape to concrete sizes (tract cannot run the LSTM with a
//! symbolic batch), optimises one plan per batch size it will run, checks the output
//! shape against the classes, and runs each plan once on zeros. Loading is guarded
//! against panics: whatever goes wrong is a [`ModelError`] naming the file.
//!
//! A [`Model`] is shared (`Arc`); each thread that runs it makes its own [`Runner`] (the
//! plans' run-time states and scratch buffers).

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::model::meta::{Format, ModelMeta, Output};

/// Largest model file read (the seed model is 1.4 MB).
pub const MAX_MODEL_BYTES: u64 = 256 << 20;

/// Why a model could not be loaded or run.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("{0}")]
    Meta(String),
    #[error("cannot read the model {path}: {msg}")]
    Read { path: PathBuf, msg: String },
    #[error("cannot load the model {path}: {msg}")]
    Load { path: PathBuf, msg: String },
    #[error(
        "cannot load the TFLite model {path}: tract-tflite does not support its operator {op} ({why}); \
         convert it to ONNX with native LSTM operators (see models/seed/convert_seed.py and docs/MODELS.md)"
    )]
    UnsupportedTflite {
        path: PathBuf,
        op: String,
        why: String,
    },
    #[error("the model {path} does not fit its metadata: {msg}")]
    Mismatch { path: PathBuf, msg: String },
    #[error("the model {path} panicked while loading: {msg}")]
    Panicked { path: PathBuf, msg: String },
    #[error("model run failed: {0}")]
    Run(String),
}

/// A loaded model: its metadata and one optimised plan per batch size.
pub struct Model {
    meta: ModelMeta,
    path: PathBuf,
    /// (batch size, plan), smallest first.
    plans: Vec<(usize, Arc<TypedSimplePlan>)>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("name", &self.meta.name)
            .field("batches", &self.batch_sizes())
            .finish()
    }
}

/// Batch sizes a plan is made for: 1, then ×4 up to and including `max`. A sample's
/// scores depend in their last bits on the plan and on its row in the batch; the plan
/// for one sample gives the canonical score (see the model stage).
fn batch_sizes(max: usize) -> Vec<usize> {
    let mut v = vec![1];
    let mut b = 4;
    while b < max {
        v.push(b);
        b *= 4;
    }
    if max > 1 {
        v.push(max);
    }
    v
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl Model {
    /// Loads `path` with its sidecar `meta_path`, with plans for batches up to
    /// `max_batch` (a TFLite model keeps the batch it was exported with).
    pub fn load(path: &Path, meta_path: &Path, max_batch: usize) -> Result<Arc<Model>, ModelError> {
        let meta = ModelMeta::load(meta_path).map_err(ModelError::Meta)?;
        let format = meta.format_for(path).map_err(ModelError::Meta)?;
        let bytes = read_capped(path)?;
        let load = catch_unwind(AssertUnwindSafe(|| match format {
            Format::Onnx => load_onnx(path, &bytes, &meta, max_batch.max(1)),
            Format::Tflite => load_tflite(path, &bytes, &meta),
        }));
        let plans = match load {
            Ok(r) => r?,
            Err(p) => {
                return Err(ModelError::Panicked {
                    path: path.into(),
                    msg: panic_text(p.as_ref()),
                })
            }
        };
        let model = Arc::new(Model {
            meta,
            path: path.into(),
            plans,
        });
        // One run on zeros per plan: a model that cannot run is refused now, not on the
        // first flow.
        let mut runner = Arc::clone(&model).runner();
        for b in model.batch_sizes() {
            let zeros = vec![0.0; b * model.sample_len()];
            let mut out = Vec::new();
            let trial = catch_unwind(AssertUnwindSafe(|| runner.run(&zeros, b, &mut out)));
            let failed = match trial {
                Ok(Ok(())) if out.iter().all(|x| x.is_finite()) => None,
                Ok(Ok(())) => Some("it gave non-finite outputs".to_owned()),
                Ok(Err(e)) => Some(e.to_string()),
                Err(p) => Some(format!("it panicked: {}", panic_text(p.as_ref()))),
            };
            if let Some(msg) = failed {
                return Err(ModelError::Mismatch {
                    path: path.into(),
                    msg: format!("a trial run on zeros with batch {b} failed: {msg}"),
                });
            }
        }
        Ok(model)
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn batch_sizes(&self) -> Vec<usize> {
        self.plans.iter().map(|(b, _)| *b).collect()
    }

    /// The largest batch one run takes.
    pub fn max_batch(&self) -> usize {
        self.plans.last().map(|(b, _)| *b).unwrap_or(1)
    }

    /// Floats per sample.
    pub fn sample_len(&self) -> usize {
        self.meta.sequence_length * self.meta.width()
    }

    pub fn classes(&self) -> usize {
        self.meta.classes.len()
    }

    /// Run-time state for one thread.
    pub fn runner(self: Arc<Self>) -> Runner {
        Runner {
            states: vec![None; self.plans.len()],
            scratch: Vec::new(),
            model: self,
        }
    }
}

fn read_capped(path: &Path) -> Result<Vec<u8>, ModelError> {
    let err = |msg: String| ModelError::Read {
        path: path.into(),
        msg,
    };
    let f = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut bytes = Vec::new();
    f.take(MAX_MODEL_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > MAX_MODEL_BYTES {
        return Err(err(format!("larger than {MAX_MODEL_BYTES} bytes")));
    }
    if bytes.is_empty() {
        return Err(err("the file is empty".into()));
    }
    Ok(bytes)
}

/// The first sentence of each cause in a tract error chain.
fn chain(e: &TractError) -> String {
    e.chain()
        .map(|c| c.to_string().lines().next().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join(": ")
}

fn load_onnx(
    path: &Path,
    bytes: &[u8],
    meta: &ModelMeta,
    max_batch: usize,
) -> Result<Vec<(usize, Arc<TypedSimplePlan>)>, ModelError> {
    let load_err = |msg: String| ModelError::Load {
        path: path.into(),
        msg,
    };
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| load_err(format!("not a readable ONNX file ({})", chain(&e))))?;
    let inference = tract_onnx::onnx()
        .model_for_proto_model(&proto)
        .map_err(|e| load_err(chain(&e)))?;
    if inference.inputs.len() != 1 || inference.outputs.len() != 1 {
        return Err(ModelError::Mismatch {
            path: path.into(),
            msg: format!(
                "it has {} inputs and {} outputs; one of each is expected",
                inference.inputs.len(),
                inference.outputs.len()
            ),
        });
    }
    let (t, f) = (meta.sequence_length, meta.width());
    // The input shape the model declares: its sequence length and width, where fixed,
    // must be the metadata's.
    if let Ok(fact) = inference.input_fact(0) {
        let dims: Vec<Option<i64>> = fact
            .shape
            .dims()
            .map(|d| d.concretize().and_then(|d| d.as_i64()))
            .collect();
        let fits = |k: usize, want: usize| {
            dims.get(k)
                .is_none_or(|d| d.is_none_or(|d| d == want as i64))
        };
        let shown = |d: &Option<i64>| d.map(|d| d.to_string()).unwrap_or_else(|| "?".into());
        if (!fact.shape.is_open() && dims.len() != 3) || !fits(1, t) || !fits(2, f) {
            return Err(ModelError::Mismatch {
                path: path.into(),
                msg: format!(
                    "it declares its input as [{}]; the metadata says [batch, {t}, {f}] (batch, sequence-length, features)",
                    dims.iter().map(shown).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    let mut plans = Vec::new();
    for b in batch_sizes(max_batch) {
        let typed = inference
            .clone()
            .with_input_fact(0, f32::fact([b, t, f]).into())
            .and_then(|m| m.into_typed())
            .and_then(|m| m.into_decluttered())
            .and_then(stateless_scans)
            .and_then(|m| m.into_optimized())
            .map_err(|e| ModelError::Mismatch {
                path: path.into(),
                msg: format!(
                    "it does not take an input of shape [{b}, {t}, {f}] (batch, sequence-length, features): {}",
                    chain(&e)
                ),
            })?;
        check_output(path, &typed, b, meta)?;
        let plan = typed.into_runnable().map_err(|e| load_err(chain(&e)))?;
        plans.push((b, plan));
    }
    Ok(plans)
}

fn load_tflite(
    path: &Path,
    bytes: &[u8],
    meta: &ModelMeta,
) -> Result<Vec<(usize, Arc<TypedSimplePlan>)>, ModelError> {
    let typed = tract_tflite::tflite()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| {
            let text = format!("{e:?}");
            match unsupported_operator(&text) {
                Some(op) => ModelError::UnsupportedTflite {
                    path: path.into(),
                    op,
                    why: e
                        .root_cause()
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect(),
                },
                None => ModelError::Load {
                    path: path.into(),
                    msg: chain(&e),
                },
            }
        })?;
    let shape: Vec<usize> = typed
        .input_fact(0)
        .ok()
        .and_then(|f| f.shape.as_concrete().map(|s| s.to_vec()))
        .unwrap_or_default();
    let (t, f) = (meta.sequence_length, meta.width());
    if shape.len() != 3 || shape[1] != t || shape[2] != f {
        return Err(ModelError::Mismatch {
            path: path.into(),
            msg: format!("its input has shape {shape:?}; [batch, {t}, {f}] is expected"),
        });
    }
    let b = shape[0];
    check_output(path, &typed, b, meta)?;
    let typed = stateless_scans(typed)
        .and_then(|m| m.into_optimized())
        .map_err(|e| ModelError::Load {
            path: path.into(),
            msg: chain(&e),
        })?;
    let plan = typed.into_runnable().map_err(|e| ModelError::Load {
        path: path.into(),
        msg: chain(&e),
    })?;
    Ok(vec![(b, plan)])
}

/// Makes every recurrent loop (an LSTM becomes a `Scan`) start from its initial state on
/// every run. tract keeps a scan's last hidden state in the run-time state by default
/// (for streaming); reused across batches, one batch's final state would leak into the
/// next batch's first step.
fn stateless_scans(mut model: TypedModel) -> TractResult<TypedModel> {
    for node in model.nodes.iter_mut() {
        if let Some(scan) = node.op_as_mut::<tract_onnx::tract_core::ops::scan::Scan>() {
            scan.reset_every_turn = true;
        }
    }
    Ok(model)
}

/// The operator a tract-tflite error is about: the one it has no translation for
/// ("Unsupported: OperatorCode {..}"), or the one whose translation failed ("Opcode is
/// OperatorCode {..}" in the error's context).
fn unsupported_operator(text: &str) -> Option<String> {
    let at = text.rfind("OperatorCode {")?;
    let rest = &text[at..];
    let grab = |key: &str| -> Option<String> {
        let i = rest.find(key)? + key.len();
        let v: String = rest[i..]
            .trim_start_matches([' ', ':', '"', '('])
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        (!v.is_empty() && v != "None").then_some(v)
    };
    grab("custom_code: Some(")
        .or_else(|| grab(" builtin_code:"))
        .or(Some("(unnamed)".into()))
}

fn check_output(
    path: &Path,
    typed: &TypedModel,
    batch: usize,
    meta: &ModelMeta,
) -> Result<(), ModelError> {
    let fact = typed.output_fact(0).map_err(|e| ModelError::Load {
        path: path.into(),
        msg: chain(&e),
    })?;
    let shape = fact.shape.as_concrete().map(|s| s.to_vec());
    let want = [batch, meta.classes.len()];
    if shape.as_deref() != Some(&want[..]) || fact.datum_type != f32::datum_type() {
        return Err(ModelError::Mismatch {
            path: path.into(),
            msg: format!(
                "its output is {:?} {:?}; the metadata's {} classes need f32 [{}, {}]",
                fact.datum_type,
                shape,
                meta.classes.len(),
                batch,
                meta.classes.len()
            ),
        });
    }
    Ok(())
}

/// One thread's means of running a [`Model`].
pub struct Runner {
    model: Arc<Model>,
    states: Vec<Option<TypedSimpleState>>,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("model", &self.model)
            .finish()
    }
}

impl Runner {
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Runs `n` samples (`input` holds `n × sample_len` floats) and writes `n × classes`
    /// probabilities to `out`. More samples than the largest batch run in several calls;
    /// fewer than a plan's batch are padded with zeros.
    pub fn run(&mut self, input: &[f32], n: usize, out: &mut Vec<f32>) -> Result<(), ModelError> {
        let per = self.model.sample_len();
        if input.len() != n * per {
            return Err(ModelError::Run(format!(
                "{} floats given for {n} samples of {per}",
                input.len()
            )));
        }
        out.clear();
        let max = self.model.max_batch();
        let mut done = 0;
        while done < n {
            let k = (n - done).min(max);
            self.run_one(&input[done * per..(done + k) * per], k, out)?;
            done += k;
        }
        Ok(())
    }

    fn run_one(&mut self, input: &[f32], k: usize, out: &mut Vec<f32>) -> Result<(), ModelError> {
        let m = &self.model;
        let per = m.sample_len();
        let ix = m
            .plans
            .iter()
            .position(|(b, _)| *b >= k)
            .unwrap_or(m.plans.len() - 1);
        let (b, plan) = &m.plans[ix];
        let b = *b;
        let data: &[f32] = if b == k {
            input
        } else {
            self.scratch.clear();
            self.scratch.extend_from_slice(input);
            self.scratch.resize(b * per, 0.0);
            &self.scratch
        };
        let tensor = Tensor::from_shape(&[b, m.meta.sequence_length, m.meta.width()], data)
            .map_err(|e| ModelError::Run(chain(&e)))?;
        if self.states[ix].is_none() {
            self.states[ix] = Some(plan.spawn().map_err(|e| ModelError::Run(chain(&e)))?);
        }
        let state = self.states[ix].as_mut().expect("state made above");
        let result = state
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| ModelError::Run(chain(&e)))?;
        let view = result[0]
            .try_as_plain_ram()
            .map_err(|e| ModelError::Run(chain(&e)))?;
        let probs = view
            .as_slice::<f32>()
            .map_err(|e| ModelError::Run(chain(&e)))?;
        let c = m.classes();
        let start = out.len();
        out.extend_from_slice(&probs[..k * c]);
        if m.meta.output == Output::Logits {
            for row in out[start..].chunks_mut(c) {
                softmax(row);
            }
        }
        Ok(())
    }
}

fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in row.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_every_batch() {
        assert_eq!(batch_sizes(1), vec![1]);
        assert_eq!(batch_sizes(32), vec![1, 4, 16, 32]);
        assert_eq!(batch_sizes(64), vec![1, 4, 16, 64]);
    }

    #[test]
    fn unsupported_tflite_operators_are_named() {
        let text = r#"Unsupported: OperatorCode { deprecated_builtin_code: 32, custom_code: Some("FlexTensorListReserve"), version: 1, builtin_code: CUSTOM }, inputs: []"#;
        assert_eq!(unsupported_operator(text).unwrap(), "FlexTensorListReserve");
        let text = r#"Unsupported: OperatorCode { deprecated_builtin_code: 119, custom_code: None, version: 1, builtin_code: WHILE }"#;
        assert_eq!(unsupported_operator(text).unwrap(), "WHILE");
        let text = "Translating proto-op from Tflite into tract op: Operator: Opcode is OperatorCode {\n    deprecated_builtin_code: 45,\n    custom_code: None,\n    version: 1,\n    builtin_code: STRIDED_SLICE,\n}: Condition failed";
        assert_eq!(unsupported_operator(text).unwrap(), "STRIDED_SLICE");
        assert!(unsupported_operator("some other error").is_none());
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut r = [1.0, 2.0, 3.0];
        softmax(&mut r);
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(r[2] > r[1] && r[1] > r[0]);
    }
}
