//! The suriguard configuration file (`/etc/suriguard/suriguard.toml` by default).
//!
//! The plugin's eve-log settings only say where this file is; everything else about how
//! suriguard behaves lives here, shared by the plugin, `rulesync` and `suriguardctl`.
//! Unknown keys are errors, so a typo never silently becomes a default.
//!
//! ```toml
//! state-dir = "/var/lib/suriguard"
//!
//! [network]
//! home-networks = ["192.168.1.0/24", "fd00::/64"]   # default: RFC 1918 + fc00::/7
//! allowlist = ["203.0.113.10"]                       # never blocked
//! own-addresses = ["192.168.1.1"]                    # this box and the gateway
//!
//! [detect]
//! syn-flood = { window = 3, threshold = 200 }
//! port-scan = { window = 10, threshold = 20 }
//!
//! [decisions]
//! ttl = 3600
//! dry-run = true
//!
//! [enforce]
//! backend = "nftables"            # or "none": journal only
//! table = "suriguard"             # inet table; own-table = false to use an existing one
//! hooks = ["input", "forward"]
//! verdict = "drop"                # or "reject"
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::decision::DecisionConfig;
use crate::detect::DetectConfig;
use crate::enforce::EnforceConfig;
use crate::incident::AlertsConfig;
use crate::misp_event::MispPushConfig;
use crate::mitigate::MitigateConfig;
use crate::model::ModelConfig;
use crate::net::{default_home_networks, Cidr, NetworkModel};
use crate::notify::NotifyConfig;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Where suriguard keeps state that must survive restarts (decision journal, ...).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub network: NetworkConfig,
    #[serde(default)]
    pub detect: DetectConfig,
    /// The model stage (off unless `path` is set).
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub decisions: DecisionConfig,
    #[serde(default)]
    pub enforce: EnforceConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub misp: MispPushConfig,
    #[serde(default)]
    pub mitigate: MitigateConfig,
    #[serde(default)]
    pub notify: NotifyConfig,
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct NetworkConfig {
    /// The networks suriguard protects (IPv4 and IPv6 CIDRs).
    pub home_networks: Vec<Cidr>,
    /// Never blocked, whatever they do.
    pub allowlist: Vec<Cidr>,
    /// This machine's and the gateway's addresses: never blocked or quarantined.
    pub own_addresses: Vec<IpAddr>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            home_networks: default_home_networks(),
            allowlist: Vec::new(),
            own_addresses: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: default_state_dir(),
            network: NetworkConfig::default(),
            detect: DetectConfig::default(),
            model: ModelConfig::default(),
            decisions: DecisionConfig::default(),
            enforce: EnforceConfig::default(),
            alerts: AlertsConfig::default(),
            misp: MispPushConfig::default(),
            mitigate: MitigateConfig::default(),
            notify: NotifyConfig::default(),
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
        let mut cfg = Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        // A relative model path is relative to the configuration file.
        let dir = path.parent().unwrap_or(Path::new("."));
        for p in [&mut cfg.model.path, &mut cfg.model.meta]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        Ok(cfg)
    }

    /// Parses configuration text; the error is a one-line message with the location.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let cfg: Config =
            toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if self.network.home_networks.is_empty() {
            return Err("[network] home-networks must not be empty".into());
        }
        self.model.validate()?;
        let d = &self.detect;
        for (name, window) in [
            ("syn-flood", d.syn_flood.window),
            ("http-flood", d.http_flood.window),
            ("port-scan", d.port_scan.window),
            ("horizontal-scan", d.horizontal_scan.window),
            ("connection-rate", d.connection_rate.window),
            ("brute-force", d.brute_force.window),
            ("outbound-fan-out", d.outbound_fan_out.window),
        ] {
            if !(window > 0.0 && window <= 86_400.0) {
                return Err(format!(
                    "[detect] {name}.window must be between 0 and 86400 seconds, got {window}"
                ));
            }
        }
        if d.max_sources == 0 || d.max_targets == 0 {
            return Err("[detect] max-sources and max-targets must be at least 1".into());
        }
        if self.decisions.ttl == 0 {
            return Err("[decisions] ttl must be at least 1 second".into());
        }
        self.enforce.validate()?;
        self.misp.validate()?;
        self.mitigate.validate()?;
        self.notify.validate()
    }

    pub fn network_model(&self) -> NetworkModel {
        NetworkModel::new(
            self.network.home_networks.clone(),
            self.network.allowlist.clone(),
            self.network.own_addresses.clone(),
        )
    }

    /// The decisions journal: `[decisions] log`, or `decisions.jsonl` in the state dir.
    pub fn decisions_log(&self) -> PathBuf {
        self.decisions
            .log
            .clone()
            .unwrap_or_else(|| self.state_dir.join("decisions.jsonl"))
    }

    /// suriguardctl's store: `[alerts] database`, or `suriguard.db` in the state dir.
    pub fn database(&self) -> PathBuf {
        self.alerts
            .database
            .clone()
            .unwrap_or_else(|| self.state_dir.join("suriguard.db"))
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

    #[test]
    fn shipped_example_is_valid() {
        let text = include_str!("../../suricata-conf/suriguard.toml");
        let cfg = Config::from_toml(text).unwrap();
        assert_eq!(cfg.misp.min_severity, 2);
        assert_eq!(cfg.notify.cooldown, 3600);
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = Config::from_toml("state-dir = \"/x\"\nstate-dri = \"/y\"\n").unwrap_err();
        assert!(e.contains("state-dri"), "{e}");
        let e =
            Config::from_toml("[detect]\nsyn-flod = { window = 3, threshold = 1 }\n").unwrap_err();
        assert!(e.contains("syn-flod"), "{e}");
    }

    #[test]
    fn sections_parse() {
        let cfg = Config::from_toml(
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
        assert_eq!(cfg.detect.port_scan.threshold, 8);
        assert_eq!(cfg.detect.syn_flood.threshold, 200);
        assert!(cfg.decisions.dry_run);
        assert_eq!(
            cfg.decisions_log(),
            PathBuf::from("/tmp/sg/decisions.jsonl")
        );
        let net = cfg.network_model();
        assert!(net.is_home("198.51.100.7".parse().unwrap()));
        assert!(!net.is_home("192.168.1.1".parse().unwrap()));
        assert!(net.protected("198.51.100.1".parse().unwrap()).is_some());
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(
            Config::from_toml("[network]\nhome-networks = [\"1.2.3.4/40\"]")
                .unwrap_err()
                .contains("1.2.3.4/40")
        );
        assert!(Config::from_toml("[network]\nhome-networks = []")
            .unwrap_err()
            .contains("home-networks"));
        assert!(
            Config::from_toml("[detect]\nport-scan = { window = 0, threshold = 8 }")
                .unwrap_err()
                .contains("port-scan.window")
        );
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
