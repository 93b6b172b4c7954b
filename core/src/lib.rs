//! suriguard's core library: everything that can be done without Suricata.
//!
//! The plugin, `rulesync` and `suriguardctl` share this crate. It holds no `unsafe` and
//! does not know about Suricata's ABI, so every piece of logic in it can be unit-tested
//! and benchmarked on its own:
//!
//! - [`eve`]: typed, borrowed views of Suricata EVE records and their timestamps;
//! - [`net`]: home networks, allowlist, protected addresses, record direction;
//! - [`window`]: sliding windows on EVE time with bounded memory;
//! - [`detect`]: per-source state and heuristics that propose decisions;
//! - [`decision`]: decisions, their cooldown and caps, the decisions journal;
//! - [`intel`]: threat-intelligence indicators compiled into Suricata datasets (rulesync);
//! - [`features`]: model inputs (the replaced model's 24 seed features);
//! - [`pipeline`]: what the plugin's worker does with each record (parse, count);
//! - [`stats`]: the counters a run produces and their one-line summary;
//! - [`incident`], [`misp_event`], [`mitigate`], [`notify`], [`secret`]: what
//!   `suriguardctl` reports (alerts and decisions), to MISP and to people;
//! - [`suricatasc`]: a client for Suricata's unix socket (the `suricatasc` protocol);
//! - [`settings`]: the plugin's settings from its eve-log node, validated;
//! - [`config`]: the suriguard configuration file those settings point to.

#![forbid(unsafe_code)]

pub mod config;
pub mod decision;
pub mod detect;
pub mod enforce;
pub mod eve;
pub mod features;
pub mod incident;
pub mod intel;
pub mod json;
pub mod misp_event;
pub mod mitigate;
pub mod model;
pub mod net;
pub mod notify;
pub mod pipeline;
pub mod secret;
pub mod settings;
pub mod stats;
pub mod suricatasc;
pub mod window;

pub use eve::{EveRecord, EveTime, EventType};
pub use pipeline::{Outcome, Pipeline};
pub use settings::{PluginSettings, SettingsError};
pub use stats::{EventCounts, IngestStats, PluginStats, WriteStats};
