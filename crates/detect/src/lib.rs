//! The detection pipeline: records in, decisions out.
//!
//! ```text
//! EVE bytes ─▶ parse ─▶ Engine (per-source windows, heuristics) ─┐
//!                   └──▶ model stage (sequences, tract, policy) ─┴▶ Proposal ─▶ Gate ─▶ Decision
//! ```
//!
//! - [`pipeline`]: the one object every driver runs ([`Pipeline::build`] from
//!   [`PipelineConfig`]); decisions leave only through [`Pipeline::drain_decisions`];
//! - [`engine`]: per-source state and the threshold heuristics, which propose;
//! - [`behaviour`]: detectors over minutes, application protocols and DNS (slow scans,
//!   login guessing, service scans, beaconing, DNS tunnels, flood targets), which
//!   propose through the engine;
//! - [`baseline`]: what each home device normally does (services, periodic contacts,
//!   volumes), learned, explained in decisions, kept across restarts;
//! - [`window`]: sliding windows on EVE time with bounded memory;
//! - [`features`]: model inputs computed from records and the engine's windows;
//! - [`model`]: the model's metadata, sequences, policy and (feature `ml`) the tract
//!   runtime and the stage, which propose too.
//!
//! No `unsafe`, no Suricata: everything here runs in unit tests and benchmarks.

#![forbid(unsafe_code)]

pub mod baseline;
pub mod behaviour;
pub mod engine;
pub mod features;
pub mod model;
pub mod pipeline;
mod stats;
pub mod window;

pub use engine::{DetectConfig, Engine, EngineStats};
pub use pipeline::{Pipeline, PipelineConfig};
pub use stats::{EventCounts, IngestStats};
