//! Putting a compiled generation in force without ever breaking a running Suricata.
//!
//! `output-dir` is a symbolic link to a generation directory beside it
//! (`.<name>.gen/<n>`). A run writes generation n+1, validates it with the real
//! `suricata -T`, then replaces the link in one `rename` and tells Suricata over its
//! socket. If Suricata does not take the new generation, the link is put back, so the
//! files on disk are always the ones Suricata runs on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use suriguard_intel::compile::{SetType, RULES_FILE};
use suriguard_intel::{CompileOptions, Compiled, DatasetMode, Store};

use crate::config::Config;
use crate::error::SyncError;
use suriguard_intel::suricatasc::Suricata;

pub struct Generations {
    link: PathBuf,
    dir: PathBuf,
}

impl Generations {
    pub fn new(output_dir: &Path) -> Result<Generations, SyncError> {
        let name = output_dir
            .file_name()
            .ok_or_else(|| SyncError::OutputDirName {
                path: output_dir.to_owned(),
            })?;
        let parent = output_dir.parent().unwrap_or(Path::new("."));
        let mut gen_name = std::ffi::OsString::from(".");
        gen_name.push(name);
        gen_name.push(".gen");
        Ok(Generations {
            link: output_dir.to_path_buf(),
            dir: parent.join(gen_name),
        })
    }

    /// The directory the link points at now, if any.
    pub fn current(&self) -> Result<Option<PathBuf>, SyncError> {
        match std::fs::symlink_metadata(&self.link) {
            Ok(md) if md.file_type().is_symlink() => {
                let t = std::fs::read_link(&self.link)
                    .map_err(SyncError::io("read the link", &self.link))?;
                Ok(Some(if t.is_absolute() {
                    t
                } else {
                    self.link.parent().unwrap_or(Path::new(".")).join(t)
                }))
            }
            Ok(_) => Err(SyncError::OutputNotLink {
                path: self.link.clone(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SyncError::io("inspect output-dir", &self.link)(e)),
        }
    }

    /// A new, empty generation directory.
    pub fn stage(&self) -> Result<PathBuf, SyncError> {
        std::fs::create_dir_all(&self.dir).map_err(SyncError::io("create", &self.dir))?;
        let next = std::fs::read_dir(&self.dir)
            .map_err(SyncError::io("list", &self.dir))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let p = self.dir.join(next.to_string());
        std::fs::create_dir(&p).map_err(SyncError::io("create", &p))?;
        Ok(p)
    }

    /// Points the link at `target` atomically (a new link renamed over the old one).
    pub fn point_at(&self, target: &Path) -> Result<(), SyncError> {
        let mut tmp = self.link.as_os_str().to_owned();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).map_err(SyncError::io("create the link", &tmp))?;
        std::fs::rename(&tmp, &self.link).map_err(SyncError::io("replace", &self.link))?;
        if let Some(p) = self.link.parent() {
            std::fs::File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(SyncError::io("sync", p))?;
        }
        Ok(())
    }

    /// Removes generations other than `keep` (the current and the previous one).
    pub fn prune(&self, keep: &[&Path]) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if !keep.iter().any(|k| *k == p) {
                let _ = std::fs::remove_dir_all(&p);
            }
        }
    }
}

/// Writes a generation: the files, the rule file that Suricata will load (referring to
/// `output-dir`), and `validate.rules` (the same rules referring to the generation
/// itself, for `suricata -T` before the swap).
pub fn write_generation(
    gen: &Path,
    compiled: &Compiled,
    store: &Store,
    opts: &CompileOptions,
    output_dir: &Path,
) -> Result<(), SyncError> {
    compiled
        .write(store, opts, gen, output_dir)
        .map_err(SyncError::io("write the generation", gen))?;
    let validate = gen.join("validate.rules");
    std::fs::write(&validate, compiled.rules(opts, gen))
        .map_err(SyncError::io("write", &validate))?;
    for f in std::fs::read_dir(gen)
        .map_err(SyncError::io("list", gen))?
        .flatten()
    {
        let p = f.path();
        std::fs::File::open(&p)
            .and_then(|f| f.sync_all())
            .map_err(SyncError::io("sync", &p))?;
    }
    Ok(())
}

/// `suricata -T` over the generation's rules with the user's configuration.
pub fn validate(cfg: &Config, gen: &Path) -> Result<(), SyncError> {
    let logs = tempfile::tempdir()
        .map_err(SyncError::io("create a directory in", std::env::temp_dir()))?;
    let mut cmd = Command::new(&cfg.suricata.binary);
    cmd.arg("-T");
    if let Some(c) = &cfg.suricata.config {
        cmd.arg("-c").arg(c);
    }
    cmd.arg("-S")
        .arg(gen.join("validate.rules"))
        .arg("-l")
        .arg(logs.path());
    cmd.args(&cfg.suricata.test_args);
    let out = cmd.output().map_err(|source| SyncError::Spawn {
        program: cfg.suricata.binary.clone(),
        source,
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("E: ") || l.contains("Error"))
        .collect();
    let shown = if errors.is_empty() {
        text.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    } else {
        errors.join("\n")
    };
    Err(SyncError::SuricataRefused {
        status: out.status,
        shown,
    })
}

/// How a generation was put in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Files swapped; no socket configured, Suricata picks them up at its next reload.
    Swapped,
    /// Files swapped; Suricata is not running and reads them when it starts.
    NotRunning,
    /// Dataset changes pushed with `dataset-add` / `dataset-remove`.
    Live,
    /// Rules reloaded over the socket.
    Reloaded,
    /// Both: pushed (datasets declared with `state` keep their content over a reload)
    /// and reloaded (the rule file changed).
    LiveAndReloaded,
}

impl Applied {
    pub fn name(self) -> &'static str {
        match self {
            Applied::Swapped => "swapped",
            Applied::NotRunning => "swapped-not-running",
            Applied::Live => "live",
            Applied::Reloaded => "reloaded",
            Applied::LiveAndReloaded => "live-and-reloaded",
        }
    }
}

/// Tells Suricata about the new generation. `changes` is per set (added, removed).
pub fn notify(
    cfg: &Config,
    compiled: &Compiled,
    old: &Compiled,
    changes: &std::collections::BTreeMap<&'static str, (Vec<String>, Vec<String>)>,
    rules_changed: bool,
) -> Result<Applied, SyncError> {
    let Some(sock) = &cfg.suricata.socket else {
        return Ok(Applied::Swapped);
    };
    let timeout = Duration::from_secs(cfg.suricata.reload_timeout_secs);
    let socket_err = |source| SyncError::Socket {
        socket: sock.clone(),
        source,
    };
    let Some(mut s) = Suricata::connect(sock, Duration::from_secs(30)).map_err(socket_err)? else {
        return Ok(Applied::NotRunning);
    };
    let n_changes: usize = changes.values().map(|(a, r)| a.len() + r.len()).sum();
    let hash_lists_changed = changes.iter().any(|(n, (a, r))| {
        compiled.sets[n].set_type == SetType::HashList && !(a.is_empty() && r.is_empty())
    });
    // What was pushed, as the commands that take it back: if the generation is not put
    // in force after all, Suricata must not keep values the files in force lack (it
    // would even write them into those files at shutdown).
    let mut undo: Vec<(&str, Value)> = Vec::new();
    // A set Suricata does not run yet (first run, or a set that was empty) is read from
    // its file by the reload.
    let mut unknown_set = false;
    let mut failed = None;
    if cfg.dataset_mode == DatasetMode::State {
        // Datasets declared with `state` keep their content over a reload (Suricata does
        // not read the file again): the changes must be pushed whatever else happens.
        'sets: for (name, (added, removed)) in changes {
            let set = &compiled.sets[name];
            if set.set_type == SetType::HashList {
                continue;
            }
            let old_set = old.sets.get(name);
            // The command that puts `v` into the set, and the one that takes it out. A
            // datajson set (Suricata 8) takes the value with its context: the new
            // generation's when adding, the old one's when taking a removal back.
            let add = |v: &str, context: Option<&String>| -> (&'static str, Value) {
                let mut a = json!({"setname": set.name, "settype": set.set_type.name(), "datavalue": set.wire(v)});
                if !compiled.context {
                    return ("dataset-add", a);
                }
                a["datajson"] = Value::String(
                    context
                        .cloned()
                        .unwrap_or_else(|| json!({ "value": v }).to_string()),
                );
                ("dataset-add-json", a)
            };
            let remove = |v: &str| -> (&'static str, Value) {
                (
                    "dataset-remove",
                    json!({"setname": set.name, "settype": set.set_type.name(), "datavalue": set.wire(v)}),
                )
            };
            for (adding, vals) in [(true, added), (false, removed)] {
                for v in vals {
                    let ((cmd, args), undo_cmd) = if adding {
                        (add(v, set.contexts.get(v)), remove(v))
                    } else {
                        (remove(v), add(v, old_set.and_then(|o| o.contexts.get(v))))
                    };
                    match s.answer(cmd, Some(args)) {
                        Ok(Ok(_)) => undo.push(undo_cmd),
                        Ok(Err(m)) if m.contains("set not found") => {
                            unknown_set = true;
                            continue 'sets;
                        }
                        // Already gone (Suricata's saved state did not have it).
                        Ok(Err(m)) if cmd == "dataset-remove" && m.contains("failed to remove") => {
                        }
                        Ok(Err(message)) => {
                            failed = Some(SyncError::Dataset {
                                command: cmd,
                                set: set.name.to_string(),
                                message,
                            });
                            break 'sets;
                        }
                        Err(e) => {
                            failed = Some(socket_err(e));
                            break 'sets;
                        }
                    }
                }
            }
        }
        if failed.is_none()
            && !rules_changed
            && !hash_lists_changed
            && !unknown_set
            && n_changes <= cfg.live_max_changes
        {
            return Ok(Applied::Live);
        }
    }
    let result = match failed {
        Some(e) => Err(e),
        None => reload(&mut s, sock, timeout),
    };
    if let Err(e) = result {
        for (cmd, args) in undo.iter().rev() {
            let _ = s.answer(cmd, Some(args.clone()));
        }
        return Err(e);
    }
    Ok(if undo.is_empty() {
        Applied::Reloaded
    } else {
        Applied::LiveAndReloaded
    })
}

/// `ruleset-reload-nonblocking`, then waits until `ruleset-reload-time` shows a reload
/// newer than the one before, and checks that none of our rules failed to load.
fn reload(s: &mut Suricata, socket: &Path, timeout: Duration) -> Result<(), SyncError> {
    let socket_err = |source| SyncError::Socket {
        socket: socket.to_owned(),
        source,
    };
    let before = s.command("ruleset-reload-time", None).unwrap_or_default();
    s.command("ruleset-reload-nonblocking", None)
        .map_err(socket_err)?;
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = s.command("ruleset-reload-time", None).map_err(socket_err)?;
        if now != before {
            break;
        }
        if start.elapsed() > timeout {
            return Err(SyncError::ReloadTimeout {
                secs: timeout.as_secs(),
            });
        }
    }
    let failed = s.command("ruleset-failed-rules", None).unwrap_or_default();
    let ours: Vec<String> = failed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["rule"].as_str())
        .filter(|r| r.contains("suriguard"))
        .map(str::to_string)
        .collect();
    if !ours.is_empty() {
        return Err(SyncError::RulesFailed { rules: ours });
    }
    Ok(())
}

/// The rule text of the generation at `dir`, if it has one.
pub fn rules_text(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(RULES_FILE)).ok()
}
