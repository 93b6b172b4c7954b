//! Cowrie honeypot JSON logs (`cowrie`): line by line, scored per source.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use suriguard_intel::formats::cowrie;
use suriguard_intel::{Intake, Normalizer};

fn normalizer() -> &'static Normalizer {
    static N: OnceLock<Normalizer> = OnceLock::new();
    N.get_or_init(Normalizer::default)
}

fuzz_target!(|data: &[u8]| {
    for min_score in [1, 5] {
        let mut out = Intake::default();
        let _ = cowrie(data, min_score, "fuzz", normalizer(), &mut out);
        assert!(out.rejected() <= out.offered);
    }
});
