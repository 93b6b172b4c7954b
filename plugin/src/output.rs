//! One eve-log output of file type `suriguard`: the bounded queue, the counters of the
//! `Write` side, and the worker thread that drains the queue into `suriguard-core`.
//!
//! Threading rules (see docs/ARCHITECTURE.md): `write` runs on any Suricata thread, many
//! at once, and may only touch atomics and the channel's sender; it never blocks and never
//! allocates more than the one copy of an accepted record. Everything else happens on the
//! worker thread, which owns the pipeline outright.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use suriguard_decision::Decision;
use suriguard_detect::{IngestStats, Pipeline};
use suriguard_enforce::EnforceStats;
use suriguard_guard::{
    BaselineSaver, DecisionSink, GuardConfig, Note, PluginSettings, PluginStats, SinkStats,
    WriteStats,
};

use crate::failpoints::{Failpoints, WORKER_PANIC_MARKER, WRITE_PANIC_MARKER};
use crate::host::{self, sclog};

/// Parse errors logged individually before they are only counted.
const LOGGED_PARSE_ERRORS: u64 = 3;

/// Counters bumped on Suricata's threads.
#[derive(Default)]
struct WriteCounters {
    calls: AtomicU64,
    queued: AtomicU64,
    dropped_queue_full: AtomicU64,
    rejected_invalid: AtomicU64,
    rejected_empty: AtomicU64,
    rejected_oversized: AtomicU64,
    write_panics: AtomicU64,
}

impl WriteCounters {
    fn snapshot(&self) -> WriteStats {
        WriteStats {
            calls: self.calls.load(Relaxed),
            queued: self.queued.load(Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Relaxed),
            rejected_invalid: self.rejected_invalid.load(Relaxed),
            rejected_empty: self.rejected_empty.load(Relaxed),
            rejected_oversized: self.rejected_oversized.load(Relaxed),
            write_panics: self.write_panics.load(Relaxed),
        }
    }
}

/// Holds the worker back while the `pause-worker` failpoint is on.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn new(open: bool) -> Gate {
        Gate {
            open: Mutex::new(open),
            cv: Condvar::new(),
        }
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        while !*open {
            open = self.cv.wait(open).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }
}

/// The state behind Suricata's `init_data` pointer for one output.
pub struct Output {
    settings: PluginSettings,
    threaded: bool,
    failpoints: Failpoints,
    tx: Option<Sender<Box<[u8]>>>,
    counters: WriteCounters,
    /// Bytes of record data in the queue; the worker subtracts what it takes off.
    queued_bytes: Arc<AtomicUsize>,
    eve_threads: AtomicU64,
    gate: Arc<Gate>,
    worker: Option<JoinHandle<(IngestStats, SinkStats, Option<EnforceStats>)>>,
}

impl Output {
    /// Validates the configuration and starts the worker.
    pub fn start(settings: PluginSettings, threaded: bool) -> Result<Output, String> {
        // Loaded here, on Suricata's main thread, so a broken file or an unwritable
        // journal is reported at start-up with a clear line. Only the plugin's own
        // sections are read: a mistake in [notify] or [misp] is suriguardctl's to report.
        let config = GuardConfig::load(settings.config.as_deref()).map_err(|e| e.to_string())?;
        let guard = suriguard_guard::start(&config).map_err(|e| e.to_string())?;
        for note in &guard.notes {
            match note {
                Note::Info(line) => sclog!(host::NOTICE, "{line}"),
                Note::Problem(line) => sclog!(host::ERROR, "{line}"),
            }
        }
        let (pipeline, sink, saver) = (guard.pipeline, guard.sink, guard.baselines);
        let (failpoints, unknown) = Failpoints::from_env();
        for name in unknown {
            sclog!(host::WARNING, "ignoring unknown failpoint {name:?}");
        }
        if failpoints.any() {
            sclog!(
                host::WARNING,
                "fault injection enabled ({failpoints:?}); test use only"
            );
        }

        let (tx, rx) = crossbeam_channel::bounded::<Box<[u8]>>(settings.queue_size);
        let gate = Arc::new(Gate::new(!failpoints.pause_worker));
        let worker_gate = Arc::clone(&gate);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let worker_bytes = Arc::clone(&queued_bytes);
        let worker = std::thread::Builder::new()
            .name("SG-worker".into())
            .spawn(move || {
                run_worker(
                    rx,
                    pipeline,
                    sink,
                    saver,
                    worker_gate,
                    worker_bytes,
                    failpoints,
                )
            })
            .map_err(|e| format!("cannot start the worker thread: {e}"))?;

        Ok(Output {
            settings,
            threaded,
            failpoints,
            tx: Some(tx),
            counters: WriteCounters::default(),
            queued_bytes,
            eve_threads: AtomicU64::new(0),
            gate,
            worker: Some(worker),
        })
    }

    pub fn settings(&self) -> &PluginSettings {
        &self.settings
    }

    /// Copies one record into the queue. Never blocks: a full queue is a counted drop.
    pub fn write(&self, record: Option<&[u8]>) {
        let c = &self.counters;
        c.calls.fetch_add(1, Relaxed);
        let Some(bytes) = record else {
            c.rejected_invalid.fetch_add(1, Relaxed);
            return;
        };
        if bytes.is_empty() {
            c.rejected_empty.fetch_add(1, Relaxed);
            return;
        }
        if bytes.len() > self.settings.max_record_size {
            c.rejected_oversized.fetch_add(1, Relaxed);
            return;
        }
        if self.failpoints.panic_in_write && bytes.starts_with(WRITE_PANIC_MARKER) {
            panic!("failpoint panic-in-write");
        }
        let Some(tx) = &self.tx else {
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return;
        };
        // Checked first so that a sustained overload does not allocate and free a copy of
        // every record it drops.
        if tx.is_full() {
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return;
        }
        let len = bytes.len();
        if self.queued_bytes.fetch_add(len, Relaxed) + len > self.settings.queue_bytes {
            self.queued_bytes.fetch_sub(len, Relaxed);
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return;
        }
        match tx.try_send(Box::from(bytes)) {
            Ok(()) => c.queued.fetch_add(1, Relaxed),
            // Disconnected only happens if the worker died; the record is lost all the same.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued_bytes.fetch_sub(len, Relaxed);
                c.dropped_queue_full.fetch_add(1, Relaxed)
            }
        };
    }

    /// Counts an eve thread joining (threaded eve).
    pub fn count_thread(&self) {
        self.eve_threads.fetch_add(1, Relaxed);
    }

    /// Counts a panic contained at the `Write` boundary.
    pub fn count_write_panic(&self) {
        self.counters.write_panics.fetch_add(1, Relaxed);
    }

    /// Drains the queue, joins the worker, and returns the run's counters.
    pub fn shutdown(mut self) -> PluginStats {
        // Closing the channel lets the worker finish what is queued and then return.
        drop(self.tx.take());
        self.gate.open();
        let (ingest, decisions, enforcement) = match self.worker.take().map(JoinHandle::join) {
            Some(Ok((ingest, sink, enforcement))) => (ingest, Some(sink), enforcement),
            Some(Err(_)) | None => {
                sclog!(host::ERROR, "the worker thread died; its counters are lost");
                (IngestStats::default(), None, None)
            }
        };
        PluginStats {
            threaded: self.threaded,
            eve_threads: self.eve_threads.load(Relaxed),
            queue_size: self.settings.queue_size,
            write: self.counters.snapshot(),
            ingest,
            decisions,
            enforcement,
        }
    }
}

fn run_worker(
    rx: Receiver<Box<[u8]>>,
    mut pipeline: Pipeline,
    mut sink: DecisionSink,
    mut saver: Option<BaselineSaver>,
    gate: Arc<Gate>,
    queued_bytes: Arc<AtomicUsize>,
    failpoints: Failpoints,
) -> (IngestStats, SinkStats, Option<EnforceStats>) {
    gate.wait();
    let mut model_off_logged = false;
    loop {
        // With model samples pending, wait no longer than their deadline.
        let record = match pipeline.due_in(Instant::now()) {
            None => match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            },
            Some(wait) => match rx.recv_timeout(wait) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => {
                    poll_model(&mut pipeline, &mut model_off_logged);
                    take_decisions(&mut pipeline, &mut sink);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        queued_bytes.fetch_sub(record.len(), Relaxed);
        let before = pipeline.stats().records;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if failpoints.panic_in_worker && record.starts_with(WORKER_PANIC_MARKER) {
                panic!("failpoint panic-in-worker");
            }
            pipeline.handle(&record)
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let n = pipeline.stats().parse_errors;
                if n <= LOGGED_PARSE_ERRORS {
                    let more = if n == LOGGED_PARSE_ERRORS {
                        "; further parse errors are only counted"
                    } else {
                        ""
                    };
                    sclog!(
                        host::WARNING,
                        "skipped a record that is not valid EVE JSON ({} bytes): {e}{more}",
                        record.len()
                    );
                }
            }
            Err(_) => {
                let handled = pipeline.stats().records != before;
                pipeline.count_panic(handled)
            }
        }
        poll_model(&mut pipeline, &mut model_off_logged);
        take_decisions(&mut pipeline, &mut sink);
        // The clock is read once per 1,024 records, not per record.
        if pipeline.stats().records.is_multiple_of(1024) {
            save_baselines(&mut saver, &pipeline, false);
        }
    }
    pipeline.finish();
    take_decisions(&mut pipeline, &mut sink);
    save_baselines(&mut saver, &pipeline, true);
    let (sink_stats, enforcement) = sink.finish();
    (pipeline.into_stats(), sink_stats, enforcement)
}

/// Logs every decision the pipeline made and hands it to the journal and the enforcer.
fn take_decisions(pipeline: &mut Pipeline, sink: &mut DecisionSink) {
    for d in pipeline.drain_decisions() {
        take_decision(&d, sink);
    }
}

fn take_decision(d: &Decision, sink: &mut DecisionSink) {
    sclog!(
        host::NOTICE,
        "decision {}: {}{} (reason {}, ttl {} s, confidence {})",
        d.id,
        d.summary,
        if d.dry_run { " [dry-run]" } else { "" },
        d.reason.as_str(),
        d.ttl,
        d.confidence
    );
    for e in sink.take(d) {
        sclog!(host::ERROR, "{e}");
    }
}

/// Saves the home devices' baselines when it is time (`force`: at shutdown). A failure
/// is logged and retried at the next interval; detection goes on.
fn save_baselines(saver: &mut Option<BaselineSaver>, pipeline: &Pipeline, force: bool) {
    let Some(s) = saver.as_mut() else {
        return;
    };
    match catch_unwind(AssertUnwindSafe(|| s.save(pipeline, force))) {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => sclog!(host::ERROR, "{e}"),
        Err(_) => sclog!(host::ERROR, "saving the baselines panicked; not saved"),
    }
}

/// Runs the model's batch if it is due; says once if the model stage has switched itself
/// off. Nothing at all without a model.
fn poll_model(pipeline: &mut Pipeline, off_logged: &mut bool) {
    if !pipeline.has_model() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| pipeline.poll(Instant::now())));
    if !*off_logged {
        if let Some(why) = pipeline.model_disabled() {
            sclog!(host::ERROR, "{why}");
            *off_logged = true;
        }
    }
}

/// Writes the counters as JSON, replacing the file atomically, so a reader never sees
/// half a file.
pub fn write_stats_file(path: &Path, stats: &PluginStats) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(stats).map_err(std::io::Error::other)?;
    suriguard_durable::write_atomic(path, &json)
}
