//! The plugin's settings, read from its own node inside the eve-log output:
//!
//! ```yaml
//! outputs:
//!   - eve-log:
//!       filetype: suriguard
//!       suriguard:
//!         queue-size: 65536
//!         config: /etc/suriguard/suriguard.toml
//! ```
//!
//! The plugin walks that node and hands the key/value pairs here; validation happens in
//! one place and every error names the offending key, so Suricata's log says exactly what
//! to fix. Everything beyond these few start-up knobs lives in the `config` file.

use std::path::PathBuf;

use thiserror::Error;

/// The key of the plugin's node inside its eve-log output.
pub const NODE_NAME: &str = "suriguard";

/// A value from Suricata's configuration tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfValue {
    /// A scalar (Suricata keeps every scalar as a string).
    Scalar(String),
    /// A key with no value, or a map / sequence where a scalar was expected.
    NotScalar,
}

/// Validated plugin settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSettings {
    /// Capacity of the queue between `Write` and the worker, in records. A full queue
    /// drops (and counts) new records instead of blocking Suricata.
    pub queue_size: usize,
    /// Records longer than this are counted and dropped without being copied.
    pub max_record_size: usize,
    /// Bytes of record data the queue may hold at once; beyond it new records are
    /// dropped and counted like a full queue. Bounds the plugin's buffer memory
    /// whatever the record sizes.
    pub queue_bytes: usize,
    /// The suriguard configuration file (TOML); `None` runs with built-in defaults.
    pub config: Option<PathBuf>,
    /// Where to write the run's counters as JSON: every `stats_interval` seconds while
    /// Suricata runs, and at shutdown.
    pub stats_file: Option<PathBuf>,
    /// Seconds between two writes of `stats_file` while running; 0 writes it only at
    /// shutdown.
    pub stats_interval: u64,
    /// The eve.json this output writes (every record, one per line) so that no second,
    /// regular eve-log output is needed; `None` writes no file.
    pub eve_file: Option<PathBuf>,
    /// Capacity of the eve.json writer's queue, in records.
    pub eve_file_queue_size: usize,
    /// Bytes of record data the eve.json writer's queue may hold.
    pub eve_file_queue_bytes: usize,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            queue_size: 65_536,
            max_record_size: 256 * 1024,
            queue_bytes: 16 << 20,
            config: None,
            stats_file: None,
            stats_interval: 5,
            eve_file: None,
            eve_file_queue_size: 65_536,
            eve_file_queue_bytes: 16 << 20,
        }
    }
}

/// The largest queue we accept: beyond this a full queue is a memory problem, not a buffer.
pub const MAX_QUEUE_SIZE: usize = 1 << 24;

/// Why the plugin's settings were refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("unknown key `{key}` in the eve-log `suriguard` section (known keys: queue-size, queue-bytes, max-record-size, config, stats-file, stats-interval, eve-file, eve-file-queue-size, eve-file-queue-bytes)")]
    UnknownKey { key: String },
    #[error("`{key}` needs a value")]
    Missing { key: &'static str },
    #[error("`{key}` must be {expected}, got {value:?}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl PluginSettings {
    /// Builds settings from the entries of the plugin's node, in order. Unknown keys are
    /// errors (a typo must not silently fall back to a default).
    pub fn from_entries<I, K>(entries: I) -> Result<PluginSettings, SettingsError>
    where
        I: IntoIterator<Item = (K, ConfValue)>,
        K: AsRef<str>,
    {
        let mut s = PluginSettings::default();
        for (key, value) in entries {
            match key.as_ref() {
                "queue-size" => {
                    s.queue_size = integer(
                        "queue-size",
                        value,
                        1,
                        MAX_QUEUE_SIZE,
                        "an integer from 1 to 16777216",
                    )?
                }
                "max-record-size" => {
                    s.max_record_size = integer(
                        "max-record-size",
                        value,
                        64,
                        64 << 20,
                        "a size in bytes from 64 to 67108864",
                    )?
                }
                "queue-bytes" => {
                    s.queue_bytes = integer(
                        "queue-bytes",
                        value,
                        4096,
                        4 << 30,
                        "a size in bytes from 4096 to 4294967296",
                    )?
                }
                "config" => s.config = Some(path("config", value)?),
                "stats-file" => s.stats_file = Some(path("stats-file", value)?),
                "stats-interval" => {
                    s.stats_interval = integer(
                        "stats-interval",
                        value,
                        0,
                        3600,
                        "seconds from 0 (only at shutdown) to 3600",
                    )? as u64
                }
                "eve-file" => s.eve_file = Some(path("eve-file", value)?),
                "eve-file-queue-size" => {
                    s.eve_file_queue_size = integer(
                        "eve-file-queue-size",
                        value,
                        1,
                        MAX_QUEUE_SIZE,
                        "an integer from 1 to 16777216",
                    )?
                }
                "eve-file-queue-bytes" => {
                    s.eve_file_queue_bytes = integer(
                        "eve-file-queue-bytes",
                        value,
                        4096,
                        4 << 30,
                        "a size in bytes from 4096 to 4294967296",
                    )?
                }
                other => {
                    return Err(SettingsError::UnknownKey {
                        key: other.to_owned(),
                    })
                }
            }
        }
        Ok(s)
    }
}

fn scalar(key: &'static str, value: ConfValue) -> Result<String, SettingsError> {
    match value {
        ConfValue::Scalar(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(SettingsError::Missing { key }),
    }
}

fn integer(
    key: &'static str,
    value: ConfValue,
    min: usize,
    max: usize,
    expected: &'static str,
) -> Result<usize, SettingsError> {
    let raw = scalar(key, value)?;
    match raw.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(SettingsError::Invalid {
            key,
            value: raw,
            expected,
        }),
    }
}

fn path(key: &'static str, value: ConfValue) -> Result<PathBuf, SettingsError> {
    scalar(key, value).map(|v| PathBuf::from(v.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ConfValue {
        ConfValue::Scalar(v.to_owned())
    }

    #[test]
    fn defaults_when_empty() {
        assert_eq!(
            PluginSettings::from_entries(Vec::<(&str, ConfValue)>::new()).unwrap(),
            PluginSettings::default()
        );
    }

    #[test]
    fn reads_every_key() {
        let got = PluginSettings::from_entries([
            ("queue-size", s("1024")),
            ("max-record-size", s("4096")),
            ("queue-bytes", s("1048576")),
            ("config", s("/etc/suriguard/suriguard.toml")),
            ("stats-file", s("/tmp/x.json")),
            ("stats-interval", s("0")),
            ("eve-file", s("/var/log/suricata/eve.json")),
            ("eve-file-queue-size", s("100")),
            ("eve-file-queue-bytes", s("65536")),
        ])
        .unwrap();
        assert_eq!(
            got.eve_file.as_deref().and_then(|p| p.to_str()),
            Some("/var/log/suricata/eve.json")
        );
        assert_eq!(
            (got.eve_file_queue_size, got.eve_file_queue_bytes),
            (100, 65536)
        );
        assert_eq!(got.queue_size, 1024);
        assert_eq!(got.max_record_size, 4096);
        assert_eq!(got.queue_bytes, 1 << 20);
        assert_eq!(
            got.config.unwrap().to_str(),
            Some("/etc/suriguard/suriguard.toml")
        );
        assert_eq!(got.stats_file.unwrap().to_str(), Some("/tmp/x.json"));
        assert_eq!(got.stats_interval, 0);
    }

    #[test]
    fn errors_name_the_key() {
        let e = PluginSettings::from_entries([("queue-sise", s("10"))]).unwrap_err();
        assert!(e.to_string().contains("`queue-sise`"), "{e}");
        let e = PluginSettings::from_entries([("queue-size", s("lots"))]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`queue-size` must be an integer from 1 to 16777216, got \"lots\""
        );
        for bad in ["0", "-5", "99999999999"] {
            assert!(
                PluginSettings::from_entries([("queue-size", s(bad))]).is_err(),
                "{bad}"
            );
        }
        let e = PluginSettings::from_entries([("stats-interval", s("3601"))]).unwrap_err();
        assert!(e.to_string().contains("`stats-interval`"), "{e}");
        let e = PluginSettings::from_entries([("config", ConfValue::NotScalar)]).unwrap_err();
        assert_eq!(e, SettingsError::Missing { key: "config" });
    }
}
