//! HTML shared by the console (`serve`) and `analyze --html`: escaping, the page style,
//! and charts drawn as inline SVG (no script, nothing fetched), so a page or a report file
//! is whole on its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use suriguard_decision::Decision;

use crate::analyze::Report;
use crate::decisions;

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment.
pub fn url_part(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}header{background:#1d3557;color:#fff;padding:.6em 1em;display:flex;flex-wrap:wrap;gap:1em;align-items:center}header a{color:#fff}main{padding:1em;max-width:70em}table{border-collapse:collapse;width:100%;font-size:.92em}td,th{border-bottom:1px solid #ddd;padding:.3em .4em;text-align:left;vertical-align:top}.card{display:inline-block;border:1px solid #ccc;border-radius:6px;padding:.5em 1em;margin:.3em;min-width:9em}.big{font-size:1.6em}.bad{color:#b00020}.ok{color:#2a7a2a}pre{white-space:pre-wrap;background:#f6f6f6;padding:.8em}form.inline{display:inline}a.button{display:inline-block;border:1px solid #888;border-radius:4px;padding:.15em .5em;margin:.2em 0;text-decoration:none;color:#222;background:#f0f0f0}@media(max-width:40em){td,th{font-size:.85em}}";

/// Inline SVG bars, no script.
pub fn bar_chart(values: &[u32], label: &str) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let (w, h) = (24.0 * values.len() as f64, 120.0);
    let mut s = format!(
        "<svg role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {w} {}\" width=\"100%\" style=\"max-width:40em\"><title>{}</title>",
        esc(label),
        h + 16.0,
        esc(label)
    );
    for (k, &v) in values.iter().enumerate() {
        let bh = h * v as f64 / max as f64;
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"18\" height=\"{bh}\" fill=\"#457b9d\"><title>{v}</title></rect>",
            k as f64 * 24.0 + 3.0,
            h - bh
        );
    }
    let _ = write!(
        s,
        "<line x1=\"0\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" stroke=\"#888\"/><text x=\"0\" y=\"{}\" font-size=\"11\">max {max}</text></svg>",
        h + 14.0
    );
    s
}

/// A table of counts, largest first (at most `limit` rows).
pub fn count_table(counts: &BTreeMap<String, usize>, what: &str, limit: usize) -> String {
    let mut v: Vec<(&String, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut s = format!("<table><tr><th>{}</th><th>decisions</th></tr>", esc(what));
    for (k, n) in v.into_iter().take(limit) {
        let _ = write!(s, "<tr><td>{}</td><td>{n}</td></tr>", esc(k));
    }
    s.push_str("</table>");
    s
}

/// Buckets in the timeline of a report.
const TIMELINE_BUCKETS: usize = 48;

/// Decisions per bucket over the span from the first to the last (EVE time), and the
/// decisions at the span's ends.
fn timeline(ds: &[Decision]) -> Option<(Vec<u32>, &Decision, &Decision)> {
    let first_d = ds.iter().min_by_key(|d| d.time_us)?;
    let last_d = ds.iter().max_by_key(|d| d.time_us)?;
    let (first, last) = (first_d.time_us, last_d.time_us);
    let width = ((last - first) / TIMELINE_BUCKETS as i64).max(1);
    let mut buckets = vec![0u32; TIMELINE_BUCKETS];
    for d in ds {
        let k = ((d.time_us - first) / width).clamp(0, TIMELINE_BUCKETS as i64 - 1) as usize;
        buckets[k] += 1;
    }
    Some((buckets, first_d, last_d))
}

/// `analyze --html`: one self-contained page (styles inline, chart as SVG, no script).
pub fn analyze_report(r: &Report) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>{} · {} records, {} parse errors · home networks {}</p>",
        esc(&r.input),
        r.records,
        r.parse_errors,
        esc(&r.home_networks.join(", "))
    );
    for w in &r.warnings {
        let _ = write!(b, "<p class=\"bad\">{}</p>", esc(w));
    }
    let mut by_action: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_source: BTreeMap<String, usize> = BTreeMap::new();
    for d in &r.decisions {
        *by_action.entry(d.action.as_str().to_owned()).or_default() += 1;
        *by_reason.entry(d.reason.as_str().to_owned()).or_default() += 1;
        *by_source.entry(d.target.to_string()).or_default() += 1;
    }
    let _ = write!(
        b,
        "<div class=\"card\">decisions<div class=\"big\">{}</div></div>",
        r.decisions.len()
    );
    for (a, n) in &by_action {
        let _ = write!(
            b,
            "<div class=\"card\">{}<div class=\"big\">{n}</div></div>",
            esc(a)
        );
    }
    b.push_str("<h2>Timeline</h2>");
    match timeline(&r.decisions) {
        None => b.push_str("<p>No decision.</p>"),
        Some((buckets, first, last)) => {
            b.push_str(&bar_chart(&buckets, "decisions over the capture's time"));
            let _ = write!(
                b,
                "<p>From {} to {} (EVE time), {} buckets.</p>",
                esc(&first.time),
                esc(&last.time),
                buckets.len()
            );
        }
    }
    b.push_str("<h2>Reasons</h2>");
    b.push_str(&count_table(&by_reason, "reason", 50));
    b.push_str("<h2>Top sources</h2>");
    b.push_str(&count_table(&by_source, "target", 20));
    b.push_str("<h2>Decisions</h2>");
    for d in &r.decisions {
        let _ = write!(
            b,
            "<details><summary>{} {} {} ({})</summary><pre>{}</pre></details>",
            esc(&d.time),
            esc(d.action.as_str()),
            esc(&d.target.to_string()),
            esc(d.reason.as_str()),
            esc(&decisions::explain(d))
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>suriguard analysis</title><style>{STYLE}</style></head><body><header><strong>suriguard analysis</strong></header><main><h1>Analysis</h1>{b}</main></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_spreads_decisions_over_their_span() {
        let d = |t: i64| {
            serde_json::from_value::<Decision>(serde_json::json!({
                "id": "x", "time": format!("t{t}"), "time_us": t, "target": "203.0.113.1",
                "action": "block", "reason": "port-scan", "direction": "inbound",
                "summary": "s", "ttl": 1, "confidence": 0.9, "dry_run": false,
                "evidence": {"counter": "c", "observed": 1, "threshold": 1,
                             "window_secs": 1.0, "example_flow_ids": []}
            }))
            .unwrap()
        };
        let ds = [d(0), d(480), d(960), d(960)];
        let (b, first, last) = timeline(&ds).unwrap();
        assert_eq!((first.time_us, last.time_us), (0, 960));
        assert_eq!(b.len(), TIMELINE_BUCKETS);
        assert_eq!((b[0], b[24], b[47]), (1, 1, 2));
        assert!(timeline(&[]).is_none());
    }
}
