//! Secrets (API keys, passwords, bot tokens) named in the configuration file.
//!
//! A secret is never written in the configuration itself: it names an environment
//! variable (`{ env = "SURIGUARD_MISP_KEY" }`) or a file only its owner can read
//! (`{ file = "/etc/suriguard/misp.key" }`, mode 0600 or 0400, owned by the user
//! suriguard runs as). The value is read when needed, trimmed, and its `Debug` form
//! is `<redacted>`, so it cannot end up in a log line by accident.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file readable by its owner only.
    File(PathBuf),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// A secret's value. Shown as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Removes every occurrence of the secret from `text` (for error messages that may
    /// quote a URL or a request carrying it).
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_string();
        }
        text.replace(&self.0, "<redacted>")
    }
}

/// `text` without `secret`, when there is one (an optional key or password).
pub fn scrub_opt(secret: Option<&Secret>, text: String) -> String {
    match secret {
        Some(s) => s.scrub(&text),
        None => text,
    }
}

impl SecretRef {
    /// Reads the secret. The error names where it was looked for, never the value.
    pub fn resolve(&self) -> Result<Secret, Error> {
        let value = match self {
            SecretRef::Env(name) => std::env::var(name).map_err(|source| Error::SecretEnv {
                name: name.clone(),
                source,
            })?,
            SecretRef::File(path) => {
                check_owner_only(path)?;
                std::fs::read_to_string(path).map_err(read_error(path))?
            }
        };
        let value = value.trim().to_string();
        let bad = |what| Error::SecretValue {
            secret: self.clone(),
            what,
        };
        if value.is_empty() {
            return Err(bad("is empty"));
        }
        if value.contains(['\r', '\n']) {
            return Err(bad("spans several lines"));
        }
        Ok(Secret(value))
    }
}

/// Refuses a secret file that others may read or that belongs to someone else.
fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::SecretRead {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(unix)]
fn check_owner_only(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).map_err(read_error(path))?;
    if meta.mode() & 0o077 != 0 {
        return Err(Error::SecretMode {
            path: path.to_path_buf(),
            mode: meta.mode() & 0o777,
        });
    }
    // /proc/self belongs to the process's effective user: no libc call needed.
    if let Ok(me) = std::fs::metadata("/proc/self") {
        if me.uid() != meta.uid() {
            return Err(Error::SecretOwner {
                path: path.to_path_buf(),
                owner: meta.uid(),
                me: me.uid(),
            });
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_: &Path) -> Result<(), Error> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn file_secret_must_be_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        std::fs::write(&p, "s3cr3t-value\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = SecretRef::File(p.clone());
        let e = r.resolve().unwrap_err().to_string();
        assert!(
            e.contains("readable by others") && !e.contains("s3cr3t"),
            "{e}"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = r.resolve().unwrap();
        assert_eq!(s.expose(), "s3cr3t-value");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.scrub("GET /bots3cr3t-value/x"), "GET /bot<redacted>/x");
    }

    #[test]
    fn env_secret_and_its_errors() {
        let r = SecretRef::Env("SURIGUARD_TEST_SECRET_UNSET_42".into());
        assert!(r
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("SURIGUARD_TEST_SECRET_UNSET_42"));
        let parsed: SecretRef = toml::from_str::<toml::Table>("k = { env = \"X\" }").unwrap()["k"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(parsed, SecretRef::Env("X".into()));
    }
}
