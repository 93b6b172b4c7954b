//! The detection engine: per-source state on EVE time, heuristics, and explained
//! decisions.
//!
//! Every flow, http and alert record updates the state of its source address (the flow's
//! initiator). Heuristics look at that state right after the update; the first one whose
//! threshold is reached makes a [`Proposal`], which the pipeline's gate admits or refuses
//! (protected address, cooldown, caps). Direction matters: an external source attacking
//! the home network is **blocked**; a home device that scans or fans out is
//! **quarantined** instead, and the remote side is left alone.
//!
//! Memory (`size` tests): a bucket per tracked source in the table (its address and a
//! box: 16 bytes for an IPv4 source, 24 for an IPv6 one, the families in two maps; the
//! table's spare buckets add 14 % to 128 % of that, as it fills between 44 % and 87.5
//! %), and the boxed entry, 264 bytes: five window counters of 20 bytes,
//! four flow ids, the contact list's header, and the behaviour detectors' part, which
//! shares the entry so a record looks its source up once. Plus 8 bytes per distinct
//! (host, port) the source contacted within the scan window (and, for a home device,
//! per failed one, in a list made on its first failure), each list capped at
//! [`DetectConfig::max_targets`]. At most [`DetectConfig::max_sources`] sources are
//! tracked; beyond that the longest idle are evicted.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use suriguard_decision::{threshold_confidence, Action, GateStats, Proposal, Reason};
use suriguard_eve::{EveRecord, EventType, HexFlags, Proto};
use suriguard_net::{Direction, NetworkModel};

use crate::baseline::BaselineConfig;
use crate::behaviour::{
    Beaconing, Behaviour, BehaviourConfig, DnsTunnel, FloodTarget, LoginGuessing, Long,
    ServiceScan, SlowScan, VolumeAnomaly,
};
use crate::window::{check_window, AddrTable, Targets, WindowCount, MAX_WINDOW_SECS, SLOTS};

const SEC: f64 = 1_000_000.0;
const EXAMPLES: usize = 4;

/// The longest window in EVE microseconds.
const MAX_WINDOW_US: i64 = MAX_WINDOW_SECS as i64 * 1_000_000;

/// A count-in-window heuristic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Threshold {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Window length in seconds.
    pub window: f64,
    /// Decide when the count reaches this.
    pub threshold: u64,
}

fn yes() -> bool {
    true
}

impl Threshold {
    fn new(window: f64, threshold: u64) -> Self {
        Threshold {
            enabled: true,
            window,
            threshold,
        }
    }

    fn slot_us(&self) -> i64 {
        ((self.window * SEC) as i64 / SLOTS as i64).max(1)
    }

    fn hit(&self, observed: u64) -> bool {
        self.enabled && observed >= self.threshold
    }
}

/// HTTP flood: many flows to web ports, or many http transactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct HttpFlood {
    pub enabled: bool,
    pub window: f64,
    /// Flows to `ports` that got a reply, in the window.
    pub flows: u64,
    /// http records in the window.
    pub events: u64,
    pub ports: Vec<u16>,
}

impl Default for HttpFlood {
    fn default() -> Self {
        HttpFlood {
            enabled: true,
            window: 5.0,
            flows: 120,
            events: 60,
            ports: vec![80, 443, 8000, 8080, 8443, 8888],
        }
    }
}

/// Brute force: many short sessions to login services (the Mirai pattern on telnet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct BruteForce {
    pub enabled: bool,
    pub window: f64,
    pub threshold: u64,
    pub ports: Vec<u16>,
    /// Sessions lasting at most this many seconds count.
    pub max_session_secs: u64,
}

impl Default for BruteForce {
    fn default() -> Self {
        BruteForce {
            enabled: true,
            window: 60.0,
            threshold: 10,
            ports: vec![22, 23, 2222, 2323],
            max_session_secs: 30,
        }
    }
}

/// The Suricata alert fast path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AlertPath {
    pub enabled: bool,
    /// Decide on alerts whose severity is at most this (1 is the most severe).
    pub max_severity: u8,
    /// ... and on these signature ids whatever their severity.
    pub sids: Vec<u32>,
}

impl Default for AlertPath {
    fn default() -> Self {
        AlertPath {
            enabled: true,
            max_severity: 1,
            sids: Vec::new(),
        }
    }
}

/// `[detect]`: every heuristic with its window and threshold. Defaults follow the edge
/// IDS suriguard replaces where it had them (SYN flood 200/3 s, HTTP flood 120 flows or
/// 60 requests/5 s, port scan 20 ports/10 s, connection rate 40/10 s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DetectConfig {
    /// Whether the heuristics below may propose decisions. Off, the engine still keeps
    /// every source's window counters (the model stage reads them) but only the model
    /// stage decides.
    pub heuristics: bool,
    /// Sources tracked at once (least recently seen evicted beyond it).
    pub max_sources: usize,
    /// Distinct (host, port) contacts remembered per source.
    pub max_targets: usize,
    /// SYN-only flows that got no reply.
    pub syn_flood: Threshold,
    pub http_flood: HttpFlood,
    /// Distinct destination ports on one host.
    pub port_scan: Threshold,
    /// Distinct hosts on one destination port.
    pub horizontal_scan: Threshold,
    /// Flows that got a reply (inbound only; unanswered SYNs count as SYN flood).
    pub connection_rate: Threshold,
    pub brute_force: BruteForce,
    pub alert: AlertPath,
    /// Distinct external hosts contacted by one home device.
    pub outbound_fan_out: Threshold,
    /// Failed contacts to many hosts and ports over minutes.
    pub slow_scan: SlowScan,
    /// Brute force by application protocol, whatever the port.
    pub login_guessing: LoginGuessing,
    /// Version and service probes of one port (nmap -sV, -A).
    pub service_scan: ServiceScan,
    /// Regular contacts of a home device to one remote host.
    pub beaconing: Beaconing,
    /// Data carried in DNS names.
    pub dns_tunnel: DnsTunnel,
    /// A home host flooded from many sources.
    pub flood_target: FloodTarget,
    /// Uploads far beyond a device's own history.
    pub volume: VolumeAnomaly,
    /// What each home device normally does, kept across restarts.
    pub baseline: BaselineConfig,
}

impl DetectConfig {
    fn behaviour(&self) -> BehaviourConfig {
        BehaviourConfig {
            slow_scan: self.slow_scan.clone(),
            login_guessing: self.login_guessing.clone(),
            service_scan: self.service_scan.clone(),
            beaconing: self.beaconing.clone(),
            dns_tunnel: self.dns_tunnel.clone(),
            flood_target: self.flood_target.clone(),
            volume: self.volume.clone(),
            baseline: self.baseline.clone(),
        }
    }
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            heuristics: true,
            max_sources: 100_000,
            max_targets: 128,
            syn_flood: Threshold::new(3.0, 200),
            http_flood: HttpFlood::default(),
            port_scan: Threshold::new(10.0, 20),
            horizontal_scan: Threshold::new(10.0, 16),
            connection_rate: Threshold::new(10.0, 40),
            brute_force: BruteForce::default(),
            alert: AlertPath::default(),
            outbound_fan_out: Threshold::new(10.0, 64),
            slow_scan: SlowScan::default(),
            login_guessing: LoginGuessing::default(),
            service_scan: ServiceScan::default(),
            beaconing: Beaconing::default(),
            dns_tunnel: DnsTunnel::default(),
            flood_target: FloodTarget::default(),
            volume: VolumeAnomaly::default(),
            baseline: BaselineConfig::default(),
        }
    }
}

impl suriguard_config::Section for DetectConfig {
    const NAME: &'static str = "detect";

    fn validate(&self) -> Result<(), String> {
        for (name, window) in [
            ("syn-flood", self.syn_flood.window),
            ("http-flood", self.http_flood.window),
            ("port-scan", self.port_scan.window),
            ("horizontal-scan", self.horizontal_scan.window),
            ("connection-rate", self.connection_rate.window),
            ("brute-force", self.brute_force.window),
            ("outbound-fan-out", self.outbound_fan_out.window),
        ] {
            check_window(name, window)?;
        }
        if self.max_sources == 0 || self.max_targets == 0 {
            return Err("[detect] max-sources and max-targets must be at least 1".into());
        }
        // A threshold the counter behind it can never reach would switch its detector
        // off without a word: refused, naming the ceiling.
        let lg = &self.login_guessing;
        for (name, threshold) in [
            ("syn-flood.threshold", self.syn_flood.threshold),
            ("http-flood.flows", self.http_flood.flows),
            ("http-flood.events", self.http_flood.events),
            ("connection-rate.threshold", self.connection_rate.threshold),
            ("brute-force.threshold", self.brute_force.threshold),
            ("login-guessing.threshold", lg.threshold),
            ("login-guessing.long-threshold", lg.long_threshold),
            ("service-scan.threshold", self.service_scan.threshold),
        ] {
            if threshold > WindowCount::MAX {
                return Err(format!(
                    "[detect] {name} must be at most {} (what one window counts), got {threshold}",
                    WindowCount::MAX
                ));
            }
        }
        for (name, threshold, cap, cap_name) in [
            (
                "port-scan",
                self.port_scan.threshold,
                self.max_targets,
                "max-targets",
            ),
            (
                "horizontal-scan",
                self.horizontal_scan.threshold,
                self.max_targets,
                "max-targets",
            ),
            (
                "outbound-fan-out",
                self.outbound_fan_out.threshold,
                self.max_targets,
                "max-targets",
            ),
            (
                "slow-scan",
                self.slow_scan.threshold,
                self.slow_scan.max_contacts,
                "slow-scan.max-contacts",
            ),
        ] {
            if threshold > cap as u64 {
                return Err(format!(
                    "[detect] {name}.threshold ({threshold}) is above {cap_name} ({cap}), the \
                     contacts a source's list keeps: it could never trip"
                ));
            }
        }
        self.behaviour().validate()
    }

    fn resolve_paths(&mut self, dir: &std::path::Path) {
        if let Some(p) = &mut self.baseline.file {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

/// What one source has been doing.
#[derive(Debug, Default)]
struct Source {
    last_seen: i64,
    flows: WindowCount,
    syn_only: WindowCount,
    web_flows: WindowCount,
    http_events: WindowCount,
    auth_sessions: WindowCount,
    targets: Targets,
    /// A home device's contacts that failed (no handshake, refused, no answer): its scan
    /// checks count these, so answered browsing to many CDN hosts is not a scan. Made
    /// on a home device's first failed contact (outside sources never need it).
    failed: Option<Box<Targets>>,
    examples: [u64; EXAMPLES],
    next_example: u32,
}

impl Source {
    /// Frees the contact lists last added to before `before`; whether any was freed.
    fn release_idle(&mut self, before: i64) -> bool {
        let targets = self.targets.release_if_idle(before);
        // The box stays (home devices only): its newest time reads later contacts as
        // the window's list does.
        let failed = self
            .failed
            .as_mut()
            .is_some_and(|f| f.release_if_idle(before));
        targets || failed
    }

    fn touch(&mut self, t: i64, flow_id: Option<u64>) {
        if t.saturating_sub(self.last_seen) > MAX_WINDOW_US {
            // Longer than any window: every count has left its window. Starting the
            // counters afresh keeps their 32-bit slot numbers from being compared across
            // a jump of the clock (a device set from 1970 to now).
            self.flows = WindowCount::default();
            self.syn_only = WindowCount::default();
            self.web_flows = WindowCount::default();
            self.http_events = WindowCount::default();
            self.auth_sessions = WindowCount::default();
        }
        self.last_seen = self.last_seen.max(t);
        self.remember(flow_id);
    }

    fn remember(&mut self, flow_id: Option<u64>) {
        if let Some(id) = flow_id {
            self.examples[self.next_example as usize % EXAMPLES] = id;
            // Wraps at a multiple of EXAMPLES, so the ring's order holds.
            self.next_example = (self.next_example + 1) % (EXAMPLES as u32 * 1024);
            if self.next_example == 0 {
                self.next_example = EXAMPLES as u32;
            }
        }
    }

    fn examples(&self) -> Vec<u64> {
        let next = self.next_example as usize;
        let n = next.min(EXAMPLES);
        (0..n)
            .map(|k| self.examples[(next - n + k) % EXAMPLES])
            .collect()
    }
}

/// One source's entry: the window heuristics' state and the behaviour detectors' long
/// windows side by side, so a record looks its source up once. The table holds it boxed:
/// 16 or 24 bytes a bucket instead of the whole entry, so the table's spare buckets (up to
/// half of them after it grows) cost little, and growing it moves pointers only.
#[derive(Debug, Default)]
struct Slot {
    win: Source,
    long: Long,
}

impl Slot {
    fn last_seen(&self) -> i64 {
        self.win.last_seen.max(self.long.last_seen)
    }
}

/// Counters of the engine's work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    pub flows: u64,
    pub http: u64,
    pub alerts: u64,
    /// Records between two external addresses (not our network's traffic).
    pub transit: u64,
    /// Records the engine could not use (no addresses, no time).
    pub incomplete: u64,
    pub sources_evicted: u64,
    /// Contact lists of idle sources freed (their windows long past; see
    /// `Engine::release_idle_lists`).
    #[serde(default)]
    pub idle_lists_released: u64,
    /// Regular contacts a device's baseline knew as normal (not proposed).
    #[serde(default)]
    pub beacons_suppressed: u64,
    /// Decisions made (the gate's `admitted`).
    pub decisions: u64,
    pub gate: GateStats,
}

/// What the window heuristics read from one flow record.
struct FlowShape {
    dport: u16,
    tcp: bool,
    no_reply: bool,
    /// A handshake the client never completed: a SYN probe or flood packet, whether the
    /// server answered (SYN-ACK, then the sender's RST or nothing) or not. Real clients
    /// always acknowledge an answer.
    syn_only: bool,
    /// No handshake, refused, or (not TCP) unanswered.
    failed: bool,
    age: u64,
}

impl FlowShape {
    #[inline]
    fn of(rec: &EveRecord<'_>, flow: &suriguard_eve::Flow<'_>) -> FlowShape {
        let tcp = rec.proto == Some(Proto::Tcp);
        let no_reply = flow.pkts_toclient.unwrap_or(0) == 0;
        // Client-side flags; records without them (non-Suricata producers) fall back to
        // the flow's combined flags.
        let (ts, tc) = rec.tcp.as_ref().map_or((None, None), |t| {
            (t.tcp_flags_ts.or(t.tcp_flags), t.tcp_flags_tc)
        });
        let (ts, tc) = (ts.unwrap_or_default(), tc.unwrap_or_default());
        let failed = if tcp {
            !ts.has(HexFlags::ACK) || (tc.has(HexFlags::RST) && !tc.has(HexFlags::SYN))
        } else {
            no_reply
        };
        FlowShape {
            dport: rec.dest_port.unwrap_or(0),
            tcp,
            no_reply,
            syn_only: tcp && ts.has(HexFlags::SYN) && !ts.has(HexFlags::ACK),
            failed,
            age: flow.age.unwrap_or(0),
        }
    }
}

/// A source's window totals after one flow, as the checks compare them.
struct Counts {
    /// Connections with a reply.
    flows: u64,
    syn: u64,
    web: u64,
    auth: u64,
    /// Distinct ports on the flow's destination host.
    ports: u64,
    /// Distinct hosts on the flow's destination port.
    hosts_on_port: u64,
    external_hosts: u64,
}

/// One heuristic's verdict on the current flow, in `on_flow`'s precedence table.
struct Check<'a> {
    hit: bool,
    /// The reason when the source is outside the home networks (the action is block).
    inbound: Option<Reason>,
    /// The reason when the source is a home device (the action is quarantine).
    home: Option<Reason>,
    counter: &'static str,
    observed: u64,
    th: &'a Threshold,
    detail: Detail,
}

impl<'a> Check<'a> {
    fn new(
        hit: bool,
        inbound: Option<Reason>,
        home: Option<Reason>,
        counter: &'static str,
        observed: u64,
        th: &'a Threshold,
        detail: Detail,
    ) -> Self {
        Check {
            hit,
            inbound,
            home,
            counter,
            observed,
            th,
            detail,
        }
    }
}

/// What makes a proposal concrete, formatted only for the proposal chosen.
enum Detail {
    None,
    Host(IpAddr),
    Port(u16),
}

impl Detail {
    fn describe(&self) -> Option<String> {
        match self {
            Detail::None => None,
            Detail::Host(h) => Some(format!("host {h}")),
            Detail::Port(p) => Some(format!("port {p}")),
        }
    }
}

/// The engine. One per worker thread; not shared.
pub struct Engine {
    cfg: DetectConfig,
    net: NetworkModel,
    sources: AddrTable<Box<Slot>>,
    newest: i64,
    /// EVE time of the next pass that frees idle sources' expired contact lists, and
    /// records handled since the last (a pass waits for as many as there are sources,
    /// so it never costs more than one visit of an entry per record).
    next_release: i64,
    handled_since_release: u64,
    stats: EngineStats,
    behaviour: Behaviour,
}

/// How often (EVE time) the contact lists of idle sources are freed: a pass over the
/// table, at most `max-sources` entries.
const RELEASE_EVERY_US: i64 = 60 * SEC as i64;

/// How long past its window a contact list is kept after its source's last contact
/// before it is freed. A flow record carries its flow's start and arrives when the flow
/// ends or times out (Suricata's default timeouts are at most 10 minutes): a record
/// that arrives later than the window and this margin after its flow's start, and
/// whose source was otherwise idle, counts without the contacts its source made around
/// that start.
const RELEASE_MARGIN_US: i64 = 600 * SEC as i64;

impl Engine {
    pub fn new(cfg: DetectConfig, net: NetworkModel) -> Self {
        Engine {
            behaviour: Behaviour::new(cfg.behaviour(), cfg.max_sources),
            cfg,
            net,
            sources: AddrTable::default(),
            newest: i64::MIN,
            next_release: i64::MIN,
            handled_since_release: 0,
            stats: EngineStats::default(),
        }
    }

    pub fn network(&self) -> &NetworkModel {
        &self.net
    }

    /// Replaces the network model (the allowlist file changed). State already kept is
    /// kept; what is now protected is refused at the gate from the next proposal on.
    pub fn set_network(&mut self, net: NetworkModel) {
        self.net = net;
    }

    /// The engine's counters; `decisions` and `gate` are the pipeline's to fill.
    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats.clone();
        s.sources_evicted += self.behaviour.evicted;
        s.beacons_suppressed = self.behaviour.beacons_suppressed;
        s
    }

    /// Names of [`Engine::source_features`], in order.
    pub const SOURCE_FEATURES: [&'static str; 7] = [
        "answered_flows_in_window",
        "syn_only_flows_in_window",
        "web_flows_in_window",
        "http_requests_in_window",
        "login_sessions_in_window",
        "distinct_targets_in_scan_window",
        "distinct_external_hosts_in_scan_window",
    ];

    /// The per-source window features the model stage uses (names in
    /// [`Engine::SOURCE_FEATURES`]); `None` for an untracked source.
    pub fn source_features(&self, ip: IpAddr) -> Option<[f32; 7]> {
        let s = &self.sources.get(ip)?.win;
        Some([
            s.flows.total() as f32,
            s.syn_only.total() as f32,
            s.web_flows.total() as f32,
            s.http_events.total() as f32,
            s.auth_sessions.total() as f32,
            s.targets.len() as f32,
            s.targets.hosts(|home| !home) as f32,
        ])
    }

    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    /// Updates state with one record and returns what it tipped, if anything.
    pub fn handle(&mut self, rec: &EveRecord<'_>) -> Option<Proposal> {
        // Before the record, so that what it adds is never freed with what it finds.
        self.handled_since_release += 1;
        if self.newest >= self.next_release
            && self.handled_since_release >= self.sources.len() as u64
        {
            self.release_idle_lists();
        }
        let p = self.handle_record(rec);
        let mut p = p.or_else(|| self.behaviour.take_pending())?;
        if self.net.is_home(p.target) {
            self.explain(&mut p, rec);
        }
        Some(p)
    }

    /// Adds what the device's baseline says to a proposal about a home device: the
    /// service of the record when it is the device's own flow.
    fn explain(&self, p: &mut Proposal, rec: &EveRecord<'_>) {
        let service = match (rec.kind(), rec.src_ip, rec.proto, rec.dest_port) {
            // Only for the record that tipped it (a proposal kept waiting came from an
            // earlier one).
            (EventType::Flow, Some(src), Some(proto), Some(port))
                if src == p.target && rec.event_time().map(|t| t.micros()) == Some(p.time_us) =>
            {
                Some((crate::behaviour::proto_number(proto), port))
            }
            _ => None,
        };
        if let Some(text) = self.behaviour.explain(p.target, service, p.time_us) {
            p.detail = Some(match p.detail.take() {
                Some(d) => format!("{d}. Baseline: {text}"),
                None => format!("Baseline: {text}"),
            });
        }
    }

    /// The home devices' baselines, to save.
    pub fn baselines(&self) -> crate::baseline::BaselineFile {
        self.behaviour.baselines()
    }

    /// Takes saved baselines back; returns how many devices.
    pub fn restore_baselines(&mut self, file: crate::baseline::BaselineFile) -> usize {
        self.behaviour.restore_baselines(file, &self.net)
    }

    /// Whether detection reads records of this type. Records of other types change no
    /// state: the pipeline counts them and passes over them, and the plugin does not
    /// even queue them (it looks at the type with [`suriguard_eve::peek_event_type`]).
    pub fn uses(kind: EventType) -> bool {
        matches!(
            kind,
            EventType::Flow
                | EventType::Http
                | EventType::Dns
                | EventType::Alert
                | EventType::Ftp
                | EventType::Mqtt
                | EventType::Dhcp
        )
    }

    fn handle_record(&mut self, rec: &EveRecord<'_>) -> Option<Proposal> {
        match rec.kind() {
            EventType::Flow => {
                let (burst, long) = self.on_flow(rec);
                self.first(burst, long)
            }
            EventType::Http => {
                let burst = self.on_http(rec);
                let (behaviour, net, client) = self.client_parts(rec);
                let long = behaviour.on_http(rec, net, client);
                let long = long.filter(|_| self.cfg.heuristics);
                self.first(burst, long)
            }
            EventType::Dns => {
                let long = self.behaviour.on_dns(rec, &self.net);
                long.filter(|_| self.cfg.heuristics)
            }
            EventType::Alert => self.on_alert(rec),
            EventType::Ftp | EventType::Mqtt => {
                let (behaviour, net, client) = self.client_parts(rec);
                let long = behaviour.on_login_reply(rec, net, client);
                long.filter(|_| self.cfg.heuristics)
            }
            EventType::Dhcp => {
                self.behaviour.on_dhcp(rec, &self.net);
                None
            }
            _ => None,
        }
    }

    /// The window heuristics' proposal first; the other waits for a later record.
    fn first(&mut self, burst: Option<Proposal>, long: Option<Proposal>) -> Option<Proposal> {
        match (burst, long) {
            (Some(b), Some(l)) => {
                self.behaviour.defer(l);
                Some(b)
            }
            (b, l) => b.or(l),
        }
    }

    /// For an app-layer record whose client the behaviour detectors may file (a failed
    /// login): advances the clock to its time, and hands out the detectors, the network
    /// and the client's entry on demand (room is made only if they file, [`slot_of`]).
    fn client_parts<'s>(
        &'s mut self,
        rec: &EveRecord<'_>,
    ) -> (
        &'s mut Behaviour,
        &'s NetworkModel,
        impl FnOnce(IpAddr) -> &'s mut Long,
    ) {
        if let Some(t) = rec.timestamp {
            self.newest = self.newest.max(t.micros());
        }
        let (horizon, cap) = (self.horizon(), self.cfg.max_sources);
        let evicted = &mut self.stats.sources_evicted;
        let client = slot_of(&mut self.sources, cap, horizon, evicted);
        (&mut self.behaviour, &self.net, client)
    }

    /// Makes room for `ip` if it is new and the table is full; advances the clock.
    fn make_room(&mut self, ip: IpAddr, t: i64) {
        self.newest = self.newest.max(t);
        if self.sources.len() >= self.cfg.max_sources && !self.sources.contains(ip) {
            self.evict();
        }
    }

    /// Drops sources idle longer than the longest window of any detector; if that frees
    /// too little, the least recently seen half.
    fn evict(&mut self) {
        let horizon = self.horizon();
        self.stats.sources_evicted += self
            .sources
            .evict_idle(self.cfg.max_sources, horizon, |s| s.last_seen());
    }

    /// Frees the contact lists of sources whose last contact is older than the list's
    /// window and [`RELEASE_MARGIN_US`] (the entry stays: its counters, examples and
    /// the rest), so a source seen once costs its entry, not its contacts, once it is
    /// idle. A list is made again on the source's next contact. Runs at most every
    /// [`RELEASE_EVERY_US`] of EVE time, and after as many records as there are
    /// sources; the first call, before any record has a time, only sets the schedule.
    fn release_idle_lists(&mut self) {
        if self.next_release != i64::MIN {
            let c = &self.cfg;
            let scan = c
                .port_scan
                .window
                .max(c.horizontal_scan.window)
                .max(c.outbound_fan_out.window);
            let before = |window: f64| {
                self.newest
                    .saturating_sub((window * SEC) as i64)
                    .saturating_sub(RELEASE_MARGIN_US)
            };
            let win_before = before(scan);
            let long_before = before(self.behaviour.contacts_window());
            let mut released = 0;
            self.sources.for_each_mut(|slot| {
                released += slot.win.release_idle(win_before) as u64;
                released += slot.long.release_idle(long_before) as u64;
            });
            self.stats.idle_lists_released += released;
        }
        self.next_release = self.newest.saturating_add(RELEASE_EVERY_US);
        self.handled_since_release = 0;
    }

    /// Entries last seen before this are idle: beyond every window a source's entry
    /// holds.
    fn horizon(&self) -> i64 {
        let longest = [
            self.behaviour.longest_source_window(),
            self.cfg.syn_flood.window,
            self.cfg.http_flood.window,
            self.cfg.port_scan.window,
            self.cfg.horizontal_scan.window,
            self.cfg.connection_rate.window,
            self.cfg.brute_force.window,
            self.cfg.outbound_fan_out.window,
        ]
        .into_iter()
        .fold(0.0, f64::max);
        self.newest.saturating_sub((longest * SEC) as i64)
    }

    /// A flow record: its shape, then the source's windows and the behaviour detectors
    /// (one lookup of the source for both), then the window checks. Returns the window
    /// heuristics' proposal and the behaviour detectors'.
    fn on_flow(&mut self, rec: &EveRecord<'_>) -> (Option<Proposal>, Option<Proposal>) {
        self.stats.flows += 1;
        let Some((src, dst, flow, t)) = rec.flow_parts() else {
            self.stats.incomplete += 1;
            return (None, None);
        };
        let dir = self.net.direction(src, dst);
        if dir == Direction::Transit {
            self.stats.transit += 1;
            return (None, None);
        }
        let shape = FlowShape::of(rec, flow);
        let heuristics = self.cfg.heuristics;
        self.make_room(src, t);
        let slot = self.sources.get_or_default(src);
        let counts = count(
            &self.cfg,
            &self.net,
            &mut slot.win,
            dst,
            dir,
            &shape,
            rec.flow_id,
            t,
        );
        let long = self
            .behaviour
            .on_flow(rec, &self.net, heuristics, dir, &mut slot.long);
        if !heuristics {
            return (None, long);
        }
        let burst = self
            .check(src, dst, dir, shape.dport, &counts, t)
            .map(|p| self.with_examples(p));
        (burst, long)
    }

    /// The window heuristics, in order of precedence: the first check that trips
    /// proposes the decision. An inbound source is blocked; a home device (outbound or
    /// internal) is quarantined, and checks without a reason for its direction do not
    /// apply.
    fn check(
        &self,
        src: IpAddr,
        dst: IpAddr,
        dir: Direction,
        dport: u16,
        n: &Counts,
        t: i64,
    ) -> Option<Proposal> {
        let c = &self.cfg;
        let inbound = dir == Direction::Inbound;
        let bf = Threshold::new(c.brute_force.window, c.brute_force.threshold);
        let hf = Threshold::new(c.http_flood.window, c.http_flood.flows);
        let checks = [
            Check::new(
                c.syn_flood.hit(n.syn),
                Some(Reason::SynFlood),
                Some(Reason::OutboundScan),
                "SYN-only flows (handshake never completed)",
                n.syn,
                &c.syn_flood,
                Detail::None,
            ),
            Check::new(
                c.brute_force.enabled && n.auth >= bf.threshold,
                Some(Reason::BruteForce),
                Some(Reason::BruteForce),
                "short sessions to login ports",
                n.auth,
                &bf,
                Detail::Port(dport),
            ),
            Check::new(
                c.port_scan.hit(n.ports),
                Some(Reason::PortScan),
                Some(Reason::OutboundScan),
                "distinct ports on one host",
                n.ports,
                &c.port_scan,
                Detail::Host(dst),
            ),
            Check::new(
                c.horizontal_scan.hit(n.hosts_on_port),
                Some(Reason::HorizontalScan),
                Some(Reason::OutboundScan),
                if inbound {
                    "distinct home hosts on one port"
                } else {
                    "distinct hosts on one port"
                },
                n.hosts_on_port,
                &c.horizontal_scan,
                Detail::Port(dport),
            ),
            Check::new(
                c.http_flood.enabled && n.web >= hf.threshold,
                Some(Reason::HttpFlood),
                None,
                "flows to web ports",
                n.web,
                &hf,
                Detail::None,
            ),
            Check::new(
                c.connection_rate.hit(n.flows),
                Some(Reason::ConnectionRate),
                None,
                "connections with a reply",
                n.flows,
                &c.connection_rate,
                Detail::None,
            ),
            Check::new(
                c.outbound_fan_out.hit(n.external_hosts),
                None,
                Some(Reason::OutboundFanOut),
                "distinct external hosts",
                n.external_hosts,
                &c.outbound_fan_out,
                Detail::None,
            ),
        ];
        let action = if inbound {
            Action::Block
        } else {
            Action::Quarantine
        };
        for k in checks {
            let Some(reason) = (if inbound { k.inbound } else { k.home }).filter(|_| k.hit) else {
                continue;
            };
            return Some(Proposal {
                target: src,
                direction: dir,
                time_us: t,
                action,
                reason,
                counter: k.counter,
                observed: k.observed,
                threshold: k.th.threshold,
                window: k.th.window,
                detail: k.detail.describe(),
                confidence: threshold_confidence(k.observed, k.th.threshold),
                example_flow_ids: Vec::new(),
                model: None,
                limit: None,
            });
        }
        None
    }

    fn on_http(&mut self, rec: &EveRecord<'_>) -> Option<Proposal> {
        self.stats.http += 1;
        let (Some(src), Some(dst), Some(t)) = (rec.src_ip, rec.dest_ip, rec.timestamp) else {
            self.stats.incomplete += 1;
            return None;
        };
        let dir = self.net.direction(src, dst);
        if dir != Direction::Inbound || !self.cfg.http_flood.enabled {
            return None;
        }
        let t = t.micros();
        let slot = Threshold::new(self.cfg.http_flood.window, 0).slot_us();
        self.make_room(src, t);
        let s = &mut self.sources.get_or_default(src).win;
        s.touch(t, rec.flow_id);
        let n = s.http_events.add(t, slot) as u64;
        let hf = &self.cfg.http_flood;
        if !self.cfg.heuristics || n < hf.events {
            return None;
        }
        let proposal = Proposal {
            target: src,
            direction: dir,
            time_us: t,
            action: Action::Block,
            reason: Reason::HttpFlood,
            counter: "http requests",
            observed: n,
            threshold: hf.events,
            window: hf.window,
            detail: rec
                .http
                .as_ref()
                .and_then(|h| h.hostname.as_ref())
                .map(|h| format!("host {h}")),
            confidence: threshold_confidence(n, hf.events),
            example_flow_ids: Vec::new(),
            model: None,
            limit: None,
        };
        Some(self.with_examples(proposal))
    }

    fn on_alert(&mut self, rec: &EveRecord<'_>) -> Option<Proposal> {
        self.stats.alerts += 1;
        let (Some(src), Some(dst), Some(t), Some(alert)) =
            (rec.src_ip, rec.dest_ip, rec.timestamp, rec.alert.as_ref())
        else {
            self.stats.incomplete += 1;
            return None;
        };
        let ap = &self.cfg.alert;
        if !self.cfg.heuristics {
            return None;
        }
        let severity = alert.severity.unwrap_or(u8::MAX);
        let sid = alert.signature_id.unwrap_or(0);
        let listed = ap.sids.contains(&sid);
        if !ap.enabled || !(severity <= ap.max_severity || listed) {
            return None;
        }
        let dir = self.net.direction(src, dst);
        // The external side is the one to block; between two home hosts, only record.
        let (target, action) = match dir {
            Direction::Inbound => (src, Action::Block),
            Direction::Outbound => (dst, Action::Block),
            Direction::Internal => (src, Action::AlertOnly),
            Direction::Transit => {
                self.stats.transit += 1;
                return None;
            }
        };
        let t = t.micros();
        self.newest = self.newest.max(t);
        let confidence = match severity {
            1 => 0.9,
            2 => 0.75,
            _ => 0.6,
        };
        Some(Proposal {
            target,
            direction: dir,
            time_us: t,
            action,
            reason: Reason::SuricataAlert,
            counter: if listed {
                "listed signature id"
            } else {
                "alert severity"
            },
            observed: severity as u64,
            threshold: ap.max_severity as u64,
            window: 0.0,
            detail: Some(format!(
                "sid {sid}: {}{}",
                alert
                    .signature
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                alert
                    .context
                    .map(|c| intel_context(c.get()))
                    .unwrap_or_default()
            )),
            confidence,
            example_flow_ids: rec.flow_id.into_iter().collect(),
            model: None,
            limit: None,
        })
    }

    /// The flow ids of a source's latest records (most recent last), for evidence.
    pub fn examples(&self, src: IpAddr) -> Vec<u64> {
        self.sources
            .get(src)
            .map(|s| s.win.examples())
            .unwrap_or_default()
    }

    fn with_examples(&self, mut p: Proposal) -> Proposal {
        p.example_flow_ids = self.examples(p.target);
        p
    }
}

/// The behaviour detectors' part of a source's entry, for records they read without
/// the window heuristics (failed logins); makes room for a new source in a full table
/// first (entries idle since `horizon`, else the least recently seen half).
fn slot_of<'a>(
    sources: &'a mut AddrTable<Box<Slot>>,
    cap: usize,
    horizon: i64,
    evicted: &'a mut u64,
) -> impl FnOnce(IpAddr) -> &'a mut Long {
    move |ip| {
        if sources.len() >= cap && !sources.contains(ip) {
            *evicted += sources.evict_idle(cap, horizon, |s| s.last_seen());
        }
        &mut sources.get_or_default(ip).long
    }
}

/// Files one flow in its source's windows and reads back what the checks compare.
#[allow(clippy::too_many_arguments)]
fn count(
    c: &DetectConfig,
    net: &NetworkModel,
    s: &mut Source,
    dst: IpAddr,
    dir: Direction,
    f: &FlowShape,
    flow_id: Option<u64>,
    t: i64,
) -> Counts {
    let dport = f.dport;
    // Sessions: answered, and for TCP a handshake the client completed (a SYN flood
    // or a SYN scan answered by SYN-ACK is neither a login nor a web request).
    let session = !f.no_reply && !f.syn_only;
    let auth = c.brute_force.enabled
        && f.tcp
        && session
        && c.brute_force.ports.contains(&dport)
        && f.age <= c.brute_force.max_session_secs;
    let web = c.http_flood.enabled && session && c.http_flood.ports.contains(&dport);
    let scan_window = c
        .port_scan
        .window
        .max(c.horizontal_scan.window)
        .max(c.outbound_fan_out.window);
    let (flow_slot, syn_slot, web_slot, auth_slot) = (
        c.connection_rate.slot_us(),
        c.syn_flood.slot_us(),
        Threshold::new(c.http_flood.window, 0).slot_us(),
        Threshold::new(c.brute_force.window, 0).slot_us(),
    );
    let max_targets = c.max_targets;

    s.touch(t, flow_id);
    // Connections that got a reply; unanswered SYNs are the SYN-flood counter's.
    let flows = if f.no_reply || f.syn_only {
        s.flows.total()
    } else {
        s.flows.add(t, flow_slot)
    } as u64;
    let syn = if f.syn_only {
        s.syn_only.add(t, syn_slot)
    } else {
        s.syn_only.total()
    } as u64;
    let web = if web {
        s.web_flows.add(t, web_slot)
    } else {
        s.web_flows.total()
    } as u64;
    let auth = if auth {
        s.auth_sessions.add(t, auth_slot)
    } else {
        s.auth_sessions.total()
    } as u64;
    // Each contact carries whether its host is a home address, looked up once here.
    let dst_home = net.is_home(dst);
    let scan_us = (scan_window * SEC) as i64;
    s.targets.add(dst, dst_home, dport, t, scan_us, max_targets);
    let home = dir != Direction::Inbound;
    if home && f.failed {
        s.failed.get_or_insert_with(Default::default).add(
            dst,
            dst_home,
            dport,
            t,
            scan_us,
            max_targets,
        );
    }
    // An outside source's contacts all count; a home device's only when they failed.
    static NONE: Targets = Targets::EMPTY;
    let scanned = if home {
        s.failed.as_deref().unwrap_or(&NONE)
    } else {
        &s.targets
    };
    Counts {
        flows,
        syn,
        web,
        auth,
        ports: scanned.ports_on(dst) as u64,
        hosts_on_port: scanned.hosts_on(dport, |h| home || h) as u64,
        // Only the fan-out check of a home device reads it.
        external_hosts: if home {
            scanned.hosts(|h| !h) as u64
        } else {
            0
        },
    }
}

/// What a rulesync value's datajson context (Suricata 8, `alert.context`) says of where
/// it came from, for an alert decision's evidence: ` (MISP events E1, E2; sources S)`.
/// Empty when the context is not rulesync's or names nothing.
fn intel_context(raw: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) else {
        return String::new();
    };
    let mut events: Vec<&str> = Vec::new();
    let mut sources: Vec<&str> = Vec::new();
    for key in suriguard_eve::INTEL_CONTEXT_KEYS {
        let c = &v[key];
        for (list, out) in [("misp_events", &mut events), ("sources", &mut sources)] {
            for x in c[list]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str())
            {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
    }
    let mut parts = Vec::new();
    if !events.is_empty() {
        parts.push(format!("MISP events {}", events.join(", ")));
    }
    if !sources.is_empty() {
        parts.push(format!("sources {}", sources.join(", ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;
    use suriguard_decision::{rfc3339, Decision, DecisionConfig};
    use suriguard_eve::EveTime;

    fn flow(src: &str, dst: &str, dport: u16, start_us: i64, syn_only: bool, id: u64) -> String {
        let t = rfc3339(EveTime(start_us)).replace('Z', "+0000");
        let (toclient, flags) = if syn_only { (0, "02") } else { (3, "1b") };
        format!(
            r#"{{"timestamp":"{t}","flow_id":{id},"event_type":"flow","src_ip":"{src}","src_port":40000,"dest_ip":"{dst}","dest_port":{dport},"proto":"TCP","flow":{{"pkts_toserver":1,"pkts_toclient":{toclient},"bytes_toserver":60,"bytes_toclient":0,"start":"{t}","end":"{t}","age":1,"state":"new"}},"tcp":{{"tcp_flags":"{flags}","tcp_flags_ts":"{flags}","tcp_flags_tc":"00"}}}}"#
        )
    }

    /// The engine behind the pipeline's gate, as every driver runs it.
    fn engine(tweak: impl FnOnce(&mut DetectConfig)) -> Pipeline {
        let mut cfg = DetectConfig::default();
        tweak(&mut cfg);
        Pipeline::with_parts(cfg, NetworkModel::default(), DecisionConfig::default())
    }

    fn feed(e: &mut Pipeline, recs: &[String]) -> Vec<Decision> {
        for r in recs {
            e.handle(r.as_bytes()).unwrap();
        }
        e.drain_decisions().collect()
    }

    const T0: i64 = 1_700_000_000_000_000;

    /// A threshold its counter cannot reach is refused, naming the key and the ceiling;
    /// the ceilings themselves are accepted.
    #[test]
    fn thresholds_that_could_never_trip_are_refused() {
        use suriguard_config::Section;
        let check = |tweak: &dyn Fn(&mut DetectConfig)| {
            let mut c = DetectConfig::default();
            tweak(&mut c);
            c.validate()
        };
        assert!(check(&|_| {}).is_ok());
        // Windows between 1 s and a day, in the engine's and the behaviour detectors' parts.
        assert!(check(&|c| c.port_scan.window = 86_400.0).is_ok());
        let e = check(&|c| c.port_scan.window = 86_401.0).unwrap_err();
        assert_eq!(
            e,
            "[detect] port-scan.window must be between 1 and 86400 seconds, got 86401"
        );
        let e = check(&|c| c.slow_scan.window = 0.5).unwrap_err();
        assert!(
            e.starts_with("[detect] slow-scan.window must be between 1 and 86400"),
            "{e}"
        );
        assert!(check(&|c| c.syn_flood.threshold = WindowCount::MAX).is_ok());
        let e = check(&|c| c.syn_flood.threshold = WindowCount::MAX + 1).unwrap_err();
        assert!(
            e.contains("syn-flood.threshold") && e.contains("524280"),
            "{e}"
        );
        let e = check(&|c| c.login_guessing.long_threshold = 1 << 40).unwrap_err();
        assert!(e.contains("login-guessing.long-threshold"), "{e}");
        assert!(check(&|c| c.port_scan.threshold = 128).is_ok());
        let e = check(&|c| c.port_scan.threshold = 129).unwrap_err();
        assert!(
            e.contains("port-scan.threshold (129)") && e.contains("max-targets (128)"),
            "{e}"
        );
        let e = check(&|c| c.max_targets = 10).unwrap_err();
        assert!(e.contains("port-scan.threshold (20)"), "{e}");
        let e = check(&|c| c.slow_scan.max_contacts = 16).unwrap_err();
        assert!(
            e.contains("slow-scan.threshold (40)") && e.contains("slow-scan.max-contacts (16)"),
            "{e}"
        );
    }

    #[test]
    fn syn_flood_blocks_the_source_once() {
        let mut e = engine(|_| {});
        let recs: Vec<String> = (0..250)
            .map(|i| {
                flow(
                    "203.0.113.7",
                    "192.168.1.10",
                    443,
                    T0 + i * 5_000,
                    true,
                    i as u64,
                )
            })
            .collect();
        let ds = feed(&mut e, &recs);
        assert_eq!(ds.len(), 1, "{ds:?}");
        let d = &ds[0];
        assert_eq!(
            (d.action, d.reason, d.direction),
            (Action::Block, Reason::SynFlood, Direction::Inbound)
        );
        assert_eq!(d.target.to_string(), "203.0.113.7");
        assert_eq!(d.evidence.observed, 200);
        assert_eq!(d.evidence.threshold, 200);
        assert_eq!(d.evidence.example_flow_ids, vec![196, 197, 198, 199]);
        assert_eq!(d.confidence, 0.75);
        assert!(
            d.summary
                .contains("200 SYN-only flows (handshake never completed) within 3 s"),
            "{}",
            d.summary
        );
        assert_eq!(e.engine_stats().unwrap().gate.suppressed_cooldown, 50);
    }

    /// A device whose clock ran from 1970 until it was set to now: its counters start
    /// afresh, even when the jump is a whole number of 2³² slots minus a few (where the
    /// 32-bit slot numbers alone would read the new records as late ones).
    #[test]
    fn a_clock_set_from_1970_to_now_starts_the_counters_afresh() {
        let mut e = engine(|_| {});
        let slot_us = 3 * 1_000_000 / SLOTS as i64;
        let then = 10 * 1_000_000;
        let now = then + ((1i64 << 32) - 100) * slot_us;
        let recs: Vec<String> = (0..150)
            .map(|i| {
                flow(
                    "203.0.113.7",
                    "192.168.1.10",
                    443,
                    then + i * 5_000,
                    true,
                    i as u64,
                )
            })
            .chain((0..250).map(|i| {
                flow(
                    "203.0.113.7",
                    "192.168.1.10",
                    443,
                    now + i * 5_000,
                    true,
                    1000 + i as u64,
                )
            }))
            .collect();
        let ds = feed(&mut e, &recs);
        assert_eq!(ds.len(), 1, "{ds:?}");
        assert_eq!(ds[0].reason, Reason::SynFlood);
        assert_eq!(ds[0].evidence.observed, 200);
        assert_eq!(
            ds[0].evidence.example_flow_ids,
            vec![1196, 1197, 1198, 1199]
        );
    }

    #[test]
    fn slow_syns_stay_below_the_window() {
        let mut e = engine(|_| {});
        // 300 SYNs, one every 20 ms: at most 150 in any 3 s window.
        let recs: Vec<String> = (0..300)
            .map(|i| {
                flow(
                    "203.0.113.7",
                    "192.168.1.10",
                    443,
                    T0 + i * 20_000,
                    true,
                    i as u64,
                )
            })
            .collect();
        assert!(feed(&mut e, &recs).is_empty());
    }

    /// An idle source's contact lists are freed once their windows and the margin have
    /// passed (every minute of EVE time), its entry kept; its next contacts make them
    /// again and count as they would have: a scan after the pause is caught, the
    /// contacts before it are not added to it.
    #[test]
    fn an_idle_sources_contact_lists_are_freed_and_made_again() {
        let mut e = engine(|c| c.connection_rate.enabled = false);
        let a: IpAddr = "198.51.100.9".parse().unwrap();
        let held = |e: &Pipeline| {
            let slot = e.engine().unwrap().sources.get(a).unwrap();
            (slot.win.targets.heap_bytes(), slot.long.contacts.capacity())
        };
        let probe = |from: i64, ports: std::ops::Range<u16>| -> Vec<String> {
            ports
                .map(|p| {
                    flow(
                        "198.51.100.9",
                        "192.168.1.20",
                        1000 + p,
                        from + i64::from(p) * 1000,
                        true,
                        u64::from(p),
                    )
                })
                .collect()
        };
        // 15 ports, below the port-scan threshold (20).
        assert!(feed(&mut e, &probe(T0, 0..15)).is_empty());
        let (targets, contacts) = held(&e);
        assert!(targets > 0 && contacts > 0);
        // Another source, once a minute: the clock moves on.
        let tick = |e: &mut Pipeline, minutes: std::ops::Range<i64>| {
            let recs: Vec<String> = minutes
                .map(|m| {
                    // A new host each time: regular contacts to one would be a beacon.
                    let dst = format!("203.0.113.{}", 100 + m);
                    flow(
                        "192.168.1.30",
                        &dst,
                        443,
                        T0 + m * 60 * 1_000_000,
                        false,
                        9000 + m as u64,
                    )
                })
                .collect();
            assert!(feed(e, &recs).is_empty());
        };
        tick(&mut e, 1..10);
        assert_eq!(
            held(&e).0,
            targets,
            "within the margin the window's list stays"
        );
        tick(&mut e, 10..13);
        assert_eq!(held(&e), (0, contacts), "the window's list goes first");
        let released = e.engine_stats().unwrap().idle_lists_released;
        assert!(released >= 1);
        tick(&mut e, 13..30);
        assert_eq!(
            held(&e),
            (0, 0),
            "then the slow-scan contacts (15 minutes and the margin), none answered"
        );
        assert!(e.engine_stats().unwrap().idle_lists_released > released);
        // Back after 30 minutes: 15 new ports are not a scan (nor would they have been
        // with the old contacts kept: they left every window), 25 are.
        let back = T0 + 30 * 60 * 1_000_000;
        assert!(feed(&mut e, &probe(back, 15..30)).is_empty());
        let ds = feed(&mut e, &probe(back + 60_000_000, 30..55));
        assert_eq!(ds.len(), 1, "{ds:?}");
        assert_eq!(
            (ds[0].reason, ds[0].evidence.observed),
            (Reason::PortScan, 20)
        );
    }

    #[test]
    fn port_scan_and_outbound_quarantine() {
        let mut e = engine(|c| c.connection_rate.enabled = false);
        let scan: Vec<String> = (0..25)
            .map(|p| {
                flow(
                    "198.51.100.9",
                    "192.168.1.20",
                    1000 + p,
                    T0 + p as i64 * 1000,
                    true,
                    p as u64,
                )
            })
            .collect();
        let ds = feed(&mut e, &scan);
        assert_eq!(ds.len(), 1);
        assert_eq!(
            (ds[0].reason, ds[0].evidence.observed),
            (Reason::PortScan, 20)
        );

        // A home device scanning outward is quarantined, the remote side untouched.
        let out: Vec<String> = (0..25)
            .map(|p| {
                flow(
                    "192.168.1.50",
                    "203.0.113.80",
                    1000 + p,
                    T0 + p as i64 * 1000,
                    true,
                    p as u64,
                )
            })
            .collect();
        let ds = feed(&mut e, &out);
        assert_eq!(ds.len(), 1);
        assert_eq!(
            (ds[0].action, ds[0].reason),
            (Action::Quarantine, Reason::OutboundScan)
        );
        assert_eq!(ds[0].target.to_string(), "192.168.1.50");
        let f = e
            .engine()
            .unwrap()
            .source_features("192.168.1.50".parse().unwrap())
            .unwrap();
        assert_eq!(f, [0.0, 25.0, 0.0, 0.0, 0.0, 25.0, 1.0]);
        assert!(e
            .engine()
            .unwrap()
            .source_features("192.0.2.99".parse().unwrap())
            .is_none());
    }

    #[test]
    fn horizontal_scan_over_home_hosts() {
        let mut e = engine(|_| {});
        let recs: Vec<String> = (0..20)
            .map(|h| {
                flow(
                    "203.0.113.5",
                    &format!("192.168.1.{}", 10 + h),
                    23,
                    T0 + h as i64 * 1000,
                    true,
                    h as u64,
                )
            })
            .collect();
        let ds = feed(&mut e, &recs);
        assert_eq!(ds.len(), 1);
        assert_eq!(
            (ds[0].reason, ds[0].evidence.observed),
            (Reason::HorizontalScan, 16)
        );
    }

    #[test]
    fn allowlisted_and_own_sources_are_never_decided() {
        let net = NetworkModel::new(
            suriguard_net::default_home_networks(),
            vec!["203.0.113.0/24".parse().unwrap()],
            vec!["192.168.1.1".parse().unwrap()],
        );
        let mut e = Pipeline::with_parts(DetectConfig::default(), net, DecisionConfig::default());
        let mut recs: Vec<String> = (0..250)
            .map(|i| {
                flow(
                    "203.0.113.7",
                    "192.168.1.10",
                    443,
                    T0 + i * 5_000,
                    true,
                    i as u64,
                )
            })
            .collect();
        recs.extend((0..250).map(|i| {
            flow(
                "192.168.1.1",
                "203.0.113.200",
                443,
                T0 + i * 5_000,
                true,
                i as u64,
            )
        }));
        assert!(feed(&mut e, &recs).is_empty());
        assert!(e.engine_stats().unwrap().gate.refused_protected > 0);
    }

    #[test]
    fn alert_fast_path_by_severity_and_sid() {
        let mut e = engine(|c| c.alert.sids = vec![4242]);
        let alert = |sid: u32, sev: u8, src: &str, dst: &str| {
            format!(
                r#"{{"timestamp":"2024-01-01T00:00:00.000000+0000","flow_id":9,"event_type":"alert","src_ip":"{src}","dest_ip":"{dst}","proto":"TCP","alert":{{"signature_id":{sid},"severity":{sev},"signature":"test sig"}}}}"#
            )
        };
        let ds = feed(
            &mut e,
            &[
                alert(1, 3, "203.0.113.1", "192.168.1.2"), // severity 3: no
                alert(2, 1, "203.0.113.2", "192.168.1.2"), // severity 1: block src
                alert(4242, 3, "203.0.113.3", "192.168.1.2"), // listed sid: block src
                alert(3, 1, "192.168.1.2", "203.0.113.4"), // outbound: block the remote
            ],
        );
        let got: Vec<(String, Action)> = ds
            .iter()
            .map(|d| (d.target.to_string(), d.action))
            .collect();
        assert_eq!(
            got,
            vec![
                ("203.0.113.2".into(), Action::Block),
                ("203.0.113.3".into(), Action::Block),
                ("203.0.113.4".into(), Action::Block)
            ]
        );
        assert_eq!(ds[0].evidence.detail.as_deref(), Some("sid 2: test sig"));
    }

    /// Suricata 8: an alert from a rulesync set names the MISP events of the value it
    /// matched, and the decision's evidence says so.
    #[test]
    fn an_alerts_intel_context_reaches_the_evidence() {
        let mut e = engine(|_| {});
        let rec = r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","flow_id":9,"event_type":"alert","src_ip":"45.9.148.108","dest_ip":"192.168.1.2","proto":"TCP","alert":{"signature_id":9700001,"severity":1,"signature":"SURIGUARD threat intel: traffic from a known-bad address","metadata":{"suriguard_set":["suriguard-ip-src-v4"]},"context":{"suriguard":{"value":"45.9.148.108","sources":["fleet"],"misp_events":["0b8d-ev"],"misp_attributes":["a1"]}}}}"#;
        let ds = feed(&mut e, &[rec.to_string()]);
        assert_eq!(ds.len(), 1);
        assert_eq!(
            ds[0].evidence.detail.as_deref(),
            Some("sid 9700001: SURIGUARD threat intel: traffic from a known-bad address (MISP events 0b8d-ev; sources fleet)")
        );
        assert_eq!(intel_context(r#"{"other":{"x":1}}"#), "");
        assert_eq!(intel_context("not json"), "");
    }

    #[test]
    fn spoofed_flood_respects_caps_and_bounded_memory() {
        let mut e = Pipeline::with_parts(
            DetectConfig {
                max_sources: 1_000,
                ..Default::default()
            },
            NetworkModel::default(),
            DecisionConfig {
                max_per_minute: 5,
                max_active: 8,
                ..Default::default()
            },
        );
        // 50,000 spoofed sources, one SYN each: no single source reaches a threshold.
        let recs: Vec<String> = (0..50_000u32)
            .map(|i| {
                let src = std::net::Ipv4Addr::from(0xC612_0000u32 + i + 1); // 198.18.0.0/15
                let r = flow(
                    &src.to_string(),
                    "192.168.1.10",
                    80,
                    T0 + i as i64 * 10,
                    true,
                    i as u64,
                );
                // The victim exists: now and then its SYN-ACK makes it into a record.
                if i % 50 == 0 {
                    r.replace(r#""pkts_toclient":0"#, r#""pkts_toclient":1"#)
                        .replace(r#""tcp_flags_tc":"00""#, r#""tcp_flags_tc":"12""#)
                } else {
                    r
                }
            })
            .collect();
        // One rate limit on the target, nothing against the spoofed sources.
        let ds = feed(&mut e, &recs);
        let got: Vec<_> = ds.iter().map(|d| (d.target, d.action, d.reason)).collect();
        assert_eq!(
            got,
            [(
                "192.168.1.10".parse().unwrap(),
                Action::RateLimit,
                Reason::FloodTarget
            )]
        );
        assert!(e.engine().unwrap().tracked_sources() <= 1_000);
        assert!(e.engine_stats().unwrap().sources_evicted >= 49_000);
    }

    #[test]
    fn connection_rate_counts_answered_flows() {
        let mut e = engine(|_| {});
        let recs: Vec<String> = (0..45)
            .map(|i| {
                flow(
                    "203.0.113.8",
                    "192.168.1.10",
                    8883,
                    T0 + i * 100_000,
                    false,
                    i as u64,
                )
            })
            .collect();
        let ds = feed(&mut e, &recs);
        assert_eq!(ds.len(), 1);
        assert_eq!(
            (ds[0].reason, ds[0].evidence.observed),
            (Reason::ConnectionRate, 40)
        );
    }

    #[test]
    fn transit_is_ignored() {
        let mut e = engine(|_| {});
        let recs: Vec<String> = (0..250)
            .map(|i| {
                flow(
                    "203.0.113.7",
                    "198.51.100.5",
                    443,
                    T0 + i * 5_000,
                    true,
                    i as u64,
                )
            })
            .collect();
        assert!(feed(&mut e, &recs).is_empty());
        assert_eq!(e.engine_stats().unwrap().transit, 250);
    }
}
#[cfg(test)]
mod size {
    /// The per-source memory the docs state: the table's bucket (address and box, per
    /// family), and the boxed entry.
    #[test]
    fn source_state_stays_small() {
        assert_eq!(
            std::mem::size_of::<(std::net::Ipv4Addr, Box<super::Slot>)>(),
            16
        );
        assert_eq!(
            std::mem::size_of::<(std::net::Ipv6Addr, Box<super::Slot>)>(),
            24
        );
        assert_eq!(std::mem::size_of::<super::Source>(), 192);
        // The entry: the windows and the behaviour detectors' part together.
        assert_eq!(std::mem::size_of::<super::Slot>(), 264);
    }
}
