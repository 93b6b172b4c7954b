//! `suriguard_eve::parse` against its reference: the serde derives on the same structs,
//! driven by serde_json (what `crates/eve/src/read.rs`'s `oracle::agree` does in the
//! unit tests, re-implemented here on the public API).
//!
//! Allowed differences, from the reader's documented contract:
//! - input that is not UTF-8 as a whole: suriguard must refuse it; serde_json accepts it
//!   when the bad bytes fall in a field it skips;
//! - a record written as an array (`[...]`): serde reads a struct from a sequence, no
//!   EVE producer writes one, suriguard refuses it.
//! Everything else must agree on acceptance, and on the parsed value when accepted.
//! A second, independent check uses `serde_json::Value`: when suriguard accepts, the
//! input is a JSON object and the header fields it reads have the same values (except
//! for a lone surrogate escape or a number beyond f64 in a skipped value: let through
//! by both typed readers, refused by `Value`, which decodes every value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use suriguard_eve::{parse, peek_event_type, EveRecord};

fuzz_target!(|data: &[u8]| {
    let ours = parse(data);
    let _ = peek_event_type(data);
    if std::str::from_utf8(data).is_err() {
        assert!(ours.is_err(), "accepted non-UTF-8 input");
        return;
    }
    let theirs = serde_json::from_slice::<EveRecord>(data);
    let array = data
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'[');
    match (&ours, &theirs) {
        (Ok(o), Ok(t)) => assert_eq!(format!("{o:?}"), format!("{t:?}"), "different values"),
        (Err(_), Err(_)) => {}
        (Err(_), Ok(_)) if array => {}
        (o, t) => panic!(
            "disagree: suriguard {:?}, serde_json {:?}",
            o.as_ref().map(|_| ()),
            t.as_ref().map(|_| ())
        ),
    }
    if let Ok(rec) = &ours {
        // Whatever suriguard accepts is a JSON object for serde_json too, except where
        // serde_json::Value is stricter than both typed readers because it decodes
        // every value in full, also those the typed readers skip (grammar checked,
        // nothing decoded):
        // - a lone UTF-16 surrogate escape (crates/eve/src/json.rs's documented
        //   leniency; Value's message varies: "lone leading surrogate", "unexpected
        //   end of hex escape", ...), excused only when the input holds one;
        // - a number too large for an f64 (`1e400`): valid RFC 8259 grammar, refused
        //   by Value as "number out of range".
        let v: Value = match serde_json::from_slice(data) {
            Ok(v) => v,
            Err(_) if has_surrogate_escape(data) => return,
            Err(e) if e.to_string().starts_with("number out of range") => return,
            Err(e) => panic!("accepted input is not JSON: {e}"),
        };
        let obj = v.as_object().expect("accepted input is an object");
        assert_eq!(
            obj.get("event_type").and_then(Value::as_str),
            Some(&*rec.event_type),
            "event_type"
        );
        let uint = |k: &str| obj.get(k).and_then(Value::as_u64);
        assert_eq!(uint("flow_id"), rec.flow_id, "flow_id");
        assert_eq!(uint("pcap_cnt"), rec.pcap_cnt, "pcap_cnt");
        assert_eq!(uint("src_port"), rec.src_port.map(u64::from), "src_port");
        assert_eq!(uint("dest_port"), rec.dest_port.map(u64::from), "dest_port");
        let ip = |k: &str| {
            obj.get(k).and_then(Value::as_str).map(|s| {
                s.parse::<std::net::IpAddr>()
                    .expect("accepted address parses")
            })
        };
        assert_eq!(ip("src_ip"), rec.src_ip, "src_ip");
        assert_eq!(ip("dest_ip"), rec.dest_ip, "dest_ip");
        // The accessors used downstream must not panic.
        let _ = rec.flow_parts();
        let _ = rec.replay_key();
        if let Some(d) = &rec.dns {
            let _ = (d.is_query(), d.query_name(), d.query_type());
        }
        if let Some(e) = &rec.ether {
            let _ = e.source_mac();
        }
    }
});

/// Whether `b` holds `\uD800`..`\uDFFF` (any case); an escaped backslash before the
/// `u` is counted too, which only excuses more.
fn has_surrogate_escape(b: &[u8]) -> bool {
    b.windows(4).any(|w| {
        w[0] == b'\\'
            && w[1] == b'u'
            && matches!(w[2], b'd' | b'D')
            && matches!(w[3], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
    })
}
