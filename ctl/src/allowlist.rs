//! `suriguardctl allowlist list|add|delete` and the console's "never block this again":
//! the allowlist file (`[network] allowlist-file`, `allowlist.txt` in the state dir by
//! default). The plugin and its enforcer re-read the file within seconds; here the
//! firewall's allow sets are refilled and the decisions in force against the new entry
//! lifted at once, so nothing waits for them.

use serde::Serialize;
use suriguard_enforce::{now_secs, Backend, Limit, SetKind};
use suriguard_net::{AllowFile, Cidr};

use crate::config::Config;
use crate::decisions;
use crate::error::CtlError;

/// The allowlist file's lock (its folder made first: the lock file lives beside it).
fn lock(file: &std::path::Path) -> Result<suriguard_durable::Lock, CtlError> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(CtlError::file("create", dir))?;
    }
    suriguard_durable::lock(file).map_err(CtlError::file("lock", file))
}

/// Prefixes wider than these are refused (`/0` would switch blocking off).
const MIN_V4: u8 = 8;
const MIN_V6: u8 = 32;

/// One entry of `allowlist list`.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub target: Cidr,
    /// `config` ([network] allowlist) or `file` (the allowlist file).
    pub source: &'static str,
    /// The file line's comment (who added it, when, why).
    pub note: String,
}

/// Both parts of the allowlist, and the lines of the file that were skipped.
pub fn list(cfg: &Config) -> Result<(Vec<Entry>, Vec<String>), CtlError> {
    let path = cfg.allowlist_file();
    let file = AllowFile::read(&path).map_err(CtlError::file("read the allowlist file", &path))?;
    let mut out: Vec<Entry> = cfg
        .network
        .allowlist
        .iter()
        .map(|&target| Entry {
            target,
            source: "config",
            note: String::new(),
        })
        .collect();
    for (target, note) in file.entries {
        if !cfg.network.allowlist.contains(&target) {
            out.push(Entry {
                target,
                source: "file",
                note,
            });
        }
    }
    Ok((out, file.skipped))
}

/// What `allowlist add` did.
#[derive(Debug, Serialize)]
pub struct Added {
    pub target: Cidr,
    pub file: std::path::PathBuf,
    /// False when the file held it already (the rest is done all the same).
    pub added: bool,
    /// Whether nftables' allow sets were refilled (false with `backend = "none"`).
    pub allow_sets_refreshed: bool,
    /// The decisions in force that were lifted: the target's and those inside it.
    pub lifted: Vec<Lifted>,
}

#[derive(Debug, Serialize)]
pub struct Lifted {
    pub target: Cidr,
    pub action: SetKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
}

/// Adds `target` to the allowlist file (the line's comment names `by`, the time and
/// `note`), refills the allow sets and lifts every decision in force against it or
/// inside it, journaled as done by `by`.
pub fn add(cfg: &Config, target: Cidr, note: &str, by: &str) -> Result<Added, CtlError> {
    let file = cfg.allowlist_file();
    let min = if target.addr().is_ipv4() {
        MIN_V4
    } else {
        MIN_V6
    };
    if target.prefix_len() < min {
        return Err(CtlError::AllowlistTooWide { target, min, file });
    }
    let full = suriguard_decision::rfc3339(suriguard_eve::EveTime(now_secs() as i64 * 1_000_000));
    let stamp = format!("{}Z", &full[..19]);
    let comment = if note.trim().is_empty() {
        format!("{by}, {stamp}")
    } else {
        format!("{by}, {stamp}: {}", note.trim())
    };
    let added = {
        // The console and the CLI may write at once: one read-modify-rename at a time.
        let _lock = lock(&file)?;
        AllowFile::add(&file, target, &comment).map_err(CtlError::file("write", &file))?
    };
    tracing::info!(
        "{by} added {target} to the allowlist file {}",
        file.display()
    );
    let mut out = Added {
        target,
        file,
        added,
        allow_sets_refreshed: false,
        lifted: Vec::new(),
    };
    if cfg.enforce.backend == Backend::Nftables {
        decisions::setup(cfg)?;
        out.allow_sets_refreshed = true;
    }
    let (rows, warning) = decisions::list(cfg)?;
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    let mut inside: Vec<Cidr> = rows
        .iter()
        .filter(|r| {
            target.contains(r.target.addr()) && r.target.prefix_len() >= target.prefix_len()
        })
        .map(|r| r.target)
        .collect();
    inside.sort();
    inside.dedup();
    for t in inside {
        for (action, limit) in decisions::delete_by(cfg, t, by)? {
            out.lifted.push(Lifted {
                target: t,
                action,
                limit,
            });
        }
    }
    Ok(out)
}

/// Removes `target` from the allowlist file and refills the allow sets. Entries of
/// `[network] allowlist` live in the configuration file and are refused here.
pub fn delete(cfg: &Config, target: Cidr, by: &str) -> Result<(), CtlError> {
    let file = cfg.allowlist_file();
    let removed = {
        let _lock = lock(&file)?;
        AllowFile::remove(&file, target).map_err(CtlError::file("write", &file))?
    };
    if !removed {
        return Err(CtlError::NotAllowlisted {
            target,
            in_config: cfg.network.allowlist.contains(&target),
            file,
        });
    }
    tracing::info!(
        "{by} removed {target} from the allowlist file {}",
        file.display()
    );
    if cfg.enforce.backend == Backend::Nftables {
        decisions::setup(cfg)?;
    }
    Ok(())
}
