//! The network model: which addresses are home, which must never be blocked, and which
//! way a record points.

#![forbid(unsafe_code)]

mod allowfile;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use allowfile::{AllowFile, AllowWatch, ALLOWLIST_CHECK_EVERY};

use serde::{Deserialize, Serialize};

/// `[network]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct NetworkConfig {
    /// The networks suriguard protects (IPv4 and IPv6 CIDRs).
    pub home_networks: Vec<Cidr>,
    /// Never blocked, whatever they do.
    pub allowlist: Vec<Cidr>,
    /// More of the allowlist, one address or prefix per line: the file the console's
    /// "never block this again" and `suriguardctl allowlist add` write, re-read while
    /// running. Default: `allowlist.txt` in the state dir.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowlist_file: Option<PathBuf>,
    /// This machine's and the gateway's addresses: never blocked or quarantined.
    pub own_addresses: Vec<IpAddr>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            home_networks: default_home_networks(),
            allowlist: Vec::new(),
            allowlist_file: None,
            own_addresses: Vec::new(),
        }
    }
}

impl suriguard_config::Section for NetworkConfig {
    const NAME: &'static str = "network";

    fn resolve_paths(&mut self, dir: &Path) {
        if let Some(p) = self.allowlist_file.as_mut().filter(|p| p.is_relative()) {
            *p = dir.join(&*p);
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.home_networks.is_empty() {
            return Err("[network] home-networks must not be empty".into());
        }
        Ok(())
    }
}

impl NetworkConfig {
    /// The model of the network these settings describe, with the allowlist file's
    /// entries; what could not be read of the file is in the second part (one line
    /// each: a file that cannot be read, or a line that does not parse). Those never
    /// stop anything: the rest of the allowlist holds.
    pub fn model_checked(&self) -> (NetworkModel, Vec<String>) {
        let mut allow = self.allowlist.clone();
        let mut problems = Vec::new();
        if let Some(path) = &self.allowlist_file {
            match AllowFile::read(path) {
                Ok(f) => {
                    allow.extend(f.cidrs().filter(|c| !self.allowlist.contains(c)));
                    problems.extend(
                        f.skipped
                            .into_iter()
                            .map(|s| format!("allowlist-file {}: {s}; skipped", path.display())),
                    );
                }
                Err(e) => problems.push(format!(
                    "cannot read allowlist-file {}: {e}; only [network] allowlist applies",
                    path.display()
                )),
            }
        }
        let model = NetworkModel::new(
            self.home_networks.clone(),
            allow,
            self.own_addresses.clone(),
        );
        (model, problems)
    }

    /// [`NetworkConfig::model_checked`] without the problems.
    pub fn model(&self) -> NetworkModel {
        self.model_checked().0
    }

    /// Fills in the default allowlist file (`allowlist.txt` in `state_dir`).
    pub fn with_default_allowlist_file(mut self, state_dir: &Path) -> Self {
        if self.allowlist_file.is_none() {
            self.allowlist_file = Some(state_dir.join("allowlist.txt"));
        }
        self
    }
}

/// An IPv4 or IPv6 prefix. Host bits are cleared on parse, so `10.1.2.3/8` is `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    pub fn new(addr: IpAddr, len: u8) -> Option<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then(|| Cidr {
            addr: mask(addr, len),
            len,
        })
    }

    /// A single address as a /32 or /128.
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn is_host(&self) -> bool {
        self.len == if self.addr.is_ipv4() { 32 } else { 128 }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.len) == self.addr
    }

    /// True when the two prefixes share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) compare as their IPv4 form.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len as u32)
            };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len as u32)
            };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
        let addr = canonical(addr);
        match l {
            None => Ok(Cidr::host(addr)),
            Some(l) => {
                let len: u8 = l.parse().map_err(|_| format!("{s:?}: bad prefix length"))?;
                Cidr::new(addr, len).ok_or_else(|| format!("{s:?}: prefix length too long"))
            }
        }
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The private ranges used as home networks when none are configured: RFC 1918 and
/// RFC 4193 unique-local IPv6.
pub fn default_home_networks() -> Vec<Cidr> {
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

/// Which way a record points, seen from the home network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// external → home
    Inbound,
    /// home → external
    Outbound,
    /// home → home
    Internal,
    /// external → external (traffic we only see in transit)
    Transit,
}

/// A list of prefixes compiled for membership tests on the hot path: per family, the
/// network and mask as integers, so a lookup canonicalises the address once and then does
/// one AND and one compare per prefix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct PrefixSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl PrefixSet {
    fn new(cidrs: &[Cidr]) -> Self {
        let mut set = PrefixSet::default();
        for c in cidrs {
            match c.addr {
                IpAddr::V4(a) => {
                    let m = u32::MAX.checked_shl(32 - c.len as u32).unwrap_or(0);
                    set.v4.push((u32::from(a) & m, m));
                }
                IpAddr::V6(a) => {
                    let m = u128::MAX.checked_shl(128 - c.len as u32).unwrap_or(0);
                    set.v6.push((u128::from(a) & m, m));
                }
            }
        }
        set
    }

    #[inline]
    fn contains(&self, ip: IpAddr) -> bool {
        match canonical(ip) {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(net, m)| a & m == net)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(net, m)| a & m == net)
            }
        }
    }
}

/// Home networks, the allowlist and the addresses that are never blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkModel {
    home: Vec<Cidr>,
    allowlist: Vec<Cidr>,
    own: Vec<IpAddr>,
    home_set: PrefixSet,
    allow_set: PrefixSet,
}

impl Default for NetworkModel {
    fn default() -> Self {
        NetworkModel::new(default_home_networks(), Vec::new(), Vec::new())
    }
}

impl NetworkModel {
    pub fn new(home: Vec<Cidr>, allowlist: Vec<Cidr>, own: Vec<IpAddr>) -> Self {
        NetworkModel {
            home_set: PrefixSet::new(&home),
            allow_set: PrefixSet::new(&allowlist),
            home,
            allowlist,
            own: own.into_iter().map(canonical).collect(),
        }
    }

    pub fn home_networks(&self) -> &[Cidr] {
        &self.home
    }

    pub fn allowlist(&self) -> &[Cidr] {
        &self.allowlist
    }

    pub fn own_addresses(&self) -> &[IpAddr] {
        &self.own
    }

    /// What goes into the firewall's allow sets: the allowlist and our own addresses,
    /// nested prefixes folded into the widest (interval sets refuse overlaps).
    pub fn never_blocked(&self) -> Vec<Cidr> {
        let mut v: Vec<Cidr> = self.allowlist.clone();
        v.extend(self.own.iter().map(|&ip| Cidr::host(ip)));
        v.sort_by_key(|c| c.prefix_len());
        let mut out: Vec<Cidr> = Vec::new();
        for c in v {
            if !out.iter().any(|o| o.contains(c.addr())) {
                out.push(c);
            }
        }
        out
    }

    pub fn is_home(&self, ip: IpAddr) -> bool {
        self.home_set.contains(ip)
    }

    /// Why `ip` must never be blocked, if it must not: the allowlist, our own or the
    /// gateway's addresses, and addresses no sane decision targets.
    pub fn protected(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = canonical(ip);
        if self.own.contains(&ip) {
            Some("own or gateway address")
        } else if self.allow_set.contains(ip) {
            Some("allowlisted")
        } else if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || is_broadcast(ip) {
            Some("unspecified, loopback, multicast or broadcast address")
        } else {
            None
        }
    }

    /// Like [`NetworkModel::protected`] for a whole prefix: refused when it would cover a
    /// protected address or network.
    pub fn protected_cidr(&self, cidr: &Cidr) -> Option<&'static str> {
        if cidr.is_host() {
            return self.protected(cidr.addr());
        }
        if self.own.iter().any(|&ip| cidr.contains(ip)) {
            Some("covers an own or gateway address")
        } else if self.allowlist.iter().any(|a| a.overlaps(cidr)) {
            Some("overlaps the allowlist")
        } else if cidr.prefix_len() == 0 {
            Some("covers every address")
        } else {
            self.protected(cidr.addr())
        }
    }

    pub fn direction(&self, src: IpAddr, dst: IpAddr) -> Direction {
        match (self.is_home(src), self.is_home(dst)) {
            (false, true) => Direction::Inbound,
            (true, false) => Direction::Outbound,
            (true, true) => Direction::Internal,
            (false, false) => Direction::Transit,
        }
    }
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parse_and_contains() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains(ip("10.200.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(!c.contains(ip("::1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:0db8:0bad:0000:0000:0000:0000:0050")));
        assert!("1.2.3.4/33".parse::<Cidr>().is_err());
        assert!("1.2.3.4:80".parse::<Cidr>().is_err());
        assert_eq!(
            "::ffff:192.168.1.1".parse::<Cidr>().unwrap().to_string(),
            "192.168.1.1"
        );
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn compiled_prefixes_match_cidr_contains() {
        let cidrs: Vec<Cidr> = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "192.168.1.128/25",
            "203.0.113.7/32",
            "::/0",
            "fd00::/8",
            "2001:db8::/33",
            "2001:db8::1/128",
        ]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
        let ips = [
            "0.0.0.0",
            "10.255.1.1",
            "11.0.0.1",
            "192.168.1.127",
            "192.168.1.200",
            "203.0.113.7",
            "203.0.113.8",
            "::ffff:10.0.0.1",
            "fd12::1",
            "fe00::1",
            "2001:db8:7fff::1",
            "2001:db8:8000::1",
            "2001:db8::1",
            "::",
        ];
        for c in &cidrs {
            let set = PrefixSet::new(std::slice::from_ref(c));
            for i in ips {
                assert_eq!(set.contains(ip(i)), c.contains(ip(i)), "{c} {i}");
            }
        }
    }

    #[test]
    fn directions() {
        let m = NetworkModel::default();
        assert_eq!(
            m.direction(ip("203.0.113.9"), ip("192.168.1.10")),
            Direction::Inbound
        );
        assert_eq!(
            m.direction(ip("192.168.1.10"), ip("203.0.113.9")),
            Direction::Outbound
        );
        assert_eq!(
            m.direction(ip("fd00::1"), ip("fd00::2")),
            Direction::Internal
        );
        assert_eq!(
            m.direction(ip("203.0.113.9"), ip("198.51.100.1")),
            Direction::Transit
        );
        assert!(m.is_home(ip("::ffff:10.0.0.1")));
    }

    #[test]
    fn protected_addresses() {
        let m = NetworkModel::new(
            default_home_networks(),
            vec!["198.51.100.0/24".parse().unwrap()],
            vec![ip("192.168.1.1")],
        );
        assert_eq!(
            m.protected(ip("192.168.1.1")),
            Some("own or gateway address")
        );
        assert_eq!(m.protected(ip("198.51.100.77")), Some("allowlisted"));
        assert!(m.protected(ip("127.0.0.1")).is_some());
        assert!(m.protected(ip("0.0.0.0")).is_some());
        assert!(m.protected(ip("ff02::1")).is_some());
        assert_eq!(m.protected(ip("203.0.113.9")), None);
        assert!(m.protected_cidr(&"0.0.0.0/0".parse().unwrap()).is_some());
        assert!(m
            .protected_cidr(&"198.51.0.0/16".parse().unwrap())
            .is_some());
        assert!(m
            .protected_cidr(&"192.168.0.0/16".parse().unwrap())
            .is_some());
        assert_eq!(m.protected_cidr(&"203.0.113.0/24".parse().unwrap()), None);
    }
}
