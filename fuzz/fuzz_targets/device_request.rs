//! The device alert API's checks, in the order `ctl/src/serve.rs` `device_request` runs
//! them, with one device whose secret is fixed: `check_form` on the signed headers, the
//! key lookup (one known device), `verify` against a fixed clock and the default skew,
//! then `DeviceAlert::parse` and the incident it becomes.
//!
//! Input: four header lines (device, timestamp, nonce, signature), then the body. A
//! fuzzer cannot forge HMACs, so when the signature line is `SIGN` the target signs the
//! request itself with the right key: the body then reaches `DeviceAlert::parse`.
//! Checked: a correctly signed request with a fresh timestamp verifies, and one with a
//! single signature digit changed does not.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use suriguard_report::device::{check_form, key_of, sign, verify, DeviceAlert, Signed};

const DEVICE: &str = "cam-1";
const SECRET: &str = "fuzzing-secret-not-used-anywhere";
/// 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;
/// `[console] device-max-skew` default.
const MAX_SKEW: i64 = 300;

fn key() -> &'static str {
    static K: OnceLock<String> = OnceLock::new();
    K.get_or_init(|| key_of(SECRET))
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(5, |&b| b == b'\n');
    let mut field = || parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let (Some(device), Some(timestamp), Some(nonce), Some(sig)) =
        (field(), field(), field(), field())
    else {
        return;
    };
    let body = data.splitn(5, |&b| b == b'\n').nth(4).unwrap_or_default();
    let signed_here;
    let signature = if sig == "SIGN" {
        signed_here = sign(key(), timestamp, nonce, body).expect("the key is hex");
        signed_here.as_str()
    } else {
        sig
    };
    let s = Signed {
        device,
        timestamp,
        nonce,
        signature,
    };
    let Ok(ts) = check_form(&s) else {
        return;
    };
    if device != DEVICE {
        return; // UnknownDevice
    }
    let verified = verify(&s, ts, body, key(), NOW, MAX_SKEW);
    let fresh = ts.abs_diff(NOW) <= MAX_SKEW as u64;
    if sig == "SIGN" {
        assert_eq!(verified.is_ok(), fresh, "own signature: {verified:?}");
        // One digit changed must not verify.
        let mut bad = signature.as_bytes().to_vec();
        bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        let tampered = Signed {
            signature: &bad,
            ..s.clone()
        };
        assert!(verify(&tampered, ts, body, key(), NOW, MAX_SKEW).is_err());
    }
    if verified.is_err() {
        return;
    }
    if let Ok(alert) = DeviceAlert::parse(body) {
        assert!((1..=3).contains(&alert.severity));
        assert!(!alert.block || alert.src_ip.is_some());
        let inc = alert.incident(
            s.device,
            s.nonce,
            "2023-11-14T22:13:20.000000+0000",
            NOW * 1_000_000,
        );
        let _ = format!("{inc:?}");
    }
});
