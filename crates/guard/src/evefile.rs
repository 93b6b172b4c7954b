//! eve.json written by the plugin: the records Suricata hands to the `suriguard` output,
//! one per line, in the file a regular eve-log output would have written, so Suricata
//! builds each record's JSON once (docs/ARCHITECTURE.md, "eve.json").
//!
//! ```text
//! Write (Suricata threads) ─copy─▶ bounded queue ─▶ writer thread ─▶ eve.json
//!                                                       └─forward (file order)─▶ detection
//! ```
//!
//! `write` never blocks: a full queue (records or bytes) is a counted drop, as in the
//! detection queue. The writer thread appends each record and a newline to a buffer,
//! writes the buffer when it is large or the queue is empty, and hands each record on
//! to detection in file order, so detection sees the records in the order the file
//! holds them (what `suriguardctl analyze` replays). A slow or stopped detection worker
//! never holds the file back: `forward` must not block.
//!
//! Rotation: the file is reopened when Suricata raises the rotation flag (SIGHUP, the
//! unix socket's `reopen-log-files`) or when the path no longer names the open file
//! (moved or deleted by logrotate without a signal), checked every 250 ms. A write
//! error (disk full, file system gone) loses the buffered records, counted, never the
//! records after it: the file is reopened and writing goes on.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use serde::{Deserialize, Serialize};

/// The buffer is written once it holds this much.
const BUFFER: usize = 64 * 1024;
/// How long the writer waits for a record before it looks at the rotation flag.
const TICK: Duration = Duration::from_millis(20);
/// How often the path is compared with the open file.
const STAT_EVERY: Duration = Duration::from_millis(250);
/// How often an unopenable file is retried, and a repeated error logged at most.
const RETRY_EVERY: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Suricata's own eve.json mode.
const MODE: u32 = 0o640;

/// What the eve.json writer did. Every record given to [`EveFile::write`] ends in
/// `queued` or `dropped_queue_full`; every queued one in `written` or `lost`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EveFileStats {
    pub path: PathBuf,
    /// Records copied into the writer's queue.
    pub queued: u64,
    /// Records dropped because the writer's queue was full.
    pub dropped_queue_full: u64,
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
    queued: AtomicU64,
    dropped_queue_full: AtomicU64,
    written: AtomicU64,
    bytes: AtomicU64,
    lost: AtomicU64,
    errors: AtomicU64,
    reopened: AtomicU64,
}

/// The writer of one eve.json file.
pub struct EveFile {
    path: PathBuf,
    tx: Option<Sender<Box<[u8]>>>,
    queued_bytes: Arc<AtomicUsize>,
    queue_bytes: usize,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

impl EveFile {
    /// Opens (appends to, or creates with mode 0640) `path` and starts the writer thread.
    /// An error opening the file is returned; later errors are logged and counted.
    /// `reopen` is the flag Suricata raises for rotation (the writer lowers it).
    /// `forward` receives every record after it is in the file's buffer, in file order.
    pub fn start<F>(
        path: &Path,
        queue_size: usize,
        queue_bytes: usize,
        reopen: Arc<AtomicI32>,
        forward: F,
    ) -> io::Result<EveFile>
    where
        F: FnMut(Box<[u8]>) + Send + 'static,
    {
        let file = open(path).map_err(|e| annotate(path, "cannot open", e))?;
        let (tx, rx) = crossbeam_channel::bounded(queue_size.max(1));
        let counters = Arc::new(Counters::default());
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let mut writer = Writer {
            path: path.to_owned(),
            file: Some(file),
            identity: identity(path),
            buf: Vec::with_capacity(BUFFER + 4096),
            in_buf: 0,
            partial_line: false,
            counters: Arc::clone(&counters),
            queued_bytes: Arc::clone(&queued_bytes),
            reopen,
            last_stat: Instant::now(),
            last_retry: Instant::now(),
            last_logged: None,
        };
        let thread = std::thread::Builder::new()
            .name("SG-evefile".into())
            .spawn(move || writer.run(rx, forward))?;
        Ok(EveFile {
            path: path.to_owned(),
            tx: Some(tx),
            queued_bytes,
            queue_bytes,
            counters,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies one record into the writer's queue; false if it was dropped (queue full).
    /// Never blocks.
    pub fn write(&self, record: &[u8]) -> bool {
        let c = &self.counters;
        let Some(tx) = &self.tx else {
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return false;
        };
        if tx.is_full() {
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return false;
        }
        let len = record.len();
        if self.queued_bytes.fetch_add(len, Relaxed) + len > self.queue_bytes {
            self.queued_bytes.fetch_sub(len, Relaxed);
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return false;
        }
        match tx.try_send(Box::from(record)) {
            Ok(()) => {
                c.queued.fetch_add(1, Relaxed);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued_bytes.fetch_sub(len, Relaxed);
                c.dropped_queue_full.fetch_add(1, Relaxed);
                false
            }
        }
    }

    pub fn stats(&self) -> EveFileStats {
        let c = &self.counters;
        EveFileStats {
            path: self.path.clone(),
            queued: c.queued.load(Relaxed),
            dropped_queue_full: c.dropped_queue_full.load(Relaxed),
            written: c.written.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            lost: c.lost.load(Relaxed),
            errors: c.errors.load(Relaxed),
            reopened: c.reopened.load(Relaxed),
        }
    }

    /// Writes what is queued, closes the file and returns the counters.
    pub fn finish(mut self) -> EveFileStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        drop(self.tx.take());
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
    buf: Vec<u8>,
    /// Records in `buf`.
    in_buf: u64,
    /// A failed write may have left half a line in the file: the next write starts a
    /// new line first.
    partial_line: bool,
    counters: Arc<Counters>,
    queued_bytes: Arc<AtomicUsize>,
    reopen: Arc<AtomicI32>,
    last_stat: Instant,
    last_retry: Instant,
    last_logged: Option<Instant>,
}

impl Writer {
    fn run<F: FnMut(Box<[u8]>)>(&mut self, rx: Receiver<Box<[u8]>>, mut forward: F) {
        loop {
            let record = if self.buf.is_empty() {
                match rx.recv_timeout(TICK) {
                    Ok(r) => Some(r),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.try_recv() {
                    Ok(r) => Some(r),
                    // Idle: what is buffered goes to the file now.
                    Err(TryRecvError::Empty) => {
                        self.flush();
                        None
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            };
            if let Some(record) = record {
                self.queued_bytes.fetch_sub(record.len(), Relaxed);
                self.buf.extend_from_slice(&record);
                self.buf.push(b'\n');
                self.in_buf += 1;
                forward(record);
                if self.buf.len() >= BUFFER {
                    self.flush();
                    // Under sustained load the queue is never empty: rotation and
                    // retries are looked at after every full buffer as well.
                    self.maintain();
                }
            } else {
                self.maintain();
            }
        }
        self.flush();
    }

    /// Between records: rotation by flag or by a moved file, and retries after errors.
    fn maintain(&mut self) {
        if self.reopen.swap(0, Relaxed) != 0 {
            self.flush();
            self.reopen_file("reopened on Suricata's request");
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
                self.flush();
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
                self.counters.reopened.fetch_add(1, Relaxed);
                tracing::info!("eve-file {} {why}", self.path.display());
            }
            Err(e) => self.failed(&annotate(&self.path, "cannot open", e)),
        }
    }

    /// Writes the buffer to the file; on failure its records are counted lost.
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let n = std::mem::take(&mut self.in_buf);
        let result = match self.file.as_mut() {
            None => Err(io::Error::new(io::ErrorKind::NotFound, "not open")),
            Some(f) => {
                let mut r = Ok(());
                if self.partial_line {
                    r = f.write_all(b"\n");
                }
                r.and_then(|()| f.write_all(&self.buf))
            }
        };
        match result {
            Ok(()) => {
                self.partial_line = false;
                self.counters.written.fetch_add(n, Relaxed);
                self.counters
                    .bytes
                    .fetch_add(self.buf.len() as u64, Relaxed);
            }
            Err(e) => {
                self.counters.lost.fetch_add(n, Relaxed);
                if self.file.take().is_some() {
                    self.partial_line = true;
                    self.last_retry = Instant::now();
                    self.failed(&annotate(&self.path, "cannot write", e));
                }
            }
        }
        self.buf.clear();
        // A burst of huge records must not keep a huge buffer.
        if self.buf.capacity() > 4 * BUFFER {
            self.buf.shrink_to(BUFFER + 4096);
        }
    }

    /// Counts an error and logs it, at most once a minute.
    fn failed(&mut self, e: &io::Error) {
        self.counters.errors.fetch_add(1, Relaxed);
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
