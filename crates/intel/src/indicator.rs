//! Indicators of compromise in canonical form, and the normalisation that makes them.
//!
//! Every feed format ends up calling [`Normalizer::normalize`] with a *type hint* (what
//! the source says the value is: `ip-dst`, `domain`, `sha256`, …) and the raw text. It
//! either returns indicators in canonical form or a [`Reject`] reason, which the caller
//! counts. Nothing that fails here reaches a compiled dataset.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::warninglist::Warninglists;
use suriguard_net::{canonical, Cidr};

/// What an indicator is. The order is the order of compiled output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// One IPv4 or IPv6 address (`203.0.113.7`, `2001:db8::7`).
    Ip,
    /// A prefix broader than one address (`203.0.113.0/24`).
    Net,
    /// A host name in lower-case ASCII (IDNA names as punycode), no trailing dot.
    Domain,
    /// A URL as `host/path?query`, lower-case host, no scheme, no fragment.
    Url,
    Md5,
    Sha1,
    Sha256,
    /// A JA3 TLS client fingerprint (an MD5 in hex).
    Ja3,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Ip,
        Kind::Net,
        Kind::Domain,
        Kind::Url,
        Kind::Md5,
        Kind::Sha1,
        Kind::Sha256,
        Kind::Ja3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Net => "net",
            Kind::Domain => "domain",
            Kind::Url => "url",
            Kind::Md5 => "md5",
            Kind::Sha1 => "sha1",
            Kind::Sha256 => "sha256",
            Kind::Ja3 => "ja3",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which side of a connection an address indicator was seen on. MISP's `ip-src` is a
/// source of attacks (matched with `ip.src`), `ip-dst` a destination such as a C2 server
/// (matched with `ip.dst`); lists that do not say are matched both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sides {
    pub src: bool,
    pub dst: bool,
}

impl Sides {
    pub const SRC: Sides = Sides {
        src: true,
        dst: false,
    };
    pub const DST: Sides = Sides {
        src: false,
        dst: true,
    };
    pub const BOTH: Sides = Sides {
        src: true,
        dst: true,
    };

    pub fn union(self, o: Sides) -> Sides {
        Sides {
            src: self.src || o.src,
            dst: self.dst || o.dst,
        }
    }
}

/// One indicator in canonical form. Two sources naming the same thing produce equal
/// `(kind, value)` pairs, which is what deduplication keys on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    pub kind: Kind,
    pub value: String,
    pub sides: Sides,
}

/// Why a value was not accepted. The names are stable: they appear in `rulesync status`
/// and in its JSON output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reject {
    /// The source's type is one suriguard does not compile (`email-src`, `regkey`, …).
    UnsupportedType(String),
    /// Not valid for its type (a malformed address, domain, hash, URL).
    Invalid,
    /// Longer than any real value of its type (a 500-character domain).
    TooLong,
    /// Not UTF-8, or holds control characters.
    NotText,
    /// An address with a port (`203.0.113.7:8080`); ports are not compiled.
    HasPort,
    /// A prefix broader than the configured limit (`0.0.0.0/0`).
    PrefixTooBroad,
    /// On a warninglist (the name says which).
    Warninglisted(String),
    /// A pattern or observable suriguard cannot reduce to one value (STIX `AND`,
    /// OpenIOC `contains`, a regular expression).
    Unsupported(&'static str),
    /// The same, naming the item (`openioc condition contains:Network/DNS`).
    UnsupportedItem(String),
    /// Past its end of validity (STIX `valid_until`) or revoked.
    Expired,
    /// Listed by the source but not retrievable (a MISP feed event named in
    /// `manifest.json` whose file is missing).
    Unavailable,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::UnsupportedType(t) => write!(f, "unsupported-type:{t}"),
            Reject::Invalid => f.write_str("invalid"),
            Reject::TooLong => f.write_str("too-long"),
            Reject::NotText => f.write_str("not-text"),
            Reject::HasPort => f.write_str("has-port"),
            Reject::PrefixTooBroad => f.write_str("prefix-too-broad"),
            Reject::Warninglisted(w) => write!(f, "warninglist:{w}"),
            Reject::Unsupported(w) => write!(f, "unsupported:{w}"),
            Reject::UnsupportedItem(w) => write!(f, "unsupported:{w}"),
            Reject::Expired => f.write_str("expired"),
            Reject::Unavailable => f.write_str("unavailable"),
        }
    }
}

/// Longest domain DNS can carry (RFC 1035: 253 characters in text form).
const MAX_DOMAIN: usize = 253;
/// URLs longer than this are not indicators anyone can match reliably.
const MAX_URL: usize = 2048;

/// Normalisation settings and the warninglists every accepted value is checked against.
#[derive(Debug, Clone)]
pub struct Normalizer {
    /// Broadest IPv4 prefix accepted (default 16: `/16` is accepted, `/15` is not).
    pub min_prefix_v4: u8,
    /// Broadest IPv6 prefix accepted (default 48).
    pub min_prefix_v6: u8,
    pub warninglists: Warninglists,
}

impl Default for Normalizer {
    fn default() -> Self {
        Normalizer {
            min_prefix_v4: 16,
            min_prefix_v6: 48,
            warninglists: Warninglists::builtin(),
        }
    }
}

impl Normalizer {
    /// Normalises `raw`, which the source calls `hint` (MISP attribute types; STIX and
    /// other formats map onto the same names). Composite MISP types (`domain|ip`,
    /// `filename|sha256`) yield their usable parts. An empty result is never returned:
    /// a value that yields nothing is a [`Reject`].
    pub fn normalize(&self, hint: &str, raw: &str) -> Result<Vec<Indicator>, Reject> {
        if raw.chars().any(|c| c.is_control()) {
            return Err(Reject::NotText);
        }
        let raw = raw.trim();
        let one = |r: Result<Indicator, Reject>| r.map(|i| vec![i]);
        match hint {
            "ip-src" => one(self.address(raw, Sides::SRC)),
            "ip-dst" => one(self.address(raw, Sides::DST)),
            "ip" | "ipv4-addr" | "ipv6-addr" => one(self.address(raw, Sides::BOTH)),
            "ip-src|port" | "ip-dst|port" => {
                let sides = if hint.starts_with("ip-src") {
                    Sides::SRC
                } else {
                    Sides::DST
                };
                let (ip, _port) = raw.rsplit_once('|').ok_or(Reject::Invalid)?;
                one(self.address(ip, sides))
            }
            "domain" | "hostname" | "domain-name" => one(self.domain(raw)),
            "domain|ip" | "hostname|port" => {
                let (d, rest) = raw.split_once('|').ok_or(Reject::Invalid)?;
                let mut out = vec![self.domain(d)?];
                if hint == "domain|ip" {
                    out.push(self.address(rest, Sides::DST)?);
                }
                Ok(out)
            }
            "url" | "uri" | "link" => one(self.url(raw)),
            "md5" | "sha1" | "sha256" => one(hash(hint, raw)),
            "filename|md5" | "filename|sha1" | "filename|sha256" => {
                let (_, h) = raw.rsplit_once('|').ok_or(Reject::Invalid)?;
                one(hash(&hint[9..], h))
            }
            "ja3-fingerprint-md5" | "ja3" => one(hash("md5", raw).map(|i| Indicator {
                kind: Kind::Ja3,
                ..i
            })),
            // A hash whose algorithm the source does not name: by its length.
            "hash" => one(match raw.len() {
                32 => hash("md5", raw),
                40 => hash("sha1", raw),
                64 => hash("sha256", raw),
                _ => Err(Reject::Invalid),
            }),
            other => Err(Reject::UnsupportedType(other.to_string())),
        }
    }

    /// An address or prefix. `sides` says which way it is matched.
    pub fn address(&self, raw: &str, sides: Sides) -> Result<Indicator, Reject> {
        let raw = raw.trim();
        if raw.len() > 64 {
            return Err(Reject::TooLong);
        }
        // `[2001:db8::1]:443` and `203.0.113.7:80` carry ports; a bare IPv6 address has
        // colons too, so only a parse failure of the whole makes a port plausible.
        let cidr: Cidr = match raw.parse::<Cidr>() {
            Ok(c) => c,
            Err(_) => {
                if raw.parse::<std::net::SocketAddr>().is_ok() {
                    return Err(Reject::HasPort);
                }
                return Err(Reject::Invalid);
            }
        };
        if let Some((a, l)) = raw.split_once('/') {
            // `10.1.2.3/8` is not a network address: a typo or a host in a network.
            // Refuse rather than silently widen to the network.
            let addr: IpAddr = a.trim().parse().map_err(|_| Reject::Invalid)?;
            if canonical(addr) != cidr.addr() || l.trim().starts_with('+') {
                return Err(Reject::Invalid);
            }
        }
        let min = if cidr.addr().is_ipv4() {
            self.min_prefix_v4
        } else {
            self.min_prefix_v6
        };
        if cidr.prefix_len() < min {
            return Err(Reject::PrefixTooBroad);
        }
        if let Some(w) = self.warninglists.cidr(&cidr) {
            return Err(Reject::Warninglisted(w.to_string()));
        }
        Ok(Indicator {
            kind: if cidr.is_host() { Kind::Ip } else { Kind::Net },
            // Display is the canonical text: an address alone for a host, `addr/len` otherwise.
            value: cidr.to_string(),
            sides,
        })
    }

    pub fn domain(&self, raw: &str) -> Result<Indicator, Reject> {
        let d = domain_name(raw)?;
        if let Some(w) = self.warninglists.domain(&d) {
            return Err(Reject::Warninglisted(w.to_string()));
        }
        Ok(Indicator {
            kind: Kind::Domain,
            value: d,
            sides: Sides::BOTH,
        })
    }

    /// A URL becomes `host/path?query`: the scheme, credentials, port and fragment are
    /// dropped, the host is normalised as a domain (or an address). A URL with no path is
    /// `host/`.
    pub fn url(&self, raw: &str) -> Result<Indicator, Reject> {
        if raw.len() > MAX_URL {
            return Err(Reject::TooLong);
        }
        let rest = match raw.split_once("://") {
            Some((scheme, rest)) => {
                let s = scheme.to_ascii_lowercase();
                if !matches!(s.as_str(), "http" | "https" | "hxxp" | "hxxps") {
                    return Err(Reject::Unsupported("url scheme"));
                }
                rest
            }
            None => raw,
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        if path.chars().any(char::is_whitespace) {
            return Err(Reject::Invalid);
        }
        let host = authority.rsplit('@').next().unwrap_or_default();
        let host = match host.strip_prefix('[') {
            // [v6]:port
            Some(h) => h.split(']').next().unwrap_or_default().to_string(),
            None => host.split(':').next().unwrap_or_default().to_string(),
        };
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => {
                let ip = canonical(ip);
                if let Some(w) = self.warninglists.cidr(&Cidr::host(ip)) {
                    return Err(Reject::Warninglisted(w.to_string()));
                }
                ip.to_string()
            }
            Err(_) => self.domain(&host)?.value,
        };
        Ok(Indicator {
            kind: Kind::Url,
            value: format!("{host}{path}"),
            sides: Sides::BOTH,
        })
    }
}

/// A syntactically valid host name: lower case, punycode, no trailing dot, at least two
/// labels, labels of letters, digits, hyphens (and underscores, which real malware
/// infrastructure uses), 1–63 characters, not starting or ending with a hyphen, and a
/// top-level label that is not all digits.
pub fn domain_name(raw: &str) -> Result<String, Reject> {
    let raw = raw.trim();
    if raw.len() > MAX_DOMAIN + 1 {
        return Err(Reject::TooLong);
    }
    let raw = raw.strip_suffix('.').unwrap_or(raw);
    let ascii = if raw.is_ascii() {
        raw.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(raw).map_err(|_| Reject::Invalid)?
    };
    if ascii.len() > MAX_DOMAIN {
        return Err(Reject::TooLong);
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(Reject::Invalid);
    }
    for l in &labels {
        let ok = !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(if l.len() > 63 {
                Reject::TooLong
            } else {
                Reject::Invalid
            });
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reject::Invalid);
    }
    Ok(ascii)
}

fn hash(alg: &str, raw: &str) -> Result<Indicator, Reject> {
    let (kind, len) = match alg {
        "md5" => (Kind::Md5, 32),
        "sha1" => (Kind::Sha1, 40),
        "sha256" => (Kind::Sha256, 64),
        other => return Err(Reject::UnsupportedType(other.to_string())),
    };
    let raw = raw.trim();
    if raw.len() != len || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Reject::Invalid);
    }
    Ok(Indicator {
        kind,
        value: raw.to_ascii_lowercase(),
        sides: Sides::BOTH,
    })
}

/// Counts of rejected values by reason, as reported per source.
pub type RejectCounts = std::collections::BTreeMap<String, u64>;

/// Adds one reject to `counts`.
pub fn count_reject(counts: &mut RejectCounts, r: &Reject) {
    *counts.entry(r.to_string()).or_insert(0) += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n() -> Normalizer {
        Normalizer::default()
    }

    fn ok(hint: &str, raw: &str) -> Vec<(Kind, String)> {
        n().normalize(hint, raw)
            .unwrap_or_else(|e| panic!("{hint} {raw:?}: {e}"))
            .into_iter()
            .map(|i| (i.kind, i.value))
            .collect()
    }

    fn rej(hint: &str, raw: &str) -> String {
        n().normalize(hint, raw).unwrap_err().to_string()
    }

    #[test]
    fn addresses_and_prefixes() {
        assert_eq!(
            ok("ip-dst", " 45.9.148.108 "),
            [(Kind::Ip, "45.9.148.108".into())]
        );
        assert_eq!(
            ok("ip-dst", "45.9.0.0/16"),
            [(Kind::Net, "45.9.0.0/16".into())]
        );
        assert_eq!(
            ok("ip-src", "45.9.148.108/32"),
            [(Kind::Ip, "45.9.148.108".into())]
        );
        assert_eq!(
            ok("ip", "2A03:2880:F10C:0083:FACE:B00C:0000:25DE"),
            [(Kind::Ip, "2a03:2880:f10c:83:face:b00c:0:25de".into())]
        );
        assert_eq!(
            ok("ip-dst", "::ffff:45.9.148.108"),
            [(Kind::Ip, "45.9.148.108".into())]
        );
        assert_eq!(
            ok("ip-dst|port", "45.9.148.108|443"),
            [(Kind::Ip, "45.9.148.108".into())]
        );
        assert_eq!(rej("ip-dst", "0.0.0.0/0"), "prefix-too-broad");
        assert_eq!(rej("ip-dst", "45.8.0.0/15"), "prefix-too-broad");
        assert_eq!(rej("ip-dst", "2a03:2880::/32"), "prefix-too-broad");
        assert_eq!(rej("ip-dst", "45.9.148.108:8080"), "has-port");
        assert_eq!(rej("ip-dst", "[2a03:2880::1]:443"), "has-port");
        assert_eq!(rej("ip-dst", "45.9.148.1/16"), "invalid");
        assert_eq!(rej("ip-dst", "45.9.148"), "invalid");
        assert_eq!(rej("ip-dst", "8.8.8.8"), "warninglist:public-dns-resolvers");
        assert_eq!(
            rej("ip-dst", "8.8.0.0/16"),
            "warninglist:public-dns-resolvers"
        );
        assert_eq!(rej("ip-dst", "10.0.0.0"), "warninglist:private-networks");
        assert_eq!(rej("ip-dst", "127.0.0.1"), "warninglist:loopback");
        assert_eq!(rej("ip-dst", "224.0.0.251"), "warninglist:multicast");
        assert_eq!(rej("ip-dst", "fe80::1"), "warninglist:link-local");
        assert_eq!(
            rej("ip-dst", "2606:4700:4700::1111"),
            "warninglist:public-dns-resolvers"
        );
    }

    #[test]
    fn domains() {
        assert_eq!(
            ok("domain", "Evil.Shop.COM."),
            [(Kind::Domain, "evil.shop.com".into())]
        );
        assert_eq!(
            ok("hostname", "bücher.xyz"),
            [(Kind::Domain, "xn--bcher-kva.xyz".into())]
        );
        assert_eq!(
            ok("domain|ip", "comalign.pro|45.9.148.108"),
            [
                (Kind::Domain, "comalign.pro".into()),
                (Kind::Ip, "45.9.148.108".into())
            ]
        );
        assert_eq!(rej("domain", "localhost"), "invalid");
        assert_eq!(rej("domain", "google.com"), "warninglist:top-domains");
        assert_eq!(rej("domain", "www.google.com"), "warninglist:top-domains");
        assert_eq!(
            rej("domain", &format!("{}.com", "a".repeat(496))),
            "too-long"
        );
        assert_eq!(rej("domain", "domain autuo.xicp.net"), "invalid");
        assert_eq!(rej("domain", "-bad.xyz"), "invalid");
        assert_eq!(rej("domain", "1.2.3.4"), "invalid");
        assert_eq!(rej("domain", "evil\u{0}.com"), "not-text");
        assert_eq!(rej("domain", "x.local"), "warninglist:reserved-domains");
        assert_eq!(
            rej("domain", "evil.example"),
            "warninglist:reserved-domains"
        );
    }

    #[test]
    fn urls_hashes_and_types() {
        assert_eq!(
            ok("url", "hxxps://User@Evil.XYZ:8443/a/b.php?x=1#frag"),
            [(Kind::Url, "evil.xyz/a/b.php?x=1".into())]
        );
        assert_eq!(
            ok("url", "http://45.9.148.108"),
            [(Kind::Url, "45.9.148.108/".into())]
        );
        assert_eq!(ok("url", "evil.xyz?q"), [(Kind::Url, "evil.xyz/?q".into())]);
        assert_eq!(rej("url", "ftp://evil.xyz/x"), "unsupported:url scheme");
        assert_eq!(
            rej("url", "https://www.google.com/search?q=x"),
            "warninglist:top-domains"
        );
        let sha = "EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C";
        assert_eq!(
            ok("sha256", sha),
            [(Kind::Sha256, sha.to_ascii_lowercase())]
        );
        assert_eq!(
            ok("filename|sha256", &format!("a.exe|{sha}"))[0].0,
            Kind::Sha256
        );
        assert_eq!(ok("hash", &sha[..40])[0].0, Kind::Sha1);
        assert_eq!(ok("ja3-fingerprint-md5", &sha[..32])[0].0, Kind::Ja3);
        assert_eq!(rej("md5", &sha[..31]), "invalid");
        assert_eq!(rej("md5", "zz537f25c895bfa782526529a9b63d97"), "invalid");
        assert_eq!(
            rej("email-src", "a@b.example"),
            "unsupported-type:email-src"
        );
    }
}
