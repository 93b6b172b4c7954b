//! When model verdicts become a decision.
//!
//! A verdict is malicious when the model gives the non-benign classes together at least
//! `min-confidence` (`1 - p(benign)`); its class is the most likely non-benign class.
//! `verdicts` malicious verdicts on one source within `window` seconds of EVE time
//! propose a decision, which then passes the same gate as the heuristics' (protected
//! addresses, cooldown, caps). The defaults are the replaced system's rule: 2 verdicts,
//! 0.60, 60 s.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Most verdicts a policy may ask for.
pub const MAX_VERDICTS: u32 = 16;

/// `[model.policy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct PolicyConfig {
    /// Malicious verdicts needed.
    pub verdicts: u32,
    /// Least confidence (`1 - p(benign)`) for a verdict to count.
    pub min_confidence: f64,
    /// Seconds (EVE time) within which they must fall.
    pub window: f64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            verdicts: 2,
            min_confidence: 0.60,
            window: 60.0,
        }
    }
}

impl PolicyConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.verdicts == 0 || self.verdicts > MAX_VERDICTS {
            return Err(format!(
                "[model.policy] verdicts must be 1..={MAX_VERDICTS}, not {}",
                self.verdicts
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(format!(
                "[model.policy] min-confidence must be within 0..=1, not {}",
                self.min_confidence
            ));
        }
        if !(self.window.is_finite() && self.window > 0.0 && self.window <= 86_400.0) {
            return Err(format!(
                "[model.policy] window must be within (0, 86400] seconds, not {}",
                self.window
            ));
        }
        Ok(())
    }
}

/// One model verdict on one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// EVE time of the flow the sample ended with (µs).
    pub time_us: i64,
    /// Index of the most likely non-benign class.
    pub class: u16,
    /// `1 - p(benign)`.
    pub confidence: f32,
    /// Real flows in the sequence the model read (fewer than its length for a source
    /// seen only a few times).
    pub steps: u32,
    /// The flow the sample ended with (evidence).
    pub flow_id: Option<u64>,
}

impl Verdict {
    /// Reads one sample's class probabilities.
    pub fn from_probabilities(probs: &[f32], benign: usize, time_us: i64, steps: u32) -> Verdict {
        let mut class = if benign == 0 { 1 } else { 0 };
        for (k, p) in probs.iter().enumerate() {
            if k != benign && *p > probs[class] {
                class = k;
            }
        }
        let pb = probs.get(benign).copied().unwrap_or(0.0);
        Verdict {
            time_us,
            class: class as u16,
            confidence: (1.0 - pb).clamp(0.0, 1.0),
            steps,
            flow_id: None,
        }
    }

    pub fn malicious(&self, cfg: &PolicyConfig) -> bool {
        self.confidence as f64 >= cfg.min_confidence
    }
}

/// A source's recent malicious verdicts (no allocation until the first one).
#[derive(Debug, Default)]
pub struct Verdicts {
    recent: VecDeque<Verdict>,
}

impl Verdicts {
    /// Records a verdict; when it completes the policy (`verdicts` of them, this one
    /// among them, within `window` seconds of each other), returns those (oldest first)
    /// and starts over. Verdicts may come out of time order (a source's flow records do):
    /// they are kept sorted by time, so only verdicts truly within one window combine.
    pub fn record(&mut self, v: Verdict, cfg: &PolicyConfig) -> Option<Vec<Verdict>> {
        if !v.malicious(cfg) {
            return None;
        }
        let (w, n) = ((cfg.window * 1e6) as i64, cfg.verdicts as usize);
        let at = self.recent.partition_point(|o| o.time_us <= v.time_us);
        self.recent.insert(at, v);
        // Older than the newest by more than a window: never part of a later tip.
        let newest = self.recent.back().map_or(v.time_us, |o| o.time_us);
        let mut at = at;
        while self.recent.front().is_some_and(|o| o.time_us < newest - w) {
            self.recent.pop_front();
            at = at.saturating_sub(1);
        }
        while self.recent.len() > 2 * MAX_VERDICTS as usize {
            self.recent.pop_front();
            at = at.saturating_sub(1);
        }
        // `n` neighbours in time, this verdict among them, spanning at most a window.
        let len = self.recent.len();
        let first = (at + 1).saturating_sub(n);
        for start in first..=at {
            if start + n > len {
                break;
            }
            if self.recent[start + n - 1].time_us - self.recent[start].time_us <= w {
                let tipped: Vec<Verdict> = self.recent.range(start..start + n).copied().collect();
                self.recent.clear();
                self.recent.shrink_to_fit();
                return Some(tipped);
            }
        }
        None
    }

    pub fn len(&self) -> usize {
        self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(t_s: i64, conf: f32) -> Verdict {
        Verdict {
            time_us: t_s * 1_000_000,
            class: 1,
            confidence: conf,
            steps: 8,
            flow_id: None,
        }
    }

    #[test]
    fn two_confident_verdicts_within_a_minute_decide() {
        let cfg = PolicyConfig::default();
        let mut s = Verdicts::default();
        assert!(s.record(v(0, 0.9), &cfg).is_none());
        assert!(s.record(v(10, 0.59), &cfg).is_none()); // below 0.60: not counted
        assert_eq!(s.len(), 1);
        let tipped = s.record(v(59, 0.61), &cfg).unwrap();
        assert_eq!(tipped, vec![v(0, 0.9), v(59, 0.61)]);
        assert!(s.is_empty());
    }

    #[test]
    fn verdicts_older_than_the_window_do_not_count() {
        let cfg = PolicyConfig::default();
        let mut s = Verdicts::default();
        assert!(s.record(v(0, 0.9), &cfg).is_none());
        assert!(s.record(v(61, 0.9), &cfg).is_none());
        assert_eq!(s.len(), 1);
        assert!(s.record(v(100, 0.9), &cfg).is_some());
    }

    #[test]
    fn verdicts_out_of_time_order_combine_only_within_a_window() {
        let cfg = PolicyConfig::default();
        let mut s = Verdicts::default();
        assert!(s.record(v(100, 0.9), &cfg).is_none());
        // 70 s earlier: not within one window of the first.
        assert!(s.record(v(30, 0.9), &cfg).is_none());
        // Between them, within a window of the later one.
        let tipped = s.record(v(80, 0.9), &cfg).unwrap();
        let times: Vec<i64> = tipped.iter().map(|v| v.time_us / 1_000_000).collect();
        assert_eq!(times, [80, 100]);
        assert!(s.is_empty());
    }

    #[test]
    fn configurable() {
        let cfg = PolicyConfig {
            verdicts: 3,
            min_confidence: 0.95,
            window: 5.0,
        };
        let mut s = Verdicts::default();
        assert!(s.record(v(0, 0.96), &cfg).is_none());
        assert!(s.record(v(1, 0.96), &cfg).is_none());
        assert!(s.record(v(2, 0.94), &cfg).is_none());
        assert!(s.record(v(3, 0.99), &cfg).is_some());
        assert!(PolicyConfig {
            verdicts: 0,
            ..cfg.clone()
        }
        .validate()
        .is_err());
        assert!(PolicyConfig {
            min_confidence: 1.5,
            ..cfg.clone()
        }
        .validate()
        .is_err());
        assert!(PolicyConfig {
            window: f64::NAN,
            ..cfg
        }
        .validate()
        .is_err());
    }

    #[test]
    fn confidence_is_one_minus_benign_and_class_the_likeliest_attack() {
        let p = [0.3, 0.1, 0.45, 0.15];
        let v = Verdict::from_probabilities(&p, 0, 7, 8);
        assert_eq!(v.class, 2);
        assert!((v.confidence - 0.7).abs() < 1e-6);
        // benign not first
        let v = Verdict::from_probabilities(&[0.2, 0.8, 0.0], 1, 0, 1);
        assert_eq!(v.class, 0);
        assert!((v.confidence - 0.2).abs() < 1e-6);
    }
}
