//! Reading incidents into the store: Suricata's eve.json (alert records) and the
//! plugin's decisions journal, each from where the last run stopped.

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
    let result = read_lines(store, &mut reader, path, start, now, states, new, &mut rep);
    match result {
        Ok(offset) => {
            rep.bytes = offset - start;
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
