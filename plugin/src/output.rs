//! One eve-log output of file type `suriguard`: the bounded queue, the counters of the
//! `Write` side, and the worker thread that drains the queue into `suriguard-core`.
//!
//! Threading rules (see docs/ARCHITECTURE.md): `write` runs on any Suricata thread, many
//! at once, and may only touch atomics and the channel's sender; it never blocks and never
//! allocates more than the one copy of an accepted record. Everything else happens on the
//! worker thread, which owns the pipeline outright.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use suriguard_decision::Decision;
use suriguard_detect::{Engine, EventCounts, IngestStats, Pipeline};
use suriguard_enforce::EnforceStats;
use suriguard_eve::EventType;
use suriguard_guard::evefile::Chunk;
use suriguard_guard::{
    AllowlistReloader, BaselineSaver, DecisionSink, EveFile, GuardConfig, Note, PluginSettings,
    PluginStats, SinkStats, WriteStats,
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

/// Records of known types detection does not read, counted by type and never queued.
/// Types the reader does not know are queued: the worker counts them by name.
struct Skipped([AtomicU64; EventType::COUNT]);

impl Default for Skipped {
    fn default() -> Self {
        Skipped(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl Skipped {
    /// True (and counted) if detection does not read this record's type; found by a
    /// look at the first bytes, not a parse.
    fn skip(&self, record: &[u8]) -> bool {
        let Some(name) = suriguard_eve::peek_event_type(record) else {
            return false;
        };
        let kind = EventType::from_name(name);
        if kind == EventType::Other || Engine::uses(kind) {
            return false;
        }
        self.0[kind.index()].fetch_add(1, Relaxed);
        true
    }

    fn counts(&self) -> EventCounts {
        let mut c = EventCounts::default();
        for &kind in EventType::ALL {
            c.add_n(kind, kind.name(), self.0[kind.index()].load(Relaxed));
        }
        c
    }
}

/// The queue between the `Write` side (or the eve.json writer) and the detection worker.
struct DetectionQueue {
    tx: Sender<Item>,
    /// Bytes of record data in the queue; the worker subtracts what it takes off.
    queued_bytes: Arc<AtomicUsize>,
    /// Records in queued chunks (single records are bounded by the channel itself).
    queued_records: Arc<AtomicUsize>,
    counters: Arc<WriteCounters>,
    max_record_size: usize,
    queue_bytes: usize,
    queue_size: usize,
}

impl DetectionQueue {
    /// Room for `len` more bytes, reserved; false (counted) if the queue is full.
    fn reserve(&self, len: usize) -> bool {
        let c = &self.counters;
        if len > self.max_record_size {
            c.rejected_oversized.fetch_add(1, Relaxed);
            return false;
        }
        // Checked first so that a sustained overload does not allocate and free a copy
        // of every record it drops.
        if self.tx.is_full() {
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return false;
        }
        if self.queued_bytes.fetch_add(len, Relaxed) + len > self.queue_bytes {
            self.queued_bytes.fetch_sub(len, Relaxed);
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return false;
        }
        true
    }

    /// Queues a record whose room was reserved.
    fn send(&self, record: Box<[u8]>) {
        let len = record.len();
        match self.tx.try_send(Item::One(record)) {
            Ok(()) => self.counters.queued.fetch_add(1, Relaxed),
            // Disconnected only happens if the worker died; the record is lost all the same.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued_bytes.fetch_sub(len, Relaxed);
                self.counters.dropped_queue_full.fetch_add(1, Relaxed)
            }
        };
    }

    /// Copies a record in (only if there is room).
    fn push_copy(&self, bytes: &[u8]) {
        if self.reserve(bytes.len()) {
            self.send(Box::from(bytes));
        }
    }

    /// Moves a chunk of the eve.json writer in, or drops and counts all its records.
    /// Oversized and passed-over records are counted by the worker.
    fn push_chunk(&self, chunk: Chunk) {
        let c = &self.counters;
        let (len, n) = (chunk.data.len(), chunk.records as usize);
        let dropped = || {
            c.dropped_queue_full.fetch_add(n as u64, Relaxed);
        };
        if self.tx.is_full() {
            return dropped();
        }
        if self.queued_records.fetch_add(n, Relaxed) + n > self.queue_size {
            self.queued_records.fetch_sub(n, Relaxed);
            return dropped();
        }
        if self.queued_bytes.fetch_add(len, Relaxed) + len > self.queue_bytes {
            self.queued_bytes.fetch_sub(len, Relaxed);
            self.queued_records.fetch_sub(n, Relaxed);
            return dropped();
        }
        match self.tx.try_send(Item::Chunk(chunk)) {
            Ok(()) => c.queued.fetch_add(n as u64, Relaxed),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued_bytes.fetch_sub(len, Relaxed);
                self.queued_records.fetch_sub(n, Relaxed);
                c.dropped_queue_full.fetch_add(n as u64, Relaxed)
            }
        };
    }
}

/// Where `Write` puts a record: straight into the detection queue, or into the eve.json
/// writer, which forwards it to the detection queue in file order.
enum Intake {
    Direct(DetectionQueue),
    EveFile {
        file: EveFile,
        /// The int Suricata raises on SIGHUP and `reopen-log-files`; registered with
        /// Suricata while the writer runs.
        rotation: Arc<AtomicI32>,
        registered: bool,
    },
}

/// The state behind Suricata's `init_data` pointer for one output.
pub struct Output {
    settings: PluginSettings,
    threaded: bool,
    failpoints: Failpoints,
    intake: Option<Intake>,
    /// Records passed over before the detection queue, by type.
    skipped: Arc<Skipped>,
    counters: Arc<WriteCounters>,
    eve_threads: Arc<AtomicU64>,
    gate: Arc<Gate>,
    worker: Option<JoinHandle<(IngestStats, SinkStats, Option<EnforceStats>)>>,
}

impl Output {
    /// Validates the configuration and starts the worker (and the eve.json writer).
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
        let (pipeline, sink, saver, allowlist) =
            (guard.pipeline, guard.sink, guard.baselines, guard.allowlist);
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

        // The channel's slots are allocated (and written) at start, 40 bytes each. Without
        // eve-file it carries single records, so it is the `queue-size` bound itself. With
        // eve-file it carries the writer's chunks (each at least one record, at most one
        // a tick of 10 ms when traffic trickles, 256 KiB when it does not), whose records
        // and bytes the counters bound: `EVE_FILE_CHUNK_SLOTS` hold 164 s of a trickle
        // while the worker is held; above about 100 kB/s of records the byte bound
        // (16 MiB) is reached first (2.0 MB fewer than 65,536 slots).
        let slots = match settings.eve_file {
            Some(_) => settings.queue_size.min(EVE_FILE_CHUNK_SLOTS),
            None => settings.queue_size,
        };
        let (tx, rx) = crossbeam_channel::bounded::<Item>(slots);
        let counters = Arc::new(WriteCounters::default());
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let queued_records = Arc::new(AtomicUsize::new(0));
        let queue = DetectionQueue {
            tx,
            queued_bytes: Arc::clone(&queued_bytes),
            queued_records: Arc::clone(&queued_records),
            queue_size: settings.queue_size,
            counters: Arc::clone(&counters),
            max_record_size: settings.max_record_size,
            queue_bytes: settings.queue_bytes,
        };
        // The writer starts before the worker: a file that cannot be opened stops the
        // start here, with its name, before anything runs.
        let skipped = Arc::new(Skipped::default());
        let intake = match &settings.eve_file {
            None => Intake::Direct(queue),
            Some(path) => {
                let rotation = Arc::new(AtomicI32::new(0));
                let file = EveFile::start(
                    path,
                    settings.eve_file_queue_size,
                    settings.eve_file_queue_bytes,
                    Arc::clone(&rotation),
                    move |chunk| queue.push_chunk(chunk),
                )
                .map_err(|e| e.to_string())?;
                Intake::EveFile {
                    file,
                    rotation,
                    registered: false,
                }
            }
        };

        let eve_threads = Arc::new(AtomicU64::new(0));
        let publisher = settings
            .stats_file
            .clone()
            .filter(|_| settings.stats_interval > 0)
            .map(|path| Publisher {
                path,
                every: Duration::from_secs(settings.stats_interval),
                next: Instant::now() + Duration::from_secs(settings.stats_interval),
                failed: false,
                shared: SharedStats {
                    threaded,
                    stats_interval: settings.stats_interval,
                    queue_size: settings.queue_size,
                    eve_threads: Arc::clone(&eve_threads),
                    counters: Arc::clone(&counters),
                    skipped: Arc::clone(&skipped),
                    eve_file: match &intake {
                        Intake::EveFile { file, .. } => Some(file.stats_reader()),
                        Intake::Direct(_) => None,
                    },
                },
            });
        let worker_ctx = WorkerCtx {
            failpoints,
            max_record_size: settings.max_record_size,
            skipped: Arc::clone(&skipped),
            counters: Arc::clone(&counters),
            model_off_logged: false,
            publisher,
            allowlist,
        };
        let gate = Arc::new(Gate::new(!failpoints.pause_worker));
        let worker_gate = Arc::clone(&gate);
        let worker = std::thread::Builder::new()
            .name("SG-worker".into())
            .spawn(move || {
                run_worker(
                    rx,
                    pipeline,
                    sink,
                    saver,
                    worker_gate,
                    Inflight {
                        bytes: queued_bytes,
                        records: queued_records,
                    },
                    worker_ctx,
                )
            })
            .map_err(|e| format!("cannot start the worker thread: {e}"))?;

        // Registered last, when nothing can fail any more: Suricata keeps the pointer
        // until `shutdown` unregisters it, and `rotation` lives as long as this Output.
        let mut intake = intake;
        if let Intake::EveFile {
            file,
            rotation,
            registered,
        } = &mut intake
        {
            // SAFETY: as above.
            *registered = unsafe { host::host().register_rotation(rotation.as_ptr()) };
            if !*registered {
                sclog!(
                    host::WARNING,
                    "this Suricata offers no log rotation flag: eve-file {} is reopened only when it is moved or deleted",
                    file.path().display()
                );
            }
        }

        Ok(Output {
            settings,
            threaded,
            failpoints,
            intake: Some(intake),
            skipped,
            counters,
            eve_threads,
            gate,
            worker: Some(worker),
        })
    }

    pub fn settings(&self) -> &PluginSettings {
        &self.settings
    }

    /// Copies one record into the queue (or the eve.json writer's). Never blocks: a full
    /// queue is a counted drop.
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
        if self.failpoints.panic_in_write && bytes.starts_with(WRITE_PANIC_MARKER) {
            panic!("failpoint panic-in-write");
        }
        match &self.intake {
            Some(Intake::Direct(queue)) => {
                if !self.skipped.skip(bytes) {
                    queue.push_copy(bytes)
                }
            }
            // Counted by the writer: `eve_file.dropped_queue_full`.
            Some(Intake::EveFile { file, .. }) => {
                file.write(bytes);
            }
            None => {
                c.dropped_queue_full.fetch_add(1, Relaxed);
            }
        }
    }

    /// Counts an eve thread joining (threaded eve).
    pub fn count_thread(&self) {
        self.eve_threads.fetch_add(1, Relaxed);
    }

    /// Counts a panic contained at the `Write` boundary.
    pub fn count_write_panic(&self) {
        self.counters.write_panics.fetch_add(1, Relaxed);
    }

    /// Drains the queues, joins the writer and the worker, and returns the run's counters.
    pub fn shutdown(mut self) -> PluginStats {
        // Closing the channel lets the worker finish what is queued and then return. The
        // eve.json writer holds the detection queue's sender: it finishes first.
        let eve_file = match self.intake.take() {
            Some(Intake::EveFile {
                file,
                rotation,
                registered,
            }) => {
                let stats = file.finish();
                if registered {
                    // SAFETY: the pointer registered in `start`; `rotation` is still alive.
                    unsafe { host::host().unregister_rotation(rotation.as_ptr()) };
                }
                Some(stats)
            }
            Some(Intake::Direct(queue)) => {
                drop(queue);
                None
            }
            None => None,
        };
        self.gate.open();
        let (ingest, decisions, enforcement) = match self.worker.take().map(JoinHandle::join) {
            Some(Ok((ingest, sink, enforcement))) => (ingest, Some(sink), enforcement),
            Some(Err(_)) | None => {
                sclog!(host::ERROR, "the worker thread died; its counters are lost");
                (IngestStats::default(), None, None)
            }
        };
        SharedStats {
            threaded: self.threaded,
            stats_interval: self.settings.stats_interval,
            queue_size: self.settings.queue_size,
            eve_threads: Arc::clone(&self.eve_threads),
            counters: Arc::clone(&self.counters),
            skipped: Arc::clone(&self.skipped),
            eve_file: None,
        }
        .stats(ingest, decisions, enforcement, eve_file, false)
    }
}

/// The counters kept outside the worker (atomics of `Write` and the eve.json writer),
/// shared so the worker can publish the whole picture while Suricata runs.
struct SharedStats {
    threaded: bool,
    stats_interval: u64,
    queue_size: usize,
    eve_threads: Arc<AtomicU64>,
    counters: Arc<WriteCounters>,
    skipped: Arc<Skipped>,
    eve_file: Option<suriguard_guard::evefile::EveFileStatsReader>,
}

impl SharedStats {
    /// The run's counters with the worker's; `eve_file` overrides the reader's (the
    /// writer's final counters at shutdown).
    fn stats(
        &self,
        ingest: IngestStats,
        decisions: Option<SinkStats>,
        enforcement: Option<EnforceStats>,
        eve_file: Option<suriguard_guard::EveFileStats>,
        running: bool,
    ) -> PluginStats {
        PluginStats {
            running,
            updated_unix: suriguard_enforce::now_secs(),
            stats_interval: self.stats_interval,
            threaded: self.threaded,
            eve_threads: self.eve_threads.load(Relaxed),
            queue_size: self.queue_size,
            heap: crate::heap::stats(),
            write: self.counters.snapshot(),
            ingest,
            decisions,
            enforcement,
            eve_file: eve_file.or_else(|| self.eve_file.as_ref().map(|r| r.stats())),
            skipped: self.skipped.counts(),
        }
    }
}

/// Writes the stats file every `every` while the worker runs (`stats-interval`), so
/// `suriguardctl stats` and `/metrics` see a running plugin.
struct Publisher {
    path: std::path::PathBuf,
    every: Duration,
    next: Instant,
    /// A write failed (logged once until one succeeds again).
    failed: bool,
    shared: SharedStats,
}

impl Publisher {
    /// Writes the file if it is due.
    fn tick(&mut self, now: Instant, pipeline: &Pipeline, sink: &DecisionSink) {
        if now < self.next {
            return;
        }
        self.next = now + self.every;
        let (decisions, enforcement) = sink.snapshot();
        let stats = self.shared.stats(
            pipeline.stats_now(),
            Some(decisions),
            enforcement,
            None,
            true,
        );
        match write_stats_file_quick(&self.path, &stats) {
            Ok(()) => self.failed = false,
            Err(e) if !self.failed => {
                self.failed = true;
                sclog!(
                    host::WARNING,
                    "cannot write stats-file {}: {e}; retrying every {} s",
                    self.path.display(),
                    self.every.as_secs()
                );
            }
            Err(_) => {}
        }
    }
}

/// Slots of the detection channel when it carries the eve.json writer's chunks.
const EVE_FILE_CHUNK_SLOTS: usize = 16_384;

/// What the detection queue carries: one record copied by `Write`, or a chunk of
/// records the eve.json writer wrote (one per line).
enum Item {
    One(Box<[u8]>),
    Chunk(Chunk),
}

/// The worker's side of the queue's bounds.
struct Inflight {
    bytes: Arc<AtomicUsize>,
    records: Arc<AtomicUsize>,
}

/// What the worker needs besides the pipeline to handle one record.
struct WorkerCtx {
    failpoints: Failpoints,
    max_record_size: usize,
    skipped: Arc<Skipped>,
    counters: Arc<WriteCounters>,
    model_off_logged: bool,
    publisher: Option<Publisher>,
    allowlist: AllowlistReloader,
}

fn run_worker(
    rx: Receiver<Item>,
    mut pipeline: Pipeline,
    mut sink: DecisionSink,
    mut saver: Option<BaselineSaver>,
    gate: Arc<Gate>,
    inflight: Inflight,
    mut ctx: WorkerCtx,
) -> (IngestStats, SinkStats, Option<EnforceStats>) {
    gate.wait();
    loop {
        let now = Instant::now();
        if let Some(p) = ctx.publisher.as_mut() {
            p.tick(now, &pipeline, &sink);
        }
        // A look at the allowlist file costs a clock compare; a stat every 2 s.
        if let Some(notes) = ctx.allowlist.poll(now, &mut pipeline) {
            for note in notes {
                match note {
                    Note::Info(line) => sclog!(host::NOTICE, "{line}"),
                    Note::Problem(line) => sclog!(host::WARNING, "{line}"),
                }
            }
        }
        // With model samples pending, wait no longer than their deadline; with a stats
        // file to publish, no longer than its next write.
        let model_due = pipeline.due_in(now);
        let publish_due = ctx
            .publisher
            .as_ref()
            .map(|p| p.next.saturating_duration_since(now));
        let item = match model_due.into_iter().chain(publish_due).min() {
            None => match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            },
            Some(wait) => match rx.recv_timeout(wait) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => {
                    if model_due.is_some() {
                        poll_model(&mut pipeline, &mut ctx.model_off_logged);
                        take_decisions(&mut pipeline, &mut sink);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        match item {
            Item::One(record) => {
                inflight.bytes.fetch_sub(record.len(), Relaxed);
                handle(&record, &mut pipeline, &mut sink, &mut saver, &mut ctx);
            }
            Item::Chunk(chunk) => {
                inflight.bytes.fetch_sub(chunk.data.len(), Relaxed);
                inflight.records.fetch_sub(chunk.records as usize, Relaxed);
                for record in chunk.records() {
                    // What `Write` checks before its copy when there is no eve.json.
                    if record.len() > ctx.max_record_size {
                        ctx.counters.rejected_oversized.fetch_add(1, Relaxed);
                        continue;
                    }
                    if ctx.skipped.skip(record) {
                        continue;
                    }
                    handle(record, &mut pipeline, &mut sink, &mut saver, &mut ctx);
                }
            }
        }
    }
    // The held shutdown flow records are handled here. A panic is contained and said;
    // the records it stopped were counted when they were taken off the queue.
    if catch_unwind(AssertUnwindSafe(|| pipeline.finish())).is_err() {
        sclog!(
            host::ERROR,
            "handling the flows held until the end of input panicked; those left were not handled"
        );
    }
    take_decisions(&mut pipeline, &mut sink);
    save_baselines(&mut saver, &pipeline, true);
    let (sink_stats, enforcement) = sink.finish();
    (pipeline.into_stats(), sink_stats, enforcement)
}

/// One record through the pipeline, its decisions to the sink.
fn handle(
    record: &[u8],
    pipeline: &mut Pipeline,
    sink: &mut DecisionSink,
    saver: &mut Option<BaselineSaver>,
    ctx: &mut WorkerCtx,
) {
    let before = pipeline.stats().records;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if ctx.failpoints.panic_in_worker && record.starts_with(WORKER_PANIC_MARKER) {
            panic!("failpoint panic-in-worker");
        }
        pipeline.handle(record)
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
    poll_model(pipeline, &mut ctx.model_off_logged);
    take_decisions(pipeline, sink);
    // The clock is read once per 1,024 records, not per record.
    if pipeline.stats().records.is_multiple_of(1024) {
        save_baselines(saver, pipeline, false);
    }
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

/// The running copy: replaced atomically (a reader never sees half a file) but without
/// fsync, so a slow disk never holds the worker up; a copy lost to a crash is rewritten
/// at the next interval.
fn write_stats_file_quick(path: &Path, stats: &PluginStats) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(stats).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".running");
    let tmp = std::path::PathBuf::from(tmp);
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        std::io::Write::write_all(&mut f, &json)?;
    }
    std::fs::rename(&tmp, path)
}

/// Writes the counters as JSON, replacing the file atomically, so a reader never sees
/// half a file.
pub fn write_stats_file(path: &Path, stats: &PluginStats) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(stats).map_err(std::io::Error::other)?;
    suriguard_durable::write_atomic(path, &json)
}
