//! The privileged helper: enforcement for a Suricata that runs as an unprivileged user.
//!
//! Suricata's `run-as` drops root after start-up, and with it CAP_NET_ADMIN: an `nft`
//! started by the plugin then changes nothing. With `[enforce] helper = SOCKET`, the
//! plugin's enforcer asks `suriguard-nft-helper` instead, a small service that holds only
//! CAP_NET_ADMIN and listens on a unix socket. Its protocol is narrow on purpose:
//!
//! ```text
//! {"op":"setup"}                                     create or refresh our table, sets,
//!                                                    chains; the allow sets are filled
//!                                                    from the helper's own configuration
//! {"op":"apply","ops":[                              add or delete elements of our block,
//!   {"op":"add","set":"block","target":"203.0.113.7","timeout":3600},
//!   {"op":"delete","set":"rate-limit","target":"192.168.1.10","limit":{"proto":"tcp","port":80}}]}
//! ```
//!
//! One request per connection, one JSON line each way (`{"ok":true}` or `{"ok":false,
//! "kind":…,"error":…}`). The helper checks the peer's credentials (SO_PEERCRED) before
//! reading anything, refuses unknown fields and operations, targets its own
//! configuration protects (allowlist, allowlist file, own addresses, the gateway),
//! timeouts beyond [`MAX_TIMEOUT`], and more than [`MAX_OPS`] changes at once; the table,
//! set names, chains and rules are never the client's to choose. Every refusal is logged
//! with the peer's uid and pid.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use suriguard_net::{AllowWatch, Cidr, NetworkConfig, NetworkModel, ALLOWLIST_CHECK_EVERY};

use crate::nft::{Nft, NftError, Op};
use crate::{EnforceConfig, Limit, SetKind};

/// Largest request line, bytes (50,000 changes fit).
pub const MAX_REQUEST: usize = 8 << 20;
/// Most changes in one request (the enforcer's restore sends at most this many).
pub const MAX_OPS: usize = 50_000;
/// Longest element timeout the helper accepts, seconds (90 days).
pub const MAX_TIMEOUT: u64 = 90 * 86_400;
/// How long the client waits for an answer (a large restore takes seconds).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the helper waits for a client's request.
const SERVER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Narrowest prefixes a block may name: /8 for IPv4, /32 for IPv6.
const MIN_PREFIX_V4: u8 = 8;
const MIN_PREFIX_V6: u8 = 32;

/// A request, exactly as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    Setup {},
    Apply { ops: Vec<WireOp> },
}

/// One change, exactly as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum WireOp {
    Add {
        set: SetKind,
        target: Cidr,
        timeout: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<Limit>,
    },
    Delete {
        set: SetKind,
        target: Cidr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<Limit>,
    },
}

/// The answer line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    /// `refused` (outside the protocol), `missing`, `permission`, `failed` (nft's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Adds left out because the helper's configuration protects their target (the rest
    /// of the request was done): `TARGET: why`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl Answer {
    fn ok() -> Answer {
        Answer {
            ok: true,
            kind: None,
            error: None,
            skipped: Vec::new(),
        }
    }

    fn refused(why: impl Into<String>) -> Answer {
        Answer {
            ok: false,
            kind: Some("refused".into()),
            error: Some(why.into()),
            skipped: Vec::new(),
        }
    }

    fn from_nft(e: &NftError) -> Answer {
        let kind = match e {
            NftError::Missing(_) => "missing",
            NftError::Permission(_) => "permission",
            _ => "failed",
        };
        Answer {
            ok: false,
            kind: Some(kind.into()),
            error: Some(e.to_string()),
            skipped: Vec::new(),
        }
    }

    /// The error the client's caller sees (the enforcer treats `missing` as "set up
    /// again", as it does for nft's own).
    fn into_result(self) -> Result<(), NftError> {
        if self.ok {
            return Ok(());
        }
        let msg = format!("helper: {}", self.error.unwrap_or_default());
        Err(match self.kind.as_deref() {
            Some("missing") => NftError::Missing(msg),
            Some("permission") => NftError::Permission(msg),
            _ => NftError::Failed(msg),
        })
    }
}

/// The wire form of `ops` (a flush is not in the protocol).
pub fn wire_ops(ops: &[Op]) -> Result<Vec<WireOp>, NftError> {
    ops.iter()
        .map(|op| {
            match *op {
            Op::Add {
                kind,
                target,
                limit,
                timeout_secs,
            } => Ok(WireOp::Add {
                set: kind,
                target,
                timeout: timeout_secs,
                limit,
            }),
            Op::Delete {
                kind,
                target,
                limit,
            } => Ok(WireOp::Delete {
                set: kind,
                target,
                limit,
            }),
            Op::Flush => Err(NftError::Failed(
                "a flush is not in the helper's protocol (run suriguardctl decisions flush as root)"
                    .into(),
            )),
        }
        })
        .collect()
}

/// Sends one request to the helper at `socket` and waits for its answer.
pub fn call(socket: &Path, req: &Request) -> Result<(), NftError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        NftError::Failed(format!("helper {}: cannot {what}: {e}", socket.display()))
    };
    let mut s = UnixStream::connect(socket).map_err(|e| fail("connect", &e))?;
    let _ = s.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = s.set_write_timeout(Some(CLIENT_TIMEOUT));
    let mut line = serde_json::to_vec(req).map_err(|e| fail("encode the request", &e))?;
    line.push(b'\n');
    s.write_all(&line).map_err(|e| fail("send", &e))?;
    let mut answer = String::new();
    BufReader::new(s)
        .take(64 << 10)
        .read_line(&mut answer)
        .map_err(|e| fail("read the answer", &e))?;
    let a: Answer = serde_json::from_str(answer.trim_end())
        .map_err(|e| fail("read the answer", &format!("{e} in {answer:?}")))?;
    a.into_result()
}

/// Who may talk to the helper: root, and the users named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    pub uids: Vec<u32>,
}

impl Peers {
    pub fn allows(&self, uid: u32) -> bool {
        uid == 0 || self.uids.contains(&uid)
    }
}

/// A user name's uid from /etc/passwd (or a number as it is).
pub fn uid_of(user: &str) -> Option<u32> {
    if let Ok(n) = user.parse() {
        return Some(n);
    }
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == user).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// The helper's side: its own configuration decides the table, the rules and what is
/// protected.
pub struct Helper {
    nft: Nft,
    network: NetworkConfig,
    net: NetworkModel,
    watch: Option<AllowWatch>,
    peers: Peers,
}

impl Helper {
    pub fn new(cfg: EnforceConfig, network: NetworkConfig, peers: Peers) -> Helper {
        let watch = network
            .allowlist_file
            .clone()
            .map(|p| AllowWatch::new(p, ALLOWLIST_CHECK_EVERY));
        let (net, problems) = network.model_checked();
        for p in problems {
            tracing::warn!("{p}");
        }
        Helper {
            nft: Nft::new(cfg),
            network,
            net,
            watch,
            peers,
        }
    }

    /// Serves connections one after another until `listener` fails.
    pub fn serve(&mut self, listener: &UnixListener) -> std::io::Result<()> {
        loop {
            match listener.accept() {
                Ok((stream, _)) => self.handle(stream),
                // A broken socket or listener is the end; anything else (a client gone
                // before the accept, out of descriptors for a moment) is not.
                // EBADF, EINVAL.
                Err(e) if matches!(e.raw_os_error(), Some(9 | 22)) => return Err(e),
                Err(e) => {
                    tracing::warn!("accept failed: {e}; going on");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// One connection: the peer checked, one request read, checked, done, answered.
    pub fn handle(&mut self, mut stream: UnixStream) {
        let cred = match rustix::net::sockopt::socket_peercred(&stream) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("refused a connection: cannot read its credentials: {e}");
                return;
            }
        };
        let (uid, pid) = (cred.uid.as_raw(), cred.pid.as_raw_nonzero().get());
        if !self.peers.allows(uid) {
            tracing::warn!("refused a connection from uid {uid} (pid {pid}): not an allowed user");
            answer(
                &mut stream,
                &Answer::refused("this user may not use the helper"),
            );
            return;
        }
        let outcome = read_request(&stream).and_then(|line| {
            serde_json::from_slice::<Request>(&line)
                .map_err(|e| format!("not in the protocol: {e}"))
                .and_then(|req| self.check(req))
        });
        let a = match outcome {
            Err(why) => {
                tracing::warn!("refused a request from uid {uid} (pid {pid}): {why}");
                Answer::refused(why)
            }
            Ok(Checked::Setup) => Helper::answer_for(self.nft.setup(&self.net.never_blocked())),
            Ok(Checked::Apply(ops, skipped)) => {
                if !skipped.is_empty() {
                    tracing::warn!(
                        "left out {} add(s) from uid {uid} (pid {pid}), protected here: {}",
                        skipped.len(),
                        skipped.join("; ")
                    );
                }
                // (nothing left to apply is a success: `apply` of no change does nothing)
                let mut a = Helper::answer_for(self.nft.apply(&ops));
                a.skipped = skipped;
                a
            }
        };
        answer(&mut stream, &a);
    }

    /// nft's outcome as the answer (a failure logged here too).
    fn answer_for(r: Result<(), NftError>) -> Answer {
        match r {
            Ok(()) => Answer::ok(),
            Err(e) => {
                tracing::error!("{e}");
                Answer::from_nft(&e)
            }
        }
    }

    /// The allowlist file re-read when it changed.
    fn refresh(&mut self) {
        if let Some(w) = self.watch.as_mut() {
            if w.changed(Instant::now()) {
                let (net, problems) = self.network.model_checked();
                for p in problems {
                    tracing::warn!("{p}");
                }
                self.net = net;
            }
        }
    }

    /// A request within the protocol's bounds, as nft operations.
    fn check(&mut self, req: Request) -> Result<Checked, String> {
        self.refresh();
        let ops = match req {
            Request::Setup {} => return Ok(Checked::Setup),
            Request::Apply { ops } => ops,
        };
        if ops.is_empty() || ops.len() > MAX_OPS {
            return Err(format!("{} changes (1 to {MAX_OPS} allowed)", ops.len()));
        }
        // A malformed change refuses the request; an add against a target protected
        // here is left out and said (the plugin's view of the allowlist file may lag the
        // helper's by a moment: that must not stop a whole restore).
        let mut done = Vec::with_capacity(ops.len());
        let mut skipped = Vec::new();
        for op in ops {
            match self.check_op(op)? {
                Ok(op) => done.push(op),
                Err(why) => skipped.push(why),
            }
        }
        Ok(Checked::Apply(done, skipped))
    }

    /// `Err`: outside the protocol; `Ok(Err)`: an add against a protected target.
    fn check_op(&self, op: WireOp) -> Result<Result<Op, String>, String> {
        let (set, target, limit) = match &op {
            WireOp::Add {
                set, target, limit, ..
            }
            | WireOp::Delete { set, target, limit } => (*set, *target, *limit),
        };
        let min = if target.addr().is_ipv4() {
            MIN_PREFIX_V4
        } else {
            MIN_PREFIX_V6
        };
        match set {
            SetKind::Block if target.prefix_len() < min => {
                return Err(format!("{target}: prefixes wider than /{min} are refused"))
            }
            SetKind::Quarantine | SetKind::RateLimit if !target.is_host() => {
                return Err(format!("{target}: a {} names one address", set.as_str()))
            }
            _ => {}
        }
        if (set == SetKind::RateLimit) != limit.is_some() {
            return Err(format!(
                "{target}: a service is named for rate limits, and only for them"
            ));
        }
        Ok(Ok(match op {
            WireOp::Add { timeout, .. } => {
                if !(1..=MAX_TIMEOUT).contains(&timeout) {
                    return Err(format!(
                        "{target}: timeout {timeout} s (1 to {MAX_TIMEOUT} allowed)"
                    ));
                }
                if let Some(why) = self.net.protected_cidr(&target) {
                    return Ok(Err(format!("{target}: {why}")));
                }
                Op::Add {
                    kind: set,
                    target,
                    limit,
                    timeout_secs: timeout,
                }
            }
            // Lifting is always allowed: it is how an allowlisted address gets out.
            WireOp::Delete { .. } => Op::Delete {
                kind: set,
                target,
                limit,
            },
        }))
    }
}

enum Checked {
    Setup,
    /// What to apply, and the adds left out (protected here).
    Apply(Vec<Op>, Vec<String>),
}

/// One request line, read within [`SERVER_READ_TIMEOUT`] in all (not per read: a client
/// trickling bytes cannot hold the helper) and at most [`MAX_REQUEST`] bytes.
fn read_request(mut stream: &UnixStream) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + SERVER_READ_TIMEOUT;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "the request took longer than {} s",
                SERVER_READ_TIMEOUT.as_secs()
            ));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| format!("cannot read the request: {e}"))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => {
                let start = buf.len();
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf[start..].iter().position(|&b| b == b'\n') {
                    buf.truncate(start + p + 1);
                    return Ok(buf);
                }
                if buf.len() > MAX_REQUEST {
                    return Err(format!("request larger than {MAX_REQUEST} bytes"));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "the request took longer than {} s",
                    SERVER_READ_TIMEOUT.as_secs()
                ))
            }
            Err(e) => return Err(format!("cannot read the request: {e}")),
        }
    }
}

fn answer(stream: &mut UnixStream, a: &Answer) {
    let _ = stream.set_write_timeout(Some(SERVER_READ_TIMEOUT));
    if let Ok(mut line) = serde_json::to_vec(a) {
        line.push(b'\n');
        let _ = stream.write_all(&line);
    }
}

/// Binds `socket` (replacing a stale one) with mode 0660: the service's group (the one
/// Suricata runs as) may connect, nobody else.
pub fn bind(socket: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let l = UnixListener::bind(socket)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> Helper {
        let network = NetworkConfig {
            allowlist: vec!["198.51.100.0/24".parse().unwrap()],
            own_addresses: vec!["192.168.1.1".parse().unwrap()],
            ..NetworkConfig::default()
        };
        Helper::new(
            EnforceConfig::default(),
            network,
            Peers { uids: vec![1000] },
        )
    }

    fn check(line: &str) -> Result<Vec<Op>, String> {
        let req: Request =
            serde_json::from_str(line).map_err(|e| format!("not in the protocol: {e}"))?;
        match helper().check(req)? {
            Checked::Setup => Ok(Vec::new()),
            Checked::Apply(ops, skipped) if skipped.is_empty() => Ok(ops),
            Checked::Apply(_, skipped) => Err(format!("skipped: {}", skipped.join("; "))),
        }
    }

    #[test]
    fn the_wire_form_round_trips_what_the_enforcer_sends() {
        let ops = vec![
            Op::Add {
                kind: SetKind::Block,
                target: "203.0.113.7".parse().unwrap(),
                limit: None,
                timeout_secs: 3600,
            },
            Op::Delete {
                kind: SetKind::RateLimit,
                target: "192.168.1.10".parse().unwrap(),
                limit: Some(Limit {
                    proto: crate::L4::Tcp,
                    port: 80,
                }),
            },
        ];
        let req = Request::Apply {
            ops: wire_ops(&ops).unwrap(),
        };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(
            line,
            r#"{"op":"apply","ops":[{"op":"add","set":"block","target":"203.0.113.7","timeout":3600},{"op":"delete","set":"rate-limit","target":"192.168.1.10","limit":{"proto":"tcp","port":80}}]}"#
        );
        assert_eq!(check(&line).unwrap(), ops);
        assert!(wire_ops(&[Op::Flush]).is_err());
    }

    #[test]
    fn anything_outside_the_protocol_is_refused_with_a_reason() {
        for (line, why) in [
            (r#"{"op":"flush"}"#, "not in the protocol"),
            (
                r#"{"op":"setup","allow":["0.0.0.0/0"]}"#,
                "not in the protocol",
            ),
            (
                r#"{"op":"apply","ops":[{"op":"add","set":"allow","target":"203.0.113.7","timeout":60}]}"#,
                "not in the protocol",
            ),
            (
                r#"{"op":"apply","ops":[{"op":"add","set":"block","target":"203.0.113.7","timeout":60,"table":"filter"}]}"#,
                "not in the protocol",
            ),
            (r#"{"op":"apply","ops":[]}"#, "0 changes"),
            (
                r#"{"op":"apply","ops":[{"op":"add","set":"block","target":"198.51.100.9","timeout":60}]}"#,
                "allowlisted",
            ),
            (
                r#"{"op":"apply","ops":[{"op":"add","set":"block","target":"192.168.1.1","timeout":60}]}"#,
                "own or gateway",
            ),
            (
                r#"{"op":"apply","ops":[{"op":"add","set":"block","target":"0.0.0.0/0","timeout":60}]}"#,
                "wider than /8",
            ),
            (
                r#"{"op":"apply","ops":[{"op":"add","set":"quarantine","target":"192.168.1.0/24","timeout":60}]}"#,
                "names one address",
            ),
            (
                r#"{"op":"apply","ops":[{"op":"add","set":"block","target":"203.0.113.7","timeout":0}]}"#,
                "timeout 0 s",
            ),
            (
                r#"{"op":"apply","ops":[{"op":"add","set":"rate-limit","target":"192.168.1.10","timeout":60}]}"#,
                "a service is named",
            ),
        ] {
            let e = check(line).expect_err(line);
            assert!(e.contains(why), "{line}: {e}");
        }
        // Protected targets are left out of a request, the rest done.
        let req: Request = serde_json::from_str(
            r#"{"op":"apply","ops":[{"op":"add","set":"block","target":"198.51.100.9","timeout":60},{"op":"add","set":"block","target":"203.0.113.9","timeout":60}]}"#,
        )
        .unwrap();
        match helper().check(req).unwrap() {
            Checked::Apply(ops, skipped) => {
                assert_eq!(ops.len(), 1);
                assert_eq!(skipped, vec!["198.51.100.9: allowlisted".to_owned()]);
            }
            Checked::Setup => panic!("not a setup"),
        }
        // Lifting a protected address is allowed (that is how it gets out of a set).
        let ops = check(
            r#"{"op":"apply","ops":[{"op":"delete","set":"block","target":"198.51.100.9"}]}"#,
        )
        .unwrap();
        assert_eq!(ops.len(), 1);
    }

    #[test]
    fn peers_are_root_and_the_named_users() {
        let p = Peers { uids: vec![1000] };
        assert!(p.allows(0) && p.allows(1000) && !p.allows(1001));
        assert_eq!(uid_of("root"), Some(0));
        assert_eq!(uid_of("4242"), Some(4242));
        assert_eq!(uid_of("no-such-user-here"), None);
    }
}
