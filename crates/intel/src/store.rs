//! The indicator store: every indicator once, with every source that named it.
//!
//! Keyed by `(kind, value)`. Each source's mention carries its MISP event and attribute
//! UUIDs, tags, and when rulesync first and last saw it there. A mention not seen again
//! for the source's `expire-after` is dropped; an indicator with no mention left is
//! gone. A source whose pull failed is left exactly as it was (nothing refreshed,
//! nothing expired), so a broken feed never removes what is enforced.
//!
//! The store is one JSON file written crash-safely (`suriguard_durable::write_atomic_with`:
//! a new file beside it, fsync, rename over the old one, fsync of the directory).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::Error;
use super::formats::Origin;
use super::indicator::{Indicator, Kind, RejectCounts, Sides};

/// One source's mention of an indicator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub events: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub attributes: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// The source's own validity window (STIX `valid_from` / `valid_until`), if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub sides: Sides,
    /// By source name.
    pub sources: Sources,
}

/// Each source's mention of one indicator, by source name, in name order. Almost every
/// indicator has one or two sources, so this is a short list rather than a map (a
/// `BTreeMap` node is sized for eleven: 1.6 KB per indicator, 1.9 GB for a million).
/// Serialised as a JSON object keyed by source name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources(Vec<(String, Mention)>);

impl Sources {
    pub fn get(&self, source: &str) -> Option<&Mention> {
        self.find(source).ok().map(|i| &self.0[i].1)
    }

    fn find(&self, source: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(source))
    }

    /// `source`'s mention, made by `new` if there is none.
    pub fn mention(&mut self, source: &str, new: impl FnOnce() -> Mention) -> &mut Mention {
        let i = match self.find(source) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (source.to_string(), new()));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Mention) -> bool) {
        self.0.retain(|(n, m)| keep(n, m));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Mention)> {
        self.0.iter().map(|(n, m)| (n.as_str(), m))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }
}

impl std::ops::Index<&str> for Sources {
    type Output = Mention;
    fn index(&self, source: &str) -> &Mention {
        self.get(source)
            .unwrap_or_else(|| panic!("no mention by source {source:?}"))
    }
}

impl Serialize for Sources {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(n, m)| (n, m)))
    }
}

impl<'de> Deserialize<'de> for Sources {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A map's keys come back sorted and unique.
        let m = BTreeMap::<String, Mention>::deserialize(d)?;
        Ok(Sources(m.into_iter().collect()))
    }
}

/// What rulesync remembers about one source between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// Unix time of the last pull that succeeded.
    pub last_success: Option<i64>,
    /// For MISP: the `timestamp` to pull from next time (incremental).
    pub cursor: Option<i64>,
    /// Unix time of the last full (non-incremental) pull.
    pub last_full: Option<i64>,
    pub last_attempt: Option<i64>,
    pub last_error: Option<String>,
    /// Counts of the last successful pull.
    pub offered: u64,
    pub accepted: u64,
    pub rejects: RejectCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub version: u32,
    /// By kind, then canonical value.
    pub indicators: BTreeMap<Kind, BTreeMap<String, Entry>>,
    pub sources: BTreeMap<String, SourceState>,
}

impl Store {
    pub fn new() -> Self {
        Store {
            version: 1,
            ..Store::default()
        }
    }

    /// Reads the store, or an empty one if the file does not exist yet.
    pub fn load(path: &Path) -> Result<Store, Error> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| Error::StateParse {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store::new()),
            Err(source) => Err(Error::StateRead {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the store crash-safely (new file, fsync, rename, fsync the directory).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        suriguard_durable::write_atomic_with(path, |w| {
            serde_json::to_writer(w, self).map_err(std::io::Error::other)
        })
        .map_err(|source| Error::StateWrite {
            path: path.to_path_buf(),
            from: None,
            source,
        })
    }

    /// Installs `from`, a file holding a store (a generation's `index.json`, already
    /// synced), as the state file at `path`, crash-safely and without serialising the
    /// store a second time: a hard link renamed over `path` (a copy when the two are on
    /// different file systems), then the directory synced.
    pub fn install(from: &Path, path: &Path) -> Result<(), Error> {
        let err = |source: std::io::Error| Error::StateWrite {
            path: path.to_path_buf(),
            from: Some(from.to_path_buf()),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        match std::fs::hard_link(from, &tmp) {
            Ok(()) => {
                std::fs::rename(&tmp, path).map_err(err)?;
                suriguard_durable::sync_dir(path).map_err(err)
            }
            Err(_) => suriguard_durable::write_atomic_with(path, |w| {
                std::io::copy(&mut File::open(from)?, w).map(|_| ())
            })
            .map_err(err),
        }
    }

    pub fn len(&self) -> usize {
        self.indicators.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, kind: Kind, value: &str) -> Option<&Entry> {
        self.indicators.get(&kind)?.get(value)
    }

    /// Merges what a successful pull of `source` offered at `now`: new indicators are
    /// added, known ones refreshed (`last_seen`) and their provenance extended.
    ///
    /// A large pull is sorted and merged with each kind's map in one ordered pass (the
    /// map rebuilt in bulk from sorted entries); a small one is inserted value by value.
    pub fn merge(&mut self, source: &str, mut items: Vec<(Indicator, Origin)>, now: i64) {
        let new_mention = || Mention {
            first_seen: now,
            ..Mention::default()
        };
        let refresh = |e: &mut Entry, sides: Sides, origin: Origin| {
            e.sides = e.sides.union(sides);
            let m = e.sources.mention(source, new_mention);
            m.last_seen = now;
            m.events.extend(origin.event);
            m.attributes.extend(origin.attribute);
            m.tags.extend(origin.tags);
            if origin.info.is_some() {
                m.info = origin.info;
            }
            if origin.valid_from.is_some() {
                m.valid_from = origin.valid_from;
            }
            if origin.valid_until.is_some() {
                m.valid_until = origin.valid_until;
            }
        };
        if items.len() * 16 < self.len() {
            for (ind, origin) in items {
                let e = self
                    .indicators
                    .entry(ind.kind)
                    .or_default()
                    .entry(ind.value)
                    .or_default();
                refresh(e, ind.sides, origin);
            }
            return;
        }
        // Sorted as (kind, value, position) keys, the rest left in place and taken by
        // position: the items are large to move, and the position breaks ties so a value
        // offered twice is merged in the order offered.
        let mut keys = Vec::with_capacity(items.len());
        let mut rest = Vec::with_capacity(items.len());
        for (i, (ind, origin)) in items.drain(..).enumerate() {
            keys.push((ind.kind, ind.value, i as u32));
            rest.push(Some((ind.sides, origin)));
        }
        keys.sort_unstable();
        let mut incoming = keys
            .into_iter()
            .filter_map(|(kind, value, i)| {
                let (sides, origin) = rest[i as usize].take()?;
                Some((Indicator { kind, value, sides }, origin))
            })
            .peekable();
        while let Some(kind) = incoming.peek().map(|(i, _)| i.kind) {
            let old = std::mem::take(self.indicators.entry(kind).or_default());
            let mut merged: Vec<(String, Entry)> = Vec::with_capacity(old.len());
            let mut old = old.into_iter().peekable();
            while let Some((ind, origin)) = incoming.next_if(|(i, _)| i.kind == kind) {
                while let Some(before) = old.next_if(|(k, _)| *k < ind.value) {
                    merged.push(before);
                }
                let same_as_last = merged.last().is_some_and(|(k, _)| *k == ind.value);
                if !same_as_last {
                    match old.next_if(|(k, _)| *k == ind.value) {
                        Some(known) => merged.push(known),
                        None => merged.push((ind.value, Entry::default())),
                    }
                }
                if let Some((_, e)) = merged.last_mut() {
                    refresh(e, ind.sides, origin);
                }
            }
            merged.extend(old);
            // Sorted and unique: built in bulk.
            self.indicators.insert(kind, merged.into_iter().collect());
        }
    }

    /// The time of a run starting at `now`: later than every earlier run's, so a pull's
    /// mentions are told from the previous pull's even when both happen within one
    /// second (with `expire-after-days = 0`, what a source stopped naming goes at once).
    pub fn run_time(&self, now: i64) -> i64 {
        let last = self
            .sources
            .values()
            .filter_map(|s| s.last_attempt)
            .max()
            .unwrap_or(i64::MIN);
        now.max(last.saturating_add(1))
    }

    /// Drops `source`'s mentions last seen before `cutoff`, and indicators left with no
    /// mention. Returns how many indicators disappeared.
    pub fn expire(&mut self, source: &str, cutoff: i64) -> usize {
        self.retain_mentions(|s, m| s != source || m.last_seen >= cutoff)
    }

    /// Drops every mention of sources not in `configured` (a source removed from the
    /// configuration takes its indicators with it).
    pub fn forget_other_sources(&mut self, configured: &BTreeSet<String>) -> usize {
        self.sources.retain(|s, _| configured.contains(s));
        self.retain_mentions(|s, _| configured.contains(s))
    }

    /// Keeps the mentions `keep` accepts and drops indicators left with none. Returns
    /// how many indicators disappeared.
    fn retain_mentions(&mut self, mut keep: impl FnMut(&str, &Mention) -> bool) -> usize {
        let mut gone = 0;
        for map in self.indicators.values_mut() {
            map.retain(|_, e| {
                e.sources.retain(|s, m| keep(s, m));
                gone += usize::from(e.sources.is_empty());
                !e.sources.is_empty()
            });
        }
        self.indicators.retain(|_, m| !m.is_empty());
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(kind: Kind, v: &str, sides: Sides) -> Indicator {
        Indicator {
            kind,
            value: v.into(),
            sides,
        }
    }

    fn origin(ev: &str, attr: &str) -> Origin {
        Origin {
            event: Some(ev.into()),
            attribute: Some(attr.into()),
            tags: ["tlp:clear".to_string()].into(),
            ..Origin::default()
        }
    }

    #[test]
    fn one_indicator_many_sources_then_expiry() {
        let mut s = Store::new();
        s.merge(
            "misp",
            vec![(
                ind(Kind::Ip, "45.9.148.108", Sides::DST),
                origin("e1", "a1"),
            )],
            100,
        );
        s.merge(
            "feed",
            vec![(
                ind(Kind::Ip, "45.9.148.108", Sides::SRC),
                origin("e2", "a2"),
            )],
            150,
        );
        s.merge(
            "feed",
            vec![(
                ind(Kind::Domain, "evil.xyz", Sides::BOTH),
                origin("e2", "a3"),
            )],
            150,
        );
        assert_eq!(s.len(), 2);
        let e = s.get(Kind::Ip, "45.9.148.108").unwrap();
        assert_eq!(e.sides, Sides::BOTH);
        assert_eq!(e.sources.len(), 2);
        assert_eq!(e.sources["misp"].events, ["e1".to_string()].into());
        assert_eq!(e.sources["feed"].first_seen, 150);

        // The feed's next pull no longer has the IP: it stays until it expires.
        s.merge(
            "feed",
            vec![(
                ind(Kind::Domain, "evil.xyz", Sides::BOTH),
                origin("e2", "a3"),
            )],
            300,
        );
        assert_eq!(s.expire("feed", 200), 0, "misp still names the IP");
        assert_eq!(s.get(Kind::Ip, "45.9.148.108").unwrap().sources.len(), 1);
        assert_eq!(
            s.get(Kind::Domain, "evil.xyz").unwrap().sources["feed"].first_seen,
            150
        );
        assert_eq!(s.expire("misp", 200), 1);
        assert!(s.get(Kind::Ip, "45.9.148.108").is_none());
        assert_eq!(s.forget_other_sources(&["misp".to_string()].into()), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn bulk_and_one_by_one_merges_agree() {
        // Values repeat (with different origins and sides) and kinds interleave.
        let items: Vec<(Indicator, Origin)> = (0..400u32)
            .map(|i| {
                let n = (i * 7919) % 150;
                let (kind, value) = match n % 3 {
                    0 => (Kind::Ip, format!("45.9.{}.{}", n / 250, n % 250)),
                    1 => (Kind::Domain, format!("d{n}.xyz")),
                    _ => (Kind::Sha256, format!("{n:064x}")),
                };
                let sides = if i % 2 == 0 { Sides::SRC } else { Sides::DST };
                (
                    ind(kind, &value, sides),
                    origin(&format!("e{}", i % 5), &format!("a{i}")),
                )
            })
            .collect();
        let mut bulk = Store::new();
        bulk.merge("s", items.clone(), 10);
        let mut single = Store::new();
        for it in items {
            single.merge("s", vec![it], 10);
        }
        assert_eq!(bulk.len(), 150);
        assert_eq!(bulk, single);
        // A second source over a store that already holds them: bulk again.
        let again: Vec<_> = bulk
            .indicators
            .iter()
            .flat_map(|(k, m)| {
                m.keys()
                    .map(|v| (ind(*k, v, Sides::BOTH), origin("x", "y")))
            })
            .collect();
        bulk.merge("t", again, 20);
        assert_eq!(bulk.len(), 150);
        assert!(bulk
            .indicators
            .values()
            .flatten()
            .all(|(_, e)| e.sources.len() == 2 && e.sides == Sides::BOTH));
    }

    #[test]
    fn runs_within_one_second_get_distinct_times() {
        let mut s = Store::new();
        assert_eq!(s.run_time(1000), 1000);
        s.sources.entry("feed".into()).or_default().last_attempt = Some(1000);
        assert_eq!(s.run_time(1000), 1001);
        assert_eq!(s.run_time(5000), 5000);
        // A list dropping a value, pulled again in the same second with no grace period.
        s.merge(
            "feed",
            vec![(ind(Kind::Domain, "a.xyz", Sides::BOTH), origin("e", "a"))],
            1000,
        );
        let t = s.run_time(1000);
        s.merge(
            "feed",
            vec![(ind(Kind::Domain, "b.xyz", Sides::BOTH), origin("e", "b"))],
            t,
        );
        assert_eq!(s.expire("feed", t), 1);
        assert!(s.get(Kind::Domain, "a.xyz").is_none() && s.get(Kind::Domain, "b.xyz").is_some());
    }

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert_eq!(Store::load(&p).unwrap(), Store::new());
        let mut s = Store::new();
        s.merge(
            "m",
            vec![(
                ind(Kind::Sha256, &"a".repeat(64), Sides::BOTH),
                origin("e", "a"),
            )],
            7,
        );
        s.sources.entry("m".into()).or_default().cursor = Some(42);
        s.save(&p).unwrap();
        assert!(!dir.path().join("state.json.tmp").exists());
        assert_eq!(Store::load(&p).unwrap(), s);
        std::fs::write(&p, "{").unwrap();
        let e = Store::load(&p).unwrap_err();
        assert!(e.to_string().contains("state file"), "{e}");
        assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    }
}
