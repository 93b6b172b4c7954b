//! Decisions: what suriguard concluded about one address, why, and how sure it is.
//!
//! The detection pipeline's heuristics and model stage make [`Proposal`]s; the pipeline's
//! one [`Gate`] refuses protected targets, applies cooldown and caps, and turns what it
//! admits into a [`Decision`], so a flood from spoofed sources cannot fill the block set.
//! A decision is written once, as one JSON line, to the decisions journal in the state
//! directory ([`DecisionLog`]); enforcement and `suriguardctl` read that journal (one
//! source of truth).

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use suriguard_eve::EveTime;
use suriguard_net::Direction;

/// What to do about the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Drop traffic from a remote address.
    Block,
    /// Cut a home device off from the outside (it looks compromised).
    Quarantine,
    /// Record only.
    AlertOnly,
    /// Limit new connections to one service of the target (a home host under a flood from
    /// many, often spoofed, sources): the decision's [`Limit`] names the service.
    RateLimit,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Quarantine => "quarantine",
            Action::AlertOnly => "alert-only",
            Action::RateLimit => "rate-limit",
        }
    }

    /// Block, quarantine and rate-limit change the firewall; alert-only does not.
    pub fn enforces(self) -> bool {
        !matches!(self, Action::AlertOnly)
    }

    /// How much a decision in force holds back later ones about the same target: a
    /// proposal is suppressed while a decision of at least its own strength is in force
    /// (an alert does not hold back a rate limit, a rate limit does not hold back a block
    /// or a quarantine).
    fn strength(self) -> u8 {
        match self {
            Action::AlertOnly => 0,
            Action::RateLimit => 1,
            Action::Block | Action::Quarantine => 2,
        }
    }
}

/// A transport protocol a rate limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    Tcp,
    Udp,
}

impl L4 {
    pub fn as_str(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        }
    }

    /// The IANA protocol number (what nftables' `meta l4proto` compares).
    pub fn number(self) -> u8 {
        match self {
            L4::Tcp => 6,
            L4::Udp => 17,
        }
    }
}

/// What a rate-limit decision limits: new connections (flows) to this protocol and
/// destination port of the target. Written `tcp/80`; serialized as
/// `{"proto":"tcp","port":80}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Limit {
    pub proto: L4,
    pub port: u16,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.proto.as_str(), self.port)
    }
}

/// Why, as a stable machine-readable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    SynFlood,
    HttpFlood,
    PortScan,
    HorizontalScan,
    ConnectionRate,
    BruteForce,
    SuricataAlert,
    OutboundScan,
    OutboundFanOut,
    /// The model stage: enough malicious model verdicts within the policy's window.
    Model,
    /// Failed contacts to many distinct hosts or ports over minutes.
    SlowScan,
    /// Many probing sessions to one service (nmap -sV, -A).
    ServiceScan,
    /// Probes that only scanners send (nmap's host discovery, half-open SYNs).
    ScanProbes,
    /// Regular contacts from one device to one remote host.
    Beaconing,
    /// DNS queries that carry data: many long or unusual names under one domain.
    DnsTunnel,
    /// A home host under a flood from many (often spoofed) sources.
    FloodTarget,
    /// A home device sending far more than its own history.
    VolumeAnomaly,
    /// Whoever logs into the honeypot (Cowrie): nobody legitimate does.
    Honeypot,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynFlood => "syn-flood",
            Reason::HttpFlood => "http-flood",
            Reason::PortScan => "port-scan",
            Reason::HorizontalScan => "horizontal-scan",
            Reason::ConnectionRate => "connection-rate",
            Reason::BruteForce => "brute-force",
            Reason::SuricataAlert => "suricata-alert",
            Reason::OutboundScan => "outbound-scan",
            Reason::OutboundFanOut => "outbound-fan-out",
            Reason::Model => "model",
            Reason::SlowScan => "slow-scan",
            Reason::ServiceScan => "service-scan",
            Reason::ScanProbes => "scan-probes",
            Reason::Beaconing => "beaconing",
            Reason::DnsTunnel => "dns-tunnel",
            Reason::FloodTarget => "flood-target",
            Reason::VolumeAnomaly => "volume-anomaly",
            Reason::Honeypot => "honeypot",
        }
    }
}

/// The numbers behind a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was counted.
    pub counter: String,
    pub observed: u64,
    pub threshold: u64,
    pub window_secs: f64,
    /// Flow ids of records that contributed (most recent last), for lookup in eve.json.
    pub example_flow_ids: Vec<u64>,
    /// Alert signature, destination, port... whatever makes this decision concrete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For decisions of the model stage: which model, and the verdicts that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelEvidence>,
    /// For honeypot decisions: what the source did in the honeypot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honeypot: Option<Box<HoneypotEvidence>>,
}

/// What a source did in the honeypot before it was decided on (each list bounded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoneypotEvidence {
    /// `ssh` or `telnet`.
    pub protocol: String,
    /// The honeypot's name (Cowrie's `sensor`).
    pub sensor: String,
    /// The honeypot address and port that was touched.
    pub honeypot: String,
    /// Cowrie session ids.
    pub sessions: Vec<String>,
    /// Every login tried, in order.
    pub logins: Vec<HoneypotLogin>,
    /// Commands typed after logging in.
    pub commands: Vec<String>,
    /// Files the source made the honeypot fetch (`wget`, `curl`, `tftp`, uploads).
    pub downloads: Vec<HoneypotDownload>,
    /// Events of the source that were not kept because a list was full.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One login attempt in the honeypot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoneypotLogin {
    pub username: String,
    pub password: String,
    pub success: bool,
}

/// One file fetched through the honeypot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoneypotDownload {
    /// Absent for uploads (scp, sftp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SHA-256 of the file, as Cowrie computed it (absent when the fetch failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The model verdicts behind a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEvidence {
    /// The model's name and version from its metadata.
    pub model: String,
    /// The policy: this many verdicts with at least this confidence within the window.
    pub min_confidence: f64,
    pub verdicts: Vec<ModelVerdict>,
}

/// One malicious verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVerdict {
    /// EVE time of the flow the model judged (RFC 3339, UTC).
    pub time: String,
    /// The most likely non-benign class.
    pub class: String,
    /// 1 - p(benign), rounded to 4 places.
    pub confidence: f64,
    /// Flows of the source the model read (its sequence length, or fewer for a new
    /// source).
    pub steps: u32,
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Stable id: the same capture replayed gives the same ids.
    pub id: String,
    /// EVE time of the record that tipped the decision (RFC 3339, UTC).
    pub time: String,
    /// The same instant in microseconds since the epoch.
    pub time_us: i64,
    pub target: IpAddr,
    pub action: Action,
    /// What a `rate-limit` decision limits (absent for every other action, and in
    /// journals written before rate limits existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    pub reason: Reason,
    pub direction: Direction,
    /// One sentence for people.
    pub summary: String,
    pub evidence: Evidence,
    /// Seconds the decision stays in force.
    pub ttl: u64,
    /// 0..1: how far past its threshold the evidence is (0.75 at the threshold).
    pub confidence: f64,
    /// Logged and shown, never enforced.
    pub dry_run: bool,
}

impl Decision {
    /// Deterministic id from what identifies the decision.
    pub fn make_id(target: IpAddr, reason: Reason, time_us: i64) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(target.to_string().as_bytes());
        eat(reason.as_str().as_bytes());
        eat(&time_us.to_le_bytes());
        format!("{h:016x}")
    }

    pub fn expires_us(&self) -> i64 {
        self.time_us + self.ttl as i64 * 1_000_000
    }
}

/// Confidence of a threshold heuristic: 0.75 at the threshold, towards 1 beyond it.
pub fn threshold_confidence(observed: u64, threshold: u64) -> f64 {
    if observed == 0 {
        return 0.0;
    }
    let c = 1.0 - 0.25 * threshold.max(1) as f64 / observed as f64;
    (c.clamp(0.0, 0.99) * 100.0).round() / 100.0
}

/// Decision settings (`[decisions]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DecisionConfig {
    /// Seconds a decision stays in force.
    pub ttl: u64,
    /// Never more than this many decisions in force at once.
    pub max_active: usize,
    /// Never more than this many new decisions per minute of EVE time.
    pub max_per_minute: u32,
    /// Log and show decisions but never enforce them.
    pub dry_run: bool,
    /// The decisions journal (JSON lines); default `<state-dir>/decisions.jsonl`.
    pub log: Option<PathBuf>,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            ttl: 3600,
            max_active: 10_000,
            max_per_minute: 120,
            dry_run: false,
            log: None,
        }
    }
}

impl suriguard_config::Section for DecisionConfig {
    const NAME: &'static str = "decisions";

    fn validate(&self) -> Result<(), String> {
        if self.ttl == 0 {
            return Err("[decisions] ttl must be at least 1 second".into());
        }
        Ok(())
    }

    fn resolve_paths(&mut self, dir: &Path) {
        if let Some(p) = &mut self.log {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

/// A would-be decision, before the gate: what a heuristic or the model stage saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub target: IpAddr,
    pub direction: Direction,
    /// EVE time of the record that tipped it, microseconds.
    pub time_us: i64,
    pub action: Action,
    /// The service a `rate-limit` proposal limits; `None` for every other action (a
    /// rate limit without one is made an alert).
    pub limit: Option<Limit>,
    pub reason: Reason,
    /// What was counted, for people ("distinct ports on one host").
    pub counter: &'static str,
    pub observed: u64,
    pub threshold: u64,
    pub window: f64,
    /// Host, port, signature... whatever makes it concrete.
    pub detail: Option<String>,
    pub confidence: f64,
    /// Flow ids of records that contributed (most recent last).
    pub example_flow_ids: Vec<u64>,
    /// The model verdicts, for the model stage's proposals.
    pub model: Option<ModelEvidence>,
}

impl Proposal {
    /// The one-sentence summary of the decision this would become.
    fn summary(&self) -> String {
        // A rate limit names its service: "rate-limit 192.168.1.10 tcp/80: ...".
        let target = match self.limit {
            Some(l) if self.action == Action::RateLimit => format!("{} {l}", self.target),
            _ => self.target.to_string(),
        };
        match self.reason {
            Reason::SuricataAlert => format!(
                "{} {target}: Suricata alert ({}){}",
                self.action.as_str(),
                self.detail.as_deref().unwrap_or(""),
                if self.counter == "alert severity" {
                    format!(", severity {}", self.observed)
                } else {
                    String::new()
                }
            ),
            _ => format!(
                "{} {target}: {} {} within {} s (threshold {}){}",
                self.action.as_str(),
                self.observed,
                self.counter,
                self.window,
                self.threshold,
                self.detail
                    .as_deref()
                    .map(|d| format!(", {d}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Why a would-be decision was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The target must never be blocked (allowlist, own address, ...).
    Protected(&'static str),
    /// A decision against the target is already in force.
    Cooldown,
    /// `max-per-minute` reached.
    RateLimited,
    /// `max-active` reached.
    Capped,
}

/// Counters of what the gate did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateStats {
    pub admitted: u64,
    pub refused_protected: u64,
    pub suppressed_cooldown: u64,
    pub rate_limited: u64,
    pub capped: u64,
    /// Rate limits made alerts instead: the target is protected, or `max-per-minute` /
    /// `max-active` left no room for another enforcing decision.
    #[serde(default)]
    pub downgraded: u64,
}

/// Alert-only decisions the gate keeps in force (for their cooldown) at most, besides the
/// enforcing ones.
pub const MAX_ALERTS: usize = 10_000;

/// Cooldown and caps, on EVE time.
#[derive(Debug, Clone)]
pub struct Gate {
    cfg: DecisionConfig,
    /// Target -> (in force until, [`Action::strength`] of that decision).
    active: HashMap<IpAddr, (i64, u8)>,
    minute: i64,
    in_minute: u32,
    pub stats: GateStats,
}

impl Gate {
    pub fn new(cfg: DecisionConfig) -> Self {
        Gate {
            cfg,
            active: HashMap::new(),
            minute: i64::MIN,
            in_minute: 0,
            stats: GateStats::default(),
        }
    }

    pub fn config(&self) -> &DecisionConfig {
        &self.cfg
    }

    /// True when a block or quarantine of `target` is in force at `now_us`; an alert
    /// does not count, nor does a rate limit (it limits traffic *to* the target, whose
    /// own traffic is still worth scoring).
    pub fn is_active(&self, target: IpAddr, now_us: i64) -> bool {
        self.active.get(&target).is_some_and(|&(until, strength)| {
            strength >= Action::Block.strength() && until > now_us
        })
    }

    /// True when a decision in force at `now_us` would hold back a decision with
    /// `action` against `target` (its cooldown): one at least as strong.
    pub fn holds_back(&self, target: IpAddr, now_us: i64, action: Action) -> bool {
        self.active
            .get(&target)
            .is_some_and(|&(until, strength)| until > now_us && strength >= action.strength())
    }

    /// Checks cooldown and caps for an enforcing decision against `target` at `now_us`;
    /// on success the decision counts as in force until `now_us + ttl`.
    pub fn admit(
        &mut self,
        target: IpAddr,
        now_us: i64,
        protected: Option<&'static str>,
    ) -> Result<(), Refusal> {
        self.admit_action(target, now_us, protected, Action::Block)
    }

    /// [`Gate::admit`] for any action: an alert-only decision in force does not hold
    /// back a later block or quarantine of the same target (the evidence got stronger),
    /// but it does hold back further alerts; a rate limit in force holds back alerts and
    /// rate limits, not a block or quarantine. Rate limits are enforcing decisions: they
    /// count against `max-per-minute` and `max-active`, and a protected target refuses
    /// them ([`Gate::decide`] makes such a rate limit an alert instead).
    pub fn admit_action(
        &mut self,
        target: IpAddr,
        now_us: i64,
        protected: Option<&'static str>,
        action: Action,
    ) -> Result<(), Refusal> {
        let enforcing = action.enforces();
        let strength = action.strength();
        let refusal = self.check(target, now_us, protected, strength);
        match refusal {
            Err(Refusal::Protected(_)) => self.stats.refused_protected += 1,
            Err(Refusal::Cooldown) => self.stats.suppressed_cooldown += 1,
            Err(Refusal::RateLimited) => self.stats.rate_limited += 1,
            Err(Refusal::Capped) => self.stats.capped += 1,
            Ok(()) => {
                self.stats.admitted += 1;
                if enforcing {
                    self.in_minute += 1;
                }
                self.active
                    .insert(target, (now_us + self.cfg.ttl as i64 * 1_000_000, strength));
            }
        }
        refusal
    }

    fn check(
        &mut self,
        target: IpAddr,
        now_us: i64,
        protected: Option<&'static str>,
        strength: u8,
    ) -> Result<(), Refusal> {
        let enforcing = strength > Action::AlertOnly.strength();
        // A protected address is never blocked; an alert about it (a flood against the
        // gateway or an allowlisted server) changes nothing and is still worth telling.
        if let (Some(why), true) = (protected, enforcing) {
            return Err(Refusal::Protected(why));
        }
        if let Some(&(until, in_force)) = self.active.get(&target) {
            if until > now_us && in_force >= strength {
                return Err(Refusal::Cooldown);
            }
        }
        // Alerts change nothing in the firewall: the rate limit and the cap, which keep
        // a flood of spoofed sources from filling the sets, do not apply to them (the
        // cooldown above bounds them to one per target and ttl).
        if !enforcing {
            // Bounded all the same: at most MAX_ALERTS in force besides the enforcing
            // decisions.
            let room = self.cfg.max_active + MAX_ALERTS;
            if self.active.len() >= room {
                self.active.retain(|_, &mut (until, _)| until > now_us);
                if self.active.len() >= room {
                    return Err(Refusal::Capped);
                }
            }
            return Ok(());
        }
        let minute = now_us.div_euclid(60_000_000);
        if minute != self.minute {
            self.minute = minute;
            self.in_minute = 0;
        }
        if self.in_minute >= self.cfg.max_per_minute {
            return Err(Refusal::RateLimited);
        }
        if self.active.len() >= self.cfg.max_active {
            self.active.retain(|_, &mut (until, _)| until > now_us);
            let enforcing_now = self.active.values().filter(|&&(_, s)| s > 0).count();
            if enforcing_now >= self.cfg.max_active {
                return Err(Refusal::Capped);
            }
        }
        Ok(())
    }

    /// Passes a proposal through [`Gate::admit_action`] and, if admitted, makes the
    /// decision. `protected` says why the target must never be decided against, if it
    /// must not.
    ///
    /// A rate limit is never enforced on a protected target, nor beyond `max-per-minute`
    /// or `max-active`: it becomes an alert-only decision instead (its detail says why),
    /// so a flood's victim is always reported, as alerts about protected targets are.
    pub fn decide(&mut self, p: Proposal, protected: Option<&'static str>) -> Option<Decision> {
        if p.action == Action::RateLimit {
            let why = match (protected, p.limit) {
                (Some(why), _) => Some(why),
                (None, None) => Some("no service to limit"),
                (None, Some(_)) => None,
            };
            if let Some(why) = why {
                return self.downgrade(p, protected, why);
            }
        }
        match self.admit_action(p.target, p.time_us, protected, p.action) {
            Ok(()) => {}
            Err(Refusal::RateLimited) if p.action == Action::RateLimit => {
                return self.downgrade(p, protected, "max-per-minute reached");
            }
            Err(Refusal::Capped) if p.action == Action::RateLimit => {
                return self.downgrade(p, protected, "max-active reached");
            }
            Err(_) => return None,
        }
        Some(self.decision(p))
    }

    /// A rate limit made an alert: admitted as one, its detail saying why it limits
    /// nothing.
    fn downgrade(
        &mut self,
        mut p: Proposal,
        protected: Option<&'static str>,
        why: &str,
    ) -> Option<Decision> {
        p.action = Action::AlertOnly;
        self.admit_action(p.target, p.time_us, protected, p.action)
            .ok()?;
        self.stats.downgraded += 1;
        let note = match p.limit.take() {
            Some(l) => format!("not rate-limited ({l}): {why}"),
            None => format!("not rate-limited: {why}"),
        };
        p.detail = Some(match p.detail.take() {
            Some(d) => format!("{d}; {note}"),
            None => note,
        });
        Some(self.decision(p))
    }

    /// The decision an admitted proposal becomes (for callers that admit first and spell
    /// the proposal out only once admitted).
    pub fn decision(&self, p: Proposal) -> Decision {
        let summary = p.summary();
        let t = p.time_us;
        Decision {
            id: Decision::make_id(p.target, p.reason, t),
            time: rfc3339(EveTime(t)),
            time_us: t,
            target: p.target,
            action: p.action,
            limit: p.limit.filter(|_| p.action == Action::RateLimit),
            reason: p.reason,
            direction: p.direction,
            summary,
            evidence: Evidence {
                counter: p.counter.to_owned(),
                observed: p.observed,
                threshold: p.threshold,
                window_secs: p.window,
                example_flow_ids: p.example_flow_ids,
                detail: p.detail,
                model: p.model,
                honeypot: None,
            },
            ttl: self.cfg.ttl,
            confidence: p.confidence,
            dry_run: self.cfg.dry_run,
        }
    }

    /// Enforcing decisions in force at `now_us`.
    pub fn active_count(&self, now_us: i64) -> usize {
        self.active
            .values()
            .filter(|&&(until, strength)| strength > 0 && until > now_us)
            .count()
    }
}

/// The append-only decisions journal: one JSON object per line, each written whole in
/// one write (decisions are rare; losing one on a crash is worse than a write). A line
/// cut short (a crash, a full disk) never swallows the next decision: the next write
/// starts on a new line. Rotation (logrotate moving the file away, the package's
/// `/etc/logrotate.d/suriguard`) is followed: before each write the path is checked,
/// and when it no longer names the open file the journal is opened again there.
pub struct DecisionLog {
    path: PathBuf,
    file: File,
    /// The file ends in a cut line (at open, or after a failed write).
    torn: bool,
    opened_torn: bool,
}

impl DecisionLog {
    pub fn open(path: &Path) -> std::io::Result<DecisionLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let torn = suriguard_durable::ends_torn(&file)?;
        Ok(DecisionLog {
            path: path.to_owned(),
            file,
            torn,
            opened_torn: torn,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the journal ended in a cut line when it was opened (a crash mid-write).
    pub fn opened_torn(&self) -> bool {
        self.opened_torn
    }

    pub fn append(&mut self, d: &Decision) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(d).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.follow_rotation()?;
        suriguard_durable::append_lines(&mut self.file, &line, &mut self.torn)
    }

    /// Opens the journal again when its path names another file than the open one, or
    /// none (moved or deleted by a rotation): the next line goes where readers look.
    /// Other errors looking at the path keep the open file.
    fn follow_rotation(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt as _;
        let moved = match std::fs::metadata(&self.path) {
            Ok(now) => {
                let open = self.file.metadata()?;
                (now.dev(), now.ino()) != (open.dev(), open.ino())
            }
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if moved {
            let file = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.path)?;
            self.torn = suriguard_durable::ends_torn(&file)?;
            self.file = file;
        }
        Ok(())
    }

    /// Reads every decision of a journal (a torn last line is skipped).
    pub fn read_all(path: &Path) -> std::io::Result<Vec<Decision>> {
        let text = std::fs::read_to_string(path)?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Reads the journal's previous generation (`<path>.1`, which the package's
    /// logrotate rule leaves uncompressed) and then the journal, oldest first. Either may
    /// be missing (right after a rotation there is no journal until the next decision);
    /// both missing is `NotFound`. A previous generation that cannot be read is skipped
    /// with a warning.
    pub fn read_recent(path: &Path) -> std::io::Result<Vec<Decision>> {
        let mut previous = path.as_os_str().to_owned();
        previous.push(".1");
        let missing = |r: std::io::Result<Vec<Decision>>| match r {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        // The previous generation unreadable (its owner or mode changed by hand): the
        // journal alone, said once, rather than nothing.
        let old = match missing(Self::read_all(Path::new(&previous))) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(
                    "cannot read {}: {e}; reading {} only",
                    Path::new(&previous).display(),
                    path.display()
                );
                None
            }
        };
        match (old, missing(Self::read_all(path))?) {
            (None, None) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} (nor {})",
                    path.display(),
                    Path::new(&previous).display()
                ),
            )),
            (a, b) => Ok(a.into_iter().chain(b).flatten().collect()),
        }
    }
}

/// Formats EVE time as RFC 3339 UTC with microseconds.
pub fn rfc3339(t: EveTime) -> String {
    let us = t.micros();
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Inverse of days-from-civil (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rfc3339_round_trips_through_eve_parse() {
        for s in [
            "2016-02-29T15:04:14.000123Z",
            "1970-01-01T00:00:00.000000Z",
            "2023-11-14T22:13:20.171000Z",
        ] {
            let t = EveTime::parse(s).unwrap();
            assert_eq!(rfc3339(t), s);
        }
    }

    #[test]
    fn gate_cooldown_rate_and_cap() {
        let cfg = DecisionConfig {
            ttl: 60,
            max_active: 3,
            max_per_minute: 2,
            ..Default::default()
        };
        let mut g = Gate::new(cfg);
        let t = 1_000 * 60_000_000;
        assert_eq!(g.admit(ip("203.0.113.1"), t, None), Ok(()));
        assert_eq!(
            g.admit(ip("203.0.113.1"), t + 1, None),
            Err(Refusal::Cooldown)
        );
        assert_eq!(g.admit(ip("203.0.113.2"), t + 2, None), Ok(()));
        assert_eq!(
            g.admit(ip("203.0.113.3"), t + 3, None),
            Err(Refusal::RateLimited)
        );
        assert_eq!(
            g.admit(ip("203.0.113.9"), t + 4, Some("allowlisted")),
            Err(Refusal::Protected("allowlisted"))
        );
        // Next minute: rate resets; the cap (3) is reached after one more.
        let t2 = t + 60_000_000;
        assert_eq!(g.admit(ip("203.0.113.3"), t2, None), Ok(()));
        // At the cap (3 in force): 203.0.113.1 expired exactly at t2 (ttl 60 s), so the
        // cap makes room for one more.
        assert_eq!(g.admit(ip("203.0.113.4"), t2 + 1, None), Ok(()));
        assert_eq!(g.active_count(t2 + 1), 3);
        assert_eq!(
            g.stats,
            GateStats {
                admitted: 4,
                refused_protected: 1,
                suppressed_cooldown: 1,
                rate_limited: 1,
                capped: 0,
                downgraded: 0,
            }
        );
    }

    #[test]
    fn an_alert_does_not_hold_back_a_block_but_holds_back_more_alerts() {
        let mut g = Gate::new(DecisionConfig::default());
        let d = ip("192.168.1.40");
        assert_eq!(g.admit_action(d, 0, None, Action::AlertOnly), Ok(()));
        assert_eq!(
            g.admit_action(d, 1, None, Action::AlertOnly),
            Err(Refusal::Cooldown)
        );
        assert_eq!(g.admit_action(d, 2, None, Action::Quarantine), Ok(()));
        assert_eq!(
            g.admit_action(d, 3, None, Action::Quarantine),
            Err(Refusal::Cooldown)
        );
        assert_eq!(
            g.admit_action(d, 4, None, Action::AlertOnly),
            Err(Refusal::Cooldown)
        );
        assert_eq!(g.stats.admitted, 2);
        assert_eq!(g.active_count(5), 1);
    }

    #[test]
    fn alerts_are_neither_rate_limited_nor_capped() {
        let cfg = DecisionConfig {
            max_active: 1,
            max_per_minute: 1,
            ..Default::default()
        };
        let mut g = Gate::new(cfg);
        assert!(g.admit(ip("203.0.113.1"), 0, None).is_ok());
        for i in 2..10 {
            let t = ip(&format!("192.168.1.{i}"));
            assert_eq!(g.admit_action(t, i as i64, None, Action::AlertOnly), Ok(()));
        }
        assert_eq!(
            g.admit(ip("203.0.113.2"), 20, None),
            Err(Refusal::RateLimited)
        );
        // Alerts are bounded too: MAX_ALERTS of them in force besides max-active.
        let mut g = Gate::new(DecisionConfig {
            max_active: 3,
            ..Default::default()
        });
        let refused = (0..MAX_ALERTS as u32 + 10)
            .filter(|&i| {
                let t = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
                g.admit_action(t, 0, None, Action::AlertOnly).is_err()
            })
            .count();
        assert_eq!(refused, 7);
    }

    #[test]
    fn gate_caps_active_decisions() {
        let cfg = DecisionConfig {
            ttl: 3600,
            max_active: 2,
            max_per_minute: 100,
            ..Default::default()
        };
        let mut g = Gate::new(cfg);
        assert!(g.admit(ip("203.0.113.1"), 0, None).is_ok());
        assert!(g.admit(ip("203.0.113.2"), 1, None).is_ok());
        assert_eq!(g.admit(ip("203.0.113.3"), 2, None), Err(Refusal::Capped));
    }

    #[test]
    fn confidence_and_ids() {
        assert_eq!(threshold_confidence(200, 200), 0.75);
        assert_eq!(threshold_confidence(400, 200), 0.88);
        assert_eq!(threshold_confidence(1, 1_000_000), 0.0);
        let a = Decision::make_id(ip("203.0.113.1"), Reason::SynFlood, 5);
        assert_eq!(a, Decision::make_id(ip("203.0.113.1"), Reason::SynFlood, 5));
        assert_ne!(a, Decision::make_id(ip("203.0.113.1"), Reason::PortScan, 5));
        assert_eq!(a.len(), 16);
    }

    fn flood_proposal(target: &str, t: i64) -> Proposal {
        Proposal {
            target: ip(target),
            direction: Direction::Inbound,
            time_us: t,
            action: Action::RateLimit,
            limit: Some(Limit {
                proto: L4::Tcp,
                port: 80,
            }),
            reason: Reason::FloodTarget,
            counter: "unanswered inbound flows to one home host",
            observed: 500,
            threshold: 400,
            window: 10.0,
            detail: Some("port 80".into()),
            confidence: 0.8,
            example_flow_ids: vec![],
            model: None,
        }
    }

    #[test]
    fn a_rate_limit_names_its_service_and_enforces() {
        assert!(Action::RateLimit.enforces());
        assert_eq!(
            serde_json::to_string(&Action::RateLimit).unwrap(),
            "\"rate-limit\""
        );
        let mut g = Gate::new(DecisionConfig::default());
        let d = g.decide(flood_proposal("192.168.1.10", 0), None).unwrap();
        assert_eq!(d.action, Action::RateLimit);
        assert_eq!(d.limit.unwrap().to_string(), "tcp/80");
        assert!(
            d.summary
                .starts_with("rate-limit 192.168.1.10 tcp/80: 500 "),
            "{}",
            d.summary
        );
        let line = serde_json::to_string(&d).unwrap();
        assert!(
            line.contains(r#""action":"rate-limit","limit":{"proto":"tcp","port":80}"#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Decision>(&line).unwrap(), d);
        // The id does not depend on the action or the limit: same as before rate limits.
        assert_eq!(
            d.id,
            Decision::make_id(ip("192.168.1.10"), Reason::FloodTarget, 0)
        );
        assert_eq!(g.active_count(1), 1);
        // A rate limit does not stop the target's own traffic: the model stage still
        // scores it.
        assert!(!g.is_active(ip("192.168.1.10"), 1));
    }

    #[test]
    fn old_journal_lines_without_a_limit_still_parse() {
        let line = r#"{"id":"x","time":"1970-01-01T00:00:00.000000Z","time_us":0,"target":"192.168.1.10","action":"alert-only","reason":"flood-target","direction":"inbound","summary":"s","evidence":{"counter":"c","observed":3,"threshold":2,"window_secs":1.0,"example_flow_ids":[]},"ttl":10,"confidence":0.8,"dry_run":false}"#;
        let d: Decision = serde_json::from_str(line).unwrap();
        assert_eq!((d.action, d.limit), (Action::AlertOnly, None));
        // ...and lines without one are written without the key.
        assert!(!serde_json::to_string(&d).unwrap().contains("limit"));
    }

    #[test]
    fn a_rate_limit_on_a_protected_target_becomes_an_alert() {
        let mut g = Gate::new(DecisionConfig::default());
        let d = g
            .decide(
                flood_proposal("192.168.1.1", 0),
                Some("own or gateway address"),
            )
            .unwrap();
        assert_eq!((d.action, d.limit), (Action::AlertOnly, None));
        assert!(
            d.summary.starts_with("alert-only 192.168.1.1: "),
            "{}",
            d.summary
        );
        assert_eq!(
            d.evidence.detail.as_deref(),
            Some("port 80; not rate-limited (tcp/80): own or gateway address")
        );
        assert_eq!(g.active_count(1), 0, "nothing enforced");
        assert_eq!((g.stats.downgraded, g.stats.refused_protected), (1, 0));
        // It holds back further alerts about it (cooldown), like any alert.
        assert!(g
            .decide(flood_proposal("192.168.1.1", 5), Some("allowlisted"))
            .is_none());
        // A rate limit without a service cannot be enforced either.
        let mut p = flood_proposal("192.168.1.20", 0);
        p.limit = None;
        let d = g.decide(p, None).unwrap();
        assert_eq!(d.action, Action::AlertOnly);
    }

    #[test]
    fn rate_limits_are_capped_like_blocks_and_then_reported_as_alerts() {
        let cfg = DecisionConfig {
            max_active: 2,
            max_per_minute: 2,
            ..Default::default()
        };
        let mut g = Gate::new(cfg);
        // One block and one rate limit use up the minute's two enforcing decisions.
        assert_eq!(g.admit(ip("203.0.113.1"), 0, None), Ok(()));
        let d = g.decide(flood_proposal("192.168.1.10", 1), None).unwrap();
        assert_eq!(d.action, Action::RateLimit);
        assert_eq!(g.active_count(2), 2);
        // The same target again: cooldown, nothing new.
        assert!(g.decide(flood_proposal("192.168.1.10", 2), None).is_none());
        assert_eq!(g.stats.suppressed_cooldown, 1);
        // Another victim: the rate is used up, so it is reported as an alert.
        let d = g.decide(flood_proposal("192.168.1.11", 3), None).unwrap();
        assert_eq!(d.action, Action::AlertOnly);
        assert!(d
            .evidence
            .detail
            .as_deref()
            .unwrap()
            .ends_with("not rate-limited (tcp/80): max-per-minute reached"));
        assert_eq!(g.stats.rate_limited, 1);
        // Next minute: the rate resets, max-active (2) is the limit.
        let d = g
            .decide(flood_proposal("192.168.1.12", 60_000_000), None)
            .unwrap();
        assert_eq!(d.action, Action::AlertOnly);
        assert!(d.evidence.detail.unwrap().ends_with("max-active reached"));
        assert_eq!((g.stats.capped, g.stats.downgraded), (1, 2));
        assert_eq!(g.active_count(60_000_001), 2);
        // Rate limits in force count against max-active for blocks too.
        assert_eq!(
            g.admit(ip("203.0.113.2"), 120_000_000, None),
            Err(Refusal::Capped)
        );
        // A rate limit in force does not hold back a quarantine of the same host.
        let mut g = Gate::new(DecisionConfig::default());
        assert!(g.decide(flood_proposal("192.168.1.10", 0), None).is_some());
        assert_eq!(
            g.admit_action(ip("192.168.1.10"), 1, None, Action::Quarantine),
            Ok(())
        );
        assert!(g.is_active(ip("192.168.1.10"), 2));
        // ...while a block in force holds back a rate limit.
        assert!(g.decide(flood_proposal("192.168.1.10", 3), None).is_none());
    }

    #[test]
    fn journal_appends_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("sg-journal-{}", std::process::id()));
        let path = dir.join("decisions.jsonl");
        let _ = std::fs::remove_file(&path);
        let mut log = DecisionLog::open(&path).unwrap();
        let d = Decision {
            id: "x".into(),
            time: rfc3339(EveTime(0)),
            time_us: 0,
            target: ip("203.0.113.1"),
            action: Action::Block,
            limit: None,
            reason: Reason::PortScan,
            direction: Direction::Inbound,
            summary: "s".into(),
            evidence: Evidence {
                counter: "c".into(),
                observed: 3,
                threshold: 2,
                window_secs: 1.0,
                example_flow_ids: vec![1],
                detail: None,
                model: None,
                honeypot: None,
            },
            ttl: 10,
            confidence: 0.8,
            dry_run: true,
        };
        log.append(&d).unwrap();
        log.append(&d).unwrap();
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"torn")
            .unwrap();
        let back = DecisionLog::read_all(&path).unwrap();
        assert_eq!(back, vec![d.clone(), d.clone()]);
        // Reopened after the crash: the torn line is said, and the next decision is not
        // glued to it.
        drop(log);
        let mut log = DecisionLog::open(&path).unwrap();
        assert!(log.opened_torn());
        log.append(&d).unwrap();
        let back = DecisionLog::read_all(&path).unwrap();
        assert_eq!(back, vec![d.clone(), d.clone(), d.clone()]);
        let line = std::fs::read_to_string(&path).unwrap();
        assert!(
            line.starts_with(r#"{"id":"x","time":"1970-01-01T00:00:00.000000Z""#),
            "{line}"
        );

        // Rotated as logrotate does it (moved away, no new file made): the next decision
        // goes to a new journal at the path, the moved one keeps what it had.
        let moved = dir.join("decisions.jsonl.1");
        std::fs::rename(&path, &moved).unwrap();
        let mut other = d.clone();
        other.id = "y".into();
        log.append(&other).unwrap();
        assert_eq!(DecisionLog::read_all(&path).unwrap(), vec![other.clone()]);
        assert_eq!(DecisionLog::read_all(&moved).unwrap().len(), 3);
        // Rotated with `create` (a new empty file at the path) or deleted: the same.
        std::fs::rename(&path, &moved).unwrap();
        std::fs::write(&path, b"").unwrap();
        log.append(&d).unwrap();
        assert_eq!(DecisionLog::read_all(&path).unwrap(), vec![d.clone()]);
        std::fs::remove_file(&path).unwrap();
        log.append(&other).unwrap();
        assert_eq!(DecisionLog::read_all(&path).unwrap(), vec![other.clone()]);

        // Both generations, oldest first; the previous one alone right after a rotation;
        // an unreadable previous one skipped; neither is NotFound.
        std::fs::write(&moved, serde_json::to_string(&d).unwrap() + "\n").unwrap();
        assert_eq!(
            DecisionLog::read_recent(&path).unwrap(),
            vec![d.clone(), other.clone()]
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(DecisionLog::read_recent(&path).unwrap(), vec![d.clone()]);
        std::fs::remove_file(&moved).unwrap();
        let e = DecisionLog::read_recent(&path).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        std::fs::create_dir(&moved).unwrap();
        log.append(&other).unwrap();
        assert_eq!(DecisionLog::read_recent(&path).unwrap(), vec![other]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
