//! Threat intelligence for `rulesync`: indicators from MISP and feeds, normalised,
//! deduplicated with their provenance, compiled into Suricata datasets and rules.
//!
//! - [`indicator`]: canonical indicators and the normalisation that refuses bad ones;
//! - [`warninglist`]: values that must never become indicators;
//! - [`formats`]: readers for MISP, CSV/text, STIX 2.1, STIX 1.x, OpenIOC, Cowrie;
//! - [`store`]: the deduplicated store with provenance and expiry, saved crash-safely;
//! - [`compile`]: dataset files and rules with stable SIDs;
//! - [`trace`]: from an alert back to the indicators and MISP events behind it;
//! - [`suricatasc`]: a client for Suricata's unix socket (the `suricatasc` protocol);
//! - [`error`]: the crate's one error type, naming the input at fault.

#![forbid(unsafe_code)]

pub mod compile;
pub mod error;
pub mod formats;
pub mod indicator;
pub mod store;
pub mod suricatasc;
pub mod trace;
pub mod warninglist;

pub use compile::{CompileOptions, Compiled, DatasetMode};
pub use error::Error;
pub use formats::{Intake, Observation, Origin};
pub use indicator::{Indicator, Kind, Normalizer, Reject, Sides};
pub use store::Store;
pub use warninglist::Warninglists;
