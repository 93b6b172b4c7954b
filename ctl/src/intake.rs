//! Reading incidents into the store: Suricata's eve.json (alert records) and the
//! plugin's decisions journal, each from where the last run stopped.
//!
//! Rotation: a file is known by its inode. When the path names a new file, what the old
//! one got after the last run is read first, from `<path>.1` (logrotate's first
//! generation, left uncompressed by `delaycompress`, as Debian's Suricata and suriguard
//! rotate), then the new file from its start.

use std::io::{BufRead, BufReader, Read as _, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use serde::Serialize;
use suriguard_report::incident::{self, Incident};

use crate::error::CtlError;
use crate::store::Store;

/// What one file gave.
#[derive(Debug, Default, Serialize)]
pub struct FileReport {
    pub path: String,
    pub bytes: u64,
    pub lines: u64,
    pub incidents: u64,
    pub new: u64,
    /// Lines that were not JSON or not a valid record: counted and skipped.
    pub skipped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// The file does not exist (yet): nothing read, not an error.
    pub missing: bool,
}

/// Longest line read; a longer one is skipped whole (Suricata never writes one).
const MAX_LINE: usize = 4 << 20;

/// Reads `path` from its cursor; `new` is called for every incident not seen before
/// (inside the transaction that stores it); `states` gives a new incident its MISP and
/// sighting states.
pub fn ingest(
    store: &Store,
    path: &Path,
    now: i64,
    states: &dyn Fn(&Incident) -> (&'static str, Option<&'static str>),
    new: &mut dyn FnMut(&Store, &Incident) -> Result<(), CtlError>,
) -> Result<FileReport, CtlError> {
    let name = path.to_string_lossy().to_string();
    let mut rep = FileReport {
        path: name.clone(),
        ..Default::default()
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            rep.missing = true;
            return Ok(rep);
        }
        Err(e) => return Err(CtlError::file("read", path)(e)),
    };
    let meta = file.metadata().map_err(CtlError::file("inspect", path))?;
    let rotated = rotated_tail(store, &name, path, meta.ino())?;
    let start = store.cursor(&name, meta.ino(), meta.len())?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    reader
        .seek(SeekFrom::Start(start))
        .map_err(CtlError::file("seek in", path))?;
    // One transaction for the whole read: the callbacks use the same connection.
    store
        .db
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(store.failed("starting the intake transaction"))?;
    let result = (|| {
        if let Some((old, old_path, from)) = rotated {
            let mut old = BufReader::with_capacity(1 << 16, old);
            old.seek(SeekFrom::Start(from))
                .map_err(CtlError::file("seek in", &old_path))?;
            let end = read_lines(store, &mut old, &old_path, from, now, states, new, &mut rep)?;
            rep.bytes += end - from;
        }
        read_lines(store, &mut reader, path, start, now, states, new, &mut rep)
    })();
    match result {
        Ok(offset) => {
            rep.bytes += offset - start;
            store.set_cursor(&name, meta.ino(), offset)?;
            store
                .db
                .execute_batch("COMMIT")
                .map_err(store.failed("committing the intake"))?;
            Ok(rep)
        }
        Err(e) => {
            let _ = store.db.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The rest of the file the cursor of `name` was in, when `path` names another file now
/// and that one was moved to `<path>.1`: (the file, its path, where to go on).
fn rotated_tail(
    store: &Store,
    name: &str,
    path: &Path,
    ino: u64,
) -> Result<Option<(std::fs::File, std::path::PathBuf, u64)>, CtlError> {
    let Some((old_ino, offset)) = store.stored_cursor(name)? else {
        return Ok(None);
    };
    if old_ino == ino {
        return Ok(None);
    }
    let mut old_path = path.as_os_str().to_owned();
    old_path.push(".1");
    let old_path = std::path::PathBuf::from(old_path);
    let Ok(old) = std::fs::File::open(&old_path) else {
        return Ok(None);
    };
    let meta = old
        .metadata()
        .map_err(CtlError::file("inspect", &old_path))?;
    Ok((meta.ino() == old_ino && meta.len() > offset).then_some((old, old_path, offset)))
}

#[allow(clippy::too_many_arguments)]
fn read_lines(
    view: &Store,
    reader: &mut BufReader<std::fs::File>,
    path: &Path,
    start: u64,
    now: i64,
    states: &dyn Fn(&Incident) -> (&'static str, Option<&'static str>),
    new: &mut dyn FnMut(&Store, &Incident) -> Result<(), CtlError>,
    rep: &mut FileReport,
) -> Result<u64, CtlError> {
    let mut offset = start;
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let n = (&mut *reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(CtlError::file("read", path))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            if n > MAX_LINE {
                // Skip the rest of an oversized line.
                let mut rest = Vec::new();
                let m = reader
                    .read_until(b'\n', &mut rest)
                    .map_err(CtlError::file("read", path))?;
                if rest.last() != Some(&b'\n') {
                    break; // still being written
                }
                offset += (n + m) as u64;
                rep.lines += 1;
                rep.skipped += 1;
                rep.first_error
                    .get_or_insert_with(|| format!("line over {MAX_LINE} bytes"));
                continue;
            }
            break; // a line Suricata is still writing: next run
        }
        offset += n as u64;
        rep.lines += 1;
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t,
            Err(_) => {
                rep.skipped += 1;
                rep.first_error
                    .get_or_insert_with(|| "line is not UTF-8".into());
                continue;
            }
        };
        match incident::from_line(text) {
            Ok(Some(inc)) => {
                rep.incidents += 1;
                let (state, sight) = states(&inc);
                if view.insert(&inc, state, sight, now)? {
                    rep.new += 1;
                    new(view, &inc)?;
                }
            }
            Ok(None) => {}
            Err(e) => {
                rep.skipped += 1;
                rep.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(flow_id: u64) -> String {
        format!(
            r#"{{"timestamp":"2024-05-04T10:11:12.000000+0000","flow_id":{flow_id},"event_type":"alert","src_ip":"198.51.100.7","src_port":4444,"dest_ip":"192.168.1.20","dest_port":23,"proto":"TCP","alert":{{"action":"allowed","signature_id":2100498,"rev":7,"signature":"x","category":"c","severity":2}}}}"#
        ) + "\n"
    }

    fn append(path: &Path, text: &str) {
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    /// A file rotated between two runs (moved to `.1`, a new one started) loses nothing
    /// and reads nothing twice: the old file's tail, then the new file.
    #[test]
    fn a_rotated_files_tail_is_read_before_the_new_file() {
        let dir = std::env::temp_dir().join(format!("sg-intake-rot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("db.sqlite")).unwrap();
        let path = dir.join("eve.json");
        let run = |store: &Store| {
            let mut seen = 0u64;
            let mut new = |_: &Store, _: &Incident| {
                seen += 1;
                Ok(())
            };
            let rep = ingest(store, &path, 0, &|_| ("new", None), &mut new).unwrap();
            (rep.incidents, seen)
        };
        append(&path, &(alert(1) + &alert(2)));
        assert_eq!(run(&store), (2, 2));
        // Written after that run, then rotated; the new file gets two more.
        append(&path, &(alert(3) + &alert(4)));
        std::fs::rename(&path, dir.join("eve.json.1")).unwrap();
        append(&path, &(alert(5) + &alert(6)));
        assert_eq!(run(&store), (4, 4));
        // Nothing new: nothing read, from either file.
        assert_eq!(run(&store), (0, 0));
        // Rotated again with nothing written in between, and the old `.1` replaced.
        std::fs::rename(&path, dir.join("eve.json.1")).unwrap();
        append(&path, &alert(7));
        assert_eq!(run(&store), (1, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
