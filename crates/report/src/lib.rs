//! Reporting for `suriguardctl`: what happened, told to MISP and to people.
//!
//! - [`incident`]: incidents built from Suricata alerts and suriguard decisions,
//!   sanitised and bounded;
//! - [`misp_event`]: MISP event, attribute and sighting shapes, and the severity mapping;
//! - [`mitigate`]: the built-in mitigation knowledge base and LLM request/answer shapes;
//! - [`notify`]: notification settings and messages (email, Telegram, webhook);
//! - [`honeypot`]: Cowrie's JSON log read as honeypot decisions (`[honeypot]`);
//! - [`secret`]: secrets from the environment or owner-only files, kept out of output;
//! - [`error`]: the crate's one error type, naming the input at fault.
//!
//! Each section type here (`[alerts]`, `[misp]`, `[mitigate]`, `[notify]`) is read only by
//! `suriguardctl`: a mistake in one of them never reaches the plugin. The network I/O
//! (HTTP, SMTP, SQLite) lives in `suriguardctl`, so this crate stays pure and testable.

#![forbid(unsafe_code)]

pub mod console;
pub mod device;
pub mod error;
pub mod flows;
pub mod honeypot;
pub mod incident;
pub mod metrics;
pub mod misp_event;
pub mod mitigate;
pub mod notify;
pub mod secret;

pub use error::Error;
use suriguard_config::{ConfigError, ConfigFile};

/// The reporting sections of the configuration file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportConfig {
    pub alerts: incident::AlertsConfig,
    pub misp: misp_event::MispPushConfig,
    pub mitigate: mitigate::MitigateConfig,
    pub notify: notify::NotifyConfig,
    pub console: console::ConsoleConfig,
    pub honeypot: honeypot::HoneypotConfig,
}

impl ReportConfig {
    /// Reads and validates `[alerts]`, `[misp]`, `[mitigate]`, `[notify]`, `[console]` and
    /// `[honeypot]`.
    pub fn from_file(file: &ConfigFile) -> Result<ReportConfig, ConfigError> {
        Ok(ReportConfig {
            alerts: file.section()?,
            misp: file.section()?,
            mitigate: file.section()?,
            notify: file.section()?,
            console: file.section()?,
            honeypot: file.section()?,
        })
    }
}
