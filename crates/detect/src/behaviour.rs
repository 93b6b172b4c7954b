//! Detectors over longer windows, application protocols and DNS, measured on real tools.
//!
//! The window heuristics in [`crate::engine`] see bursts: many things within seconds.
//! Real attack tools and infected devices are often slower or quieter than that. These
//! detectors keep a little more state per address and look at minutes:
//!
//! - **slow scan**: failed contacts (no answer, or refused: the server never completed a
//!   handshake) to many distinct (host, port) pairs over a long window, when they are the
//!   larger share of the source's distinct contacts. A worm-like device, nmap's slow
//!   timing templates and masscan at a low rate fail most contacts; a browser loading a
//!   page from forty CDN hosts is answered by every one of them.
//! - **login guessing**: sessions to one login service, by Suricata's application
//!   protocol whatever the port (ssh, telnet, ftp, mqtt, smtp, imap, pop3, rdp, vnc,
//!   databases), in a short and a long window, and HTTP 401/403 answers. A home device
//!   must also spread them over several hosts: one device reconnecting to its own broker
//!   in a loop is not guessing passwords.
//! - **service scan**: many sessions from one source to one (host, port) within seconds
//!   in which the protocol is never recognised or changes between sessions (nmap -sV
//!   sends one probe after another: NULL, GET, OPTIONS, RTSP, SSL, ...).
//! - **beaconing**: a home device contacting one remote (host, port) at regular intervals
//!   (low spread of the gaps between flow starts, random jitter tolerated) for minutes.
//! - **DNS tunnelling**: one home client asking many distinct names under one domain
//!   within minutes, most of them long or of record types that carry data (TXT, NULL,
//!   CNAME, MX, ANY, ...). Resolvers (home hosts others send queries to) are skipped: they
//!   only forward what their clients ask.
//! - **flood target**: a home host receiving unanswered flows from many distinct sources
//!   within seconds (spoofed SYN and UDP floods, reflection). The decision is about the
//!   target: by default a rate limit on new connections to the flooded protocol and port
//!   (TCP and UDP; other protocols have no port to limit and get an alert), enforced in
//!   nftables; the spoofed sources are never blocked.
//!
//! Every detector runs on EVE time only, and keeps its evidence in time order whatever
//! order records arrive in, so a replay decides as the live run did (see
//! docs/DETECTION.md, "Live and replay", for what order can still change).
//!
//! Memory, measured (`state_sizes` test): 72 bytes per source in the engine's source
//! entry (the engine's table holds both parts, one lookup per record), plus up to
//! [`SlowScan::max_contacts`] contacts (8 bytes each), for a source that logs in 64
//! bytes and 8 login services (72 bytes), and
//! 4 probed ports (8 bytes, and 24 for one that had an odd session), all grown only as used; per home device, up to 32 beacon
//! candidates (72 bytes, plus 8 per remembered contact, at most 24) and 8 DNS domains (up to 2 × threshold name hashes each); per
//! home host under unanswered inbound traffic, 640 bytes. The tables hold at most
//! `max-sources` entries each, the longest idle evicted first.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use suriguard_decision::{threshold_confidence, Action, Limit, Proposal, Reason, L4};
use suriguard_eve::{EveRecord, HexFlags, Proto};
use suriguard_net::{Direction, NetworkModel};

use crate::baseline::{
    span as human_span, BaselineConfig, BaselineFile, DeviceEntry, KnownPeriodic, Profile,
};
use crate::window::{check_window, evict_idle, AddrMap, WindowCount};

const SEC: f64 = 1_000_000.0;

/// What a detector does once it trips, by where the source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Response {
    /// For a source outside the home networks: `block` or `alert-only`.
    pub inbound: Action,
    /// For a home device: `quarantine` or `alert-only`.
    pub home: Action,
}

impl Response {
    pub(crate) const fn new(inbound: Action, home: Action) -> Self {
        Response { inbound, home }
    }

    fn validate(&self, name: &str) -> Result<(), String> {
        self.check(&format!("[detect] {name}.response"))
    }

    /// Checks the pair; `key` names it in messages (`[model] response`).
    pub(crate) fn check(&self, key: &str) -> Result<(), String> {
        if self.inbound == Action::RateLimit || self.home == Action::RateLimit {
            return Err(format!("{key}: rate-limit is flood-target's response only"));
        }
        if self.inbound == Action::Quarantine {
            return Err(format!(
                "{key}.inbound must be block or alert-only (an outside \
                 address cannot be quarantined)"
            ));
        }
        if self.home == Action::Block {
            return Err(format!(
                "{key}.home must be quarantine or alert-only (a home \
                 device is quarantined, not blocked)"
            ));
        }
        Ok(())
    }

    pub(crate) fn action(&self, dir: Direction) -> Action {
        if dir == Direction::Inbound {
            self.inbound
        } else {
            self.home
        }
    }
}

/// `[detect.slow-scan]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SlowScan {
    pub enabled: bool,
    /// Seconds.
    pub window: f64,
    /// Distinct (host, port) pairs that failed within the window.
    pub threshold: u64,
    /// ... and at least this share of all distinct contacts failed.
    pub min_failed_share: f64,
    /// ... spread over at least this many seconds (faster scans are the window
    /// heuristics' to name).
    pub min_span: f64,
    /// Distinct contacts remembered per source.
    pub max_contacts: usize,
    pub response: Response,
}

impl Default for SlowScan {
    fn default() -> Self {
        SlowScan {
            enabled: true,
            window: 900.0,
            threshold: 40,
            min_failed_share: 0.6,
            min_span: 60.0,
            max_contacts: 512,
            response: Response::new(Action::Block, Action::Quarantine),
        }
    }
}

/// `[detect.login-guessing]`: brute force by application protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct LoginGuessing {
    pub enabled: bool,
    /// Suricata `app_proto` names of login services.
    pub protocols: Vec<String>,
    /// Ports that count as login services when Suricata names no protocol.
    pub ports: Vec<u16>,
    /// Sessions to one service of one host within `window` seconds...
    pub window: f64,
    pub threshold: u64,
    /// ... or within `long-window` seconds (slow guessing).
    pub long_window: f64,
    pub long_threshold: u64,
    /// Sessions longer than this many seconds are not login attempts.
    pub max_session_secs: u64,
    /// HTTP 401/403/407 answers to one source within `window`.
    pub http_failures: u64,
    /// Refused logins the server said so for (FTP 530, MQTT CONNACK 4 or 5) to one
    /// source within `window`.
    pub refused_logins: u64,
    /// A home device must spread its sessions over at least this many hosts.
    pub home_min_hosts: u64,
    pub response: Response,
    /// Protocols whose session counts are only alerted on, never blocked: those whose
    /// clients reconnect often by design and whose authentication result EVE does not
    /// carry (mail clients polling, mail servers delivering), and those where the
    /// server's own refusals decide instead (ftp, mqtt: `refused-logins`, so a client
    /// retrying one stale password is not blocked). Port-only services 25, 110, 143,
    /// 21 and 1883 count as smtp, pop3, imap, ftp and mqtt.
    pub alert_only_protocols: Vec<String>,
}

impl Default for LoginGuessing {
    fn default() -> Self {
        LoginGuessing {
            enabled: true,
            protocols: [
                "ssh", "telnet", "ftp", "mqtt", "smtp", "imap", "pop3", "rdp", "vnc", "mysql",
                "pgsql", "tds", "sip", "rfb",
            ]
            .map(String::from)
            .to_vec(),
            ports: vec![
                21, 22, 23, 25, 110, 143, 1883, 2222, 2323, 3306, 3389, 5432, 5900,
            ],
            window: 60.0,
            threshold: 6,
            long_window: 1800.0,
            long_threshold: 20,
            max_session_secs: 120,
            http_failures: 12,
            refused_logins: 6,
            home_min_hosts: 3,
            response: Response::new(Action::Block, Action::Quarantine),
            alert_only_protocols: ["smtp", "imap", "pop3", "ftp", "mqtt"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// `[detect.service-scan]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ServiceScan {
    pub enabled: bool,
    pub window: f64,
    /// Sessions to one (host, port) within the window whose protocol Suricata did not
    /// recognise, or recognised differently from the port's usual one.
    pub threshold: u64,
    pub response: Response,
}

impl Default for ServiceScan {
    fn default() -> Self {
        ServiceScan {
            enabled: true,
            window: 60.0,
            threshold: 8,
            response: Response::new(Action::Block, Action::AlertOnly),
        }
    }
}

/// `[detect.beaconing]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Beaconing {
    pub enabled: bool,
    /// Contacts (flow starts) to one remote (host, port) needed.
    pub min_contacts: u64,
    /// Seconds between the first and last of them, at least.
    pub min_span: f64,
    /// Median gap between contacts, seconds: at least / at most.
    pub min_period: f64,
    pub max_period: f64,
    /// (80th − 20th percentile of the gaps) / median gap, at most.
    pub max_spread: f64,
    pub response: Response,
}

impl Default for Beaconing {
    fn default() -> Self {
        Beaconing {
            enabled: true,
            min_contacts: 16,
            min_span: 90.0,
            min_period: 1.0,
            max_period: 900.0,
            max_spread: 0.6,
            response: Response::new(Action::AlertOnly, Action::AlertOnly),
        }
    }
}

/// `[detect.dns-tunnel]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DnsTunnel {
    pub enabled: bool,
    pub window: f64,
    /// Distinct names under one domain within the window.
    pub threshold: u64,
    /// ... of which at least this share are long or of data-carrying types.
    pub min_suspicious_share: f64,
    /// A name counts as long from this many characters (the domain excluded).
    pub long_name: usize,
    pub response: Response,
}

impl Default for DnsTunnel {
    fn default() -> Self {
        DnsTunnel {
            enabled: true,
            window: 300.0,
            threshold: 30,
            min_suspicious_share: 0.5,
            long_name: 24,
            response: Response::new(Action::AlertOnly, Action::AlertOnly),
        }
    }
}

/// `[detect.volume]`: uploads far beyond a device's own history (exfiltration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct VolumeAnomaly {
    pub enabled: bool,
    /// Seconds per window.
    pub window: f64,
    /// Bytes a home device sends out within one window, at least...
    pub min_bytes: u64,
    /// ... and at least this many times its largest earlier window.
    pub ratio: f64,
    pub response: Response,
}

impl Default for VolumeAnomaly {
    fn default() -> Self {
        VolumeAnomaly {
            enabled: true,
            window: 600.0,
            min_bytes: 100_000_000,
            ratio: 10.0,
            response: Response::new(Action::AlertOnly, Action::AlertOnly),
        }
    }
}

/// `[detect.flood-target]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct FloodTarget {
    pub enabled: bool,
    pub window: f64,
    /// Unanswered inbound flows to one home host within the window...
    pub threshold: u64,
    /// ... from at least this many distinct sources (estimated).
    pub min_sources: u64,
    /// What happens to the target: `rate-limit` (new connections to the flooded TCP or
    /// UDP port, in nftables; other protocols get an alert) or `alert-only`.
    pub response: Action,
}

impl Default for FloodTarget {
    fn default() -> Self {
        FloodTarget {
            enabled: true,
            window: 10.0,
            threshold: 400,
            min_sources: 100,
            response: Action::RateLimit,
        }
    }
}

/// Every detector of this module, as `[detect]` carries them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct BehaviourConfig {
    pub slow_scan: SlowScan,
    pub login_guessing: LoginGuessing,
    pub service_scan: ServiceScan,
    pub beaconing: Beaconing,
    pub dns_tunnel: DnsTunnel,
    pub flood_target: FloodTarget,
    pub volume: VolumeAnomaly,
    pub baseline: BaselineConfig,
}

impl BehaviourConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (name, w) in [
            ("slow-scan", self.slow_scan.window),
            ("login-guessing", self.login_guessing.window),
            ("login-guessing.long", self.login_guessing.long_window),
            ("service-scan", self.service_scan.window),
            ("dns-tunnel", self.dns_tunnel.window),
            ("flood-target", self.flood_target.window),
            ("volume", self.volume.window),
        ] {
            check_window(name, w)?;
        }
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("[detect] {name} must be between 0 and 1, got {v}"))
            }
        };
        share(
            "slow-scan.min-failed-share",
            self.slow_scan.min_failed_share,
        )?;
        share(
            "dns-tunnel.min-suspicious-share",
            self.dns_tunnel.min_suspicious_share,
        )?;
        let b = &self.beaconing;
        if !(b.min_period > 0.0 && b.min_period <= b.max_period) {
            return Err(format!(
                "[detect] beaconing.min-period must be above 0 and at most max-period, got {} and {}",
                b.min_period, b.max_period
            ));
        }
        if b.min_contacts < 4 || b.min_contacts > RING as u64 {
            return Err(format!(
                "[detect] beaconing.min-contacts must be between 4 and {RING}, got {}",
                b.min_contacts
            ));
        }
        if !(1..=4096).contains(&self.slow_scan.max_contacts) {
            return Err(format!(
                "[detect] slow-scan.max-contacts must be between 1 and 4096, got {}",
                self.slow_scan.max_contacts
            ));
        }
        if !(1..=10_000).contains(&self.dns_tunnel.threshold) {
            return Err(format!(
                "[detect] dns-tunnel.threshold must be between 1 and 10000, got {}",
                self.dns_tunnel.threshold
            ));
        }
        self.slow_scan.response.validate("slow-scan")?;
        self.login_guessing.response.validate("login-guessing")?;
        self.service_scan.response.validate("service-scan")?;
        self.beaconing.response.validate("beaconing")?;
        self.dns_tunnel.response.validate("dns-tunnel")?;
        self.volume.response.validate("volume")?;
        self.baseline.validate()?;
        if !(1..=REFUSED as u64).contains(&self.login_guessing.refused_logins) {
            return Err(format!(
                "[detect] login-guessing.refused-logins must be between 1 and {REFUSED}"
            ));
        }
        if self.login_guessing.http_failures == 0 {
            return Err("[detect] login-guessing.http-failures must be at least 1".into());
        }
        if !matches!(
            self.flood_target.response,
            Action::RateLimit | Action::AlertOnly
        ) {
            return Err(format!(
                "[detect] flood-target.response must be rate-limit or alert-only, got {} (the \
                 spoofed sources are never blocked; the target is a home host)",
                self.flood_target.response.as_str()
            ));
        }
        Ok(())
    }

    pub(crate) fn longest_window(&self) -> f64 {
        [
            self.slow_scan.window,
            self.login_guessing.long_window,
            self.service_scan.window,
            self.dns_tunnel.window,
            self.beaconing.max_period * RING as f64,
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }
}

/// A login service one source reached on one host.
#[derive(Debug)]
struct Service {
    host: IpAddr,
    /// Index into the protocol list, or `u8::MAX` for a port-only service.
    proto: u8,
    port: u16,
    /// The latest session (µs): a window's total only moves when its own service has a
    /// new session, so other services' counts are read only while they are recent.
    last: i64,
    short: WindowCount,
    long: WindowCount,
}

/// Sessions of one source to one (host, port) in the service-scan window.
#[derive(Debug)]
struct Probed {
    /// The high half of [`mix`] of the host and port (8 bytes an entry instead of 56
    /// with the address and the counter; two of a source's four probed ports share a
    /// key with probability about 2⁻²⁹).
    key: u32,
    /// [`fnv`] of the first protocol Suricata named on this (host, port), folded to 32
    /// bits (0: none yet).
    first_proto: u32,
}

/// The unrecognised or changing-protocol sessions on one probed (host, port): made on
/// the first such session (most ports never have one).
#[derive(Debug)]
struct Odd {
    key: u32,
    sessions: WindowCount,
}

/// A slow-scan contact, 8 bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Contact {
    /// The high half of [`mix`] of host and port, its lowest bit set while every
    /// contact failed. Two of a source's contacts share a key with probability about
    /// n²/2³² (6·10⁻⁵ at the default 512): they then count as one.
    key: u32,
    /// The last time, in milliseconds of EVE time, wrapping: read as its age from the
    /// source's `last_seen`, which [`Long::seen`] keeps below 2³² ms.
    ms: u32,
}

/// EVE microseconds as the wrapping milliseconds of a [`Contact`]: read only as an age
/// from a newer time of the same source, less than 2³² ms later.
fn wrapping_ms(t_us: i64) -> u32 {
    t_us.div_euclid(1000) as u32
}

/// The high half of [`mix`]: the 32-bit key of a (host, port).
fn mix32(ip: IpAddr, port: u16) -> u32 {
    (mix(ip, port) >> 32) as u32
}

/// What one source did over the long windows.
#[derive(Debug, Default)]
pub(crate) struct Long {
    pub(crate) last_seen: i64,
    /// The slow-scan detector's contacts: 8 bytes each.
    pub(crate) contacts: Vec<Contact>,
    /// Up to 4, exactly as many as held (16 bytes in the entry instead of a vector's 24).
    probed: Box<[Probed]>,
    /// The probed ports that had an odd session, each in `probed` too: made on the
    /// first (8 bytes in the entry for the many sources that never have one).
    #[allow(clippy::box_collection)] // 8 bytes in every entry instead of a vector's 24
    odd: Option<Box<Vec<Odd>>>,
    /// What only a source that logs in or fails to has: made on its first login session
    /// or failure (most sources never need it: 8 bytes instead of 64 in the entry).
    logins: Option<Box<Logins>>,
    probes: Probes,
}

/// The kinds of scanner probes a source sent ([`PROBE_KINDS`] bits) and since when (EVE
/// time, µs), in one word instead of two: the kinds in the low 4 bits, the time above.
/// A time is kept within ±2⁵⁹ µs (±18,000 years; an EVE timestamp's year has 4 digits).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Probes(i64);

impl Probes {
    const KINDS: i64 = 0xF;
    const LIMIT: i64 = 1 << 59;

    fn new(since: i64, kinds: u8) -> Probes {
        debug_assert!(i64::from(kinds) <= Probes::KINDS);
        let since = since.clamp(-Probes::LIMIT, Probes::LIMIT - 1);
        Probes((since << 4) | (i64::from(kinds) & Probes::KINDS))
    }

    fn kinds(self) -> u8 {
        (self.0 & Probes::KINDS) as u8
    }

    fn since(self) -> i64 {
        self.0 >> 4
    }
}

/// A source's login sessions and failures (login guessing).
#[derive(Debug, Default)]
struct Logins {
    services: Vec<Service>,
    http_failures: WindowCount,
    /// Distinct passwords of FTP 530 and MQTT refusals since `refused_since` (hashes;
    /// a fixed window, allocated only for sources that are refused).
    refused: Option<Box<[u32; REFUSED]>>,
    refused_since: i64,
}

impl Long {
    /// If the source was last seen before `before`, forgets its slow-scan contacts that
    /// never got an answer (the list freed if none is left); whether it did. Answered
    /// ones stay: answered once is answered, so a server that answered long ago and
    /// fails now (an outage) never counts as a failed contact.
    pub(crate) fn release_idle(&mut self, before: i64) -> bool {
        if self.last_seen >= before || self.contacts.capacity() == 0 {
            return false;
        }
        let held = self.contacts.capacity();
        self.contacts.retain(|e| e.key & 1 == 0);
        if self.contacts.is_empty() {
            self.contacts = Vec::new();
        } else {
            self.contacts.shrink_to_fit();
        }
        self.contacts.capacity() < held
    }

    fn logins(&mut self) -> &mut Logins {
        self.logins.get_or_insert_with(Default::default)
    }

    /// Moves the source's clock to `t` (never back). A [`Contact`]'s time is 32 bits of
    /// milliseconds read as an age from this clock, right while the age stays below 2³²
    /// ms (49.7 days): whenever the clock enters a new period of 2³⁰ ms (12.4 days),
    /// contacts older than 2³⁰ ms are made exactly 2³⁰ ms old (all of them if the clock
    /// jumped that far). Every window is at most a day, so none of them counted, and
    /// each keeps its "answered" mark. Between two such periods no contact can age past
    /// 3 × 2³⁰ ms.
    fn seen(&mut self, t: i64) {
        const PERIOD_MS: i64 = 1 << 30;
        let (was, now) = (self.last_seen, self.last_seen.max(t));
        self.last_seen = now;
        if self.contacts.is_empty()
            || now.div_euclid(1000) / PERIOD_MS == was.div_euclid(1000) / PERIOD_MS
        {
            return;
        }
        let n = wrapping_ms(now);
        let floor = n.wrapping_sub(PERIOD_MS as u32);
        let jumped = now.div_euclid(1000) - was.div_euclid(1000) >= PERIOD_MS;
        for e in &mut self.contacts {
            if jumped || i64::from(n.wrapping_sub(e.ms)) > PERIOD_MS {
                e.ms = floor;
            }
        }
    }
}

/// Distinct refused passwords remembered per source.
const REFUSED: usize = 16;

/// Probes that operating systems' own stacks and ordinary clients do not send, as nmap's
/// host discovery and SYN scan do (bit order).
const PROBE_KINDS: [&str; 4] = [
    "ICMP timestamp or address-mask request",
    "half-open SYN to an open port (the scanner reset the handshake)",
    "bare ACK probe",
    "SYN to a closed port",
];

/// One remote (host, port) a home device keeps contacting.
#[derive(Debug, Clone)]
struct Beacon {
    host: IpAddr,
    port: u16,
    proto: u8,
    /// The latest flow starts of the current run (µs), sorted, at most [`RING`]: a
    /// run is contacts without a gap longer than twice `max-period`.
    starts: Vec<i64>,
    /// Contacts in the current run, and when it began.
    n: u64,
    first: i64,
    bytes: u64,
    decided: bool,
}

const RING: usize = 24;
/// Destinations a home device contacted once, remembered to make a beacon candidate on
/// the second contact.
const SEEN: usize = 32;

/// Names one client asked under one domain.
#[derive(Debug, Default)]
struct Domain {
    domain: u64,
    name: String,
    window_start: i64,
    last: i64,
    names: Vec<u32>,
    suspicious: u32,
    longest: usize,
    example: String,
    types: [u32; 4],
}

#[derive(Debug, Default)]
struct Device {
    last_seen: i64,
    /// Keys of (host, port, protocol) contacted once lately, and when.
    seen: [u64; SEEN],
    first_seen_at: [i64; SEEN],
    next_seen: usize,
    beacons: Vec<Beacon>,
    domains: Vec<Domain>,
    volume: Volume,
    /// What the device normally does (kept across restarts).
    base: Profile,
}

impl Device {
    /// The MAC address behind the device's address. Another MAC than the one its
    /// profile was learned with is another device (DHCP gave the address to a new
    /// one): the old profile and volume history are dropped, it learns afresh.
    fn bind_mac(&mut self, mac: &str, t: i64) {
        if self.base.mac.as_deref().is_some_and(|old| old != mac) {
            self.base = Profile::default();
            self.volume = Volume::default();
        }
        self.base.seen(t);
        set_text(&mut self.base.mac, mac);
    }
}

/// A home device's uploads to the outside, per window.
#[derive(Debug, Default)]
struct Volume {
    /// The current window and the one before it: a flow's record comes when it ends, so
    /// a record may arrive after a later window began.
    slots: [VolumeSlot; 2],
}

#[derive(Debug, Default, Clone, Copy)]
struct VolumeSlot {
    /// Window number (flow end / window).
    window: i64,
    bytes: u64,
    /// The largest single upload of the window.
    top: Option<(IpAddr, u16, u64)>,
    decided: bool,
}

/// A home host receiving unanswered inbound flows.
#[derive(Debug, Default)]
struct Target {
    last_seen: i64,
    /// The latest [`EPOCHS`] windows (time / window), each counted on its own so the
    /// order flow records arrive in does not matter (Suricata writes a flood's flows
    /// when they time out, in hash order).
    epochs: [Epoch; EPOCHS],
}

const EPOCHS: usize = 4;

#[derive(Debug, Clone, Copy, Default)]
struct Epoch {
    epoch: i64,
    unanswered: u32,
    port: u16,
    /// Majority-vote counter for `port`.
    votes: u32,
    decided: bool,
    /// The target answered at least one of the window's flows (it exists).
    replied: bool,
    /// Linear-counting bitmap of the sources.
    bits: [u64; 16],
}

/// The state and logic of every detector in this module.
pub struct Behaviour {
    cfg: BehaviourConfig,
    max_sources: usize,
    devices: AddrMap<Device>,
    targets: AddrMap<Target>,
    /// Home hosts that answer other home hosts' DNS queries.
    resolvers: Vec<IpAddr>,
    newest: i64,
    pub(crate) evicted: u64,
    /// Proposals that lost to another on the same record, handed out on later records.
    pending: Vec<Proposal>,
    /// Periodic contacts the baselines knew as normal, not proposed.
    pub(crate) beacons_suppressed: u64,
    /// Host names DHCP clients gave, by MAC (the reply that names the address comes
    /// later), the oldest dropped beyond [`DHCP_NAMES`].
    dhcp_names: Vec<(String, String)>,
}

const DHCP_NAMES: usize = 256;

/// Proposals kept waiting at most.
const PENDING: usize = 16;

fn hash64(v: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// A cheap, well-mixed key for an address and port (the per-flow paths; `hash64`'s
/// SipHash is for DNS names).
fn mix(ip: IpAddr, port: u16) -> u64 {
    let x = match ip {
        IpAddr::V4(a) => u32::from(a) as u64,
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64).rotate_left(29)
        }
    };
    let mut z = x ^ ((port as u64) << 48) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a short string (protocol names), never 0.
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h | 1
}

/// The registrable part of a DNS name, roughly: the last two labels, or three when the
/// second-level label is a short public one (`co.uk`, `com.au`).
fn base_domain(name: &str) -> &str {
    let name = name.trim_end_matches('.');
    let dots: Vec<usize> = name.match_indices('.').map(|(i, _)| i).collect();
    let keep = match dots.len() {
        0 | 1 => return name,
        n => {
            let sld = &name[dots[n - 2] + 1..dots[n - 1]];
            let tld = &name[dots[n - 1] + 1..];
            if tld.len() == 2 && matches!(sld, "co" | "com" | "net" | "org" | "gov" | "ac" | "edu")
            {
                3
            } else {
                2
            }
        }
    };
    if dots.len() < keep {
        return name;
    }
    &name[dots[dots.len() - keep] + 1..]
}

fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_multicast() || a.is_broadcast()),
        IpAddr::V6(a) => !a.is_multicast(),
    }
}

impl Behaviour {
    pub fn new(cfg: BehaviourConfig, max_sources: usize) -> Self {
        Behaviour {
            cfg,
            max_sources,
            devices: AddrMap::default(),
            targets: AddrMap::default(),
            resolvers: Vec::new(),
            newest: i64::MIN,
            evicted: 0,
            pending: Vec::new(),
            beacons_suppressed: 0,
            dhcp_names: Vec::new(),
        }
    }

    fn make_room(&mut self, t: i64) {
        self.newest = self.newest.max(t);
        let cap = self.max_sources;
        if self.devices.len() < cap && self.targets.len() < cap {
            return;
        }
        let horizon = self.newest - (self.cfg.longest_window() * SEC) as i64;
        if self.devices.len() >= cap {
            self.evicted += evict_idle(&mut self.devices, cap, horizon, |s| s.last_seen);
        }
        if self.targets.len() >= cap {
            self.evicted += evict_idle(&mut self.targets, cap, horizon, |s| s.last_seen);
        }
    }

    /// A flow record: slow scan, login guessing, service scan, beaconing, flood target.
    /// `dir` is the flow's direction and `s` its source's entry (the engine looked both
    /// up).
    pub(crate) fn on_flow(
        &mut self,
        rec: &EveRecord<'_>,
        net: &NetworkModel,
        heuristics: bool,
        dir: Direction,
        s: &mut Long,
    ) -> Option<Proposal> {
        let (src, dst, flow, t) = rec.flow_parts()?;
        if dir == Direction::Transit || !is_unicast(dst) {
            return None;
        }
        self.make_room(t);
        let dport = rec.dest_port.unwrap_or(0);
        let tcp = rec.proto == Some(Proto::Tcp);
        let answered = flow.pkts_toclient.unwrap_or(0) > 0;
        let (ts, tc) = rec.tcp.as_ref().map_or((None, None), |t| {
            (t.tcp_flags_ts.or(t.tcp_flags), t.tcp_flags_tc)
        });
        let (ts, tc) = (ts.unwrap_or_default(), tc.unwrap_or_default());
        // Failed: TCP whose client never acknowledged anything (no handshake: a SYN
        // probe, unanswered or refused) or that the server refused with a RST; other
        // protocols without any answer. A client that acknowledges was answered, even
        // when the capture missed the answers (one-sided captures are common).
        let no_handshake = tcp && !ts.has(HexFlags::ACK);
        let failed = if tcp {
            no_handshake || (tc.has(HexFlags::RST) && !tc.has(HexFlags::SYN))
        } else {
            !answered
        };
        // An operating system's connect() retries its SYN (three or more of them): that
        // is a client trying to reach its server, not a probe. Scanners send one or two.
        let retrying = no_handshake && !answered && flow.pkts_toserver.unwrap_or(0) >= 3;
        let app = rec.app_proto.as_deref().unwrap_or("");
        let age = flow.age.unwrap_or(0);

        let mut out = None;
        // A flood packet: a TCP handshake its (spoofed) sender never completes, whether
        // the victim answered it or not; other protocols unanswered.
        // A UDP flow answered by ICMP errors only (port unreachable: nothing listens)
        // stays in state `new` whatever its packets to the client: no answer either.
        let flood_packet = if tcp {
            no_handshake
        } else {
            !answered || flow.state.as_deref() == Some("new")
        };
        if dir == Direction::Inbound && flood_packet {
            out = self.flood_target(src, dst, rec.proto, dport, answered, t);
        }
        if dir == Direction::Outbound && net.is_home(src) {
            let up = flow.bytes_toserver.unwrap_or(0);
            let bytes = up.saturating_add(flow.bytes_toclient.unwrap_or(0));
            // Volume goes by when flows end: that is when their bytes are known.
            let end = flow.end.map_or(t, |e| e.micros().max(t));
            let proto = rec.proto.map_or(0, proto_number);
            let c = &self.cfg;
            let d = self.devices.entry(src).or_default();
            d.last_seen = d.last_seen.max(t);
            if c.baseline.enabled {
                d.base.seen(t);
                // A frame's source MAC fills in an unknown one, never replaces one: it
                // depends on where Suricata listens (behind a router, the router's).
                // DHCP, which gives out the address, decides a change of device.
                if d.base.mac.is_none() {
                    if let Some(mac) = rec.ether.as_ref().and_then(|e| e.source_mac()) {
                        set_text(&mut d.base.mac, mac);
                    }
                }
                d.base
                    .contact(&c.baseline, (proto, dport), mix(dst, 0), !failed, t);
            }
            let (p, suppressed) = beacon(c, d, src, dst, dport, proto, t, bytes);
            self.beacons_suppressed += suppressed as u64;
            out = out.or(p);
            let p = upload(&c.volume, d, src, dst, dport, end, up);
            out = out.or(p);
        }
        let c = &self.cfg;
        s.seen(t);
        let scan = if c.slow_scan.enabled && !retrying {
            contact(s, mix32(dst, dport), t, failed, &c.slow_scan)
        } else {
            None
        };
        // A session: answered and, for TCP, a handshake the client completed.
        let session = answered && !no_handshake;
        let login =
            if c.login_guessing.enabled && session && age <= c.login_guessing.max_session_secs {
                login(s, dst, dport, app, t, &c.login_guessing, net, dir)
            } else {
                None
            };
        let probe = if c.service_scan.enabled && session && tcp {
            probe(s, dst, dport, app, t, &c.service_scan)
        } else {
            None
        };
        // Scanner probes: which kinds this flow is.
        let kind = match rec.proto {
            Some(Proto::Icmp) if matches!(rec.icmp_type, Some(13 | 17)) => 1,
            Some(Proto::Tcp)
                if ts.has(HexFlags::SYN)
                    && ts.has(HexFlags::RST)
                    && !ts.has(HexFlags::ACK)
                    && tc.has(HexFlags::SYN) =>
            {
                2
            }
            Some(Proto::Tcp)
                if ts.0 == 0
                    && tc.0 == 0
                    && flow.pkts_toserver == Some(1)
                    && flow.pkts_toclient == Some(1) =>
            {
                4
            }
            Some(Proto::Tcp)
                if ts.0 == HexFlags::SYN && tc.has(HexFlags::RST) && !tc.has(HexFlags::SYN) =>
            {
                8
            }
            _ => 0,
        };
        let fingerprint = if c.service_scan.enabled && kind != 0 {
            let w = (c.service_scan.window * SEC) as i64;
            if t - s.probes.since() > w {
                s.probes = Probes::new(t, 0);
            }
            let before = s.probes.kinds().count_ones();
            s.probes = Probes::new(s.probes.since(), s.probes.kinds() | kind);
            let n = s.probes.kinds().count_ones();
            (n >= 3 && n > before).then_some(s.probes.kinds())
        } else {
            None
        };
        if !heuristics {
            return None;
        }
        // Beacon, volume and flood-target proposals are made once (their detector marks
        // itself decided): one that loses to another detector on this record waits.
        if login.is_some() || scan.is_some() || fingerprint.is_some() || probe.is_some() {
            if let Some(p) = out.take() {
                if self.pending.len() < PENDING {
                    self.pending.push(p);
                }
            }
        }
        let example = rec.flow_id;
        let make = |reason, action, counter, observed, threshold, window, detail| Proposal {
            target: src,
            direction: dir,
            time_us: t,
            action,
            reason,
            counter,
            observed,
            threshold,
            window,
            detail,
            confidence: threshold_confidence(observed, threshold),
            example_flow_ids: example.into_iter().collect(),
            model: None,
            limit: None,
        };
        if let Some((observed, detail)) = login {
            let (th, w) = if detail.1 {
                (
                    c.login_guessing.long_threshold,
                    c.login_guessing.long_window,
                )
            } else {
                (c.login_guessing.threshold, c.login_guessing.window)
            };
            let named = match (app, dport) {
                ("" | "failed", 25) => "smtp",
                ("" | "failed", 110) => "pop3",
                ("" | "failed", 143) => "imap",
                ("" | "failed", 21) => "ftp",
                ("" | "failed", 1883) => "mqtt",
                (a, _) => a,
            };
            let action = if c
                .login_guessing
                .alert_only_protocols
                .iter()
                .any(|p| p == named)
            {
                Action::AlertOnly
            } else {
                c.login_guessing.response.action(dir)
            };
            return Some(make(
                Reason::BruteForce,
                action,
                "login sessions to one service",
                observed,
                th,
                w,
                Some(detail.0),
            ));
        }
        if let Some((observed, total)) = scan {
            return Some(make(
                Reason::SlowScan,
                c.slow_scan.response.action(dir),
                "distinct hosts and ports that did not answer or refused",
                observed,
                c.slow_scan.threshold,
                c.slow_scan.window,
                Some(format!(
                    "{observed} of {total} distinct contacts failed, latest {dst} port {dport}"
                )),
            ));
        }
        if let Some(bits) = fingerprint {
            let kinds: Vec<&str> = PROBE_KINDS
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, k)| *k)
                .collect();
            return Some(make(
                Reason::ScanProbes,
                c.service_scan.response.action(dir),
                "kinds of scanner probes",
                kinds.len() as u64,
                3,
                c.service_scan.window,
                Some(format!("to {dst}: {}", kinds.join("; "))),
            ));
        }
        if let Some((observed, detail)) = probe {
            return Some(make(
                Reason::ServiceScan,
                c.service_scan.response.action(dir),
                "probing sessions to one service",
                observed,
                c.service_scan.threshold,
                c.service_scan.window,
                Some(detail),
            ));
        }
        out
    }

    /// An http record: 401/403/407 answers count as failed logins of the client.
    /// `client` gives the client's entry in the engine's source table.
    pub(crate) fn on_http<'s>(
        &mut self,
        rec: &EveRecord<'_>,
        net: &NetworkModel,
        client: impl FnOnce(IpAddr) -> &'s mut Long,
    ) -> Option<Proposal> {
        if !self.cfg.login_guessing.enabled {
            return None;
        }
        let status = rec.http.as_ref()?.status?;
        if !matches!(status, 401 | 403 | 407) {
            return None;
        }
        let (s, c, (src, dst), t) = self.failing_client(rec, net, client)?;
        let n = s.logins().http_failures.add(t, slot(c.window)) as u64;
        if n < c.http_failures {
            return None;
        }
        let host = rec
            .http
            .as_ref()
            .and_then(|h| h.hostname.as_ref())
            .map(|h| h.to_string())
            .unwrap_or_else(|| dst.to_string());
        Some(login_failures(
            c,
            (src, t, rec.flow_id),
            "HTTP authentication failures (401/403/407)",
            (n, c.http_failures),
            format!("http on {host}, last status {status}"),
        ))
    }

    /// An ftp or mqtt record whose server refused a login (FTP 530, MQTT CONNACK 4 or
    /// 5): failures the server itself reports, counted per outside source.
    /// `client` gives the client's entry in the engine's source table.
    pub(crate) fn on_login_reply<'s>(
        &mut self,
        rec: &EveRecord<'_>,
        net: &NetworkModel,
        client: impl FnOnce(IpAddr) -> &'s mut Long,
    ) -> Option<Proposal> {
        if !self.cfg.login_guessing.enabled {
            return None;
        }
        // The password tried: a guessing tool tries many, a client with a stale
        // password repeats one (and is not blocked for it).
        let (proto, what, password) = if let Some(f) = rec.ftp.as_ref() {
            let code = f.completion_code.as_ref()?.0.as_deref()?;
            // 530 also answers AUTH TLS on servers without TLS, and commands before
            // login: only a refused PASS is a refused login.
            if code != "530" || !f.command.as_deref()?.eq_ignore_ascii_case("PASS") {
                return None;
            }
            (
                "ftp",
                "530 login incorrect".to_string(),
                f.command_data.as_deref()?,
            )
        } else {
            let m = rec.mqtt.as_ref()?;
            let code = m.connack.as_ref()?.return_code?;
            if !matches!(code, 4 | 5) {
                return None;
            }
            let password = m.connect.as_ref()?.password.as_deref()?;
            ("mqtt", format!("CONNACK return code {code}"), password)
        };
        let key = (fnv(password) as u32) | 1;
        let (s, c, (src, dst), t) = self.failing_client(rec, net, client)?;
        let w = (c.window * SEC) as i64;
        let s = s.logins();
        let keys = s.refused.get_or_insert_with(|| Box::new([0; REFUSED]));
        if t - s.refused_since > w {
            **keys = [0; REFUSED];
            s.refused_since = t;
        }
        if !keys.contains(&key) {
            if let Some(free) = keys.iter_mut().find(|k| **k == 0) {
                *free = key;
            }
        }
        let n = keys.iter().filter(|&&k| k != 0).count() as u64;
        if n < c.refused_logins {
            return None;
        }
        let port = rec.dest_port.unwrap_or(0);
        Some(login_failures(
            c,
            (src, t, rec.flow_id),
            "distinct passwords the server refused (FTP 530, MQTT CONNACK 4/5)",
            (n, c.refused_logins),
            format!("{proto} on {dst} port {port}, last: {what}"),
        ))
    }

    /// The state of the client of an app-layer record that reports a failed login, with
    /// the detector's settings, the (client, server) addresses and the record's time. Only outside clients: a home device
    /// refused by its own broker or camera is misconfigured, not guessing.
    fn failing_client<'s>(
        &mut self,
        rec: &EveRecord<'_>,
        net: &NetworkModel,
        client: impl FnOnce(IpAddr) -> &'s mut Long,
    ) -> Option<(&'s mut Long, &LoginGuessing, (IpAddr, IpAddr), i64)> {
        let (src, dst, t) = (rec.src_ip?, rec.dest_ip?, rec.timestamp?.micros());
        if net.direction(src, dst) != Direction::Inbound {
            return None;
        }
        self.make_room(t);
        let s = client(src);
        s.seen(t);
        Some((s, &self.cfg.login_guessing, (src, dst), t))
    }

    /// A dns record: queries of home clients, per domain.
    pub fn on_dns(&mut self, rec: &EveRecord<'_>, net: &NetworkModel) -> Option<Proposal> {
        let c = &self.cfg.dns_tunnel;
        if !c.enabled {
            return None;
        }
        let dns = rec.dns.as_ref()?;
        if !dns.is_query() {
            return None;
        }
        let (src, dst, t) = (rec.src_ip?, rec.dest_ip?, rec.timestamp?.micros());
        if !net.is_home(src) {
            return None;
        }
        if net.is_home(dst) && !self.resolvers.contains(&dst) {
            if self.resolvers.len() >= 8 {
                self.resolvers.remove(0);
            }
            self.resolvers.push(dst);
        }
        if self.resolvers.contains(&src) {
            return None;
        }
        let name = dns.query_name()?.to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        // Reverse lookups have long names by design.
        if name.ends_with(".arpa") {
            return None;
        }
        let base = base_domain(name);
        if base.len() == name.len() || base.is_empty() {
            return None;
        }
        // The labels before the domain, without the dot that joins them ("base" is a
        // suffix of "name" that starts right after a dot, so this is a char boundary).
        let sub = &name[..name.len() - base.len() - 1];
        let name = name.to_owned();
        let rrtype = dns.query_type().unwrap_or("");
        let kind = match rrtype {
            "TXT" => 0,
            "NULL" => 1,
            "CNAME" | "MX" | "ANY" | "SRV" | "KEY" | "PRIVATE" => 2,
            _ => 3,
        };
        let suspicious = sub.len() >= c.long_name || kind < 3;
        let (window, threshold, share, window_secs, response) = (
            (c.window * SEC) as i64,
            c.threshold,
            c.min_suspicious_share,
            c.window,
            c.response,
        );
        self.make_room(t);
        let d = self.devices.entry(src).or_default();
        d.last_seen = d.last_seen.max(t);
        if self.cfg.baseline.enabled {
            d.base.seen(t);
        }
        let key = hash64(base);
        let i = match d.domains.iter().position(|x| x.domain == key) {
            Some(i) => i,
            None => {
                if d.domains.len() >= 8 {
                    // The least recently asked goes: a slow tunnel is asked all along.
                    let oldest = (0..d.domains.len())
                        .min_by_key(|&i| d.domains[i].last)
                        .unwrap_or(0);
                    d.domains.swap_remove(oldest);
                }
                d.domains.push(Domain {
                    domain: key,
                    name: base.to_owned(),
                    window_start: t,
                    ..Domain::default()
                });
                d.domains.len() - 1
            }
        };
        let dom = &mut d.domains[i];
        if t - dom.window_start > window {
            // A fresh window: the counts start again.
            *dom = Domain {
                domain: key,
                name: base.to_owned(),
                window_start: t,
                ..Domain::default()
            };
        }
        dom.last = dom.last.max(t);
        let h = hash64(&name) as u32;
        if dom.names.contains(&h) {
            return None;
        }
        if dom.names.len() < 2 * threshold as usize {
            dom.names.push(h);
        }
        if suspicious {
            dom.suspicious += 1;
        }
        dom.types[kind] += 1;
        if sub.len() > dom.longest {
            dom.longest = sub.len();
            dom.example = name.clone();
        }
        let n = dom.names.len() as u64;
        if n < threshold || (dom.suspicious as f64) < share * n as f64 {
            return None;
        }
        let dir = net.direction(src, dst);
        Some(Proposal {
            target: src,
            direction: dir,
            time_us: t,
            action: response.action(dir),
            reason: Reason::DnsTunnel,
            counter: "distinct names asked under one domain",
            observed: n,
            threshold,
            window: window_secs,
            detail: Some(format!(
                "domain {}: {} of {n} names long or TXT/NULL/CNAME-like (TXT {}, NULL {}, \
                 other data types {}), longest {} characters: {}",
                dom.name,
                dom.suspicious,
                dom.types[0],
                dom.types[1],
                dom.types[2],
                dom.longest,
                dom.example
            )),
            confidence: threshold_confidence(n, threshold).min(0.9),
            example_flow_ids: rec.flow_id.into_iter().collect(),
            model: None,
            limit: None,
        })
    }

    /// `proto` and `port` are the flow's: the flow that tips the count names the service
    /// a rate limit is put on (a flood to one service is nearly all of the target's
    /// unanswered flows). TCP and UDP are limited per destination port (port 0
    /// included: it is what a UDP flood without `-p` hits); other protocols (ICMP,
    /// SCTP...) have no port to limit, so the target gets an alert.
    fn flood_target(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        proto: Option<Proto>,
        port: u16,
        answered: bool,
        t: i64,
    ) -> Option<Proposal> {
        let c = &self.cfg.flood_target;
        if !c.enabled {
            return None;
        }
        let w = ((c.window * SEC) as i64).max(1);
        let tg = self.targets.entry(dst).or_default();
        tg.last_seen = tg.last_seen.max(t);
        let epoch = t.div_euclid(w);
        let slot = epoch.rem_euclid(EPOCHS as i64) as usize;
        let e = &mut tg.epochs[slot];
        if e.epoch != epoch {
            if e.epoch > epoch {
                return None; // older than the windows kept
            }
            *e = Epoch {
                epoch,
                ..Epoch::default()
            };
        }
        let h = mix(src, 0);
        e.bits[(h % 16) as usize] |= 1 << ((h >> 8) % 64);
        e.unanswered += 1;
        // The flooded port by majority vote: the same port whatever order the flows
        // come in, when one port has most of them.
        if e.votes == 0 {
            e.port = port;
            e.votes = 1;
        } else if e.port == port {
            e.votes += 1;
        } else {
            e.votes -= 1;
        }
        e.replied |= answered;
        let n = e.unanswered as u64;
        if n < c.threshold || e.decided {
            return None;
        }
        let zeros: u32 = e.bits.iter().map(|b| b.count_zeros()).sum();
        let m = 1024.0;
        let sources = if zeros == 0 {
            1024
        } else {
            (-m * (zeros as f64 / m).ln()).round() as u64
        };
        if sources < c.min_sources {
            return None;
        }
        e.decided = true;
        let limit = match proto {
            Some(Proto::Tcp) => Some(L4::Tcp),
            Some(Proto::Udp) => Some(L4::Udp),
            _ => None,
        }
        .map(|proto| Limit {
            proto,
            port: e.port,
        })
        // A target that never answered may not exist (a flood over random addresses of
        // the home prefix): limiting it would only spend the caps blocks need.
        .filter(|_| c.response == Action::RateLimit && e.replied);
        let port = e.port;
        let silent = if e.replied {
            ""
        } else {
            "; the target never answered (it may not exist): not rate-limited"
        };
        Some(Proposal {
            target: dst,
            direction: Direction::Inbound,
            time_us: t,
            action: if limit.is_some() {
                Action::RateLimit
            } else {
                Action::AlertOnly
            },
            limit,
            reason: Reason::FloodTarget,
            counter: "unanswered inbound flows to one home host",
            observed: n,
            threshold: c.threshold,
            window: c.window,
            detail: Some(format!(
                "port {port}, about {sources} distinct sources (spoofed sources are never blocked){silent}"
            )),
            confidence: threshold_confidence(n, c.threshold),
            example_flow_ids: Vec::new(),
            model: None,
        })
    }

    /// Keeps a proposal that lost to another on the same record.
    pub(crate) fn defer(&mut self, p: Proposal) {
        if self.pending.len() < PENDING {
            self.pending.push(p);
        }
    }

    /// A proposal kept waiting, oldest first.
    pub(crate) fn take_pending(&mut self) -> Option<Proposal> {
        (!self.pending.is_empty()).then(|| self.pending.remove(0))
    }

    /// The window of the slow-scan contacts, seconds.
    pub(crate) fn contacts_window(&self) -> f64 {
        self.cfg.slow_scan.window
    }

    /// The longest window the per-source part of these detectors ([`Long`]) looks
    /// back (seconds): slow scans, login guessing, service scans.
    pub(crate) fn longest_source_window(&self) -> f64 {
        let c = &self.cfg;
        [
            c.slow_scan.window,
            c.login_guessing.window,
            c.login_guessing.long_window,
            c.service_scan.window,
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }

    pub fn tracked(&self) -> usize {
        self.devices.len() + self.targets.len()
    }

    /// A dhcp record: a request names the client's MAC and host name, a reply (or a
    /// renewing request) the home address it has; the device's profile gets both.
    pub fn on_dhcp(&mut self, rec: &EveRecord<'_>, net: &NetworkModel) {
        if !self.cfg.baseline.enabled {
            return;
        }
        let (Some(dh), Some(t)) = (rec.dhcp.as_ref(), rec.timestamp) else {
            return;
        };
        let Some(mac) = dh.client_mac.as_deref().filter(|m| m.len() <= 64) else {
            return;
        };
        if let Some(h) = dh.hostname.as_deref() {
            let h = h.trim();
            if !h.is_empty() && h.len() <= 64 {
                let changed = match self.dhcp_names.iter_mut().find(|(m, _)| m == mac) {
                    Some((_, name)) if name == h => false,
                    Some((_, name)) => {
                        set_text_owned(name, h);
                        true
                    }
                    None => {
                        if self.dhcp_names.len() >= DHCP_NAMES {
                            self.dhcp_names.remove(0);
                        }
                        self.dhcp_names.push((mac.to_owned(), h.to_owned()));
                        true
                    }
                };
                // The request that names the host may come after the answer that gave
                // the address (two flows, whose records Suricata's threads write in
                // either order): a device already bound to this MAC takes the name now.
                // Only for a name new to this MAC (a repeated request costs no pass).
                if changed {
                    for d in self.devices.values_mut() {
                        if d.base.mac.as_deref() == Some(mac) {
                            set_text(&mut d.base.hostname, h);
                        }
                    }
                }
            }
        }
        let addr = [dh.assigned_ip, dh.client_ip]
            .into_iter()
            .flatten()
            .find(|a| !a.is_unspecified() && net.is_home(*a));
        let Some(addr) = addr else {
            return;
        };
        let t = t.micros();
        self.make_room(t);
        let d = self.devices.entry(addr).or_default();
        d.last_seen = d.last_seen.max(t);
        d.bind_mac(mac, t);
        if let Some((_, name)) = self.dhcp_names.iter().find(|(m, _)| m == mac) {
            set_text(&mut d.base.hostname, name);
        }
    }

    /// What the baseline says about a decision on home device `target` (`service`: the
    /// protocol number and port of the record that tipped it).
    pub fn explain(&self, target: IpAddr, service: Option<(u8, u16)>, t: i64) -> Option<String> {
        if !self.cfg.baseline.enabled {
            return None;
        }
        let d = self.devices.get(&target)?;
        (d.base.first_seen_us != 0).then(|| d.base.explain(&self.cfg.baseline, service, t))
    }

    /// The profiles to save: the `max-devices` most recently seen, by address.
    pub fn baselines(&self) -> BaselineFile {
        let mut v: Vec<DeviceEntry> = self
            .devices
            .iter()
            .filter(|(_, d)| d.base.first_seen_us != 0)
            .map(|(a, d)| DeviceEntry {
                addr: *a,
                profile: d.base.clone(),
            })
            .collect();
        v.sort_by_key(|e| (std::cmp::Reverse(e.profile.last_seen_us), e.addr));
        v.truncate(self.cfg.baseline.max_devices);
        v.sort_by_key(|e| e.addr);
        BaselineFile::new(v)
    }

    /// Takes saved profiles back (addresses no longer in the home networks are left
    /// out); returns how many.
    pub fn restore_baselines(&mut self, file: BaselineFile, net: &NetworkModel) -> usize {
        let mut n = 0;
        for e in file.devices {
            if n >= self.cfg.baseline.max_devices || !net.is_home(e.addr) {
                continue;
            }
            let mut p = e.profile;
            p.bound(&self.cfg.baseline);
            let d = self.devices.entry(e.addr).or_default();
            d.last_seen = d.last_seen.max(p.last_seen_us);
            d.base = p;
            n += 1;
        }
        n
    }
}

/// IANA protocol number of a record's protocol (0 when unknown).
pub(crate) fn proto_number(p: Proto) -> u8 {
    match p {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Icmp => 1,
        Proto::Icmpv6 => 58,
        Proto::Sctp => 132,
        Proto::Other => 0,
    }
}

/// Replaces `slot` with `v` only when it differs (no allocation on the common path).
fn set_text(slot: &mut Option<String>, v: &str) {
    if slot.as_deref() != Some(v) && v.len() <= 64 {
        *slot = Some(v.to_owned());
    }
}

fn set_text_owned(slot: &mut String, v: &str) {
    if slot != v {
        *slot = v.to_owned();
    }
}

/// A login-guessing proposal from failures a server reported (`(observed, threshold)`)
/// against an outside client (its address, the record's time and flow id).
fn login_failures(
    c: &LoginGuessing,
    (client, time_us, flow_id): (IpAddr, i64, Option<u64>),
    counter: &'static str,
    (observed, threshold): (u64, u64),
    detail: String,
) -> Proposal {
    let dir = Direction::Inbound;
    Proposal {
        target: client,
        direction: dir,
        time_us,
        action: c.response.action(dir),
        reason: Reason::BruteForce,
        counter,
        observed,
        threshold,
        window: c.window,
        detail: Some(detail),
        confidence: threshold_confidence(observed, threshold),
        example_flow_ids: flow_id.into_iter().collect(),
        model: None,
        limit: None,
    }
}

/// A home device's contact to `dst`: the beaconing detector. The second value says a
/// regular rhythm was found but the device's baseline knows it (suppressed).
#[allow(clippy::too_many_arguments)]
fn beacon(
    cfg: &BehaviourConfig,
    d: &mut Device,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
    proto: u8,
    t: i64,
    bytes: u64,
) -> (Option<Proposal>, bool) {
    let c = &cfg.beaconing;
    if !c.enabled {
        return (None, false);
    }
    let i = match d
        .beacons
        .iter()
        .position(|b| b.host == dst && b.port == port && b.proto == proto)
    {
        Some(i) => i,
        None => {
            // Most destinations are contacted once (CDN hosts, lookups): a candidate
            // is made on the second contact, so they cost a slot in a small ring
            // instead of a candidate each.
            let key = mix(dst, port) ^ proto as u64;
            if !d.seen.contains(&key) {
                d.seen[d.next_seen % d.seen.len()] = key;
                d.next_seen += 1;
                d.first_seen_at[(d.next_seen - 1) % SEEN] = t;
                return (None, false);
            }
            let first = d
                .seen
                .iter()
                .position(|&k| k == key)
                .map_or(t, |j| d.first_seen_at[j]);
            if d.beacons.len() >= 32 {
                let stalest = (0..d.beacons.len())
                    .min_by_key(|&i| d.beacons[i].starts.last().copied().unwrap_or(0))
                    .unwrap_or(0);
                d.beacons.swap_remove(stalest);
            }
            d.beacons.push(Beacon {
                host: dst,
                port,
                proto,
                starts: vec![first],
                n: 1,
                first,
                bytes: 0,
                decided: false,
            });
            d.beacons.len() - 1
        }
    };
    let b = &mut d.beacons[i];
    // Contacts are kept sorted by time whatever order their records come in, and a
    // gap longer than twice the longest period starts a new run: a beacon is
    // continuous, and captures days apart are not one rhythm.
    let gap = (2.0 * c.max_period * SEC) as i64;
    match (b.starts.first().copied(), b.starts.last().copied()) {
        (Some(_), Some(last)) if t > last + gap => {
            b.starts.clear();
            b.n = 0;
            b.first = t;
            b.bytes = 0;
            b.decided = false;
        }
        (Some(first), _) if t < first - gap => return (None, false), // a late record of an earlier run
        _ => {}
    }
    let at = b.starts.partition_point(|&x| x <= t);
    b.starts.insert(at, t);
    if b.starts.len() > RING {
        b.starts.remove(0);
    }
    b.n += 1;
    b.first = b.first.min(t);
    b.bytes = b.bytes.saturating_add(bytes);
    if b.decided || b.n < c.min_contacts || b.starts.len() < c.min_contacts as usize {
        return (None, false);
    }
    let ts = &b.starts;
    let k = ts.len();
    // Since the run's first contact (the ring keeps only the latest gaps).
    let span = (ts[k - 1] - b.first) as f64 / SEC;
    if span < c.min_span {
        return (None, false);
    }
    let mut gaps: Vec<f64> = ts.windows(2).map(|w| (w[1] - w[0]) as f64 / SEC).collect();
    gaps.sort_by(f64::total_cmp);
    let q = |p: f64| gaps[((gaps.len() - 1) as f64 * p).round() as usize];
    let median = q(0.5);
    if median < c.min_period || median > c.max_period {
        return (None, false);
    }
    let spread = (q(0.8) - q(0.2)) / median;
    if spread > c.max_spread {
        return (None, false);
    }
    b.decided = true;
    let (n, run_first) = (b.n, b.first);
    let avg = b.bytes / n.max(1);
    // The device's baseline: a rhythm learned while it was learning is its normal.
    let mut known = String::new();
    if cfg.baseline.enabled {
        let learned = d.base.learned(&cfg.baseline, t);
        let count = d.base.periodic.len();
        match d.base.periodic_match(dst, port, proto, median) {
            Some(k) if k.learned && learned => {
                k.last_us = k.last_us.max(t);
                return (None, true);
            }
            Some(k) => {
                k.last_us = k.last_us.max(t);
                known = if k.learned {
                    "; the baseline is still learning: taken as normal once it has".into()
                } else {
                    format!(
                        "; periodic since {} ago, first found after the device's learning period",
                        human_span(t - k.first_us.min(t))
                    )
                };
            }
            None => {
                d.base.add_periodic(KnownPeriodic {
                    host: dst,
                    port,
                    proto,
                    period_secs: (median * 10.0).round() / 10.0,
                    first_us: run_first,
                    last_us: t,
                    learned: !learned,
                });
                known = if learned {
                    format!("; not among the device's {count} known periodic contacts")
                } else {
                    "; the baseline is still learning: taken as normal once it has".into()
                };
            }
        }
    }
    // Tighter rhythm, more contacts: surer.
    let confidence = ((1.0 - spread / c.max_spread) * 0.3 + 0.6).min(0.9);
    let dir = Direction::Outbound;
    let p = Proposal {
        target: src,
        direction: dir,
        time_us: t,
        action: c.response.action(dir),
        reason: Reason::Beaconing,
        counter: "regular contacts to one remote host",
        observed: n,
        threshold: c.min_contacts,
        window: span.round(),
        detail: Some(format!(
            "{dst} port {port}: every {median:.1} s (spread {spread:.2} of the gap), \
                 {avg} bytes per contact on average{known}"
        )),
        confidence: (confidence * 100.0).round() / 100.0,
        example_flow_ids: Vec::new(),
        model: None,
        limit: None,
    };
    (Some(p), false)
}

/// A home device's upload to `dst`, filed under the window its flow ended in: the volume
/// detector, against the device's own busiest earlier window.
fn upload(
    c: &VolumeAnomaly,
    d: &mut Device,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
    t: i64,
    up: u64,
) -> Option<Proposal> {
    if !c.enabled || up == 0 {
        return None;
    }
    let w = ((c.window * SEC) as i64).max(1);
    let peak_of_history = &mut d.base.upload_peak;
    let v = &mut d.volume;
    let window = t.div_euclid(w);
    let cur = v.slots[1].window;
    if window > cur {
        // Roll forward: the older slot's total joins the history.
        *peak_of_history = (*peak_of_history).max(v.slots[0].bytes);
        if window == cur + 1 {
            v.slots[0] = v.slots[1];
        } else {
            *peak_of_history = (*peak_of_history).max(v.slots[1].bytes);
            v.slots[0] = VolumeSlot {
                window: window - 1,
                ..VolumeSlot::default()
            };
        }
        v.slots[1] = VolumeSlot {
            window,
            ..VolumeSlot::default()
        };
    }
    let k = if window == v.slots[1].window {
        1
    } else if window == v.slots[0].window {
        0
    } else {
        return None; // older than both windows kept
    };
    // History: the windows before this one.
    let peak = if k == 1 {
        (*peak_of_history).max(v.slots[0].bytes)
    } else {
        *peak_of_history
    };
    let slot = &mut v.slots[k];
    slot.bytes = slot.bytes.saturating_add(up);
    if slot.top.is_none_or(|(_, _, b)| up > b) {
        slot.top = Some((dst, port, up));
    }
    let needed = c.min_bytes.max((peak as f64 * c.ratio) as u64);
    if slot.decided || slot.bytes < needed {
        return None;
    }
    slot.decided = true;
    let observed = slot.bytes;
    let top = slot.top;
    let (host, hport, hb) = top.unwrap_or((dst, port, up));
    let dir = Direction::Outbound;
    Some(Proposal {
            target: src,
            direction: dir,
            time_us: t,
            action: c.response.action(dir),
            reason: Reason::VolumeAnomaly,
            counter: "bytes sent to the outside",
            observed,
            threshold: needed,
            window: c.window,
            detail: Some(format!(
                "largest upload {hb} bytes to {host} port {hport}; the device's busiest earlier window sent {} bytes",
                peak
            )),
            confidence: threshold_confidence(observed, needed).min(0.85),
            example_flow_ids: Vec::new(),
            model: None,
            limit: None,
        })
}

fn slot(window: f64) -> i64 {
    ((window * SEC) as i64 / crate::window::SLOTS as i64).max(1)
}

/// Records a contact for the slow-scan detector; `Some((failed, total))` when it trips.
/// Every time is a [`Contact`]'s: milliseconds, compared as ages from the source's
/// clock (`s.last_seen`, which [`Long::seen`] moved to `t` or beyond).
fn contact(s: &mut Long, key: u32, t: i64, failed: bool, c: &SlowScan) -> Option<(u64, u64)> {
    let now_us = t.max(s.last_seen);
    let now = wrapping_ms(now_us);
    // At most a day (validated): below 2³¹.
    let window = (c.window * 1000.0) as u32;
    // A flow record carries its flow's start, which can be weeks back: older than the
    // window it never counts, and is kept a second before the window so that its age
    // stays small.
    let at = wrapping_ms(t.max(now_us - (c.window * SEC) as i64 - SEC as i64));
    let age = |ms: u32| now.wrapping_sub(ms);
    let key = key & !1;
    if let Some(e) = s.contacts.iter_mut().find(|e| e.key & !1 == key) {
        if age(at) < age(e.ms) {
            e.ms = at;
        }
        // Answered once is answered.
        if !failed {
            e.key = key;
        }
        return None;
    }
    if s.contacts.len() >= c.max_contacts {
        s.contacts.retain(|e| age(e.ms) <= window);
        if s.contacts.len() >= c.max_contacts {
            // The oldest; the first of equals, as the list's order is.
            let oldest =
                (0..s.contacts.len()).min_by_key(|&i| std::cmp::Reverse(age(s.contacts[i].ms)))?;
            s.contacts.swap_remove(oldest);
        }
    }
    crate::window::grow_gently(&mut s.contacts, c.max_contacts);
    s.contacts.push(Contact {
        key: key | failed as u32,
        ms: at,
    });
    if !failed {
        return None;
    }
    let (mut bad, mut total, mut first) = (0u64, 0u64, age(at));
    for e in &s.contacts {
        let a = age(e.ms);
        if a <= window {
            total += 1;
            if e.key & 1 == 1 {
                bad += 1;
                first = first.max(a);
            }
        }
    }
    // From the oldest failed contact to this one.
    let span = f64::from(first - age(at)) / 1000.0;
    (bad >= c.threshold && bad as f64 >= c.min_failed_share * total as f64 && span >= c.min_span)
        .then_some((bad, total))
}

/// Records a session for the login-guessing detector; `Some((sessions, (detail, long)))`.
#[allow(clippy::too_many_arguments)]
fn login(
    s: &mut Long,
    host: IpAddr,
    port: u16,
    app: &str,
    t: i64,
    c: &LoginGuessing,
    net: &NetworkModel,
    dir: Direction,
) -> Option<(u64, (String, bool))> {
    let proto = c.protocols.iter().position(|p| p == app);
    if proto.is_none() && (!app.is_empty() && app != "failed" || !c.ports.contains(&port)) {
        return None;
    }
    let proto = proto.map_or(u8::MAX, |p| p as u8);
    let s = s.logins();
    let i =
        match s.services.iter().position(|x| {
            x.host == host && x.proto == proto && (proto != u8::MAX || x.port == port)
        }) {
            Some(i) => i,
            None => {
                if s.services.len() >= 8 {
                    let stalest = (0..s.services.len())
                        .min_by_key(|&i| s.services[i].long.total())
                        .unwrap_or(0);
                    s.services.swap_remove(stalest);
                }
                s.services.push(Service {
                    host,
                    proto,
                    port,
                    last: t,
                    short: WindowCount::default(),
                    long: WindowCount::default(),
                });
                s.services.len() - 1
            }
        };
    let sv = &mut s.services[i];
    sv.last = sv.last.max(t);
    let short = sv.short.add(t, slot(c.window)) as u64;
    let long = sv.long.add(t, slot(c.long_window)) as u64;
    // Spelled out only for a proposal: this runs for every login session.
    let name = || {
        if proto == u8::MAX {
            format!("port {port}")
        } else {
            c.protocols[proto as usize].clone()
        }
    };
    let home = dir != Direction::Inbound;
    if home {
        // A home device: the same service on several hosts (a device reconnecting to its
        // own broker is not guessing passwords).
        let recent = (c.window * SEC) as i64;
        let live =
            |x: &&Service| x.proto == proto && (t - x.last).abs() <= recent && !net.is_home(x.host);
        // Distinct hosts (a port-only service has one entry per port).
        let hosts = s
            .services
            .iter()
            .filter(live)
            .enumerate()
            .filter(|&(k, x)| {
                !s.services
                    .iter()
                    .filter(live)
                    .take(k)
                    .any(|y| y.host == x.host)
            })
            .count();
        let total: u64 = s
            .services
            .iter()
            .filter(live)
            .map(|x| x.short.total() as u64)
            .sum();
        if (hosts as u64) < c.home_min_hosts || total < c.threshold {
            return None;
        }
        return Some((
            total,
            (format!("{} on {hosts} hosts, latest {host}", name()), false),
        ));
    }
    if short >= c.threshold {
        return Some((short, (format!("{} on {host} port {port}", name()), false)));
    }
    if long >= c.long_threshold {
        return Some((
            long,
            (format!("{} on {host} port {port}, slowly", name()), true),
        ));
    }
    None
}

/// Records a session for the service-scan detector.
fn probe(
    s: &mut Long,
    host: IpAddr,
    port: u16,
    app: &str,
    t: i64,
    c: &ServiceScan,
) -> Option<(u64, String)> {
    let proto = fnv(app) as u32 | 1;
    let key = mix32(host, port);
    let odd_total = |odd: &Option<Box<Vec<Odd>>>, key: u32| {
        odd.iter()
            .flat_map(|v| v.iter())
            .find(|o| o.key == key)
            .map_or(0, |o| o.sessions.total())
    };
    let i = match s.probed.iter().position(|x| x.key == key) {
        Some(i) => i,
        None => {
            let new = Probed {
                key,
                first_proto: if app.is_empty() || app == "failed" {
                    0
                } else {
                    proto
                },
            };
            if s.probed.len() >= 4 {
                let last = s.probed.len() - 1;
                let stalest = (0..s.probed.len())
                    .min_by_key(|&i| odd_total(&s.odd, s.probed[i].key))
                    .unwrap_or(0);
                let gone = s.probed[stalest].key;
                if let Some(odd) = s.odd.as_mut() {
                    if let Some(o) = odd.iter().position(|o| o.key == gone) {
                        odd.swap_remove(o);
                    }
                }
                // A vector's swap_remove and push: the last takes the stalest's place,
                // the new one goes last.
                s.probed.swap(stalest, last);
                s.probed[last] = new;
                last
            } else {
                // One at a time: most sources probe one port.
                let mut v = std::mem::take(&mut s.probed).into_vec();
                v.reserve_exact(1);
                v.push(new);
                s.probed = v.into_boxed_slice();
                s.probed.len() - 1
            }
        }
    };
    let p = &mut s.probed[i];
    if p.first_proto == 0 && !(app.is_empty() || app == "failed") {
        p.first_proto = proto;
    }
    let odd = app.is_empty() || app == "failed" || proto != p.first_proto;
    if !odd {
        return None;
    }
    let first_proto = p.first_proto;
    let odd = s.odd.get_or_insert_with(Default::default);
    let o = match odd.iter().position(|o| o.key == key) {
        Some(o) => o,
        None => {
            odd.reserve_exact(1);
            odd.push(Odd {
                key,
                sessions: WindowCount::default(),
            });
            odd.len() - 1
        }
    };
    let n = odd[o].sessions.add(t, slot(c.window)) as u64;
    // A client that never speaks a protocol Suricata knows is not probing; a scanner's
    // probes disagree with the service the port really runs.
    (n >= c.threshold && first_proto != 0).then(|| {
        (
            n,
            format!(
                "{host} port {port}: {n} sessions with no or a changing protocol{}",
                if app.is_empty() {
                    String::new()
                } else {
                    format!(", latest {app}")
                }
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;
    use crate::DetectConfig;
    use suriguard_decision::{rfc3339, Decision, DecisionConfig};
    use suriguard_eve::EveTime;

    const T0: i64 = 1_700_000_000_000_000;
    const S: i64 = 1_000_000;

    struct F<'a> {
        src: &'a str,
        dst: String,
        dport: u16,
        proto: &'a str,
        app: Option<&'a str>,
        t: i64,
        to_server: u64,
        to_client: u64,
        ts: &'a str,
        tc: &'a str,
    }

    fn f<'a>(src: &'a str, dst: impl ToString, dport: u16, t: i64) -> F<'a> {
        F {
            src,
            dst: dst.to_string(),
            dport,
            proto: "TCP",
            app: None,
            t,
            to_server: 5,
            to_client: 4,
            ts: "1b",
            tc: "1b",
        }
    }

    impl F<'_> {
        fn syn_probe(mut self) -> Self {
            (self.to_server, self.to_client, self.ts, self.tc) = (1, 0, "02", "00");
            self
        }
        fn app<'b>(self, app: &'b str) -> F<'b>
        where
            Self: 'b,
        {
            F {
                app: Some(app),
                ..self
            }
        }
        fn json(&self) -> String {
            let t = rfc3339(EveTime(self.t)).replace('Z', "+0000");
            let app = self
                .app
                .map(|a| format!(r#""app_proto":"{a}","#))
                .unwrap_or_default();
            let tcp = if self.proto == "TCP" {
                let both = u8::from_str_radix(self.ts, 16).unwrap()
                    | u8::from_str_radix(self.tc, 16).unwrap();
                format!(
                    r#","tcp":{{"tcp_flags":"{both:02x}","tcp_flags_ts":"{}","tcp_flags_tc":"{}"}}"#,
                    self.ts, self.tc
                )
            } else {
                String::new()
            };
            format!(
                r#"{{"timestamp":"{t}","flow_id":{},"event_type":"flow","src_ip":"{}","src_port":40000,"dest_ip":"{}","dest_port":{},"proto":"{}",{app}"flow":{{"pkts_toserver":{},"pkts_toclient":{},"bytes_toserver":300,"bytes_toclient":200,"start":"{t}","end":"{t}","age":1,"state":"closed"}}{tcp}}}"#,
                self.t / 1000,
                self.src,
                self.dst,
                self.dport,
                self.proto,
                self.to_server,
                self.to_client
            )
        }
    }

    fn dns_query(src: &str, name: &str, rrtype: &str, t: i64) -> String {
        let ts = rfc3339(EveTime(t)).replace('Z', "+0000");
        format!(
            r#"{{"timestamp":"{ts}","flow_id":{},"event_type":"dns","src_ip":"{src}","src_port":5000,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","dns":{{"type":"query","id":1,"rrname":"{name}","rrtype":"{rrtype}","tx_id":0}}}}"#,
            t / 1000
        )
    }

    /// The same question as Suricata 8.0 writes it (EVE dns version 3).
    fn dns_request_v3(src: &str, name: &str, rrtype: &str, t: i64) -> String {
        let ts = rfc3339(EveTime(t)).replace('Z', "+0000");
        format!(
            r#"{{"timestamp":"{ts}","flow_id":{},"event_type":"dns","src_ip":"{src}","src_port":5000,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","ip_v":4,"pkt_src":"wire/pcap","dns":{{"version":3,"type":"request","tx_id":0,"id":1,"flags":"100","rd":true,"opcode":0,"rcode":"NOERROR","queries":[{{"rrname":"{name}","rrtype":"{rrtype}"}}]}}}}"#,
            t / 1000
        )
    }

    fn http(src: &str, status: u16, t: i64) -> String {
        let ts = rfc3339(EveTime(t)).replace('Z', "+0000");
        format!(
            r#"{{"timestamp":"{ts}","flow_id":{},"event_type":"http","src_ip":"{src}","src_port":5000,"dest_ip":"192.168.1.10","dest_port":80,"proto":"TCP","http":{{"hostname":"cam.home","url":"/","http_method":"GET","status":{status}}}}}"#,
            t / 1000
        )
    }

    fn run(recs: impl IntoIterator<Item = String>) -> Vec<Decision> {
        let mut p = Pipeline::with_parts(
            DetectConfig::default(),
            NetworkModel::default(),
            DecisionConfig::default(),
        );
        for r in recs {
            p.handle(r.as_bytes()).unwrap();
        }
        p.drain_decisions().collect()
    }

    fn brief(ds: &[Decision]) -> Vec<(String, Action, Reason)> {
        ds.iter()
            .map(|d| (d.target.to_string(), d.action, d.reason))
            .collect()
    }

    fn outside(i: u32) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::from(0xCB00_7100u32 + (i % 250) + ((i / 250) << 8)) // 203.0.113.x+
    }

    fn pipeline_learning_one_day() -> Pipeline {
        let mut cfg = DetectConfig::default();
        cfg.baseline.learning = 86_400.0;
        Pipeline::with_parts(cfg, NetworkModel::default(), DecisionConfig::default())
    }

    fn feed(p: &mut Pipeline, recs: impl IntoIterator<Item = String>) -> Vec<Decision> {
        for r in recs {
            p.handle(r.as_bytes()).unwrap();
        }
        p.drain_decisions().collect()
    }

    /// A device contacting `dst` every 3 s (small jitter) for two minutes.
    fn rhythm(src: &'static str, dst: &'static str, start: i64) -> impl Iterator<Item = String> {
        (0..40i64)
            .map(move |i| f(src, dst, 443, start + i * 3 * S + (i * 7919 % 300) * 1_000).json())
    }

    const DAY: i64 = 86_400 * S;

    #[test]
    fn a_rhythm_learned_while_learning_is_suppressed_afterwards_even_after_a_restart() {
        let mut p = pipeline_learning_one_day();
        // Day 0: a hub polls its cloud every 3 s; alerted, the baseline still learning.
        let ds = feed(&mut p, rhythm("192.168.1.40", "198.51.100.66", T0));
        assert_eq!(
            brief(&ds),
            [("192.168.1.40".into(), Action::AlertOnly, Reason::Beaconing)]
        );
        assert!(
            ds[0].summary.contains("taken as normal once it has"),
            "{}",
            ds[0].summary
        );

        // A restart: the baselines go through their file format into a new pipeline.
        let file = p.baselines().unwrap();
        let text = serde_json::to_string(&file).unwrap();
        let mut q = pipeline_learning_one_day();
        assert_eq!(q.restore_baselines(serde_json::from_str(&text).unwrap()), 1);

        // Day 2: the same rhythm to a neighbouring address of the same service is normal.
        let ds = feed(
            &mut q,
            rhythm("192.168.1.40", "198.51.100.67", T0 + 2 * DAY),
        );
        assert!(ds.is_empty(), "{ds:?}");
        assert_eq!(q.engine_stats().unwrap().beacons_suppressed, 1);
        // A new rhythm elsewhere is alerted as new.
        let ds = feed(
            &mut q,
            rhythm("192.168.1.40", "203.0.113.9", T0 + 2 * DAY + 3600 * S),
        );
        assert_eq!(
            brief(&ds),
            [("192.168.1.40".into(), Action::AlertOnly, Reason::Beaconing)]
        );
        assert!(
            ds[0]
                .summary
                .contains("not among the device's 1 known periodic contacts")
                && ds[0].summary.contains("baseline of 2 days"),
            "{}",
            ds[0].summary
        );
        // Without the saved baselines, day 2's rhythm is alerted again.
        let mut fresh = pipeline_learning_one_day();
        let ds = feed(
            &mut fresh,
            rhythm("192.168.1.40", "198.51.100.67", T0 + 2 * DAY),
        );
        assert_eq!(ds.len(), 1);
    }

    #[test]
    fn a_dhcp_name_reaches_the_device_whichever_record_comes_first() {
        let ts = |t: i64| rfc3339(EveTime(t)).replace('Z', "+0000");
        let request = format!(
            r#"{{"timestamp":"{}","event_type":"dhcp","src_ip":"0.0.0.0","dest_ip":"255.255.255.255","proto":"UDP","dhcp":{{"type":"request","client_mac":"aa:bb:cc:00:00:51","assigned_ip":"0.0.0.0","client_ip":"0.0.0.0","hostname":"plug-hall"}}}}"#,
            ts(T0)
        );
        let reply = format!(
            r#"{{"timestamp":"{}","event_type":"dhcp","src_ip":"192.168.1.1","dest_ip":"192.168.1.51","proto":"UDP","dhcp":{{"type":"reply","client_mac":"aa:bb:cc:00:00:51","assigned_ip":"192.168.1.51","client_ip":"0.0.0.0"}}}}"#,
            ts(T0 + 1000)
        );
        for order in [[&request, &reply], [&reply, &request]] {
            let mut p = pipeline_learning_one_day();
            feed(&mut p, order.iter().map(|r| r.to_string()));
            let file = p.engine().unwrap().baselines();
            let dev = file
                .devices
                .iter()
                .find(|d| d.addr.to_string() == "192.168.1.51")
                .expect("the device");
            assert_eq!(
                dev.profile.hostname.as_deref(),
                Some("plug-hall"),
                "{order:?}"
            );
        }
    }

    #[test]
    fn a_decision_names_the_device_and_compares_with_its_baseline() {
        let mut p = pipeline_learning_one_day();
        let ts = |t: i64| rfc3339(EveTime(t)).replace('Z', "+0000");
        let dhcp = [
            format!(
                r#"{{"timestamp":"{}","event_type":"dhcp","src_ip":"0.0.0.0","dest_ip":"255.255.255.255","proto":"UDP","dhcp":{{"type":"request","client_mac":"aa:bb:cc:00:00:50","assigned_ip":"0.0.0.0","client_ip":"0.0.0.0","hostname":"cam-kitchen"}}}}"#,
                ts(T0)
            ),
            format!(
                r#"{{"timestamp":"{}","event_type":"dhcp","src_ip":"192.168.1.1","dest_ip":"192.168.1.50","proto":"UDP","dhcp":{{"type":"reply","client_mac":"aa:bb:cc:00:00:50","assigned_ip":"192.168.1.50","client_ip":"0.0.0.0"}}}}"#,
                ts(T0 + 1000)
            ),
        ];
        // Day 0: the camera talks to its cloud on 443 only.
        let usual = (0..20).map(|i| {
            f("192.168.1.50", outside(i), 443, T0 + i as i64 * 600 * S)
                .json()
                .replace(
                    r#""flow":{"#,
                    r#""ether":{"src_macs":["aa:bb:cc:00:00:50"],"dest_macs":["00:11:22:33:44:55"]},"flow":{"#,
                )
        });
        assert!(feed(&mut p, dhcp.into_iter().chain(usual)).is_empty());
        // Day 14: it starts knocking on telnet, slowly.
        let scan = (0..60).map(|i| {
            f(
                "192.168.1.50",
                outside(100 + i),
                23,
                T0 + 14 * DAY + i as i64 * 6 * S,
            )
            .syn_probe()
            .json()
        });
        let ds = feed(&mut p, scan);
        assert_eq!(
            brief(&ds),
            [("192.168.1.50".into(), Action::Quarantine, Reason::SlowScan)]
        );
        let s = &ds[0].summary;
        for part in [
            r#"device aa:bb:cc:00:00:50 "cam-kitchen""#,
            "baseline of 14 days",
            "first connection to port 23/tcp in 14 days of history",
        ] {
            assert!(s.contains(part), "{part:?} missing from {s}");
        }
        // The file keeps the identity and the services, and nothing for outside hosts.
        let file = p.baselines().unwrap();
        assert_eq!(file.devices.len(), 1);
        let prof = &file.devices[0].profile;
        assert_eq!(prof.hostname.as_deref(), Some("cam-kitchen"));
        assert_eq!(prof.mac.as_deref(), Some("aa:bb:cc:00:00:50"));
        assert_eq!(
            prof.services
                .iter()
                .map(|s| (s.proto, s.port))
                .collect::<Vec<_>>(),
            [(6, 443)],
            "failed telnet probes are not a service the device uses"
        );
    }

    #[test]
    fn an_address_given_to_another_device_starts_a_new_baseline() {
        let mut p = pipeline_learning_one_day();
        let dhcp = |mac: &str, t: i64| {
            format!(
                r#"{{"timestamp":"{}","event_type":"dhcp","src_ip":"192.168.1.1","dest_ip":"192.168.1.50","proto":"UDP","dhcp":{{"type":"reply","client_mac":"{mac}","assigned_ip":"192.168.1.50"}}}}"#,
                rfc3339(EveTime(t)).replace('Z', "+0000")
            )
        };
        let nas = std::iter::once(dhcp("aa:aa:aa:00:00:01", T0))
            .chain((0..5).map(|i| f("192.168.1.50", outside(i), 443, T0 + i as i64 * S).json()));
        feed(&mut p, nas);
        let old = p.baselines().unwrap();
        assert_eq!(old.devices[0].profile.services.len(), 1);
        // Two days later the address goes to a new camera.
        feed(&mut p, [dhcp("bb:bb:bb:00:00:02", T0 + 2 * DAY)]);
        let new = p.baselines().unwrap();
        let prof = &new.devices[0].profile;
        assert_eq!(prof.mac.as_deref(), Some("bb:bb:bb:00:00:02"));
        assert!(prof.services.is_empty(), "{prof:?}");
        assert_eq!(prof.first_seen_us, T0 + 2 * DAY, "it learns afresh");
    }

    #[test]
    fn baselines_are_bounded_in_devices() {
        let mut cfg = DetectConfig::default();
        cfg.baseline.max_devices = 5;
        let mut p = Pipeline::with_parts(cfg, NetworkModel::default(), DecisionConfig::default());
        let recs = (0..20).map(|i| {
            let src: &'static str = Box::leak(format!("192.168.1.{}", 100 + i).into_boxed_str());
            f(src, outside(i), 443, T0 + i as i64 * S).json()
        });
        feed(&mut p, recs);
        let file = p.baselines().unwrap();
        let addrs: Vec<String> = file.devices.iter().map(|e| e.addr.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "192.168.1.115",
                "192.168.1.116",
                "192.168.1.117",
                "192.168.1.118",
                "192.168.1.119"
            ],
            "the most recently seen are kept"
        );
        let mut q = Pipeline::with_parts(
            DetectConfig::default(),
            NetworkModel::default(),
            DecisionConfig::default(),
        );
        let mut outside_home = file.clone();
        outside_home.devices[0].addr = "8.8.8.8".parse().unwrap();
        assert_eq!(
            q.restore_baselines(outside_home),
            4,
            "addresses outside the home networks are left out"
        );
    }

    #[test]
    fn slow_scan_of_a_home_device_is_quarantined_with_its_evidence() {
        // One SYN every 6 s to telnet on distinct outside hosts: never 16 in 10 s.
        let ds = run((0..60).map(|i| {
            f("192.168.1.20", outside(i), 23, T0 + i as i64 * 6 * S)
                .syn_probe()
                .json()
        }));
        assert_eq!(
            brief(&ds),
            [("192.168.1.20".into(), Action::Quarantine, Reason::SlowScan)]
        );
        let d = &ds[0];
        assert_eq!((d.evidence.observed, d.evidence.threshold), (40, 40));
        assert!(
            d.summary.contains("40 of 40 distinct contacts failed"),
            "{}",
            d.summary
        );
    }

    #[test]
    fn answered_browsing_and_retrying_clients_are_not_scans() {
        // A browser: 120 distinct CDN hosts, every one answered.
        let browse =
            (0..120).map(|i| f("192.168.1.21", outside(i), 443, T0 + i as i64 * S / 2).json());
        // A device without internet: its stack retries SYNs (5 each) to 60 cloud hosts.
        let retry = (0..60).map(|i| {
            let mut r = f("192.168.1.22", outside(i), 8443, T0 + i as i64 * 10 * S).syn_probe();
            r.to_server = 5;
            r.json()
        });
        let ds = run(browse.chain(retry));
        assert!(
            ds.is_empty(),
            "{:?}",
            ds.iter().map(|d| &d.summary).collect::<Vec<_>>()
        );
    }

    #[test]
    fn login_guessing_counts_sessions_by_protocol_on_any_port() {
        // hydra against sshd on port 2200: 12 short ssh sessions within a minute.
        let ds = run((0..12).map(|i| {
            f("203.0.113.50", "192.168.1.10", 2200, T0 + i * 4 * S)
                .app("ssh")
                .json()
        }));
        assert_eq!(
            brief(&ds),
            [("203.0.113.50".into(), Action::Block, Reason::BruteForce)]
        );
        assert!(
            ds[0].summary.contains("ssh on 192.168.1.10 port 2200"),
            "{}",
            ds[0].summary
        );
        // Slowly: 40 sessions, one every 30 s.
        let ds = run((0..40).map(|i| {
            f("203.0.113.51", "192.168.1.10", 21, T0 + i * 30 * S)
                .app("ftp")
                .json()
        }));
        assert_eq!(brief(&ds).len(), 1);
        assert!(ds[0].summary.contains("slowly"), "{}", ds[0].summary);
    }

    #[test]
    fn a_device_reconnecting_to_its_broker_is_not_guessing_but_one_spraying_hosts_is() {
        let loop_ = (0..200).map(|i| {
            f("192.168.1.30", "198.51.100.7", 1883, T0 + i * 3 * S)
                .app("mqtt")
                .json()
        });
        // Its rhythm may be reported as beaconing (alert-only); it is never blocked.
        let ds = run(loop_);
        assert!(
            ds.iter()
                .all(|d| d.action == Action::AlertOnly && d.reason == Reason::Beaconing),
            "{:?}",
            brief(&ds)
        );
        let spray = (0..30u32).map(|i| {
            f("192.168.1.31", outside(i % 5), 23, T0 + i as i64 * S)
                .app("telnet")
                .json()
        });
        let ds = run(spray);
        assert_eq!(
            brief(&ds),
            [(
                "192.168.1.31".into(),
                Action::Quarantine,
                Reason::BruteForce
            )]
        );
    }

    #[test]
    fn logins_the_server_refused_are_guessing_from_outside_only() {
        let ts = |t: i64| rfc3339(EveTime(t)).replace('Z', "+0000");
        let ftp = |src: &str, dst: &str, cmd: &str, code: &str, pw: i64, t: i64| {
            format!(
                r#"{{"timestamp":"{}","flow_id":9,"event_type":"ftp","src_ip":"{src}","src_port":40000,"dest_ip":"{dst}","dest_port":21,"proto":"TCP","ftp":{{"command":"{cmd}","command_data":"pw{pw}","completion_code":["{code}"]}}}}"#,
                ts(t)
            )
        };
        let mqtt = |src: &str, dst: &str, code: u8, pw: i64, t: i64| {
            format!(
                r#"{{"timestamp":"{}","flow_id":9,"event_type":"mqtt","src_ip":"{src}","src_port":40000,"dest_ip":"{dst}","dest_port":1883,"proto":"TCP","mqtt":{{"connect":{{"username":"u","password":"pw{pw}"}},"connack":{{"return_code":{code}}}}}}}"#,
                ts(t)
            )
        };
        // Six passwords refused in a minute: blocked, on the server's word.
        let ds = run((0..6).map(|i| {
            ftp(
                "198.51.100.40",
                "192.168.1.25",
                "PASS",
                "530",
                i,
                T0 + i * S,
            )
        }));
        assert_eq!(
            brief(&ds),
            [("198.51.100.40".into(), Action::Block, Reason::BruteForce)]
        );
        assert!(
            ds[0].summary.contains("530 login incorrect"),
            "{}",
            ds[0].summary
        );
        let ds = run((0..6).map(|i| mqtt("198.51.100.41", "192.168.1.26", 5, i, T0 + i * S)));
        assert_eq!(
            brief(&ds),
            [("198.51.100.41".into(), Action::Block, Reason::BruteForce)]
        );
        // Accepted logins; a client retrying one stale password; 530 answers to AUTH TLS
        // (a server without TLS); a home device refused by a broker (misconfigured):
        // nothing.
        let ok = (0..10).map(|i| {
            ftp(
                "198.51.100.42",
                "192.168.1.25",
                "PASS",
                "230",
                i,
                T0 + i * S,
            )
        });
        let accepted = (0..10).map(|i| mqtt("198.51.100.43", "192.168.1.26", 0, i, T0 + i * S));
        let stale = (0..30).map(|i| mqtt("198.51.100.44", "192.168.1.26", 5, 7, T0 + i * 2 * S));
        let tls = (0..30).map(|i| {
            ftp(
                "198.51.100.45",
                "192.168.1.25",
                "AUTH",
                "530",
                i,
                T0 + i * S,
            )
        });
        let home = (0..10).map(|i| mqtt("192.168.1.60", "203.0.113.5", 4, i, T0 + i * S));
        let quiet = ok.chain(accepted).chain(stale).chain(tls).chain(home);
        assert!(run(quiet).is_empty());
    }

    #[test]
    fn a_mail_client_polling_is_at_most_an_alert() {
        // A phone polling its IMAP mailbox every minute from outside, and a mail server
        // delivering in bursts: many short sessions, no authentication result in EVE.
        let imap = (0..40).map(|i| {
            f("198.51.100.30", "192.168.1.25", 143, T0 + i * 60 * S)
                .app("imap")
                .json()
        });
        let smtp = (0..8).map(|i| f("198.51.100.31", "192.168.1.25", 25, T0 + i * 5 * S).json());
        let ds = run(imap.chain(smtp));
        assert!(!ds.is_empty(), "still reported");
        assert!(
            ds.iter()
                .all(|d| d.action == Action::AlertOnly && d.reason == Reason::BruteForce),
            "{:?}",
            brief(&ds)
        );
        // ssh in the same shape is blocked.
        let ssh = (0..8).map(|i| {
            f("198.51.100.32", "192.168.1.25", 22, T0 + i * 5 * S)
                .app("ssh")
                .json()
        });
        assert_eq!(
            brief(&run(ssh)),
            [("198.51.100.32".into(), Action::Block, Reason::BruteForce)]
        );
    }

    #[test]
    fn http_authentication_failures_are_login_guessing() {
        let ds = run((0..12).map(|i| http("198.51.100.9", 401, T0 + i * S)));
        assert_eq!(
            brief(&ds),
            [("198.51.100.9".into(), Action::Block, Reason::BruteForce)]
        );
        assert!(run((0..50).map(|i| http("198.51.100.9", 200, T0 + i * S))).is_empty());
    }

    #[test]
    fn regular_contacts_are_beaconing_with_jitter_tolerated_irregular_ones_not() {
        // Every 2-4 s (deterministic pseudo-jitter) for two minutes: one alert.
        let mut t = T0;
        let mut recs = Vec::new();
        for i in 0..40u64 {
            recs.push(f("192.168.1.40", "198.51.100.66", 443, t).json());
            t += 2 * S + ((i * 7919) % 2_000) as i64 * 1_000;
        }
        let ds = run(recs);
        assert_eq!(
            brief(&ds),
            [("192.168.1.40".into(), Action::AlertOnly, Reason::Beaconing)]
        );
        assert!(
            ds[0].summary.contains("198.51.100.66 port 443"),
            "{}",
            ds[0].summary
        );
        // Bursty use of one server (a person browsing): gaps of 1 s to 60 s.
        let mut t = T0;
        let mut recs = Vec::new();
        for i in 0..40u64 {
            recs.push(f("192.168.1.41", "198.51.100.66", 443, t).json());
            t += [1, 60, 2, 30, 5, 1, 45, 10][i as usize % 8] * S;
        }
        assert!(run(recs).is_empty());
    }

    /// Flow records Suricata writes as it stops come out in its flow table's hash order.
    /// A beacon's contacts taken in an order other than time can look regular when, in
    /// time, they are not (a home resolver forwarding its clients' lookups was alerted
    /// so in one CI run and not in its replay): the pipeline holds those records and
    /// takes them in time order, so any order decides as time order does.
    #[test]
    fn flows_logged_at_shutdown_decide_the_same_in_any_order() {
        // 20 contacts every 10 s to one server and 20 more at uneven moments between
        // them: in time order the gaps are uneven (no beacon); the 20 alone are regular.
        let regular: Vec<i64> = (0..20).map(|i| T0 + i * 10 * S).collect();
        let extra: Vec<i64> = (0..20)
            .map(|i| T0 + i * 10 * S + (1 + i * 37 % 8) * S)
            .collect();
        let flow = |t: i64, reason: &str| {
            let mut x = f("192.168.1.53", "198.51.100.53", 53, t);
            x.proto = "UDP";
            x.json().replace(
                r#""state":"closed""#,
                &format!(r#""state":"established","reason":"{reason}""#),
            )
        };
        let finished = |recs: Vec<String>| {
            let mut p = Pipeline::with_parts(
                DetectConfig::default(),
                NetworkModel::default(),
                DecisionConfig::default(),
            );
            for r in &recs {
                p.handle(r.as_bytes()).unwrap();
            }
            p.finish();
            let held = p.stats().shutdown_flows_sorted;
            (brief(&p.drain_decisions().collect::<Vec<_>>()), held)
        };
        let mut in_time: Vec<i64> = regular.iter().chain(&extra).copied().collect();
        in_time.sort_unstable();
        let adversarial: Vec<i64> = regular.iter().chain(&extra).copied().collect();
        let by = |ts: &[i64], reason: &str| ts.iter().map(|&t| flow(t, reason)).collect();

        // The detector itself depends on order: timed-out flows in this order (possible
        // only with flows far more out of order than Suricata writes timeouts) beacon.
        assert_eq!(finished(by(&in_time, "timeout")), (vec![], 0));
        assert_eq!(
            finished(by(&adversarial, "timeout")).0,
            [("192.168.1.53".into(), Action::AlertOnly, Reason::Beaconing)]
        );
        // Logged at shutdown: held and taken in time order, whatever order they came in.
        assert_eq!(finished(by(&in_time, "shutdown")), (vec![], 40));
        assert_eq!(finished(by(&adversarial, "shutdown")), (vec![], 40));
        let mut rnd = crate::window::tests::lcg(7);
        for _ in 0..20 {
            let mut ts = in_time.clone();
            for i in (1..ts.len()).rev() {
                ts.swap(i, rnd(i as u64 + 1) as usize);
            }
            assert_eq!(finished(by(&ts, "shutdown")), (vec![], 40), "{ts:?}");
        }
        // And a real beacon logged at shutdown is still found, once, at the end of input.
        let beacon = finished(by(
            &regular.iter().rev().copied().collect::<Vec<_>>(),
            "shutdown",
        ));
        assert_eq!(
            beacon,
            (
                vec![("192.168.1.53".into(), Action::AlertOnly, Reason::Beaconing)],
                20
            )
        );
    }

    #[test]
    fn dns_tunnels_are_named_by_domain_normal_lookups_are_not() {
        let tunnel = (0..40).map(|i| {
            dns_query(
                "192.168.1.50",
                &format!("{:032x}.t.example.net", (i as u128) * 0x9e37_79b9_7f4a_7c15),
                "NULL",
                T0 + i * S,
            )
        });
        let ds = run(tunnel);
        assert_eq!(
            brief(&ds),
            [("192.168.1.50".into(), Action::AlertOnly, Reason::DnsTunnel)]
        );
        assert!(
            ds[0].summary.contains("domain example.net"),
            "{}",
            ds[0].summary
        );
        // A phone resolving 60 short names under one CDN domain.
        let cdn = (0..60).map(|i| {
            dns_query(
                "192.168.1.51",
                &format!("img{i}.cdn.example.org"),
                "A",
                T0 + i * S,
            )
        });
        assert!(run(cdn).is_empty());
    }

    #[test]
    fn dns_tunnels_are_found_in_suricata_8s_dns_v3_records_too() {
        let tunnel = |q: fn(&str, &str, &str, i64) -> String| {
            run((0..40).map(move |i| {
                q(
                    "192.168.1.50",
                    &format!("{:032x}.t.example.net", (i as u128) * 0x9e37_79b9_7f4a_7c15),
                    "NULL",
                    T0 + i * S,
                )
            }))
        };
        let (v2, v3) = (tunnel(dns_query), tunnel(dns_request_v3));
        assert_eq!(
            brief(&v3),
            [("192.168.1.50".into(), Action::AlertOnly, Reason::DnsTunnel)]
        );
        assert_eq!(brief(&v2), brief(&v3));
        assert_eq!(v2[0].summary, v3[0].summary);
        // Answers (v3 "response") are not questions.
        let answers = run((0..40).map(|i| {
            dns_request_v3(
                "192.168.1.50",
                &format!("{:032x}.t.example.net", i as u128 * 31),
                "NULL",
                T0 + i * S,
            )
            .replace(r#""type":"request""#, r#""type":"response""#)
        }));
        assert!(answers.is_empty());
    }

    #[test]
    fn the_home_resolver_is_not_a_tunnel_source() {
        // Clients ask the resolver (192.168.1.1), which forwards the same names upstream.
        let mut recs = vec![dns_query("192.168.1.52", "a.example.com", "A", T0)];
        recs.extend((0..40).map(|i| {
            dns_query(
                "192.168.1.1",
                &format!("{:040x}.t.example.net", i as u128 * 77_777_777),
                "TXT",
                T0 + S + i * S,
            )
        }));
        assert!(run(recs).is_empty());
    }

    #[test]
    fn service_probes_of_one_port_are_a_service_scan() {
        // The port speaks ssh; probes of other protocols and unrecognised ones follow.
        let mut recs = vec![f("203.0.113.60", "192.168.1.10", 22, T0).app("ssh").json()];
        for i in 1..10 {
            let app = ["failed", "http", "tls", ""][i as usize % 4];
            let r = f("203.0.113.60", "192.168.1.10", 22, T0 + i * S / 2);
            recs.push(if app.is_empty() {
                r.json()
            } else {
                r.app(app).json()
            });
        }
        let ds = run(recs);
        assert_eq!(
            brief(&ds),
            [("203.0.113.60".into(), Action::Block, Reason::ServiceScan)]
        );
        // A client of an unrecognised protocol reconnecting often is not probing.
        assert!(
            run((0..30).map(|i| f("203.0.113.61", "192.168.1.10", 9999, T0 + i * S).json()))
                .is_empty()
        );
    }

    #[test]
    fn nmap_host_discovery_and_half_open_probes_are_a_scanner_fingerprint() {
        // nmap -sV -p 22 as root: ICMP timestamp, SYN to 443 (closed), bare ACK to 80, a
        // half-open SYN to 22, then one ssh session for the version.
        let a = "203.0.113.14";
        let mut closed = f(a, "192.168.1.10", 443, T0).syn_probe();
        (closed.to_client, closed.tc) = (1, "14");
        let mut ack = f(a, "192.168.1.10", 80, T0 + 1);
        (ack.to_server, ack.to_client, ack.ts, ack.tc) = (1, 1, "00", "00");
        let mut half = f(a, "192.168.1.10", 22, T0 + 2);
        (half.to_server, half.to_client, half.ts, half.tc) = (2, 1, "06", "12");
        let ts = rfc3339(EveTime(T0 + 3)).replace('Z', "+0000");
        let icmp = format!(
            r#"{{"timestamp":"{ts}","event_type":"flow","src_ip":"{a}","dest_ip":"192.168.1.10","proto":"ICMP","icmp_type":13,"icmp_code":0,"flow":{{"pkts_toserver":1,"pkts_toclient":1,"start":"{ts}","age":0}}}}"#
        );
        let ssh = f(a, "192.168.1.10", 22, T0 + 4).app("ssh");
        let ds = run([closed.json(), ack.json(), icmp, half.json(), ssh.json()]);
        assert_eq!(brief(&ds), [(a.into(), Action::Block, Reason::ScanProbes)]);
        assert!(
            ds[0].summary.contains("ICMP timestamp"),
            "{}",
            ds[0].summary
        );
        // An ordinary client: a refused connection, then a working one.
        let mut refused = f("203.0.113.70", "192.168.1.10", 443, T0).syn_probe();
        (refused.to_client, refused.tc) = (1, "14");
        let ok = f("203.0.113.70", "192.168.1.10", 22, T0 + S).app("ssh");
        assert!(run([refused.json(), ok.json()]).is_empty());
    }

    #[test]
    fn an_upload_far_beyond_the_devices_history_is_a_volume_alert() {
        let up = |src: &str, t: i64, bytes: u64| {
            f(src, "198.51.100.90", 80, t).json().replace(
                r#""bytes_toserver":300"#,
                &format!(r#""bytes_toserver":{bytes}"#),
            )
        };
        // Small requests, then 200 MB in one flow.
        let mut recs: Vec<String> = (0..3)
            .map(|i| up("192.168.1.66", T0 + i * S, 600))
            .collect();
        recs.push(up("192.168.1.66", T0 + 5 * S, 200_000_000));
        let ds = run(recs);
        assert_eq!(
            brief(&ds),
            [(
                "192.168.1.66".into(),
                Action::AlertOnly,
                Reason::VolumeAnomaly
            )]
        );
        assert!(
            ds[0]
                .summary
                .contains("largest upload 200000000 bytes to 198.51.100.90"),
            "{}",
            ds[0].summary
        );
        // A camera that always uploads about 150 MB per window: one alert in its first
        // window, none after (its own history explains the rest; the windows are further
        // apart than a decision's ttl, so the gate's cooldown is not what holds them).
        let recs: Vec<String> = (0..6)
            .map(|w| up("192.168.1.67", T0 + w * 4000 * S + S, 150_000_000))
            .chain((0..3).map(|w| up("192.168.1.67", T0 + 30_000 * S + w * 600 * S, 150_000_000)))
            .collect();
        let ds = run(recs);
        assert_eq!(ds.len(), 1, "{:?}", brief(&ds));
    }

    #[test]
    fn a_flood_the_victim_answers_is_still_a_flood_on_the_victim() {
        // Spoofed SYNs to an open port: the victim answers each with a SYN-ACK that goes
        // nowhere; the (spoofed) sender never completes a handshake.
        let ds = run((0..600u32).map(|i| {
            let mut r = f("203.0.113.1", "192.168.1.40", 80, T0 + i as i64 * 1_000).syn_probe();
            r.src = "";
            (r.to_client, r.tc) = (1, "12");
            r.json().replace(
                r#""src_ip":"""#,
                &format!(r#""src_ip":"{}""#, outside(i + 7)),
            )
        }));
        assert_eq!(
            brief(&ds),
            [(
                "192.168.1.40".into(),
                Action::RateLimit,
                Reason::FloodTarget
            )]
        );
        assert_eq!(
            ds[0].limit.map(|l| l.to_string()).as_deref(),
            Some("tcp/80")
        );
        assert!(
            ds[0]
                .summary
                .starts_with("rate-limit 192.168.1.40 tcp/80: "),
            "{}",
            ds[0].summary
        );
    }

    /// `n` unanswered flows of `proto` to `victim`'s `port`, each from another address.
    fn spoofed_flood(victim: &str, proto: &'static str, port: u16, n: u32) -> Vec<String> {
        (0..n)
            .map(|i| {
                // A SYN the sender never follows up (TCP), or one unanswered packet.
                let mut r = f("203.0.113.1", victim, port, T0 + i as i64 * 1_000).syn_probe();
                r.proto = proto;
                let r = r.json().replace(
                    r#""src_ip":"203.0.113.1""#,
                    &format!(r#""src_ip":"{}""#, outside(i + 7)),
                );
                // The victim exists: now and then its answer (a SYN-ACK, an ICMP error)
                // makes it into a record.
                if i % 50 == 0 {
                    r.replace(r#""pkts_toclient":0"#, r#""pkts_toclient":1"#)
                        .replace(r#""tcp_flags_tc":"00""#, r#""tcp_flags_tc":"12""#)
                        .replace(r#""state":"closed""#, r#""state":"new""#)
                } else {
                    r
                }
            })
            .collect()
    }

    #[test]
    fn a_flood_target_that_never_answers_is_only_reported() {
        // Random addresses of the home prefix flooded: no host there to protect, and a
        // rate limit would spend the caps that blocks need.
        let silent: Vec<String> = spoofed_flood("192.168.1.47", "TCP", 80, 600)
            .into_iter()
            .map(|r| {
                r.replace(r#""pkts_toclient":1"#, r#""pkts_toclient":0"#)
                    .replace(r#""tcp_flags_tc":"12""#, r#""tcp_flags_tc":"00""#)
            })
            .collect();
        let ds = run(silent);
        assert_eq!(
            brief(&ds),
            [(
                "192.168.1.47".into(),
                Action::AlertOnly,
                Reason::FloodTarget
            )]
        );
        assert!(
            ds[0].summary.contains("never answered"),
            "{}",
            ds[0].summary
        );
        // Flows to several ports: the port most of them went to is limited, whatever
        // their order.
        let mut mixed = spoofed_flood("192.168.1.48", "TCP", 80, 600);
        for (i, r) in mixed.iter_mut().enumerate() {
            if i % 3 == 0 {
                *r = r.replace(r#""dest_port":80"#, &format!(r#""dest_port":{}"#, 1000 + i));
            }
        }
        let forward = run(mixed.clone());
        mixed.reverse();
        let backward = run(mixed);
        for ds in [forward, backward] {
            assert_eq!(
                ds[0].limit.map(|l| l.to_string()).as_deref(),
                Some("tcp/80")
            );
        }
    }

    #[test]
    fn a_flood_target_is_rate_limited_on_the_flooded_protocol_and_port() {
        let ds = run(spoofed_flood("192.168.1.41", "UDP", 5000, 600));
        assert_eq!(
            brief(&ds),
            [(
                "192.168.1.41".into(),
                Action::RateLimit,
                Reason::FloodTarget
            )]
        );
        assert_eq!(
            ds[0].limit.map(|l| l.to_string()).as_deref(),
            Some("udp/5000")
        );
        // The victim answers each datagram with an ICMP port unreachable, which Suricata
        // counts as a packet to the client but the flow stays `new`: still a flood (the
        // real-tool lab's hping3 --udp victim, when the kernel's ICMP rate limit does not
        // kick in). Real answers (the flow established) are not.
        let answered_by_icmp = |state: &str| -> Vec<String> {
            spoofed_flood("192.168.1.45", "UDP", 5000, 600)
                .into_iter()
                .map(|r| {
                    r.replace(r#""pkts_toclient":0"#, r#""pkts_toclient":1"#)
                        .replace(r#""state":"closed""#, &format!(r#""state":"{state}""#))
                })
                .collect()
        };
        let ds = run(answered_by_icmp("new"));
        assert_eq!(
            ds[0].limit.map(|l| l.to_string()).as_deref(),
            Some("udp/5000")
        );
        assert!(run(answered_by_icmp("established")).is_empty());
        // Port 0 is a port like any other for UDP (hping3 --udp without -p).
        let ds = run(spoofed_flood("192.168.1.42", "UDP", 0, 600));
        assert_eq!(ds[0].limit.map(|l| l.to_string()).as_deref(), Some("udp/0"));
        // ICMP has no port to limit: an alert, nothing enforced.
        let ds = run(spoofed_flood("192.168.1.43", "ICMP", 0, 600));
        assert_eq!(
            brief(&ds),
            [(
                "192.168.1.43".into(),
                Action::AlertOnly,
                Reason::FloodTarget
            )]
        );
        assert_eq!(ds[0].limit, None);
        // Below the threshold: nothing.
        assert!(run(spoofed_flood("192.168.1.44", "UDP", 53, 300)).is_empty());
    }

    #[test]
    fn a_flood_target_response_of_alert_only_limits_nothing() {
        let mut cfg = DetectConfig::default();
        cfg.flood_target.response = Action::AlertOnly;
        let mut p = Pipeline::with_parts(cfg, NetworkModel::default(), DecisionConfig::default());
        for r in spoofed_flood("192.168.1.41", "TCP", 80, 600) {
            p.handle(r.as_bytes()).unwrap();
        }
        let ds: Vec<Decision> = p.drain_decisions().collect();
        assert_eq!(
            brief(&ds),
            [(
                "192.168.1.41".into(),
                Action::AlertOnly,
                Reason::FloodTarget
            )]
        );
        assert_eq!(ds[0].limit, None);
    }

    #[test]
    fn flood_target_response_accepts_rate_limit_and_alert_only_only() {
        use suriguard_config::ConfigFile;
        let parse = |text: &str| ConfigFile::parse(text).unwrap().section::<DetectConfig>();
        assert_eq!(
            DetectConfig::default().flood_target.response,
            Action::RateLimit
        );
        for ok in ["rate-limit", "alert-only"] {
            let c = parse(&format!("[detect.flood-target]\nresponse = \"{ok}\"\n")).unwrap();
            assert_eq!(c.flood_target.response.as_str(), ok);
        }
        for bad in ["block", "quarantine"] {
            let e = parse(&format!("[detect.flood-target]\nresponse = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("[detect] flood-target.response must be rate-limit or alert-only"),
                "{bad}: {e}"
            );
        }
        let e = parse("[detect.flood-target]\nresponse = \"limit\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[detect]") && e.contains("rate-limit"), "{e}");
        // Rate limits are the flood target's response only.
        let e = parse(
            "[detect.slow-scan]\nresponse = { inbound = \"rate-limit\", home = \"alert-only\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("slow-scan.response: rate-limit is flood-target's"),
            "{e}"
        );
    }

    #[test]
    fn a_laptops_ssh_sessions_hours_apart_are_not_guessing() {
        // Two git-over-ssh sessions to each of three hosts, hours apart.
        let ds = run([0i64, 2, 6].iter().enumerate().flat_map(|(k, h)| {
            (0..2).map(move |j| {
                f(
                    "192.168.1.80",
                    outside(k as u32 * 9),
                    22,
                    T0 + h * 3600 * S + j * S,
                )
                .app("ssh")
                .json()
            })
        }));
        assert!(ds.is_empty(), "{:?}", brief(&ds));
    }

    /// One flow to 198.51.100.`i` port 23 as the slow-scan detector (defaults) takes it:
    /// the source's clock moved to `t`, then the contact.
    fn slow_contact(s: &mut Long, i: u32, t: i64, failed: bool) -> Option<(u64, u64)> {
        let ip = IpAddr::from(std::net::Ipv4Addr::from(0xc633_6400 + i));
        s.seen(t);
        contact(s, mix32(ip, 23), t, failed, &SlowScan::default())
    }

    /// An idle source's unanswered slow-scan contacts are forgotten, its answered ones
    /// kept (answered once is answered): forty servers that answered and fail weeks
    /// later, after the source was idle, are still not forty failed contacts.
    #[test]
    fn an_idle_source_forgets_only_its_unanswered_contacts() {
        let mut s = Long::default();
        for i in 0..40 {
            assert_eq!(slow_contact(&mut s, i, T0 + i64::from(i) * S, false), None);
        }
        for i in 100..110 {
            assert_eq!(slow_contact(&mut s, i, T0 + i64::from(i) * S, true), None);
        }
        assert!(!s.release_idle(T0), "not idle before its last contact");
        assert!(s.release_idle(T0 + 86_400 * S));
        assert_eq!(s.contacts.len(), 40);
        assert!(s.contacts.iter().all(|e| e.key & 1 == 0));
        assert!(!s.release_idle(T0 + 86_400 * S), "nothing left to forget");
        for i in 0..40 {
            let t = T0 + 13 * 86_400 * S + i64::from(i) * 15 * S;
            assert_eq!(slow_contact(&mut s, i, t, true), None);
        }
        // All unanswered: the list goes.
        let mut s = Long::default();
        for i in 0..5 {
            slow_contact(&mut s, i, T0 + i64::from(i) * S, true);
        }
        assert!(s.release_idle(T0 + 86_400 * S));
        assert_eq!(s.contacts.capacity(), 0);
    }

    /// A slow-scan contact's time is 32 bits of milliseconds: 2³² ms (49.7 days) later
    /// the old contacts must not look recent again, a contact answered long ago stays
    /// answered, and a flow record stamped with a start far back does not count.
    #[test]
    fn slow_scan_contacts_do_not_come_back_when_their_clock_wraps() {
        // 39 failed contacts over ten minutes: one short of the threshold.
        let mut s = Long::default();
        for i in 0..39 {
            assert_eq!(
                slow_contact(&mut s, i, T0 + i64::from(i) * 15 * S, true),
                None
            );
        }
        // The 40th within the window trips (the control)...
        let mut trips = Long::default();
        for i in 0..39 {
            slow_contact(&mut trips, i, T0 + i64::from(i) * 15 * S, true);
        }
        assert_eq!(
            slow_contact(&mut trips, 39, T0 + 39 * 15 * S, true),
            Some((40, 40))
        );
        // ... and exactly 2³² ms later it does not: the 39 are old, not recent.
        let wrapped = T0 + (1i64 << 32) * 1000 + 39 * 15 * S;
        assert_eq!(slow_contact(&mut s, 39, wrapped, true), None);
        // A flow record whose start is 2³² ms + 5 s back, arriving now: not in the window.
        let mut s = Long::default();
        let now = T0 + 100 * 86_400 * S;
        for i in 0..39 {
            assert_eq!(
                slow_contact(&mut s, i, now + i64::from(i) * 15 * S, true),
                None
            );
        }
        let back = now + 39 * 15 * S - (1i64 << 32) * 1000 - 5 * S;
        assert_eq!(slow_contact(&mut s, 100, back, true), None);
        assert_eq!(
            slow_contact(&mut s, 39, now + 39 * 15 * S, true),
            Some((40, 40))
        );
        // Forty servers answered, then failing thirteen days later (an outage): answered
        // once is answered, whatever the time between.
        let mut s = Long::default();
        for i in 0..40 {
            assert_eq!(slow_contact(&mut s, i, T0 + i64::from(i) * S, false), None);
        }
        for i in 0..40 {
            let t = T0 + 13 * 86_400 * S + i64::from(i) * 15 * S;
            assert_eq!(slow_contact(&mut s, i, t, true), None);
        }
        // A clock set from 1970 to now: the same.
        let mut s = Long::default();
        for i in 0..40 {
            assert_eq!(slow_contact(&mut s, i, i64::from(i) * S, false), None);
        }
        for i in 0..40 {
            assert_eq!(
                slow_contact(&mut s, i, T0 + i64::from(i) * 15 * S, true),
                None
            );
        }
    }

    /// A source's probe kinds and their start share a word: both read back as written,
    /// for times before 1970 too, and a time past the kept range is held at its edge.
    #[test]
    fn probes_pack_kinds_and_time() {
        for since in [
            0,
            1,
            -1,
            T0,
            -T0,
            253_402_300_799_999_999,
            -62_167_219_200_000_000,
        ] {
            for kinds in [0u8, 1, 5, 10, 15] {
                let p = Probes::new(since, kinds);
                assert_eq!((p.since(), p.kinds()), (since, kinds));
            }
        }
        assert_eq!(Probes::new(i64::MAX, 3).since(), (1 << 59) - 1);
        assert_eq!(Probes::new(i64::MIN, 3).since(), -(1 << 59));
        assert_eq!(Probes::new(i64::MIN, 3).kinds(), 3);
        assert_eq!(Probes::default(), Probes::new(0, 0));
    }

    /// The per-source memory the module docs state.
    #[test]
    fn state_sizes() {
        assert_eq!(std::mem::size_of::<Long>(), 72);
        assert_eq!(std::mem::size_of::<Logins>(), 64);
        assert_eq!(std::mem::size_of::<Service>(), 72);
        assert_eq!(std::mem::size_of::<Beacon>(), 72);
        assert_eq!(std::mem::size_of::<Probed>(), 8);
        assert_eq!(std::mem::size_of::<Odd>(), 24);
        assert_eq!(std::mem::size_of::<Contact>(), 8);
        assert_eq!(std::mem::size_of::<(IpAddr, Target)>(), 640);
    }

    #[test]
    fn base_domains() {
        assert_eq!(base_domain("a.b.example.com"), "example.com");
        assert_eq!(base_domain("x.tunnel.example.co.uk."), "example.co.uk");
        assert_eq!(base_domain("example.com"), "example.com");
        assert_eq!(base_domain("localhost"), "localhost");
    }

    #[test]
    fn responses_are_checked() {
        let mut c = BehaviourConfig::default();
        assert!(c.validate().is_ok());
        c.slow_scan.response.inbound = Action::Quarantine;
        assert!(c
            .validate()
            .unwrap_err()
            .contains("slow-scan.response.inbound"));
        let mut c = BehaviourConfig::default();
        c.beaconing.min_contacts = 100;
        assert!(c.validate().unwrap_err().contains("beaconing.min-contacts"));
    }
}
