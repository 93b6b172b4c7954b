//! A MISP feed's `manifest.json`: every UUID it returns must be safe as a file name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suriguard_intel::formats::misp_manifest;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(uuids) = misp_manifest(&text) {
        for u in uuids {
            assert_eq!(u.len(), 36);
            assert!(
                u.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
                "{u:?}"
            );
        }
    }
});
