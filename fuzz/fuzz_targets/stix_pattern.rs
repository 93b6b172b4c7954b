//! The STIX 2 pattern reader (`stix_pattern`) alone: tokens, nesting, AND/OR, qualifiers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suriguard_intel::formats::stix_pattern;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = std::str::from_utf8(data) {
        if let Ok(values) = stix_pattern(p) {
            let _ = format!("{values:?}");
        }
    }
});
