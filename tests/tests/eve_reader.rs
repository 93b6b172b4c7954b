//! The worker's hand-driven EVE reader against serde_json, on what real Suricata writes:
//! every capture in ../shared/data plus a generated mixed IoT capture, with rules so that
//! alerts (with metadata) appear. Every record must parse to the same value both ways,
//! and the first record of each event type must survive the same mutations (every
//! prefix, grammar bytes at every position) with the same verdict.

use std::collections::BTreeMap;
use std::path::Path;

use suriguard_e2e::{run_suricata, scenarios, shared_data, RunOptions};
use suriguard_eve::{self as eve, EveRecord};

/// Ok(true) both accepted with equal values, Ok(false) both refused, Err on disagreement.
fn agree(b: &[u8]) -> Result<bool, String> {
    let ours = eve::parse(b);
    let theirs = serde_json::from_slice::<EveRecord>(b);
    match (ours, theirs) {
        (Ok(o), Ok(t)) if format!("{o:?}") == format!("{t:?}") => Ok(true),
        (Err(_), Err(_)) => Ok(false),
        // Not UTF-8 as a whole: refused by our reader even where serde_json skips the bytes.
        (Err(_), Ok(_)) if std::str::from_utf8(b).is_err() => Ok(false),
        (o, t) => Err(format!(
            "{:?}\n ours: {o:?}\n serde_json: {t:?}",
            String::from_utf8_lossy(b)
        )),
    }
}

fn collect_pcaps(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_pcaps(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap") {
            out.push(p);
        }
    }
}

#[test]
fn reader_matches_serde_on_everything_suricata_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let caps = tmp.path().join("pcaps");
    std::fs::create_dir(&caps).unwrap();
    let mut pcaps = Vec::new();
    collect_pcaps(&shared_data().join("pcaps"), &mut pcaps);
    assert!(pcaps.len() >= 10, "{pcaps:?}");
    for (i, p) in pcaps.iter().enumerate() {
        // Copied, not linked: Suricata's directory mode reads regular files only.
        std::fs::copy(p, caps.join(format!("{i:02}.pcap"))).unwrap();
    }
    scenarios::mixed_iot(&caps.join("mixed.pcap"), 200).unwrap();
    let run = run_suricata(
        &caps,
        &tmp.path().join("logs"),
        &RunOptions {
            rules: vec![suriguard_e2e::workspace_root().join("tests/data/bench.rules")],
            ..Default::default()
        },
    );
    run.ran.assert_success();
    let text = std::fs::read(run.eve_json()).unwrap();

    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut firsts = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match agree(line) {
            Ok(true) => {}
            Ok(false) => panic!(
                "both refused a record Suricata wrote: {}",
                String::from_utf8_lossy(line)
            ),
            Err(e) => panic!("{e}"),
        }
        let kind = eve::parse(line).unwrap().event_type.to_string();
        // The plugin's cheap look at the type agrees with the parse.
        assert_eq!(eve::peek_event_type(line), Some(kind.as_str()));
        let n = by_type.entry(kind).or_default();
        if *n == 0 {
            firsts.push(line.to_vec());
        }
        *n += 1;
    }
    for t in ["flow", "alert", "dns", "http", "mqtt", "modbus", "ssh"] {
        assert!(
            by_type.get(t).copied().unwrap_or(0) > 0,
            "no {t} records: {by_type:?}"
        );
    }
    // The plugin read the same records with the same reader.
    let st = run.plugin_stats();
    assert_eq!(st.ingest.parse_errors, 0, "{st:?}");
    assert_eq!(st.by_type(), by_type);

    let grammar = b"\"\\{}[],:0-9.en tfu\x00\x1f\xff\xc3";
    let (mut accepted, mut refused) = (0u64, 0u64);
    let mut tally = |b: &[u8]| match agree(b) {
        Ok(true) => accepted += 1,
        Ok(false) => refused += 1,
        Err(e) => panic!("{e}"),
    };
    for rec in &firsts {
        for n in 0..rec.len() {
            tally(&rec[..n]);
        }
        let mut m = rec.clone();
        for i in 1..rec.len() {
            for &c in grammar {
                m[i] = c;
                tally(&m);
            }
            m[i] = rec[i];
        }
    }
    assert!(
        accepted > 1_000 && refused > 10_000,
        "{accepted} / {refused}"
    );
}
