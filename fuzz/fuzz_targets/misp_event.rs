//! The MISP event readers: one event (`misp_event`), a file of events in any of the
//! shapes people publish (`misp_event_file`) and an attribute search page
//! (`misp_attributes`), each fed the same document.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use suriguard_intel::formats::{misp_attributes, misp_event, misp_event_file, MispFilter};
use suriguard_intel::{Intake, Normalizer};

fn normalizer() -> &'static Normalizer {
    static N: OnceLock<Normalizer> = OnceLock::new();
    N.get_or_init(Normalizer::default)
}

fn check(out: &Intake) {
    assert!(out.rejected() <= out.offered, "more rejects than offers");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let n = normalizer();
    let strict = MispFilter::default();
    let loose = MispFilter {
        to_ids_only: false,
        warninglists: false,
        ..MispFilter::default()
    };
    let mut out = Intake::default();
    let _ = misp_event(&text, &strict, n, &mut out);
    check(&out);
    let mut out = Intake::default();
    let _ = misp_event_file(&text, &loose, n, &mut out);
    check(&out);
    let mut out = Intake::default();
    if let Ok((count, _newest)) = misp_attributes(&text, &loose, n, &mut out) {
        assert!(
            out.offered as usize <= count,
            "offered more than the page held"
        );
    }
    check(&out);
});
