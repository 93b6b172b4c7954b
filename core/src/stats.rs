//! Counters a plugin run produces, and how they are reported.
//!
//! Two sides count: the `Write` side (in Suricata's threads: records accepted into the
//! queue, dropped because it was full, rejected before queuing) and the worker side
//! (records parsed per event type, parse errors, contained panics). At shutdown both are
//! folded into one [`PluginStats`], logged as a single line and optionally written as
//! JSON. Every record Suricata hands over ends up in exactly one of:
//! `queued`, `dropped_queue_full`, `rejected_*` or `write_panics`; every queued record in
//! exactly one of `parsed`, `parse_errors` or `worker_panics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::decision::SinkStats;
use crate::detect::EngineStats;
use crate::enforce::EnforceStats;
use crate::eve::EventType;
use crate::model::ModelStats;

/// Records counted per event type: a fixed array for known types, a map for the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCounts {
    known: [u64; EventType::COUNT],
    other: BTreeMap<String, u64>,
}

impl Default for EventCounts {
    fn default() -> Self {
        EventCounts {
            known: [0; EventType::COUNT],
            other: BTreeMap::new(),
        }
    }
}

impl EventCounts {
    /// Counts one record. `name` is only looked at for [`EventType::Other`].
    #[inline]
    pub fn add(&mut self, kind: EventType, name: &str) {
        if kind == EventType::Other {
            match self.other.get_mut(name) {
                Some(n) => *n += 1,
                None => {
                    self.other.insert(name.to_owned(), 1);
                }
            }
        } else {
            self.known[kind.index()] += 1;
        }
    }

    pub fn get(&self, name: &str) -> u64 {
        match EventType::from_name(name) {
            EventType::Other => self.other.get(name).copied().unwrap_or(0),
            kind => self.known[kind.index()],
        }
    }

    pub fn total(&self) -> u64 {
        self.known.iter().sum::<u64>() + self.other.values().sum::<u64>()
    }

    /// Non-zero counts by event-type name, sorted by name.
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        let mut m: BTreeMap<String, u64> = self.other.clone();
        for &kind in EventType::ALL {
            let n = self.known[kind.index()];
            if n > 0 && kind != EventType::Other {
                m.insert(kind.name().to_owned(), n);
            }
        }
        m
    }
}

impl Serialize for EventCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for EventCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(d)?;
        let mut c = EventCounts::default();
        for (name, n) in map {
            match EventType::from_name(&name) {
                EventType::Other => {
                    c.other.insert(name, n);
                }
                kind => c.known[kind.index()] = n,
            }
        }
        Ok(c)
    }
}

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

/// What the worker saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestStats {
    /// Records taken off the queue.
    pub records: u64,
    /// Records parsed, by event type.
    pub parsed: EventCounts,
    /// Records that were not valid EVE JSON (invalid UTF-8, truncated, wrong types).
    pub parse_errors: u64,
    /// Panics contained while handling one record; the record counts as lost.
    pub worker_panics: u64,
    /// The detection engine's counters, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detect: Option<EngineStats>,
    /// The model stage's counters, when a model was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelStats>,
}

/// The whole picture at shutdown. Fields missing from an older file read as zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginStats {
    pub threaded: bool,
    /// Eve threads that called `ThreadInit` (threaded eve only).
    pub eve_threads: u64,
    pub queue_size: usize,
    pub write: WriteStats,
    pub ingest: IngestStats,
    /// What happened to the decisions made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decisions: Option<SinkStats>,
    /// What the nftables enforcer did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<EnforceStats>,
}

impl PluginStats {
    /// One line for Suricata's log, readable by a person and greppable by a script.
    pub fn summary_line(&self) -> String {
        let w = &self.write;
        let i = &self.ingest;
        let mut s = format!("{} records received, {} parsed", w.calls, i.parsed.total());
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
        if let Some(d) = &i.detect {
            let g = &d.gate;
            let _ = write!(
                s,
                "; {} decisions ({} refused: protected address, {} suppressed: already decided, {} over the rate cap, {} over the active cap)",
                d.decisions, g.refused_protected, g.suppressed_cooldown, g.rate_limited, g.capped
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
        s
    }

    /// True when every record is accounted for exactly once (see the module docs).
    pub fn balanced(&self) -> bool {
        let w = &self.write;
        let i = &self.ingest;
        w.calls
            == w.queued
                + w.dropped_queue_full
                + w.rejected_invalid
                + w.rejected_empty
                + w.rejected_oversized
                + w.write_panics
            && w.queued == i.records
            && i.records == i.parsed.total() + i.parse_errors + i.worker_panics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_known_and_unknown_types() {
        let mut c = EventCounts::default();
        c.add(EventType::Flow, "flow");
        c.add(EventType::Flow, "flow");
        c.add(EventType::Other, "bittorrent_dht");
        assert_eq!(c.get("flow"), 2);
        assert_eq!(c.get("bittorrent_dht"), 1);
        assert_eq!(c.get("dns"), 0);
        assert_eq!(c.total(), 3);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"bittorrent_dht":1,"flow":2}"#);
        let back: EventCounts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

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
        st.ingest.records = 7;
        assert!(!st.balanced());
    }
}
