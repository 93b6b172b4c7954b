//! Per-source sequences of feature steps: the model's input.
//!
//! Every flow record of a source that is not transit traffic becomes one step (the
//! extractor named in the model's metadata); each source keeps its T latest steps **in
//! the order of their flows' start times**, whatever order the records came in.
//! [`Sequencer::snapshot`] writes a source's sequence oldest first, normalised, with
//! all-zero rows in front while it has fewer than T flows (the `present` feature tells
//! the model which rows are real). Training data is exported by this very code
//! (`suriguardctl model export`), so the model sees at run time what it saw in training.
//!
//! Suricata writes a flow's record when the flow ends or times out, so a source's
//! records often come out of start-time order (a long flow after the short ones that
//! began later; at the end of a capture, every open flow at once, in its flow table's
//! order). Offline analysis and the training export replay records in start-time order.
//! Kept sorted, a sequence depends on which flows have come, not on the order they came
//! in, and the gap to the previous flow (`log_gap`) is taken between neighbours in time
//! when the sequence is read; in start-time order this is exactly appending.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::engine::Engine;
use crate::features::{flow_step, seed_features, MAX_GAP_SECS};
use crate::model::meta::{Extractor, Normalisation};
use crate::model::policy::{PolicyConfig, Verdict, Verdicts};
use crate::window::evict_idle;
use suriguard_eve::{EveRecord, EventType};
use suriguard_net::Direction;

/// One source's latest steps, oldest first by start time, and its recent verdicts.
#[derive(Debug)]
pub struct SeqSource {
    /// `have` rows of features, sorted by `times`.
    rows: Box<[f32]>,
    times: Box<[i64]>,
    have: usize,
    /// Start time of the latest step that left the front (the first row's neighbour).
    before: Option<i64>,
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
    /// Flows older than every step of their source's full sequence (not scored).
    pub too_old: u64,
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
        let step: [f32; 24] = match self.extractor {
            Extractor::SeedV1 => seed_features(rec)?,
            Extractor::FlowSeqV1 => {
                let window = engine.source_features(src).unwrap_or_default();
                // The gap is the sequence's to say (`snapshot`): it depends on which
                // flows are its neighbours in time.
                flow_step(rec, &window, None, net.is_home(src))?
            }
        };
        let steps = self.push(src, t, &step)?;
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

    /// Files one step (its flow started at `t`) among a source's latest, in start-time
    /// order; returns how many real steps its sequence now holds, or `None` when the
    /// sequence is full of later flows (the step is too old to be in it: nothing to
    /// score).
    pub fn push(&mut self, src: IpAddr, t: i64, step: &[f32]) -> Option<u32> {
        debug_assert_eq!(step.len(), self.f);
        self.newest = self.newest.max(t);
        if self.sources.len() >= self.max_sources && !self.sources.contains_key(&src) {
            self.evict();
        }
        let (cap, f) = (self.t, self.f);
        let s = self.sources.entry(src).or_insert_with(|| SeqSource {
            rows: vec![0.0; cap * f].into_boxed_slice(),
            times: vec![0; cap].into_boxed_slice(),
            have: 0,
            before: None,
            last_t: t,
            verdicts: Verdicts::default(),
        });
        s.last_t = s.last_t.max(t);
        // After the steps that started no later (equal times keep their arrival order).
        // Extractors without a gap feature read each flow on its own (the seed model's
        // single step): arrival order, the newest always in.
        let mut at = if self.extractor.gap_feature().is_some() {
            s.times[..s.have].partition_point(|&x| x <= t)
        } else {
            s.have
        };
        if s.have == cap {
            if at == 0 {
                // Older than every step of a full sequence.
                s.before = Some(s.before.map_or(t, |b| b.max(t)));
                self.stats.too_old += 1;
                return None;
            }
            // The oldest leaves; the rows before `at` move up one.
            s.before = Some(s.times[0]);
            s.rows.copy_within(f..at * f, 0);
            s.times.copy_within(1..at, 0);
            at -= 1;
        } else {
            s.rows.copy_within(at * f..s.have * f, (at + 1) * f);
            s.times.copy_within(at..s.have, at + 1);
            s.have += 1;
        }
        s.rows[at * f..(at + 1) * f].copy_from_slice(step);
        s.times[at] = t;
        self.stats.steps += 1;
        Some(s.have as u32)
    }

    /// Writes `src`'s sequence (oldest step first, zero rows in front of a short one)
    /// into `out` (`sample_len()` floats), normalised. False if the source is unknown.
    pub fn snapshot(&self, src: IpAddr, norm: Option<&Normalisation>, out: &mut [f32]) -> bool {
        let Some(s) = self.sources.get(&src) else {
            return false;
        };
        let (t, f) = (self.t, self.f);
        let have = s.have;
        let pad = t - have;
        out[..pad * f].fill(0.0);
        let gap_at = self.extractor.gap_feature();
        for k in 0..have {
            let dst = &mut out[(pad + k) * f..(pad + k + 1) * f];
            dst.copy_from_slice(&s.rows[k * f..(k + 1) * f]);
            if let Some(g) = gap_at {
                // Seconds since the previous flow in time (none known: the maximum).
                let prev = if k > 0 {
                    Some(s.times[k - 1])
                } else {
                    s.before
                };
                let gap = prev.map_or(MAX_GAP_SECS, |p| {
                    ((s.times[k] - p) as f64 / 1e6).clamp(0.0, MAX_GAP_SECS)
                });
                dst[g] = gap.ln_1p() as f32;
            }
            if let Some(n) = norm {
                for (j, x) in dst.iter_mut().enumerate() {
                    *x = (*x - n.mean[j]) / n.std[j];
                }
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

    /// Records out of start-time order make the sequence the ordered ones make, gaps
    /// included; a flow older than a full sequence is not a step.
    #[test]
    fn sequences_follow_start_times_not_arrival() {
        let read = |order: &[u32]| {
            let mut e = engine();
            let mut s = Sequencer::new(Extractor::FlowSeqV1, 4, 10);
            let mut steps = Vec::new();
            for &t in order {
                let line = flow("203.0.113.5", 1000 + t as u16, t, 0);
                let rec = eve::parse(line.as_bytes()).unwrap();
                steps.push(s.observe(&rec, &e).map(|st| st.steps));
                e.handle(&rec);
            }
            let mut out = vec![0.0; s.sample_len()];
            assert!(s.snapshot("203.0.113.5".parse().unwrap(), None, &mut out));
            (out, steps, s.stats.too_old)
        };
        let (sorted, steps, too_old) = read(&[1, 3, 4, 9, 12, 20]);
        assert_eq!(steps, [1, 2, 3, 4, 4, 4].map(Some));
        assert_eq!(too_old, 0);
        let (shuffled, steps, too_old) = read(&[9, 1, 20, 4, 12, 3]);
        // 3 comes when 4, 9, 12 and 20 fill the sequence: too old to be in it.
        assert_eq!(steps, [Some(1), Some(2), Some(3), Some(4), Some(4), None]);
        assert_eq!(too_old, 1);
        let f = 24;
        let col = |out: &[f32], j: usize| (0..4).map(|k| out[k * f + j]).collect::<Vec<_>>();
        // The same four flows (4, 9, 12, 20: destination ports 1004...), in time order.
        assert_eq!(col(&shuffled, 14), col(&sorted, 14));
        assert_eq!(col(&shuffled, 15), col(&sorted, 15));
        let gaps: Vec<f32> = [1f64, 5.0, 3.0, 8.0]
            .iter()
            .map(|g| g.ln_1p() as f32)
            .collect();
        assert_eq!(col(&sorted, 15), gaps);
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
