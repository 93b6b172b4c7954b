//! What the detection pipeline counts: records by event type, parse errors, contained
//! panics, and the engine's and model stage's counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use suriguard_eve::EventType;

use crate::engine::EngineStats;
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

    /// Counts `n` records at once (nothing for zero).
    pub fn add_n(&mut self, kind: EventType, name: &str, n: u64) {
        if n == 0 {
            return;
        }
        if kind == EventType::Other {
            *self.other.entry(name.to_owned()).or_default() += n;
        } else {
            self.known[kind.index()] += n;
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
    /// Flow records Suricata logged as it stopped, held and handled in event-time order
    /// at the end of input (their output order is its flow table's hash order).
    pub shutdown_flows_sorted: u64,
    /// The detection engine's counters, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detect: Option<EngineStats>,
    /// The model stage's counters, when a model was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelStats>,
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
}
