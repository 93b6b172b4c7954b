//! Reads the suriguard configuration file (`/etc/suriguard/suriguard.toml` by default)
//! and hands each part only its own sections.
//!
//! One file serves the plugin, `rulesync`'s companions and `suriguardctl`, but each part
//! owns the types of its sections and their validation (a crate implements [`Section`]
//! for them). A part asks for the sections it uses and nothing else, so a mistake in
//! `[notify]` can never stop the plugin: the plugin only checks that the other top-level
//! names are known ([`SECTIONS`]). `suriguardctl config check` asks for every section and
//! reports every problem with its key.
//!
//! ```toml
//! state-dir = "/var/lib/suriguard"
//! [network]   # plugin, suriguardctl
//! [detect]    # plugin
//! [model]     # plugin
//! [decisions] # plugin
//! [enforce]   # plugin, suriguardctl firewall/decisions
//! [alerts]    # suriguardctl
//! [misp]      # suriguardctl
//! [mitigate]  # suriguardctl
//! [notify]    # suriguardctl
//! ```

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use thiserror::Error;

/// Which program reads a top-level name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The plugin (and `suriguardctl analyze`, `decisions`, `firewall`): validated strictly
    /// at the plugin's start; a mistake refuses to start it.
    Plugin,
    /// `suriguardctl` only: a mistake never reaches the plugin.
    Reporting,
}

/// Every top-level name the file may hold, with its owner.
pub const SECTIONS: &[(&str, Owner)] = &[
    ("state-dir", Owner::Plugin),
    ("network", Owner::Plugin),
    ("detect", Owner::Plugin),
    ("model", Owner::Plugin),
    ("decisions", Owner::Plugin),
    ("enforce", Owner::Plugin),
    ("alerts", Owner::Reporting),
    ("misp", Owner::Reporting),
    ("mitigate", Owner::Reporting),
    ("notify", Owner::Reporting),
    ("console", Owner::Reporting),
    ("honeypot", Owner::Reporting),
];

/// The owner of a top-level name, if it is one the file may hold.
pub fn owner(name: &str) -> Option<Owner> {
    SECTIONS.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}

/// Where suriguard keeps state when `state-dir` is not set.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/suriguard";

/// Where the file is when no `--config` names another one.
pub const DEFAULT_PATH: &str = "/etc/suriguard/suriguard.toml";

/// A section of the file, owned by the crate that defines the type.
pub trait Section: DeserializeOwned + Default {
    /// The section's name in the file (`detect`, `notify`...).
    const NAME: &'static str;

    /// Checks values serde cannot; the message names the key (`[detect] port-scan.window
    /// must be ...`).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// Makes relative paths relative to the configuration file's folder.
    fn resolve_paths(&mut self, _dir: &Path) {}
}

/// Why a configuration file, or one of its sections, cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {file}: {message}")]
    Syntax { file: String, message: String },
    #[error("invalid config file {file}: unknown key `{name}` (known: {known})")]
    UnknownSection {
        file: String,
        name: String,
        known: String,
    },
    #[error("invalid config file {file}: {message}")]
    Invalid {
        file: String,
        /// The section (or top-level key) at fault.
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// The top-level key the problem is in, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownSection { name, .. } => Some(name),
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The file, parsed as TOML, its top-level names checked, its sections not yet read.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: Option<PathBuf>,
    table: toml::Table,
}

impl Default for ConfigFile {
    fn default() -> Self {
        ConfigFile::empty()
    }
}

impl ConfigFile {
    /// No file: every section at its defaults.
    pub fn empty() -> ConfigFile {
        ConfigFile {
            path: None,
            table: toml::Table::new(),
        }
    }

    /// Reads a file and checks its TOML syntax and its top-level names.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut file = ConfigFile::parse_named(&text, &path.display().to_string())?;
        file.path = Some(path.to_owned());
        Ok(file)
    }

    /// Parses text (tests, `config check` on standard input).
    pub fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse_named(text, "<text>")
    }

    fn parse_named(text: &str, file: &str) -> Result<ConfigFile, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_owned(),
            message: one_line(&e.to_string()),
        })?;
        for name in table.keys() {
            if owner(name).is_none() {
                return Err(ConfigError::UnknownSection {
                    file: file.to_owned(),
                    name: name.clone(),
                    known: SECTIONS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        Ok(ConfigFile { path: None, table })
    }

    /// The file's path, if it came from one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The name used in messages.
    pub fn display_name(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "<text>".into(),
        }
    }

    /// The folder relative paths in the file are relative to.
    pub fn dir(&self) -> &Path {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."))
    }

    /// Whether the file sets this top-level name.
    pub fn has(&self, name: &str) -> bool {
        self.table.contains_key(name)
    }

    /// `state-dir`, or [`DEFAULT_STATE_DIR`].
    pub fn state_dir(&self) -> Result<PathBuf, ConfigError> {
        match self.table.get("state-dir") {
            None => Ok(PathBuf::from(DEFAULT_STATE_DIR)),
            Some(toml::Value::String(s)) if !s.is_empty() => Ok(PathBuf::from(s)),
            Some(other) => Err(self.invalid(
                "state-dir",
                format!("state-dir must be a non-empty path, not {other}"),
            )),
        }
    }

    /// Reads and validates one section; absent means its defaults.
    pub fn section<T: Section>(&self) -> Result<T, ConfigError> {
        let mut value: T = match self.table.get(T::NAME) {
            None => T::default(),
            Some(v) => T::deserialize(v.clone()).map_err(|e| {
                self.invalid(
                    T::NAME,
                    format!("[{}] {}", T::NAME, one_line(&e.to_string())),
                )
            })?,
        };
        value
            .validate()
            .map_err(|message| self.invalid(T::NAME, message))?;
        value.resolve_paths(self.dir());
        Ok(value)
    }

    fn invalid(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.display_name(),
            key: key.to_owned(),
            message,
        }
    }
}

fn one_line(s: &str) -> String {
    s.trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
    struct Demo {
        limit: u32,
        file: Option<PathBuf>,
    }

    impl Section for Demo {
        const NAME: &'static str = "detect";
        fn validate(&self) -> Result<(), String> {
            if self.limit > 10 {
                return Err(format!(
                    "[detect] limit must be at most 10, not {}",
                    self.limit
                ));
            }
            Ok(())
        }
        fn resolve_paths(&mut self, dir: &Path) {
            if let Some(p) = &mut self.file {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
        }
    }

    #[test]
    fn absent_sections_are_defaults() {
        let f = ConfigFile::parse("").unwrap();
        assert_eq!(f.section::<Demo>().unwrap(), Demo::default());
        assert_eq!(f.state_dir().unwrap(), PathBuf::from(DEFAULT_STATE_DIR));
    }

    #[test]
    fn unknown_top_level_names_are_refused_by_name() {
        let e = ConfigFile::parse("[detcet]\nlimit = 1\n").unwrap_err();
        assert_eq!(e.key(), Some("detcet"));
        assert!(e.to_string().contains("unknown key `detcet`"), "{e}");
    }

    #[test]
    fn a_broken_section_does_not_stop_another_from_loading() {
        // [notify] is nonsense, but whoever reads only [detect] never sees it.
        let f = ConfigFile::parse("[detect]\nlimit = 3\n[notify]\nto = 7\n").unwrap();
        assert_eq!(f.section::<Demo>().unwrap().limit, 3);
    }

    #[test]
    fn problems_name_the_section_and_key() {
        let f = ConfigFile::parse("[detect]\nlimt = 3\n").unwrap();
        let e = f.section::<Demo>().unwrap_err();
        assert_eq!(e.key(), Some("detect"));
        assert!(e.to_string().contains("[detect]"), "{e}");
        assert!(e.to_string().contains("limt"), "{e}");
        let f = ConfigFile::parse("[detect]\nlimit = 30\n").unwrap();
        let e = f.section::<Demo>().unwrap_err();
        assert!(e.to_string().contains("limit must be at most 10"), "{e}");
        let e = ConfigFile::parse("state-dir = 3")
            .unwrap()
            .state_dir()
            .unwrap_err();
        assert_eq!(e.key(), Some("state-dir"));
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("suriguard.toml");
        std::fs::write(&path, "[detect]\nfile = \"m.onnx\"\n").unwrap();
        let d: Demo = ConfigFile::load(&path).unwrap().section().unwrap();
        assert_eq!(d.file.unwrap(), dir.path().join("m.onnx"));
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let e = ConfigFile::load(Path::new("/nonexistent/suriguard.toml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read config file /nonexistent/suriguard.toml:"),
            "{e}"
        );
    }
}
