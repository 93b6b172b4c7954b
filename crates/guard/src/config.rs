//! The plugin's part of the configuration file: `state-dir`, `[network]`, `[detect]`,
//! `[model]`, `[decisions]` and `[enforce]`. Validated strictly (a mistake refuses to
//! start the plugin, with the key named); every other section is left to its owner, so a
//! mistake in `[notify]` or `[misp]` never switches detection off.

use std::path::{Path, PathBuf};

use suriguard_config::{ConfigError, ConfigFile};
use suriguard_detect::PipelineConfig;
use suriguard_enforce::EnforceConfig;
use suriguard_net::NetworkModel;

/// What the plugin reads from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// Where suriguard keeps state that must survive restarts (journals, store).
    pub state_dir: PathBuf,
    pub pipeline: PipelineConfig,
    pub enforce: EnforceConfig,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            state_dir: PathBuf::from(suriguard_config::DEFAULT_STATE_DIR),
            pipeline: PipelineConfig::default(),
            enforce: EnforceConfig::default(),
        }
        .with_defaults()
    }
}

impl GuardConfig {
    /// Reads the plugin's sections of a parsed file.
    pub fn from_file(file: &ConfigFile) -> Result<GuardConfig, ConfigError> {
        Ok(GuardConfig {
            state_dir: file.state_dir()?,
            pipeline: PipelineConfig::from_file(file)?,
            enforce: file.section()?,
        }
        .with_defaults())
    }

    /// Fills in what defaults to a place in the state dir (the allowlist file).
    fn with_defaults(mut self) -> Self {
        self.pipeline.network = self
            .pipeline
            .network
            .with_default_allowlist_file(&self.state_dir);
        self
    }

    /// The allowlist file (`[network] allowlist-file`, or `allowlist.txt` in the state
    /// dir).
    pub fn allowlist_file(&self) -> PathBuf {
        self.pipeline
            .network
            .allowlist_file
            .clone()
            .unwrap_or_else(|| self.state_dir.join("allowlist.txt"))
    }

    /// Reads a file (or defaults without one).
    pub fn load(path: Option<&Path>) -> Result<GuardConfig, ConfigError> {
        match path {
            Some(p) => GuardConfig::from_file(&ConfigFile::load(p)?),
            None => Ok(GuardConfig::default()),
        }
    }

    pub fn network_model(&self) -> NetworkModel {
        self.pipeline.network.model()
    }

    /// The decisions journal: `[decisions] log`, or `decisions.jsonl` in the state dir.
    pub fn decisions_log(&self) -> PathBuf {
        self.pipeline
            .decisions
            .log
            .clone()
            .unwrap_or_else(|| self.state_dir.join("decisions.jsonl"))
    }

    /// The home devices' baselines: `[detect.baseline] file`, or `baselines.json` in the
    /// state dir; `None` when baselines are off.
    pub fn baselines_file(&self) -> Option<PathBuf> {
        let b = &self.pipeline.detect.baseline;
        b.enabled.then(|| {
            b.file
                .clone()
                .unwrap_or_else(|| self.state_dir.join("baselines.json"))
        })
    }

    /// The enforcement journal: `[enforce] journal`, or `enforce.jsonl` in the state dir.
    pub fn enforce_journal(&self) -> PathBuf {
        self.enforce
            .journal
            .clone()
            .unwrap_or_else(|| self.state_dir.join("enforce.jsonl"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GuardConfig, ConfigError> {
        GuardConfig::from_file(&ConfigFile::parse(text)?)
    }

    #[test]
    fn shipped_example_is_valid_for_the_plugin() {
        let text = include_str!("../../../suricata-conf/suriguard.toml");
        parse(text).unwrap();
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(parse("").unwrap(), GuardConfig::default());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = parse("state-dir = \"/x\"\nstate-dri = \"/y\"\n").unwrap_err();
        assert!(e.to_string().contains("state-dri"), "{e}");
        let e = parse("[detect]\nsyn-flod = { window = 3, threshold = 1 }\n").unwrap_err();
        assert!(e.to_string().contains("syn-flod"), "{e}");
    }

    #[test]
    fn reporting_mistakes_do_not_reach_the_plugin() {
        let cfg = parse(
            "[notify.email]\nto = []\nserver = \"x\"\n[misp]\nurl = \"not a url\"\n[detect]\nport-scan = { window = 5, threshold = 8 }\n",
        )
        .unwrap();
        assert_eq!(cfg.pipeline.detect.port_scan.threshold, 8);
    }

    #[test]
    fn sections_parse() {
        let cfg = parse(
            r#"
state-dir = "/tmp/sg"
[network]
home-networks = ["198.51.100.0/24", "2001:db8::/32"]
allowlist = ["203.0.113.10"]
own-addresses = ["198.51.100.1"]
[detect]
port-scan = { window = 5, threshold = 8 }
[decisions]
ttl = 60
dry-run = true
"#,
        )
        .unwrap();
        assert_eq!(cfg.pipeline.detect.port_scan.threshold, 8);
        assert_eq!(cfg.pipeline.detect.syn_flood.threshold, 200);
        assert!(cfg.pipeline.decisions.dry_run);
        assert_eq!(
            cfg.decisions_log(),
            PathBuf::from("/tmp/sg/decisions.jsonl")
        );
        assert_eq!(
            cfg.enforce_journal(),
            PathBuf::from("/tmp/sg/enforce.jsonl")
        );
        let net = cfg.network_model();
        assert!(net.is_home("198.51.100.7".parse().unwrap()));
        assert!(!net.is_home("192.168.1.1".parse().unwrap()));
        assert!(net.protected("198.51.100.1".parse().unwrap()).is_some());
    }

    #[test]
    fn bad_values_are_explained() {
        let msg = |t: &str| parse(t).unwrap_err().to_string();
        assert!(msg("[network]\nhome-networks = [\"1.2.3.4/40\"]").contains("1.2.3.4/40"));
        assert!(msg("[network]\nhome-networks = []").contains("home-networks"));
        assert!(
            msg("[detect]\nport-scan = { window = 0, threshold = 8 }").contains("port-scan.window")
        );
        assert!(msg("[decisions]\nttl = 0").contains("[decisions] ttl"));
        assert!(msg("[model]\nbatch = 0").contains("[model] batch"));
        assert!(msg("[enforce]\nhooks = []").contains("[enforce] hooks"));
    }
}
