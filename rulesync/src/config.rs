//! rulesync's configuration file (TOML). Unknown keys are refused, so a typo never
//! silently disables a setting.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use suriguard_intel::{CompileOptions, DatasetMode};

use crate::error::SyncError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Where the rule file and datasets go (Suricata's rule-files point here).
    pub output_dir: PathBuf,
    /// Where rulesync keeps its state (`rulesync-state.json`).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default = "default_sid_base")]
    pub sid_base: u32,
    #[serde(default)]
    pub dataset_mode: DatasetMode,
    /// `alert` or `drop`.
    #[serde(default = "default_action")]
    pub action: String,
    /// Rule options added to every generated rule (`classtype:trojan-activity;`).
    #[serde(default)]
    pub extra_rule_options: String,
    #[serde(default = "default_v4")]
    pub min_prefix_v4: u8,
    #[serde(default = "default_v6")]
    pub min_prefix_v6: u8,
    /// MISP warninglist files (`list.json`) to add to the built-in ones.
    #[serde(default)]
    pub warninglists: Vec<PathBuf>,
    /// Addresses, prefixes and domains never to compile (your own, your partners').
    #[serde(default)]
    pub allowlist: Vec<String>,
    /// Default for sources: days an indicator stays after its source stops naming it.
    #[serde(default = "default_expire")]
    pub expire_after_days: u32,
    /// At most this many dataset changes are pushed live (`dataset-add`/`-remove`);
    /// more, or a changed rule file, means a rule reload.
    #[serde(default = "default_live_max")]
    pub live_max_changes: usize,
    #[serde(default)]
    pub suricata: SuricataConfig,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
}

/// Which Suricata the rules are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetVersion {
    /// Asks `binary -V` at each run (7 when it cannot be asked).
    #[default]
    Auto,
    #[serde(rename = "7")]
    V7,
    #[serde(rename = "8")]
    V8,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SuricataConfig {
    /// The `suricata` binary used for `-T` (and asked its version).
    #[serde(default = "default_suricata")]
    pub binary: PathBuf,
    /// `auto`, `"7"` or `"8"`: on 8, datasets carry per-value context (datajson) and
    /// alerts name the MISP events and attributes of the value they matched.
    #[serde(default)]
    pub version: TargetVersion,
    /// The suricata.yaml the generated rules are validated against.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// Run `suricata -T` before applying (default true).
    #[serde(default = "yes")]
    pub validate: bool,
    /// Extra arguments for `suricata -T` (`--set` overrides, for instance).
    #[serde(default)]
    pub test_args: Vec<String>,
    /// Suricata's unix socket; without it the files are swapped but nothing is reloaded.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// How long to wait for a rule reload to finish.
    #[serde(default = "default_reload_timeout")]
    pub reload_timeout_secs: u64,
    /// Suricata's data directory (`default-data-dir`). With `dataset-mode = "state"`
    /// Suricata only reads and writes dataset state files inside it, named relative to
    /// it, so `output-dir` must lie under it.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

impl Default for SuricataConfig {
    fn default() -> Self {
        SuricataConfig {
            binary: default_suricata(),
            version: TargetVersion::Auto,
            config: None,
            validate: true,
            test_args: Vec::new(),
            socket: None,
            reload_timeout_secs: default_reload_timeout(),
            data_dir: default_data_dir(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceType {
    Misp,
    MispFeed,
    /// MISP events in a file (or every file of a directory): wrapped, bare, a list, or a
    /// restSearch `response`.
    MispEvent,
    Csv,
    Text,
    Stix2,
    Stix1,
    Openioc,
    Cowrie,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: SourceType,
    /// A local file (or directory, for `misp-feed`).
    pub path: Option<PathBuf>,
    /// An http(s) URL (a MISP server's base URL for `misp`).
    pub url: Option<String>,
    /// With a directory `path`: only files whose name ends with this (`.json`).
    pub suffix: Option<String>,
    #[serde(default)]
    pub expire_after_days: Option<u32>,
    /// Off: the source is kept in the configuration but not pulled (its indicators stay
    /// until they expire).
    #[serde(default = "yes")]
    pub enabled: bool,

    // HTTP
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// A PEM CA certificate to trust in addition to the system's.
    pub ca_file: Option<PathBuf>,
    /// Never set this outside a lab: turns TLS certificate verification off.
    #[serde(default)]
    pub insecure_skip_verify: bool,

    // MISP
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// File holding the API key; must be readable by its owner only.
    pub api_key_file: Option<PathBuf>,
    #[serde(default = "yes")]
    pub to_ids: bool,
    #[serde(default = "yes")]
    pub published: bool,
    /// MISP attribute types to pull; empty = all types rulesync compiles.
    #[serde(default)]
    pub types: Vec<String>,
    /// restSearch's tag filter: attributes whose event or attribute has any of these
    /// tags; a name starting with `!` excludes (a gateway leaves out the events it
    /// pushed itself: `"!suriguard:gateway=\"a\""`). Empty: no filter.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "default_page")]
    pub page_size: u32,
    #[serde(default = "yes")]
    pub enforce_warninglist: bool,
    /// Hours between full (non-incremental) pulls, which refresh what is still present
    /// so that only what disappeared expires.
    #[serde(default = "default_full")]
    pub full_pull_hours: u32,

    // CSV / text
    #[serde(default = "one")]
    pub column: usize,
    #[serde(default = "comma")]
    pub delimiter: char,
    #[serde(default)]
    pub header: bool,
    #[serde(default = "hash")]
    pub comment: String,
    /// The MISP type of every value (`ip-dst`, `domain`, …); guessed per value if unset.
    pub indicator_type: Option<String>,

    // Cowrie
    #[serde(default = "one_u64")]
    pub min_score: u64,
}

fn default_state_dir() -> PathBuf {
    "/var/lib/suriguard".into()
}
fn default_sid_base() -> u32 {
    9_700_000
}
fn default_action() -> String {
    "alert".into()
}
fn default_v4() -> u8 {
    16
}
fn default_v6() -> u8 {
    48
}
fn default_expire() -> u32 {
    30
}
fn default_live_max() -> usize {
    1000
}
fn default_suricata() -> PathBuf {
    "suricata".into()
}
fn default_reload_timeout() -> u64 {
    120
}
fn default_data_dir() -> PathBuf {
    "/var/lib/suricata/data".into()
}
fn default_timeout() -> u64 {
    60
}
fn default_page() -> u32 {
    5000
}
fn default_full() -> u32 {
    24
}
fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn one_u64() -> u64 {
    1
}
fn comma() -> char {
    ','
}
fn hash() -> String {
    "#".into()
}

impl Config {
    /// The Suricata major the rules are for: the configured one, or what `binary -V`
    /// says; `None` (with a warning) when it cannot be asked.
    pub fn suricata_major(&self) -> Option<u32> {
        match self.suricata.version {
            TargetVersion::V7 => Some(7),
            TargetVersion::V8 => Some(8),
            TargetVersion::Auto => {
                let out = std::process::Command::new(&self.suricata.binary)
                    .arg("-V")
                    .output();
                let text = match &out {
                    Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
                    Err(_) => String::new(),
                };
                let m = version_major(&text);
                if m.is_none() {
                    tracing::warn!(
                        binary = %self.suricata.binary.display(),
                        "cannot tell the Suricata version (`-V`); keeping the format of the rules in force (set [suricata] version)"
                    );
                }
                m
            }
        }
    }

    pub fn compile_options(&self) -> CompileOptions {
        CompileOptions {
            sid_base: self.sid_base,
            mode: self.dataset_mode,
            action: self.action.clone(),
            extra_options: self.extra_rule_options.clone(),
            data_dir: self.suricata.data_dir.clone(),
            ..CompileOptions::default()
        }
    }

    /// Reads and checks the file: every problem names the file and the key at fault.
    pub fn load(path: &Path) -> Result<Config, SyncError> {
        let text = std::fs::read_to_string(path).map_err(|source| SyncError::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        let c: Config = toml::from_str(&text).map_err(|e| SyncError::ConfigParse {
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        c.check()
            .map_err(|(key, message)| SyncError::ConfigInvalid {
                path: path.to_owned(),
                key,
                message,
            })?;
        Ok(c)
    }

    /// The first inconsistent setting: its key and what is wrong with it.
    fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, message: String| Err((key.to_owned(), message));
        if !matches!(self.action.as_str(), "alert" | "drop" | "reject") {
            return bad(
                "action",
                format!("action {:?}: use alert, drop or reject", self.action),
            );
        }
        if self.min_prefix_v4 > 32 {
            return bad(
                "min-prefix-v4",
                format!("min-prefix-v4 = {}: at most 32", self.min_prefix_v4),
            );
        }
        if self.min_prefix_v6 > 128 {
            return bad(
                "min-prefix-v6",
                format!("min-prefix-v6 = {}: at most 128", self.min_prefix_v6),
            );
        }
        if self.sid_base == 0 || self.sid_base > u32::MAX - 100 {
            return bad(
                "sid-base",
                format!(
                    "sid-base = {}: must be at least 1 and leave room for 100 SIDs",
                    self.sid_base
                ),
            );
        }
        if self
            .compile_options()
            .dataset_dir(&self.output_dir)
            .is_none()
        {
            return bad("output-dir", format!(
                "dataset-mode = \"state\": Suricata keeps dataset state files only inside its data directory ({}) and refuses absolute paths for them; put output-dir under it (for example {}/suriguard) or set [suricata] data-dir to Suricata's default-data-dir",
                self.suricata.data_dir.display(),
                self.suricata.data_dir.display()
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for s in &self.sources {
            let key = |k: &str| format!("source.{}.{k}", s.name);
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return bad(
                    &key("name"),
                    format!(
                        "source name {:?}: use letters, digits, '-', '_', '.'",
                        s.name
                    ),
                );
            }
            if !names.insert(&s.name) {
                return bad(
                    &key("name"),
                    format!("source {:?} is defined twice", s.name),
                );
            }
            match (&s.path, &s.url) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return bad(
                        &key("path"),
                        format!("source {:?}: give exactly one of path and url", s.name),
                    )
                }
            }
            if s.kind == SourceType::Misp && s.url.is_none() {
                return bad(
                    &key("url"),
                    format!("source {:?}: a misp source needs url", s.name),
                );
            }
            if s.kind == SourceType::Misp && s.api_key_env.is_none() && s.api_key_file.is_none() {
                return bad(
                    &key("api-key-env"),
                    format!(
                        "source {:?}: a misp source needs api-key-env or api-key-file",
                        s.name
                    ),
                );
            }
            if s.page_size == 0 {
                return bad(
                    &key("page-size"),
                    format!("source {:?}: page-size starts at 1", s.name),
                );
            }
            if s.column == 0 {
                return bad(
                    &key("column"),
                    format!("source {:?}: column starts at 1", s.name),
                );
            }
            if !s.delimiter.is_ascii() {
                return bad(
                    &key("delimiter"),
                    format!(
                        "source {:?}: delimiter {:?} must be ASCII",
                        s.name, s.delimiter
                    ),
                );
            }
        }
        Ok(())
    }
}

/// The major of `This is Suricata version 8.0.8 RELEASE`.
pub fn version_major(text: &str) -> Option<u32> {
    let rest = &text[text.find("version ")? + "version ".len()..];
    rest.split(['.', ' ']).next()?.trim().parse().ok()
}
