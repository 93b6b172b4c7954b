//! The other readers of EVE lines from disk, which take untrusted bytes and are not the
//! plugin's parser: the report crate's incident reader (`incident::from_line`: eve.json
//! alerts and decision-journal lines), its flow summary (`flows::summarize` over a log
//! tail), and rulesync's alert trace helpers (`trace::alert_set`,
//! `trace::context_attributes`).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use suriguard_intel::trace::{alert_set, context_attributes};
use suriguard_report::flows::summarize;
use suriguard_report::incident::from_line;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Ok(Some(inc)) = from_line(line) {
            let _ = (inc.subject_ip(), inc.reason_key());
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            let _ = alert_set(&v);
            let _ = context_attributes(&v);
        }
    }
    let _ = summarize(data, IpAddr::V4(Ipv4Addr::new(192, 168, 1, 19)));
});
