//! Plain-text feeds (`list` with `csv: false`): one value per line, comments, guessed or
//! fixed types.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use suriguard_intel::formats::{guess_type, list, ListFormat};
use suriguard_intel::{Intake, Normalizer};

fn normalizer() -> &'static Normalizer {
    static N: OnceLock<Normalizer> = OnceLock::new();
    N.get_or_init(Normalizer::default)
}

fuzz_target!(|data: &[u8]| {
    let formats = [
        ListFormat::default(),
        ListFormat {
            header: true,
            comment: ";".into(),
            kind: Some("domain".into()),
            ..ListFormat::default()
        },
    ];
    for fmt in &formats {
        let mut out = Intake::default();
        list(data, fmt, "fuzz", normalizer(), &mut out);
        assert!(out.rejected() <= out.offered);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        for line in s.lines().take(64) {
            let _ = guess_type(line);
        }
    }
});
