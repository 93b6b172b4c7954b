//! Counters a plugin run produces, and how they are reported.
//!
//! Two sides count: the `Write` side (in Suricata's threads: records accepted into the
//! queue, dropped because it was full, rejected before queuing) and the worker side
//! (records parsed per event type, parse errors, contained panics). At shutdown both are
//! folded into one [`PluginStats`], logged as a single line and optionally written as
//! JSON. Every record Suricata hands over ends up in exactly one of:
//! `queued`, `dropped_queue_full`, `rejected_*`, `skipped` (types detection does not
//! read) or `write_panics`; every queued record in exactly one of `parsed`,
//! `parse_errors` or `worker_panics`. With `eve-file`, the eve.json writer comes first
//! and detection's counters count what it forwarded ([`PluginStats::balanced`]).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use suriguard_detect::{EventCounts, IngestStats};
use suriguard_enforce::EnforceStats;

use crate::evefile::EveFileStats;
use crate::sink::SinkStats;

/// What the `Write` side saw. Filled from atomics in the plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteStats {
    /// Calls to `Write`, whatever their arguments.
    pub calls: u64,
    /// Records copied into the queue.
    pub queued: u64,
    /// Records dropped because the queue was full (intentional: `Write` never waits).
    pub dropped_queue_full: u64,
    /// NULL buffer or negative length.
    pub rejected_invalid: u64,
    /// Zero-length records.
    pub rejected_empty: u64,
    /// Records longer than `max-record-size`, dropped without being copied.
    pub rejected_oversized: u64,
    /// Panics caught at the `Write` boundary.
    pub write_panics: u64,
}

/// The plugin's own heap: what its code allocated (Suricata's allocations are not in it),
/// counted by the library's allocator. Requested bytes, without the allocator's headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeapStats {
    /// Held when the counters were taken.
    pub bytes: u64,
    /// The most held at once since Suricata loaded the plugin.
    pub peak_bytes: u64,
}

/// The whole picture at shutdown. Fields missing from an older file read as zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginStats {
    /// True in the copies written while Suricata runs (`stats-interval`), false in the
    /// one written at shutdown.
    pub running: bool,
    /// When these counters were taken (Unix seconds).
    pub updated_unix: u64,
    /// Seconds between two writes while running (`stats-interval`; 0: only at shutdown).
    pub stats_interval: u64,
    pub threaded: bool,
    /// Eve threads that called `ThreadInit` (threaded eve only).
    pub eve_threads: u64,
    pub queue_size: usize,
    /// The plugin's own heap (0 in files from before it was counted).
    pub heap: HeapStats,
    pub write: WriteStats,
    pub ingest: IngestStats,
    /// What happened to the decisions made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decisions: Option<SinkStats>,
    /// What the nftables enforcer did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<EnforceStats>,
    /// What the eve.json writer did (`eve-file` set). Then every record Suricata hands
    /// over goes to the writer first, and the writer forwards each to the detection
    /// queue: `write.queued`, `write.dropped_queue_full` and `write.rejected_oversized`
    /// count what detection got of `eve_file.queued`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eve_file: Option<EveFileStats>,
    /// Records of types detection does not read, by type: passed over before the
    /// detection queue (written to eve.json all the same).
    pub skipped: EventCounts,
}

impl PluginStats {
    /// One line for Suricata's log, readable by a person and greppable by a script.
    pub fn summary_line(&self) -> String {
        let w = &self.write;
        let i = &self.ingest;
        let mut s = format!("{} records received, {} parsed", w.calls, i.parsed.total());
        let skipped = self.skipped.total();
        let types = i.parsed.to_map();
        if !types.is_empty() {
            s.push_str(" (");
            for (k, (name, n)) in types.iter().enumerate() {
                if k > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "{name} {n}");
            }
            s.push(')');
        }
        if skipped > 0 {
            let _ = write!(s, ", {skipped} passed over (types detection does not read)");
        }
        let _ = write!(
            s,
            "; {} parse errors, {} dropped (queue full, size {}), {} rejected (invalid {}, empty {}, oversized {}), {} panics contained",
            i.parse_errors,
            w.dropped_queue_full,
            self.queue_size,
            w.rejected_invalid + w.rejected_empty + w.rejected_oversized,
            w.rejected_invalid,
            w.rejected_empty,
            w.rejected_oversized,
            w.write_panics + i.worker_panics,
        );
        if let Some(e) = &self.eve_file {
            let _ = write!(
                s,
                "; eve-file {}: {} records written ({} bytes), {} dropped (queue full), {} lost to {} write errors, {} reopened",
                e.path.display(),
                e.written,
                e.bytes,
                e.dropped_queue_full,
                e.lost,
                e.errors,
                e.reopened
            );
        }
        if let Some(d) = &i.detect {
            let g = &d.gate;
            let _ = write!(
                s,
                "; {} decisions ({} refused: protected address, {} suppressed: already decided, {} over the rate cap, {} over the active cap, {} rate limits made alerts)",
                d.decisions, g.refused_protected, g.suppressed_cooldown, g.rate_limited, g.capped, g.downgraded
            );
        }
        if let Some(e) = &self.enforcement {
            let _ = write!(
                s,
                "; nftables: {} elements applied in {} batches, {} refused (protected), {} already covered, {} failed transactions, {} re-applications{}",
                e.applied,
                e.batches,
                e.refused_protected,
                e.already_covered,
                e.apply_errors,
                e.reapplies,
                e.latency_quantile_us(0.99)
                    .map(|us| format!(", p99 decision-to-commit <= {} us", us))
                    .unwrap_or_default()
            );
        }
        if self.heap.peak_bytes > 0 {
            let mb = |b: u64| b as f64 / (1 << 20) as f64;
            let _ = write!(
                s,
                "; heap {:.1} MiB held, peak {:.1} MiB",
                mb(self.heap.bytes),
                mb(self.heap.peak_bytes)
            );
        }
        s
    }

    /// Records per event type that reached the plugin and were read or passed over:
    /// what a complete eve.json of the run holds per type.
    pub fn by_type(&self) -> BTreeMap<String, u64> {
        let mut m = self.ingest.parsed.to_map();
        for (name, n) in self.skipped.to_map() {
            *m.entry(name).or_default() += n;
        }
        m
    }

    /// True when every record is accounted for exactly once (see the module docs).
    pub fn balanced(&self) -> bool {
        let w = &self.write;
        let i = &self.ingest;
        let skipped = self.skipped.total();
        let rejected = w.rejected_invalid + w.rejected_empty + w.write_panics;
        let handed_over = match &self.eve_file {
            // `Write` queues, drops, rejects or passes over each record itself.
            None => {
                w.calls
                    == w.queued + w.dropped_queue_full + w.rejected_oversized + skipped + rejected
                    && w.queued == i.records
            }
            // `Write` hands each record to the eve.json writer, which forwards chunks of
            // them to detection (whole chunks queued or dropped); the worker passes over
            // the oversized and the types it does not read.
            Some(e) => {
                w.calls == e.queued + e.dropped_queue_full + e.rejected + rejected
                    && e.queued == e.written + e.lost
                    && e.queued == w.queued + w.dropped_queue_full
                    && w.queued == i.records + skipped + w.rejected_oversized
            }
        };
        handed_over && i.records == i.parsed.total() + i.parse_errors + i.worker_panics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suriguard_eve::EventType;

    #[test]
    fn summary_and_balance() {
        let mut st = PluginStats {
            queue_size: 8,
            ..Default::default()
        };
        st.write = WriteStats {
            calls: 10,
            queued: 6,
            dropped_queue_full: 2,
            rejected_empty: 1,
            rejected_invalid: 1,
            ..Default::default()
        };
        st.ingest.records = 6;
        st.ingest.parse_errors = 1;
        for _ in 0..5 {
            st.ingest.parsed.add(EventType::Dns, "dns");
        }
        assert!(st.balanced());
        let line = st.summary_line();
        assert!(
            line.starts_with("10 records received, 5 parsed (dns 5); 1 parse errors, 2 dropped"),
            "{line}"
        );
        assert!(!line.contains("heap"), "{line}");
        st.heap = HeapStats {
            bytes: 3 << 20,
            peak_bytes: 5 << 19,
        };
        let line = st.summary_line();
        assert!(
            line.ends_with("; heap 3.0 MiB held, peak 2.5 MiB"),
            "{line}"
        );
        st.ingest.records = 7;
        assert!(!st.balanced());
    }

    /// A stats file from before the heap was counted reads with a zero heap.
    #[test]
    fn older_files_read_without_a_heap() {
        let st: PluginStats = serde_json::from_str(r#"{"queue_size": 8}"#).unwrap();
        assert_eq!(st.heap, HeapStats::default());
        let back: PluginStats = serde_json::from_str(
            &serde_json::to_string(&PluginStats {
                heap: HeapStats {
                    bytes: 1,
                    peak_bytes: 2,
                },
                ..Default::default()
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(back.heap.peak_bytes, 2);
    }
}
