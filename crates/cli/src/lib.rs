//! What suriguard's command-line programs (`rulesync`, `suriguardctl`) share: their
//! diagnostics go through `tracing` to stderr, formatted for whoever reads them.
//!
//! On a terminal: colour and timestamps. Under systemd (`JOURNAL_STREAM` set) or when
//! stderr is a pipe or file: plain lines, no colour, no timestamps (the journal adds its
//! own). `-q` keeps errors only, `-v` adds debug, `-vv` trace; a non-empty `RUST_LOG`
//! overrides both. Results (tables, `-o json`) are not diagnostics: they stay on stdout.
//!
//! They also share how they end: [`ExitStatus`] is the one table of exit statuses, so the
//! same situation (a bad configuration file, say) gives the same status whichever
//! program met it, and [`chain`] prints an error with every cause under it.

#![forbid(unsafe_code)]

#[cfg(feature = "docs")]
pub mod docs;

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// The level `-q`/`-v` select.
pub fn level(quiet: bool, verbose: u8) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    }
}

/// Installs the stderr subscriber once (a second call is a no-op).
pub fn init_tracing(quiet: bool, verbose: u8) {
    let level = level(quiet, verbose);
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(level)),
        _ => EnvFilter::new(level),
    };
    let plain = !std::io::stderr().is_terminal() || std::env::var_os("JOURNAL_STREAM").is_some();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if plain {
        b.with_ansi(false).without_time().try_init()
    } else {
        b.with_ansi(true).try_init()
    };
}

/// How `rulesync` and `suriguardctl` end. The numbers are an interface (scripts, systemd
/// units and the end-to-end tests rely on them) and the same for both programs.
///
/// Few on purpose, in the spirit of BSD's `sysexits.h` but with the small numbers shell
/// tools use: 2 is what clap (like grep and diff) returns for a bad command line, so a
/// configuration problem, which an operator fixes in a file rather than on the command
/// line, gets a status of its own after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Done (`rulesync lookup`: the value is an indicator in force).
    Ok = 0,
    /// Anything else went wrong: a file, the store, MISP, nftables, Suricata, a
    /// notification channel. Also a partial `rulesync run` (some sources failed, their
    /// previous indicators were kept) and a `rulesync lookup` that found nothing.
    Failure = 1,
    /// A bad command line: an unknown option, a value that does not parse (clap's own
    /// status).
    Usage = 2,
    /// The configuration file is missing, unreadable or invalid, or lacks a setting the
    /// command needs; `suriguardctl config check` found problems.
    Config = 3,
}

impl ExitStatus {
    /// Every status, in numeric order.
    pub const ALL: [ExitStatus; 4] = [
        ExitStatus::Ok,
        ExitStatus::Failure,
        ExitStatus::Usage,
        ExitStatus::Config,
    ];

    /// The number the process exits with.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s.code())
    }
}

/// `e` and every cause under it, joined by `: caused by: `. A cause whose text the message
/// above it already quotes is not repeated (suriguard's own errors quote their cause
/// once; a library's error, such as an HTTP client's, often does not).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": caused by: ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are an interface: scripts, systemd units and the end-to-end tests
    /// rely on them. Changing one is a breaking change, not a refactoring.
    #[test]
    fn exit_statuses_are_pinned() {
        assert_eq!(ExitStatus::Ok.code(), 0);
        assert_eq!(ExitStatus::Failure.code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
        assert_eq!(ExitStatus::Config.code(), 3);
        let codes: Vec<u8> = ExitStatus::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3], "ALL lists every status once, in order");
        assert_eq!(ExitCode::from(ExitStatus::Config), ExitCode::from(3));
    }

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn chain_adds_causes_the_message_does_not_quote() {
        let io = E("connection refused", None);
        let req = E("error sending request", Some(Box::new(io)));
        let top = E(
            "GET http://misp/x: error sending request",
            Some(Box::new(req)),
        );
        assert_eq!(
            chain(&top),
            "GET http://misp/x: error sending request: caused by: connection refused"
        );
        assert_eq!(chain(&E("alone", None)), "alone");
    }

    #[test]
    fn flags_pick_the_level() {
        assert_eq!(level(true, 2), "error");
        assert_eq!(level(false, 0), "info");
        assert_eq!(level(false, 1), "debug");
        assert_eq!(level(false, 5), "trace");
    }
}
