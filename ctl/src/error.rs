//! suriguardctl's one error type. Each variant carries the input at fault (the file, the
//! configuration key, the address, the incident, the MISP or Suricata step) and keeps the
//! error underneath as its `source`, so `main` can print the whole chain. As everywhere
//! in suriguard, the message already quotes the cause once.
//!
//! Two kinds of cause are kept as text on purpose: answers of services reached with a
//! secret (MISP, the LLM, Telegram, webhooks, SMTP), whose errors may quote the URL or
//! the credentials and are scrubbed before they are kept ([`CtlError::Remote`]); and
//! messages another crate only gives as text (a CIDR that does not parse, nft's stderr
//! inside [`suriguard_enforce::nft::NftError`]).

use std::path::PathBuf;

use suriguard_cli::ExitStatus;
use suriguard_net::Cidr;

/// Every way a suriguardctl command fails.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    // The configuration (exit status 3).
    /// The configuration file cannot be read, or a section is invalid (the error names
    /// the file and the key).
    #[error(transparent)]
    Config(#[from] suriguard_config::ConfigError),
    /// `config check` found problems (each printed with its key before this).
    #[error("{count} problem(s) in {}", path.display())]
    ConfigProblems { path: PathBuf, count: usize },
    /// A setting the command needs is not set (`key`: `[misp] url`).
    #[error("{key} is not set in the configuration")]
    Unset { key: &'static str },
    /// `notify test` without any channel.
    #[error("no channel configured ([notify.email], [notify.telegram], [notify.webhook])")]
    NoChannel,
    /// A firewall command with `[enforce] backend = "none"`.
    #[error("[enforce] backend = \"none\": nothing to {action}")]
    NoBackend { action: &'static str },

    // The command line (exit status 2).
    /// A duration that does not parse (`--ttl`).
    #[error("{text:?}: {problem}")]
    Duration { text: String, problem: String },
    /// A `--since` that is neither a duration nor a time (`source`: why not a duration).
    #[error("--since {text:?}: not a duration (30m, 24h, 7d), a date or an RFC 3339 time")]
    Since { text: String, source: Box<CtlError> },
    /// An address or prefix that does not parse (the message quotes it).
    #[error("{message}")]
    Address { text: String, message: String },
    /// An unknown feature extractor.
    #[error("unknown extractor {text:?} (flow-seq-v1 or seed-v1)")]
    Extractor { text: String },
    /// Options that do not go together.
    #[error("{0}")]
    Args(&'static str),

    // Files.
    /// A file or directory suriguardctl reads or writes (`action`: "read", "create"...).
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The plugin's stats file cannot be read.
    #[error("cannot read {}: {source} (set `stats-file` in the plugin's eve-log section)", path.display())]
    StatsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that is not the plugin's stats file.
    #[error("{} is not a suriguard stats file: {source}", path.display())]
    NotStats {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A line of a labels file that is not a label.
    #[error("{}:{line}: {source}", path.display())]
    LabelLine {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    /// A Zeek conn.log row that is not a flow (`reason` quotes the field at fault).
    #[error("Zeek row: {reason}")]
    ZeekRow { reason: String },
    /// An evaluation manifest that is not one.
    #[error("manifest {}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// An evaluation manifest without captures.
    #[error("manifest {} lists no captures", path.display())]
    EmptyManifest { path: PathBuf },
    /// Results cannot be written.
    #[error("cannot write to standard output: {source}")]
    Stdout { source: std::io::Error },
    /// A result that cannot be put into JSON or TOML (`what` says which).
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    // The store.
    /// SQLite failed on the store at `path` while doing `op`.
    #[error("{}: {op}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        op: String,
        source: rusqlite::Error,
    },
    /// SQLite refused WAL mode.
    #[error("{}: SQLite refused WAL mode ({mode})", path.display())]
    Wal { path: PathBuf, mode: String },
    /// A store written by a newer suriguardctl.
    #[error("{}: the store has schema version {version}, newer than this suriguardctl knows (version {known}); upgrade suriguardctl or point `[alerts] database` at another file", path.display())]
    NewerStore {
        path: PathBuf,
        version: i64,
        known: i64,
    },
    /// A database that is not a suriguardctl store.
    #[error("{}: migrating the schema from version 0 to 1: table {table} has columns ({}), version 1 has ({}): not a suriguardctl store", path.display(), have.join(", "), want.join(", "))]
    ForeignStore {
        path: PathBuf,
        table: String,
        have: Vec<String>,
        want: Vec<String>,
    },
    /// An incident id that is in the store nowhere.
    #[error("no incident {id} in {} (see `suriguardctl alerts list`)", database.display())]
    NoIncident { id: String, database: PathBuf },
    /// A key prefix several incidents share.
    #[error("{id} matches several incidents; give more of the key")]
    AmbiguousIncident { id: String },

    // Decisions and the firewall.
    /// The enforcement journal cannot be read or appended to.
    #[error("{}: {source}", path.display())]
    Journal {
        path: PathBuf,
        source: std::io::Error,
    },
    /// nft failed.
    #[error(transparent)]
    Nft(#[from] suriguard_enforce::nft::NftError),
    /// nft failed after the decision was journaled (`what`: "decision").
    #[error("{source} (the {what} is journaled and will be applied when nftables works)")]
    NftJournaled {
        what: &'static str,
        source: suriguard_enforce::nft::NftError,
    },
    /// The live sets could not be read, so the deletion was only journaled.
    #[error("{warning} (the deletion is journaled)")]
    DeleteUnchecked { target: Cidr, warning: String },
    /// A decision against an address the network model protects.
    #[error("refusing to {action} {target}: {why}")]
    Protected {
        action: &'static str,
        target: Cidr,
        why: &'static str,
    },
    /// A quarantine of more than one address.
    #[error("quarantine is for one home device; {target} is a prefix")]
    QuarantinePrefix { target: Cidr },
    /// A target inside an element already in the set.
    #[error("{target} is already covered by {by} in the {set} set")]
    Covered {
        target: Cidr,
        by: Cidr,
        set: &'static str,
    },
    /// `decisions delete` of a target without a decision.
    #[error("no decision in force against {target}")]
    NoDecision { target: Cidr },
    /// `allowlist add` of a prefix so wide it would switch blocking off for a good part
    /// of the internet.
    #[error(
        "refusing to allowlist {target}: wider than /{min} (edit {} by hand if you mean it)",
        file.display()
    )]
    AllowlistTooWide {
        target: Cidr,
        min: u8,
        file: PathBuf,
    },
    /// `allowlist delete` of an entry the allowlist file does not hold.
    #[error("{target} is not in the allowlist file {}{}", file.display(),
        if *in_config { " (it is in [network] allowlist of the configuration file: edit that)" } else { "" })]
    NotAllowlisted {
        target: Cidr,
        file: PathBuf,
        in_config: bool,
    },
    /// `decisions explain` of an id or address the journal (and its previous generation)
    /// does not name.
    #[error("no decision in {j} or {j}.1 has id or target {what:?} (older generations are compressed: zgrep {what:?} {j}.*.gz)", j = journal.display())]
    NoSuchDecision { what: String, journal: PathBuf },

    // The console.
    /// The console cannot start, listen or keep serving (`what`: "listen on 127.0.0.1:8787").
    #[error("console: cannot {what}: {source}")]
    Serve {
        what: String,
        source: std::io::Error,
    },
    /// A long-running command could not install its SIGTERM/SIGINT handlers.
    #[error("cannot install the SIGTERM/SIGINT handlers: {source}")]
    Signals { source: std::io::Error },
    /// The console's TLS certificate or key does not load.
    #[error("console TLS: {}: {message}", path.display())]
    Tls { path: PathBuf, message: String },
    /// `serve passwd`: the password read on stdin was refused.
    #[error("serve passwd: {0}")]
    Password(String),

    // Models, captures, Suricata.
    /// A model or its metadata that does not load (the error names the file).
    #[error(transparent)]
    Model(#[from] suriguard_detect::model::runtime::ModelError),
    /// The model stage loaded no model.
    #[error("no model loaded from {}", path.display())]
    NoModel { path: PathBuf },
    /// An input `analyze` or `evaluate` was given that does not exist.
    #[error("{what} {} does not exist", path.display())]
    Missing { what: &'static str, path: PathBuf },
    /// The plugin or Suricata's configuration was not found where it is looked for.
    #[error("cannot find the {what}; pass {flag}")]
    NotLocated {
        what: &'static str,
        flag: &'static str,
    },
    /// `setup`: what it cannot do, and why (names the file or the step).
    #[error("setup: {what}")]
    Setup { what: String },
    /// Suricata cannot be started.
    #[error("cannot run suricata: {source} (is it installed? `make deps`)")]
    SuricataSpawn { source: std::io::Error },
    /// Suricata failed; `output` is what it printed.
    #[error("suricata failed ({status}):\n{output}")]
    Suricata {
        status: std::process::ExitStatus,
        output: String,
    },
    /// Suricata ran but the plugin wrote no counters.
    #[error("the plugin wrote no stats; Suricata said:\n{output}")]
    NoPluginStats { output: String },

    // MISP, the LLM, notification channels.
    /// A secret (API key, token, password) that cannot be resolved, or another
    /// reporting error (the error names the variable or file).
    #[error(transparent)]
    Report(#[from] suriguard_report::Error),
    /// The rulesync index `[misp] intel-index` names cannot be read.
    #[error("[misp] intel-index: {source}")]
    IntelIndex { source: suriguard_intel::Error },
    /// A `ca-file` that is not a PEM certificate.
    #[error("{}: not a PEM certificate: {source}", path.display())]
    CaPem {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The HTTP client cannot be built.
    #[error("HTTP client: {source}")]
    HttpClient { source: reqwest::Error },
    /// A service answered with an error or not at all; `message` is scrubbed of the
    /// secret the request carried (`service`: "LLM", "Telegram", "SMTP host:port"...).
    #[error("{service}: {message}")]
    Remote { service: String, message: String },
    /// The LLM answered without text to use.
    #[error("LLM: {source}")]
    LlmAnswer { source: suriguard_report::Error },
    /// The LLM answered without steps.
    #[error("LLM: the answer has no steps")]
    LlmNoSteps,
    /// A notification channel the configuration does not set up.
    #[error("{channel} is not configured")]
    ChannelUnset { channel: String },
    /// A mail address that does not parse.
    #[error("bad address {address:?}: {source}")]
    MailAddress {
        address: String,
        source: lettre::address::AddressError,
    },
    /// The mail cannot be put together.
    #[error("building the mail: {source}")]
    MailBuild { source: lettre::error::Error },
    /// The SMTP TLS settings do not work (a CA that does not parse...).
    #[error("TLS for {server}: {source}")]
    SmtpTls {
        server: String,
        source: lettre::transport::smtp::Error,
    },
    /// MISP failed during `events push`; the incidents stay queued.
    #[error("MISP: {message}; the incidents stay queued for the next run")]
    MispPush { message: String },
    /// `notify test`: some channels failed (each printed with its error before this).
    #[error("{} channel(s) failed: {}", channels.len(), channels.join(", "))]
    ChannelsFailed { channels: Vec<String> },
}

impl CtlError {
    /// The status suriguardctl exits with when this error ends it.
    pub fn exit_code(&self) -> ExitStatus {
        match self {
            CtlError::Config(_)
            | CtlError::ConfigProblems { .. }
            | CtlError::Unset { .. }
            | CtlError::NoChannel
            | CtlError::NoBackend { .. }
            | CtlError::ChannelUnset { .. } => ExitStatus::Config,
            CtlError::Duration { .. }
            | CtlError::Since { .. }
            | CtlError::Address { .. }
            | CtlError::Extractor { .. }
            | CtlError::Args(_)
            | CtlError::Password(_) => ExitStatus::Usage,
            CtlError::File { .. }
            | CtlError::StatsFile { .. }
            | CtlError::NotStats { .. }
            | CtlError::LabelLine { .. }
            | CtlError::ZeekRow { .. }
            | CtlError::Manifest { .. }
            | CtlError::EmptyManifest { .. }
            | CtlError::Stdout { .. }
            | CtlError::Encode { .. }
            | CtlError::Sqlite { .. }
            | CtlError::Wal { .. }
            | CtlError::NewerStore { .. }
            | CtlError::ForeignStore { .. }
            | CtlError::NoIncident { .. }
            | CtlError::AmbiguousIncident { .. }
            | CtlError::Journal { .. }
            | CtlError::Nft(_)
            | CtlError::NftJournaled { .. }
            | CtlError::DeleteUnchecked { .. }
            | CtlError::Protected { .. }
            | CtlError::QuarantinePrefix { .. }
            | CtlError::Covered { .. }
            | CtlError::NoDecision { .. }
            | CtlError::AllowlistTooWide { .. }
            | CtlError::NotAllowlisted { .. }
            | CtlError::NoSuchDecision { .. }
            | CtlError::Serve { .. }
            | CtlError::Signals { .. }
            | CtlError::Tls { .. }
            | CtlError::Model(_)
            | CtlError::NoModel { .. }
            | CtlError::Missing { .. }
            | CtlError::NotLocated { .. }
            | CtlError::SuricataSpawn { .. }
            | CtlError::Setup { .. }
            | CtlError::Suricata { .. }
            | CtlError::NoPluginStats { .. }
            | CtlError::Report(_)
            | CtlError::IntelIndex { .. }
            | CtlError::CaPem { .. }
            | CtlError::HttpClient { .. }
            | CtlError::Remote { .. }
            | CtlError::LlmAnswer { .. }
            | CtlError::LlmNoSteps
            | CtlError::MailAddress { .. }
            | CtlError::MailBuild { .. }
            | CtlError::SmtpTls { .. }
            | CtlError::MispPush { .. }
            | CtlError::ChannelsFailed { .. } => ExitStatus::Failure,
        }
    }

    /// A [`CtlError::File`] about `path`.
    pub fn file(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> CtlError {
        let path = path.into();
        move |source| CtlError::File {
            action,
            path,
            source,
        }
    }

    /// A [`CtlError::Journal`] about the journal at `path`.
    pub fn journal(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CtlError {
        let path = path.into();
        move |source| CtlError::Journal { path, source }
    }

    /// A [`CtlError::Encode`] of `what`.
    pub fn encode<E: std::error::Error + Send + Sync + 'static>(
        what: &'static str,
    ) -> impl FnOnce(E) -> CtlError {
        move |e| CtlError::Encode {
            what,
            source: Box::new(e),
        }
    }
}
