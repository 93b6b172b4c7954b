//! Per-device baselines with real Suricata loading the real plugin on a real IoT capture:
//! the device is identified by its MAC and DHCP host name, its baseline is saved when
//! Suricata stops and loaded at the next start, and an unreadable file never keeps
//! detection from running.

use std::path::Path;

use suriguard_detect::baseline::BaselineFile;
use suriguard_e2e::{run_suricata, shared_data, RunOptions, SuricataRun};

const DEVICE: &str = "10.10.10.123";

fn run(pcap: &Path, dir: &Path, baselines: &Path) -> SuricataRun {
    let run = run_suricata(
        pcap,
        dir,
        &RunOptions {
            config: format!(
                "[network]\nhome-networks = [\"10.10.10.0/24\"]\nown-addresses = [\"10.10.10.1\"]\n\
                 [detect.baseline]\nfile = {:?}\n",
                baselines.display().to_string()
            ),
            ..RunOptions::default()
        },
    );
    run.ran.assert_success();
    run
}

fn log_of(run: &SuricataRun) -> String {
    format!("{}\n{}", run.ran, run.suricata_log())
}

fn flows_on(file: &BaselineFile, port: u16) -> u64 {
    let dev = file
        .devices
        .iter()
        .find(|e| e.addr.to_string() == DEVICE)
        .expect("the device has a baseline");
    dev.profile
        .services
        .iter()
        .filter(|s| s.proto == 6 && s.port == port)
        .map(|s| s.flows)
        .sum()
}

#[test]
fn a_real_device_is_learned_saved_and_taken_back_at_the_next_start() {
    // A Fitbit Aria scale during setup: DHCP, DNS, HTTP to its cloud.
    let pcap = shared_data().join("traffic/iot-sentinel/Aria/Setup-A-4-STA.pcap");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("baselines.json");

    let first = run(&pcap, &tmp.path().join("run1"), &file);
    assert!(
        log_of(&first).contains("baselines of 0 home devices loaded"),
        "{}",
        log_of(&first)
    );
    let saved = BaselineFile::load(&file).expect("saved at shutdown");
    let dev = saved
        .devices
        .iter()
        .find(|e| e.addr.to_string() == DEVICE)
        .unwrap_or_else(|| panic!("no baseline for {DEVICE}: {saved:?}"));
    assert_eq!(dev.profile.mac.as_deref(), Some("20:f8:5e:ca:91:52"));
    assert_eq!(dev.profile.hostname.as_deref(), Some("GainSpanca9152"));
    let http = flows_on(&saved, 80);
    assert!(http > 0, "{:?}", dev.profile.services);
    assert!(
        saved
            .devices
            .iter()
            .all(|e| e.addr.to_string().starts_with("10.10.10.")),
        "only home devices have baselines: {saved:?}"
    );

    // The next start takes it back and goes on learning from it.
    let second = run(&pcap, &tmp.path().join("run2"), &file);
    let n = saved.devices.len();
    assert!(
        log_of(&second).contains(&format!("baselines of {n} home devices loaded")),
        "{}",
        log_of(&second)
    );
    let again = BaselineFile::load(&file).unwrap();
    assert_eq!(
        flows_on(&again, 80),
        2 * http,
        "the second run adds to the first"
    );

    // An unreadable file: detection runs anyway, the file is kept aside, a new one made.
    std::fs::write(&file, b"{\"format\":1,\"devices\":[{\"addr\":").unwrap();
    let third = run(&pcap, &tmp.path().join("run3"), &file);
    let log = log_of(&third);
    assert!(
        log.contains("is not valid") && log.contains("starting with empty baselines"),
        "{log}"
    );
    let aside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("baselines.json.unreadable-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the unreadable file is kept aside");
    assert!(std::fs::read(aside[0].path())
        .unwrap()
        .starts_with(b"{\"format\":1"));
    assert_eq!(flows_on(&BaselineFile::load(&file).unwrap(), 80), http);
    assert!(third.plugin_stats().ingest.records > 0);
}
