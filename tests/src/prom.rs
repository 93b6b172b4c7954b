//! Prometheus' text format read back by a parser that is not ours (`prometheus-parse`),
//! and the plugin's counters compared with what `/metrics` says of them.

use prometheus_parse::{Scrape, Value};
use suriguard_guard::PluginStats;

/// A sample's name, labels and the value it must have.
type Expected = (&'static str, Vec<(&'static str, String)>, f64);

/// A parsed exposition.
pub struct Metrics(pub Scrape);

impl Metrics {
    /// Parses a document; panics (with the document) if it is not valid text format.
    pub fn parse(text: &str) -> Metrics {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        Metrics(
            Scrape::parse(lines).unwrap_or_else(|e| panic!("not Prometheus text ({e}):\n{text}")),
        )
    }

    /// The value of the sample `name` whose labels include `labels`; `None` if there is
    /// none. Counters, gauges and untyped samples only.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .find_map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
                _ => None,
            })
    }

    /// Like [`Metrics::value`], panicking with the document's sample names if missing.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or_else(|| {
            let names: Vec<&str> = self.0.samples.iter().map(|s| s.metric.as_str()).collect();
            panic!("no sample {name}{labels:?} among {names:?}")
        })
    }

    /// The `+Inf` bucket count of histogram `name`.
    pub fn histogram_count(&self, name: &str) -> Option<u64> {
        self.0.samples.iter().find_map(|s| match &s.value {
            Value::Histogram(b) if s.metric == name => b
                .iter()
                .find(|c| c.less_than.is_infinite())
                .map(|c| c.count as u64),
            _ => None,
        })
    }

    /// Asserts that every counter the plugin keeps is exported with the value in `stats`.
    pub fn assert_matches_plugin(&self, stats: &PluginStats) {
        let w = &stats.write;
        let i = &stats.ingest;
        let mut want: Vec<Expected> = vec![
            (
                "suriguard_plugin_running",
                vec![],
                stats.running as u8 as f64,
            ),
            ("suriguard_records_received_total", vec![], w.calls as f64),
            ("suriguard_records_queued_total", vec![], w.queued as f64),
            (
                "suriguard_records_dropped_total",
                vec![("reason", "queue_full".into())],
                w.dropped_queue_full as f64,
            ),
            (
                "suriguard_parse_errors_total",
                vec![],
                i.parse_errors as f64,
            ),
        ];
        if stats.heap.peak_bytes > 0 {
            want.push((
                "suriguard_plugin_heap_bytes",
                vec![],
                stats.heap.bytes as f64,
            ));
            want.push((
                "suriguard_plugin_heap_peak_bytes",
                vec![],
                stats.heap.peak_bytes as f64,
            ));
        }
        for (ty, n) in i.parsed.to_map() {
            want.push((
                "suriguard_records_parsed_total",
                vec![("type", ty)],
                n as f64,
            ));
        }
        for (ty, n) in stats.skipped.to_map() {
            want.push((
                "suriguard_records_skipped_total",
                vec![("type", ty)],
                n as f64,
            ));
        }
        if let Some(d) = &i.detect {
            want.push((
                "suriguard_detect_records_total",
                vec![("kind", "flow".into())],
                d.flows as f64,
            ));
            want.push((
                "suriguard_gate_proposals_total",
                vec![("outcome", "admitted".into())],
                d.gate.admitted as f64,
            ));
        }
        if let Some(s) = &stats.decisions {
            want.push((
                "suriguard_plugin_decisions_total",
                vec![("outcome", "journaled".into())],
                s.journaled as f64,
            ));
        }
        if let Some(e) = &stats.enforcement {
            want.push(("suriguard_enforce_elements", vec![], e.in_force as f64));
            want.push(("suriguard_enforce_healthy", vec![], e.healthy as u8 as f64));
            want.push((
                "suriguard_enforce_elements_applied_total",
                vec![],
                e.applied as f64,
            ));
            want.push((
                "suriguard_enforce_errors_total",
                vec![],
                e.apply_errors as f64,
            ));
            let commits: u64 = e.latency_us.values().sum();
            assert_eq!(
                self.histogram_count("suriguard_enforce_latency_seconds"),
                Some(commits),
                "enforcement latency histogram"
            );
        }
        if let Some(f) = &stats.eve_file {
            want.push((
                "suriguard_evefile_records_written_total",
                vec![],
                f.written as f64,
            ));
        }
        for (name, labels, v) in want {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(self.get(name, &labels), v, "{name}{labels:?}");
        }
    }
}
