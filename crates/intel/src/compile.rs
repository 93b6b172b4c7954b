//! Compiles the store into Suricata datasets, hash lists and a handful of rules.
//!
//! One file per indicator type and direction; one rule per (file, buffer) with a SID
//! fixed by the table below (`sid-base` + offset), so the same indicator type always
//! carries the same SID whatever the indicators are. Prefixes, which datasets cannot
//! hold, go into one address-list rule per direction.
//!
//! | offset | rule | file |
//! |---|---|---|
//! | 1, 2 | `ip.src` / `ip.dst` IPv4 | `ip-src-v4.lst`, `ip-dst-v4.lst` |
//! | 3, 4 | `ip.src` / `ip.dst` IPv6 | `ip-src-v6.lst`, `ip-dst-v6.lst` |
//! | 5, 6 | source / destination prefixes | (in the rule) |
//! | 10, 11, 12 | `dns.query`, `tls.sni`, `http.host` | `domains.lst` |
//! | 20 | `http.host` + `http.uri` | `url-hosts.lst`, `url-paths.lst` |
//! | 30, 31, 32 | `filemd5`, `filesha1`, `filesha256` | `md5.txt`, `sha1.txt`, `sha256.txt` |
//! | 40 | `ja3.hash` | `ja3.lst` |
//!
//! Suricata 7 cannot attach per-value metadata to a dataset match, so a rule's metadata
//! names its set, its indicator type and the sources that fed it; `index.json` (and
//! `rulesync lookup`) maps each value to its MISP events and attributes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::indicator::Kind;
use super::store::{Entry, Store};

/// How compiled datasets are declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetMode {
    /// `load <file>`: read at rule load; items added over the socket are lost on reload.
    #[default]
    Load,
    /// `state <file>`: read at start, written back by Suricata at shutdown; lets rulesync
    /// push small changes live with `dataset-add` / `dataset-remove`.
    State,
}

#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub sid_base: u32,
    pub mode: DatasetMode,
    /// `alert` (default) or `drop` for an inline Suricata.
    pub action: String,
    pub msg_prefix: String,
    /// Rule options added to every rule before its `sid` (`classtype:trojan-activity;
    /// priority:1;`).
    pub extra_options: String,
    /// Suricata's data directory (`default-data-dir`): Suricata reads and writes `state`
    /// dataset files only under it, named relative to it.
    pub data_dir: PathBuf,
}

impl CompileOptions {
    /// How rules name a dataset file kept in `dir`: the absolute directory for `load`,
    /// the directory relative to Suricata's data directory for `state` (Suricata refuses
    /// absolute paths, and `..`, for files it writes). `None` when a `state` set cannot
    /// be named from `dir`, which is outside the data directory.
    pub fn dataset_dir(&self, dir: &Path) -> Option<PathBuf> {
        match self.mode {
            DatasetMode::Load => Some(dir.to_path_buf()),
            DatasetMode::State => {
                let rel = dir.strip_prefix(&self.data_dir).ok()?;
                let plain = rel
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
                (plain && rel.components().next().is_some()).then(|| rel.to_path_buf())
            }
        }
    }
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            sid_base: 9_700_000,
            mode: DatasetMode::Load,
            action: "alert".into(),
            msg_prefix: "SURIGUARD threat intel".into(),
            extra_options: String::new(),
            data_dir: "/var/lib/suricata/data".into(),
        }
    }
}

/// Suricata's dataset value type, as named in rules and over the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetType {
    Ipv4,
    Ipv6,
    String,
    /// A file-hash list (`filemd5` etc.): not a dataset, no live updates.
    HashList,
}

impl SetType {
    pub fn name(self) -> &'static str {
        match self {
            SetType::Ipv4 => "ipv4",
            SetType::Ipv6 => "ipv6",
            SetType::String => "string",
            SetType::HashList => "hashlist",
        }
    }
}

/// One output file: its dataset name, type and (display-form) values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub name: &'static str,
    pub file: &'static str,
    pub set_type: SetType,
    pub values: BTreeSet<String>,
    /// Sources that fed at least one value.
    pub sources: BTreeSet<String>,
    /// With per-value context (Suricata 8 datajson): each value's JSON object, as written
    /// into the file and shown in alerts as `alert.context.suriguard`. Empty otherwise.
    pub contexts: BTreeMap<String, String>,
}

impl Set {
    /// The value as it goes into the file and over the socket (`dataset-add`): addresses
    /// and hashes as text, strings base64-encoded.
    pub fn wire(&self, v: &str) -> String {
        match self.set_type {
            SetType::String => base64::engine::general_purpose::STANDARD.encode(v),
            _ => v.to_string(),
        }
    }

    /// `hashsize`: the next power of two at or above 1.25 × the entry count, at least 1024.
    pub fn hashsize(&self) -> usize {
        (self.values.len() + self.values.len() / 4)
            .next_power_of_two()
            .max(1024)
    }
}

const SETS: [(&str, &str, SetType); 13] = [
    ("suriguard-ip-src-v4", "ip-src-v4.lst", SetType::Ipv4),
    ("suriguard-ip-dst-v4", "ip-dst-v4.lst", SetType::Ipv4),
    ("suriguard-ip-src-v6", "ip-src-v6.lst", SetType::Ipv6),
    ("suriguard-ip-dst-v6", "ip-dst-v6.lst", SetType::Ipv6),
    ("suriguard-domains", "domains.lst", SetType::String),
    ("suriguard-url-hosts", "url-hosts.lst", SetType::String),
    ("suriguard-url-paths", "url-paths.lst", SetType::String),
    ("suriguard-md5", "md5.txt", SetType::HashList),
    ("suriguard-sha1", "sha1.txt", SetType::HashList),
    ("suriguard-sha256", "sha256.txt", SetType::HashList),
    ("suriguard-ja3", "ja3.lst", SetType::String),
    // Prefixes live in the rules; these two only carry them through the pipeline.
    ("suriguard-net-src", "net-src.txt", SetType::HashList),
    ("suriguard-net-dst", "net-dst.txt", SetType::HashList),
];

/// The compiled output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// By set name, every set (empty ones included).
    pub sets: BTreeMap<&'static str, Set>,
    /// Datasets carry per-value context: Suricata 8's datajson (`format ndjson,
    /// context_key, value_key`), so an alert names the MISP events and attributes of the
    /// value it matched. Suricata 7 has no such datasets.
    pub context: bool,
    /// Values left out of a datajson set because even without context they do not fit
    /// Suricata 8's 1024-byte line ([`CONTEXT_MAX_BYTES`]).
    pub too_long: usize,
}

/// The context key rules name for a set (`alert.context.<key>`): one per dataset of a
/// rule (the URL rule has two).
pub fn context_key(set: &str) -> &'static str {
    let [one, host, path] = suriguard_eve::INTEL_CONTEXT_KEYS;
    match set {
        "suriguard-url-hosts" => host,
        "suriguard-url-paths" => path,
        _ => one,
    }
}

/// Most entries of each list in a value's context (events, attributes, tags, sources):
/// Suricata copies the context into every alert, so it stays small.
pub const CONTEXT_LIST_MAX: usize = 8;

/// File name of the rule file inside the output directory.
pub const RULES_FILE: &str = "suriguard.rules";
/// File name of the value → provenance index.
pub const INDEX_FILE: &str = "index.json";

/// Suricata 8 reads a datajson line into 1024 bytes (`DATAJSON_JSON_LENGTH`; a longer
/// line fails to parse and the rest of the set is not loaded, while `suricata -T`
/// passes) and refuses longer JSON in `dataset-add-json`: every object stays under this.
pub const CONTEXT_MAX_BYTES: usize = 1000;

/// A value's context object within [`CONTEXT_MAX_BYTES`]: the lists are cut shorter
/// (8, 4, 2, 1, none) and the title left out until it fits. `None` when the value alone
/// does not fit (a very long URL path): it cannot be in a datajson set.
fn context_object(value: &str, entries: &[&Entry]) -> Option<String> {
    for (cap, info) in [
        (CONTEXT_LIST_MAX, true),
        (4, true),
        (2, true),
        (1, true),
        (1, false),
        (0, false),
    ] {
        let mut out = String::with_capacity(128);
        context_json(value, entries, cap, info, &mut out);
        if out.len() <= CONTEXT_MAX_BYTES {
            return Some(out);
        }
    }
    None
}

/// A value's context object, written straight from the store entries that put the value
/// in its set (one, except for URL hosts several URLs share): the value first, then each
/// list (at most `cap` entries, with how many were left out), then the smallest title.
/// Nothing that changes from run to run (last seen), so an unchanged value keeps the
/// same bytes. Entries and the title are cut at 120 characters.
fn context_json(value: &str, entries: &[&Entry], cap: usize, with_info: bool, out: &mut String) {
    const CUT: usize = 120;
    fn string(out: &mut String, s: &str) {
        if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            // Nothing to escape: most values, every UUID.
            out.push('"');
            out.push_str(s);
            out.push('"');
            return;
        }
        // serde_json escapes exactly as JSON requires.
        let mut buf = Vec::with_capacity(s.len() + 8);
        let _ = serde_json::to_writer(&mut buf, s);
        out.push_str(std::str::from_utf8(&buf).unwrap_or("\"\""));
    }
    fn cut_string(out: &mut String, s: &str) {
        if s.len() > CUT {
            string(out, &s.chars().take(CUT).collect::<String>());
        } else {
            string(out, s);
        }
    }
    fn list<'a>(
        out: &mut String,
        key: &str,
        items: impl Iterator<Item = &'a str>,
        cap: usize,
        omitted: &mut usize,
    ) {
        // Few entries name more than one source or event: a sorted, deduplicated Vec.
        let mut v: Vec<&str> = items.collect();
        if v.is_empty() {
            return;
        }
        v.sort_unstable();
        v.dedup();
        *omitted += v.len().saturating_sub(cap);
        if cap == 0 {
            return;
        }
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":[");
        for (k, s) in v.iter().take(cap).enumerate() {
            if k > 0 {
                out.push(',');
            }
            cut_string(out, s);
        }
        out.push(']');
    }
    let mentions = || entries.iter().flat_map(|e| e.sources.iter());
    let mut omitted = 0;
    out.push_str("{\"value\":");
    string(out, value);
    list(
        out,
        "sources",
        mentions().map(|(n, _)| n),
        cap,
        &mut omitted,
    );
    list(
        out,
        "misp_events",
        mentions().flat_map(|(_, m)| m.events.iter().map(String::as_str)),
        cap,
        &mut omitted,
    );
    list(
        out,
        "misp_attributes",
        mentions().flat_map(|(_, m)| m.attributes.iter().map(String::as_str)),
        cap,
        &mut omitted,
    );
    list(
        out,
        "tags",
        mentions().flat_map(|(_, m)| m.tags.iter().map(String::as_str)),
        cap,
        &mut omitted,
    );
    // The smallest title, so the pick does not depend on the order of the entries.
    let info = mentions().filter_map(|(_, m)| m.info.as_deref()).min();
    if let Some(info) = info.filter(|_| with_info) {
        out.push_str(",\"info\":");
        cut_string(out, info);
    }
    if omitted > 0 {
        out.push_str(&format!(",\"omitted\":{omitted}"));
    }
    out.push('}');
}

impl Compiled {
    /// The sets, without per-value context (Suricata 7).
    pub fn from_store(store: &Store) -> Compiled {
        Compiled::from_store_with(store, false)
    }

    /// The sets; with `context`, each dataset value's provenance as a JSON object.
    pub fn from_store_with<'s>(store: &'s Store, context: bool) -> Compiled {
        let mut sets: BTreeMap<&'static str, Set> = SETS
            .iter()
            .map(|&(name, file, set_type)| {
                (
                    name,
                    Set {
                        name,
                        file,
                        set_type,
                        values: BTreeSet::new(),
                        sources: BTreeSet::new(),
                        contexts: BTreeMap::new(),
                    },
                )
            })
            .collect();
        // (set, value, entry) for every dataset value, when contexts are wanted.
        let mut ctx: Vec<(&'static str, String, &'s Entry)> = Vec::new();
        let mut too_long: Vec<(&'static str, String)> = Vec::new();
        // Values are gathered in lists and the sets built in bulk at the end (sorting a
        // list and building from it is several times faster than a million inserts).
        let mut lists: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        let mut put = |set: &'static str, v: String, e: &'s Entry| {
            let s = sets.get_mut(set).expect("known set");
            if context && s.set_type != SetType::HashList {
                ctx.push((set, v.clone(), e));
            }
            lists.entry(set).or_default().push(v);
            for src in e.sources.names() {
                if !s.sources.contains(src) {
                    s.sources.insert(src.to_string());
                }
            }
        };
        for (kind, map) in &store.indicators {
            for (value, e) in map {
                let v = value.clone();
                match kind {
                    Kind::Ip | Kind::Net => {
                        let (src, dst) = match kind {
                            Kind::Net => ("suriguard-net-src", "suriguard-net-dst"),
                            _ if value.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6()) => {
                                ("suriguard-ip-src-v6", "suriguard-ip-dst-v6")
                            }
                            _ => ("suriguard-ip-src-v4", "suriguard-ip-dst-v4"),
                        };
                        if e.sides.src {
                            put(src, v.clone(), e);
                        }
                        if e.sides.dst || !e.sides.src {
                            put(dst, v, e);
                        }
                    }
                    Kind::Domain => put("suriguard-domains", v, e),
                    Kind::Url => {
                        let (host, path) = value.split_at(value.find('/').unwrap_or(value.len()));
                        put("suriguard-url-hosts", host.to_string(), e);
                        put("suriguard-url-paths", path.to_string(), e);
                    }
                    Kind::Md5 => put("suriguard-md5", v, e),
                    Kind::Sha1 => put("suriguard-sha1", v, e),
                    Kind::Sha256 => put("suriguard-sha256", v, e),
                    Kind::Ja3 => put("suriguard-ja3", v, e),
                }
            }
        }
        for (name, list) in lists {
            if let Some(s) = sets.get_mut(name) {
                s.values = list.into_iter().collect();
            }
        }
        // Grouped by (set, value): sorted once, each group's object written once, each
        // set's map built in bulk from its sorted run.
        ctx.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut by_set: BTreeMap<&'static str, Vec<(String, String)>> = BTreeMap::new();
        let mut k = 0;
        let mut group: Vec<&Entry> = Vec::new();
        while k < ctx.len() {
            let (set, value) = (ctx[k].0, &ctx[k].1);
            group.clear();
            let mut end = k;
            while end < ctx.len() && ctx[end].0 == set && &ctx[end].1 == value {
                group.push(ctx[end].2);
                end += 1;
            }
            match context_object(value, &group) {
                Some(json) => by_set.entry(set).or_default().push((value.clone(), json)),
                None => too_long.push((set, value.clone())),
            }
            k = end;
        }
        for (set, list) in by_set {
            if let Some(s) = sets.get_mut(set) {
                s.contexts = list.into_iter().collect();
            }
        }
        // A value Suricata 8 cannot load from a datajson line is left out of its set.
        for (set, v) in &too_long {
            if let Some(s) = sets.get_mut(set) {
                s.values.remove(v);
            }
        }
        Compiled {
            sets,
            context,
            too_long: too_long.len(),
        }
    }

    /// Whether a set is written as datajson (one JSON object per line).
    fn json_lines(&self, set: &Set) -> bool {
        self.context && set.set_type != SetType::HashList
    }

    /// Whether a value in both `old` and `self` has another context (a new MISP event for
    /// a known value), or `old` had none at all (written for Suricata 7): Suricata must
    /// read the files again. Added and removed values are [`Compiled::diff`]'s.
    pub fn contexts_changed(&self, old: &Compiled) -> bool {
        if !self.context {
            return false;
        }
        self.sets.iter().any(|(n, s)| {
            let Some(o) = old.sets.get(n) else {
                return false;
            };
            if !self.json_lines(s) {
                return false;
            }
            s.values
                .intersection(&o.values)
                .any(|v| s.contexts.get(v) != o.contexts.get(v))
        })
    }

    /// Bytes of one set's file.
    pub fn file_bytes(&self, set: &Set) -> Vec<u8> {
        let json = self.json_lines(set);
        let mut out = Vec::with_capacity(set.values.len() * if json { 160 } else { 24 });
        for v in &set.values {
            match set.contexts.get(v) {
                // Datajson reads the value from the object, as text (not base64).
                Some(c) if json => out.extend_from_slice(c.as_bytes()),
                _ => out.extend_from_slice(set.wire(v).as_bytes()),
            }
            out.push(b'\n');
        }
        out
    }

    /// The rule file, with data files referenced under `dir` (absolute): hash lists by
    /// absolute path, datasets as [`CompileOptions::dataset_dir`] names them.
    pub fn rules(&self, opts: &CompileOptions, dir: &Path) -> String {
        let mut r = String::new();
        let _ = writeln!(
            r,
            "# Generated by rulesync: do not edit; the next run overwrites it.\n# {} entries in {} sets.",
            self.total(),
            self.sets.values().filter(|s| !s.values.is_empty()).count()
        );
        let path = |s: &Set| dir.join(s.file).display().to_string();
        let ds_dir = opts.dataset_dir(dir).unwrap_or_else(|| dir.to_path_buf());
        let ds = |s: &Set| {
            if self.json_lines(s) {
                // Suricata 8 refuses `state` for datajson sets: they are always loaded
                // from the file rulesync writes (live changes are pushed with
                // `dataset-add-json` and are in the file too).
                return format!(
                    "dataset:isset,{},type {},load {},format ndjson,context_key {},value_key value,hashsize {}",
                    s.name,
                    s.set_type.name(),
                    dir.join(s.file).display(),
                    context_key(s.name),
                    s.hashsize()
                );
            }
            let how = match opts.mode {
                DatasetMode::Load => "load",
                DatasetMode::State => "state",
            };
            format!(
                "dataset:isset,{},type {},{how} {},hashsize {}",
                s.name,
                s.set_type.name(),
                ds_dir.join(s.file).display(),
                s.hashsize()
            )
        };
        let meta = |s: &Set, kind: &str| {
            let mut m = format!("metadata: suriguard_set {}, suriguard_kind {kind}", s.name);
            for src in &s.sources {
                let _ = write!(m, ", suriguard_source {}", meta_word(src));
            }
            m
        };
        let act = &opts.action;
        let msg = &opts.msg_prefix;
        let sid = |off: u32| opts.sid_base + off;
        let set = |n: &str| &self.sets[n];
        let extra = opts.extra_options.trim();
        let mut rule = |s: &Set, body: String| {
            if s.values.is_empty() {
                return;
            }
            match body.rfind(" sid:") {
                Some(i) if !extra.is_empty() => {
                    let _ = writeln!(r, "{} {extra}{}", &body[..i], &body[i..]);
                }
                _ => {
                    let _ = writeln!(r, "{body}");
                }
            }
        };
        for (off, name, key, dir_word, track) in [
            (1, "suriguard-ip-src-v4", "ip.src", "from", "by_src"),
            (2, "suriguard-ip-dst-v4", "ip.dst", "to", "by_dst"),
            (3, "suriguard-ip-src-v6", "ip.src", "from", "by_src"),
            (4, "suriguard-ip-dst-v6", "ip.dst", "to", "by_dst"),
        ] {
            let s = set(name);
            rule(
                s,
                format!(
                    "{act} ip any any -> any any (msg:\"{msg}: traffic {dir_word} a known-bad address\"; {key}; {}; threshold:type limit,track {track},count 1,seconds 60; {}; sid:{}; rev:1;)",
                    ds(s),
                    meta(s, "ip"),
                    sid(off)
                ),
            );
        }
        for (off, name, src) in [
            (5, "suriguard-net-src", true),
            (6, "suriguard-net-dst", false),
        ] {
            let s = set(name);
            let list = s.values.iter().cloned().collect::<Vec<_>>().join(",");
            let (a, b, word, track) = if src {
                (format!("[{list}]"), "any".to_string(), "from", "by_src")
            } else {
                ("any".to_string(), format!("[{list}]"), "to", "by_dst")
            };
            rule(
                s,
                format!(
                    "{act} ip {a} any -> {b} any (msg:\"{msg}: traffic {word} a known-bad network\"; threshold:type limit,track {track},count 1,seconds 60; {}; sid:{}; rev:1;)",
                    meta(s, "net"),
                    sid(off)
                ),
            );
        }
        let d = set("suriguard-domains");
        for (off, proto, key, what) in [
            (10, "dns", "dns.query", "DNS query for"),
            (11, "tls", "tls.sni", "TLS connection to"),
            (12, "http", "http.host", "HTTP request to"),
        ] {
            rule(
                d,
                format!(
                    "{act} {proto} any any -> any any (msg:\"{msg}: {what} a known-bad domain\"; {key}; {}; {}; sid:{}; rev:1;)",
                    ds(d),
                    meta(d, "domain"),
                    sid(off)
                ),
            );
        }
        let (h, p) = (set("suriguard-url-hosts"), set("suriguard-url-paths"));
        rule(
            h,
            format!(
                "{act} http any any -> any any (msg:\"{msg}: HTTP request for a known-bad URL\"; http.host; {}; http.uri; {}; {}; sid:{}; rev:1;)",
                ds(h),
                ds(p),
                meta(h, "url"),
                sid(20)
            ),
        );
        for (off, name, kw, kind) in [
            (30, "suriguard-md5", "filemd5", "md5"),
            (31, "suriguard-sha1", "filesha1", "sha1"),
            (32, "suriguard-sha256", "filesha256", "sha256"),
        ] {
            let s = set(name);
            rule(
                s,
                format!(
                    "{act} http any any -> any any (msg:\"{msg}: transfer of a known-bad file ({kind})\"; {kw}:{}; {}; sid:{}; rev:1;)",
                    path(s),
                    meta(s, kind),
                    sid(off)
                ),
            );
        }
        let j = set("suriguard-ja3");
        rule(
            j,
            format!(
                "{act} tls any any -> any any (msg:\"{msg}: TLS client with a known-bad JA3 fingerprint\"; ja3.hash; {}; {}; sid:{}; rev:1;)",
                ds(j),
                meta(j, "ja3"),
                sid(40)
            ),
        );
        r
    }

    /// Writes every set file, the rule file (referencing `refer_dir`) and the index into
    /// `out`.
    pub fn write(
        &self,
        store: &Store,
        opts: &CompileOptions,
        out: &Path,
        refer_dir: &Path,
    ) -> std::io::Result<()> {
        for s in self.sets.values() {
            std::fs::write(out.join(s.file), self.file_bytes(s))?;
        }
        std::fs::write(out.join(RULES_FILE), self.rules(opts, refer_dir))?;
        // The whole store: what this generation was compiled from, with its provenance
        // (rulesync installs the same bytes as its state once the generation is in force).
        let mut f = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(out.join(INDEX_FILE))?,
        );
        serde_json::to_writer(&mut f, store).map_err(std::io::Error::other)?;
        f.flush()
    }

    /// Reads back the sets a previous run wrote into `dir` (missing files are empty
    /// sets), to compute what changed.
    pub fn read(dir: &Path) -> std::io::Result<Compiled> {
        let mut sets = BTreeMap::new();
        let mut context = false;
        for &(name, file, set_type) in &SETS {
            let mut values = Vec::new();
            let mut contexts = BTreeMap::new();
            match std::fs::read_to_string(dir.join(file)) {
                Ok(text) => {
                    for l in text.lines().filter(|l| !l.is_empty()) {
                        if l.starts_with('{') {
                            // A datajson line: the value is its "value".
                            #[derive(Deserialize)]
                            struct Line<'a> {
                                #[serde(borrow)]
                                value: std::borrow::Cow<'a, str>,
                            }
                            let v = serde_json::from_str::<Line>(l)
                                .ok()
                                .map(|o| o.value.into_owned())
                                .ok_or_else(|| {
                                    std::io::Error::other(format!("{file}: bad JSON line {l:?}"))
                                })?;
                            context = true;
                            contexts.insert(v.clone(), l.to_owned());
                            values.push(v);
                            continue;
                        }
                        let v = match set_type {
                            SetType::String => base64::engine::general_purpose::STANDARD
                                .decode(l)
                                .ok()
                                .and_then(|b| String::from_utf8(b).ok())
                                .ok_or_else(|| {
                                    std::io::Error::other(format!("{file}: bad base64 line {l:?}"))
                                })?,
                            _ => l.to_string(),
                        };
                        values.push(v);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            sets.insert(
                name,
                Set {
                    name,
                    file,
                    set_type,
                    values: values.into_iter().collect(),
                    sources: BTreeSet::new(),
                    contexts,
                },
            );
        }
        Ok(Compiled {
            sets,
            context,
            too_long: 0,
        })
    }

    /// Per set: values added and removed going from `old` to `self`.
    pub fn diff(&self, old: &Compiled) -> BTreeMap<&'static str, (Vec<String>, Vec<String>)> {
        let mut out = BTreeMap::new();
        for (name, s) in &self.sets {
            let empty = BTreeSet::new();
            let o = old.sets.get(name).map_or(&empty, |s| &s.values);
            let added: Vec<String> = s.values.difference(o).cloned().collect();
            let removed: Vec<String> = o.difference(&s.values).cloned().collect();
            out.insert(*name, (added, removed));
        }
        out
    }

    pub fn total(&self) -> usize {
        self.sets.values().map(|s| s.values.len()).sum()
    }
}

/// A source name as one metadata word (letters, digits, `-`, `_`, `.`).
fn meta_word(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Origin;
    use crate::indicator::{Indicator, Sides};

    fn store() -> Store {
        let mut s = Store::new();
        let i = |kind, v: &str, sides| {
            (
                Indicator {
                    kind,
                    value: v.into(),
                    sides,
                },
                Origin::default(),
            )
        };
        s.merge(
            "misp main",
            vec![
                i(Kind::Ip, "45.9.148.108", Sides::DST),
                i(Kind::Ip, "2a03:2880::1", Sides::SRC),
                i(Kind::Net, "45.9.0.0/16", Sides::BOTH),
                i(Kind::Domain, "evil.xyz", Sides::BOTH),
                i(Kind::Url, "evil.xyz/a.php?x=1", Sides::BOTH),
                i(Kind::Sha256, &"ab".repeat(32), Sides::BOTH),
            ],
            1,
        );
        s
    }

    #[test]
    fn sets_rules_and_stable_sids() {
        let c = Compiled::from_store(&store());
        assert_eq!(c.sets["suriguard-ip-dst-v4"].values.len(), 1);
        assert!(c.sets["suriguard-ip-src-v4"].values.is_empty());
        assert_eq!(c.sets["suriguard-ip-src-v6"].values.len(), 1);
        assert_eq!(c.sets["suriguard-net-src"].values.len(), 1);
        assert_eq!(c.sets["suriguard-net-dst"].values.len(), 1);
        assert_eq!(
            c.sets["suriguard-url-paths"].values.iter().next().unwrap(),
            "/a.php?x=1"
        );
        let d = &c.sets["suriguard-domains"];
        assert_eq!(c.file_bytes(d), b"ZXZpbC54eXo=\n");
        let rules = c.rules(&CompileOptions::default(), Path::new("/out"));
        let sids: Vec<&str> = rules
            .lines()
            .filter_map(|l| l.split("sid:").nth(1))
            .map(|s| &s[..7])
            .collect();
        assert_eq!(
            sids,
            [
                "9700002", "9700003", "9700005", "9700006", "9700010", "9700011", "9700012",
                "9700020", "9700032"
            ]
        );
        assert!(rules.contains(
            "dataset:isset,suriguard-domains,type string,load /out/domains.lst,hashsize 1024"
        ));
        assert!(rules.contains("suriguard_source misp_main"));
        assert!(rules.contains("filesha256:/out/sha256.txt"));
    }

    #[test]
    fn files_read_back_and_diff() {
        let dir = tempfile::tempdir().unwrap();
        let s = store();
        let c = Compiled::from_store(&s);
        c.write(&s, &CompileOptions::default(), dir.path(), dir.path())
            .unwrap();
        let back = Compiled::read(dir.path()).unwrap();
        for (n, set) in &c.sets {
            assert_eq!(back.sets[n].values, set.values, "{n}");
        }
        let mut s2 = s.clone();
        s2.expire("misp main", 2);
        s2.merge(
            "x",
            vec![(
                Indicator {
                    kind: Kind::Domain,
                    value: "new.xyz".into(),
                    sides: Sides::BOTH,
                },
                Origin::default(),
            )],
            3,
        );
        let d = Compiled::from_store(&s2).diff(&back);
        assert_eq!(
            d["suriguard-domains"],
            (vec!["new.xyz".to_string()], vec!["evil.xyz".to_string()])
        );
        assert_eq!(d["suriguard-ip-dst-v4"].1, vec!["45.9.148.108".to_string()]);
    }

    fn ind(kind: Kind, value: &str, sides: Sides) -> Indicator {
        Indicator {
            kind,
            value: value.into(),
            sides,
        }
    }

    fn origin(ev: &str, attr: &str) -> Origin {
        Origin {
            event: Some(ev.into()),
            attribute: Some(attr.into()),
            info: Some("Mirai C2".into()),
            tags: ["tlp:clear".to_string()].into(),
            ..Origin::default()
        }
    }

    #[test]
    fn datajson_sets_carry_each_values_provenance_bounded_and_stable() {
        let mut st = store();
        // One value named by twelve MISP events: the lists stop at eight.
        let many: Vec<(Indicator, Origin)> = (0..12)
            .map(|k| {
                (
                    ind(Kind::Ip, "45.9.148.108", Sides::DST),
                    origin(&format!("ev-{k:02}"), &format!("at-{k:02}")),
                )
            })
            .collect();
        st.merge("misp", many, 2);
        let c = Compiled::from_store_with(&st, true);
        let ip = &c.sets["suriguard-ip-dst-v4"];
        let ctx: serde_json::Value = serde_json::from_str(&ip.contexts["45.9.148.108"]).unwrap();
        assert_eq!(ctx["value"], "45.9.148.108");
        assert_eq!(ctx["sources"], serde_json::json!(["misp", "misp main"]));
        assert_eq!(
            ctx["misp_events"].as_array().unwrap().len(),
            CONTEXT_LIST_MAX
        );
        assert_eq!(ctx["misp_events"][0], "ev-00");
        assert_eq!(
            ctx["omitted"], 8,
            "4 events and 4 attributes left out: {ctx}"
        );
        assert_eq!(ctx["info"], "Mirai C2");
        // Files: one object per line for datasets, hash lists as before; rules name
        // the context key and never `state`.
        let file = String::from_utf8(c.file_bytes(ip)).unwrap();
        assert_eq!(file.lines().count(), 1);
        assert!(
            file.starts_with("{\"value\":\"45.9.148.108\",\"sources\""),
            "{file}"
        );
        let sha = &c.sets["suriguard-sha256"];
        assert_eq!(
            String::from_utf8(c.file_bytes(sha)).unwrap(),
            format!("{}\n", "ab".repeat(32))
        );
        let opts = CompileOptions {
            mode: DatasetMode::State,
            ..CompileOptions::default()
        };
        let rules = c.rules(&opts, Path::new("/out"));
        assert!(rules.contains("dataset:isset,suriguard-domains,type string,load /out/domains.lst,format ndjson,context_key suriguard,value_key value"), "{rules}");
        assert!(rules.contains("context_key suriguard_host"), "{rules}");
        assert!(rules.contains("context_key suriguard_path"), "{rules}");
        assert!(!rules.contains("state "), "{rules}");
        // Another pull later: same bytes (nothing volatile in a context).
        let mut later = st.clone();
        later.merge("misp main", vec![], 99);
        let again = Compiled::from_store_with(&later, true);
        assert_eq!(again.sets, c.sets);
        // Written and read back: values and contexts survive; a new event for a known
        // value is a context change, a new value is not (it is pushed live).
        let dir = tempfile::tempdir().unwrap();
        c.write(&st, &opts, dir.path(), Path::new("/out")).unwrap();
        let back = Compiled::read(dir.path()).unwrap();
        assert!(back.context);
        assert_eq!(
            back.sets["suriguard-domains"].contexts,
            c.sets["suriguard-domains"].contexts
        );
        assert!(!c.contexts_changed(&back));
        let mut grown = st.clone();
        grown.merge(
            "extra",
            vec![(ind(Kind::Domain, "new.xyz", Sides::BOTH), Origin::default())],
            3,
        );
        assert!(!Compiled::from_store_with(&grown, true).contexts_changed(&back));
        grown.merge(
            "extra",
            vec![(
                ind(Kind::Domain, "evil.xyz", Sides::BOTH),
                origin("ev-x", "at-x"),
            )],
            3,
        );
        assert!(Compiled::from_store_with(&grown, true).contexts_changed(&back));
        // A generation written for Suricata 7 read back: every value's context is new.
        let dir7 = tempfile::tempdir().unwrap();
        Compiled::from_store(&st)
            .write(&st, &opts, dir7.path(), Path::new("/out"))
            .unwrap();
        assert!(c.contexts_changed(&Compiled::read(dir7.path()).unwrap()));
    }

    /// Suricata 8 loads a datajson line of at most 1024 bytes: long provenance is cut to
    /// fit, a value that cannot fit is left out and counted.
    #[test]
    fn datajson_lines_fit_suricatas_line_buffer() {
        let mut st = Store::new();
        let long_tag = |k: usize| format!("misp-galaxy:threat-actor=\"{}{k}\"", "x".repeat(150));
        let items: Vec<(Indicator, Origin)> = (0..12)
            .map(|k| {
                let mut o = origin(
                    &format!("{:08}-aaaa-4bbb-8ccc-{k:012}", k),
                    &format!("{:08}-dddd-4eee-8fff-{k:012}", k),
                );
                o.tags.insert(long_tag(k));
                o.info = Some("y".repeat(300));
                (ind(Kind::Ip, "45.9.148.108", Sides::DST), o)
            })
            .collect();
        st.merge("misp", items, 1);
        let long_path = format!("evil.xyz/{}", "p".repeat(1500));
        st.merge(
            "feed",
            vec![
                (ind(Kind::Url, &long_path, Sides::DST), Origin::default()),
                (
                    ind(Kind::Url, "evil.xyz/ok.php", Sides::DST),
                    Origin::default(),
                ),
            ],
            1,
        );
        let c = Compiled::from_store_with(&st, true);
        for set in c.sets.values() {
            for line in String::from_utf8(c.file_bytes(set)).unwrap().lines() {
                assert!(
                    line.len() <= CONTEXT_MAX_BYTES,
                    "{}: {} bytes",
                    set.name,
                    line.len()
                );
            }
        }
        let ctx: serde_json::Value =
            serde_json::from_str(&c.sets["suriguard-ip-dst-v4"].contexts["45.9.148.108"]).unwrap();
        assert!(
            ctx["misp_events"].as_array().unwrap().len() < CONTEXT_LIST_MAX,
            "{ctx}"
        );
        assert!(ctx["omitted"].as_u64().unwrap() > 0, "{ctx}");
        let paths = &c.sets["suriguard-url-paths"];
        assert_eq!(paths.values.iter().collect::<Vec<_>>(), ["/ok.php"]);
        assert_eq!(c.too_long, 1);
        // Without context (Suricata 7) nothing is left out.
        assert_eq!(
            Compiled::from_store(&st).sets["suriguard-url-paths"]
                .values
                .len(),
            2
        );
    }
}
