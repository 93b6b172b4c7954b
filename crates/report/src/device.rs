//! The device alert API's rules, independent of the server: what a signed request looks
//! like, how it is checked, and what an accepted alert becomes.
//!
//! A device holds a secret (`suriguardctl devices token add NAME` prints it once). It
//! signs with the key `K = SHA-256(secret)` (hex digits as text, the form `sha256sum`
//! prints, decoded to 32 bytes); the store keeps `K` only, never the secret. (An HMAC
//! can only be checked with its key, so whoever reads the store can sign as the
//! device: the store is the console's, mode 0600, and `devices token delete` revokes.)
//!
//! ```text
//! POST /api/v1/device-alerts
//! X-Suriguard-Device: NAME
//! X-Suriguard-Timestamp: UNIX-SECONDS
//! X-Suriguard-Nonce: 16..64 of [A-Za-z0-9_-], never reused
//! X-Suriguard-Signature: hex(HMAC-SHA256(K, "v1\n" TIMESTAMP "\n" NONCE "\n" BODY))
//! Content-Type: application/json
//!
//! {"severity": 1, "signature": "telnet login with factory password",
//!  "src_ip": "203.0.113.9", "dest_port": 23, "proto": "tcp", "block": true}
//! ```

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::incident::{Incident, Origin};

/// Why a request was refused, with the HTTP status it gets and its counter label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A header missing or malformed.
    BadRequest,
    /// More than `max-body` bytes.
    TooLarge,
    UnknownDevice,
    BadSignature,
    /// The timestamp is further than `max-skew` seconds from now.
    StaleTimestamp,
    /// The nonce was used before by this device.
    ReplayedNonce,
    /// More requests than `device-rate-limit` per minute from this device.
    RateLimited,
    /// The body is not an alert of the schema.
    BadAlert,
    /// Too many requests without a valid signature from this client (or overall).
    TooManyFailures,
    /// The console could not use its store.
    Unavailable,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadRequest => 400,
            Refusal::TooLarge => 413,
            Refusal::UnknownDevice | Refusal::BadSignature | Refusal::StaleTimestamp => 401,
            Refusal::ReplayedNonce => 409,
            Refusal::RateLimited | Refusal::TooManyFailures => 429,
            Refusal::BadAlert => 422,
            Refusal::Unavailable => 503,
        }
    }

    /// The `error` a client is told: an unknown device and a bad signature read the
    /// same (`unauthorized`), so names cannot be probed; the counters tell them apart.
    pub fn public(self) -> &'static str {
        match self {
            Refusal::UnknownDevice | Refusal::BadSignature => "unauthorized",
            r => r.as_str(),
        }
    }

    /// The counter label and the `error` of the JSON answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadRequest => "bad-request",
            Refusal::TooLarge => "too-large",
            Refusal::UnknownDevice => "unknown-device",
            Refusal::BadSignature => "bad-signature",
            Refusal::StaleTimestamp => "stale-timestamp",
            Refusal::ReplayedNonce => "replayed-nonce",
            Refusal::RateLimited => "rate-limited",
            Refusal::BadAlert => "bad-alert",
            Refusal::TooManyFailures => "too-many-failures",
            Refusal::Unavailable => "unavailable",
        }
    }
}

/// The signed headers, as received.
#[derive(Debug, Clone)]
pub struct Signed<'a> {
    pub device: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub signature: &'a str,
}

/// A device name: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The key a device signs with, as the store keeps it: SHA-256 of its secret, hex.
pub fn key_of(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The HMAC of a request under `key_hex`, fed the signed string
/// (`"v1\n" TIMESTAMP "\n" NONCE "\n" BODY`); `None` for a key that is not hex.
fn mac_of(key_hex: &str, timestamp: &str, nonce: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let key = unhex(key_hex)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    for part in [
        b"v1\n",
        timestamp.as_bytes(),
        b"\n",
        nonce.as_bytes(),
        b"\n",
        body,
    ] {
        mac.update(part);
    }
    Some(mac)
}

/// The signature of a request (hex), as a device computes it.
pub fn sign(key_hex: &str, timestamp: &str, nonce: &str, body: &[u8]) -> Option<String> {
    Some(hex(&mac_of(key_hex, timestamp, nonce, body)?
        .finalize()
        .into_bytes()))
}

/// The headers' form (before any lookup): the timestamp as Unix seconds.
pub fn check_form(s: &Signed<'_>) -> Result<i64, Refusal> {
    let nonce_ok = (16..=64).contains(&s.nonce.len())
        && s.nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let sig_ok = s.signature.len() == 64 && s.signature.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid_name(s.device) || !nonce_ok || !sig_ok {
        return Err(Refusal::BadRequest);
    }
    s.timestamp.parse::<i64>().map_err(|_| Refusal::BadRequest)
}

/// Checks the timestamp against `now` and the signature against the device's key
/// (constant time), in that order.
pub fn verify(
    s: &Signed<'_>,
    ts: i64,
    body: &[u8],
    key_hex: &str,
    now: i64,
    max_skew: i64,
) -> Result<(), Refusal> {
    if ts.abs_diff(now) > max_skew.unsigned_abs() {
        return Err(Refusal::StaleTimestamp);
    }
    let want = unhex(s.signature).ok_or(Refusal::BadSignature)?;
    let mac = mac_of(key_hex, s.timestamp, s.nonce, body).ok_or(Refusal::BadSignature)?;
    mac.verify_slice(&want).map_err(|_| Refusal::BadSignature)
}

/// What a device reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceAlert {
    /// 1 (most severe) to 3, as Suricata's.
    pub severity: u8,
    /// What the device saw, one line (at most 200 characters).
    pub signature: String,
    #[serde(default)]
    pub category: Option<String>,
    /// The address the device accuses (the one a block would be against).
    #[serde(default)]
    pub src_ip: Option<IpAddr>,
    #[serde(default)]
    pub src_port: Option<u16>,
    #[serde(default)]
    pub dest_ip: Option<IpAddr>,
    #[serde(default)]
    pub dest_port: Option<u16>,
    #[serde(default)]
    pub proto: Option<String>,
    /// More text (at most 2,000 characters).
    #[serde(default)]
    pub details: Option<String>,
    /// Ask for a decision against `src_ip` (granted only if `[console] device-decisions`).
    #[serde(default)]
    pub block: bool,
}

impl DeviceAlert {
    /// Parses and checks a body.
    pub fn parse(body: &[u8]) -> Result<DeviceAlert, String> {
        let a: DeviceAlert = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if !(1..=3).contains(&a.severity) {
            return Err("severity must be 1, 2 or 3".into());
        }
        let line = |name: &str, v: &str, max: usize| -> Result<(), String> {
            if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
                return Err(format!(
                    "{name} must be 1 to {max} characters without control characters"
                ));
            }
            Ok(())
        };
        line("signature", &a.signature, 200)?;
        if let Some(c) = &a.category {
            line("category", c, 64)?;
        }
        if let Some(p) = &a.proto {
            line("proto", p, 16)?;
        }
        if let Some(d) = &a.details {
            if d.chars().count() > 2000 {
                return Err("details must be at most 2000 characters".into());
            }
        }
        if a.block && a.src_ip.is_none() {
            return Err("block needs src_ip".into());
        }
        Ok(a)
    }

    /// The incident it becomes: an alert like Suricata's, from `device`, keyed by the
    /// device and its nonce (unique).
    pub fn incident(&self, device: &str, nonce: &str, time: &str, time_us: i64) -> Incident {
        Incident {
            origin: Origin::Alert,
            key: format!("device:{device}:{nonce}"),
            time: time.to_owned(),
            time_us,
            severity: self.severity,
            src_ip: self.src_ip.map(|a| a.to_string()),
            src_port: self.src_port,
            dest_ip: self.dest_ip.map(|a| a.to_string()),
            dest_port: self.dest_port,
            proto: self.proto.clone(),
            app_proto: None,
            flow_id: None,
            signature_id: None,
            signature: format!("device {device}: {}", self.signature),
            category: Some(
                self.category
                    .clone()
                    .unwrap_or_else(|| "device alert".into()),
            ),
            action: None,
            http_host: None,
            http_url: None,
            http_user_agent: None,
            dns_query: None,
            tls_sni: None,
            intel_set: None,
            target: None,
            summary: None,
            detail: self.details.clone(),
            confidence: None,
            dry_run: false,
            raw: serde_json::json!({ "device": device, "alert": self }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed<'a>(ts: &'a str, sig: &'a str) -> Signed<'a> {
        Signed {
            device: "cam-1",
            timestamp: ts,
            nonce: "0123456789abcdef",
            signature: sig,
        }
    }

    #[test]
    fn a_signature_verifies_only_with_its_key_time_nonce_and_body() {
        let key = key_of("s3cret");
        assert_eq!(key.len(), 64);
        let body = br#"{"severity":1,"signature":"x"}"#;
        let sig = sign(&key, "1000", "0123456789abcdef", body).unwrap();
        let s = signed("1000", &sig);
        let ts = check_form(&s).unwrap();
        assert_eq!(verify(&s, ts, body, &key, 1000, 300), Ok(()));
        assert_eq!(
            verify(&s, ts, body, &key, 1301, 300),
            Err(Refusal::StaleTimestamp)
        );
        // Extreme timestamps neither overflow nor pass.
        let far = signed("-9223372036854775808", &sig);
        let t = check_form(&far).unwrap();
        assert_eq!(
            verify(&far, t, body, &key, 1000, 300),
            Err(Refusal::StaleTimestamp)
        );
        assert_eq!(
            verify(&s, ts, b"{}", &key, 1000, 300),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(&s, ts, body, &key_of("other"), 1000, 300),
            Err(Refusal::BadSignature)
        );
        let mut other_nonce = s.clone();
        other_nonce.nonce = "0123456789abcdeX";
        assert_eq!(
            verify(&other_nonce, ts, body, &key, 1000, 300),
            Err(Refusal::BadSignature)
        );
        // The same HMAC as openssl's: printf 'v1\n1000\n0123456789abcdef\n{}' |
        // openssl dgst -sha256 -mac HMAC -macopt hexkey:$(printf s3cret | sha256sum | cut -c1-64)
        assert_eq!(
            sign(&key, "1000", "0123456789abcdef", b"{}").unwrap().len(),
            64
        );
    }

    #[test]
    fn malformed_headers_and_bodies_are_refused() {
        let sig = "0".repeat(64);
        assert_eq!(check_form(&signed("12x", &sig)), Err(Refusal::BadRequest));
        assert_eq!(check_form(&signed("12", "zz")), Err(Refusal::BadRequest));
        let mut s = signed("12", &sig);
        s.device = "cam 1";
        assert_eq!(check_form(&s), Err(Refusal::BadRequest));
        for bad in [
            r#"{"severity":0,"signature":"x"}"#,
            r#"{"severity":1,"signature":""}"#,
            r#"{"severity":1,"signature":"x","block":true}"#,
            r#"{"severity":1,"signature":"x","extra":1}"#,
            r#"{"severity":1,"signature":"a\nb"}"#,
        ] {
            assert!(DeviceAlert::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let a = DeviceAlert::parse(
            br#"{"severity":2,"signature":"telnet login","src_ip":"203.0.113.9","block":true}"#,
        )
        .unwrap();
        let inc = a.incident("cam-1", "n0nce0123456789a", "t", 5);
        assert_eq!(inc.key, "device:cam-1:n0nce0123456789a");
        assert_eq!(inc.subject_ip(), Some("203.0.113.9"));
        assert_eq!(inc.signature, "device cam-1: telnet login");
    }
}
