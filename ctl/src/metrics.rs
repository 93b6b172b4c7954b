//! `suriguardctl metrics` and the console's `/metrics`: the plugin's counters (its stats
//! file, which a running plugin rewrites every `stats-interval`), the decisions and
//! enforcement journals, rulesync's state and the store's queues, in Prometheus' text
//! format. Everything comes from the files the other commands read; nothing is kept
//! here. A part that cannot be read is left out and counted in
//! `suriguard_metrics_source_up{source}` (0), so one missing file never hides the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use suriguard_guard::PluginStats;
use suriguard_intel::store::Store as IntelStore;
use suriguard_report::metrics::Exposition;

use crate::config::Config;
use crate::store::Store;

/// Where the metrics come from.
#[derive(Debug, Clone)]
pub struct MetricSources {
    pub stats_file: PathBuf,
    pub decisions: PathBuf,
    pub enforce_journal: PathBuf,
    pub rulesync_state: PathBuf,
    pub database: PathBuf,
}

impl MetricSources {
    /// The files of `cfg`: the stats file, `rulesync-state.json` and the store in its
    /// state dir unless given.
    pub fn of(cfg: &Config, stats_file: Option<&Path>, rulesync_state: Option<&Path>) -> Self {
        MetricSources {
            stats_file: stats_file
                .map(Path::to_owned)
                .unwrap_or_else(|| cfg.state_dir.join("plugin-stats.json")),
            decisions: cfg.decisions_log(),
            enforce_journal: cfg.enforce_journal(),
            rulesync_state: rulesync_state
                .map(Path::to_owned)
                .unwrap_or_else(|| cfg.state_dir.join("rulesync-state.json")),
            database: cfg.database(),
        }
    }
}

/// The whole document, at wall-clock time `now` (Unix seconds).
pub fn render(src: &MetricSources, now: u64) -> String {
    let mut e = Exposition::new();
    let mut up: Vec<(&str, bool)> = Vec::new();
    let plugin = std::fs::read_to_string(&src.stats_file)
        .ok()
        .and_then(|t| serde_json::from_str::<PluginStats>(&t).ok());
    up.push(("plugin_stats", plugin.is_some()));
    if let Some(p) = &plugin {
        plugin_metrics(&mut e, p, now);
    }
    up.push((
        "decisions_journal",
        decision_metrics(&mut e, &src.decisions),
    ));
    up.push((
        "enforce_journal",
        enforcement_journal_metrics(&mut e, &src.enforce_journal, now),
    ));
    up.push((
        "rulesync_state",
        rulesync_metrics(&mut e, &src.rulesync_state),
    ));
    up.push(("store", store_metrics(&mut e, &src.database)));
    e.gauge_each(
        "suriguard_metrics_source_up",
        "Whether the source of a group of metrics could be read (1) or not (0).",
        up.iter()
            .map(|(name, ok)| (vec![("source", *name)], if *ok { 1.0 } else { 0.0 })),
    );
    e.finish()
}

fn by_label<'a>(
    label: &'a str,
    m: &'a BTreeMap<String, u64>,
) -> Vec<(Vec<(&'a str, &'a str)>, f64)> {
    m.iter()
        .map(|(k, v)| (vec![(label, k.as_str())], *v as f64))
        .collect()
}

fn plugin_metrics(e: &mut Exposition, p: &PluginStats, now: u64) {
    let w = &p.write;
    let i = &p.ingest;
    e.gauge1(
        "suriguard_plugin_running",
        "1 while Suricata runs with the plugin (stats published every stats-interval), 0 once it wrote its final counters.",
        if p.running { 1.0 } else { 0.0 },
    );
    e.gauge1(
        "suriguard_plugin_stats_updated_timestamp_seconds",
        "When the plugin wrote these counters (Unix time).",
        p.updated_unix as f64,
    );
    e.gauge1(
        "suriguard_plugin_stats_age_seconds",
        "Seconds since the plugin wrote these counters.",
        now.saturating_sub(p.updated_unix) as f64,
    );
    e.gauge1(
        "suriguard_plugin_queue_capacity_records",
        "Records the detection queue holds at most.",
        p.queue_size as f64,
    );
    // Left out for a stats file from before the heap was counted (not known, not 0).
    if p.heap.peak_bytes > 0 {
        e.gauge1(
        "suriguard_plugin_heap_bytes",
        "Bytes the plugin library's own code holds on the heap inside Suricata (requested sizes; Suricata's allocations not included; one figure for all suriguard outputs).",
        p.heap.bytes as f64,
    );
        e.gauge1(
        "suriguard_plugin_heap_peak_bytes",
        "The most bytes the plugin's own code held on the heap at once since Suricata loaded it.",
        p.heap.peak_bytes as f64,
    );
    }
    e.counter1(
        "suriguard_records_received_total",
        "EVE records Suricata handed to the plugin.",
        w.calls,
    );
    e.counter1(
        "suriguard_records_queued_total",
        "Records put on the detection queue.",
        w.queued,
    );
    e.counter(
        "suriguard_records_dropped_total",
        "Records detection never saw, by reason (queue full is a counted drop: Write never waits).",
        &[
            (&[("reason", "queue_full")], w.dropped_queue_full as f64),
            (&[("reason", "oversized")], w.rejected_oversized as f64),
            (&[("reason", "invalid")], w.rejected_invalid as f64),
            (&[("reason", "empty")], w.rejected_empty as f64),
        ],
    );
    let skipped = p.skipped.to_map();
    let skipped = by_label("type", &skipped);
    e.counter_each(
        "suriguard_records_skipped_total",
        "Records of types detection does not read, passed over before the queue, by event type.",
        skipped,
    );
    let parsed = i.parsed.to_map();
    let parsed = by_label("type", &parsed);
    e.counter_each(
        "suriguard_records_parsed_total",
        "Records the worker parsed, by event type.",
        parsed,
    );
    e.counter1(
        "suriguard_parse_errors_total",
        "Records that were not valid EVE JSON.",
        i.parse_errors,
    );
    e.counter(
        "suriguard_panics_total",
        "Panics contained inside the plugin, by where.",
        &[
            (&[("where", "write")], w.write_panics as f64),
            (&[("where", "worker")], i.worker_panics as f64),
        ],
    );
    if let Some(d) = &i.detect {
        e.counter(
            "suriguard_detect_records_total",
            "Records the detection engine handled, by kind.",
            &[
                (&[("kind", "flow")], d.flows as f64),
                (&[("kind", "http")], d.http as f64),
                (&[("kind", "alert")], d.alerts as f64),
            ],
        );
        e.counter(
            "suriguard_detect_ignored_total",
            "Records the engine could not use, by why: transit (between two outside addresses) or incomplete.",
            &[
                (&[("why", "transit")], d.transit as f64),
                (&[("why", "incomplete")], d.incomplete as f64),
            ],
        );
        e.counter1(
            "suriguard_detect_sources_evicted_total",
            "Tracked sources dropped to stay within max-sources.",
            d.sources_evicted,
        );
        e.counter1(
            "suriguard_detect_idle_lists_released_total",
            "Contact lists of idle sources freed (their windows and ten minutes past).",
            d.idle_lists_released,
        );
        let g = &d.gate;
        e.counter(
            "suriguard_gate_proposals_total",
            "Proposals at the gate, by outcome.",
            &[
                (&[("outcome", "admitted")], g.admitted as f64),
                (
                    &[("outcome", "refused_protected")],
                    g.refused_protected as f64,
                ),
                (&[("outcome", "cooldown")], g.suppressed_cooldown as f64),
                (&[("outcome", "rate_limited")], g.rate_limited as f64),
                (&[("outcome", "capped")], g.capped as f64),
                (&[("outcome", "downgraded")], g.downgraded as f64),
            ],
        );
    }
    e.gauge1(
        "suriguard_model_loaded",
        "1 when a model stage runs (0: no model, or it switched itself off).",
        match &i.model {
            Some(m) if m.disabled.is_none() => 1.0,
            _ => 0.0,
        },
    );
    if let Some(m) = &i.model {
        e.counter1(
            "suriguard_model_samples_total",
            "Samples run through the model.",
            m.samples,
        );
        e.counter1(
            "suriguard_model_runs_total",
            "Model runs (batches).",
            m.batches,
        );
        e.counter1(
            "suriguard_model_run_errors_total",
            "Model runs that failed.",
            m.run_errors,
        );
        e.counter(
            "suriguard_model_run_seconds_total",
            "Time spent in model runs.",
            &[(&[], m.run_micros as f64 / 1e6)],
        );
        e.counter1(
            "suriguard_model_malicious_verdicts_total",
            "Verdicts above the policy's confidence.",
            m.malicious_verdicts,
        );
    }
    if let Some(s) = &p.decisions {
        e.counter(
            "suriguard_plugin_decisions_total",
            "Decisions the plugin made, by what became of them.",
            &[
                (&[("outcome", "journaled")], s.journaled as f64),
                (&[("outcome", "enforced")], s.enforced as f64),
                (&[("outcome", "dry_run")], s.dry_run as f64),
                (&[("outcome", "journal_error")], s.journal_errors as f64),
                (&[("outcome", "enforce_error")], s.enforce_errors as f64),
            ],
        );
    }
    if let Some(x) = &p.enforcement {
        e.gauge1(
            "suriguard_enforce_healthy",
            "1 when nftables accepted the enforcer's last setup or batch.",
            if x.healthy { 1.0 } else { 0.0 },
        );
        e.gauge1(
            "suriguard_enforce_elements",
            "Elements the enforcer holds in force in the nftables sets.",
            x.in_force as f64,
        );
        e.counter1(
            "suriguard_enforce_decisions_received_total",
            "Decisions handed to the enforcer.",
            x.received,
        );
        e.counter(
            "suriguard_enforce_decisions_skipped_total",
            "Decisions the enforcer did not apply, by why.",
            &[
                (&[("why", "refused_protected")], x.refused_protected as f64),
                (&[("why", "already_covered")], x.already_covered as f64),
                (
                    &[("why", "dropped_queue_full")],
                    x.dropped_queue_full as f64,
                ),
            ],
        );
        e.counter1(
            "suriguard_enforce_elements_applied_total",
            "Elements committed to nftables (re-applications included).",
            x.applied,
        );
        e.counter1(
            "suriguard_enforce_batches_total",
            "nftables transactions.",
            x.batches,
        );
        e.counter1(
            "suriguard_enforce_errors_total",
            "Failed nftables transactions (each retried with everything in force).",
            x.apply_errors,
        );
        let buckets = fixed_buckets(&x.latency_us);
        e.histogram(
            "suriguard_enforce_latency_seconds",
            "From a decision handed to the enforcer to its element committed.",
            &buckets,
            x.latency_total_us as f64 / 1e6,
        );
    }
    if let Some(f) = &p.eve_file {
        e.counter1(
            "suriguard_evefile_records_written_total",
            "Records the plugin wrote to its eve.json.",
            f.written,
        );
        e.counter1(
            "suriguard_evefile_written_bytes_total",
            "Bytes the plugin wrote to its eve.json.",
            f.bytes,
        );
        e.counter(
            "suriguard_evefile_records_lost_total",
            "Records that did not reach eve.json, by why.",
            &[
                (&[("why", "queue_full")], f.dropped_queue_full as f64),
                (&[("why", "write_error")], f.lost as f64),
                (&[("why", "rejected")], f.rejected as f64),
            ],
        );
        e.counter1(
            "suriguard_evefile_reopened_total",
            "Times eve.json was reopened (rotation).",
            f.reopened,
        );
    }
}

/// Upper bounds (seconds) of the enforcement latency histogram: the same on every scrape,
/// as Prometheus needs.
pub const LATENCY_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The enforcer's fine buckets (upper bound µs → count) in [`LATENCY_BOUNDS`]: each
/// fine bucket goes to the first bound at or above its own upper bound (a bound's count
/// may hold observations up to 12.5 % above it, never below); those beyond the last
/// bound go to a bucket at +Inf.
fn fixed_buckets(fine: &BTreeMap<u64, u64>) -> Vec<(f64, u64)> {
    let mut out: Vec<(f64, u64)> = LATENCY_BOUNDS.iter().map(|&b| (b, 0)).collect();
    let mut beyond = 0;
    for (&le_us, &n) in fine {
        let le = le_us as f64 / 1e6;
        match out.iter_mut().find(|(b, _)| le <= *b) {
            Some(slot) => slot.1 += n,
            None => beyond += n,
        }
    }
    out.push((f64::INFINITY, beyond));
    out
}

/// Decisions in the journal by reason and action. False when the journal cannot be read
/// (a missing journal is an empty one).
fn decision_metrics(e: &mut Exposition, path: &Path) -> bool {
    let all = match suriguard_decision::DecisionLog::read_all(path) {
        Ok(d) => d,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(_) => return false,
    };
    let mut n: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for d in &all {
        *n.entry((d.reason.as_str(), d.action.as_str())).or_default() += 1;
    }
    let samples: Vec<(Vec<(&str, &str)>, f64)> = n
        .iter()
        .map(|((r, a), v)| (vec![("reason", *r), ("action", *a)], *v as f64))
        .collect();
    e.counter_each(
        "suriguard_decisions_total",
        "Decisions in the decisions journal, by reason and action.",
        samples,
    );
    true
}

/// Elements in force by set, from the enforcement journal.
fn enforcement_journal_metrics(e: &mut Exposition, path: &Path, now: u64) -> bool {
    let Ok(replay) = suriguard_enforce::journal::replay(path, now) else {
        return false;
    };
    let mut n: BTreeMap<&str, u64> = BTreeMap::new();
    for f in &replay.in_force {
        *n.entry(f.kind.as_str()).or_default() += 1;
    }
    let samples: Vec<(Vec<(&str, &str)>, f64)> = n
        .iter()
        .map(|(k, v)| (vec![("set", *k)], *v as f64))
        .collect();
    e.gauge_each(
        "suriguard_in_force",
        "Elements in force by set, as the enforcement journal records them.",
        samples,
    );
    true
}

/// rulesync's sources: last success, indicators accepted, last pull failed.
fn rulesync_metrics(e: &mut Exposition, path: &Path) -> bool {
    if !path.exists() {
        return true;
    }
    let Ok(store) = IntelStore::load(path) else {
        return false;
    };
    let success: Vec<(Vec<(&str, &str)>, f64)> = store
        .sources
        .iter()
        .filter_map(|(name, s)| Some((vec![("source", name.as_str())], s.last_success? as f64)))
        .collect();
    e.gauge_each(
        "suriguard_rulesync_last_success_timestamp_seconds",
        "When a source's last successful pull ended (Unix time).",
        success,
    );
    let accepted: Vec<(Vec<(&str, &str)>, f64)> = store
        .sources
        .iter()
        .map(|(name, s)| (vec![("source", name.as_str())], s.accepted as f64))
        .collect();
    e.gauge_each(
        "suriguard_rulesync_indicators",
        "Indicators a source's last successful pull accepted.",
        accepted,
    );
    let failing: Vec<(Vec<(&str, &str)>, f64)> = store
        .sources
        .iter()
        .map(|(name, s)| {
            let failed = s.last_error.is_some() && s.last_attempt > s.last_success;
            (
                vec![("source", name.as_str())],
                if failed { 1.0 } else { 0.0 },
            )
        })
        .collect();
    e.gauge_each(
        "suriguard_rulesync_source_failing",
        "1 when a source's last pull failed.",
        failing,
    );
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for (kind, values) in &store.indicators {
        kinds.insert(kind.to_string(), values.len() as u64);
    }
    let kinds = by_label("kind", &kinds);
    e.gauge_each(
        "suriguard_rulesync_store_indicators",
        "Indicators in rulesync's store, by kind.",
        kinds,
    );
    true
}

/// The store's queues: MISP pushes and notifications by state.
fn store_metrics(e: &mut Exposition, path: &Path) -> bool {
    if !path.exists() {
        return true;
    }
    let Ok(store) = Store::open(path) else {
        return false;
    };
    let Ok(q) = store.queue_counts() else {
        return false;
    };
    let misp = by_label("state", &q.misp);
    e.gauge_each(
        "suriguard_misp_incidents",
        "Incidents by MISP push state (pending ones wait in the push queue).",
        misp,
    );
    let samples: Vec<(Vec<(&str, &str)>, f64)> = q
        .outbox
        .iter()
        .map(|((c, s), v)| {
            (
                vec![("channel", c.as_str()), ("state", s.as_str())],
                *v as f64,
            )
        })
        .collect();
    e.gauge_each(
        "suriguard_notifications",
        "Notifications in the outbox by channel and state.",
        samples,
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_fixed_and_conservative() {
        let mut fine = BTreeMap::new();
        fine.insert(900, 2); // 0.9 ms → the 1 ms bound
        fine.insert(1_000, 1); // exactly 1 ms
        fine.insert(1_100, 4); // 1.1 ms → 2.5 ms
        fine.insert(20_000_000, 1); // 20 s → +Inf only
        let b = fixed_buckets(&fine);
        assert_eq!(b.len(), LATENCY_BOUNDS.len() + 1);
        assert_eq!(b[1], (0.001, 3));
        assert_eq!(b[2], (0.0025, 4));
        assert_eq!(*b.last().unwrap(), (f64::INFINITY, 1));
        assert_eq!(b.iter().map(|x| x.1).sum::<u64>(), 8);
        assert!(fixed_buckets(&BTreeMap::new()).iter().all(|x| x.1 == 0));
    }

    /// The heap gauges carry the plugin's figures, and are left out for a stats file
    /// from before the heap was counted.
    #[test]
    fn heap_gauges_only_when_counted() {
        let text = |p: &PluginStats| {
            let mut e = Exposition::new();
            plugin_metrics(&mut e, p, 0);
            e.finish()
        };
        let old = text(&PluginStats::default());
        assert!(!old.contains("suriguard_plugin_heap"), "{old}");
        let mut p = PluginStats::default();
        p.heap.bytes = 1234;
        p.heap.peak_bytes = 5678;
        let new = text(&p);
        assert!(
            new.contains("\nsuriguard_plugin_heap_bytes 1234\n"),
            "{new}"
        );
        assert!(
            new.contains("\nsuriguard_plugin_heap_peak_bytes 5678\n"),
            "{new}"
        );
    }
}
