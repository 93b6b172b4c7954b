//! Indicator normalisation. The input is `HINT\nVALUE` (no newline: the whole input is
//! the value, tried under every hint the readers use). Accepted values must be in
//! canonical form: normalising one again gives it back (deduplication keys on it).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use suriguard_intel::indicator::domain_name;
use suriguard_intel::{Normalizer, Sides};

fn normalizer() -> &'static Normalizer {
    static N: OnceLock<Normalizer> = OnceLock::new();
    N.get_or_init(Normalizer::default)
}

const HINTS: &[&str] = &[
    "ip-src",
    "ip-dst|port",
    "domain",
    "domain|ip",
    "hostname|port",
    "url",
    "md5",
    "sha256",
    "filename|sha1",
    "ja3",
    "hash",
    "email-src",
];

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let n = normalizer();
    match s.split_once('\n') {
        Some((hint, value)) => {
            if let Ok(v) = n.normalize(hint, value) {
                assert!(!v.is_empty(), "empty result for {hint:?}");
            }
        }
        None => {
            for hint in HINTS {
                if let Ok(v) = n.normalize(hint, s) {
                    assert!(!v.is_empty(), "empty result for {hint:?}");
                }
            }
        }
    }
    let value = s.split_once('\n').map_or(s, |(_, v)| v);
    if let Ok(i) = n.address(value, Sides::BOTH) {
        assert_eq!(
            n.address(&i.value, Sides::BOTH).as_ref().map(|j| &j.value),
            Ok(&i.value),
            "address not canonical"
        );
    }
    if let Ok(d) = domain_name(value) {
        assert_eq!(domain_name(&d).as_ref(), Ok(&d), "domain not canonical");
    }
    let _ = n.domain(value);
    let _ = n.url(value);
});
