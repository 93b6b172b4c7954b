//! What the plugin's worker does with each record it takes off the queue: parse into the
//! typed view, count, let the engine's heuristics and the model stage propose, and pass
//! every proposal through one gate. Decisions leave through one door:
//! [`Pipeline::drain_decisions`].
//!
//! The plugin, offline analysis (`suriguardctl analyze`), `suriguardctl model export` and
//! the benchmarks all build it with [`Pipeline::build`] and run this very code, so a
//! capture analysed offline gives the verdicts the plugin gives live.
//!
//! Proposals reach the gate in record order, whenever the model's batches run: while
//! model samples wait for their batch, the heuristics' proposals of later records wait
//! too, and when the batch has run its verdicts and the waiting proposals are applied
//! interleaved by record number (a record's heuristic proposal before its model
//! verdict). A batch run early (on its deadline, live) or late (when full, offline)
//! therefore decides the same: which source is decided first, for what, and whether a
//! verdict finds its source already decided never depend on the clock.
//!
//! Flow records Suricata writes as it stops (`flow.reason` "shutdown": every flow still
//! open, at the end of a capture read with `-r` too) come out in its flow table's hash
//! order, which is seeded afresh each run. Those of home devices are held (up to
//! [`HOLD_BYTES`]) and handled in event-time order at the end of input, in the plugin and
//! in a replay in the file's order alike (the canonical replay sorts everything itself:
//! [`Pipeline::input_is_sorted`]; nor with a model stage loaded, whose features are the
//! engine's windows as flows arrive), so that their hash order does not reach the detectors (beyond
//! that bound it does, one run of the bound at a time): a beacon's contacts taken in a
//! random order can look regular when taken in time they do not (seen on a home
//! resolver). The flow manager's timeouts are not held (docs/DETECTION.md, "Live and
//! replay").

use std::time::{Duration, Instant};

use suriguard_config::{ConfigError, ConfigFile};
use suriguard_decision::{Decision, DecisionConfig, Gate, Proposal};
use suriguard_eve::{self as eve, EveRecord, ReplayKey};
use suriguard_net::{NetworkConfig, NetworkModel};

use crate::engine::{DetectConfig, Engine, EngineStats};
use crate::model::ModelConfig;
use crate::stats::IngestStats;

/// The sections of the configuration file a pipeline is built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineConfig {
    pub network: NetworkConfig,
    pub detect: DetectConfig,
    pub model: ModelConfig,
    pub decisions: DecisionConfig,
}

impl PipelineConfig {
    /// Reads and validates `[network]`, `[detect]`, `[model]` and `[decisions]`, and
    /// nothing else.
    pub fn from_file(file: &ConfigFile) -> Result<PipelineConfig, ConfigError> {
        Ok(PipelineConfig {
            network: file.section()?,
            detect: file.section()?,
            model: file.section()?,
            decisions: file.section()?,
        })
    }
}

/// The worker's state. One per worker thread; never shared.
pub struct Pipeline {
    stats: IngestStats,
    gate: Gate,
    engine: Option<Engine>,
    #[cfg(feature = "ml")]
    model: Option<crate::model::stage::MlStage>,
    /// Records handled so far (numbers the model's verdicts).
    #[cfg(feature = "ml")]
    seq: u64,
    /// Heuristic proposals (with their record's number) waiting for the model's pending
    /// batch, which holds samples of earlier records.
    #[cfg(feature = "ml")]
    held: Vec<(u64, Proposal)>,
    decided: Vec<Decision>,
    /// Flow records logged at Suricata's shutdown, waiting for the end of input.
    flush: ShutdownFlush,
    /// Whether such records are held: not when the input comes sorted already.
    hold: bool,
}

/// Bytes of home devices' shutdown flow records held before they are handled (sorted)
/// early: about 4,500 flow records (the real-tool lab's are 1,670, 0.8 MB), plus an
/// index of 64 bytes a record. A larger flush is sorted in runs of this size.
pub const HOLD_BYTES: usize = 2 << 20;

/// Held shutdown flow records: their bytes one after another, and per record its replay
/// key and where its bytes are.
#[derive(Default)]
struct ShutdownFlush {
    bytes: Vec<u8>,
    index: Vec<(ReplayKey, u32, u32)>,
}

impl ShutdownFlush {
    fn record(&self, at: u32, len: u32) -> &[u8] {
        &self.bytes[at as usize..at as usize + len as usize]
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline::new()
    }
}

impl Pipeline {
    /// Parses and counts only (benchmarks of the reader).
    pub fn new() -> Self {
        Pipeline {
            stats: IngestStats::default(),
            gate: Gate::new(DecisionConfig::default()),
            engine: None,
            #[cfg(feature = "ml")]
            model: None,
            #[cfg(feature = "ml")]
            seq: 0,
            #[cfg(feature = "ml")]
            held: Vec::new(),
            decided: Vec::new(),
            flush: ShutdownFlush::default(),
            hold: true,
        }
    }

    /// The pipeline every driver runs: the engine with its heuristics and, with the `ml`
    /// feature and a `[model] path`, the model stage. A model that cannot be loaded
    /// switches the model stage off, never the pipeline: the second value says why.
    pub fn build(cfg: &PipelineConfig) -> (Pipeline, Option<String>) {
        #[allow(unused_mut)]
        let mut p = Pipeline::with_parts(
            cfg.detect.clone(),
            cfg.network.model(),
            cfg.decisions.clone(),
        );
        #[cfg(feature = "ml")]
        match crate::model::stage::MlStage::load(&cfg.model) {
            Ok(stage) => p.model = stage,
            Err(e) => {
                return (
                    p,
                    Some(format!(
                        "{e}; the model stage is off, the heuristics keep running"
                    )),
                )
            }
        }
        #[cfg(not(feature = "ml"))]
        if cfg.model.path.is_some() {
            return (
                p,
                Some("this build has no model runtime; the model stage is off".into()),
            );
        }
        (p, None)
    }

    /// The engine and gate from their settings, without a model.
    pub fn with_parts(detect: DetectConfig, net: NetworkModel, decisions: DecisionConfig) -> Self {
        Pipeline {
            engine: Some(Engine::new(detect, net)),
            gate: Gate::new(decisions),
            ..Pipeline::new()
        }
    }

    /// Replaces the network model (the plugin re-reads the allowlist file while it
    /// runs). A pipeline without an engine has none to replace.
    pub fn set_network(&mut self, net: NetworkModel) {
        if let Some(e) = self.engine.as_mut() {
            e.set_network(net);
        }
    }

    /// Adds a model stage (tests and benchmarks that hold a model already).
    #[cfg(feature = "ml")]
    pub fn with_model(mut self, stage: crate::model::stage::MlStage) -> Self {
        self.model = Some(stage);
        self
    }

    /// The model stage, when one is loaded.
    #[cfg(feature = "ml")]
    pub fn model(&self) -> Option<&crate::model::stage::MlStage> {
        self.model.as_ref()
    }

    /// Whether a model stage is loaded (and has not switched itself off).
    pub fn has_model(&self) -> bool {
        #[cfg(feature = "ml")]
        return self.model.is_some();
        #[cfg(not(feature = "ml"))]
        false
    }

    /// A line saying what model was loaded, if one was.
    pub fn model_description(&self) -> Option<String> {
        #[cfg(feature = "ml")]
        return self.model.as_ref().map(|m| m.describe());
        #[cfg(not(feature = "ml"))]
        None
    }

    /// Why the model stage switched itself off, if it did.
    pub fn model_disabled(&self) -> Option<&str> {
        #[cfg(feature = "ml")]
        return self.model.as_ref().and_then(|m| m.disabled());
        #[cfg(not(feature = "ml"))]
        None
    }

    /// Handles one record as Suricata produced it (one JSON object, no newline). Any
    /// decision it tips waits in [`Pipeline::drain_decisions`].
    #[inline]
    pub fn handle(&mut self, bytes: &[u8]) -> Result<(), eve::ParseError> {
        self.stats.records += 1;
        match eve::parse(bytes) {
            Ok(rec) if self.holds_until_the_end(&rec) => {
                self.stats.parsed.add(rec.kind(), &rec.event_type);
                self.hold(rec.replay_key(), bytes);
                Ok(())
            }
            Ok(rec) => {
                self.handle_parsed(&rec);
                Ok(())
            }
            Err(e) => {
                self.stats.parse_errors += 1;
                Err(e)
            }
        }
    }

    /// The records will come sorted by their replay key (the canonical replay): nothing
    /// is held. Which flows Suricata marks "shutdown" rather than "timeout" at a
    /// capture's end depends on its threads' timing, so holding them would make two
    /// runs' canonical replays differ; sorted input has no hash order to undo.
    pub fn input_is_sorted(&mut self) {
        self.hold = false;
    }

    /// Handles a record the caller has parsed already (counted like [`Pipeline::handle`]
    /// minus the parse), at once: `model export` reads the engine right after each
    /// record, as the model stage does (which holds nothing).
    pub fn handle_record(&mut self, rec: &EveRecord<'_>) {
        self.stats.records += 1;
        self.handle_parsed(rec);
    }

    /// Whether a shutdown flow record waits for the end of input: one a home device
    /// started. The detectors that judge a device's sequence of contacts (beaconing,
    /// volume, slow scans, login sessions) decide on what has arrived so far, so the
    /// order its flows arrive in is what must not vary; an outside source's flows go to
    /// window counts.
    /// The flows a home network's devices have open are few (a benchmark's 100,000
    /// outside sources are none of them), so the hold rarely reaches its bound.
    ///
    /// Not with a model stage loaded: a sample's features are the engine's windows when
    /// its flow arrives, and a held flow would be scored against windows that later
    /// records had already moved (a clean-clone run saw the model quarantine a benign
    /// lab device on such verdicts); the model was trained on flows taken as they came.
    pub fn holds_until_the_end(&self, rec: &EveRecord<'_>) -> bool {
        self.hold
            && !self.has_model()
            && rec.logged_at_shutdown()
            && self
                .engine
                .as_ref()
                .zip(rec.src_ip)
                .is_some_and(|(e, src)| e.network().is_home(src))
    }

    /// Holds a shutdown flow record; handles the held ones first if it would not fit. A
    /// record larger than the whole hold is handled at once, so the buffer never grows
    /// past [`HOLD_BYTES`] and offsets fit in u32.
    fn hold(&mut self, key: ReplayKey, bytes: &[u8]) {
        if bytes.len() > HOLD_BYTES {
            if let Ok(rec) = eve::parse(bytes) {
                self.detect(&rec);
            }
            return;
        }
        let f = &self.flush;
        if f.bytes.len() + bytes.len() > HOLD_BYTES {
            self.release(true);
        }
        let (at, len) = (self.flush.bytes.len() as u32, bytes.len() as u32);
        if self.flush.bytes.capacity() == 0 {
            // Its bound at once: growing by doubling would pass it.
            self.flush.bytes.reserve_exact(HOLD_BYTES);
        }
        self.flush.bytes.extend_from_slice(bytes);
        self.flush.index.push((key, at, len));
        self.stats.shutdown_flows_sorted += 1;
    }

    /// Handles the held shutdown flow records in event-time order (ties by their bytes,
    /// so the order is total); keeps the emptied buffers for more (`reuse`, when the
    /// bound was reached) or frees them (at the end of input).
    fn release(&mut self, reuse: bool) {
        if self.flush.index.is_empty() {
            return;
        }
        let mut f = std::mem::take(&mut self.flush);
        let mut index = std::mem::take(&mut f.index);
        index.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| f.record(a.1, a.2).cmp(f.record(b.1, b.2)))
        });
        for &(_, at, len) in &index {
            // Parsed once already; a record cannot fail the second time.
            if let Ok(rec) = eve::parse(f.record(at, len)) {
                self.detect(&rec);
            }
        }
        if reuse {
            index.clear();
            f.bytes.clear();
            f.index = index;
            self.flush = f;
        }
    }

    #[inline]
    fn handle_parsed(&mut self, rec: &EveRecord<'_>) {
        self.stats.parsed.add(rec.kind(), &rec.event_type);
        self.detect(rec);
    }

    #[inline]
    fn detect(&mut self, rec: &EveRecord<'_>) {
        // Types detection does not read are passed over here exactly as the plugin
        // passes over them before its queue, so a replay decides as the plugin did.
        if !Engine::uses(rec.kind()) {
            return;
        }
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        let proposal = engine.handle(rec);
        #[cfg(feature = "ml")]
        {
            self.seq += 1;
            let n = self.seq;
            let waiting = self.model.as_ref().is_some_and(|m| m.has_pending());
            match proposal {
                Some(p) if waiting => self.held.push((n, p)),
                Some(p) => self.admit(p),
                None => {}
            }
            if let (Some(m), Some(e)) = (self.model.as_mut(), self.engine.as_ref()) {
                let gate = &self.gate;
                // With nothing waiting, the gate has seen every earlier record's
                // proposal, so a decided source can be skipped now; otherwise that is
                // known only when the batch has run (see `settle`).
                m.observe(rec, e, n, |ip, t, action| {
                    e.network().protected(ip).is_none()
                        && (waiting || !gate.holds_back(ip, t, action))
                });
            }
            self.settle();
        }
        #[cfg(not(feature = "ml"))]
        if let Some(p) = proposal {
            self.admit(p);
        }
    }

    /// Runs the model's pending batch if its deadline has passed (the live worker calls
    /// this between records and when the queue has been idle for [`Pipeline::due_in`];
    /// offline analysis never does, so its batches depend on the records alone).
    pub fn poll(&mut self, now: Instant) {
        #[cfg(feature = "ml")]
        if let Some(m) = self.model.as_mut() {
            m.poll(now);
            self.settle();
        }
        #[cfg(not(feature = "ml"))]
        let _ = now;
    }

    /// How long until the model's pending batch is due (`None`: nothing pending).
    pub fn due_in(&self, now: Instant) -> Option<Duration> {
        #[cfg(feature = "ml")]
        return self.model.as_ref().and_then(|m| m.due_in(now));
        #[cfg(not(feature = "ml"))]
        {
            let _ = now;
            None
        }
    }

    /// End of input: handles the held shutdown flow records, then runs whatever the
    /// model stage has pending.
    pub fn finish(&mut self) {
        self.release(false);
        #[cfg(feature = "ml")]
        if let Some(m) = self.model.as_mut() {
            m.finish();
            self.settle();
        }
    }

    /// Every decision made since the last call, in the order made.
    pub fn drain_decisions(&mut self) -> std::vec::Drain<'_, Decision> {
        self.decided.drain(..)
    }

    /// Once no model sample waits: the verdicts of the batches that ran and the held
    /// heuristic proposals go to the gate in record order. A verdict on a source that is
    /// decided (or protected) by then is left unused, as if it had been skipped; a tip
    /// is spelled out only when the gate admits it.
    #[cfg(feature = "ml")]
    fn settle(&mut self) {
        let Some(m) = self.model.as_mut() else {
            return;
        };
        if m.has_pending() {
            return;
        }
        let scored = m.take_scored();
        let mut held = std::mem::take(&mut self.held).into_iter().peekable();
        for c in scored {
            let step = &c.step;
            while let Some((_, p)) = held.next_if(|(n, _)| *n <= step.seq) {
                self.admit(p);
            }
            let (Some(m), Some(e)) = (self.model.as_mut(), self.engine.as_ref()) else {
                return;
            };
            let protected = e.network().protected(step.src);
            let held_back =
                self.gate
                    .holds_back(step.src, step.time_us, m.action_for(step.direction));
            if protected.is_some() || held_back {
                m.count_gated();
                continue;
            }
            let Some(tip) = m.record(&c) else {
                continue;
            };
            let action = m.action(&tip);
            if self
                .gate
                .admit_action(tip.src, tip.time_us(), protected, action)
                .is_ok()
            {
                self.decided.push(self.gate.decision(m.proposal(&tip)));
                m.count_decision();
            }
        }
        for (_, p) in held {
            self.admit(p);
        }
    }

    /// The one gate every heuristic proposal passes.
    fn admit(&mut self, p: Proposal) {
        let protected = self
            .engine
            .as_ref()
            .and_then(|e| e.network().protected(p.target));
        if let Some(d) = self.gate.decide(p, protected) {
            self.decided.push(d);
        }
    }

    /// The home devices' baselines, to save (`None` without an engine).
    pub fn baselines(&self) -> Option<crate::baseline::BaselineFile> {
        self.engine.as_ref().map(Engine::baselines)
    }

    /// Takes saved baselines back; returns how many devices.
    pub fn restore_baselines(&mut self, file: crate::baseline::BaselineFile) -> usize {
        self.engine
            .as_mut()
            .map_or(0, |e| e.restore_baselines(file))
    }

    /// Counts a record whose handling panicked (the caller contained the panic).
    /// `handled` says whether the panic came from inside [`Pipeline::handle`] (which has
    /// already counted the record as taken off the queue) or before it was called.
    pub fn count_panic(&mut self, handled: bool) {
        if !handled {
            self.stats.records += 1;
        }
        self.stats.worker_panics += 1;
    }

    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// The engine's counters with the gate's folded in.
    pub fn engine_stats(&self) -> Option<EngineStats> {
        self.engine.as_ref().map(|e| EngineStats {
            decisions: self.gate.stats.admitted,
            gate: self.gate.stats.clone(),
            ..e.stats()
        })
    }

    /// The counters, with the engine's and the model stage's folded in.
    pub fn into_stats(self) -> IngestStats {
        self.stats_now()
    }

    /// [`Pipeline::into_stats`] while the pipeline goes on (published while running).
    pub fn stats_now(&self) -> IngestStats {
        #[cfg(feature = "ml")]
        let model = self.model.as_ref().map(|m| m.stats());
        #[cfg(not(feature = "ml"))]
        let model = None;
        IngestStats {
            detect: self.engine_stats(),
            model,
            ..self.stats.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_type_and_errors() {
        let mut p = Pipeline::new();
        assert!(p
            .handle(br#"{"event_type":"dns","dns":{"type":"query","rrname":"a.example"}}"#)
            .is_ok());
        assert!(p.handle(br#"{"event_type":"flow"}"#).is_ok());
        assert!(p.handle(br#"{"event_type":"flow""#).is_err());
        assert!(p.handle(b"\xff\xfe").is_err());
        let st = p.into_stats();
        assert_eq!(st.records, 4);
        assert_eq!(st.parsed.get("dns"), 1);
        assert_eq!(st.parsed.get("flow"), 1);
        assert_eq!(st.parse_errors, 2);
        assert!(st.detect.is_none());
    }

    #[test]
    fn panics_keep_the_books_balanced() {
        let mut p = Pipeline::new();
        p.handle(br#"{"event_type":"flow"}"#).unwrap();
        p.count_panic(false);
        p.stats.records += 1; // as if handle() had started, then panicked
        p.count_panic(true);
        let st = p.into_stats();
        assert_eq!(st.records, 3);
        assert_eq!(st.worker_panics, 2);
        assert_eq!(
            st.records,
            st.parsed.total() + st.parse_errors + st.worker_panics
        );
    }

    #[test]
    fn decisions_leave_through_one_door() {
        let (mut p, problem) = Pipeline::build(&PipelineConfig::default());
        assert!(problem.is_none());
        let alert = br#"{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.1","dest_ip":"192.168.1.2","alert":{"signature_id":7,"severity":1,"signature":"x"}}"#;
        p.handle(alert).unwrap();
        let ds: Vec<Decision> = p.drain_decisions().collect();
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].target.to_string(), "203.0.113.1");
        assert_eq!(p.drain_decisions().count(), 0, "drained once");
        p.handle(alert).unwrap(); // cooldown: the gate refuses
        assert_eq!(p.drain_decisions().count(), 0);
        let st = p.into_stats();
        let d = st.detect.unwrap();
        assert_eq!((d.decisions, d.gate.suppressed_cooldown), (1, 1));
    }

    #[test]
    fn shutdown_flows_wait_for_the_end_within_their_bound() {
        let (mut p, _) = Pipeline::build(&PipelineConfig::default());
        let flow = |i: u64, reason: &str| {
            format!(
                r#"{{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"flow","src_ip":"192.168.1.2","src_port":{},"dest_ip":"203.0.113.1","dest_port":80,"proto":"TCP","flow":{{"pkts_toserver":3,"pkts_toclient":3,"start":"2024-01-01T00:00:{:02}.000000+0000","end":"2024-01-01T00:00:59.000000+0000","state":"established","reason":"{reason}"}}}}"#,
                1024 + i,
                59 - i % 60
            )
        };
        let flows = |p: &Pipeline| p.engine_stats().unwrap().flows;
        // What HOLD_BYTES's documentation says an index entry costs.
        assert_eq!(std::mem::size_of::<(ReplayKey, u32, u32)>(), 64);
        p.handle(flow(0, "timeout").as_bytes()).unwrap();
        assert_eq!(flows(&p), 1, "a timed-out flow is handled at once");
        let one = flow(1, "shutdown").len();
        let fit = (HOLD_BYTES / one) as u64;
        for i in 1..=fit {
            p.handle(flow(i, "shutdown").as_bytes()).unwrap();
        }
        assert_eq!(flows(&p), 1, "held until the end of input");
        assert_eq!(p.stats().parsed.get("flow"), 1 + fit, "counted when taken");
        // One more does not fit: the held ones are handled (in time order) first.
        p.handle(flow(fit + 1, "shutdown").as_bytes()).unwrap();
        assert_eq!(flows(&p), 1 + fit);
        assert!(p.flush.bytes.len() <= HOLD_BYTES && p.flush.index.len() == 1);
        assert_eq!(
            p.flush.bytes.capacity(),
            HOLD_BYTES,
            "kept, never grown past"
        );
        p.finish();
        assert_eq!(flows(&p), 2 + fit);
        assert_eq!(p.stats().shutdown_flows_sorted, 1 + fit);
        assert!(p.flush.index.is_empty());
        // One record larger than the whole hold is handled at once.
        let big = flow(2, "shutdown").replace(
            r#""reason":"shutdown""#,
            &format!(r#""reason":"shutdown","pad":"{}""#, "x".repeat(HOLD_BYTES)),
        );
        p.handle(big.as_bytes()).unwrap();
        assert_eq!(
            (flows(&p), p.stats().shutdown_flows_sorted),
            (3 + fit, 1 + fit)
        );
        assert!(p.flush.index.is_empty());
        // An outside source's flows are not held (they go to window counts).
        let outside = flow(1, "shutdown").replace("192.168.1.2", "198.51.100.9");
        p.handle(outside.as_bytes()).unwrap();
        assert_eq!(flows(&p), 4 + fit);
        assert_eq!(p.stats().shutdown_flows_sorted, 1 + fit);
        // Without an engine (the reader's benchmarks) nothing is held.
        let mut q = Pipeline::new();
        q.handle(flow(1, "shutdown").as_bytes()).unwrap();
        assert_eq!(q.stats().shutdown_flows_sorted, 0);
        // Nor in the canonical replay, whose input is sorted already.
        let (mut r, _) = Pipeline::build(&PipelineConfig::default());
        r.input_is_sorted();
        r.handle(flow(1, "shutdown").as_bytes()).unwrap();
        assert_eq!((flows(&r), r.stats().shutdown_flows_sorted), (1, 0));
    }

    #[test]
    fn protected_targets_are_refused_by_the_gate() {
        let cfg = PipelineConfig {
            network: NetworkConfig {
                allowlist: vec!["203.0.113.0/24".parse().unwrap()],
                ..Default::default()
            },
            ..Default::default()
        };
        let (mut p, _) = Pipeline::build(&cfg);
        let alert = br#"{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.1","dest_ip":"192.168.1.2","alert":{"signature_id":7,"severity":1,"signature":"x"}}"#;
        p.handle(alert).unwrap();
        assert_eq!(p.drain_decisions().count(), 0);
        assert_eq!(p.engine_stats().unwrap().gate.refused_protected, 1);
    }

    #[test]
    fn built_from_a_file_reading_only_its_sections() {
        // A broken [notify] is not the pipeline's business.
        let file = ConfigFile::parse(
            "[detect]\nport-scan = { window = 5, threshold = 8 }\n[notify.email]\nto = []\n",
        )
        .unwrap();
        let cfg = PipelineConfig::from_file(&file).unwrap();
        assert_eq!(cfg.detect.port_scan.threshold, 8);
        let bad =
            ConfigFile::parse("[detect]\nport-scan = { window = 0, threshold = 8 }\n").unwrap();
        let e = PipelineConfig::from_file(&bad).unwrap_err();
        assert_eq!(e.key(), Some("detect"));
        assert!(e.to_string().contains("port-scan.window"), "{e}");
    }
}
