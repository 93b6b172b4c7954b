//! `suriguardctl setup`: wires suriguard into an installed Suricata, and `setup --remove`
//! takes it out again.
//!
//! Suricata's own `include:` cannot add to a list (a top-level include of `outputs:`
//! replaces the user's whole list, checked on 7.0.10), so setup makes the smallest edit
//! that works on 7.0 and 8.0 alike: two lines, each ending with [`MARK`]:
//!
//! ```yaml
//! plugins:
//!   - /usr/lib/suriguard/libsuriguard.so  # suriguard-setup
//! outputs:
//!   - include: /etc/suriguard/suricata-eve.yaml  # suriguard-setup
//! ```
//!
//! The included file is the eve-log output (the package ships it as a conffile). The
//! original file is kept byte for byte in `<state-dir>/setup/`; `--remove` puts it back
//! when the file is still what setup wrote, and otherwise deletes only the marked lines.
//! Every change is checked with `suricata -T` and undone if Suricata refuses it.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use suriguard_net::Cidr;

use crate::error::CtlError;

/// Ends every line setup adds to suricata.yaml.
pub const MARK: &str = "# suriguard-setup";

/// The eve-log output setup includes, for a source install without the package's copy.
pub const EVE_SNIPPET: &str = include_str!("../../suricata-conf/suricata-eve-include.yaml");

/// The eve-log snippet naming `config` and a stats file in `state_dir`.
pub fn snippet_text(config: &Path, state_dir: &Path) -> String {
    EVE_SNIPPET
        .replace(
            "/etc/suriguard/suriguard.toml",
            &config.display().to_string(),
        )
        .replace(
            "/var/lib/suriguard/plugin-stats.json",
            &state_dir.join("plugin-stats.json").display().to_string(),
        )
}

/// What `setup` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub suricata: String,
    pub suricata_config: PathBuf,
    pub plugin: PathBuf,
    pub snippet: PathBuf,
    /// suriguard's configuration file (written only when missing).
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub home_nets: Vec<Cidr>,
    /// Write `dry-run = true` into a new configuration (decide and journal, enforce
    /// nothing).
    pub observe: bool,
    /// Show the changes, change nothing.
    pub dry_run: bool,
    /// No questions (package scripts, tests).
    pub yes: bool,
}

/// What setup did or would do, for the report and `-o json`.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub suricata_version: String,
    pub suricata_config: PathBuf,
    pub dry_run: bool,
    /// Lines added to suricata.yaml (empty if it was already set up).
    pub added_lines: Vec<String>,
    pub backup: Option<PathBuf>,
    /// Files written (the eve-log snippet, suriguard's configuration).
    pub wrote: Vec<PathBuf>,
    pub home_networks: Vec<String>,
    pub own_addresses: Vec<String>,
    /// What `suricata -T` said, in a line.
    pub suricata_test: String,
    pub config_check: String,
    pub undo: String,
    pub notes: Vec<String>,
}

/// What `setup --remove` did.
#[derive(Debug, Default, Serialize)]
pub struct Removal {
    pub suricata_config: PathBuf,
    /// "restored the original" / "removed the marked lines" / "nothing to remove".
    pub how: String,
    pub removed_lines: Vec<String>,
    pub firewall: String,
    pub suricata_test: String,
}

/// Kept in `<state-dir>/setup/state.json` between setup and remove.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    suricata_config: PathBuf,
    /// The file as it was before setup, and as setup left it.
    original: PathBuf,
    edited: PathBuf,
}

fn setup_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("setup")
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CtlError {
    CtlError::file(action, path.to_path_buf())
}

// ---------------------------------------------------------------------------------
// The edit itself: pure text in, text out.

/// The edit of one suricata.yaml: the new text and the lines added.
#[derive(Debug, PartialEq, Eq)]
pub struct Edit {
    pub text: String,
    pub added: Vec<String>,
}

/// Adds the plugin to `plugins:` and the include to `outputs:`, unless they are there
/// (with the mark, or by hand: the plugin's path listed, an eve-log with
/// `filetype: suriguard`). Refuses what it cannot edit safely (flow-style lists, tabs).
pub fn edit_suricata_yaml(text: &str, plugin: &Path, snippet: &Path) -> Result<Edit, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut added = Vec::new();
    let has_plugin = lines.iter().any(|l| {
        let t = l.trim_start();
        !t.starts_with('#') && t.contains(&*plugin.to_string_lossy())
    });
    let has_output = lines.iter().any(|l| {
        let t = l.trim_start();
        !t.starts_with('#')
            && (t.contains(&*snippet.to_string_lossy())
                || t.replace(' ', "").starts_with("filetype:suriguard"))
    });
    if !has_plugin {
        let item = format!("- {}  {MARK}", plugin.display());
        insert_item(&mut lines, "plugins", &item, &mut added)?;
    }
    if !has_output {
        let item = format!("- include: {}  {MARK}", snippet.display());
        insert_item(&mut lines, "outputs", &item, &mut added)?;
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') || !added.is_empty() {
        out.push('\n');
    }
    Ok(Edit { text: out, added })
}

/// Puts `item` first in the top-level block list `key:` (with the indentation its
/// items have), or appends `key:` with it at the end of the file.
fn insert_item(
    lines: &mut Vec<String>,
    key: &str,
    item: &str,
    added: &mut Vec<String>,
) -> Result<(), String> {
    let head = format!("{key}:");
    let at = lines.iter().position(|l| l.starts_with(&head));
    let Some(at) = at else {
        let k = format!("{key}:  {MARK}");
        let i = format!("  {item}");
        added.push(k.clone());
        added.push(i.clone());
        lines.push(k);
        lines.push(i);
        return Ok(());
    };
    let rest = lines[at][head.len()..].trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(format!(
            "line {}: `{}` is not a block list (setup edits only `{key}:` followed by `- item` lines); add {item:?} by hand",
            at + 1,
            lines[at].trim_end()
        ));
    }
    // The first significant line after the key: an item gives the indentation; anything
    // else at column 0 means the list is empty (`plugins:` with only comments under it).
    let mut indent = String::from("  ");
    for l in &lines[at + 1..] {
        let t = l.trim_start_matches(' ');
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if l.starts_with('\t') || t.starts_with('\t') {
            return Err(format!(
                "`{key}:` is indented with tabs, which YAML refuses"
            ));
        }
        if t.starts_with("- ") || t == "-" {
            indent = l[..l.len() - t.len()].to_owned();
        }
        break;
    }
    let line = format!("{indent}{item}");
    added.push(line.clone());
    lines.insert(at + 1, line);
    Ok(())
}

/// The file without the lines setup marked (what `--remove` does to a file edited since).
pub fn strip_marked(text: &str) -> (String, Vec<String>) {
    let mut removed = Vec::new();
    let mut out = String::with_capacity(text.len());
    for l in text.split_inclusive('\n') {
        if l.trim_end().ends_with(MARK) {
            removed.push(l.trim_end().to_owned());
        } else {
            out.push_str(l);
        }
    }
    (out, removed)
}

// ---------------------------------------------------------------------------------
// This machine's networks, from /proc (no `ip` needed: a minimal system has none).

/// Home networks and own addresses proposed from the kernel's tables.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Proposal {
    pub home: Vec<Cidr>,
    pub own: Vec<IpAddr>,
}

/// Reads `/proc/net/route`, `/proc/net/fib_trie`, `/proc/net/if_inet6` and
/// `/proc/net/ipv6_route` under `proc` (the network namespace of the caller).
pub fn propose(proc_net: &Path) -> Proposal {
    let read = |f: &str| std::fs::read_to_string(proc_net.join(f)).unwrap_or_default();
    propose_from(
        &read("route"),
        &read("fib_trie"),
        &read("if_inet6"),
        &read("ipv6_route"),
    )
}

fn hex_v4(s: &str) -> Option<Ipv4Addr> {
    // /proc/net/route prints addresses as the host-order u32 of network bytes.
    let v = u32::from_str_radix(s, 16).ok()?;
    Some(Ipv4Addr::from(v.swap_bytes()))
}

fn hex_v6(s: &str) -> Option<Ipv6Addr> {
    u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from)
}

fn private_v4(a: Ipv4Addr) -> bool {
    a.is_private()
}

/// The proposal from the four files' text (see [`propose`]). Home networks: the
/// directly connected private IPv4 networks (RFC 1918), and the IPv6 prefixes (/48 to
/// /64, global or unique-local) of the interfaces those are on. Own addresses: this
/// machine's addresses on those interfaces, and the default gateways.
pub fn propose_from(route: &str, fib_trie: &str, if_inet6: &str, ipv6_route: &str) -> Proposal {
    let mut p = Proposal::default();
    let mut lan_ifaces: Vec<String> = Vec::new();
    for l in route.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 8 || f[0] == "lo" {
            continue;
        }
        let (Some(dest), Some(gw), Some(mask)) = (hex_v4(f[1]), hex_v4(f[2]), hex_v4(f[7])) else {
            continue;
        };
        let len = u32::from(mask).leading_ones() as u8;
        if dest.is_unspecified() && len == 0 {
            if !gw.is_unspecified() {
                push(&mut p.own, IpAddr::V4(gw));
            }
            continue;
        }
        if gw.is_unspecified() && private_v4(dest) && len >= 8 {
            if let Ok(c) = format!("{dest}/{len}").parse::<Cidr>() {
                if !p.home.contains(&c) {
                    p.home.push(c);
                }
                if !lan_ifaces.iter().any(|i| i == f[0]) {
                    lan_ifaces.push(f[0].to_owned());
                }
            }
        }
    }
    // fib_trie: "|-- 192.168.77.1" followed by "/32 host LOCAL" is an address of ours.
    let mut last: Option<Ipv4Addr> = None;
    for l in fib_trie.lines() {
        let t = l.trim();
        if let Some(a) = t.strip_prefix("|-- ") {
            last = a.parse().ok();
        } else if t.contains("/32 host LOCAL") {
            if let Some(a) = last {
                if p.home.iter().any(|c| c.contains(IpAddr::V4(a))) {
                    push(&mut p.own, IpAddr::V4(a));
                }
            }
        }
    }
    for l in if_inet6.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 6 || !lan_ifaces.iter().any(|i| i == f[5]) {
            continue;
        }
        let (Some(a), Ok(len)) = (hex_v6(f[0]), u8::from_str_radix(f[2], 16)) else {
            continue;
        };
        let seg0 = a.segments()[0];
        let global = (0x2000..=0x3fff).contains(&seg0);
        let ula = seg0 & 0xfe00 == 0xfc00;
        if !(global || ula) || !(48..=64).contains(&len) {
            continue;
        }
        push(&mut p.own, IpAddr::V6(a));
        let net = u128::from(a) & (!0u128 << (128 - u32::from(len)));
        if let Ok(c) = format!("{}/{len}", Ipv6Addr::from(net)).parse::<Cidr>() {
            if !p.home.contains(&c) {
                p.home.push(c);
            }
        }
    }
    for l in ipv6_route.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 10 || f[9] == "lo" || f[1] != "00" {
            continue;
        }
        if let (Some(dest), Some(gw)) = (hex_v6(f[0]), hex_v6(f[4])) {
            if dest.is_unspecified() && !gw.is_unspecified() {
                push(&mut p.own, IpAddr::V6(gw));
            }
        }
    }
    p
}

fn push(v: &mut Vec<IpAddr>, a: IpAddr) {
    if !v.contains(&a) {
        v.push(a);
    }
}

/// The commented example configuration the package installs as
/// `/etc/suriguard/suriguard.toml`: setup fills in its proposal when the file is missing
/// or still exactly this.
pub const EXAMPLE_CONFIG: &str = include_str!("../../suricata-conf/suriguard.toml");

/// suriguard's configuration for a new install: the example with its `state-dir`,
/// `home-networks`, `own-addresses` and `dry-run` lines replaced, every comment kept.
pub fn config_text(home: &[Cidr], own: &[IpAddr], observe: bool, state_dir: &Path) -> String {
    let list = |v: Vec<String>| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::from(
        "# Written by `suriguardctl setup`: home-networks and own-addresses were proposed from\n\
         # this machine's interfaces and routes; correct them if they are wrong, then run\n\
         # `suriguardctl config check`.\n",
    );
    for l in EXAMPLE_CONFIG.lines() {
        let line = if l.starts_with("state-dir = ") {
            format!("state-dir = {:?}", state_dir.display().to_string())
        } else if l.starts_with("home-networks = ") {
            format!(
                "home-networks = [{}]",
                list(home.iter().map(ToString::to_string).collect())
            )
        } else if l.starts_with("own-addresses = ") {
            format!(
                "own-addresses = [{}]   # this machine and the gateway: never blocked",
                list(own.iter().map(ToString::to_string).collect())
            )
        } else if l.starts_with("dry-run = ") {
            format!("dry-run = {observe}   # true: decide and journal, enforce nothing")
        } else {
            l.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------
// Suricata.

/// `suricata -V`: the version text (7.0 or later; older is refused).
pub fn suricata_version(program: &str) -> Result<String, CtlError> {
    let out = Command::new(program)
        .arg("-V")
        .output()
        .map_err(|source| CtlError::SuricataSpawn { source })?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let version = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| CtlError::Setup {
            what: format!("`{program} -V` printed no version: {}", text.trim()),
        })?;
    if major < 7 {
        return Err(CtlError::Setup {
            what: format!("Suricata {version} is too old: the plugin needs 7.0 or 8.0"),
        });
    }
    Ok(version)
}

/// The configuration directory Suricata was built with (`suricata --build-info`:
/// "Configuration directory: /etc/suricata/"), or /etc/suricata.
pub fn suricata_config_dir(program: &str) -> PathBuf {
    Command::new(program)
        .arg("--build-info")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
                l.trim()
                    .strip_prefix("Configuration directory:")
                    .map(|d| PathBuf::from(d.trim()))
            })
        })
        .filter(|d| d.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/etc/suricata"))
}

/// `suricata -T -c FILE` (with `-S /dev/null` when `no_rules`): passed, and its last
/// lines.
fn suricata_test(program: &str, config: &Path, no_rules: bool) -> Result<(bool, String), CtlError> {
    let mut cmd = Command::new(program);
    cmd.arg("-T").arg("-c").arg(config);
    if no_rules {
        cmd.args(["-S", "/dev/null"]);
    }
    let out = cmd
        .output()
        .map_err(|source| CtlError::SuricataSpawn { source })?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Ok((out.status.success(), tail.join("\n")))
}

/// Checks an edited configuration: `suricata -T` as it is; if that fails and the
/// original fails the same way, both again without rules (a system where
/// suricata-update has not run yet has none). `Ok(line)` when the edit passes.
fn check_edit(program: &str, edited: &Path, original: &Path) -> Result<String, CtlError> {
    let (ok, out) = suricata_test(program, edited, false)?;
    if ok {
        return Ok("suricata -T: ok".into());
    }
    let (orig_ok, _) = suricata_test(program, original, false)?;
    if !orig_ok {
        let (orig_bare, _) = suricata_test(program, original, true)?;
        let (bare, bare_out) = suricata_test(program, edited, true)?;
        if orig_bare && bare {
            return Ok("suricata -T: ok without rules (your configuration fails -T on its own, before suriguard: no rules loaded? run suricata-update)".into());
        }
        if !orig_bare {
            return Ok(format!(
                "suricata -T fails with your original configuration too, so suriguard's part could not be checked:\n{out}"
            ));
        }
        return Err(CtlError::Setup {
            what: format!("suricata -T refuses the configuration with suriguard added (changes undone):\n{bare_out}"),
        });
    }
    Err(CtlError::Setup {
        what: format!(
            "suricata -T refuses the configuration with suriguard added (changes undone):\n{out}"
        ),
    })
}

// ---------------------------------------------------------------------------------
// Files.

/// Replaces `path` with `bytes` by rename, keeping its mode and owner.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), CtlError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok();
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.suriguard-setup",
        path.file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Some(m) = &meta {
            std::fs::set_permissions(&tmp, m.permissions())?;
            std::os::unix::fs::chown(&tmp, Some(m.uid()), Some(m.gid()))?;
        }
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CtlError::File {
            action: "write",
            path: path.to_path_buf(),
            source: e,
        }
    })
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), CtlError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io_err("create", d))?;
    }
    std::fs::write(path, text).map_err(io_err("write", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_err("set the mode of", path))
}

fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes")
}

// ---------------------------------------------------------------------------------
// The two commands.

pub fn setup(o: &Options) -> Result<Report, CtlError> {
    let version = suricata_version(&o.suricata)?;
    let mut r = Report {
        suricata_version: version,
        suricata_config: o.suricata_config.clone(),
        dry_run: o.dry_run,
        undo: "suriguardctl setup --remove".into(),
        ..Report::default()
    };
    if !o.plugin.exists() {
        r.notes.push(format!(
            "the plugin {} does not exist yet",
            o.plugin.display()
        ));
        if !o.dry_run {
            return Err(CtlError::Missing {
                what: "plugin",
                path: o.plugin.clone(),
            });
        }
    }
    let original = std::fs::read(&o.suricata_config).map_err(io_err("read", &o.suricata_config))?;
    let text = String::from_utf8(original.clone()).map_err(|_| CtlError::Setup {
        what: format!("{} is not UTF-8", o.suricata_config.display()),
    })?;
    let edit =
        edit_suricata_yaml(&text, &o.plugin, &o.snippet).map_err(|what| CtlError::Setup {
            what: format!("{}: {what}", o.suricata_config.display()),
        })?;
    r.added_lines = edit.added.clone();

    // suriguard's own configuration: written only if there is none, or the package's
    // example is still there untouched.
    let new_config = match std::fs::read(&o.config) {
        Ok(b) => b == EXAMPLE_CONFIG.as_bytes(),
        Err(_) => true,
    };
    let config = if new_config {
        let found = propose(Path::new("/proc/net"));
        let home = if o.home_nets.is_empty() {
            found.home
        } else {
            o.home_nets.clone()
        };
        if home.is_empty() {
            let what = "no private network (RFC 1918) is directly connected to this machine: pass --home-net CIDR";
            if !o.dry_run {
                return Err(CtlError::Setup { what: what.into() });
            }
            r.notes.push(what.into());
        }
        r.home_networks = home.iter().map(ToString::to_string).collect();
        r.own_addresses = found.own.iter().map(ToString::to_string).collect();
        r.wrote.push(o.config.clone());
        Some(config_text(&home, &found.own, o.observe, &o.state_dir))
    } else {
        r.notes
            .push(format!("{} exists: left as it is", o.config.display()));
        None
    };
    if !o.snippet.exists() {
        r.wrote.push(o.snippet.clone());
    }
    finish(o, r, &original, &edit, config)
}

fn finish(
    o: &Options,
    mut r: Report,
    original: &[u8],
    edit: &Edit,
    config: Option<String>,
) -> Result<Report, CtlError> {
    if o.dry_run {
        return Ok(r);
    }
    if !o.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CtlError::Setup {
                what: "not on a terminal: pass --yes to apply without questions, or --dry-run to see the changes".into(),
            });
        }
        eprint!("{}", render(&r));
        if !confirm("Apply these changes?") {
            return Err(CtlError::Setup {
                what: "nothing changed (not confirmed)".into(),
            });
        }
    }
    if let Some(text) = &config {
        write_new(&o.config, text, 0o644)?;
    }
    if !o.snippet.exists() {
        write_new(&o.snippet, &snippet_text(&o.config, &o.state_dir), 0o644)?;
    }
    std::fs::create_dir_all(&o.state_dir).map_err(io_err("create", &o.state_dir))?;
    let dir = setup_dir(&o.state_dir);
    std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let edited_copy = dir.join("suricata.yaml.edited");
    let backup = dir.join("suricata.yaml.orig");
    let state_file = dir.join("state.json");
    if !edit.added.is_empty() {
        // The backup is the file as it is now, unless setup's lines are already in it
        // (a second setup over an edited file keeps the first backup: that is the
        // user's). A stale backup (a Suricata upgrade replaced the file, dropping the
        // lines) is replaced. Written durably before the file is touched.
        let already_marked = !strip_marked(&String::from_utf8_lossy(original))
            .1
            .is_empty();
        if !(already_marked && backup.exists()) {
            suriguard_durable::write_atomic(&backup, original).map_err(io_err("write", &backup))?;
        }
        suriguard_durable::write_atomic(&edited_copy, edit.text.as_bytes())
            .map_err(io_err("write", &edited_copy))?;
        let state = State {
            suricata_config: o.suricata_config.clone(),
            original: backup.clone(),
            edited: edited_copy.clone(),
        };
        suriguard_durable::write_atomic(
            &state_file,
            &serde_json::to_vec_pretty(&state).unwrap_or_default(),
        )
        .map_err(io_err("write", &state_file))?;
        replace_file(&o.suricata_config, edit.text.as_bytes())?;
        r.backup = Some(backup.clone());
    }
    // The original is tested from the same folder as the edited file (relative
    // `include:` paths resolve against it), as a hidden copy removed afterwards.
    let original_copy = o
        .suricata_config
        .with_file_name(".suricata.yaml.suriguard-original");
    std::fs::write(&original_copy, original).map_err(io_err("write", &original_copy))?;
    let checked = check_edit(&o.suricata, &o.suricata_config, &original_copy);
    let _ = std::fs::remove_file(&original_copy);
    match checked {
        Ok(line) => r.suricata_test = line,
        Err(e) => {
            if !edit.added.is_empty() {
                replace_file(&o.suricata_config, original)?;
                for f in ["state.json", "suricata.yaml.edited", "suricata.yaml.orig"] {
                    let _ = std::fs::remove_file(dir.join(f));
                }
            }
            return Err(e);
        }
    }
    let problems = crate::config::check(&o.config);
    r.config_check = if problems.is_empty() {
        format!("{}: ok", o.config.display())
    } else {
        problems
            .iter()
            .map(|p| format!("[{}] {}", p.key, p.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !problems.is_empty() {
        r.notes
            .push("fix the configuration, then: suriguardctl config check".into());
    }
    r.notes
        .push("restart Suricata to load the plugin: systemctl restart suricata".into());
    Ok(r)
}

pub fn remove(
    o: &Options,
    teardown: impl FnOnce() -> Result<(), CtlError>,
) -> Result<Removal, CtlError> {
    let mut r = Removal {
        suricata_config: o.suricata_config.clone(),
        ..Removal::default()
    };
    let dir = setup_dir(&o.state_dir);
    let state: Option<State> = std::fs::read(dir.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    // The file setup edited, wherever it was (`--suricata-config` at setup time).
    let target = state
        .as_ref()
        .map(|s| s.suricata_config.clone())
        .unwrap_or_else(|| o.suricata_config.clone());
    r.suricata_config = target.clone();
    let current = std::fs::read(&target).map_err(io_err("read", &target))?;
    let edited = state.as_ref().and_then(|s| std::fs::read(&s.edited).ok());
    let original = state.as_ref().and_then(|s| std::fs::read(&s.original).ok());
    let (_, marked) = strip_marked(&String::from_utf8_lossy(&current));
    match (edited, original) {
        (Some(e), Some(orig)) if e == current => {
            if !o.dry_run {
                replace_file(&target, &orig)?;
            }
            r.how = "restored the original byte for byte".into();
            r.removed_lines = marked;
        }
        _ if !marked.is_empty() => {
            let (text, removed) = strip_marked(&String::from_utf8_lossy(&current));
            if !o.dry_run {
                replace_file(&target, text.as_bytes())?;
            }
            r.how = "the file changed since setup: removed only the lines setup added".into();
            r.removed_lines = removed;
        }
        _ => r.how = "nothing to remove: setup's lines are not in the file".into(),
    }
    if o.dry_run {
        r.firewall = "would remove suriguard's nftables table".into();
        return Ok(r);
    }
    let _ = std::fs::remove_file(dir.join("state.json"));
    let _ = std::fs::remove_file(dir.join("suricata.yaml.edited"));
    let _ = std::fs::remove_file(dir.join("suricata.yaml.orig"));
    let _ = std::fs::remove_dir(&dir);
    r.firewall = match teardown() {
        Ok(()) => "suriguard's nftables table removed".into(),
        Err(e) => format!("nftables table not removed: {}", suriguard_cli::chain(&e)),
    };
    r.suricata_test = match suricata_test(&o.suricata, &target, false) {
        Ok((true, _)) => "suricata -T: ok".into(),
        Ok((false, out)) => format!(
            "suricata -T fails on the file as it is now (setup's lines are gone; no rules loaded?):\n{out}"
        ),
        Err(e) => suriguard_cli::chain(&e),
    };
    Ok(r)
}

// ---------------------------------------------------------------------------------
// Text output.

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Suricata {} ({})",
        r.suricata_version,
        r.suricata_config.display()
    );
    if r.added_lines.is_empty() {
        let _ = writeln!(s, "suricata.yaml: already set up, nothing to add");
    } else {
        let _ = writeln!(
            s,
            "suricata.yaml: {} {} line(s):",
            if r.dry_run { "would add" } else { "added" },
            r.added_lines.len()
        );
        for l in &r.added_lines {
            let _ = writeln!(s, "  + {l}");
        }
    }
    if let Some(b) = &r.backup {
        let _ = writeln!(s, "original kept in {}", b.display());
    }
    for w in &r.wrote {
        let _ = writeln!(
            s,
            "{} {}",
            if r.dry_run { "would write" } else { "wrote" },
            w.display()
        );
    }
    if !r.home_networks.is_empty() {
        let _ = writeln!(s, "home networks: {}", r.home_networks.join(", "));
        let _ = writeln!(
            s,
            "own addresses (never blocked): {}",
            if r.own_addresses.is_empty() {
                "none found".into()
            } else {
                r.own_addresses.join(", ")
            }
        );
    }
    if !r.suricata_test.is_empty() {
        let _ = writeln!(s, "{}", r.suricata_test);
    }
    if !r.config_check.is_empty() {
        let _ = writeln!(s, "config check: {}", r.config_check);
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    let _ = writeln!(s, "undo: {}", r.undo);
    s
}

pub fn render_removal(r: &Removal) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}: {}", r.suricata_config.display(), r.how);
    for l in &r.removed_lines {
        let _ = writeln!(s, "  - {l}");
    }
    if !r.firewall.is_empty() {
        let _ = writeln!(s, "{}", r.firewall);
    }
    if !r.suricata_test.is_empty() {
        let _ = writeln!(s, "{}", r.suricata_test);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "%YAML 1.1\n---\nvars:\n  x: 1\n\n# Plugins\nplugins:\n#   - /path/to/plugin.so\n\n# outputs\noutputs:\n  # fast\n  - fast:\n      enabled: yes\n  - eve-log:\n      enabled: yes\n      filetype: regular\n\nlogging:\n  outputs:\n    - console:\n        enabled: yes\n";

    fn paths() -> (PathBuf, PathBuf) {
        (
            PathBuf::from("/usr/lib/suriguard/libsuriguard.so"),
            PathBuf::from("/etc/suriguard/suricata-eve.yaml"),
        )
    }

    #[test]
    fn adds_two_marked_lines_to_debians_layout_and_strips_back_to_the_original() {
        let (p, s) = paths();
        let e = edit_suricata_yaml(DEBIAN, &p, &s).unwrap();
        assert_eq!(
            e.added,
            [
                "  - /usr/lib/suriguard/libsuriguard.so  # suriguard-setup",
                "  - include: /etc/suriguard/suricata-eve.yaml  # suriguard-setup"
            ]
        );
        assert!(e.text.contains(
            "plugins:\n  - /usr/lib/suriguard/libsuriguard.so  # suriguard-setup\n#   - /path"
        ));
        assert!(e.text.contains("outputs:\n  - include: /etc/suriguard/suricata-eve.yaml  # suriguard-setup\n  # fast\n"));
        // logging.outputs is not the top-level key.
        assert!(e.text.contains("logging:\n  outputs:\n    - console:"));
        let (back, removed) = strip_marked(&e.text);
        assert_eq!(back, DEBIAN);
        assert_eq!(removed.len(), 2);
        // A second run adds nothing.
        let again = edit_suricata_yaml(&e.text, &p, &s).unwrap();
        assert!(again.added.is_empty());
        assert_eq!(again.text, e.text);
    }

    #[test]
    fn follows_the_lists_indentation_and_appends_missing_keys() {
        let (p, s) = paths();
        let t = "outputs:\n- fast:\n    enabled: yes\nplugins:\n    - /opt/other.so\n";
        let e = edit_suricata_yaml(t, &p, &s).unwrap();
        assert!(e.text.contains("plugins:\n    - /usr/lib/suriguard/libsuriguard.so  # suriguard-setup\n    - /opt/other.so"));
        assert!(e.text.contains(
            "outputs:\n- include: /etc/suriguard/suricata-eve.yaml  # suriguard-setup\n- fast:"
        ));
        let e = edit_suricata_yaml("vars:\n  a: 1\n", &p, &s).unwrap();
        assert_eq!(
            e.text,
            "vars:\n  a: 1\nplugins:  # suriguard-setup\n  - /usr/lib/suriguard/libsuriguard.so  # suriguard-setup\noutputs:  # suriguard-setup\n  - include: /etc/suriguard/suricata-eve.yaml  # suriguard-setup\n"
        );
        assert_eq!(strip_marked(&e.text).0, "vars:\n  a: 1\n");
    }

    #[test]
    fn leaves_what_the_user_configured_by_hand_and_refuses_flow_lists() {
        let (p, s) = paths();
        let t = "plugins:\n  - /usr/lib/suriguard/libsuriguard.so\noutputs:\n  - eve-log:\n      filetype: suriguard\n";
        let e = edit_suricata_yaml(t, &p, &s).unwrap();
        assert!(e.added.is_empty());
        assert_eq!(e.text, t);
        let err =
            edit_suricata_yaml("plugins: [/a.so]\noutputs:\n  - fast: {}\n", &p, &s).unwrap_err();
        assert!(
            err.contains("line 1") && err.contains("not a block list"),
            "{err}"
        );
    }

    #[test]
    fn proposes_the_connected_private_networks_own_addresses_and_gateways() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\tFE4DA8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t004DA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     wan0\t00007150\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\nLocal:\n     |-- 192.168.77.1\n        /32 host LOCAL\n     |-- 80.113.0.9\n        /32 host LOCAL\n";
        let if6 = "fd00000000000000000000000000000a 02 40 00 80     eth0\n\
                   fe800000000000000000000000000001 02 40 20 80     eth0\n\
                   2001db80000000000000000000000009 03 40 00 80     wan0\n";
        let r6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000099 00000400 00000001 00000000 00000003     eth0\n";
        let p = propose_from(route, fib, if6, r6);
        let home: Vec<String> = p.home.iter().map(ToString::to_string).collect();
        assert_eq!(home, ["192.168.77.0/24", "fd00::/64"]);
        let own: Vec<String> = p.own.iter().map(ToString::to_string).collect();
        assert_eq!(
            own,
            ["192.168.77.254", "192.168.77.1", "fd00::a", "fe80::99"]
        );
    }

    #[test]
    fn the_written_configuration_loads() {
        let text = config_text(
            &["192.168.77.0/24".parse().unwrap()],
            &["192.168.77.1".parse().unwrap()],
            true,
            Path::new("/var/lib/suriguard"),
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("suriguard.toml");
        std::fs::write(&f, &text).unwrap();
        assert_eq!(crate::config::check(&f), vec![], "{text}");
        assert!(text.contains("dry-run = true"));
        assert!(
            text.contains("home-networks = [\"192.168.77.0/24\"]"),
            "{text}"
        );
        assert!(
            text.contains("[notify]"),
            "the example's other sections stay: {text}"
        );
        assert_eq!(text.lines().count(), EXAMPLE_CONFIG.lines().count() + 3);
    }
}
