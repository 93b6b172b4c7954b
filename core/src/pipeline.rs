//! What the plugin's worker thread does with each record it takes off the queue: parse
//! into the typed view, count, and run the detection engine.
//!
//! The plugin, offline analysis (`suriguardctl analyze`) and the benchmarks all run this
//! very code, so a capture analysed offline gives the verdicts the plugin gives live.

use crate::decision::Decision;
use crate::detect::Engine;
use crate::eve;
use crate::stats::IngestStats;

/// The result of handling one record.
#[derive(Debug)]
pub enum Outcome {
    /// Parsed and processed; nothing decided.
    Parsed,
    /// Parsed, and the record tipped a decision.
    Decided(Box<Decision>),
    /// Not a valid EVE record; counted in `parse_errors`.
    ParseError(eve::ParseError),
}

/// The worker's state. One per worker thread; never shared.
#[derive(Default)]
pub struct Pipeline {
    stats: IngestStats,
    engine: Option<Engine>,
    #[cfg(feature = "ml")]
    model: Option<crate::model::stage::MlStage>,
}

impl Pipeline {
    /// Parses and counts only.
    pub fn new() -> Self {
        Pipeline::default()
    }

    /// Parses, counts and detects.
    pub fn with_engine(engine: Engine) -> Self {
        Pipeline {
            stats: IngestStats::default(),
            engine: Some(engine),
            #[cfg(feature = "ml")]
            model: None,
        }
    }

    /// Adds the model stage (it reads the engine's windows, so it needs an engine).
    #[cfg(feature = "ml")]
    pub fn with_model(mut self, stage: crate::model::stage::MlStage) -> Self {
        self.model = Some(stage);
        self
    }

    #[cfg(feature = "ml")]
    pub fn model(&self) -> Option<&crate::model::stage::MlStage> {
        self.model.as_ref()
    }

    /// Runs the model's pending batch if its deadline has passed, and returns the model
    /// stage's decisions since the last call. The worker calls this after every record
    /// and whenever the queue has been idle for [`Pipeline::due_in`].
    #[cfg(feature = "ml")]
    pub fn poll_model(&mut self, now: std::time::Instant) -> Vec<Decision> {
        match (self.model.as_mut(), self.engine.as_mut()) {
            (Some(m), Some(e)) => {
                m.poll(now, e);
                m.take_decisions()
            }
            _ => Vec::new(),
        }
    }

    /// The model stage's decisions since the last call, without running a pending batch
    /// early (offline analysis: batches run when full and at the end, so a replay gives
    /// the same counters every time).
    #[cfg(feature = "ml")]
    pub fn take_model_decisions(&mut self) -> Vec<Decision> {
        self.model
            .as_mut()
            .map(|m| m.take_decisions())
            .unwrap_or_default()
    }

    /// How long until the model's pending batch is due.
    #[cfg(feature = "ml")]
    pub fn due_in(&self, now: std::time::Instant) -> Option<std::time::Duration> {
        self.model.as_ref().and_then(|m| m.due_in(now))
    }

    /// Runs whatever the model stage has pending (end of input) and returns its
    /// decisions.
    #[cfg(feature = "ml")]
    pub fn finish_model(&mut self) -> Vec<Decision> {
        match (self.model.as_mut(), self.engine.as_mut()) {
            (Some(m), Some(e)) => {
                m.finish(e);
                m.take_decisions()
            }
            _ => Vec::new(),
        }
    }

    /// Handles one record as Suricata produced it (one JSON object, no newline).
    #[inline]
    pub fn handle(&mut self, bytes: &[u8]) -> Outcome {
        self.stats.records += 1;
        match eve::parse(bytes) {
            Ok(rec) => {
                self.stats.parsed.add(rec.kind(), &rec.event_type);
                let decided = self.engine.as_mut().and_then(|e| e.handle(&rec));
                #[cfg(feature = "ml")]
                if let (Some(m), Some(e)) = (self.model.as_mut(), self.engine.as_mut()) {
                    m.observe(&rec, e);
                }
                match decided {
                    Some(d) => Outcome::Decided(Box::new(d)),
                    None => Outcome::Parsed,
                }
            }
            Err(e) => {
                self.stats.parse_errors += 1;
                Outcome::ParseError(e)
            }
        }
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

    /// The counters, with the engine's folded in.
    pub fn into_stats(self) -> IngestStats {
        #[cfg(feature = "ml")]
        let model = self.model.as_ref().map(|m| m.stats());
        #[cfg(not(feature = "ml"))]
        let model = None;
        IngestStats {
            detect: self.engine.map(|e| e.stats()),
            model,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_type_and_errors() {
        let mut p = Pipeline::new();
        assert!(matches!(
            p.handle(br#"{"event_type":"dns","dns":{"type":"query","rrname":"a.example"}}"#),
            Outcome::Parsed
        ));
        assert!(matches!(
            p.handle(br#"{"event_type":"flow"}"#),
            Outcome::Parsed
        ));
        assert!(matches!(
            p.handle(br#"{"event_type":"flow""#),
            Outcome::ParseError(_)
        ));
        assert!(matches!(p.handle(b"\xff\xfe"), Outcome::ParseError(_)));
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
        p.handle(br#"{"event_type":"flow"}"#);
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
    fn decisions_come_out_of_handle() {
        use crate::config::Config;
        let cfg = Config::default();
        let mut p = Pipeline::with_engine(Engine::new(
            cfg.detect.clone(),
            cfg.network_model(),
            cfg.decisions.clone(),
        ));
        let alert = br#"{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.1","dest_ip":"192.168.1.2","alert":{"signature_id":7,"severity":1,"signature":"x"}}"#;
        match p.handle(alert) {
            Outcome::Decided(d) => assert_eq!(d.target.to_string(), "203.0.113.1"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(p.handle(alert), Outcome::Parsed)); // cooldown
        let st = p.into_stats();
        assert_eq!(st.detect.unwrap().decisions, 1);
    }
}
