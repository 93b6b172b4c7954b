//! What the plugin's worker thread does with each record it takes off the queue.
//!
//! Today: parse into the typed view and count. Later stages (per-source state,
//! heuristics, the model, decisions) hang off [`Pipeline::handle`] so that the plugin,
//! offline analysis and benchmarks all run the very same code.

use crate::eve;
use crate::stats::IngestStats;

/// The result of handling one record.
#[derive(Debug)]
pub enum Outcome {
    /// Parsed and processed.
    Parsed,
    /// Not a valid EVE record; counted in `parse_errors`.
    ParseError(serde_json::Error),
}

/// The worker's state. One per worker thread; never shared.
#[derive(Debug, Default)]
pub struct Pipeline {
    stats: IngestStats,
}

impl Pipeline {
    pub fn new() -> Self {
        Pipeline::default()
    }

    /// Handles one record as Suricata produced it (one JSON object, no newline).
    #[inline]
    pub fn handle(&mut self, bytes: &[u8]) -> Outcome {
        self.stats.records += 1;
        match eve::parse(bytes) {
            Ok(rec) => {
                self.stats.parsed.add(rec.kind(), &rec.event_type);
                Outcome::Parsed
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

    pub fn into_stats(self) -> IngestStats {
        self.stats
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
}
