//! Prometheus' text exposition format (version 0.0.4), written by hand: a metric family
//! is its `# HELP` and `# TYPE` lines, then its samples, each family once. Label values
//! are escaped as the format says (`\\`, `\"`, `\n`); names are the caller's constants.
//!
//! The names follow Prometheus' conventions: `suriguard_` first, base units (seconds,
//! bytes), `_total` on counters.

use std::fmt::Write as _;

/// The content type `/metrics` answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric's labels: `(name, value)` pairs.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// A document being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
    /// Families written so far (a family must not appear twice).
    families: Vec<String>,
}

impl Exposition {
    pub fn new() -> Self {
        Exposition::default()
    }

    /// A counter family with its samples.
    pub fn counter(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, f64)]) {
        debug_assert!(name.ends_with("_total"), "{name}");
        self.family(name, help, "counter", samples);
    }

    /// A counter with no labels.
    pub fn counter1(&mut self, name: &str, help: &str, value: u64) {
        self.counter(name, help, &[(&[], value as f64)]);
    }

    /// A gauge family with its samples.
    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, f64)]) {
        self.family(name, help, "gauge", samples);
    }

    /// A counter family whose label lists are built from data (owned per sample).
    pub fn counter_each<'l>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'l str, &'l str)>, f64)>,
    ) {
        debug_assert!(name.ends_with("_total"), "{name}");
        self.family_each(name, help, "counter", samples);
    }

    /// A gauge family whose label lists are built from data.
    pub fn gauge_each<'l>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'l str, &'l str)>, f64)>,
    ) {
        self.family_each(name, help, "gauge", samples);
    }

    fn family_each<'l>(
        &mut self,
        name: &str,
        help: &str,
        kind: &str,
        samples: impl IntoIterator<Item = (Vec<(&'l str, &'l str)>, f64)>,
    ) {
        self.head(name, help, kind);
        for (labels, v) in samples {
            self.sample(name, &labels, v);
        }
    }

    /// A gauge with no labels.
    pub fn gauge1(&mut self, name: &str, help: &str, value: f64) {
        self.gauge(name, help, &[(&[], value)]);
    }

    /// A histogram from `(upper bound, observations in that bucket alone)`, in any
    /// order (an infinite bound counts in `+Inf` only); written cumulative, with `+Inf`,
    /// `_sum` and `_count`.
    pub fn histogram(&mut self, name: &str, help: &str, buckets: &[(f64, u64)], sum: f64) {
        self.head(name, help, "histogram");
        let mut sorted = buckets.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut cumulative = 0u64;
        for (le, n) in sorted {
            cumulative += n;
            // Counts at +Inf show in the +Inf bucket written below.
            if le.is_finite() {
                let le = format_value(le);
                self.sample(&format!("{name}_bucket"), &[("le", &le)], cumulative as f64);
            }
        }
        self.sample(
            &format!("{name}_bucket"),
            &[("le", "+Inf")],
            cumulative as f64,
        );
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], cumulative as f64);
    }

    /// The document.
    pub fn finish(self) -> String {
        self.text
    }

    fn family(&mut self, name: &str, help: &str, kind: &str, samples: &[(Labels<'_>, f64)]) {
        self.head(name, help, kind);
        for (labels, v) in samples {
            self.sample(name, labels, *v);
        }
    }

    fn head(&mut self, name: &str, help: &str, kind: &str) {
        debug_assert!(
            !self.families.iter().any(|f| f == name),
            "metric family {name} written twice"
        );
        self.families.push(name.to_owned());
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: Labels<'_>, v: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (k, (key, value)) in labels.iter().enumerate() {
                if k > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", format_value(v));
    }
}

/// A label value as the format writes it.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: integers without a fraction, `+Inf`/`-Inf`/`NaN` spelled as
/// Prometheus spells them.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_escapes_and_histograms() {
        let mut e = Exposition::new();
        e.counter(
            "suriguard_x_total",
            "Things.\nMore",
            &[(&[("type", "a\"b\\c\nd")], 3.0), (&[("type", "flow")], 0.0)],
        );
        e.gauge1("suriguard_up", "Up.", 1.0);
        e.histogram(
            "suriguard_lat_seconds",
            "Latency.",
            &[(0.002, 1), (0.001, 2)],
            0.004,
        );
        assert_eq!(
            e.finish(),
            "# HELP suriguard_x_total Things.\\nMore\n\
             # TYPE suriguard_x_total counter\n\
             suriguard_x_total{type=\"a\\\"b\\\\c\\nd\"} 3\n\
             suriguard_x_total{type=\"flow\"} 0\n\
             # HELP suriguard_up Up.\n\
             # TYPE suriguard_up gauge\n\
             suriguard_up 1\n\
             # HELP suriguard_lat_seconds Latency.\n\
             # TYPE suriguard_lat_seconds histogram\n\
             suriguard_lat_seconds_bucket{le=\"0.001\"} 2\n\
             suriguard_lat_seconds_bucket{le=\"0.002\"} 3\n\
             suriguard_lat_seconds_bucket{le=\"+Inf\"} 3\n\
             suriguard_lat_seconds_sum 0.004\n\
             suriguard_lat_seconds_count 3\n"
        );
    }
}
