//! The nftables backend: our table, sets and chains, built with the `nftables` crate's
//! JSON schema and applied by `nft -j -f -`, one transaction per call.
//!
//! ```text
//! table inet suriguard {
//!   set sg_allow4      { type ipv4_addr; flags interval; }          # allowlist + own addresses
//!   set sg_block4      { type ipv4_addr; flags timeout; }           # blocked addresses
//!   set sg_blocknet4   { type ipv4_addr; flags interval, timeout; } # blocked prefixes
//!   set sg_quarantine4 { type ipv4_addr; flags timeout; }           # quarantined home devices
//!   set sg_quarantinenet4 { ... }                                   # (prefixes; unused by default)
//!   set sg_ratelimit4  { type ipv4_addr . inet_proto . inet_service; flags timeout; }  # rate-limited services
//!   (and the same six for IPv6)
//!   chain sg_input { type filter hook input priority -10; policy accept;
//!     ip saddr @sg_allow4 accept;  ip saddr @sg_block4 drop;  ip saddr @sg_blocknet4 drop; ... }
//!   chain sg_forward { type filter hook forward priority -10; policy accept;
//!     ip saddr @sg_allow4 accept;
//!     ip saddr @sg_block4 drop;    ip daddr @sg_block4 drop;    (and @sg_blocknet4)
//!     ip saddr @sg_quarantine4 ip daddr @sg_allow4 udp dport 53 accept;  (quarantine-allow)
//!     ip saddr @sg_quarantine4 drop;
//!     ct state new ip daddr . meta l4proto . th dport @sg_ratelimit4
//!       meter sg_rlfwd4 { ip daddr . meta l4proto . th dport timeout 60s
//!                         limit rate over 50/second burst 100 packets }
//!       drop; ... }
//! }
//! ```
//!
//! The rate-limit rule (in `sg_input` and `sg_forward`, after the allowlist's accept and
//! the block and quarantine rules) keeps one token bucket per rate-limited service in a
//! meter, shared by every source (a flood's sources are many and spoofed), and drops new
//! connections (conntrack state new) beyond `[enforce] rate-limit`; what stays within it
//! passes on to the rest of the ruleset. Its verdict is always drop, whatever `verdict`
//! says: a reject would answer every spoofed address (backscatter). A meter's entries
//! expire 60 s after their service's last new connection; the rate-limit set's elements
//! carry the decision's ttl.
//!
//! The meter is the rule's own (`meter NAME { ... }`, a set bound to the rule) rather
//! than a named set of the table updated with `update @set { ... }`: nft 1.0.6 cannot
//! create a set with the `dynamic` flag from JSON (it refuses the flag), the kernel then
//! gives a set that a rule updates that flag itself, and the next setup's `add set`
//! differs from the set in place and fails with "File exists". A rule's meter is
//! re-created with its rule (setup flushes and refills our chains), which only resets
//! the token buckets.
//!
//! Single addresses live in plain hash sets: nft must read an interval set back before
//! changing it (to check overlaps), which makes every transaction slower as the set grows;
//! a hash set costs the same at 10 or 100,000 elements. Prefixes get interval sets.
//!
//! Setup is idempotent and atomic: the table, sets and chains are added (a no-op when
//! they exist), our chains are flushed and refilled and the allow sets are flushed and
//! refilled in the same transaction, while the block, quarantine and rate-limit sets
//! (and the meters) keep their elements, so re-running setup (a restart) never opens a gap. Element expiry is the
//! kernel's: every element carries its timeout.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

use nftables::expr::{
    Elem, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, CT,
};
use nftables::schema::{
    Chain, Element, FlushObject, NfCmd, NfListObject, NfObject, Nftables, Rule, Set, SetFlag,
    SetType, SetTypeValue, Table,
};
use nftables::stmt::{Limit as LimitStmt, Match, Meter, Operator, Reject, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use thiserror::Error;

use super::{EnforceConfig, Hook, Limit, SetKind, Verdict, L4};
use suriguard_net::Cidr;

/// Why nft refused or could not be run.
#[derive(Debug, Error)]
pub enum NftError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// Our table, a set or a chain is gone (deleted behind our back, ruleset flushed).
    #[error("nftables objects missing: {0}")]
    Missing(String),
    #[error("permission denied by nftables (running without CAP_NET_ADMIN?): {0}")]
    Permission(String),
    #[error("nft failed: {0}")]
    Failed(String),
    #[error("cannot read nft's output: {0}")]
    Output(String),
}

impl NftError {
    /// Classifies what nft printed when it failed.
    fn from_stderr(stderr: &str) -> NftError {
        let first = stderr
            .lines()
            .find(|l| l.contains("Error"))
            .unwrap_or(stderr.trim())
            .trim()
            .to_owned();
        if stderr.contains("No such file or directory") {
            NftError::Missing(first)
        } else if stderr.contains("Operation not permitted") || stderr.contains("Permission denied")
        {
            NftError::Permission(first)
        } else {
            NftError::Failed(stderr.trim().replace('\n', " | "))
        }
    }
}

/// Runs nft with `args`, feeding `input` on stdin; returns its stdout. Both output
/// streams are captured (nothing of nft's leaks into the host process's output).
fn nft_exec(program: &str, args: &[&str], input: Option<&str>) -> Result<String, NftError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NftError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A write error means nft exited early; its status and stderr say why.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|source| NftError::Spawn {
        program: program.to_owned(),
        source,
    })?;
    if out.status.success() {
        String::from_utf8(out.stdout).map_err(|e| NftError::Output(e.to_string()))
    } else {
        Err(NftError::from_stderr(&String::from_utf8_lossy(&out.stderr)))
    }
}

/// One change to a block, quarantine or rate-limit set. `limit` is a rate limit's
/// service (`None` for the other kinds; a rate limit without one cannot be applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Add {
        kind: SetKind,
        target: Cidr,
        limit: Option<Limit>,
        timeout_secs: u64,
    },
    Delete {
        kind: SetKind,
        target: Cidr,
        limit: Option<Limit>,
    },
    /// Empties every block, quarantine and rate-limit set.
    Flush,
}

/// An element as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveElement {
    pub kind: SetKind,
    pub target: Cidr,
    /// A rate limit's service.
    pub limit: Option<Limit>,
    /// Seconds until the kernel removes it.
    pub expires_secs: Option<u64>,
}

/// What one of our sets holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The allowlist and own addresses (prefixes; no timeout).
    Allow,
    /// Single addresses of a kind, with timeouts: a plain hash set, so adding to it never
    /// makes nft read the set back (interval sets do, which grows with their size).
    Hosts(SetKind),
    /// Prefixes of a kind, with timeouts (an interval set).
    Nets(SetKind),
}

/// Seconds a meter entry (one service's token bucket) outlives the service's last new
/// connection.
pub const METER_TIMEOUT_SECS: u32 = 60;

/// Every set we create: name, IPv6, role.
pub const SETS: [(&str, bool, Role); 12] = [
    ("sg_allow4", false, Role::Allow),
    ("sg_allow6", true, Role::Allow),
    ("sg_block4", false, Role::Hosts(SetKind::Block)),
    ("sg_block6", true, Role::Hosts(SetKind::Block)),
    ("sg_blocknet4", false, Role::Nets(SetKind::Block)),
    ("sg_blocknet6", true, Role::Nets(SetKind::Block)),
    ("sg_quarantine4", false, Role::Hosts(SetKind::Quarantine)),
    ("sg_quarantine6", true, Role::Hosts(SetKind::Quarantine)),
    ("sg_quarantinenet4", false, Role::Nets(SetKind::Quarantine)),
    ("sg_quarantinenet6", true, Role::Nets(SetKind::Quarantine)),
    ("sg_ratelimit4", false, Role::Hosts(SetKind::RateLimit)),
    ("sg_ratelimit6", true, Role::Hosts(SetKind::RateLimit)),
];

pub fn set_name(role: Role, v6: bool) -> &'static str {
    SETS.iter()
        .find(|&&(_, six, r)| r == role && six == v6)
        .map(|&(n, _, _)| n)
        .expect("every role exists for both families")
}

/// The set an element of `kind` for `target` lives in (a rate limit's set holds single
/// addresses only: nft refuses a prefix there).
pub fn set_for(kind: SetKind, target: &Cidr) -> &'static str {
    let role = if target.is_host() || kind == SetKind::RateLimit {
        Role::Hosts(kind)
    } else {
        Role::Nets(kind)
    };
    set_name(role, target.addr().is_ipv6())
}

fn chain_name(h: Hook) -> &'static str {
    match h {
        Hook::Input => "sg_input",
        Hook::Forward => "sg_forward",
        Hook::Output => "sg_output",
    }
}

/// The backend. Cheap to construct; every call runs one `nft` process.
#[derive(Debug, Clone)]
pub struct Nft {
    cfg: EnforceConfig,
    /// Set up and apply through the privileged helper at this socket instead of running
    /// nft (Suricata with `run-as`).
    helper: Option<std::path::PathBuf>,
}

impl Nft {
    /// Runs `cfg.nft` itself (root, or CAP_NET_ADMIN).
    pub fn new(cfg: EnforceConfig) -> Nft {
        Nft { cfg, helper: None }
    }

    /// Sets up and applies through the helper at `socket` (the plugin's enforcer with
    /// `[enforce] helper`); listing and teardown still run nft, for an admin.
    pub fn through_helper(cfg: EnforceConfig, socket: std::path::PathBuf) -> Nft {
        Nft {
            cfg,
            helper: Some(socket),
        }
    }

    pub fn config(&self) -> &EnforceConfig {
        &self.cfg
    }

    fn table(&self) -> Cow<'static, str> {
        Cow::Owned(self.cfg.table.clone())
    }

    /// A set object of ours (`flags` only matter when creating it).
    fn set_obj(
        &self,
        name: &'static str,
        v6: bool,
        flags: Option<HashSet<SetFlag>>,
    ) -> Box<Set<'static>> {
        let addr = if v6 {
            SetType::Ipv6Addr
        } else {
            SetType::Ipv4Addr
        };
        // A rate limit's elements are `address . protocol . port`.
        let concatenated = SETS
            .iter()
            .any(|&(n, _, r)| n == name && r == Role::Hosts(SetKind::RateLimit));
        Box::new(Set {
            family: NfFamily::INet,
            table: self.table(),
            name: name.into(),
            handle: None,
            set_type: if concatenated {
                SetTypeValue::Concatenated(Cow::Borrowed(if v6 {
                    &[SetType::Ipv6Addr, SetType::InetProto, SetType::InetService]
                } else {
                    &[SetType::Ipv4Addr, SetType::InetProto, SetType::InetService]
                }))
            } else {
                SetTypeValue::Single(addr)
            },
            policy: None,
            flags,
            elem: None,
            timeout: None,
            gc_interval: None,
            size: None,
            comment: None,
        })
    }

    fn run(&self, cmds: Vec<NfObject<'static>>) -> Result<(), NftError> {
        let json = to_json(cmds)?;
        nft_exec(&self.cfg.nft, &["-j", "-f", "-"], Some(&json)).map(drop)
    }

    /// The JSON transaction [`Nft::setup`] hands to nft (public for tests).
    pub fn setup_json(&self, allow: &[Cidr]) -> Result<String, NftError> {
        to_json(self.setup_cmds(allow))
    }

    /// Creates (or refreshes) our objects; `allow` fills the allow sets.
    /// Through the helper, `allow` is the helper's own to decide (its configuration).
    pub fn setup(&self, allow: &[Cidr]) -> Result<(), NftError> {
        if let Some(socket) = &self.helper {
            return crate::helper::call(socket, &crate::helper::Request::Setup {});
        }
        let json = self.setup_json(allow)?;
        nft_exec(&self.cfg.nft, &["-j", "-f", "-"], Some(&json)).map(drop)
    }

    fn setup_cmds(&self, allow: &[Cidr]) -> Vec<NfObject<'static>> {
        let mut cmds = Vec::new();
        let add = |o: NfListObject<'static>| NfObject::CmdObject(NfCmd::Add(o));
        if self.cfg.own_table {
            cmds.push(add(NfListObject::Table(Table {
                family: NfFamily::INet,
                name: self.table(),
                handle: None,
            })));
        }
        for (name, v6, role) in SETS {
            let flags = match role {
                Role::Allow => HashSet::from([SetFlag::Interval]),
                Role::Hosts(_) => HashSet::from([SetFlag::Timeout]),
                Role::Nets(_) => HashSet::from([SetFlag::Interval, SetFlag::Timeout]),
            };
            cmds.push(add(NfListObject::Set(self.set_obj(name, v6, Some(flags)))));
        }
        for v6 in [false, true] {
            cmds.push(NfObject::CmdObject(NfCmd::Flush(FlushObject::Set(
                self.set_obj(set_name(Role::Allow, v6), v6, None),
            ))));
            let elems: Vec<Expression<'static>> = allow
                .iter()
                .filter(|c| c.addr().is_ipv6() == v6)
                .map(|c| cidr_expr(*c))
                .collect();
            if !elems.is_empty() {
                cmds.push(add(NfListObject::Element(Element {
                    family: NfFamily::INet,
                    table: self.table(),
                    name: set_name(Role::Allow, v6).into(),
                    elem: Cow::Owned(elems),
                })));
            }
        }
        for &hook in &self.cfg.hooks {
            let chain = Chain {
                family: NfFamily::INet,
                table: self.table(),
                name: chain_name(hook).into(),
                newname: None,
                handle: None,
                _type: Some(NfChainType::Filter),
                hook: Some(match hook {
                    Hook::Input => NfHook::Input,
                    Hook::Forward => NfHook::Forward,
                    Hook::Output => NfHook::Output,
                }),
                prio: Some(self.cfg.priority),
                dev: None,
                policy: Some(NfChainPolicy::Accept),
            };
            cmds.push(add(NfListObject::Chain(chain.clone())));
            cmds.push(NfObject::CmdObject(NfCmd::Flush(FlushObject::Chain(chain))));
            for rule in self.rules(hook) {
                cmds.push(add(NfListObject::Rule(Rule {
                    family: NfFamily::INet,
                    table: self.table(),
                    chain: chain_name(hook).into(),
                    expr: Cow::Owned(rule),
                    handle: None,
                    index: None,
                    comment: None,
                })));
            }
        }
        cmds
    }

    /// The rules of one chain, in order.
    fn rules(&self, hook: Hook) -> Vec<Vec<Statement<'static>>> {
        let verdict = match self.cfg.verdict {
            Verdict::Drop => Statement::Drop(None),
            Verdict::Reject => Statement::Reject(Some(Reject {
                _type: None,
                expr: None,
            })),
        };
        let mut rules = Vec::new();
        for v6 in [false, true] {
            let proto = if v6 { "ip6" } else { "ip" };
            let m = |field: &'static str, set: &'static str| {
                Statement::Match(Match {
                    left: Expression::Named(NamedExpression::Payload(Payload::PayloadField(
                        PayloadField {
                            protocol: proto.into(),
                            field: field.into(),
                        },
                    ))),
                    right: Expression::String(format!("@{set}").into()),
                    op: Operator::EQ,
                })
            };
            let allow = set_name(Role::Allow, v6);
            let blocks = [
                set_name(Role::Hosts(SetKind::Block), v6),
                set_name(Role::Nets(SetKind::Block), v6),
            ];
            // Sources on the allowlist pass our chain whatever the sets say.
            rules.push(vec![m("saddr", allow), Statement::Accept(None)]);
            let fields: &[&'static str] = match hook {
                Hook::Input => &["saddr"],
                Hook::Output => &["daddr"],
                Hook::Forward => &["saddr", "daddr"],
            };
            for block in blocks {
                for &f in fields {
                    rules.push(vec![m(f, block), verdict.clone()]);
                }
            }
            if hook == Hook::Forward {
                for quarantine in [
                    set_name(Role::Hosts(SetKind::Quarantine), v6),
                    set_name(Role::Nets(SetKind::Quarantine), v6),
                ] {
                    for svc in &self.cfg.quarantine_allow {
                        rules.push(vec![
                            m("saddr", quarantine),
                            m("daddr", allow),
                            Statement::Match(Match {
                                left: Expression::Named(NamedExpression::Payload(
                                    Payload::PayloadField(PayloadField {
                                        protocol: svc.proto.as_str().into(),
                                        field: "dport".into(),
                                    }),
                                )),
                                right: Expression::Number(svc.port as u32),
                                op: Operator::EQ,
                            }),
                            Statement::Accept(None),
                        ]);
                    }
                    rules.push(vec![m("saddr", quarantine), verdict.clone()]);
                }
            }
            if matches!(hook, Hook::Input | Hook::Forward) {
                rules.push(self.rate_limit_rule(hook, proto, v6));
            }
        }
        rules
    }

    /// `ct state new ip daddr . meta l4proto . th dport @sg_ratelimit4 meter sg_rlfwd4
    /// { ip daddr . meta l4proto . th dport timeout 60s limit rate over R/second burst B
    /// packets } drop`. `proto` is `ip` or `ip6`; each chain has its own meters.
    fn rate_limit_rule(
        &self,
        hook: Hook,
        proto: &'static str,
        v6: bool,
    ) -> Vec<Statement<'static>> {
        let key = || {
            Expression::Named(NamedExpression::Concat(vec![
                Expression::Named(NamedExpression::Payload(Payload::PayloadField(
                    PayloadField {
                        protocol: proto.into(),
                        field: "daddr".into(),
                    },
                ))),
                Expression::Named(NamedExpression::Meta(Meta {
                    key: MetaKey::L4proto,
                })),
                Expression::Named(NamedExpression::Payload(Payload::PayloadField(
                    PayloadField {
                        protocol: "th".into(),
                        field: "dport".into(),
                    },
                ))),
            ]))
        };
        let r = self.cfg.rate_limit;
        let meter = format!(
            "sg_rl{}{}",
            if hook == Hook::Input { "in" } else { "fwd" },
            if v6 { 6 } else { 4 }
        );
        vec![
            Statement::Match(Match {
                left: Expression::Named(NamedExpression::CT(CT {
                    key: "state".into(),
                    family: None,
                    dir: None,
                })),
                right: Expression::String("new".into()),
                op: Operator::IN,
            }),
            Statement::Match(Match {
                left: key(),
                right: Expression::String(
                    format!("@{}", set_name(Role::Hosts(SetKind::RateLimit), v6)).into(),
                ),
                op: Operator::EQ,
            }),
            Statement::Meter(Meter {
                name: meter.into(),
                key: Expression::Named(NamedExpression::Elem(Elem {
                    val: Box::new(key()),
                    timeout: Some(METER_TIMEOUT_SECS),
                    expires: None,
                    comment: None,
                    counter: None,
                })),
                stmt: Box::new(Statement::Limit(LimitStmt {
                    rate: r.per_second,
                    rate_unit: None, // packets
                    per: Some("second".into()),
                    burst: Some(r.burst),
                    burst_unit: None,
                    inv: Some(true), // "rate over": matches what exceeds the rate
                })),
            }),
            Statement::Drop(None),
        ]
    }

    /// Applies changes to the block and quarantine sets as one transaction.
    pub fn apply(&self, ops: &[Op]) -> Result<(), NftError> {
        if ops.is_empty() {
            return Ok(());
        }
        if let Some(socket) = &self.helper {
            // A restore may exceed one request: sent in requests of the helper's maximum.
            for chunk in ops.chunks(crate::helper::MAX_OPS) {
                let req = crate::helper::Request::Apply {
                    ops: crate::helper::wire_ops(chunk)?,
                };
                crate::helper::call(socket, &req)?;
            }
            return Ok(());
        }
        let json = self.apply_json(ops)?;
        nft_exec(&self.cfg.nft, &["-j", "-f", "-"], Some(&json)).map(drop)
    }

    /// The JSON transaction [`Nft::apply`] hands to nft (public for the benchmark).
    pub fn apply_json(&self, ops: &[Op]) -> Result<String, NftError> {
        let mut cmds = Vec::with_capacity(ops.len());
        // Adds are grouped per set: one element command per set and per run of adds.
        let mut pending: Vec<(&'static str, Vec<Expression<'static>>)> = Vec::new();
        let flush_pending = |pending: &mut Vec<(&'static str, Vec<Expression<'static>>)>,
                             cmds: &mut Vec<NfObject<'static>>| {
            for (name, elems) in pending.drain(..) {
                cmds.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Element(
                    Element {
                        family: NfFamily::INet,
                        table: self.table(),
                        name: name.into(),
                        elem: Cow::Owned(elems),
                    },
                ))));
            }
        };
        for op in ops {
            match op {
                Op::Add {
                    kind,
                    target,
                    limit,
                    timeout_secs,
                } => {
                    let name = set_for(*kind, target);
                    let elem = Expression::Named(NamedExpression::Elem(Elem {
                        val: Box::new(elem_expr(*kind, *target, *limit)?),
                        timeout: Some((*timeout_secs).clamp(1, u32::MAX as u64) as u32),
                        expires: None,
                        comment: None,
                        counter: None,
                    }));
                    match pending.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, v)) => v.push(elem),
                        None => pending.push((name, vec![elem])),
                    }
                }
                Op::Delete {
                    kind,
                    target,
                    limit,
                } => {
                    flush_pending(&mut pending, &mut cmds);
                    cmds.push(NfObject::CmdObject(NfCmd::Delete(NfListObject::Element(
                        Element {
                            family: NfFamily::INet,
                            table: self.table(),
                            name: set_for(*kind, target).into(),
                            elem: Cow::Owned(vec![elem_expr(*kind, *target, *limit)?]),
                        },
                    ))));
                }
                Op::Flush => {
                    flush_pending(&mut pending, &mut cmds);
                    for (name, v6, role) in SETS {
                        if role != Role::Allow {
                            cmds.push(NfObject::CmdObject(NfCmd::Flush(FlushObject::Set(
                                self.set_obj(name, v6, None),
                            ))));
                        }
                    }
                }
            }
        }
        flush_pending(&mut pending, &mut cmds);
        to_json(cmds)
    }

    /// Removes what setup created: the whole table when it is ours, otherwise our chains
    /// and sets only.
    pub fn teardown(&self) -> Result<(), NftError> {
        let del = |o: NfListObject<'static>| NfObject::CmdObject(NfCmd::Delete(o));
        let mut cmds = Vec::new();
        if self.cfg.own_table {
            cmds.push(del(NfListObject::Table(Table {
                family: NfFamily::INet,
                name: self.table(),
                handle: None,
            })));
        } else {
            for &hook in &self.cfg.hooks {
                cmds.push(del(NfListObject::Chain(Chain {
                    family: NfFamily::INet,
                    table: self.table(),
                    name: chain_name(hook).into(),
                    newname: None,
                    handle: None,
                    _type: None,
                    hook: None,
                    prio: None,
                    dev: None,
                    policy: None,
                })));
            }
            for (name, v6, _) in SETS {
                cmds.push(del(NfListObject::Set(self.set_obj(name, v6, None))));
            }
        }
        self.run(cmds)
    }

    /// The elements of the block, quarantine and rate-limit sets, read from the kernel.
    pub fn list(&self) -> Result<Vec<LiveElement>, NftError> {
        let table = self.cfg.table.as_str();
        let out = nft_exec(&self.cfg.nft, &["-j", "list", "table", "inet", table], None)?;
        let v: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| NftError::Output(e.to_string()))?;
        let mut live = Vec::new();
        for obj in v["nftables"].as_array().into_iter().flatten() {
            let set = &obj["set"];
            let Some(name) = set["name"].as_str() else {
                continue;
            };
            let kind = match SETS.iter().find(|&&(n, _, _)| n == name) {
                Some(&(_, _, Role::Hosts(k) | Role::Nets(k))) => k,
                _ => continue,
            };
            for e in set["elem"].as_array().into_iter().flatten() {
                let (val, expires) = match e.get("elem") {
                    Some(inner) => (&inner["val"], inner["expires"].as_u64()),
                    None => (e, None),
                };
                let parsed = if kind == SetKind::RateLimit {
                    parse_limit_expr(val).map(|(t, l)| (t, Some(l)))
                } else {
                    parse_cidr_expr(val).map(|t| (t, None))
                };
                if let Some((target, limit)) = parsed {
                    live.push(LiveElement {
                        kind,
                        target,
                        limit,
                        expires_secs: expires,
                    });
                }
            }
        }
        Ok(live)
    }
}

fn to_json(cmds: Vec<NfObject<'static>>) -> Result<String, NftError> {
    let ruleset = Nftables {
        objects: Cow::Owned(cmds),
    };
    let json = serde_json::to_string(&ruleset).map_err(|e| NftError::Output(e.to_string()))?;
    // The crate writes an element's absent fields as nulls; nft accepts them but parsing
    // them costs a fifth of a 100,000-element transaction. (A test pins the form.)
    Ok(json.replace(ELEM_NULLS, ""))
}

const ELEM_NULLS: &str = r#","expires":null,"comment":null,"counter":null"#;

fn cidr_expr(c: Cidr) -> Expression<'static> {
    if c.is_host() {
        Expression::String(c.addr().to_string().into())
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(Expression::String(c.addr().to_string().into())),
            len: c.prefix_len() as u32,
        }))
    }
}

/// An element's value: the address (or prefix), and for a rate limit
/// `address . protocol . port`.
fn elem_expr(
    kind: SetKind,
    target: Cidr,
    limit: Option<Limit>,
) -> Result<Expression<'static>, NftError> {
    if kind != SetKind::RateLimit {
        return Ok(cidr_expr(target));
    }
    match limit {
        Some(l) if target.is_host() => Ok(Expression::Named(NamedExpression::Concat(vec![
            Expression::String(target.addr().to_string().into()),
            Expression::String(l.proto.as_str().into()),
            Expression::Number(l.port.into()),
        ]))),
        _ => Err(NftError::Failed(format!(
            "a rate limit needs one address and a service, got {target} {limit:?}"
        ))),
    }
}

/// `{"concat": ["192.168.1.10", "tcp", 80]}` (nft may print a protocol it has no name
/// for as its number).
fn parse_limit_expr(v: &serde_json::Value) -> Option<(Cidr, Limit)> {
    let parts = v["concat"].as_array()?;
    let [addr, proto, port] = parts.as_slice() else {
        return None;
    };
    let target = Cidr::host(addr.as_str()?.parse().ok()?);
    let proto = match (proto.as_str(), proto.as_u64()) {
        (Some("tcp"), _) | (_, Some(6)) => L4::Tcp,
        (Some("udp"), _) | (_, Some(17)) => L4::Udp,
        _ => return None,
    };
    let port = u16::try_from(port.as_u64()?).ok()?;
    Some((target, Limit { proto, port }))
}

fn parse_cidr_expr(v: &serde_json::Value) -> Option<Cidr> {
    if let Some(s) = v.as_str() {
        return s.parse::<IpAddr>().ok().map(Cidr::host);
    }
    let p = &v["prefix"];
    let addr: IpAddr = p["addr"].as_str()?.parse().ok()?;
    Cidr::new(addr, u8::try_from(p["len"].as_u64()?).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_json_carries_no_nulls() {
        let nft = Nft::new(EnforceConfig::default());
        let json = nft
            .apply_json(&[
                Op::Add {
                    kind: SetKind::Block,
                    target: "203.0.113.7".parse().unwrap(),
                    limit: None,
                    timeout_secs: 60,
                },
                Op::Add {
                    kind: SetKind::Block,
                    target: "2001:db8::/48".parse().unwrap(),
                    limit: None,
                    timeout_secs: 0,
                },
            ])
            .unwrap();
        assert!(!json.contains("null"), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let cmds = v["nftables"].as_array().unwrap();
        assert_eq!(cmds.len(), 2, "one element command per set: {json}");
        assert_eq!(
            cmds[0]["add"]["element"]["elem"][0],
            serde_json::json!({"elem": {"val": "203.0.113.7", "timeout": 60}})
        );
        assert_eq!(cmds[1]["add"]["element"]["name"], "sg_blocknet6");
        // A zero ttl still gives the kernel a timeout (nft refuses 0).
        assert_eq!(cmds[1]["add"]["element"]["elem"][0]["elem"]["timeout"], 1);
    }

    fn rl(proto: L4, port: u16) -> Option<Limit> {
        Some(Limit { proto, port })
    }

    #[test]
    fn rate_limit_elements_are_address_protocol_port_with_the_ttl() {
        let nft = Nft::new(EnforceConfig::default());
        let json = nft
            .apply_json(&[
                Op::Add {
                    kind: SetKind::RateLimit,
                    target: "192.168.1.10".parse().unwrap(),
                    limit: rl(L4::Tcp, 80),
                    timeout_secs: 3600,
                },
                Op::Add {
                    kind: SetKind::RateLimit,
                    target: "fd00::10".parse().unwrap(),
                    limit: rl(L4::Udp, 0),
                    timeout_secs: 60,
                },
                Op::Delete {
                    kind: SetKind::RateLimit,
                    target: "192.168.1.11".parse().unwrap(),
                    limit: rl(L4::Udp, 5000),
                },
            ])
            .unwrap();
        assert!(!json.contains("null"), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let cmds = v["nftables"].as_array().unwrap();
        assert_eq!(cmds.len(), 3, "{json}");
        assert_eq!(cmds[0]["add"]["element"]["name"], "sg_ratelimit4");
        assert_eq!(
            cmds[0]["add"]["element"]["elem"][0],
            serde_json::json!({"elem": {"val": {"concat": ["192.168.1.10", "tcp", 80]}, "timeout": 3600}})
        );
        assert_eq!(cmds[1]["add"]["element"]["name"], "sg_ratelimit6");
        assert_eq!(
            cmds[1]["add"]["element"]["elem"][0]["elem"]["val"],
            serde_json::json!({"concat": ["fd00::10", "udp", 0]})
        );
        assert_eq!(
            cmds[2]["delete"]["element"],
            serde_json::json!({"family": "inet", "table": "suriguard", "name": "sg_ratelimit4",
                "elem": [{"concat": ["192.168.1.11", "udp", 5000]}]})
        );
        // What list() reads back.
        assert_eq!(
            parse_limit_expr(&serde_json::json!({"concat": ["192.168.1.10", "tcp", 80]})),
            Some(("192.168.1.10".parse().unwrap(), rl(L4::Tcp, 80).unwrap()))
        );
        assert_eq!(
            parse_limit_expr(&serde_json::json!({"concat": ["fd00::10", 17, 53]})),
            Some(("fd00::10".parse().unwrap(), rl(L4::Udp, 53).unwrap()))
        );
        assert_eq!(
            parse_limit_expr(&serde_json::json!({"concat": ["fd00::10", "icmp", 0]})),
            None
        );
        // A rate limit without a service, or on a prefix, is refused before nft sees it.
        for (target, limit) in [("192.168.1.10", None), ("192.168.1.0/24", rl(L4::Tcp, 80))] {
            assert!(nft
                .apply_json(&[Op::Add {
                    kind: SetKind::RateLimit,
                    target: target.parse().unwrap(),
                    limit,
                    timeout_secs: 60,
                }])
                .is_err());
        }
    }

    #[test]
    fn setup_makes_the_rate_limit_sets_and_rules_after_the_allowlist() {
        let cfg = EnforceConfig {
            rate_limit: crate::RateLimitConfig {
                per_second: 7,
                burst: 9,
            },
            ..EnforceConfig::default()
        };
        let json = Nft::new(cfg).setup_json(&[]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let cmds = v["nftables"].as_array().unwrap();
        let set = |name: &str| {
            cmds.iter()
                .find(|c| c["add"]["set"]["name"] == name)
                .map(|c| c["add"]["set"].clone())
                .unwrap_or_else(|| panic!("no set {name}: {json}"))
        };
        let rl4 = set("sg_ratelimit4");
        assert_eq!(
            rl4["type"],
            serde_json::json!(["ipv4_addr", "inet_proto", "inet_service"])
        );
        assert_eq!(rl4["flags"], serde_json::json!(["timeout"]));
        assert!(rl4.get("timeout").is_none());
        // Setup flushes the allow sets and our chains, never a rate-limit set.
        assert!(!cmds.iter().any(|c| c["flush"]["set"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("sg_ratelimit"))));
        for (chain, meter) in [("sg_input", "sg_rlin4"), ("sg_forward", "sg_rlfwd4")] {
            let rules: Vec<&serde_json::Value> = cmds
                .iter()
                .filter(|c| c["add"]["rule"]["chain"] == chain)
                .map(|c| &c["add"]["rule"]["expr"])
                .collect();
            let pos = |needle: &str| {
                rules
                    .iter()
                    .position(|r| r.to_string().contains(needle))
                    .unwrap_or_else(|| panic!("{chain}: no rule with {needle}: {json}"))
            };
            assert!(pos("@sg_allow4") < pos("@sg_ratelimit4"));
            assert!(pos("@sg_allow6") < pos("@sg_ratelimit6"));
            let r = rules[pos("@sg_ratelimit4")];
            assert_eq!(
                *r,
                serde_json::json!([
                    {"match": {"left": {"ct": {"key": "state"}}, "right": "new", "op": "in"}},
                    {"match": {"left": {"concat": [
                        {"payload": {"protocol": "ip", "field": "daddr"}},
                        {"meta": {"key": "l4proto"}},
                        {"payload": {"protocol": "th", "field": "dport"}}]},
                        "right": "@sg_ratelimit4", "op": "=="}},
                    {"meter": {"name": meter, "key": {"elem": {"val": {"concat": [
                        {"payload": {"protocol": "ip", "field": "daddr"}},
                        {"meta": {"key": "l4proto"}},
                        {"payload": {"protocol": "th", "field": "dport"}}]},
                        "timeout": 60}},
                        "stmt": {"limit": {"rate": 7, "per": "second", "burst": 9, "inv": true}}}},
                    {"drop": null}
                ]),
                "{r:#}"
            );
        }
        // The output chain (when hooked) has no rate limit: it is about traffic to the
        // target.
        let cfg = EnforceConfig {
            hooks: vec![crate::Hook::Output],
            ..EnforceConfig::default()
        };
        assert!(!Nft::new(cfg)
            .setup_json(&[])
            .unwrap()
            .contains("@sg_ratelimit"));
    }

    #[test]
    fn prefixes_and_hosts_round_trip_through_nft_json() {
        let e = serde_json::to_value(cidr_expr("198.51.100.0/24".parse().unwrap())).unwrap();
        assert_eq!(
            e,
            serde_json::json!({"prefix": {"addr": "198.51.100.0", "len": 24}})
        );
        assert_eq!(
            parse_cidr_expr(&e),
            Some("198.51.100.0/24".parse().unwrap())
        );
        assert_eq!(
            parse_cidr_expr(&serde_json::json!("2001:db8::1")),
            Some("2001:db8::1".parse().unwrap())
        );
    }
}
