//! pcapgen: writes reproducible captures for suriguard's benchmarks, demo and tests.
//!
//! usage: pcapgen bench OUT.pcap [SOURCES]
//!
//! `bench`: SOURCES external hosts (default 10,000; from 198.18.0.0/15, the range
//! reserved for benchmarking, every tenth from 2001:db8::/32) each make four HTTP
//! requests to home web servers (every tenth for /admin, which tests/data/bench.rules
//! alerts on), two DNS lookups (some for `bad-*` names, also alerted on) and one SYN
//! probe that gets no answer. Through Suricata that is about 15 EVE records per source:
//! flows, http, dns and alerts mixed. The same arguments always give the same bytes.

use std::process::ExitCode;

use suriguard_e2e::scenarios;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, out, rest @ ..] if cmd == "bench" => {
            let sources = match rest.first().map(|s| s.parse::<u32>()) {
                None => 10_000,
                Some(Ok(n)) if n > 0 => n,
                Some(_) => return usage("SOURCES must be a positive integer"),
            };
            match scenarios::mixed_iot(std::path::Path::new(out), sources) {
                Ok(packets) => {
                    eprintln!("pcapgen: wrote {out}: {sources} sources, {packets} packets");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("pcapgen: error: {out}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage("unknown command"),
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("pcapgen: {why}\nusage: pcapgen bench OUT.pcap [SOURCES]");
    ExitCode::from(2)
}
