//! STIX 2.0 / 2.1 bundles (`stix2`), with a fixed clock.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use suriguard_intel::formats::{rfc3339_secs, stix2};
use suriguard_intel::{Intake, Normalizer};

fn normalizer() -> &'static Normalizer {
    static N: OnceLock<Normalizer> = OnceLock::new();
    N.get_or_init(Normalizer::default)
}

/// 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut out = Intake::default();
    let _ = stix2(&text, NOW, normalizer(), &mut out);
    assert!(out.rejected() <= out.offered);
    if data.len() <= 64 {
        let _ = rfc3339_secs(&text);
    }
});
