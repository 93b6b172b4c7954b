//! rulesync's one error type. Each variant carries the input at fault (the configuration
//! file and key, the source's file or URL, the document, the generation, Suricata's
//! socket) and keeps the error underneath as its `source`, so `main` can print the whole
//! chain. As everywhere in suriguard, the message already quotes the cause once.
//!
//! A source that fails does not stop a run: its error becomes text in the run report and
//! in the state file (`last-error`), printed by [`suriguard_cli::chain`].

use std::path::PathBuf;

use suriguard_cli::ExitStatus;

use crate::http::err_chain;

/// Every way a rulesync command fails.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    // The configuration file (exit status 3).
    /// The configuration file cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, a value of the wrong type (the message names the key).
    #[error("invalid config file {}: {source}", path.display())]
    ConfigParse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// A value out of range or settings that contradict each other; `key` is the key at
    /// fault (`action`, `source.<name>.url`...), which `message` names too.
    #[error("invalid config file {}: {message}", path.display())]
    ConfigInvalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// `output-dir` that cannot hold generations beside it (no final component).
    #[error("output-dir {}: needs a final component", path.display())]
    OutputDirName { path: PathBuf },

    // The run itself.
    /// A file or directory rulesync reads or writes (`action`: "read", "create"...).
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another run holds the lock.
    #[error("another rulesync run holds {}", path.display())]
    Locked { path: PathBuf },
    /// A MISP warninglist that cannot be read (the intel error names the file).
    #[error("{source}")]
    Warninglist {
        path: PathBuf,
        source: suriguard_intel::Error,
    },
    /// rulesync's state file that cannot be read or written (the intel error names it).
    #[error("{source}")]
    State {
        path: PathBuf,
        source: suriguard_intel::Error,
    },
    /// `output-dir` exists but is not the link rulesync made.
    #[error("output-dir {} exists and is not a link made by rulesync: move it away (rulesync keeps it as a link to its generations)", path.display())]
    OutputNotLink { path: PathBuf },
    /// The generation in force cannot be read back to compute what changed.
    #[error("generation {}: {source}", generation.display())]
    GenerationRead {
        generation: PathBuf,
        source: std::io::Error,
    },
    /// A new generation was not put in force; Suricata keeps what it runs on.
    #[error("nothing applied; Suricata keeps its current rules: {source}")]
    Apply {
        generation: PathBuf,
        source: Box<SyncError>,
    },
    /// Some sources failed; the run went on with their previous indicators.
    #[error(
        "{} source(s) failed; their previous indicators were kept: {}",
        sources.len(),
        sources.join(", ")
    )]
    SourcesFailed { sources: Vec<String> },

    // MISP's default feed list.
    /// The list is not MISP's feed metadata (`message` says where it went wrong).
    #[error("MISP feed list {}: {message}", path.display())]
    FeedList { path: PathBuf, message: String },
    /// No feed, or several, go by that name.
    #[error("{}", if candidates.is_empty() {
        format!("no feed in MISP's list is named {name:?} (rulesync feeds list)")
    } else {
        format!("{name:?} names {} feeds: {}", candidates.len(), candidates.join(" | "))
    })]
    FeedName {
        name: String,
        candidates: Vec<String>,
    },

    // Suricata.
    /// `suricata -T` (or another program) cannot be started.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    /// `suricata -T` refused the generated rules; `shown` is what it said about them.
    #[error("suricata -T refused the generated rules ({status}):\n{shown}")]
    SuricataRefused {
        status: std::process::ExitStatus,
        shown: String,
    },
    /// Suricata's unix socket failed (the intel error names the socket and the step).
    #[error("{source}")]
    Socket {
        socket: PathBuf,
        source: suriguard_intel::Error,
    },
    /// Suricata answered a dataset command with NOK.
    #[error("{command} {set}: {message}")]
    Dataset {
        command: &'static str,
        set: String,
        message: String,
    },
    /// The rule reload did not finish in time.
    #[error("Suricata did not finish the rule reload within {secs} s (see its log)")]
    ReloadTimeout { secs: u64 },
    /// Suricata reloaded but some generated rules did not load.
    #[error("Suricata failed to load {} generated rules: {}", rules.len(), rules.join(" | "))]
    RulesFailed { rules: Vec<String> },

    // Pulling a source.
    /// A `ca-file` that cannot be read or is not PEM.
    #[error("ca-file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The HTTP client cannot be built (TLS back end).
    #[error("HTTP client: {source}")]
    HttpClient { source: reqwest::Error },
    /// A request that got no answer (`source` says why: refused, timed out, TLS).
    #[error("{method} {url}: {}", http_cause(source))]
    Http {
        method: &'static str,
        url: String,
        source: reqwest::Error,
    },
    /// An answer with an error status.
    #[error("{method} {url}: HTTP {status}")]
    HttpStatus {
        method: &'static str,
        url: String,
        status: reqwest::StatusCode,
    },
    /// A document larger than rulesync reads (`what`: a path or `GET <url>`).
    #[error("{what}: larger than {limit_mib} MiB")]
    TooLarge { what: String, limit_mib: u64 },
    /// Reading a document failed half-way (`what`: a path or `GET <url>`).
    #[error("{what}: {source}")]
    Read {
        what: String,
        source: std::io::Error,
    },
    /// A text document that is not UTF-8 (`document`: its path, URL or feed name).
    #[error("{document}: not UTF-8 (byte {valid_up_to})")]
    NotUtf8 {
        document: String,
        valid_up_to: usize,
    },
    /// A document the intelligence crate cannot read (`document`: its path, URL or feed
    /// name; `MISP page` for the REST API).
    #[error("{document}: {source}")]
    Document {
        document: String,
        source: suriguard_intel::Error,
    },
    /// A `delimiter` that is not one ASCII character.
    #[error("source {source_name:?}: delimiter {delimiter:?} must be ASCII")]
    Delimiter {
        source_name: String,
        delimiter: char,
    },
    /// A source with neither path nor url (the configuration check prevents it).
    #[error("source {source_name:?}: no path or url")]
    NoLocation { source_name: String },
    /// A MISP feed without `manifest.json`.
    #[error("{feed}: manifest.json: not found")]
    NoManifest { feed: String },
    /// A MISP feed none of whose events could be fetched.
    #[error("{feed}: none of the {events} events in manifest.json could be fetched")]
    NoEvents { feed: String, events: usize },
    /// The MISP API key's environment variable is not set.
    #[error("API key: environment variable {var} is not set")]
    ApiKeyEnv { var: String },
    /// A MISP source without an API key (the configuration check prevents it).
    #[error("source {source_name:?}: no API key configured")]
    NoApiKey { source_name: String },
    /// The API key file cannot be read.
    #[error("API key file {}: {source}", path.display())]
    ApiKeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The API key file may be read by others.
    #[error("API key file {} is readable by others (mode {mode:o}): chmod 600 it", path.display())]
    ApiKeyMode { path: PathBuf, mode: u32 },
    /// The API key file is empty.
    #[error("API key file {} is empty", path.display())]
    ApiKeyEmpty { path: PathBuf },
    /// MISP refused the API key.
    #[error("POST {url}: MISP refused the API key (HTTP {status})")]
    MispKey {
        url: String,
        status: reqwest::StatusCode,
    },
    /// MISP's answer cannot be read to its end.
    #[error("POST {url}: reading the answer: {}", http_cause(source))]
    MispAnswer { url: String, source: reqwest::Error },
    /// MISP kept sending full pages.
    #[error("POST {url}: more than {pages} pages; is limit ignored?")]
    TooManyPages { url: String, pages: u32 },
}

/// "timed out", or the whole chain of a request error (reqwest's own message alone says
/// only "error sending request").
fn http_cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else {
        err_chain(e)
    }
}

impl SyncError {
    /// The status rulesync exits with when this error ends it.
    pub fn exit_code(&self) -> ExitStatus {
        match self {
            SyncError::ConfigRead { .. }
            | SyncError::ConfigParse { .. }
            | SyncError::ConfigInvalid { .. }
            | SyncError::OutputDirName { .. } => ExitStatus::Config,
            SyncError::Io { .. }
            | SyncError::Locked { .. }
            | SyncError::Warninglist { .. }
            | SyncError::State { .. }
            | SyncError::OutputNotLink { .. }
            | SyncError::GenerationRead { .. }
            | SyncError::Apply { .. }
            | SyncError::SourcesFailed { .. }
            | SyncError::Spawn { .. }
            | SyncError::SuricataRefused { .. }
            | SyncError::Socket { .. }
            | SyncError::Dataset { .. }
            | SyncError::ReloadTimeout { .. }
            | SyncError::RulesFailed { .. }
            | SyncError::CaFile { .. }
            | SyncError::HttpClient { .. }
            | SyncError::Http { .. }
            | SyncError::HttpStatus { .. }
            | SyncError::TooLarge { .. }
            | SyncError::Read { .. }
            | SyncError::NotUtf8 { .. }
            | SyncError::Document { .. }
            | SyncError::Delimiter { .. }
            | SyncError::NoLocation { .. }
            | SyncError::NoManifest { .. }
            | SyncError::NoEvents { .. }
            | SyncError::ApiKeyEnv { .. }
            | SyncError::NoApiKey { .. }
            | SyncError::ApiKeyFile { .. }
            | SyncError::ApiKeyMode { .. }
            | SyncError::ApiKeyEmpty { .. }
            | SyncError::MispKey { .. }
            | SyncError::MispAnswer { .. }
            | SyncError::TooManyPages { .. }
            | SyncError::FeedList { .. }
            | SyncError::FeedName { .. } => ExitStatus::Failure,
        }
    }

    /// An [`SyncError::Io`] about `path`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SyncError {
        let path = path.into();
        move |source| SyncError::Io {
            action,
            path,
            source,
        }
    }

    /// A [`SyncError::State`] about the state file at `path`.
    pub fn state(path: impl Into<PathBuf>) -> impl FnOnce(suriguard_intel::Error) -> SyncError {
        let path = path.into();
        move |source| SyncError::State { path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn errors_name_their_input_and_keep_their_cause() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.txt");
        let cfg_path = dir.path().join("rulesync.toml");
        std::fs::write(
            &cfg_path,
            format!(
                "output-dir = \"{}\"\n[[source]]\nname = \"gone\"\ntype = \"text\"\npath = \"{}\"\n",
                dir.path().join("out").display(),
                gone.display()
            ),
        )
        .unwrap();
        let cfg = crate::config::Config::load(&cfg_path).unwrap();
        let n = suriguard_intel::Normalizer {
            min_prefix_v4: 16,
            min_prefix_v6: 48,
            warninglists: suriguard_intel::Warninglists::builtin(),
        };
        let e = crate::pull::pull(&cfg.sources[0], &Default::default(), 0, &n, &|_, _| {})
            .err()
            .expect("the file is missing");
        assert!(
            matches!(&e, SyncError::Io { path, .. } if *path == gone),
            "{e:?}"
        );
        assert!(e.to_string().contains(&gone.display().to_string()), "{e}");
        assert!(e.source().is_some(), "the cause is kept");
        assert_eq!(e.exit_code(), ExitStatus::Failure);

        std::fs::write(&cfg_path, "output-dir = \"/tmp/x\"\nsid-base = 0\n").unwrap();
        let e = crate::config::Config::load(&cfg_path).unwrap_err();
        assert!(
            matches!(&e, SyncError::ConfigInvalid { key, .. } if key == "sid-base"),
            "{e:?}"
        );
        assert!(e.to_string().contains(&cfg_path.display().to_string()));
        assert_eq!(e.exit_code(), ExitStatus::Config);
    }
}
