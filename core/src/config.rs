//! The suriguard configuration file (`/etc/suriguard/suriguard.toml` by default).
//!
//! The plugin's eve-log settings only say where this file is; everything else about how
//! suriguard behaves lives here, shared by the plugin, `rulesync` and `suriguardctl`.
//! Unknown keys are errors, so a typo never silently becomes a default.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Where suriguard keeps state that must survive restarts (decision journal, ...).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: default_state_dir(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/suriguard")
}

/// Why a configuration file could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses configuration text; the error is a one-line message with the location.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = Config::from_toml("state-dir = \"/x\"\nstate-dri = \"/y\"\n").unwrap_err();
        assert!(e.contains("state-dri"), "{e}");
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let e = Config::load(Path::new("/nonexistent/suriguard.toml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read config file /nonexistent/suriguard.toml:"),
            "{e}"
        );
    }
}
