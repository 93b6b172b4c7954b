//! `alerts`, `events`, `mitigate`, `notify` and `run`: the incident loop.

use std::path::{Path, PathBuf};

use crate::config::Config;
use serde::Serialize;
use suriguard_report::incident::Incident;

use crate::error::CtlError;
use crate::intake::{self, FileReport};
use crate::store::{now_us, Row, Store};
use crate::{advice, misp, notify};

pub fn open(cfg: &Config) -> Result<Store, CtlError> {
    Store::open(&cfg.database())
}

/// Reads new incidents from eve.json and the decisions journal.
pub fn ingest(
    store: &Store,
    cfg: &Config,
    eve: Option<&Path>,
    decisions: Option<&Path>,
) -> Result<Vec<FileReport>, CtlError> {
    let now = now_us();
    let misp_on = cfg.misp.url.is_some();
    let sightings = misp_on && cfg.misp.sightings && cfg.misp.intel_index.is_some();
    let states = |inc: &Incident| -> (&'static str, Option<&'static str>) {
        let state = if misp_on && cfg.misp.wants(inc) {
            "pending"
        } else {
            "local"
        };
        // Sightings do not depend on severity: every hit on an indicator is one, and so
        // is every honeypot visitor MISP knows.
        let honeypot = inc.origin == suriguard_report::incident::Origin::Decision
            && inc.signature == "honeypot";
        let sight = (sightings && (inc.intel_set.is_some() || honeypot)).then_some("pending");
        (state, sight)
    };
    let mut new = |s: &Store, inc: &Incident| notify::plan(s, &cfg.notify, inc, now);
    let eve: PathBuf = eve
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cfg.alerts.eve.clone());
    let journal: PathBuf = decisions
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cfg.decisions_log());
    let mut out = Vec::new();
    for path in [eve, journal] {
        out.push(intake::ingest(store, &path, now, &states, &mut new)?);
    }
    let cutoff = now - cfg.alerts.keep_days as i64 * 86_400 * 1_000_000;
    store.prune(cutoff)?;
    Ok(out)
}

/// `--since`: `30m`, `24h`, `7d`, or an RFC 3339 / EVE timestamp.
pub fn parse_since(s: &str) -> Result<i64, CtlError> {
    if let Some(t) = suriguard_eve::EveTime::parse(s) {
        return Ok(t.micros());
    }
    if let Some(t) = suriguard_eve::EveTime::parse(&format!("{s}T00:00:00Z")) {
        return Ok(t.micros());
    }
    let secs = crate::decisions::parse_ttl(s).map_err(|e| CtlError::Since {
        text: s.to_owned(),
        source: Box::new(e),
    })?;
    Ok(now_us() - secs as i64 * 1_000_000)
}

pub fn alerts_table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<6} {:<27} {:<8} {:>3}  {:<39} {:<39} {:<10} {}\n",
        "ID", "TIME", "KIND", "SEV", "SOURCE", "DESTINATION", "MISP", "WHAT"
    );
    for r in rows {
        let i = &r.incident;
        let ep = |ip: &Option<String>, p: Option<u16>| match (ip, p) {
            (Some(ip), Some(p)) => format!("{ip}:{p}"),
            (Some(ip), None) => ip.clone(),
            (None, Some(p)) => format!("port {p}"),
            (None, None) => "-".into(),
        };
        let what = match i.signature_id {
            Some(sid) => format!("[{sid}] {}", i.signature),
            None => format!("{} {}", i.category.as_deref().unwrap_or(""), i.signature),
        };
        out.push_str(&format!(
            "{:<6} {:<27} {:<8} {:>3}  {:<39} {:<39} {:<10} {}\n",
            r.id,
            i.time,
            i.origin.as_str(),
            i.severity,
            ep(&i.src_ip, i.src_port),
            ep(&i.dest_ip, i.dest_port),
            r.misp_state,
            what
        ));
    }
    if rows.is_empty() {
        out.push_str("(no incidents)\n");
    }
    out
}

pub fn events_table(rows: &[misp::EventRow]) -> String {
    let mut out = format!(
        "{:<8} {:<36} {:>3} {:>9} {:>10} {:<9} {}\n",
        "MISP ID", "UUID", "TL", "INCIDENTS", "ATTRIBUTES", "PUBLISHED", "INFO"
    );
    for e in rows {
        out.push_str(&format!(
            "{:<8} {:<36} {:>3} {:>9} {:>10} {:<9} {}\n",
            e.misp_id.as_deref().unwrap_or("-"),
            e.uuid,
            e.threat_level,
            e.incidents,
            e.attributes,
            if e.published { "yes" } else { "no" },
            e.info
        ));
    }
    if rows.is_empty() {
        out.push_str("(no events)\n");
    }
    out
}

pub fn advice_text(inc: &Incident, a: &suriguard_report::mitigate::Advice) -> String {
    let mut s = format!("{} — {}\n{}\n\n", a.title, a.class.as_str(), a.summary);
    if let Some(why) = &a.fallback_reason {
        s.push_str(&format!("(LLM unavailable: {why}; built-in advice)\n\n"));
    }
    for (n, step) in a.steps.iter().enumerate() {
        s.push_str(&format!("{}. {step}\n", n + 1));
    }
    s.push_str(&format!(
        "\nsource: {}  ·  incident {}\n",
        a.source, inc.key
    ));
    s
}

/// The whole loop once: ingest, push to MISP, deliver notifications.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub ingest: Vec<FileReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misp: Option<misp::PushReport>,
    pub notify: notify::SendReport,
}

pub fn run_once(store: &Store, cfg: &Config) -> Result<RunReport, CtlError> {
    let ingest = ingest(store, cfg, None, None)?;
    let net = cfg.network_model();
    let misp = match cfg.misp.url {
        Some(_) => Some(misp::push(store, &cfg.misp, &net, false)?),
        None => None,
    };
    let notify = notify::deliver(store, &cfg.notify, &cfg.mitigate, &net, now_us(), false)?;
    Ok(RunReport {
        ingest,
        misp,
        notify,
    })
}

pub fn ingest_summary(files: &[FileReport]) -> String {
    let mut s = String::new();
    for f in files {
        if f.missing {
            s.push_str(&format!("{}: not there (yet)\n", f.path));
        } else {
            s.push_str(&format!(
                "{}: {} line(s), {} incident(s), {} new, {} skipped{}\n",
                f.path,
                f.lines,
                f.incidents,
                f.new,
                f.skipped,
                f.first_error
                    .as_ref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default()
            ));
        }
    }
    s
}

pub fn misp_summary(m: &misp::PushReport) -> String {
    format!(
        "misp: {} pushed ({} event(s) created, {} updated, {} attribute(s), {} sighting(s), {} published), {} still queued, {} failed{}\n",
        m.pushed, m.events_created, m.events_updated, m.attributes_added, m.sightings, m.published,
        m.left_queued, m.failed,
        m.error.as_ref().map(|e| format!(" — {e}")).unwrap_or_default()
    )
}

pub fn notify_summary(n: &notify::SendReport) -> String {
    format!(
        "notify: {} sent, {} digest(s) built, {} to retry, {} waiting, {} dead\n",
        n.sent, n.digests_built, n.failed, n.waiting, n.dead
    )
}

pub fn run_summary(r: &RunReport) -> String {
    let mut s = ingest_summary(&r.ingest);
    if let Some(m) = &r.misp {
        s.push_str(&misp_summary(m));
    }
    s.push_str(&notify_summary(&r.notify));
    s
}

/// `mitigate ID`.
pub fn mitigate(
    store: &Store,
    cfg: &Config,
    id: &str,
    offline: bool,
) -> Result<(Incident, suriguard_report::mitigate::Advice), CtlError> {
    let row = store.get(id)?.ok_or_else(|| CtlError::NoIncident {
        id: id.to_owned(),
        database: cfg.database(),
    })?;
    let a = advice::advise(&cfg.mitigate, &cfg.network_model(), &row.incident, offline);
    Ok((row.incident, a))
}
