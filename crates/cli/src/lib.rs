//! What suriguard's command-line programs (`rulesync`, `suriguardctl`) share: their
//! diagnostics go through `tracing` to stderr, formatted for whoever reads them.
//!
//! On a terminal: colour and timestamps. Under systemd (`JOURNAL_STREAM` set) or when
//! stderr is a pipe or file: plain lines, no colour, no timestamps (the journal adds its
//! own). `-q` keeps errors only, `-v` adds debug, `-vv` trace; a non-empty `RUST_LOG`
//! overrides both. Results (tables, `-o json`) are not diagnostics: they stay on stdout.

#![forbid(unsafe_code)]

use std::io::IsTerminal;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_pick_the_level() {
        assert_eq!(level(true, 2), "error");
        assert_eq!(level(false, 0), "info");
        assert_eq!(level(false, 1), "debug");
        assert_eq!(level(false, 5), "trace");
    }
}
