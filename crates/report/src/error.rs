//! The reporting crate's one error type. Each variant carries the input at fault (the
//! section of the configuration file, the secret's variable or file, the LLM provider)
//! and keeps the error underneath as its `source`. As everywhere in suriguard, the
//! message already quotes the cause once.

use std::path::PathBuf;

use crate::mitigate::Provider;
use crate::secret::SecretRef;

/// Every way reading a record, a setting, a secret or an answer fails.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of a reporting section out of range or inconsistent; `section` is the
    /// table (`misp`, `notify.email`), `message` names the key.
    #[error("[{section}] {message}")]
    Invalid {
        section: &'static str,
        message: String,
    },
    /// A line of eve.json or of the decisions journal that is not JSON.
    #[error("not JSON: {source}")]
    Json { source: serde_json::Error },
    /// A decisions-journal line that is not a suriguard decision.
    #[error("not a suriguard decision: {source}")]
    Decision { source: serde_json::Error },
    /// The environment variable a secret names is not set (or not UTF-8).
    #[error("environment variable {name} is not set")]
    SecretEnv {
        name: String,
        source: std::env::VarError,
    },
    /// A secret file that cannot be read.
    #[error("cannot read secret file {}: {source}", path.display())]
    SecretRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A secret file others may read.
    #[error("secret file {} is readable by others (mode {mode:o}); chmod 600 it", path.display())]
    SecretMode { path: PathBuf, mode: u32 },
    /// A secret file that belongs to another user.
    #[error("secret file {} belongs to uid {owner}, not to the user suriguard runs as (uid {me})", path.display())]
    SecretOwner { path: PathBuf, owner: u32, me: u32 },
    /// A secret whose value is empty or spans several lines (`what` says which).
    #[error("secret {secret:?} {what}")]
    SecretValue {
        secret: SecretRef,
        what: &'static str,
    },
    /// An LLM answer without usable text (`what` says why).
    #[error("{what}")]
    LlmAnswer {
        provider: Provider,
        what: &'static str,
    },
}

impl Error {
    /// An [`Error::Invalid`] of `section`.
    pub(crate) fn invalid(section: &'static str, message: impl Into<String>) -> Error {
        Error::Invalid {
            section,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn errors_name_their_input_and_keep_their_cause() {
        let e = crate::incident::from_line("{\"event_type\":\"alert\",").unwrap_err();
        assert!(
            matches!(e, Error::Json { .. }) && e.source().is_some(),
            "{e:?}"
        );
        let missing = PathBuf::from("/nonexistent/suriguard/secret.key");
        let e = SecretRef::File(missing.clone()).resolve().unwrap_err();
        assert!(
            matches!(&e, Error::SecretRead { path, .. } if *path == missing),
            "{e:?}"
        );
        assert!(e.to_string().contains("/nonexistent/suriguard/secret.key"));
        assert!(e.source().is_some());
        let bad = crate::notify::NotifyConfig {
            max_attempts: 0,
            ..Default::default()
        };
        let e = bad.validate().unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Invalid {
                    section: "notify",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "[notify] max-attempts must be at least 1");
    }
}
