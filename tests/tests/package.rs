//! The Debian package, the way a user meets it: `apt-get install ./suriguard_….deb` into
//! a Debian 13 root (Suricata 8.0.8 from trixie-backports) and a Debian 12 root (Suricata
//! 7.0.10 from bookworm-backports), `suriguardctl setup --yes` proposing the home network
//! from the namespace's interfaces, Suricata from that root on a real nmap capture (the
//! plugin loads, decides, journals, the attacker lands in the nftables set), then
//! `apt-get remove` (Suricata's configuration byte for byte as before, `suricata -T`
//! passes, the table gone) and `apt-get purge` (the state gone).
//!
//! Each root is an overlay over the cached root of `scripts/debian-root.sh`, so the cache
//! stays clean; nftables is purged from the overlay first, so apt has to resolve the
//! package's dependencies itself. The package is `make deb`'s (scripts/deb.sh; `make test`
//! builds it first).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use suriguard_e2e::netns::Lab;
use suriguard_e2e::{workspace_root, Ran};

/// The nmap SYN scan of the real-tool lab (`nmap -sS -T4 192.168.50.20`).
const ATTACKER: &str = "203.0.113.11";

/// A root of `scripts/debian-root.sh` under an overlay, with /proc and /dev mounted;
/// everything is unmounted on drop.
struct Overlay {
    dir: tempfile::TempDir,
    mounts: Vec<PathBuf>,
}

impl Overlay {
    fn over(lower: &Path) -> Overlay {
        let dir = tempfile::Builder::new()
            .prefix("sgpkg")
            .tempdir_in("/var/tmp")
            .unwrap();
        let mut o = Overlay {
            dir,
            mounts: Vec::new(),
        };
        for d in ["upper", "work", "root"] {
            std::fs::create_dir(o.dir.path().join(d)).unwrap();
        }
        let root = o.root();
        o.mount(&[
            "-t",
            "overlay",
            "overlay",
            "-o",
            &format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.display(),
                o.dir.path().join("upper").display(),
                o.dir.path().join("work").display()
            ),
            &root.display().to_string(),
        ]);
        o.mounts.push(root.clone());
        o.mount(&[
            "-t",
            "proc",
            "proc",
            &root.join("proc").display().to_string(),
        ]);
        o.mounts.push(root.join("proc"));
        o.mount(&["--bind", "/dev", &root.join("dev").display().to_string()]);
        o.mounts.push(root.join("dev"));
        std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf")).unwrap();
        o
    }

    fn mount(&self, args: &[&str]) {
        let out = Command::new("mount").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "mount {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// `sh -c CMD` inside the root (in network namespace `ns` if given).
    fn sh(&self, ns: Option<&str>, cmd: &str) -> Output {
        let mut c = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "chroot"]);
                c
            }
            None => Command::new("chroot"),
        };
        c.arg(self.root())
            .args(["/usr/bin/env", "-i"])
            .args([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "DEBIAN_FRONTEND=noninteractive",
                "LANG=C.UTF-8",
            ])
            .args(["sh", "-c", cmd]);
        c.output().unwrap()
    }

    /// Like [`Overlay::sh`], and requires success; returns stdout.
    fn must(&self, ns: Option<&str>, cmd: &str) -> String {
        let out = self.sh(ns, cmd);
        assert!(
            out.status.success(),
            "in the root: {cmd}\nstatus {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn read(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.root().join(path.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("{path} in the root: {e}"))
    }

    fn exists(&self, path: &str) -> bool {
        self.root().join(path.trim_start_matches('/')).exists()
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

/// The .deb `make deb` built for this machine's architecture.
fn package() -> PathBuf {
    let dir = workspace_root().join("target/debian");
    let arch = String::from_utf8(
        Command::new("dpkg")
            .arg("--print-architecture")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let suffix = format!("_{}.deb", arch.trim());
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(&suffix))
        .collect();
    debs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    debs.pop().unwrap_or_else(|| {
        panic!(
            "no suriguard_*{suffix} in {}: run `make deb` (make test does)",
            dir.display()
        )
    })
}

fn cached_root(suite: &str) -> PathBuf {
    let mut cmd = Command::new(workspace_root().join("scripts/debian-root.sh"));
    cmd.arg(suite);
    let r = Ran::run(cmd, &workspace_root());
    r.assert_success();
    PathBuf::from(r.stdout().trim())
}

/// The real nmap SYN scan, cut from the real-tool lab's capture.
fn nmap_capture(dir: &Path) -> PathBuf {
    let lab = workspace_root().join("target/lab/real-tools");
    let mut cmd = Command::new(workspace_root().join("scripts/lab/real-tools.sh"));
    cmd.arg(&lab);
    Ran::run(cmd, &workspace_root()).assert_success();
    let out = dir.join("nmap-syn.pcap");
    let mut cmd = Command::new("tcpdump");
    cmd.arg("-r")
        .arg(lab.join("lab.pcap"))
        .arg("-w")
        .arg(&out)
        .args(["host", ATTACKER]);
    Ran::run(cmd, &workspace_root()).assert_success();
    out
}

fn install_setup_detect_remove_purge(suite: &str, major: &str) {
    let deb = package();
    let lower = cached_root(suite);
    let work = tempfile::tempdir().unwrap();
    let pcap = nmap_capture(work.path());
    let root = Overlay::over(&lower);

    // The user's machine: Suricata from backports with its own configuration and rules
    // (what suricata-update would have written), and no nftables yet.
    root.must(
        None,
        "apt-get purge -y -qq nftables jq >/dev/null && apt-get autoremove -y -qq >/dev/null",
    );
    root.must(
        None,
        "mkdir -p /var/lib/suricata/rules && echo 'alert icmp any any -> any any (msg:\"user rule\"; sid:1000001; rev:1;)' > /var/lib/suricata/rules/suricata.rules",
    );
    let version = root.must(None, "suricata -V");
    assert!(version.contains(&format!("version {major}.")), "{version}");
    let original = root.read("/etc/suricata/suricata.yaml");
    root.must(
        None,
        "suricata -T -c /etc/suricata/suricata.yaml >/dev/null 2>&1",
    );

    // apt-get install ./suriguard_….deb: the dependencies come from the mirror.
    std::fs::copy(&deb, root.root().join("tmp/suriguard.deb")).unwrap();
    root.must(
        None,
        "apt-get update -qq && apt-get install -y -qq /tmp/suriguard.deb",
    );
    root.must(
        None,
        "dpkg -s nftables | grep -q '^Status: install ok installed'",
    );
    assert!(root.exists("/var/lib/suriguard"));
    assert!(root.exists("/usr/share/man/man1/suriguardctl-setup.1.gz"));
    assert!(root.exists("/usr/share/bash-completion/completions/suriguardctl"));
    let conffiles = root.must(None, "dpkg-query -W -f='${Conffiles}' suriguard");
    assert!(
        conffiles.contains("/etc/suriguard/suriguard.toml"),
        "{conffiles}"
    );
    assert_eq!(
        root.read("/etc/suricata/suricata.yaml"),
        original,
        "installing alone edits nothing"
    );

    // A home network namespace: its interface and routes are what setup proposes.
    let mut lab = Lab::new();
    let ns = lab.ns("home");
    let gw = lab.ns("gw");
    lab.link(
        &ns,
        "lan0",
        &["192.168.50.1/24"],
        &gw,
        "up0",
        &["192.168.50.254/24"],
    );
    lab.sh(&ns, "ip route add default via 192.168.50.254");

    let dry = root.must(Some(&ns), "suriguardctl setup --dry-run");
    assert!(dry.contains("would add 2 line(s)"), "{dry}");
    assert_eq!(
        root.read("/etc/suricata/suricata.yaml"),
        original,
        "--dry-run changes nothing"
    );

    let out = root.must(Some(&ns), "suriguardctl -o json setup --yes");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["home_networks"],
        serde_json::json!(["192.168.50.0/24"]),
        "{report:#}"
    );
    let own: Vec<&str> = report["own_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        own.contains(&"192.168.50.1") && own.contains(&"192.168.50.254"),
        "{report:#}"
    );
    assert_eq!(report["suricata_test"], "suricata -T: ok", "{report:#}");
    assert!(
        report["config_check"].as_str().unwrap().ends_with(": ok"),
        "{report:#}"
    );
    assert_eq!(
        report["added_lines"].as_array().unwrap().len(),
        2,
        "{report:#}"
    );
    let edited = String::from_utf8(root.read("/etc/suricata/suricata.yaml")).unwrap();
    assert!(
        edited.contains("  - /usr/lib/suriguard/libsuriguard.so  # suriguard-setup\n"),
        "{edited}"
    );
    assert!(edited.contains("  - include: /etc/suriguard/suricata-eve.yaml  # suriguard-setup\n"));
    let config = String::from_utf8(root.read("/etc/suriguard/suriguard.toml")).unwrap();
    assert!(
        config.contains("home-networks = [\"192.168.50.0/24\"]"),
        "{config}"
    );
    assert!(config.contains("dry-run = false"), "{config}");
    // A second setup finds it done.
    let again = root.must(Some(&ns), "suriguardctl setup --yes");
    assert!(again.contains("already set up"), "{again}");

    // Suricata from the root, the user's configuration, the real nmap capture.
    std::fs::copy(&pcap, root.root().join("tmp/nmap-syn.pcap")).unwrap();
    let run = root.sh(
        Some(&ns),
        "mkdir -p /tmp/sglog && suricata -c /etc/suricata/suricata.yaml -r /tmp/nmap-syn.pcap -l /tmp/sglog -k none --runmode single 2>&1",
    );
    let log = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "suricata -r:\n{log}");
    assert!(
        log.contains("suriguard: started in Suricata"),
        "the plugin loads:\n{log}"
    );
    let decisions = String::from_utf8(root.read("/var/lib/suriguard/decisions.jsonl")).unwrap();
    let blocked: Vec<Value> = decisions
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d["target"] == ATTACKER)
        .collect();
    assert!(
        !blocked.is_empty(),
        "the nmap scanner is decided:\n{decisions}\n{log}"
    );
    assert_eq!(blocked[0]["action"], "block", "{:#}", blocked[0]);
    let journal = String::from_utf8(root.read("/var/lib/suriguard/enforce.jsonl")).unwrap();
    assert!(journal.contains(ATTACKER), "journaled:\n{journal}");
    let set = root.must(Some(&ns), "nft list set inet suriguard sg_block4");
    assert!(set.contains(ATTACKER), "enforced:\n{set}");

    // The package's rotation rule, run by logrotate itself (from the mirror): it parses,
    // and a forced rotation moves the journal to its uncompressed first generation,
    // where `suriguardctl intake` reads its tail (the writers start a new file).
    assert!(
        conffiles.contains("/etc/logrotate.d/suriguard"),
        "{conffiles}"
    );
    root.must(
        None,
        "apt-get install -y -qq logrotate >/dev/null && logrotate -f /etc/logrotate.d/suriguard",
    );
    let rotated = String::from_utf8(root.read("/var/lib/suriguard/decisions.jsonl.1")).unwrap();
    assert_eq!(rotated, decisions, "the journal moved whole");
    assert!(!root.exists("/var/lib/suriguard/decisions.jsonl"));

    // apt-get remove: the configuration as it was, Suricata still passes -T, no table.
    root.must(Some(&ns), "apt-get remove -y -qq suriguard");
    assert!(
        root.read("/etc/suricata/suricata.yaml") == original,
        "suricata.yaml is not byte for byte the original after remove:\n{}",
        String::from_utf8_lossy(&root.read("/etc/suricata/suricata.yaml"))
    );
    root.must(
        Some(&ns),
        "suricata -T -c /etc/suricata/suricata.yaml >/dev/null 2>&1",
    );
    let after = root.must(
        Some(&ns),
        "rm -rf /tmp/sglog && mkdir /tmp/sglog && suricata -c /etc/suricata/suricata.yaml -r /tmp/nmap-syn.pcap -l /tmp/sglog -k none --runmode single 2>&1",
    );
    assert!(
        !after.contains("suriguard"),
        "Suricata starts without the plugin:\n{after}"
    );
    assert!(
        root.exists("/tmp/sglog/eve.json"),
        "and writes its own eve.json:\n{after}"
    );
    let tables = root.must(Some(&ns), "nft list tables");
    assert!(!tables.contains("suriguard"), "{tables}");
    assert!(
        root.exists("/var/lib/suriguard/decisions.jsonl.1"),
        "remove keeps the state (the journal, rotated above)"
    );
    assert!(
        root.exists("/etc/suriguard/suriguard.toml"),
        "remove keeps the conffiles"
    );

    // apt-get purge: the state and the configuration go.
    root.must(None, "apt-get purge -y -qq suriguard");
    assert!(!root.exists("/var/lib/suriguard"));
    assert!(!root.exists("/etc/suriguard"));
    assert_eq!(root.read("/etc/suricata/suricata.yaml"), original);
    eprintln!(
        "package on {suite} (Suricata {major}): installed with its dependencies, setup proposed {} and added 2 lines, {ATTACKER} blocked by {}, remove restored suricata.yaml byte for byte, purge left no state",
        report["home_networks"], blocked[0]["reason"]
    );
}

#[test]
fn the_package_on_debian_13_with_suricata_8() {
    install_setup_detect_remove_purge("trixie", "8");
}

#[test]
fn the_package_on_debian_12_with_suricata_7() {
    install_setup_detect_remove_purge("bookworm", "7");
}

/// lintian on the package: no error, and every tag it still reports is one
/// docs/PACKAGING.md explains (its "lintian" table names each tag).
#[test]
fn lintian_finds_no_error_and_every_remaining_tag_is_explained() {
    let deb = package();
    let out = Command::new("lintian")
        .args(["-I", "--pedantic"])
        .arg(&deb)
        .output()
        .expect("lintian is installed by scripts/install-deps.sh");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let notes = std::fs::read_to_string(workspace_root().join("docs/PACKAGING.md")).unwrap();
    let mut tags = Vec::new();
    for l in text.lines() {
        // "W: suriguard: tag-name [where]" (N: lines are lintian's own notes).
        let mut f = l.splitn(3, ": ");
        let (Some(kind), Some(_pkg), Some(rest)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let tag = rest.split_whitespace().next().unwrap_or_default();
        assert_ne!(kind, "E", "lintian error: {l}\n{text}");
        if matches!(kind, "W" | "I" | "P") {
            assert!(
                notes.contains(&format!("`{tag}`")),
                "lintian reports {tag} and docs/PACKAGING.md does not explain it: {l}"
            );
            tags.push(tag.to_owned());
        }
    }
    eprintln!(
        "lintian: no errors; {} tags, all explained: {tags:?}",
        tags.len()
    );
}
