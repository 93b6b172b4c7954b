//! eve.json written by the plugin: the records Suricata hands to the `suriguard` output,
//! one per line, in the file a regular eve-log output would have written, so Suricata
//! builds each record's JSON once (docs/ARCHITECTURE.md, "eve.json").
//!
//! ```text
//! Write (Suricata threads) ─append─▶ pending chunks ─▶ writer thread ─▶ eve.json
//!                                                          └─ the same chunk ─▶ detection
//! ```
//!
//! `write` appends the record and a newline to the current chunk under a short lock
//! and returns; it never waits for the disk or for the writer. Full pending data (records
//! or bytes) is a counted drop. The writer thread wakes when a chunk is full or every
//! 10 ms, takes the pending chunks, writes each to the file and hands the same chunk on
//! to detection (`forward`), so detection reads the records in file order (what
//! `suriguardctl analyze` replays) and nothing is copied twice. Suricata's threads never
//! wake a thread per record: that is what makes this cheaper than a queue of records.
//! A slow or stopped detection worker never holds the file back: `forward` must not
//! block.
//!
//! Rotation: the file is reopened when Suricata raises the rotation flag (SIGHUP, the
//! unix socket's `reopen-log-files`) or when the path no longer names the open file
//! (moved or deleted by logrotate without a signal), checked every 250 ms. A write
//! error (disk full, file system gone) loses that chunk's records, counted, never the
//! records after it: the file is reopened and writing goes on.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A chunk is handed to the writer once it holds this much.
pub const CHUNK: usize = 256 * 1024;
/// How long the writer sleeps when chunks fill slowly, and so the most a record waits.
const TICK: Duration = Duration::from_millis(10);
/// How often the path is compared with the open file.
const STAT_EVERY: Duration = Duration::from_millis(250);
/// How often an unopenable file is retried, and a repeated error logged at most.
const RETRY_EVERY: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Suricata's own eve.json mode.
const MODE: u32 = 0o640;

/// Records, one per line, in the order they were written.
#[derive(Debug, Default)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub records: u64,
}

impl Chunk {
    /// The records, without their newlines.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        self.data.split(|&b| b == b'\n').take(self.records as usize)
    }
}

/// What the eve.json writer did. Every record given to [`EveFile::write`] ends in
/// `queued`, `dropped_queue_full` or `rejected`; every queued one in `written` or `lost`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EveFileStats {
    pub path: PathBuf,
    /// Records accepted for the file.
    pub queued: u64,
    /// Records dropped because the pending data was full (records or bytes).
    pub dropped_queue_full: u64,
    /// Records refused because they hold a newline (they would break the file's lines).
    pub rejected: u64,
    /// Records written to the file.
    pub written: u64,
    /// Bytes written, newlines included.
    pub bytes: u64,
    /// Records lost to write errors or while the file could not be opened.
    pub lost: u64,
    /// Failed writes and opens.
    pub errors: u64,
    /// Times the file was reopened (rotation flag, moved or deleted file, after an error).
    pub reopened: u64,
}

#[derive(Default)]
struct Counters {
    dropped_queue_full: AtomicU64,
    rejected: AtomicU64,
    written: AtomicU64,
    bytes: AtomicU64,
    lost: AtomicU64,
    errors: AtomicU64,
    reopened: AtomicU64,
}

/// What `write` appends to and the writer takes.
#[derive(Default)]
struct Pending {
    full: Vec<Chunk>,
    current: Chunk,
    /// Records and bytes in `full` and `current`.
    records: usize,
    bytes: usize,
    /// Records ever accepted (monotonic; read for the stats).
    queued: u64,
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    max_records: usize,
    max_bytes: usize,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads an [`EveFile`]'s counters from another thread ([`EveFile::stats_reader`]).
pub struct EveFileStatsReader {
    path: PathBuf,
    shared: Arc<Shared>,
}

impl EveFileStatsReader {
    pub fn stats(&self) -> EveFileStats {
        let c = &self.shared.counters;
        EveFileStats {
            path: self.path.clone(),
            queued: self.shared.lock().queued,
            dropped_queue_full: c.dropped_queue_full.load(Relaxed),
            rejected: c.rejected.load(Relaxed),
            written: c.written.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            lost: c.lost.load(Relaxed),
            errors: c.errors.load(Relaxed),
            reopened: c.reopened.load(Relaxed),
        }
    }
}

/// The writer of one eve.json file.
pub struct EveFile {
    path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl EveFile {
    /// Opens (appends to, or creates with mode 0640) `path` and starts the writer thread.
    /// An error opening the file is returned; later errors are logged and counted.
    /// `max_records` and `max_bytes` bound what may wait for the writer. `reopen` is the
    /// flag Suricata raises for rotation (the writer lowers it). `forward` receives every
    /// chunk after it was written (or failed to be), in file order.
    pub fn start<F>(
        path: &Path,
        max_records: usize,
        max_bytes: usize,
        reopen: Arc<AtomicI32>,
        forward: F,
    ) -> io::Result<EveFile>
    where
        F: FnMut(Chunk) + Send + 'static,
    {
        let file = open(path).map_err(|e| annotate(path, "cannot open", e))?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            max_records: max_records.max(1),
            max_bytes,
            counters: Counters::default(),
        });
        let mut writer = Writer {
            path: path.to_owned(),
            file: Some(file),
            identity: identity(path),
            partial_line: false,
            shared: Arc::clone(&shared),
            reopen,
            last_stat: Instant::now(),
            last_retry: Instant::now(),
            last_logged: None,
        };
        let thread = std::thread::Builder::new()
            .name("SG-evefile".into())
            .spawn(move || writer.run(forward))?;
        Ok(EveFile {
            path: path.to_owned(),
            shared,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record; false if it was dropped (pending data full) or refused (it
    /// holds a newline). Never waits for the writer or the disk.
    pub fn write(&self, record: &[u8]) -> bool {
        let c = &self.shared.counters;
        if record.contains(&b'\n') {
            c.rejected.fetch_add(1, Relaxed);
            return false;
        }
        let len = record.len() + 1;
        let mut p = self.shared.lock();
        if p.closed || p.records >= self.shared.max_records || p.bytes + len > self.shared.max_bytes
        {
            drop(p);
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return false;
        }
        if p.current.data.len() + len > p.current.data.capacity() && !p.current.data.is_empty() {
            // The chunk is full: it waits for the writer whole, a new one starts (no
            // reallocation of what is there, whatever the writer's delay).
            let full = std::mem::replace(
                &mut p.current,
                Chunk {
                    data: Vec::with_capacity(CHUNK.max(len)),
                    records: 0,
                },
            );
            p.full.push(full);
        } else if p.current.data.capacity() == 0 {
            p.current.data.reserve(CHUNK.max(len));
        }
        p.current.data.extend_from_slice(record);
        p.current.data.push(b'\n');
        p.current.records += 1;
        p.records += 1;
        p.bytes += len;
        p.queued += 1;
        let kick = p.full.len() == 1 && p.current.records == 1;
        drop(p);
        if kick {
            // Once per chunk, not per record: the writer otherwise wakes on its tick.
            self.shared.wake.notify_one();
        }
        true
    }

    pub fn stats(&self) -> EveFileStats {
        self.stats_reader().stats()
    }

    /// A handle that reads the counters from another thread while the writer runs.
    pub fn stats_reader(&self) -> EveFileStatsReader {
        EveFileStatsReader {
            path: self.path.clone(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// Writes what is pending, closes the file and returns the counters.
    pub fn finish(mut self) -> EveFileStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the eve.json writer of {} panicked", self.path.display());
            }
        }
    }
}

impl Drop for EveFile {
    fn drop(&mut self) {
        self.stop();
    }
}

fn annotate(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} eve-file {}: {e}", path.display()))
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(MODE)
        .open(path)
}

/// Device and inode of what `path` names now.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

struct Writer {
    path: PathBuf,
    file: Option<File>,
    /// Device and inode of the open file.
    identity: Option<(u64, u64)>,
    /// A failed write may have left half a line in the file: the next write starts a
    /// new line first.
    partial_line: bool,
    shared: Arc<Shared>,
    reopen: Arc<AtomicI32>,
    last_stat: Instant,
    last_retry: Instant,
    last_logged: Option<Instant>,
}

impl Writer {
    fn run<F: FnMut(Chunk)>(&mut self, mut forward: F) {
        loop {
            let (chunks, closed) = {
                let mut p = self.shared.lock();
                if p.full.is_empty() && !p.closed {
                    p = self
                        .shared
                        .wake
                        .wait_timeout(p, TICK)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                let mut chunks = std::mem::take(&mut p.full);
                if !p.current.data.is_empty() {
                    chunks.push(std::mem::take(&mut p.current));
                }
                p.records = 0;
                p.bytes = 0;
                (chunks, p.closed)
            };
            for chunk in chunks {
                self.write(&chunk);
                forward(chunk);
            }
            if closed {
                break;
            }
            self.maintain();
        }
    }

    /// Between chunks: rotation by flag or by a moved file, and retries after errors.
    fn maintain(&mut self) {
        if self.reopen.load(Relaxed) != 0 {
            // Lowered once the file is open again, so whoever sees it lowered finds the
            // new file (a request arriving meanwhile is served by this very reopening).
            self.reopen_file("reopened on Suricata's request");
            self.reopen.store(0, Relaxed);
            return;
        }
        let now = Instant::now();
        if self.file.is_none() {
            if now.duration_since(self.last_retry) >= RETRY_EVERY {
                self.last_retry = now;
                self.reopen_file("opened again after an error");
            }
            return;
        }
        if now.duration_since(self.last_stat) >= STAT_EVERY {
            self.last_stat = now;
            if identity(&self.path) != self.identity {
                self.reopen_file("reopened: the path names another file (moved or deleted)");
            }
        }
    }

    fn reopen_file(&mut self, why: &str) {
        self.file = None;
        match open(&self.path) {
            Ok(f) => {
                let now = identity(&self.path);
                if now != self.identity {
                    // Half a line left by an error stays in the old file.
                    self.partial_line = false;
                }
                self.file = Some(f);
                self.identity = now;
                self.shared.counters.reopened.fetch_add(1, Relaxed);
                tracing::info!("eve-file {} {why}", self.path.display());
            }
            Err(e) => self.failed(&annotate(&self.path, "cannot open", e)),
        }
    }

    /// Writes one chunk to the file; on failure its records are counted lost.
    fn write(&mut self, chunk: &Chunk) {
        let c = &self.shared.counters;
        let result = match self.file.as_mut() {
            None => Err(io::Error::new(io::ErrorKind::NotFound, "not open")),
            Some(f) => {
                let mut r = Ok(());
                if self.partial_line {
                    r = f.write_all(b"\n");
                }
                r.and_then(|()| f.write_all(&chunk.data))
            }
        };
        match result {
            Ok(()) => {
                self.partial_line = false;
                c.written.fetch_add(chunk.records, Relaxed);
                c.bytes.fetch_add(chunk.data.len() as u64, Relaxed);
            }
            Err(e) => {
                c.lost.fetch_add(chunk.records, Relaxed);
                if self.file.take().is_some() {
                    self.partial_line = true;
                    self.last_retry = Instant::now();
                    self.failed(&annotate(&self.path, "cannot write", e));
                }
            }
        }
    }

    /// Counts an error and logs it, at most once a minute.
    fn failed(&mut self, e: &io::Error) {
        self.shared.counters.errors.fetch_add(1, Relaxed);
        let now = Instant::now();
        if self
            .last_logged
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            self.last_logged = Some(now);
            tracing::error!("{e}; records are counted as lost until it can be written again");
        }
    }
}

#[cfg(test)]
mod tests;
