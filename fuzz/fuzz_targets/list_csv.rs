//! CSV feeds (`list` with `csv: true`): RFC 4180 records, a chosen column, a header.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use suriguard_intel::formats::{list, ListFormat};
use suriguard_intel::{Intake, Normalizer};

fn normalizer() -> &'static Normalizer {
    static N: OnceLock<Normalizer> = OnceLock::new();
    N.get_or_init(Normalizer::default)
}

fuzz_target!(|data: &[u8]| {
    let formats = [
        ListFormat {
            csv: true,
            ..ListFormat::default()
        },
        ListFormat {
            csv: true,
            column: 3,
            delimiter: b';',
            header: true,
            comment: "//".into(),
            kind: Some("ip-dst".into()),
        },
    ];
    for fmt in &formats {
        let mut out = Intake::default();
        list(data, fmt, "fuzz", normalizer(), &mut out);
        assert!(out.rejected() <= out.offered);
    }
});
