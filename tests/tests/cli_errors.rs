//! How rulesync and suriguardctl fail: the same exit status for the same kind of problem
//! (suriguard-cli's `ExitStatus`), and messages that name the file, the key or the input
//! at fault with the reason underneath.

use std::path::{Path, PathBuf};

use suriguard_e2e::{ctl, json, report_source, rulesync, Ran};

/// The statuses of suriguard-cli's `ExitStatus` (pinned by its unit test).
const USAGE: i32 = 2;
const CONFIG: i32 = 3;
const FAILURE: i32 = 1;

fn code(r: &Ran) -> Option<i32> {
    r.output.status.code()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A rulesync configuration with its output and state inside `dir`, plus `body`.
fn rulesync_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    write(
        dir,
        name,
        &format!(
            "output-dir = \"{}\"\nstate-dir = \"{}\"\n{body}",
            dir.join("out").display(),
            dir.join("state").display()
        ),
    )
}

/// A suriguardctl configuration that never touches the firewall, plus `body`.
fn ctl_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    write(
        dir,
        name,
        &format!(
            "state-dir = \"{}\"\n[enforce]\nbackend = \"none\"\n{body}",
            dir.join("state").display()
        ),
    )
}

/// An invalid value, an unknown key and a missing file: exit status 3 from both programs,
/// with the file and the key named on stderr.
#[test]
fn a_bad_configuration_exits_3_from_both_programs_naming_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();

    // An invalid value.
    let rs = rulesync_config(d, "rs-value.toml", "action = \"explode\"\n");
    let r = rulesync(&rs, &["status"], &[]);
    assert_eq!(code(&r), Some(CONFIG), "{r}");
    let err = r.stderr();
    assert!(
        err.contains(&rs.display().to_string()) && err.contains("action \"explode\""),
        "{r}"
    );
    let sg = ctl_config(
        d,
        "sg-value.toml",
        "[detect]\nport-scan = { window = 0, threshold = 3 }\n",
    );
    let r = ctl(&sg, &["decisions", "list"], &[]);
    assert_eq!(code(&r), Some(CONFIG), "{r}");
    let err = r.stderr();
    assert!(
        err.contains(&sg.display().to_string()) && err.contains("[detect] port-scan.window"),
        "{r}"
    );

    // A key that does not exist (a typo).
    let rs = rulesync_config(d, "rs-typo.toml", "expire-afterdays = 3\n");
    let r = rulesync(&rs, &["status"], &[]);
    assert_eq!(code(&r), Some(CONFIG), "{r}");
    assert!(
        r.stderr().contains(&rs.display().to_string()) && r.stderr().contains("expire-afterdays"),
        "{r}"
    );
    let sg = ctl_config(d, "sg-typo.toml", "[detectt]\n");
    let r = ctl(&sg, &["decisions", "list"], &[]);
    assert_eq!(code(&r), Some(CONFIG), "{r}");
    assert!(
        r.stderr().contains(&sg.display().to_string()) && r.stderr().contains("`detectt`"),
        "{r}"
    );

    // No file at all: the path and the system's reason.
    let missing = d.join("missing.toml");
    for r in [
        rulesync(&missing, &["status"], &[]),
        ctl(&missing, &["decisions", "list"], &[]),
    ] {
        assert_eq!(code(&r), Some(CONFIG), "{r}");
        assert!(
            r.stderr().contains(&missing.display().to_string())
                && r.stderr().contains("No such file or directory"),
            "{r}"
        );
    }

    // A bad command line is another status, the same for both.
    let rs = rulesync_config(d, "rs-ok.toml", "");
    let sg = ctl_config(d, "sg-ok.toml", "");
    for r in [
        rulesync(&rs, &["status", "--no-such-flag"], &[]),
        ctl(&sg, &["decisions", "list", "--no-such-flag"], &[]),
    ] {
        assert_eq!(code(&r), Some(USAGE), "{r}");
    }
}

/// A source whose file is missing fails on its own (the run goes on, exit 1) and says
/// which file and why; so does a suriguardctl command given a missing input.
#[test]
fn a_missing_input_file_is_named_with_its_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let gone = d.join("feeds/gone.txt");

    let present = write(d, "present.txt", "198.51.100.7\n");
    let rs = rulesync_config(
        d,
        "rulesync.toml",
        &format!(
            "[suricata]\nvalidate = false\n\
             [[source]]\nname = \"gone\"\ntype = \"text\"\npath = \"{}\"\n\
             [[source]]\nname = \"present\"\ntype = \"text\"\npath = \"{}\"\n",
            gone.display(),
            present.display()
        ),
    );
    let r = rulesync(&rs, &["run", "-o", "json"], &[]);
    assert_eq!(code(&r), Some(FAILURE), "{r}");
    let report = json(&r);
    let source = |name: &str| report_source(&report, name).clone();
    let e = source("gone")["error"].as_str().unwrap().to_owned();
    assert!(
        e.contains(&gone.display().to_string()) && e.contains("No such file or directory"),
        "{r}"
    );
    assert_eq!(source("present")["ok"], true, "{r}");
    let err = r.stderr();
    assert!(
        err.contains(&gone.display().to_string())
            && err.contains("1 source(s) failed")
            && err.contains("gone"),
        "{r}"
    );

    let sg = ctl_config(d, "suriguard.toml", "");
    let eve = d.join("captures/eve.json");
    let r = ctl(&sg, &["analyze", "--eve", eve.to_str().unwrap()], &[]);
    assert_eq!(code(&r), Some(FAILURE), "{r}");
    assert!(
        r.stderr()
            .contains(&format!("cannot read {}", eve.display()))
            && r.stderr().contains("No such file or directory"),
        "{r}"
    );
    let stats = d.join("plugin-stats.json");
    let r = ctl(
        &sg,
        &["stats", "show", "--file", stats.to_str().unwrap()],
        &[],
    );
    assert_eq!(code(&r), Some(FAILURE), "{r}");
    assert!(
        r.stderr().contains(&stats.display().to_string())
            && r.stderr().contains("No such file or directory")
            && r.stderr().contains("stats-file"),
        "{r}"
    );
}
