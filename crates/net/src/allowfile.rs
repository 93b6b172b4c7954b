//! The allowlist file: addresses and prefixes the operator said must never be blocked
//! again (`[network] allowlist-file`, by default `allowlist.txt` in the state dir).
//!
//! One address or CIDR per line; `#` starts a comment; blank lines are ignored.
//! `suriguardctl allowlist add` and the console append lines with a comment naming who
//! and when; the plugin and its enforcer re-read the file when it changes, so an entry
//! takes effect without a restart. A line that does not parse is skipped and reported
//! with its number: one typo never drops the other entries.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::Cidr;

/// What a read of the file found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowFile {
    /// Each entry with its comment (`""` without one), in file order, without repeats.
    pub entries: Vec<(Cidr, String)>,
    /// Lines that did not parse: `line N: "text": why`.
    pub skipped: Vec<String>,
}

impl AllowFile {
    /// Reads `path`; a missing file is an empty list.
    /// Bytes that are not UTF-8 (a Latin-1 comment, say) are replaced, never a reason to
    /// drop the whole file: the lines around them still count.
    pub fn read(path: &Path) -> io::Result<AllowFile> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(AllowFile::parse(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(AllowFile::default()),
            Err(e) => Err(e),
        }
    }

    pub fn parse(text: &str) -> AllowFile {
        let mut out = AllowFile::default();
        // Entries seen so far: a scan of `entries` per line made a large file quadratic
        // (found by the `allowlist_file` fuzz target: 16,000 lines took seconds).
        let mut seen = std::collections::HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let (entry, comment) = match line.split_once('#') {
                Some((e, c)) => (e.trim(), c.trim()),
                None => (line.trim(), ""),
            };
            if entry.is_empty() {
                continue;
            }
            match entry.parse::<Cidr>() {
                Ok(c) if !seen.insert(c) => {}
                Ok(c) => out.entries.push((c, comment.to_owned())),
                Err(e) => out.skipped.push(format!("line {}: {entry:?}: {e}", i + 1)),
            }
        }
        out
    }

    pub fn cidrs(&self) -> impl Iterator<Item = Cidr> + '_ {
        self.entries.iter().map(|(c, _)| *c)
    }

    /// Adds `cidr` with `comment` (one line), keeping every other line as it is.
    /// `Ok(false)` when it is already there.
    pub fn add(path: &Path, cidr: Cidr, comment: &str) -> io::Result<bool> {
        let text = read_or_empty(path)?;
        if AllowFile::parse(&text).cidrs().any(|c| c == cidr) {
            return Ok(false);
        }
        let mut out = text;
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let comment: String = comment
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if comment.trim().is_empty() {
            out.push_str(&format!("{cidr}\n"));
        } else {
            out.push_str(&format!("{cidr}  # {}\n", comment.trim()));
        }
        replace(path, &out)?;
        Ok(true)
    }

    /// Removes the lines whose entry is exactly `cidr` (comments and other lines stay).
    /// `Ok(false)` when there was none.
    pub fn remove(path: &Path, cidr: Cidr) -> io::Result<bool> {
        let text = read_or_empty(path)?;
        let mut out = String::with_capacity(text.len());
        let mut removed = false;
        for line in text.lines() {
            let entry = line.split_once('#').map_or(line, |(e, _)| e).trim();
            if !entry.is_empty() && entry.parse::<Cidr>().is_ok_and(|c| c == cidr) {
                removed = true;
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        if removed {
            replace(path, &out)?;
        }
        Ok(removed)
    }
}

fn read_or_empty(path: &Path) -> io::Result<String> {
    match std::fs::read(path) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// Writes `text` to a temporary file beside `path`, syncs it and renames it over `path`:
/// a reader sees the old list or the new one, never half of one.
fn replace(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// How often the plugin's worker and its enforcer look at the allowlist file.
pub const ALLOWLIST_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Notices changes to the allowlist file, looking at most every `every`: its size,
/// modification time and inode (a rename over it is a change).
#[derive(Debug)]
pub struct AllowWatch {
    path: PathBuf,
    every: Duration,
    next: Instant,
    seen: Option<Stamp>,
}

type Stamp = (u64, Option<SystemTime>, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok(), m.ino()))
}

impl AllowWatch {
    /// Starts watching `path` as it is now (its current content is what the caller
    /// already read).
    pub fn new(path: PathBuf, every: Duration) -> AllowWatch {
        AllowWatch {
            seen: stamp(&path),
            next: Instant::now() + every,
            path,
            every,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When the next look is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// Whether the file changed since the last call that returned `true` (or since
    /// `new`); looks only when `now` has reached the next look.
    pub fn changed(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + self.every;
        let s = stamp(&self.path);
        if s == self.seen {
            return false;
        }
        self.seen = s;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_entries_comments_and_reports_bad_lines_by_number() {
        let f = AllowFile::parse(
            "# my devices\n192.168.1.20  # thermostat\n\n2001:db8::/64\nnot-an-address\n192.168.1.20\n10.0.0.0/33\n",
        );
        assert_eq!(
            f.entries,
            vec![
                (c("192.168.1.20"), "thermostat".into()),
                (c("2001:db8::/64"), String::new())
            ]
        );
        assert_eq!(f.skipped.len(), 2);
        assert!(
            f.skipped[0].starts_with("line 5: \"not-an-address\""),
            "{:?}",
            f.skipped
        );
        assert!(
            f.skipped[1].starts_with("line 7: \"10.0.0.0/33\""),
            "{:?}",
            f.skipped
        );
    }

    /// Found by the `allowlist_file` fuzz target: repeats were found by scanning every
    /// entry so far, quadratic in the file's length. A large file keeps its first
    /// occurrences in order and drops the repeats (in linear time now).
    #[test]
    fn a_large_file_with_repeats_keeps_first_occurrences_in_order() {
        let n = 20_000u32;
        let line = |i: u32| format!("10.{}.{}.{} # {i}\n", i >> 16, (i >> 8) & 255, i & 255);
        let text: String = (0..n).chain(0..n).map(line).collect();
        let f = AllowFile::parse(&text);
        assert_eq!(f.entries.len(), n as usize);
        assert!(f.skipped.is_empty());
        assert_eq!(f.entries[0], (c("10.0.0.0"), "0".into()));
        assert_eq!(
            f.entries[n as usize - 1],
            (c("10.0.78.31"), (n - 1).to_string())
        );
    }

    #[test]
    fn add_and_remove_keep_the_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/allowlist.txt");
        assert_eq!(AllowFile::read(&p).unwrap(), AllowFile::default());
        assert!(AllowFile::add(&p, c("198.51.100.7"), "by admin\nnewline").unwrap());
        assert!(!AllowFile::add(&p, c("198.51.100.7"), "again").unwrap());
        std::fs::write(
            &p,
            format!(
                "{}# hand-written\nbogus line",
                std::fs::read_to_string(&p).unwrap()
            ),
        )
        .unwrap();
        assert!(AllowFile::add(&p, c("10.1.0.0/16"), "").unwrap());
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "198.51.100.7  # by admin newline\n# hand-written\nbogus line\n10.1.0.0/16\n"
        );
        assert!(AllowFile::remove(&p, c("198.51.100.7")).unwrap());
        assert!(!AllowFile::remove(&p, c("198.51.100.7")).unwrap());
        let f = AllowFile::read(&p).unwrap();
        assert_eq!(f.cidrs().collect::<Vec<_>>(), vec![c("10.1.0.0/16")]);
        assert_eq!(f.skipped.len(), 1);
    }

    #[test]
    fn a_byte_that_is_not_utf8_costs_nothing_but_itself() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("allowlist.txt");
        std::fs::write(&p, b"192.0.2.1  # caf\xe9\n192.0.2.2\n").unwrap();
        let f = AllowFile::read(&p).unwrap();
        assert_eq!(
            f.cidrs().collect::<Vec<_>>(),
            vec![c("192.0.2.1"), c("192.0.2.2")]
        );
    }

    #[test]
    fn the_watch_sees_a_rename_over_the_file_and_only_when_due() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("allowlist.txt");
        let mut w = AllowWatch::new(p.clone(), Duration::from_secs(3600));
        let t0 = Instant::now();
        assert!(!w.changed(t0));
        AllowFile::add(&p, c("192.0.2.1"), "").unwrap();
        assert!(!w.changed(t0), "not due yet");
        let later = t0 + Duration::from_secs(7200);
        assert!(w.changed(later));
        assert!(
            !w.changed(later + Duration::from_secs(3600)),
            "no change since"
        );
        // Same size, new inode: still a change.
        AllowFile::remove(&p, c("192.0.2.1")).unwrap();
        AllowFile::add(&p, c("192.0.2.2"), "").unwrap();
        assert!(w.changed(later + Duration::from_secs(7200)));
    }
}
