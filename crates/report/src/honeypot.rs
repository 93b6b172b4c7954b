//! The honeypot: Cowrie's JSON log read as decisions.
//!
//! Nobody legitimate logs into a honeypot, so a login attempt (by default) turns its
//! source into a decision. The source's activity is gathered for a short while first
//! (`gather`, 0.5 s of Cowrie's own time by default), so the decision carries the
//! passwords a fast bot tried, the commands it ran and the files it fetched; the
//! decision then goes through the same gate, journals and enforcement as every other
//! (`suriguardctl honeypot follow`, which does the I/O).
//!
//! Determinism: what a decision holds depends only on the log. A source is decided when
//! an event later than its trigger + `gather` is read (any source's), or at the end of a
//! `--once` read; when the log goes quiet, `follow` decides after `gather` has passed on
//! the wall clock too, by which time Cowrie has written every event of that window. The
//! decision keeps the events up to trigger + `gather`, in both cases.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use suriguard_decision::{Action, HoneypotDownload, HoneypotEvidence, HoneypotLogin};

/// Lists kept per source (logins, commands, downloads, sessions).
pub const MAX_ITEMS: usize = 32;
/// Longest string kept from Cowrie (a command, a URL, a password).
pub const MAX_TEXT: usize = 256;

/// What turns a source into a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Any login attempt, failed or not (the default: a bot guessing passwords).
    LoginAttempt,
    /// Only a successful login (or what follows it: a command, a download).
    LoginSuccess,
    /// Only a command or a download.
    Command,
}

/// `[honeypot]`: the Cowrie honeypot `suriguardctl honeypot follow` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct HoneypotConfig {
    /// Cowrie's JSON log (`[output_jsonlog] logfile`).
    pub cowrie_log: std::path::PathBuf,
    pub trigger: Trigger,
    /// Seconds of the source's activity gathered into the decision after its trigger.
    pub gather: f64,
    /// What a home address that touches the honeypot gets: `alert-only` (default) or
    /// `quarantine`. Own addresses and the allowlist only ever get an alert.
    pub home_action: Action,
    /// Seconds a decision stays in force; default: `[decisions] ttl`.
    pub ttl: Option<u64>,
    /// Sources remembered at once (the longest-quiet is forgotten first).
    pub max_sources: usize,
}

impl Default for HoneypotConfig {
    fn default() -> Self {
        HoneypotConfig {
            cowrie_log: "/var/lib/suriguard-honeypot/var/log/cowrie/cowrie.json".into(),
            trigger: Trigger::LoginAttempt,
            gather: 0.5,
            home_action: Action::AlertOnly,
            ttl: None,
            max_sources: 10_000,
        }
    }
}

impl suriguard_config::Section for HoneypotConfig {
    const NAME: &'static str = "honeypot";

    fn validate(&self) -> Result<(), String> {
        if !(self.gather.is_finite() && (0.0..=60.0).contains(&self.gather)) {
            return Err("[honeypot] gather must be between 0 and 60 seconds".into());
        }
        if !matches!(self.home_action, Action::AlertOnly | Action::Quarantine) {
            return Err("[honeypot] home-action must be alert-only or quarantine".into());
        }
        if self.max_sources == 0 {
            return Err("[honeypot] max-sources must be at least 1".into());
        }
        if self.ttl == Some(0) {
            return Err("[honeypot] ttl must be at least 1 second".into());
        }
        Ok(())
    }

    fn resolve_paths(&mut self, dir: &std::path::Path) {
        if self.cowrie_log.is_relative() {
            self.cowrie_log = dir.join(&self.cowrie_log);
        }
    }
}

/// What one Cowrie event says, for the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Connect,
    Login { success: bool },
    Command,
    Download,
    Closed,
    Other,
}

/// One line of Cowrie's JSON log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    pub src: IpAddr,
    /// Cowrie's timestamp, microseconds since the epoch.
    pub time_us: i64,
    pub session: String,
    pub protocol: String,
    pub sensor: String,
    pub dst: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub input: Option<String>,
    pub url: Option<String>,
    pub sha256: Option<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(bounded)
}

/// Printable text only, at most [`MAX_TEXT`] bytes.
fn bounded(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_TEXT {
            break;
        }
        out.push(c);
    }
    out
}

/// Parses one line; `Ok(None)` for lines with no source address or time (Cowrie's own
/// `cowrie.log.*` bookkeeping lines have both, so every event with a source is kept).
pub fn parse(line: &str) -> Result<Option<Event>, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Some(id) = v.get("eventid").and_then(Value::as_str) else {
        return Err("no eventid".into());
    };
    let Some(src) = v.get("src_ip").and_then(Value::as_str) else {
        return Ok(None);
    };
    let src: IpAddr = src
        .parse()
        .map_err(|_| format!("src_ip {src:?} is not an address"))?;
    let Some(ts) = v.get("timestamp").and_then(Value::as_str) else {
        return Ok(None);
    };
    let time_us = suriguard_eve::EveTime::parse(ts)
        .map(|t| t.0)
        .ok_or_else(|| format!("timestamp {ts:?} is not a time"))?;
    let kind = match id {
        "cowrie.session.connect" => Kind::Connect,
        "cowrie.login.failed" => Kind::Login { success: false },
        "cowrie.login.success" => Kind::Login { success: true },
        "cowrie.command.input" | "cowrie.command.failed" => Kind::Command,
        "cowrie.session.file_download" | "cowrie.session.file_upload" => Kind::Download,
        "cowrie.session.closed" => Kind::Closed,
        _ => Kind::Other,
    };
    let dst = match (
        text(&v, "dst_ip"),
        v.get("dst_port").and_then(Value::as_u64),
    ) {
        (Some(ip), Some(port)) if ip.contains(':') => Some(format!("[{ip}]:{port}")),
        (Some(ip), Some(port)) => Some(format!("{ip}:{port}")),
        (ip, _) => ip,
    };
    let protocol = text(&v, "protocol").unwrap_or_else(|| {
        // Older Cowrie logs name the transport in `system` only.
        match v.get("system").and_then(Value::as_str) {
            Some(s) if s.contains("Telnet") => "telnet".into(),
            Some(s) if s.contains("SSH") => "ssh".into(),
            _ => String::new(),
        }
    });
    Ok(Some(Event {
        kind,
        src,
        time_us,
        session: text(&v, "session").unwrap_or_default(),
        protocol,
        sensor: text(&v, "sensor").unwrap_or_default(),
        dst,
        username: text(&v, "username"),
        password: text(&v, "password"),
        input: text(&v, "input"),
        url: text(&v, "url"),
        sha256: text(&v, "shasum").map(|s| s.to_ascii_lowercase()),
    }))
}

/// One source's activity.
#[derive(Debug, Clone, Default)]
struct Source {
    last_us: i64,
    /// Cowrie time of the event that triggered it, while waiting for `gather`.
    triggered_us: Option<i64>,
    /// Decided until this Cowrie time (then a new round starts from scratch).
    decided_until_us: Option<i64>,
    evidence: HoneypotEvidence,
    /// The latest event kept (its time), and the last event's address/port.
    kept_until_us: i64,
}

fn push_bounded<T: PartialEq>(v: &mut Vec<T>, x: T, truncated: &mut u64, dedupe: bool) {
    if dedupe && v.contains(&x) {
        return;
    }
    if v.len() < MAX_ITEMS {
        v.push(x);
    } else {
        *truncated += 1;
    }
}

/// A source ready to be decided: everything it did up to trigger + gather.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub source: IpAddr,
    /// Cowrie time of the last event kept (the decision's time).
    pub time_us: i64,
    pub evidence: HoneypotEvidence,
}

impl Ready {
    /// "ssh to 192.168.50.10:2222: 3 logins (root/root failed, root/admin ok), 2 commands
    /// (uname -a; wget …), 1 download" — the decision's detail line.
    pub fn detail(&self) -> String {
        let e = &self.evidence;
        let mut parts = Vec::new();
        if !e.logins.is_empty() {
            let shown: Vec<String> = e
                .logins
                .iter()
                .take(6)
                .map(|l| {
                    format!(
                        "{}/{} {}",
                        l.username,
                        l.password,
                        if l.success { "ok" } else { "failed" }
                    )
                })
                .collect();
            let more = if e.logins.len() > 6 { ", …" } else { "" };
            parts.push(format!(
                "{} login(s) ({}{more})",
                e.logins.len(),
                shown.join(", ")
            ));
        }
        if !e.commands.is_empty() {
            let shown: Vec<&str> = e.commands.iter().take(4).map(String::as_str).collect();
            let more = if e.commands.len() > 4 { "; …" } else { "" };
            parts.push(format!(
                "{} command(s) ({}{more})",
                e.commands.len(),
                shown.join("; ")
            ));
        }
        if !e.downloads.is_empty() {
            parts.push(format!("{} download(s)", e.downloads.len()));
        }
        let proto = if e.protocol.is_empty() {
            "honeypot"
        } else {
            &e.protocol
        };
        format!("{proto} to {}: {}", e.honeypot, parts.join(", "))
    }

    /// How many things the source did (logins, commands, downloads).
    pub fn count(&self) -> u64 {
        let e = &self.evidence;
        (e.logins.len() + e.commands.len() + e.downloads.len()) as u64
    }
}

/// Every source's activity, bounded; see the module's comment for when a source is
/// ready.
#[derive(Debug)]
pub struct Tracker {
    trigger: Trigger,
    gather_us: i64,
    /// A ready source is quiet this long (its decision's ttl), then starts afresh.
    ttl_us: i64,
    max_sources: usize,
    sources: HashMap<IpAddr, Source>,
    /// Sources forgotten to stay within `max-sources`.
    pub evicted: u64,
}

impl Tracker {
    /// `ttl`: seconds a decided source stays decided (its events ignored meanwhile).
    pub fn new(cfg: &HoneypotConfig, ttl: u64) -> Tracker {
        Tracker {
            trigger: cfg.trigger,
            gather_us: (cfg.gather * 1e6) as i64,
            ttl_us: (ttl as i64).saturating_mul(1_000_000),
            max_sources: cfg.max_sources,
            sources: HashMap::new(),
            evicted: 0,
        }
    }

    fn triggers(&self, k: &Kind) -> bool {
        match (self.trigger, k) {
            (_, Kind::Command | Kind::Download) => true,
            (Trigger::LoginAttempt, Kind::Login { .. }) => true,
            (Trigger::LoginSuccess, Kind::Login { success }) => *success,
            _ => false,
        }
    }

    /// Sources waiting for their gather window.
    pub fn pending(&self) -> usize {
        self.sources
            .values()
            .filter(|s| s.triggered_us.is_some())
            .count()
    }

    /// Reads one event. Returns the sources that became ready *before* it (their window
    /// closed at or before this event's time), so the event itself never joins a closed
    /// window. A ready source is decided: its events are ignored for `ttl`, then a new
    /// round starts from scratch.
    pub fn on_event(&mut self, ev: Event) -> Vec<Ready> {
        let mut ready = self.ready_before(ev.time_us);
        if !self.sources.contains_key(&ev.src) && self.sources.len() >= self.max_sources {
            self.evict();
        }
        let triggers = self.triggers(&ev.kind);
        let s = self.sources.entry(ev.src).or_default();
        s.last_us = s.last_us.max(ev.time_us);
        if let Some(until) = s.decided_until_us {
            if ev.time_us < until {
                return ready; // decided and in force: nothing new to decide
            }
            *s = Source::default();
            s.last_us = ev.time_us;
        }
        let e = &mut s.evidence;
        if e.protocol.is_empty() && !ev.protocol.is_empty() {
            e.protocol = ev.protocol.clone();
        }
        if e.sensor.is_empty() {
            e.sensor = ev.sensor.clone();
        }
        if let Some(d) = &ev.dst {
            if e.honeypot.is_empty() {
                e.honeypot = d.clone();
            }
        }
        if !ev.session.is_empty() {
            push_bounded(&mut e.sessions, ev.session.clone(), &mut e.truncated, true);
        }
        match &ev.kind {
            Kind::Login { success } => push_bounded(
                &mut e.logins,
                HoneypotLogin {
                    username: ev.username.clone().unwrap_or_default(),
                    password: ev.password.clone().unwrap_or_default(),
                    success: *success,
                },
                &mut e.truncated,
                false,
            ),
            Kind::Command => {
                if let Some(i) = &ev.input {
                    push_bounded(&mut e.commands, i.clone(), &mut e.truncated, false);
                }
            }
            Kind::Download => push_bounded(
                &mut e.downloads,
                HoneypotDownload {
                    url: ev.url.clone(),
                    sha256: ev.sha256.clone(),
                },
                &mut e.truncated,
                true,
            ),
            _ => {}
        }
        s.kept_until_us = s.kept_until_us.max(ev.time_us);
        if triggers && s.triggered_us.is_none() {
            s.triggered_us = Some(ev.time_us);
        }
        // A window of zero closes with its own event.
        if self.gather_us == 0 {
            ready.extend(self.ready_before(ev.time_us + 1));
        }
        ready
    }

    /// Sources whose window (trigger + gather) ends before `t_us`.
    pub fn ready_before(&mut self, t_us: i64) -> Vec<Ready> {
        let (gather, ttl) = (self.gather_us, self.ttl_us);
        let mut out: Vec<Ready> = self
            .sources
            .iter_mut()
            .filter_map(|(ip, s)| {
                let t = s.triggered_us?;
                (t + gather < t_us).then(|| {
                    s.triggered_us = None;
                    s.decided_until_us = Some(s.kept_until_us.saturating_add(ttl));
                    Ready {
                        source: *ip,
                        time_us: s.kept_until_us,
                        evidence: s.evidence.clone(),
                    }
                })
            })
            .collect();
        out.sort_by_key(|r| (r.time_us, r.source));
        out
    }

    /// Every source still waiting (the end of a `--once` read).
    pub fn flush(&mut self) -> Vec<Ready> {
        self.ready_before(i64::MAX)
    }

    /// Marks a source decided until `until_us` (Cowrie time): its events are ignored
    /// until then.
    pub fn decided(&mut self, source: IpAddr, until_us: i64) {
        if let Some(s) = self.sources.get_mut(&source) {
            s.decided_until_us = Some(until_us);
            s.triggered_us = None;
        }
    }

    /// The gate did not admit `source`'s decision (a rate or a cap): it is not treated as
    /// decided, so its next event starts a new round.
    pub fn rearm(&mut self, source: IpAddr) {
        if let Some(s) = self.sources.get_mut(&source) {
            s.decided_until_us = None;
        }
    }

    /// Makes room: forgets the quieter half of the sources not waiting for their window
    /// (amortised: a flood of new addresses costs O(1) each, not a scan each).
    fn evict(&mut self) {
        let mut quiet: Vec<i64> = self
            .sources
            .values()
            .filter(|s| s.triggered_us.is_none())
            .map(|s| s.last_us)
            .collect();
        let before = self.sources.len();
        if quiet.is_empty() {
            // Everyone is waiting: the oldest trigger goes.
            if let Some(ip) = self
                .sources
                .iter()
                .min_by_key(|(ip, s)| (s.last_us, **ip))
                .map(|(ip, _)| *ip)
            {
                self.sources.remove(&ip);
            }
        } else {
            let mid = quiet.len() / 2;
            let (_, cut, _) = quiet.select_nth_unstable(mid);
            let cut = *cut;
            self.sources
                .retain(|_, s| s.triggered_us.is_some() || s.last_us > cut);
        }
        self.evicted += (before - self.sources.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, src: &str, t: &str, extra: &str) -> String {
        format!(
            r#"{{"eventid":"{id}","src_ip":"{src}","timestamp":"2026-12-07T10:00:{t}Z","session":"s1","protocol":"ssh","sensor":"cam","dst_ip":"192.168.50.10","dst_port":22{extra}}}"#
        )
    }

    fn feed(t: &mut Tracker, lines: &[String]) -> Vec<Ready> {
        let mut out = Vec::new();
        for l in lines {
            if let Some(ev) = parse(l).unwrap() {
                out.extend(t.on_event(ev));
            }
        }
        out
    }

    #[test]
    fn a_fast_bot_is_decided_with_everything_it_did_within_the_window() {
        let cfg = HoneypotConfig::default();
        let mut t = Tracker::new(&cfg, 3600);
        let a = "203.0.113.9";
        let lines = [
            line("cowrie.session.connect", a, "00.000000", ""),
            line(
                "cowrie.login.failed",
                a,
                "00.100000",
                r#","username":"root","password":"root""#,
            ),
            line(
                "cowrie.login.failed",
                a,
                "00.200000",
                r#","username":"root","password":"123456""#,
            ),
            line(
                "cowrie.login.success",
                a,
                "00.300000",
                r#","username":"root","password":"vizxv""#,
            ),
            line(
                "cowrie.command.input",
                a,
                "00.400000",
                r#","input":"uname -a""#,
            ),
            line(
                "cowrie.session.file_download",
                a,
                "00.550000",
                r#","url":"http://198.51.100.7/x.sh","shasum":"AB12""#,
            ),
            // After the window: not in the decision.
            line(
                "cowrie.command.input",
                a,
                "00.700000",
                r#","input":"rm -rf /tmp/x""#,
            ),
        ];
        let ready = feed(&mut t, &lines);
        assert_eq!(ready.len(), 1, "{ready:?}");
        let r = &ready[0];
        assert_eq!(r.source.to_string(), a);
        assert_eq!(r.evidence.logins.len(), 3);
        assert_eq!(r.evidence.logins[2].password, "vizxv");
        assert!(r.evidence.logins[2].success && !r.evidence.logins[0].success);
        assert_eq!(r.evidence.commands, ["uname -a"]);
        assert_eq!(r.evidence.downloads[0].sha256.as_deref(), Some("ab12"));
        assert_eq!(r.evidence.honeypot, "192.168.50.10:22");
        assert_eq!(r.count(), 5);
        // Decided at the last event kept.
        assert_eq!(
            r.time_us,
            suriguard_eve::EveTime::parse("2026-12-07T10:00:00.550000Z")
                .unwrap()
                .0
        );
        assert!(
            r.detail()
                .contains("3 login(s) (root/root failed, root/123456 failed, root/vizxv ok)"),
            "{}",
            r.detail()
        );
        // Nothing else is pending; the late command belongs to no window.
        assert!(t.flush().is_empty());
    }

    #[test]
    fn a_bare_connection_is_not_a_trigger_and_the_end_of_input_flushes() {
        let cfg = HoneypotConfig::default();
        let mut t = Tracker::new(&cfg, 3600);
        let ready = feed(
            &mut t,
            &[
                line("cowrie.session.connect", "198.51.100.1", "00.000000", ""),
                line(
                    "cowrie.login.failed",
                    "198.51.100.2",
                    "01.000000",
                    r#","username":"admin","password":"admin""#,
                ),
            ],
        );
        assert!(ready.is_empty());
        let flushed = t.flush();
        assert_eq!(flushed.len(), 1);
        assert_eq!(flushed[0].source.to_string(), "198.51.100.2");
    }

    #[test]
    fn a_decided_source_is_quiet_until_its_decision_ends_and_memory_is_bounded() {
        let cfg = HoneypotConfig {
            max_sources: 2,
            gather: 0.0,
            ..HoneypotConfig::default()
        };
        let mut t = Tracker::new(&cfg, 10);
        let r = feed(
            &mut t,
            &[line(
                "cowrie.login.failed",
                "198.51.100.2",
                "00.000000",
                r#","username":"a","password":"b""#,
            )],
        );
        assert_eq!(r.len(), 1);
        let again = feed(
            &mut t,
            &[line(
                "cowrie.login.failed",
                "198.51.100.2",
                "05.000000",
                r#","username":"a","password":"c""#,
            )],
        );
        assert!(again.is_empty(), "in force: {again:?}");
        let later = feed(
            &mut t,
            &[line(
                "cowrie.login.failed",
                "198.51.100.2",
                "11.000000",
                r#","username":"a","password":"d""#,
            )],
        );
        assert_eq!(later.len(), 1, "after the ttl, a new round");
        assert_eq!(later[0].evidence.logins.len(), 1, "from scratch");
        for (i, src) in ["198.51.100.3", "198.51.100.4", "198.51.100.5"]
            .iter()
            .enumerate()
        {
            feed(
                &mut t,
                &[line(
                    "cowrie.session.connect",
                    src,
                    &format!("2{i}.000000"),
                    "",
                )],
            );
        }
        assert!(t.sources.len() <= 2);
        assert!(t.evicted >= 2);
    }

    #[test]
    fn the_triggers_and_bad_lines() {
        let cfg = HoneypotConfig {
            trigger: Trigger::Command,
            ..HoneypotConfig::default()
        };
        let mut t = Tracker::new(&cfg, 3600);
        feed(
            &mut t,
            &[line(
                "cowrie.login.success",
                "198.51.100.2",
                "00.000000",
                r#","username":"a","password":"b""#,
            )],
        );
        assert!(t.flush().is_empty(), "a login is not a command");
        assert!(parse("{").unwrap_err().contains("not JSON"));
        assert!(
            parse(r#"{"eventid":"x","src_ip":"nope","timestamp":"2026-12-07T10:00:00Z"}"#)
                .unwrap_err()
                .contains("not an address")
        );
        assert_eq!(parse(r#"{"eventid":"cowrie.log.closed"}"#).unwrap(), None);
        let long = "x".repeat(10_000);
        let ev = parse(&line(
            "cowrie.command.input",
            "198.51.100.2",
            "00.000000",
            &format!(r#","input":"{long}""#),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(ev.input.unwrap().len(), MAX_TEXT);
    }
}
