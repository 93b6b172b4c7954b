//! pcapgen: writes reproducible captures for suriguard's benchmarks, demo and tests.
//!
//! usage: pcapgen SCENARIO OUT.pcap [SOURCES]
//!
//! Attack scenarios (`http-flood`, `horizontal-scan`, `telnet-brute-force`,
//! `ipv6-port-scan`, `outbound-scan`, `spoofed-syn-flood`) are documented in
//! `suriguard_e2e::scenarios`.
//!
//! `lab OUT.pcap SEED [MINUTES]`: the labelled traffic lab of `suriguard_e2e::lab` (a
//! home network with benign IoT devices and attacks), labels in OUT.labels.jsonl.
//!
//! `intel OUT.pcap NAME=IPV4...`: a home device resolves each NAME (answered with IPV4)
//! and makes one HTTP request to it, for threat-intelligence rules to match.
//!
//! `bench`: SOURCES external hosts (default 10,000; from 198.18.0.0/15, the range
//! reserved for benchmarking, every tenth from 2001:db8::/32) each make four HTTP
//! requests to home web servers (every tenth for /admin, which tests/data/bench.rules
//! alerts on), two DNS lookups (some for `bad-*` names, also alerted on) and five SYN
//! probes that get no answer. Through Suricata that is about 19 EVE records per source:
//! flows, http, dns and alerts mixed. The same arguments always give the same bytes.

use std::process::ExitCode;

use suriguard_e2e::{lab, scenarios};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, out, rest) = match args.as_slice() {
        [cmd, out, rest @ ..] => (cmd.as_str(), std::path::Path::new(out), rest),
        _ => return usage("missing arguments"),
    };
    let result = match cmd {
        "bench" => match rest.first().map(|s| s.parse::<u32>()) {
            None => scenarios::mixed_iot(out, 10_000),
            Some(Ok(n)) if n > 0 => scenarios::mixed_iot(out, n),
            Some(_) => return usage("SOURCES must be a positive integer"),
        },
        "http-flood" => scenarios::http_flood(out),
        "horizontal-scan" => scenarios::horizontal_scan(out),
        "telnet-brute-force" => scenarios::telnet_brute_force(out),
        "ipv6-port-scan" => scenarios::ipv6_port_scan(out),
        "outbound-scan" => scenarios::outbound_scan(out),
        "spoofed-syn-flood" => scenarios::spoofed_syn_flood(out),
        "lab" => {
            let seed = match rest.first().map(|s| s.parse::<u64>()) {
                Some(Ok(s)) => s,
                _ => return usage("lab takes a SEED"),
            };
            let mut spec = lab::LabSpec::new(seed);
            if let Some(m) = rest.get(1) {
                match m.parse::<u32>() {
                    Ok(m) if (1..=240).contains(&m) => spec.minutes = m,
                    _ => return usage("MINUTES must be 1..=240"),
                }
            }
            let labels = out.with_extension("labels.jsonl");
            match lab::generate(&spec, out, &labels) {
                Ok(summary) => {
                    eprintln!(
                        "pcapgen: wrote {} and {}: flows by class {summary:?}",
                        out.display(),
                        labels.display()
                    );
                    return ExitCode::SUCCESS;
                }
                Err(e) => Err(e),
            }
        }
        "intel" => {
            let mut contacts = Vec::new();
            for c in rest {
                match c.split_once('=').map(|(n, a)| (n, a.parse())) {
                    Some((name, Ok(addr))) => contacts.push((name, addr)),
                    _ => return usage("intel takes NAME=IPV4 arguments"),
                }
            }
            scenarios::intel_contacts(out, &contacts)
        }
        _ => return usage("unknown scenario"),
    };
    match result {
        Ok(packets) => {
            eprintln!("pcapgen: wrote {}: {cmd}, {packets} packets", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pcapgen: error: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!(
        "pcapgen: {why}\nusage: pcapgen SCENARIO OUT.pcap [SOURCES]\n  scenarios: bench [SOURCES], http-flood, horizontal-scan, telnet-brute-force,\n             ipv6-port-scan, outbound-scan, spoofed-syn-flood, intel NAME=IPV4...,\n             lab SEED [MINUTES] (also writes OUT.labels.jsonl)"
    );
    ExitCode::from(2)
}
