//! Per-source sequences of feature steps: the model's input.
//!
//! Every flow record of a source that is not transit traffic becomes one step (the
//! extractor named in the model's metadata); the last T steps of each source are kept in
//! a ring. [`Sequencer::snapshot`] writes a source's sequence oldest first, normalised,
//! with all-zero rows in front while it has fewer than T flows (the `present` feature
//! tells the model which rows are real). Training data is exported by this very code
//! (`suriguardctl model export`), so the model sees at run time what it saw in training.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::engine::Engine;
use crate::features::{flow_step, seed_features, MAX_GAP_SECS};
use crate::model::meta::{Extractor, Normalisation};
use crate::model::policy::{PolicyConfig, Verdict, Verdicts};
use crate::window::evict_idle;
use suriguard_eve::{EveRecord, EventType};
use suriguard_net::Direction;

/// One source's ring of steps and its recent verdicts.
#[derive(Debug)]
pub struct SeqSource {
    ring: Box<[f32]>,
    pushed: u64,
    last_t: i64,
    verdicts: Verdicts,
}

impl SeqSource {
    /// Records a model verdict on this source; see [`Verdicts::record`].
    pub fn record_verdict(&mut self, v: Verdict, cfg: &PolicyConfig) -> Option<Vec<Verdict>> {
        self.verdicts.record(v, cfg)
    }
}

/// The flow a step came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub direction: Direction,
    /// EVE time of the flow (its start, else the record's timestamp), µs.
    pub time_us: i64,
    pub flow_id: Option<u64>,
    /// Real flows in the source's sequence now (at most the sequence length).
    pub steps: u32,
    /// The record's number in the pipeline's input (set by the model stage): verdicts
    /// take effect in this order, whenever their batch ran.
    pub seq: u64,
}

/// Counters of the sequencer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqStats {
    pub steps: u64,
    /// Flow records without addresses or time, or that the extractor skips.
    pub skipped: u64,
    pub transit: u64,
    pub sources_evicted: u64,
}

/// All sources' sequences. One per worker thread.
#[derive(Debug)]
pub struct Sequencer {
    extractor: Extractor,
    t: usize,
    f: usize,
    max_sources: usize,
    sources: HashMap<IpAddr, SeqSource>,
    newest: i64,
    pub stats: SeqStats,
}

impl Sequencer {
    pub fn new(extractor: Extractor, sequence_length: usize, max_sources: usize) -> Sequencer {
        Sequencer {
            extractor,
            t: sequence_length.max(1),
            f: extractor.features().len(),
            max_sources: max_sources.max(1),
            sources: HashMap::new(),
            newest: i64::MIN,
            stats: SeqStats::default(),
        }
    }

    /// Floats per sample (T × features).
    pub fn sample_len(&self) -> usize {
        self.t * self.f
    }

    pub fn sequence_length(&self) -> usize {
        self.t
    }

    pub fn width(&self) -> usize {
        self.f
    }

    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    pub fn source(&self, ip: IpAddr) -> Option<&SeqSource> {
        self.sources.get(&ip)
    }

    pub fn source_mut(&mut self, ip: IpAddr) -> Option<&mut SeqSource> {
        self.sources.get_mut(&ip)
    }

    /// Adds the step of one record, if it is a flow the extractor reads. Call after
    /// `engine.handle(rec)`, so the engine's windows include this flow.
    pub fn observe(&mut self, rec: &EveRecord<'_>, engine: &Engine) -> Option<Step> {
        if rec.kind() != EventType::Flow {
            return None;
        }
        let Some((src, dst, _, t)) = rec.flow_parts() else {
            self.stats.skipped += 1;
            return None;
        };
        let net = engine.network();
        let direction = net.direction(src, dst);
        if direction == Direction::Transit {
            self.stats.transit += 1;
            return None;
        }
        let previous = self.sources.get(&src).map(|s| s.last_t);
        let step: [f32; 24] = match self.extractor {
            Extractor::SeedV1 => seed_features(rec)?,
            Extractor::FlowSeqV1 => {
                let window = engine.source_features(src).unwrap_or_default();
                let gap = previous.map(|p| ((t - p) as f64 / 1e6).clamp(0.0, MAX_GAP_SECS));
                flow_step(rec, &window, gap, net.is_home(src))?
            }
        };
        let steps = self.push(src, t, &step);
        Some(Step {
            src,
            dst,
            direction,
            time_us: t,
            flow_id: rec.flow_id,
            steps,
            seq: 0,
        })
    }

    /// Appends one step to a source's ring; returns how many real steps its sequence
    /// now holds.
    pub fn push(&mut self, src: IpAddr, t: i64, step: &[f32]) -> u32 {
        debug_assert_eq!(step.len(), self.f);
        self.newest = self.newest.max(t);
        if self.sources.len() >= self.max_sources && !self.sources.contains_key(&src) {
            self.evict();
        }
        let len = self.sample_len();
        let s = self.sources.entry(src).or_insert_with(|| SeqSource {
            ring: vec![0.0; len].into_boxed_slice(),
            pushed: 0,
            last_t: t,
            verdicts: Verdicts::default(),
        });
        let slot = (s.pushed % self.t as u64) as usize;
        s.ring[slot * self.f..(slot + 1) * self.f].copy_from_slice(step);
        s.pushed += 1;
        s.last_t = s.last_t.max(t);
        self.stats.steps += 1;
        s.pushed.min(self.t as u64) as u32
    }

    /// Writes `src`'s sequence (oldest step first, zero rows in front of a short one)
    /// into `out` (`sample_len()` floats), normalised. False if the source is unknown.
    pub fn snapshot(&self, src: IpAddr, norm: Option<&Normalisation>, out: &mut [f32]) -> bool {
        let Some(s) = self.sources.get(&src) else {
            return false;
        };
        let (t, f) = (self.t, self.f);
        let have = s.pushed.min(t as u64) as usize;
        let pad = t - have;
        out[..pad * f].fill(0.0);
        for k in 0..have {
            // The oldest of the last `have` steps is at pushed - have.
            let slot = ((s.pushed - have as u64 + k as u64) % t as u64) as usize;
            let row = &s.ring[slot * f..(slot + 1) * f];
            let dst = &mut out[(pad + k) * f..(pad + k + 1) * f];
            match norm {
                Some(n) => {
                    for j in 0..f {
                        dst[j] = (row[j] - n.mean[j]) / n.std[j];
                    }
                }
                None => dst.copy_from_slice(row),
            }
        }
        true
    }

    /// Forgets sources idle for longer than [`MAX_GAP_SECS`]; if that frees too little,
    /// the least recently seen half.
    fn evict(&mut self) {
        let horizon = self.newest - (MAX_GAP_SECS * 1e6) as i64;
        self.stats.sources_evicted +=
            evict_idle(&mut self.sources, self.max_sources, horizon, |s| s.last_t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suriguard_eve as eve;

    fn engine() -> Engine {
        Engine::new(Default::default(), Default::default())
    }

    fn flow(src: &str, dport: u16, t_s: u32, toclient: u32) -> String {
        format!(
            r#"{{"timestamp":"2024-01-01T00:00:{t_s:02}.000000+0000","flow_id":{t_s},"event_type":"flow","src_ip":"{src}","src_port":40000,"dest_ip":"192.168.1.10","dest_port":{dport},"proto":"TCP","flow":{{"pkts_toserver":2,"pkts_toclient":{toclient},"bytes_toserver":120,"bytes_toclient":{b},"start":"2024-01-01T00:00:{t_s:02}.000000+0000","end":"2024-01-01T00:00:{t_s:02}.500000+0000","age":0,"state":"closed"}},"tcp":{{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b"}}}}"#,
            b = toclient * 100
        )
    }

    #[test]
    fn steps_roll_oldest_first_with_front_padding() {
        let mut e = engine();
        let mut s = Sequencer::new(Extractor::FlowSeqV1, 3, 10);
        let mut out = vec![9.0; s.sample_len()];
        let src: IpAddr = "203.0.113.5".parse().unwrap();
        for (k, port) in [22u16, 80, 8080, 5000].iter().enumerate() {
            let line = flow("203.0.113.5", *port, 10 + 2 * k as u32, 3);
            let rec = eve::parse(line.as_bytes()).unwrap();
            e.handle(&rec);
            let step = s.observe(&rec, &e).unwrap();
            assert_eq!(step.direction, Direction::Inbound);
            assert_eq!(step.time_us % 1_000_000, 0);
            assert!(s.snapshot(src, None, &mut out));
            let f = s.width();
            match k {
                0 => {
                    assert!(out[..2 * f].iter().all(|x| *x == 0.0)); // two rows of padding
                    assert_eq!(out[2 * f], 1.0); // present
                    assert_eq!(out[2 * f + 12], 1.0); // dport_login
                    assert!((out[2 * f + 15] - (MAX_GAP_SECS.ln_1p() as f32)).abs() < 1e-6);
                }
                3 => {
                    // 80, 8080, 5000: web, web, neither; gaps of 2 s.
                    assert_eq!([out[13], out[f + 13], out[2 * f + 13]], [1.0, 1.0, 0.0]);
                    assert!((out[2 * f + 15] - 2f32.ln_1p()).abs() < 1e-6);
                    // the engine's answered-flow counter grew with every flow
                    assert!((out[2 * f + 17] - 4f32.ln_1p()).abs() < 1e-6);
                }
                _ => {}
            }
        }
        let n = Normalisation {
            mean: vec![1.0; 24],
            std: vec![2.0; 24],
        };
        s.snapshot(src, Some(&n), &mut out);
        assert_eq!(out[0], 0.0); // present 1 → (1 - 1) / 2
        assert_eq!(out[6], 0.0); // is_tcp
        assert_eq!(out[7], -0.5); // is_udp 0 → -0.5
        assert!(!s.snapshot("198.51.100.1".parse().unwrap(), None, &mut out));
    }

    #[test]
    fn transit_and_non_flows_are_not_steps_and_sources_are_capped() {
        let e = engine();
        let mut s = Sequencer::new(Extractor::FlowSeqV1, 4, 2);
        let transit = flow("203.0.113.5", 80, 1, 1).replace("192.168.1.10", "198.51.100.7");
        assert!(s
            .observe(&eve::parse(transit.as_bytes()).unwrap(), &e)
            .is_none());
        assert_eq!(s.stats.transit, 1);
        let dns = br#"{"event_type":"dns","src_ip":"192.168.1.5","dest_ip":"192.168.1.1"}"#;
        assert!(s.observe(&eve::parse(dns).unwrap(), &e).is_none());
        for (k, ip) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
            .iter()
            .enumerate()
        {
            let line = flow(ip, 80, k as u32, 1);
            s.observe(&eve::parse(line.as_bytes()).unwrap(), &e)
                .unwrap();
        }
        assert!(s.tracked_sources() <= 2);
        assert!(s.stats.sources_evicted >= 1);
        assert!(s.source("203.0.113.3".parse().unwrap()).is_some());
    }

    #[test]
    fn seed_extractor_is_one_raw_flow() {
        let e = engine();
        let mut s = Sequencer::new(Extractor::SeedV1, 1, 10);
        let line = flow("203.0.113.5", 443, 3, 2);
        let rec = eve::parse(line.as_bytes()).unwrap();
        s.observe(&rec, &e).unwrap();
        let mut out = vec![0.0; 24];
        s.snapshot("203.0.113.5".parse().unwrap(), None, &mut out);
        assert_eq!(out.as_slice(), seed_features(&rec).unwrap().as_slice());
    }
}
