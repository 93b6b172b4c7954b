//! The local web console's settings and its safety logic, independent of the web stack
//! that serves it (`suriguardctl serve`): passwords (Argon2id hashes in the
//! configuration), sessions, CSRF tokens, the login rate limit, and the bearer token for
//! scripts.
//!
//! Two roles: `admin` (every page and every change) and `viewer` (pages only), each with
//! its own password hash. A session is a random 256-bit id in an HttpOnly, SameSite=Strict
//! cookie (Secure under TLS) with its own random CSRF token, which every form carries
//! and every state change must present; sessions expire after `session-hours` and live
//! in memory only (a restart logs everyone out). Failed logins are limited per client
//! address and overall.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::secret::{Secret, SecretRef};

/// `[console]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ConsoleConfig {
    /// Where to listen (`suriguardctl serve --listen` overrides).
    pub listen: SocketAddr,
    /// Argon2id PHC string of the admin password (`suriguardctl serve passwd`).
    pub password_hash: Option<String>,
    /// Argon2id PHC string of the read-only (viewer) password, if there is one.
    pub viewer_password_hash: Option<String>,
    /// A bearer token for scripts (`Authorization: Bearer …`): admin rights, no CSRF (it
    /// is never sent by a browser on its own).
    pub token: Option<SecretRef>,
    /// TLS certificate chain and key (PEM); both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Hours a session lasts.
    pub session_hours: f64,
    /// Whether a device alert asking for it (`"block": true`) may become a decision
    /// against the address it names (through the same protections and caps as every
    /// decision); otherwise such alerts are incidents only.
    pub device_decisions: bool,
    /// Seconds a device-requested block lasts.
    pub device_decision_ttl: u64,
    /// Requests per minute accepted from one device.
    pub device_rate_limit: u32,
    /// Largest request body from a device, bytes.
    pub device_max_body: usize,
    /// Largest difference between a request's timestamp and the console's clock, seconds.
    pub device_max_skew: i64,
    /// The EVE log whose tail the device page summarises (recent flows, peers, alerts).
    pub eve_log: PathBuf,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            password_hash: None,
            viewer_password_hash: None,
            token: None,
            tls_cert: None,
            tls_key: None,
            session_hours: 12.0,
            device_decisions: false,
            device_decision_ttl: 3600,
            device_rate_limit: 30,
            device_max_body: 8192,
            device_max_skew: 300,
            eve_log: PathBuf::from("/var/log/suricata/eve.json"),
        }
    }
}

impl suriguard_config::Section for ConsoleConfig {
    const NAME: &'static str = "console";

    fn validate(&self) -> Result<(), String> {
        ConsoleConfig::validate(self).map_err(|e| e.to_string())
    }
}

impl ConsoleConfig {
    pub fn validate(&self) -> Result<(), Error> {
        for (key, hash) in [
            ("password-hash", &self.password_hash),
            ("viewer-password-hash", &self.viewer_password_hash),
        ] {
            if let Some(h) = hash {
                PasswordHash::new(h).map_err(|e| {
                    Error::invalid(
                        "console",
                        format!("{key} is not a PHC password hash ({e}); write one with `suriguardctl serve passwd`"),
                    )
                })?;
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Error::invalid(
                "console",
                "tls-cert and tls-key go together: set both or neither",
            ));
        }
        if !(1..=6000).contains(&self.device_rate_limit)
            || !(256..=1 << 20).contains(&self.device_max_body)
            || !(5..=3600).contains(&self.device_max_skew)
            || !(1..=30 * 86400).contains(&self.device_decision_ttl)
        {
            return Err(Error::invalid(
                "console",
                "device-rate-limit must be 1..6000 per minute, device-max-body 256..1048576 bytes, device-max-skew 5..3600 s, device-decision-ttl 1 s..30 days",
            ));
        }
        if !(self.session_hours > 0.0 && self.session_hours <= 24.0 * 30.0) {
            return Err(Error::invalid(
                "console",
                "session-hours must be more than 0 and at most 720",
            ));
        }
        Ok(())
    }

    pub fn tls(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// The role a password opens, if any.
    pub fn check_password(&self, password: &str) -> Option<Role> {
        let ok = |hash: &Option<String>| {
            hash.as_deref()
                .and_then(|h| PasswordHash::new(h).ok())
                .is_some_and(|h| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &h)
                        .is_ok()
                })
        };
        if ok(&self.password_hash) {
            Some(Role::Admin)
        } else if ok(&self.viewer_password_hash) {
            Some(Role::Viewer)
        } else {
            None
        }
    }

    /// The bearer token's value, if one is configured and can be read.
    pub fn token(&self) -> Option<Result<Secret, Error>> {
        self.token.as_ref().map(SecretRef::resolve)
    }
}

/// An Argon2id PHC string of `password` with a random salt (`serve passwd`).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid("console", format!("cannot hash the password: {e}")))
}

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn may_change(self) -> bool {
        self == Role::Admin
    }
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub role: Role,
    /// Who, for the journal: `admin@ADDR` or `viewer@ADDR`.
    pub who: String,
    pub csrf: String,
    expires: Instant,
}

/// 256 random bits as 64 hex digits.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    argon2::password_hash::rand_core::RngCore::fill_bytes(&mut OsRng, &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sessions in memory, bounded.
#[derive(Debug)]
pub struct Sessions {
    by_id: HashMap<String, Session>,
    lifetime: Duration,
}

/// Sessions kept at most; the oldest goes first.
pub const MAX_SESSIONS: usize = 256;

impl Sessions {
    pub fn new(lifetime: Duration) -> Self {
        Sessions {
            by_id: HashMap::new(),
            lifetime,
        }
    }

    /// Opens a session; returns its id (the cookie's value).
    pub fn open(&mut self, role: Role, client: IpAddr, now: Instant) -> (String, Session) {
        self.by_id.retain(|_, s| s.expires > now);
        if self.by_id.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .by_id
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            {
                self.by_id.remove(&oldest);
            }
        }
        let id = random_token();
        let s = Session {
            role,
            who: format!("{}@{client}", role.as_str()),
            csrf: random_token(),
            expires: now + self.lifetime,
        };
        self.by_id.insert(id.clone(), s.clone());
        (id, s)
    }

    /// The live session with this id.
    pub fn get(&self, id: &str, now: Instant) -> Option<&Session> {
        self.by_id.get(id).filter(|s| s.expires > now)
    }

    pub fn close(&mut self, id: &str) {
        self.by_id.remove(id);
    }
}

/// Failed logins allowed per client address within [`LOGIN_WINDOW`], and overall.
pub const LOGIN_FAILURES_PER_CLIENT: u32 = 5;
pub const LOGIN_FAILURES_OVERALL: u32 = 50;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(300);

/// Failures per client address and overall within a window (a fixed window per key),
/// for logins and for unauthenticated device requests. An attempt is counted when it
/// starts ([`FailureLimiter::attempt`]), so parallel attempts cannot all pass the check
/// before one failure is recorded; a success gives its count back.
#[derive(Debug)]
pub struct FailureLimiter {
    per_client: HashMap<IpAddr, (Instant, u32)>,
    overall: Option<(Instant, u32)>,
    per_client_max: u32,
    overall_max: u32,
    window: Duration,
}

/// Client addresses tracked at most (beyond, only the overall count grows).
const MAX_TRACKED_CLIENTS: usize = 4096;

impl FailureLimiter {
    pub fn new(per_client_max: u32, overall_max: u32, window: Duration) -> Self {
        FailureLimiter {
            per_client: HashMap::new(),
            overall: None,
            per_client_max,
            overall_max,
            window,
        }
    }

    /// The login limits ([`LOGIN_FAILURES_PER_CLIENT`], [`LOGIN_FAILURES_OVERALL`]).
    pub fn logins() -> Self {
        FailureLimiter::new(
            LOGIN_FAILURES_PER_CLIENT,
            LOGIN_FAILURES_OVERALL,
            LOGIN_WINDOW,
        )
    }

    fn expire(&mut self, now: Instant) {
        let window = self.window;
        self.per_client
            .retain(|_, e| now.duration_since(e.0) < window);
        if self
            .overall
            .is_some_and(|e| now.duration_since(e.0) >= window)
        {
            self.overall = None;
        }
    }

    /// Whether `client` may try now; if so, the try is counted as a failure until
    /// [`FailureLimiter::succeeded`] gives it back.
    pub fn attempt(&mut self, client: IpAddr, now: Instant) -> bool {
        self.expire(now);
        let mine = self.per_client.get(&client).map_or(0, |e| e.1);
        let all = self.overall.map_or(0, |e| e.1);
        if mine >= self.per_client_max || all >= self.overall_max {
            return false;
        }
        if self.per_client.len() < MAX_TRACKED_CLIENTS || self.per_client.contains_key(&client) {
            self.per_client.entry(client).or_insert((now, 0)).1 += 1;
        }
        self.overall.get_or_insert((now, 0)).1 += 1;
        true
    }

    /// The attempt succeeded: it is not a failure, and the client's count starts over.
    pub fn succeeded(&mut self, client: IpAddr) {
        self.per_client.remove(&client);
        if let Some(o) = self.overall.as_mut() {
            o.1 = o.1.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_open_their_role_only() {
        let cfg = ConsoleConfig {
            password_hash: Some(hash_password("correct horse").unwrap()),
            viewer_password_hash: Some(hash_password("battery staple").unwrap()),
            ..ConsoleConfig::default()
        };
        cfg.validate().unwrap();
        assert_eq!(cfg.check_password("correct horse"), Some(Role::Admin));
        assert_eq!(cfg.check_password("battery staple"), Some(Role::Viewer));
        assert_eq!(cfg.check_password("correct horse "), None);
        assert_eq!(cfg.check_password(""), None);
        assert_eq!(ConsoleConfig::default().check_password(""), None);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = ConsoleConfig {
            password_hash: Some("hunter2".into()),
            ..ConsoleConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("password-hash"));
        let half_tls = ConsoleConfig {
            tls_cert: Some("/x.crt".into()),
            ..ConsoleConfig::default()
        };
        assert!(half_tls
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tls-key"));
    }

    #[test]
    fn sessions_expire_and_are_bounded() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let (id, sess) = s.open(Role::Viewer, ip, t0);
        assert_eq!(id.len(), 64);
        assert_ne!(id, sess.csrf);
        assert!(s.get(&id, t0 + Duration::from_secs(59)).is_some());
        assert!(s.get(&id, t0 + Duration::from_secs(61)).is_none());
        for _ in 0..MAX_SESSIONS + 10 {
            s.open(Role::Admin, ip, t0);
        }
        assert!(s.by_id.len() <= MAX_SESSIONS);
    }

    #[test]
    fn logins_are_limited_per_client_and_overall() {
        let t0 = Instant::now();
        let mut l = FailureLimiter::logins();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        // Attempts count when they start: parallel ones cannot all slip through.
        for _ in 0..LOGIN_FAILURES_PER_CLIENT {
            assert!(l.attempt(a, t0));
        }
        assert!(!l.attempt(a, t0));
        assert!(l.attempt(b, t0));
        l.succeeded(b);
        assert!(l.attempt(a, t0 + LOGIN_WINDOW + Duration::from_secs(1)));
        let mut overall = FailureLimiter::new(100, 3, LOGIN_WINDOW);
        for k in 0..3u8 {
            assert!(overall.attempt(IpAddr::from([10, 0, 0, k]), t0));
        }
        assert!(!overall.attempt(IpAddr::from([10, 0, 0, 9]), t0));
        overall.succeeded(IpAddr::from([10, 0, 0, 0]));
        assert!(overall.attempt(IpAddr::from([10, 0, 0, 9]), t0));
        assert!(
            same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab")
        );
    }
}
