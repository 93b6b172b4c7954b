//! `suriguardctl decisions list|add|delete|flush` and `suriguardctl firewall
//! setup|restore|teardown`: the live nftables sets and the enforcement journal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::config::{Config, Scope};
use crate::error::CtlError;
use serde::Serialize;
use suriguard_enforce::journal::{self, Entry};
use suriguard_enforce::nft::{LiveElement, Nft, Op};
use suriguard_enforce::{now_secs, Backend, Limit, SetKind};
use suriguard_net::Cidr;

const BY: &str = "suriguardctl";

/// The configuration `--config` names, else /etc/suriguard/suriguard.toml if present,
/// else the built-in defaults; `scope` says which sections the command reads.
pub fn load_config(path: Option<&Path>, scope: Scope) -> Result<Config, CtlError> {
    Ok(Config::load(path, scope)?)
}

fn backend(cfg: &Config) -> Option<Nft> {
    (cfg.enforce.backend == Backend::Nftables).then(|| Nft::new(cfg.enforce.clone()))
}

/// One row of `decisions list`.
#[derive(Debug, Serialize)]
pub struct Row {
    pub target: Cidr,
    pub action: SetKind,
    /// What a rate limit limits (`{"proto":"tcp","port":80}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    pub reason: String,
    /// Seconds left: the kernel's figure when the element is in the set.
    pub expires_in: Option<u64>,
    /// `enforced` (set and journal), `journal-only` (not in the set: waiting for nft,
    /// or removed behind our back), `set-only` (in the set, not journaled).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub by: String,
}

/// The decisions in force, and a warning when the live sets could not be read.
pub fn list(cfg: &Config) -> Result<(Vec<Row>, Option<String>), CtlError> {
    let now = now_secs();
    let replay = journal::replay(&cfg.enforce_journal(), now)
        .map_err(CtlError::journal(cfg.enforce_journal()))?;
    let (live, warning): (Vec<LiveElement>, Option<String>) = match backend(cfg) {
        Some(nft) => match nft.list() {
            Ok(l) => (l, None),
            Err(e) => (
                Vec::new(),
                Some(format!("cannot read the nftables sets: {e}")),
            ),
        },
        None => (
            Vec::new(),
            Some("[enforce] backend = \"none\": journal only".into()),
        ),
    };
    let mut rows: BTreeMap<(SetKind, Cidr, Option<Limit>), Row> = BTreeMap::new();
    for f in replay.in_force {
        rows.insert(
            (f.kind, f.target, f.limit),
            Row {
                target: f.target,
                action: f.kind,
                limit: f.limit,
                reason: f.reason,
                expires_in: Some(f.until.saturating_sub(now)),
                state: "journal-only",
                id: f.id,
                by: f.by,
            },
        );
    }
    for l in live {
        let row = rows
            .entry((l.kind, l.target, l.limit))
            .or_insert_with(|| Row {
                target: l.target,
                action: l.kind,
                limit: l.limit,
                reason: String::new(),
                expires_in: None,
                state: "set-only",
                id: None,
                by: String::new(),
            });
        if row.state == "journal-only" {
            row.state = "enforced";
        }
        if l.expires_secs.is_some() {
            row.expires_in = l.expires_secs;
        }
    }
    Ok((rows.into_values().collect(), warning))
}

/// An element's action as people read it: `block`, `rate-limit tcp/80`.
pub fn action_text(kind: SetKind, limit: Option<Limit>) -> String {
    match limit {
        Some(l) => format!("{} {l}", kind.as_str()),
        None => kind.as_str().to_owned(),
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<24} {:<20} {:<18} {:>10} {:<12} {:<12} {}\n",
        "TARGET", "ACTION", "REASON", "EXPIRES", "STATE", "BY", "ID"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<24} {:<20} {:<18} {:>10} {:<12} {:<12} {}",
            r.target.to_string(),
            action_text(r.action, r.limit),
            r.reason,
            r.expires_in.map_or("-".into(), human_secs),
            r.state,
            r.by,
            r.id.as_deref().unwrap_or("")
        );
    }
    if rows.is_empty() {
        s.push_str("(no decisions in force)\n");
    }
    s
}

fn human_secs(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, s % 3600 / 60),
    }
}

/// Parses `3600`, `90s`, `15m`, `4h`, `2d`.
pub fn parse_ttl(s: &str) -> Result<u64, CtlError> {
    let bad = |problem: String| CtlError::Duration {
        text: s.to_owned(),
        problem,
    };
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| bad("a duration such as 3600, 90s, 15m, 4h or 2d".into()))?;
    match n.checked_mul(mult) {
        Some(0) | None => Err(bad("must be between 1 s and a few years".into())),
        Some(v) if v > u32::MAX as u64 => Err(bad(format!("at most {} s", u32::MAX))),
        Some(v) => Ok(v),
    }
}

/// What `add` did.
#[derive(Debug, Serialize)]
pub struct Added {
    pub target: Cidr,
    pub action: SetKind,
    pub ttl: u64,
    pub reason: String,
    /// Smaller elements of the same set the new prefix replaced.
    pub replaced: Vec<Cidr>,
    pub enforced: bool,
}

pub fn add(
    cfg: &Config,
    target: Cidr,
    kind: SetKind,
    ttl: u64,
    reason: &str,
) -> Result<Added, CtlError> {
    let net = cfg.network_model();
    if let Some(why) = net.protected_cidr(&target) {
        return Err(CtlError::Protected {
            action: kind.as_str(),
            target,
            why,
        });
    }
    if kind == SetKind::Quarantine && !target.is_host() {
        return Err(CtlError::QuarantinePrefix { target });
    }
    let now = now_secs();
    let until = now + ttl;
    let nft = backend(cfg);
    // Interval sets refuse overlapping elements: a prefix replaces the smaller elements
    // it covers, and a target already covered is reported, not added twice.
    let live = match &nft {
        Some(n) => {
            n.setup(&net.never_blocked())?;
            n.list()?
        }
        None => Vec::new(),
    };
    if let Some(c) = live.iter().find(|l| {
        l.kind == kind
            && l.target != target
            && l.target.contains(target.addr())
            && l.target.prefix_len() <= target.prefix_len()
    }) {
        return Err(CtlError::Covered {
            target,
            by: c.target,
            set: kind.as_str(),
        });
    }
    let replaced: Vec<Cidr> = live
        .iter()
        .filter(|l| l.kind == kind && l.target != target && target.contains(l.target.addr()))
        .map(|l| l.target)
        .collect();
    // The same element already in force: the kernel keeps an existing element's
    // timeout on `add`, so it is deleted and added again in the same transaction (the
    // new ttl replaces the old one: extending, or shortening, a decision).
    let again = live
        .iter()
        .any(|l| l.kind == kind && l.target == target && l.limit.is_none());
    let mut entries: Vec<Entry> = replaced
        .iter()
        .map(|&c| Entry::delete(kind, c, BY))
        .collect();
    // (`add` makes blocks and quarantines: a rate limit is the flood-target detector's.)
    entries.push(Entry::add(kind, target, until, reason, "", BY));
    journal::append_to(&cfg.enforce_journal(), &entries)
        .map_err(CtlError::journal(cfg.enforce_journal()))?;
    let mut enforced = false;
    if let Some(n) = &nft {
        let mut ops: Vec<Op> = replaced
            .iter()
            .map(|&c| Op::Delete {
                kind,
                target: c,
                limit: None,
            })
            .collect();
        if again {
            ops.push(Op::Delete {
                kind,
                target,
                limit: None,
            });
        }
        ops.push(Op::Add {
            kind,
            target,
            limit: None,
            timeout_secs: ttl,
        });
        n.apply(&ops).map_err(|source| CtlError::NftJournaled {
            what: "decision",
            source,
        })?;
        enforced = true;
    }
    Ok(Added {
        target,
        action: kind,
        ttl,
        reason: reason.to_owned(),
        replaced,
        enforced,
    })
}

/// Lifts every decision (block, quarantine, and rate limits of every service) against
/// exactly `target`; returns what was lifted.
pub fn delete(cfg: &Config, target: Cidr) -> Result<Vec<(SetKind, Option<Limit>)>, CtlError> {
    delete_by(cfg, target, BY)
}

/// [`delete`], journaled as done by `by` (the console names who clicked).
pub fn delete_by(
    cfg: &Config,
    target: Cidr,
    by: &str,
) -> Result<Vec<(SetKind, Option<Limit>)>, CtlError> {
    let (rows, warning) = list(cfg)?;
    let rows: Vec<&Row> = rows.iter().filter(|r| r.target == target).collect();
    if rows.is_empty() {
        return Err(CtlError::NoDecision { target });
    }
    let entries: Vec<Entry> = rows
        .iter()
        .map(|r| Entry::delete(r.action, target, by).with_limit(r.limit))
        .collect();
    journal::append_to(&cfg.enforce_journal(), &entries)
        .map_err(CtlError::journal(cfg.enforce_journal()))?;
    if let Some(n) = backend(cfg) {
        if let Some(warning) = warning {
            return Err(CtlError::DeleteUnchecked { target, warning });
        }
        // Only what the listing above found in the set: deleting an absent element
        // fails the whole transaction.
        let ops: Vec<Op> = rows
            .iter()
            .filter(|r| r.state != "journal-only")
            .map(|r| Op::Delete {
                kind: r.action,
                target,
                limit: r.limit,
            })
            .collect();
        n.apply(&ops)?;
    }
    Ok(rows.iter().map(|r| (r.action, r.limit)).collect())
}

pub fn flush(cfg: &Config) -> Result<(), CtlError> {
    journal::append_to(&cfg.enforce_journal(), &[Entry::flush(BY)])
        .map_err(CtlError::journal(cfg.enforce_journal()))?;
    if let Some(n) = backend(cfg) {
        n.apply(&[Op::Flush])?;
    }
    Ok(())
}

/// The nftables back end, or [`CtlError::NoBackend`] naming what there is nothing to do.
fn nft_for(cfg: &Config, action: &'static str) -> Result<Nft, CtlError> {
    backend(cfg).ok_or(CtlError::NoBackend { action })
}

/// `firewall restore`: setup plus everything the journal holds in force.
pub fn restore(cfg: &Config) -> Result<usize, CtlError> {
    let nft = nft_for(cfg, "restore")?;
    let now = now_secs();
    let replay = journal::replay(&cfg.enforce_journal(), now)
        .map_err(CtlError::journal(cfg.enforce_journal()))?;
    let items = replay
        .in_force
        .iter()
        .map(|f| (f.kind, f.target, f.limit, f.until));
    Ok(suriguard_enforce::restore(
        &nft,
        &cfg.network_model(),
        items,
        now,
    )?)
}

pub fn setup(cfg: &Config) -> Result<(), CtlError> {
    let nft = nft_for(cfg, "set up")?;
    Ok(nft.setup(&cfg.network_model().never_blocked())?)
}

pub fn teardown(cfg: &Config) -> Result<(), CtlError> {
    let nft = nft_for(cfg, "remove")?;
    Ok(nft.teardown()?)
}

/// `decisions explain ID|ADDRESS`: the decisions of the journal with that id (or an id
/// prefix of 6 characters or more), or against that address, oldest first.
pub fn find(cfg: &Config, what: &str) -> Result<Vec<suriguard_decision::Decision>, CtlError> {
    let path = cfg.decisions_log();
    // With the generation logrotate moved aside last: a week or more of history.
    let all = suriguard_decision::DecisionLog::read_recent(&path)
        .map_err(CtlError::file("read the decisions journal", &path))?;
    let addr: Option<std::net::IpAddr> = what.parse().ok();
    let id = what.to_ascii_lowercase();
    Ok(all
        .into_iter()
        .filter(|d| match addr {
            Some(a) => d.target == a,
            None => id.len() >= 6 && d.id.starts_with(&id),
        })
        .collect())
}

/// The explanation of one decision, as people read it: what, why, against which
/// threshold, from which evidence, and the model's verdicts when the model decided.
pub fn explain(d: &suriguard_decision::Decision) -> String {
    let e = &d.evidence;
    let mut t = String::new();
    let action = match d.limit {
        Some(l) => format!("{} {l}", d.action.as_str()),
        None => d.action.as_str().to_owned(),
    };
    let _ = writeln!(
        t,
        "Decision {}: {action} {} ({}, {})",
        d.id,
        d.target,
        d.reason.as_str(),
        format!("{:?}", d.direction).to_lowercase()
    );
    let _ = writeln!(
        t,
        "  when:       {} · in force for {} s · confidence {:.2}{}",
        d.time,
        d.ttl,
        d.confidence,
        if d.dry_run {
            " · dry run (not enforced)"
        } else {
            ""
        }
    );
    let _ = writeln!(t, "  why:        {}", d.summary);
    let window = if e.window_secs > 0.0 {
        format!(" within {} s", e.window_secs)
    } else {
        String::new()
    };
    let _ = writeln!(
        t,
        "  evidence:   {}: {} observed, threshold {}{window}",
        e.counter, e.observed, e.threshold
    );
    if let Some(detail) = &e.detail {
        let _ = writeln!(t, "  detail:     {detail}");
    }
    if let Some(m) = &e.model {
        let _ = writeln!(
            t,
            "  model:      {} (verdicts of confidence {:.2} or more count)",
            m.model, m.min_confidence
        );
        for v in &m.verdicts {
            let _ = writeln!(
                t,
                "              {} {} {:.2} over {} flows",
                v.time, v.class, v.confidence, v.steps
            );
        }
    }
    if !e.example_flow_ids.is_empty() {
        let ids: Vec<String> = e.example_flow_ids.iter().map(u64::to_string).collect();
        let _ = writeln!(t, "  flows:      {} (flow_id in eve.json)", ids.join(", "));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("3600").unwrap(), 3600);
        assert_eq!(parse_ttl("90s").unwrap(), 90);
        assert_eq!(parse_ttl("15m").unwrap(), 900);
        assert_eq!(parse_ttl("4h").unwrap(), 14_400);
        assert_eq!(parse_ttl("2d").unwrap(), 172_800);
        let e = parse_ttl("0").unwrap_err();
        assert!(
            matches!(&e, CtlError::Duration { text, .. } if text == "0"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "\"0\": must be between 1 s and a few years");
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("-5m").is_err());
        assert!(parse_ttl("99999999999d").is_err());
    }

    use suriguard_decision::{Action, Decision, Evidence, ModelEvidence, ModelVerdict, Reason};

    #[test]
    fn an_explanation_names_reason_threshold_evidence_and_verdicts() {
        let d = Decision {
            id: "37a74a09999aefb0".into(),
            time: "2024-01-01T00:00:20.000000Z".into(),
            time_us: 1_704_067_220_000_000,
            target: "185.156.73.54".parse().unwrap(),
            action: Action::Block,
            limit: None,
            reason: Reason::Model,
            direction: suriguard_net::Direction::Inbound,
            summary: "block 185.156.73.54: 2 malicious model verdicts within 60 s".into(),
            evidence: Evidence {
                counter: "malicious model verdicts".into(),
                observed: 2,
                threshold: 2,
                window_secs: 60.0,
                example_flow_ids: vec![11, 12],
                detail: Some("model suriguard-seq-lstm 2: scan 0.99, scan 0.96".into()),
                model: Some(ModelEvidence {
                    model: "suriguard-seq-lstm 2".into(),
                    min_confidence: 0.6,
                    verdicts: vec![ModelVerdict {
                        time: "2024-01-01T00:00:19.000000Z".into(),
                        class: "scan".into(),
                        confidence: 0.99,
                        steps: 8,
                    }],
                }),
                honeypot: None,
            },
            ttl: 3600,
            confidence: 0.98,
            dry_run: true,
        };
        let t = explain(&d);
        for want in [
            "Decision 37a74a09999aefb0: block 185.156.73.54 (model, inbound)",
            "dry run (not enforced)",
            "malicious model verdicts: 2 observed, threshold 2 within 60 s",
            "suriguard-seq-lstm 2 (verdicts of confidence 0.60 or more count)",
            "2024-01-01T00:00:19.000000Z scan 0.99 over 8 flows",
            "11, 12 (flow_id in eve.json)",
        ] {
            assert!(t.contains(want), "{want:?} missing:\n{t}");
        }
    }
}
