//! Enforcement: decisions become elements with a timeout in nftables sets.
//!
//! [`EnforcerHandle`] is what the plugin's worker holds: handing it a decision is a
//! `try_send` on a bounded channel, never a wait. A thread of its own ([`run`]) collects
//! what arrives for `batch-interval-ms` (or until `batch-size` elements), writes it to the
//! enforcement journal (one fsync per batch), then applies it to nftables as one
//! transaction. Expiry is the kernel's (element timeouts).
//!
//! The journal (`<state-dir>/enforce.jsonl`) records what is in force in wall-clock time,
//! whoever put it there (the plugin or `suriguardctl decisions add`), so a restart
//! re-applies every live element with the time it has left, and elements that could not
//! be applied (nft missing, table deleted behind our back) are applied when nft works
//! again.
//!
//! A rate-limit decision (a home host flooded from many, often spoofed, sources) is an
//! element `address . protocol . port` of its own set: new connections to that service
//! of the host above `[enforce] rate-limit` are dropped, the rest pass (see [`nft`]).

#![forbid(unsafe_code)]

pub mod helper;
pub mod journal;
pub mod nft;

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use serde::{Deserialize, Serialize};

use journal::{Entry, InForce, Journal};
use nft::{Nft, NftError, Op};
use suriguard_decision::{Action, Decision};
pub use suriguard_decision::{Limit, L4};
use suriguard_net::{AllowWatch, Cidr, NetworkConfig, NetworkModel, ALLOWLIST_CHECK_EVERY};

/// Which set an element goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetKind {
    /// Traffic from (and, when forwarded, to) the target is dropped.
    Block,
    /// Forwarded traffic from the target (a home device) is dropped.
    Quarantine,
    /// New connections to one service of the target (a flooded home host) above
    /// `[enforce] rate-limit` are dropped; the element names the service.
    RateLimit,
}

impl SetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SetKind::Block => "block",
            SetKind::Quarantine => "quarantine",
            SetKind::RateLimit => "rate-limit",
        }
    }

    pub fn for_action(a: Action) -> Option<SetKind> {
        match a {
            Action::Block => Some(SetKind::Block),
            Action::Quarantine => Some(SetKind::Quarantine),
            Action::RateLimit => Some(SetKind::RateLimit),
            Action::AlertOnly => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// Enforce with nftables.
    Nftables,
    /// Journal only; nothing is written to the firewall.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    Input,
    Forward,
    Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Drop,
    Reject,
}

/// A service a quarantined device may still reach on the allowlisted / own addresses,
/// written `udp/53`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub proto: L4,
    pub port: u16,
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (p, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected proto/port such as udp/53"))?;
        let proto = match p {
            "tcp" => L4::Tcp,
            "udp" => L4::Udp,
            _ => return Err(format!("{s:?}: protocol must be tcp or udp")),
        };
        let port = n
            .parse()
            .map_err(|_| format!("{s:?}: port must be 0..65535"))?;
        Ok(Service { proto, port })
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.proto.as_str(), self.port)
    }
}

impl Serialize for Service {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Service {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `[enforce]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct EnforceConfig {
    pub backend: Backend,
    /// The nft program.
    pub nft: String,
    /// The `inet` table holding our sets and chains.
    pub table: String,
    /// True: the table is ours (created and deleted whole). False: add our chains and
    /// sets to an existing `inet` table of that name, and remove only them.
    pub own_table: bool,
    pub hooks: Vec<Hook>,
    /// Chain priority (filter is 0; lower runs first).
    pub priority: i32,
    pub verdict: Verdict,
    /// Collect decisions this long before one transaction.
    pub batch_interval_ms: u64,
    /// ...or until this many elements are waiting.
    pub batch_size: usize,
    /// Decisions waiting for the enforcer thread beyond this are dropped (counted).
    pub queue_size: usize,
    /// After a failure, try setup and re-apply every this many seconds.
    pub retry_secs: u64,
    /// What a quarantined device may still reach on allowlisted/own addresses.
    pub quarantine_allow: Vec<Service>,
    /// New connections a rate-limited service of a host may receive.
    pub rate_limit: RateLimitConfig,
    /// The enforcement journal; default `<state-dir>/enforce.jsonl`.
    pub journal: Option<PathBuf>,
    /// The privileged helper's socket (`suriguard-nft-helper`): the plugin's enforcer
    /// sets up and applies through it instead of running nft, for a Suricata that drops
    /// root with `run-as`. suriguardctl keeps running nft itself (as root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helper: Option<PathBuf>,
}

impl Default for EnforceConfig {
    fn default() -> Self {
        EnforceConfig {
            backend: Backend::Nftables,
            nft: "nft".into(),
            table: "suriguard".into(),
            own_table: true,
            hooks: vec![Hook::Input, Hook::Forward],
            priority: -10,
            verdict: Verdict::Drop,
            batch_interval_ms: 2,
            batch_size: 1000,
            queue_size: 65_536,
            retry_secs: 5,
            quarantine_allow: ["udp/53", "tcp/53", "udp/123"]
                .iter()
                .map(|s| s.parse().expect("valid default"))
                .collect(),
            rate_limit: RateLimitConfig::default(),
            journal: None,
            helper: None,
        }
    }
}

/// `[enforce] rate-limit = { per-second = 50, burst = 100 }`: what a rate-limit decision
/// lets through to the service it names, all sources together (a flood's sources are
/// many and spoofed: only the victim's service can be limited). New connections beyond
/// it are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RateLimitConfig {
    /// New connections per second, sustained.
    pub per_second: u32,
    /// New connections let through at once above the rate (the token bucket's size).
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_second: 50,
            burst: 100,
        }
    }
}

/// Bounds of `[enforce] rate-limit` (the kernel's limit works in these units; beyond a
/// million new connections a second a limit protects nothing).
pub const RATE_LIMIT_MAX: u32 = 1_000_000;

impl suriguard_config::Section for EnforceConfig {
    const NAME: &'static str = "enforce";

    fn validate(&self) -> Result<(), String> {
        EnforceConfig::validate(self)
    }

    fn resolve_paths(&mut self, dir: &std::path::Path) {
        for p in [&mut self.journal, &mut self.helper].into_iter().flatten() {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

impl EnforceConfig {
    pub fn validate(&self) -> Result<(), String> {
        let ident = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !ident(&self.table) {
            return Err(format!(
                "[enforce] table {:?}: letters, digits and _ only, starting with a letter",
                self.table
            ));
        }
        if self.hooks.is_empty() {
            return Err("[enforce] hooks must name at least one of input, forward, output".into());
        }
        if self.batch_size == 0 || self.queue_size == 0 || self.retry_secs == 0 {
            return Err(
                "[enforce] batch-size, queue-size and retry-secs must be at least 1".into(),
            );
        }
        if self.batch_interval_ms > 1000 {
            return Err("[enforce] batch-interval-ms must be at most 1000".into());
        }
        let r = &self.rate_limit;
        if !(1..=RATE_LIMIT_MAX).contains(&r.per_second) {
            return Err(format!(
                "[enforce] rate-limit.per-second must be between 1 and {RATE_LIMIT_MAX}, got {}",
                r.per_second
            ));
        }
        if !(1..=RATE_LIMIT_MAX).contains(&r.burst) {
            return Err(format!(
                "[enforce] rate-limit.burst must be between 1 and {RATE_LIMIT_MAX}, got {}",
                r.burst
            ));
        }
        Ok(())
    }
}

/// Sets nftables up (idempotently) and adds every element still in force with the time it
/// has left; returns how many were added. What the plugin does at start and after a
/// failure, and what `suriguardctl firewall restore` does at boot.
pub fn restore(
    nft: &Nft,
    net: &NetworkModel,
    in_force: impl Iterator<Item = (SetKind, Cidr, Option<Limit>, u64)>,
    now: u64,
) -> Result<usize, NftError> {
    nft.setup(&net.never_blocked())?;
    let ops: Vec<Op> = in_force
        .filter(|&(kind, target, limit, until)| {
            until > now
                && net.protected_cidr(&target).is_none()
                && (kind != SetKind::RateLimit || (limit.is_some() && target.is_host()))
        })
        .map(|(kind, target, limit, until)| Op::Add {
            kind,
            target,
            limit: limit.filter(|_| kind == SetKind::RateLimit),
            timeout_secs: until - now,
        })
        .collect();
    for chunk in ops.chunks(50_000) {
        nft.apply(chunk)?;
    }
    Ok(ops.len())
}

/// Seconds since the Unix epoch, wall clock.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the enforcer did, for the stats file and `Deinit`'s summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnforceStats {
    /// Decisions handed to the enforcer.
    pub received: u64,
    /// Elements committed to nftables (including re-applications).
    pub applied: u64,
    /// Refused: the target is allowlisted, own, or otherwise protected.
    pub refused_protected: u64,
    /// Skipped: an element already in force covers the target for at least as long.
    pub already_covered: u64,
    /// Dropped because the enforcer's queue was full.
    pub dropped_queue_full: u64,
    pub batches: u64,
    /// Failed transactions (each is retried with everything in force).
    pub apply_errors: u64,
    /// Setups that re-created our objects and re-applied the journal.
    pub reapplies: u64,
    pub journal_errors: u64,
    /// Decision-to-commit latency: upper bound of a bucket (µs) → commits that took at
    /// most that long. Eight buckets per power of two (each at most 12.5 % wide).
    pub latency_us: std::collections::BTreeMap<u64, u64>,
    /// Sum of those latencies (µs), for the mean and Prometheus' histogram `_sum`.
    #[serde(default)]
    pub latency_total_us: u64,
    /// The last error met, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Elements in force when the counters were taken (a gauge).
    #[serde(default)]
    pub in_force: u64,
    /// Whether nftables accepted the last setup or batch (false until the first setup,
    /// and after a failure until a retry succeeds).
    #[serde(default)]
    pub healthy: bool,
}

impl EnforceStats {
    /// The upper bound of the bucket `us` falls in: exact below 16 µs, then eight
    /// buckets per power of two.
    pub fn latency_bucket(us: u64) -> u64 {
        if us < 16 {
            return us;
        }
        let shift = 63 - us.leading_zeros() - 3; // keep the top four bits
        ((us >> shift) + 1) << shift
    }

    pub fn record_latency(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2);
        *self.latency_us.entry(Self::latency_bucket(us)).or_default() += 1;
        self.latency_total_us = self.latency_total_us.saturating_add(us);
    }

    /// The upper bound (µs) of the bucket holding quantile `q` of the latencies.
    pub fn latency_quantile_us(&self, q: f64) -> Option<u64> {
        let total: u64 = self.latency_us.values().sum();
        if total == 0 {
            return None;
        }
        let want = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (&bound, &n) in &self.latency_us {
            seen += n;
            if seen >= want {
                return Some(bound);
            }
        }
        None
    }
}

/// How often an idle enforcer republishes its counters.
const PUBLISH_EVERY: Duration = Duration::from_secs(5);

/// A decision and when it was handed over.
type Msg = (Box<Decision>, Instant);

/// The worker's side: hand decisions over without waiting.
pub struct EnforcerHandle {
    tx: Option<Sender<Msg>>,
    /// Decisions dropped because the queue was full.
    dropped: u64,
    thread: Option<JoinHandle<EnforceStats>>,
    /// The thread's counters as of its last batch or retry, for publishing while it runs.
    published: Arc<Mutex<EnforceStats>>,
}

impl EnforcerHandle {
    /// Hands one decision to the enforcer thread without waiting; a full queue is a
    /// counted drop (the decision is already in the decisions journal).
    pub fn submit(&mut self, d: &Decision) -> Result<(), String> {
        let Some(tx) = &self.tx else {
            return Err("enforcer stopped".into());
        };
        match tx.try_send((Box::new(d.clone()), Instant::now())) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                Err("enforcer queue full; decision journaled but not enforced".into())
            }
            Err(TrySendError::Disconnected(_)) => Err("enforcer thread is gone".into()),
        }
    }

    /// The counters as of the enforcer's last batch, setup or retry (the thread
    /// publishes them after each; this never waits for a batch).
    pub fn snapshot(&self) -> EnforceStats {
        let mut st = self
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        st.dropped_queue_full += self.dropped;
        st
    }

    /// [`EnforcerHandle::stop`] through a reference (for owners behind a trait object);
    /// `None` once stopped.
    pub fn stop_in_place(&mut self) -> Option<EnforceStats> {
        self.thread.is_some().then(|| self.stop_inner())
    }

    /// Closes the queue, lets the thread apply what is queued, and returns its counters.
    pub fn stop(mut self) -> EnforceStats {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> EnforceStats {
        self.tx = None;
        let mut st = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        st.dropped_queue_full += self.dropped;
        st
    }
}

impl Drop for EnforcerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop_inner();
        }
    }
}

/// Everything the enforcer needs.
pub struct EnforcerSetup {
    pub cfg: EnforceConfig,
    pub net: NetworkModel,
    /// The settings `net` was built from: when their allowlist file changes, the
    /// enforcer rebuilds `net`, refills the allow sets and lifts what is now protected.
    pub network: Option<NetworkConfig>,
    pub journal: PathBuf,
}

/// Starts the enforcer thread. It loads the journal, sets nftables up and re-applies
/// what is in force before taking new decisions; none of that delays the caller.
/// (`cfg.backend` is the caller's to honour: this always enforces with nftables.)
pub fn start(setup: EnforcerSetup) -> std::io::Result<EnforcerHandle> {
    let (tx, rx) = crossbeam_channel::bounded(setup.cfg.queue_size);
    // The thread reports through the caller's `tracing` subscriber (the plugin's forwards
    // to Suricata's log; a test's keeps the lines).
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let published = Arc::new(Mutex::new(EnforceStats::default()));
    let to_publish = Arc::clone(&published);
    let thread = std::thread::Builder::new()
        .name("SG-enforce".into())
        .spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || run(setup, rx, &to_publish))
        })?;
    Ok(EnforcerHandle {
        tx: Some(tx),
        dropped: 0,
        thread: Some(thread),
        published,
    })
}

struct State {
    nft: Nft,
    net: NetworkModel,
    journal: Journal,
    /// Elements in force (a rate limit with its service) → when they expire (Unix
    /// seconds).
    active: HashMap<(SetKind, Cidr, Option<Limit>), u64>,
    /// Whether any element in force is a prefix (only then can a new address already be
    /// covered by another element).
    has_prefixes: bool,
    healthy: bool,
    /// Batches that could not be journaled since the last write that worked.
    journal_failing: u64,
    next_retry: Instant,
    retry: Duration,
    stats: EnforceStats,
}

impl State {
    /// The counters with the gauges filled in (elements not yet expired).
    fn stats(&mut self) -> &EnforceStats {
        let now = now_secs();
        self.stats.in_force = self.active.values().filter(|&&until| until > now).count() as u64;
        self.stats.healthy = self.healthy;
        &self.stats
    }

    /// Makes the counters visible to [`EnforcerHandle::snapshot`].
    fn publish(&mut self, to: &Mutex<EnforceStats>) {
        let st = self.stats().clone();
        *to.lock().unwrap_or_else(|p| p.into_inner()) = st;
    }

    fn fail(&mut self, what: &str, e: &NftError) {
        self.stats.apply_errors += 1;
        let msg = format!("{what}: {e}");
        if self.healthy || self.stats.last_error.as_deref() != Some(&msg) {
            tracing::error!(
                    "{msg}; decisions stay journaled and are re-applied every {} s until nftables accepts them",
                    self.retry.as_secs()
                );
        }
        self.stats.last_error = Some(msg);
        self.healthy = false;
        self.next_retry = Instant::now() + self.retry;
    }

    /// Journals `entries`; a failure is counted, and said once until a write works again
    /// (a full disk would otherwise fill the log a line per batch).
    fn journal(&mut self, entries: &[Entry]) {
        match self.journal.append(entries) {
            Ok(()) if self.journal_failing > 0 => {
                tracing::info!(
                    "the enforcement journal is writable again ({} batch(es) could not be \
                     journaled: they were enforced, but a restart will not re-apply them)",
                    self.journal_failing
                );
                self.journal_failing = 0;
            }
            Ok(()) => {}
            Err(e) => {
                self.stats.journal_errors += 1;
                if self.journal_failing == 0 {
                    tracing::error!(
                        "cannot write the enforcement journal: {e}; decisions are still \
                         enforced; further failures are counted (journal_errors) until it \
                         works again"
                    );
                }
                self.journal_failing += 1;
            }
        }
    }

    /// When the allowlist file changed: the new network model, the allow sets refilled
    /// and every element in force that is now protected lifted (journaled as lifted by
    /// `allowlist`). Elements already gone (the console lifts them itself) are fine.
    fn check_allowlist(&mut self, watch: &mut Option<(AllowWatch, NetworkConfig)>) {
        let Some((w, network)) = watch.as_mut() else {
            return;
        };
        if !w.changed(Instant::now()) {
            return;
        }
        let (net, problems) = network.model_checked();
        for p in problems {
            tracing::warn!("{p}");
        }
        self.net = net;
        let lifted: Vec<(SetKind, Cidr, Option<Limit>)> = self
            .active
            .keys()
            .filter(|(_, t, _)| self.net.protected_cidr(t).is_some())
            .copied()
            .collect();
        for k in &lifted {
            self.active.remove(k);
        }
        if !lifted.is_empty() {
            let entries: Vec<Entry> = lifted
                .iter()
                .map(|&(k, t, l)| Entry::delete(k, t, "allowlist").with_limit(l))
                .collect();
            self.journal(&entries);
        }
        if let Err(e) = self.nft.setup(&self.net.never_blocked()) {
            self.fail(
                "refilling the allow sets after the allowlist changed failed",
                &e,
            );
            return;
        }
        // One transaction each: deleting an element already gone fails its transaction.
        let mut gone = 0;
        for &(kind, target, limit) in &lifted {
            if self
                .nft
                .apply(&[Op::Delete {
                    kind,
                    target,
                    limit,
                }])
                .is_ok()
            {
                gone += 1;
            }
        }
        tracing::info!(
            "allowlist file {} changed: allow sets refilled ({} entries); {} element(s) in \
             force now protected, {gone} of them still in the sets and deleted",
            w.path().display(),
            self.net.allowlist().len(),
            lifted.len(),
        );
    }

    /// Setup plus every element in force, with the time it has left.
    fn reapply(&mut self) -> bool {
        let now = now_secs();
        self.active.retain(|_, &mut until| until > now);
        let items = self
            .active
            .iter()
            .map(|(&(k, t, l), &until)| (k, t, l, until));
        let n = match restore(&self.nft, &self.net, items, now) {
            Ok(n) => n,
            Err(e) => {
                self.fail("nftables setup or re-applying the journal failed", &e);
                return false;
            }
        };
        self.stats.applied += n as u64;
        self.stats.reapplies += 1;
        if !self.healthy || n > 0 {
            tracing::info!(
                "nftables table inet {} ready; {n} element(s) in force re-applied",
                self.nft.config().table,
            );
        }
        self.healthy = true;
        self.stats.last_error = None;
        true
    }

    /// Journals and applies one batch of decisions.
    fn batch(&mut self, batch: Vec<(Box<Decision>, Instant)>) {
        let now = now_secs();
        let mut ops = Vec::new();
        let mut entries = Vec::new();
        let mut waiting = Vec::new();
        for (d, t0) in batch {
            self.stats.received += 1;
            let Some(kind) = SetKind::for_action(d.action) else {
                continue;
            };
            let limit = d.limit.filter(|_| kind == SetKind::RateLimit);
            if kind == SetKind::RateLimit && limit.is_none() {
                // The gate never makes one; a hand-written decision might.
                tracing::warn!(
                    "rate-limit decision {} against {} names no service; not enforced",
                    d.id,
                    d.target
                );
                continue;
            }
            let target = Cidr::host(d.target);
            if self.net.protected_cidr(&target).is_some() {
                self.stats.refused_protected += 1;
                continue;
            }
            let until = now + d.ttl.max(1);
            if self.covered(kind, &target, limit, until) {
                self.stats.already_covered += 1;
                continue;
            }
            self.active.insert((kind, target, limit), until);
            entries.push(
                Entry::add(kind, target, until, d.reason.as_str(), &d.id, "plugin")
                    .with_limit(limit),
            );
            ops.push(Op::Add {
                kind,
                target,
                limit,
                timeout_secs: until - now,
            });
            waiting.push(t0);
        }
        if entries.is_empty() {
            return;
        }
        self.journal(&entries);
        let nft = self.nft.clone();
        if !self.healthy {
            return; // applied with everything else at the next retry
        }
        self.stats.batches += 1;
        match nft.apply(&ops) {
            Ok(()) => {
                self.stats.applied += ops.len() as u64;
                for t0 in waiting {
                    self.stats.record_latency(t0.elapsed());
                }
            }
            Err(NftError::Missing(m)) => {
                tracing::warn!("our nftables objects are gone ({m}); setting them up again");
                if self.reapply() {
                    for t0 in waiting {
                        self.stats.record_latency(t0.elapsed());
                    }
                }
            }
            Err(NftError::Failed(m)) if ops.len() > 1 => {
                // One element nft refuses (say, inside a prefix added by another
                // process) must not cost the rest: apply them one by one.
                let mut refused = 0;
                for (op, t0) in ops.iter().zip(waiting) {
                    match nft.apply(std::slice::from_ref(op)) {
                        Ok(()) => {
                            self.stats.applied += 1;
                            self.stats.record_latency(t0.elapsed());
                        }
                        Err(_) => refused += 1,
                    }
                }
                if refused > 0 {
                    self.stats.apply_errors += 1;
                    let msg = format!("nft refused {refused} element(s) of a batch: {m}");
                    tracing::warn!("{msg}");
                    self.stats.last_error = Some(msg);
                }
            }
            Err(e) => self.fail("applying decisions failed", &e),
        }
    }

    /// An element in force for `kind` (and, for a rate limit, the same service) contains
    /// `target` and lasts at least until `until`.
    fn covered(&self, kind: SetKind, target: &Cidr, limit: Option<Limit>, until: u64) -> bool {
        if let Some(&in_force) = self.active.get(&(kind, *target, limit)) {
            return in_force >= until;
        }
        self.has_prefixes
            && self.active.iter().any(|(&(k, c, l), _)| {
                k == kind && l == limit && c != *target && c.contains(target.addr())
            })
    }
}

/// The enforcer thread's body.
fn run(setup: EnforcerSetup, rx: Receiver<Msg>, publish: &Mutex<EnforceStats>) -> EnforceStats {
    let EnforcerSetup {
        cfg,
        net,
        network,
        journal,
    } = setup;
    let mut allow_watch = network.and_then(|n| {
        let w = AllowWatch::new(n.allowlist_file.clone()?, ALLOWLIST_CHECK_EVERY);
        Some((w, n))
    });
    // Read again now that the file is watched: a change between the caller's read and
    // the watch's start is not missed.
    let net = match &allow_watch {
        Some((_, n)) => n.model_checked().0,
        None => net,
    };
    let (journal, loaded) = match Journal::open_compacted(&journal, now_secs()) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(
                "cannot open the enforcement journal {}: {e}; enforcing without persistence",
                journal.display()
            );
            (Journal::disabled(), Vec::new())
        }
    };
    let nft = match &cfg.helper {
        Some(socket) => Nft::through_helper(cfg.clone(), socket.clone()),
        None => Nft::new(cfg.clone()),
    };
    let mut st = State {
        nft,
        net,
        journal,
        has_prefixes: loaded.iter().any(|f: &InForce| !f.target.is_host()),
        active: loaded
            .into_iter()
            .map(|e| ((e.kind, e.target, e.limit), e.until))
            .collect(),
        healthy: false,
        journal_failing: 0,
        next_retry: Instant::now(),
        retry: Duration::from_secs(cfg.retry_secs),
        stats: EnforceStats::default(),
    };
    if st.journal.dropped_lines() > 0 {
        tracing::warn!(
            "the enforcement journal had {} unreadable line(s) (a line cut by a crash or a \
             full disk?); they were dropped, everything else is in force",
            st.journal.dropped_lines()
        );
    }
    st.reapply();
    st.publish(publish);
    let interval = Duration::from_millis(cfg.batch_interval_ms);
    loop {
        // Healthy, it still wakes every few seconds to publish its gauges (elements
        // expire by time, not by a batch).
        let wait = if st.healthy {
            PUBLISH_EVERY
        } else {
            st.next_retry.saturating_duration_since(Instant::now())
        };
        let first = match rx.recv_timeout(wait) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) => {
                if !st.healthy && Instant::now() >= st.next_retry {
                    st.reapply();
                }
                st.check_allowlist(&mut allow_watch);
                st.publish(publish);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let deadline = Instant::now() + interval;
        let mut batch = vec![first];
        let mut closed = false;
        while batch.len() < cfg.batch_size {
            match rx.recv_deadline(deadline) {
                Ok(msg) => batch.push(msg),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if !st.healthy && Instant::now() >= st.next_retry {
            st.reapply();
        }
        st.check_allowlist(&mut allow_watch);
        st.batch(batch);
        st.publish(publish);
        if closed {
            break;
        }
    }
    st.stats().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_settings_are_checked_and_named() {
        use suriguard_config::ConfigFile;
        let parse = |text: &str| ConfigFile::parse(text).unwrap().section::<EnforceConfig>();
        let d = parse("").unwrap().rate_limit;
        assert_eq!((d.per_second, d.burst), (50, 100));
        let c = parse("[enforce]\nrate-limit = { per-second = 20, burst = 40 }\n").unwrap();
        assert_eq!((c.rate_limit.per_second, c.rate_limit.burst), (20, 40));
        // One key alone keeps the other's default.
        let c = parse("[enforce.rate-limit]\nper-second = 5\n").unwrap();
        assert_eq!((c.rate_limit.per_second, c.rate_limit.burst), (5, 100));
        for (text, key) in [
            ("per-second = 0", "rate-limit.per-second"),
            ("per-second = 2000000", "rate-limit.per-second"),
            ("burst = 0", "rate-limit.burst"),
        ] {
            let e = parse(&format!("[enforce.rate-limit]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("[enforce] {key} must be between 1 and")),
                "{e}"
            );
        }
        let e = parse("[enforce.rate-limit]\nper-minute = 5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("per-minute"), "{e}");
    }

    #[test]
    fn latency_buckets_are_tight_upper_bounds() {
        for us in [0, 1, 15, 16, 17, 100, 1000, 4095, 4096, 9999, 123_456_789] {
            let b = EnforceStats::latency_bucket(us);
            assert!(
                b >= us && (b - us) as f64 <= us as f64 / 8.0 + 1.0,
                "{us} -> {b}"
            );
        }
        let mut st = EnforceStats::default();
        for ms in 1..=100 {
            st.record_latency(Duration::from_millis(ms));
        }
        let p50 = st.latency_quantile_us(0.5).unwrap();
        let p99 = st.latency_quantile_us(0.99).unwrap();
        assert!((50_000..=56_250).contains(&p50), "{p50}");
        assert!((99_000..=111_375).contains(&p99), "{p99}");
    }
}
