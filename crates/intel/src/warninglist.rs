//! Warninglists: values that must never become indicators.
//!
//! A built-in set covers what poisoned or careless feeds carry most (loopback, private,
//! link-local, multicast and reserved ranges, the big public DNS resolvers, the most
//! visited domains, reserved top-level domains). MISP's own warninglist files
//! (`list.json` from MISP/misp-warninglists) can be added; their `cidr`, `string`,
//! `hostname` and `substring` types are supported, `regex` lists are refused with an
//! error naming the file.
//!
//! An address prefix is warninglisted when it *overlaps* a listed prefix either way:
//! `8.8.0.0/16` is refused because it would block 8.8.8.8.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use suriguard_net::Cidr;

use crate::error::Error;

#[derive(Debug, Clone, Default)]
pub struct Warninglists {
    /// Listed prefixes by family and length, for "is the value inside a listed prefix";
    /// searched longest prefix first, so the most specific list names the reason.
    by_len: BTreeMap<(bool, u8), HashMap<u128, Arc<str>>>,
    /// Listed prefixes by first address, for "does the value contain a listed prefix".
    by_start: BTreeMap<(bool, u128), Arc<str>>,
    /// Exact values (MISP `string` lists; compared with canonical indicator text).
    exact: HashMap<String, Arc<str>>,
    /// Host names matched with all their subdomains (MISP `hostname` lists).
    hostnames: HashMap<String, Arc<str>>,
    /// Substrings of a domain (MISP `substring` lists).
    substrings: Vec<(String, Arc<str>)>,
}

const LOOPBACK: &[&str] = &["127.0.0.0/8", "::1/128"];
const PRIVATE: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];
const LINK_LOCAL: &[&str] = &["169.254.0.0/16", "fe80::/10"];
const MULTICAST: &[&str] = &["224.0.0.0/4", "ff00::/8"];
const RESERVED: &[&str] = &[
    "0.0.0.0/8",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "::/128",
    "64:ff9b::/96",
    "100::/64",
    "2001:db8::/32",
];
const RESOLVERS: &[&str] = &[
    "8.8.8.8",
    "8.8.4.4",
    "1.1.1.1",
    "1.0.0.1",
    "9.9.9.9",
    "149.112.112.112",
    "208.67.222.222",
    "208.67.220.220",
    "64.6.64.6",
    "64.6.65.6",
    "94.140.14.14",
    "94.140.15.15",
    "76.76.2.0",
    "185.228.168.9",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
    "2620:fe::fe",
    "2620:fe::9",
    "2620:119:35::35",
    "2620:119:53::53",
];
/// Domains whose every subdomain belongs to the same large operator. Hosting platforms
/// whose subdomains belong to their users (github.io, blogspot.com, …) are deliberately
/// not here: malware lives on them.
const TOP_DOMAINS: &[&str] = &[
    "google.com",
    "googleapis.com",
    "gstatic.com",
    "youtube.com",
    "gmail.com",
    "microsoft.com",
    "windows.com",
    "windowsupdate.com",
    "office.com",
    "live.com",
    "bing.com",
    "apple.com",
    "icloud.com",
    "amazon.com",
    "amazonaws.com",
    "facebook.com",
    "instagram.com",
    "whatsapp.com",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "wikipedia.org",
    "yahoo.com",
    "cloudflare.com",
    "akamai.net",
    "akamaiedge.net",
    "debian.org",
    "ubuntu.com",
    "mozilla.org",
    "netflix.com",
    "baidu.com",
    "yandex.ru",
    "github.com",
    "circl.lu",
    "misp-project.org",
];
/// Top-level domains that never resolve on the internet (RFC 2606, 6761, 6762).
const RESERVED_DOMAINS: &[&str] = &[
    "local",
    "localhost",
    "localdomain",
    "invalid",
    "test",
    "example",
    "example.com",
    "example.net",
    "example.org",
    "in-addr.arpa",
    "ip6.arpa",
    "home.arpa",
];

impl Warninglists {
    /// An empty set (nothing is warninglisted).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in lists.
    pub fn builtin() -> Self {
        let mut w = Self::default();
        for (name, list) in [
            ("loopback", LOOPBACK),
            ("private-networks", PRIVATE),
            ("link-local", LINK_LOCAL),
            ("multicast", MULTICAST),
            ("reserved", RESERVED),
            ("public-dns-resolvers", RESOLVERS),
        ] {
            let name: Arc<str> = name.into();
            for c in list {
                w.add_cidr(c.parse().expect("built-in prefix"), &name);
            }
        }
        for (name, list) in [
            ("top-domains", TOP_DOMAINS),
            ("reserved-domains", RESERVED_DOMAINS),
        ] {
            let name: Arc<str> = name.into();
            for d in list {
                w.hostnames.insert(d.to_string(), name.clone());
            }
        }
        w
    }

    /// Adds prefixes to be treated like a list named `name` (the user's allowlist, the
    /// home networks).
    pub fn add_prefixes(&mut self, name: &str, prefixes: &[Cidr]) {
        let name: Arc<str> = name.into();
        for c in prefixes {
            self.add_cidr(*c, &name);
        }
    }

    /// Adds host names (matched with their subdomains) under `name`.
    pub fn add_hostnames(&mut self, name: &str, hosts: &[String]) {
        let name: Arc<str> = name.into();
        for h in hosts {
            let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
            self.hostnames.insert(h, name.clone());
        }
    }

    fn add_cidr(&mut self, c: Cidr, name: &Arc<str>) {
        let (v4, start) = key(c.addr());
        self.by_len
            .entry((v4, c.prefix_len()))
            .or_default()
            .insert(start, name.clone());
        self.by_start.insert((v4, start), name.clone());
    }

    /// Loads a MISP warninglist file (`list.json`).
    pub fn load_misp(&mut self, path: &Path) -> Result<(), Error> {
        #[derive(Deserialize)]
        struct List {
            name: String,
            #[serde(rename = "type")]
            kind: String,
            list: Vec<String>,
        }
        let text = std::fs::read_to_string(path).map_err(|source| Error::WarninglistRead {
            path: path.to_path_buf(),
            source,
        })?;
        let l: List = serde_json::from_str(&text).map_err(|source| Error::WarninglistParse {
            path: path.to_path_buf(),
            source,
        })?;
        let name: Arc<str> = format!("misp:{}", l.name).into();
        match l.kind.as_str() {
            "cidr" => {
                for v in &l.list {
                    let c: Cidr = v.parse().map_err(|reason| Error::WarninglistEntry {
                        path: path.to_path_buf(),
                        entry: v.clone(),
                        reason,
                    })?;
                    self.add_cidr(c, &name);
                }
            }
            "string" => {
                for v in l.list {
                    self.exact
                        .insert(v.trim().to_ascii_lowercase(), name.clone());
                }
            }
            "hostname" => {
                for v in l.list {
                    let v = v.trim().trim_start_matches("*.").trim_end_matches('.');
                    self.hostnames.insert(v.to_ascii_lowercase(), name.clone());
                }
            }
            "substring" => {
                for v in l.list {
                    self.substrings.push((v.to_ascii_lowercase(), name.clone()));
                }
            }
            other => {
                return Err(Error::WarninglistType {
                    path: path.to_path_buf(),
                    kind: other.to_string(),
                })
            }
        }
        Ok(())
    }

    /// The list a prefix (or address, as a /32 or /128) overlaps, if any.
    pub fn cidr(&self, c: &Cidr) -> Option<&str> {
        let (v4, start) = key(c.addr());
        let bits: u8 = if v4 { 32 } else { 128 };
        // Inside a listed prefix?
        for (&(fam, len), set) in self.by_len.iter().rev() {
            if fam != v4 || len > c.prefix_len() {
                continue;
            }
            if let Some(n) = set.get(&mask(start, len, bits)) {
                return Some(n);
            }
        }
        // Containing a listed prefix?
        let end = start | host_bits(c.prefix_len(), bits);
        if let Some((_, n)) = self.by_start.range((v4, start)..=(v4, end)).next() {
            return Some(n);
        }
        let text = c.to_string();
        self.exact.get(&text).map(|n| &**n)
    }

    /// The list a (normalised) domain is on, if any.
    pub fn domain(&self, d: &str) -> Option<&str> {
        if let Some(n) = self.exact.get(d) {
            return Some(n);
        }
        let mut rest = d;
        loop {
            if let Some(n) = self.hostnames.get(rest) {
                return Some(n);
            }
            match rest.split_once('.') {
                Some((_, r)) => rest = r,
                None => break,
            }
        }
        self.substrings
            .iter()
            .find(|(s, _)| d.contains(s.as_str()))
            .map(|(_, n)| &**n)
    }
}

fn key(ip: IpAddr) -> (bool, u128) {
    match suriguard_net::canonical(ip) {
        IpAddr::V4(a) => (true, u32::from(a) as u128),
        IpAddr::V6(a) => (false, u128::from(a)),
    }
}

fn host_bits(len: u8, bits: u8) -> u128 {
    if len >= bits {
        0
    } else {
        (1u128 << (bits - len)) - 1
    }
}

fn mask(v: u128, len: u8, bits: u8) -> u128 {
    v & !host_bits(len, bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_overlap_either_way() {
        let w = Warninglists::builtin();
        let c = |s: &str| w.cidr(&s.parse().unwrap()).map(str::to_string);
        assert_eq!(c("8.8.8.8").as_deref(), Some("public-dns-resolvers"));
        assert_eq!(c("8.8.0.0/16").as_deref(), Some("public-dns-resolvers"));
        assert_eq!(c("8.8.8.0/24").as_deref(), Some("public-dns-resolvers"));
        assert_eq!(c("8.8.9.0/24"), None);
        assert_eq!(c("172.20.1.1").as_deref(), Some("private-networks"));
        assert_eq!(c("172.32.0.1"), None);
        assert_eq!(c("::1").as_deref(), Some("loopback"));
        assert_eq!(c("::").as_deref(), Some("reserved"));
        assert_eq!(c("255.255.255.255").as_deref(), Some("reserved"));
        assert_eq!(c("45.9.148.108"), None);
    }

    #[test]
    fn misp_lists_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("list.json");
        let mut w = Warninglists::empty();
        std::fs::write(&p, r#"{"name":"CDN","type":"cidr","list":["45.9.0.0/16"],"version":1,"description":"x","matching_attributes":["ip-dst"]}"#).unwrap();
        w.load_misp(&p).unwrap();
        std::fs::write(
            &p,
            r#"{"name":"Hosts","type":"hostname","list":["*.cdn.example.net","good.example"]}"#,
        )
        .unwrap();
        w.load_misp(&p).unwrap();
        std::fs::write(
            &p,
            r#"{"name":"Sub","type":"substring","list":["safebrowsing"]}"#,
        )
        .unwrap();
        w.load_misp(&p).unwrap();
        assert_eq!(w.cidr(&"45.9.148.108".parse().unwrap()), Some("misp:CDN"));
        assert_eq!(w.domain("a.b.cdn.example.net"), Some("misp:Hosts"));
        assert_eq!(w.domain("good.example"), Some("misp:Hosts"));
        assert_eq!(w.domain("notgood.example"), None);
        assert_eq!(w.domain("x.safebrowsing.example"), Some("misp:Sub"));
        std::fs::write(&p, r#"{"name":"R","type":"regex","list":["^a"]}"#).unwrap();
        assert!(w
            .load_misp(&p)
            .unwrap_err()
            .to_string()
            .contains("not supported"));
        std::fs::write(&p, "{").unwrap();
        assert!(w
            .load_misp(&p)
            .unwrap_err()
            .to_string()
            .contains("not a MISP warninglist"));
    }
}
