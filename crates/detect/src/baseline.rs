//! Per-device baselines: what each home device normally does, learned from its own
//! traffic, kept across restarts.
//!
//! A home device is identified by its address and, when EVE carries them (eve-log
//! `ethernet: yes`, the `dhcp` event type), by its MAC address and the host name it gave
//! DHCP. Over its learning period (`[detect.baseline] learning`, EVE time since the
//! device was first seen) a [`Profile`] collects:
//!
//! - the services it uses outside: (protocol, port) of contacts that were answered, with
//!   when each was first and last used and how often;
//! - its periodic contacts: what the beaconing detector found regular, and whether that
//!   was during learning;
//! - its volumes: the busiest upload window ([`crate::behaviour::VolumeAnomaly`]) and the
//!   most distinct outside hosts it reached on one day.
//!
//! What the baseline does with that:
//!
//! - **explains** decisions about the device: how old its baseline is, whether the
//!   port of the record that tipped a decision is one it has used before ("first
//!   connection to port 23/tcp in 14 days"), how many hosts it reached today against
//!   its busiest earlier day, its MAC and host name;
//! - **suppresses** the beaconing detector on a periodic contact learned during the
//!   learning period, once the device has finished learning (counted, never silent). A
//!   periodic contact first seen after learning is alerted as new, every time;
//! - gives the volume detector the device's own history, so a restart does not forget
//!   what a normal day looks like.
//!
//! Everything runs on EVE time. The plugin loads the file at start and saves it (atomic
//! replace) every `save-interval` seconds and at shutdown; offline analysis starts from
//! an empty baseline so the same capture gives the same decisions whatever ran before.
//! Size is bounded: the file holds `max-devices` profiles (the least recently seen
//! dropped); in memory a profile lives in the device table, bounded by `max-sources`;
//! each has at most `max-services` services and [`MAX_PERIODIC`] periodic contacts. A
//! different MAC on a device's address is another device: its profile starts afresh.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Periodic contacts kept per device.
pub const MAX_PERIODIC: usize = 32;
/// Version of the file format.
const FORMAT: u32 = 1;
const SEC: i64 = 1_000_000;
const DAY: i64 = 86_400 * SEC;

/// `[detect.baseline]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct BaselineConfig {
    pub enabled: bool,
    /// Seconds of EVE time from a device's first record until its baseline is learned.
    pub learning: f64,
    /// Profiles kept; the least recently seen are dropped first.
    pub max_devices: usize,
    /// Services kept per device; when full, the least used is dropped.
    pub max_services: usize,
    /// The file; default `<state-dir>/baselines.json`.
    pub file: Option<PathBuf>,
    /// Seconds (wall clock) between saves while the plugin runs.
    pub save_interval: u64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            enabled: true,
            learning: 3.0 * 86_400.0,
            max_devices: 4096,
            max_services: 64,
            file: None,
            save_interval: 300,
        }
    }
}

impl BaselineConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.learning.is_finite() && self.learning >= 0.0) {
            return Err("[detect] baseline.learning must be a number of seconds, 0 or more".into());
        }
        if self.max_devices == 0 || self.max_devices > 1_000_000 {
            return Err("[detect] baseline.max-devices must be between 1 and 1000000".into());
        }
        if self.max_services == 0 || self.max_services > 4096 {
            return Err("[detect] baseline.max-services must be between 1 and 4096".into());
        }
        if self.save_interval == 0 {
            return Err("[detect] baseline.save-interval must be at least 1 second".into());
        }
        Ok(())
    }

    fn learning_us(&self) -> i64 {
        (self.learning * SEC as f64) as i64
    }
}

/// What one home device normally does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// EVE time of its first and latest record, µs (0: not yet seen).
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    #[serde(default)]
    pub services: Vec<KnownService>,
    #[serde(default)]
    pub periodic: Vec<KnownPeriodic>,
    /// The busiest upload window before the current ones, bytes.
    #[serde(default)]
    pub upload_peak: u64,
    /// Distinct outside hosts reached on the busiest earlier day (estimated).
    #[serde(default)]
    pub hosts_peak: u32,
    /// The current day (EVE time / 1 day) and its distinct hosts, as a 512-bit
    /// linear-counting bitmap.
    #[serde(default)]
    pub hosts_day: i64,
    #[serde(default)]
    pub hosts_bits: Vec<u64>,
}

/// One (protocol, port) a device reached outside and was answered on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownService {
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub proto: u8,
    pub port: u16,
    pub first_us: i64,
    pub last_us: i64,
    pub flows: u64,
}

/// A periodic contact the beaconing detector found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownPeriodic {
    pub host: IpAddr,
    pub port: u16,
    pub proto: u8,
    pub period_secs: f64,
    pub first_us: i64,
    pub last_us: i64,
    /// Found while the device was still learning: normal for it afterwards.
    pub learned: bool,
}

/// The file: every profile, by address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineFile {
    pub format: u32,
    pub devices: Vec<DeviceEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    pub addr: IpAddr,
    #[serde(flatten)]
    pub profile: Profile,
}

/// Why a baseline file could not be used.
#[derive(Debug, Error)]
pub enum BaselineError {
    #[error("cannot read the baselines file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the baselines file {} is not valid: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the baselines file {} has format {found}, this build reads {FORMAT}", path.display())]
    Format { path: PathBuf, found: u32 },
    #[error("cannot write the baselines file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl BaselineFile {
    pub fn new(devices: Vec<DeviceEntry>) -> BaselineFile {
        BaselineFile {
            format: FORMAT,
            devices,
        }
    }

    /// Reads a file; a missing file is an empty baseline.
    pub fn load(path: &Path) -> Result<BaselineFile, BaselineError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(BaselineFile {
                    format: FORMAT,
                    devices: Vec::new(),
                })
            }
            Err(source) => {
                return Err(BaselineError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let file: BaselineFile =
            serde_json::from_slice(&bytes).map_err(|source| BaselineError::Parse {
                path: path.to_owned(),
                source,
            })?;
        if file.format != FORMAT {
            return Err(BaselineError::Format {
                path: path.to_owned(),
                found: file.format,
            });
        }
        Ok(file)
    }

    /// Replaces the file atomically (write, fsync, rename, directory fsync).
    pub fn save(&self, path: &Path) -> Result<(), BaselineError> {
        let write = |source| BaselineError::Write {
            path: path.to_owned(),
            source,
        };
        let json = serde_json::to_vec(self).map_err(|e| write(std::io::Error::other(e)))?;
        suriguard_durable::write_atomic(path, &json).map_err(write)
    }
}

impl Profile {
    /// Notes a record of the device at `t`.
    #[inline]
    pub(crate) fn seen(&mut self, t: i64) {
        if self.first_seen_us == 0 || t < self.first_seen_us {
            self.first_seen_us = t;
        }
        self.last_seen_us = self.last_seen_us.max(t);
    }

    /// Whether the device has finished learning at `t`.
    pub fn learned(&self, cfg: &BaselineConfig, t: i64) -> bool {
        self.first_seen_us != 0 && t - self.first_seen_us >= cfg.learning_us()
    }

    /// A contact to `(proto, port)` on an outside host (`host_key` its hash): the host
    /// counts for the day; the service only when it answered.
    pub(crate) fn contact(
        &mut self,
        cfg: &BaselineConfig,
        (proto, port): (u8, u16),
        host_key: u64,
        answered: bool,
        t: i64,
    ) {
        self.count_host(host_key, t);
        if !answered {
            return;
        }
        match self
            .services
            .iter_mut()
            .find(|s| s.port == port && s.proto == proto)
        {
            Some(s) => {
                s.flows += 1;
                s.last_us = s.last_us.max(t);
                s.first_us = s.first_us.min(t);
            }
            None => {
                if self.services.len() >= cfg.max_services {
                    // The least used, the stalest among equals.
                    if let Some(i) = (0..self.services.len())
                        .min_by_key(|&i| (self.services[i].flows, self.services[i].last_us))
                    {
                        self.services.swap_remove(i);
                    }
                }
                self.services.push(KnownService {
                    proto,
                    port,
                    first_us: t,
                    last_us: t,
                    flows: 1,
                });
            }
        }
    }

    /// Counts a distinct outside host for the day of `t` (records of an earlier day are
    /// not counted: the bitmap holds one day).
    fn count_host(&mut self, key: u64, t: i64) {
        let day = t.div_euclid(DAY);
        if day > self.hosts_day || self.hosts_bits.len() != 8 {
            if self.hosts_bits.len() == 8 {
                self.hosts_peak = self.hosts_peak.max(self.hosts_today());
            }
            self.hosts_day = day;
            self.hosts_bits = vec![0; 8];
        } else if day < self.hosts_day {
            return;
        }
        let bit = (key % 512) as usize;
        self.hosts_bits[bit / 64] |= 1 << (bit % 64);
    }

    /// Distinct outside hosts of the current day (linear counting).
    pub fn hosts_today(&self) -> u32 {
        let ones: u32 = self.hosts_bits.iter().map(|w| w.count_ones()).sum();
        if self.hosts_bits.is_empty() {
            return 0;
        }
        let zeros = 512 - ones.min(511);
        (512.0 * (512.0 / zeros as f64).ln()).round() as u32
    }

    /// The learned periodic contact matching `(host, port, proto)` at about `period`: the
    /// same host, or the same /24 (IPv4) or /48 (IPv6) at a period within a quarter.
    pub(crate) fn periodic_match(
        &mut self,
        host: IpAddr,
        port: u16,
        proto: u8,
        period: f64,
    ) -> Option<&mut KnownPeriodic> {
        self.periodic.iter_mut().find(|p| {
            p.port == port
                && p.proto == proto
                && (p.host == host
                    || (same_net(p.host, host)
                        && (p.period_secs - period).abs() <= 0.25 * p.period_secs.max(period)))
        })
    }

    /// Records a periodic contact the beaconing detector found.
    pub(crate) fn add_periodic(&mut self, p: KnownPeriodic) {
        if self.periodic.len() >= MAX_PERIODIC {
            if let Some(i) = (0..self.periodic.len()).min_by_key(|&i| self.periodic[i].last_us) {
                self.periodic.swap_remove(i);
            }
        }
        self.periodic.push(p);
    }

    /// The sentence a decision about this device carries: its identity, the age of its
    /// baseline, and how the record's service and today's host count compare to it.
    pub fn explain(&self, cfg: &BaselineConfig, service: Option<(u8, u16)>, t: i64) -> String {
        let mut parts = Vec::new();
        match (&self.mac, &self.hostname) {
            (Some(m), Some(h)) => parts.push(format!("device {m} \"{h}\"")),
            (Some(m), None) => parts.push(format!("device {m}")),
            (None, Some(h)) => parts.push(format!("device \"{h}\"")),
            (None, None) => {}
        }
        let age = (t - self.first_seen_us).max(0);
        let learned = self.learned(cfg, t);
        if learned {
            parts.push(format!("baseline of {}", span(age)));
        } else {
            parts.push(format!(
                "baseline still learning ({} of {})",
                span(age),
                span(cfg.learning_us())
            ));
        }
        if let Some((proto, port)) = service {
            let name = format!("port {port}/{}", proto_name(proto));
            match self
                .services
                .iter()
                .find(|s| s.port == port && s.proto == proto)
            {
                Some(s) if s.first_us + SEC < t || s.flows > 1 => parts.push(format!(
                    "{name} answered {} times since {} ago",
                    s.flows,
                    span((t - s.first_us).max(0))
                )),
                _ if learned => parts.push(format!(
                    "first connection to {name} in {} of history",
                    span(age)
                )),
                _ => parts.push(format!("{name} not used before")),
            }
        }
        let today = self.hosts_today();
        if self.hosts_peak > 0 && today > 2 * self.hosts_peak {
            parts.push(format!(
                "about {today} outside hosts today, at most about {} on any earlier day",
                self.hosts_peak
            ));
        }
        parts.join("; ")
    }

    /// Cuts the lists to the configured bounds (a file written with larger ones).
    pub(crate) fn bound(&mut self, cfg: &BaselineConfig) {
        if self.services.len() > cfg.max_services {
            self.services
                .sort_by_key(|s| std::cmp::Reverse((s.flows, s.last_us)));
            self.services.truncate(cfg.max_services);
        }
        if self.periodic.len() > MAX_PERIODIC {
            self.periodic.sort_by_key(|p| std::cmp::Reverse(p.last_us));
            self.periodic.truncate(MAX_PERIODIC);
        }
        if !self.hosts_bits.is_empty() && self.hosts_bits.len() != 8 {
            self.hosts_bits.clear();
        }
        for s in [&mut self.mac, &mut self.hostname] {
            if s.as_ref().is_some_and(|v| v.len() > 64) {
                *s = None;
            }
        }
    }
}

fn same_net(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..3] == b.segments()[..3],
        _ => false,
    }
}

pub fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmpv6",
        132 => "sctp",
        _ => "ip",
    }
}

/// A duration for people: "14 days", "3 h", "12 min", "40 s".
pub fn span(us: i64) -> String {
    let s = us / SEC;
    if s >= 2 * 86_400 {
        format!("{} days", s / 86_400)
    } else if s >= 2 * 3600 {
        format!("{} h", s / 3600)
    } else if s >= 120 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000 * SEC;

    #[test]
    fn services_are_bounded_and_explained() {
        let cfg = BaselineConfig {
            max_services: 3,
            learning: 86_400.0,
            ..BaselineConfig::default()
        };
        let mut p = Profile::default();
        p.seen(T0);
        for i in 0..10 {
            p.contact(&cfg, (6, 443), i, true, T0 + i as i64 * SEC);
        }
        p.contact(&cfg, (17, 123), 99, true, T0);
        p.contact(&cfg, (6, 23), 96, false, T0);
        p.contact(&cfg, (6, 8883), 98, true, T0);
        p.contact(&cfg, (6, 80), 97, true, T0 + 5 * SEC); // pushes out the least used
        assert_eq!(p.services.len(), 3);
        assert!(p.services.iter().any(|s| s.port == 443 && s.flows == 10));
        assert!(p.services.iter().any(|s| s.port == 80));

        let later = T0 + 14 * DAY;
        p.seen(later);
        let e = p.explain(&cfg, Some((6, 23)), later);
        assert!(
            e.contains("first connection to port 23/tcp in 14 days"),
            "{e}"
        );
        let e = p.explain(&cfg, Some((6, 443)), later);
        assert!(
            e.contains("port 443/tcp answered 10 times since 14 days ago"),
            "{e}"
        );
        let young = Profile {
            first_seen_us: later - 3600 * SEC,
            ..Profile::default()
        };
        let e = young.explain(&cfg, Some((6, 23)), later);
        assert!(e.contains("still learning (60 min of 24 h)"), "{e}");
    }

    #[test]
    fn hosts_per_day_compare_with_the_busiest_earlier_day() {
        let cfg = BaselineConfig::default();
        let mut p = Profile::default();
        p.seen(T0);
        for h in 0..20u64 {
            p.contact(
                &cfg,
                (6, 443),
                h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7,
                true,
                T0,
            );
        }
        let day1 = p.hosts_today();
        assert!((18..=22).contains(&day1), "{day1}");
        for h in 0..300u64 {
            p.contact(
                &cfg,
                (6, 23),
                (h + 1000).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7,
                false,
                T0 + DAY,
            );
        }
        assert_eq!(p.hosts_peak, day1);
        let e = p.explain(&cfg, None, T0 + DAY);
        assert!(e.contains("outside hosts today, at most about"), "{e}");
    }

    #[test]
    fn the_file_round_trips_and_refuses_what_it_cannot_read() {
        let dir = std::env::temp_dir().join(format!("sg-baseline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("baselines.json");
        assert_eq!(BaselineFile::load(&path).unwrap().devices.len(), 0);
        let mut p = Profile {
            mac: Some("20:f8:5e:ca:91:52".into()),
            hostname: Some("GainSpanca9152".into()),
            ..Profile::default()
        };
        p.seen(T0);
        p.contact(&BaselineConfig::default(), (6, 443), 1, true, T0);
        let file = BaselineFile {
            format: FORMAT,
            devices: vec![DeviceEntry {
                addr: "10.10.10.123".parse().unwrap(),
                profile: p,
            }],
        };
        file.save(&path).unwrap();
        assert_eq!(BaselineFile::load(&path).unwrap(), file);
        std::fs::write(&path, b"{\"format\":1,\"devices\":[{\"addr\":\"x\"}]}").unwrap();
        let e = BaselineFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("baselines.json is not valid"), "{e}");
        std::fs::write(&path, b"{\"format\":7,\"devices\":[]}").unwrap();
        let e = BaselineFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("has format 7"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn settings_are_checked() {
        let bad = BaselineConfig {
            max_devices: 0,
            ..BaselineConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("baseline.max-devices"));
        assert!(BaselineConfig::default().validate().is_ok());
    }
}
