//! The configuration as suriguardctl sees it: every section of the file.
//!
//! Commands that act for the plugin (`analyze`, `decisions`, `firewall`, `model export`)
//! read only the plugin's sections ([`Scope::Plugin`]), exactly as the plugin would;
//! the reporting commands read everything ([`Scope::All`]). `config check` reads every
//! section independently and reports every problem, each with its key.

use std::path::{Path, PathBuf};

use serde::Serialize;
use suriguard_config::{ConfigError, ConfigFile, Owner, Section};
use suriguard_decision::DecisionConfig;
use suriguard_detect::model::ModelConfig;
use suriguard_detect::{DetectConfig, PipelineConfig};
use suriguard_enforce::EnforceConfig;
use suriguard_guard::GuardConfig;
use suriguard_net::{NetworkConfig, NetworkModel};
use suriguard_report::incident::AlertsConfig;
use suriguard_report::misp_event::MispPushConfig;
use suriguard_report::mitigate::MitigateConfig;
use suriguard_report::notify::NotifyConfig;
use suriguard_report::ReportConfig;

/// Which sections a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `state-dir`, `[network]`, `[detect]`, `[model]`, `[decisions]`, `[enforce]`.
    Plugin,
    /// Every section.
    All,
}

/// Every section, flat (serialises back to the file's shape for `analyze --pcap`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    pub state_dir: PathBuf,
    pub network: NetworkConfig,
    pub detect: DetectConfig,
    pub model: ModelConfig,
    pub decisions: DecisionConfig,
    pub enforce: EnforceConfig,
    pub alerts: AlertsConfig,
    pub misp: MispPushConfig,
    pub mitigate: MitigateConfig,
    pub notify: NotifyConfig,
    pub console: suriguard_report::console::ConsoleConfig,
    pub honeypot: suriguard_report::honeypot::HoneypotConfig,
}

impl Config {
    /// The defaults (no file).
    pub fn defaults() -> Config {
        Config::from_parts(GuardConfig::default(), ReportConfig::default())
    }

    fn from_parts(g: GuardConfig, r: ReportConfig) -> Config {
        Config {
            state_dir: g.state_dir,
            network: g.pipeline.network,
            detect: g.pipeline.detect,
            model: g.pipeline.model,
            decisions: g.pipeline.decisions,
            enforce: g.enforce,
            alerts: r.alerts,
            misp: r.misp,
            mitigate: r.mitigate,
            notify: r.notify,
            console: r.console,
            honeypot: r.honeypot,
        }
    }

    /// Reads the sections `scope` asks for; the others keep their defaults.
    pub fn from_file(file: &ConfigFile, scope: Scope) -> Result<Config, ConfigError> {
        let guard = GuardConfig::from_file(file)?;
        let report = match scope {
            Scope::Plugin => ReportConfig::default(),
            Scope::All => ReportConfig::from_file(file)?,
        };
        Ok(Config::from_parts(guard, report))
    }

    /// `path`, else [`suriguard_config::DEFAULT_PATH`] if it exists, else the defaults.
    pub fn load(path: Option<&Path>, scope: Scope) -> Result<Config, ConfigError> {
        let default = Path::new(suriguard_config::DEFAULT_PATH);
        match path {
            Some(p) => Config::from_file(&ConfigFile::load(p)?, scope),
            None if default.exists() => Config::from_file(&ConfigFile::load(default)?, scope),
            None => Ok(Config::defaults()),
        }
    }

    pub fn pipeline(&self) -> PipelineConfig {
        PipelineConfig {
            network: self.network.clone(),
            detect: self.detect.clone(),
            model: self.model.clone(),
            decisions: self.decisions.clone(),
        }
    }

    pub fn guard(&self) -> GuardConfig {
        GuardConfig {
            state_dir: self.state_dir.clone(),
            pipeline: self.pipeline(),
            enforce: self.enforce.clone(),
        }
    }

    pub fn network_model(&self) -> NetworkModel {
        self.network.model()
    }

    pub fn decisions_log(&self) -> PathBuf {
        self.guard().decisions_log()
    }

    /// The allowlist file "never block this again" writes.
    pub fn allowlist_file(&self) -> PathBuf {
        self.guard().allowlist_file()
    }

    pub fn enforce_journal(&self) -> PathBuf {
        self.guard().enforce_journal()
    }

    /// The home devices' baselines the plugin saves (`None` when baselines are off).
    pub fn baselines_file(&self) -> Option<PathBuf> {
        self.guard().baselines_file()
    }

    /// suriguardctl's store: `[alerts] database`, or `suriguard.db` in the state dir.
    pub fn database(&self) -> PathBuf {
        self.alerts
            .database
            .clone()
            .unwrap_or_else(|| self.state_dir.join("suriguard.db"))
    }
}

/// One problem `config check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The top-level key at fault (`notify`, `state-dir`...), or `-` for the whole file.
    pub key: String,
    /// Whether the plugin refuses to start because of it.
    pub stops_plugin: bool,
    pub message: String,
}

fn one<T: Section>(f: &ConfigFile) -> Result<(), ConfigError> {
    f.section::<T>().map(drop)
}

/// Every problem of a file: each section is read on its own, so one mistake does not
/// hide the next.
pub fn check(path: &Path) -> Vec<Problem> {
    let problem = |e: ConfigError| {
        let key = e.key().unwrap_or("-").to_owned();
        Problem {
            // Only a reporting section's mistake leaves the plugin running.
            stops_plugin: suriguard_config::owner(&key) != Some(Owner::Reporting),
            key,
            message: e.to_string(),
        }
    };
    let file = match ConfigFile::load(path) {
        Ok(f) => f,
        Err(e) => return vec![problem(e)],
    };
    let results = [
        file.state_dir().map(drop),
        one::<NetworkConfig>(&file),
        one::<DetectConfig>(&file),
        one::<ModelConfig>(&file),
        one::<DecisionConfig>(&file),
        one::<EnforceConfig>(&file),
        one::<AlertsConfig>(&file),
        one::<MispPushConfig>(&file),
        one::<MitigateConfig>(&file),
        one::<NotifyConfig>(&file),
        one::<suriguard_report::honeypot::HoneypotConfig>(&file),
    ];
    results
        .into_iter()
        .filter_map(Result::err)
        .map(problem)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("suriguard.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn shipped_example_is_valid() {
        let text = include_str!("../../suricata-conf/suriguard.toml");
        let (_d, p) = write(text);
        assert_eq!(check(&p), vec![]);
        let cfg = Config::load(Some(&p), Scope::All).unwrap();
        assert_eq!(cfg.misp.min_severity, 2);
        assert_eq!(cfg.notify.cooldown, 3600);
    }

    #[test]
    fn every_problem_is_named_with_its_key() {
        let (_d, p) = write(
            "[notify.email]\nto = []\nserver = \"smtp.example\"\nfrom = \"a@example.org\"\n[misp]\nurl = \"ftp://misp\"\n[detect]\nport-scan = { window = 0, threshold = 3 }\n",
        );
        let problems = check(&p);
        let keys: Vec<(&str, bool)> = problems
            .iter()
            .map(|p| (p.key.as_str(), p.stops_plugin))
            .collect();
        assert_eq!(
            keys,
            vec![("detect", true), ("misp", false), ("notify", false)],
            "{problems:?}"
        );
        // The plugin's view: only [detect] matters.
        let e = Config::load(Some(&p), Scope::Plugin).unwrap_err();
        assert_eq!(e.key(), Some("detect"));
    }

    #[test]
    fn plugin_scope_ignores_reporting_mistakes() {
        let (_d, p) =
            write("[notify.email]\nto = []\nserver = \"smtp.example\"\nfrom = \"a@example.org\"\n");
        assert!(Config::load(Some(&p), Scope::Plugin).is_ok());
        let e = Config::load(Some(&p), Scope::All).unwrap_err();
        assert_eq!(e.key(), Some("notify"));
    }
}
