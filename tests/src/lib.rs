//! Helpers for suriguard's end-to-end tests: where things are, how to run the real
//! Suricata with the real plugin, and how to read what came out.
//!
//! Nothing here is mocked. When a run does not go as a test expects, the helpers print
//! the command, its working directory, and its whole stdout/stderr before failing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use suriguard_guard::PluginStats;

pub mod daemon;
pub mod lab;
pub mod netns;
pub mod pcap;
pub mod prom;
pub mod scenarios;
pub mod servers;
pub mod webdriver;

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The shared real-world data set, `../shared/data` beside the checkout
/// (override with `SURIGUARD_SHARED_DATA`).
pub fn shared_data() -> PathBuf {
    let p = std::env::var_os("SURIGUARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"));
    assert!(
        p.join("README.md").is_file(),
        "shared test data not found at {} (clone ../shared beside the repository, or set SURIGUARD_SHARED_DATA)",
        p.display()
    );
    p
}

/// A capture from the suricata-verify set in the shared data.
pub fn sv_pcap(rel: &str) -> PathBuf {
    let p = shared_data().join("pcaps/suricata-verify/tests").join(rel);
    assert!(p.is_file(), "missing capture {}", p.display());
    p
}

/// A release binary of the workspace (`suriguardctl`, `rulesync`...), honouring
/// `CARGO_TARGET_DIR`.
pub fn bin(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("release")
        .join(name)
}

/// The release build of the plugin (`SURIGUARD_PLUGIN` overrides). `make test` builds it
/// before running the tests.
pub fn plugin_path() -> PathBuf {
    let p = std::env::var_os("SURIGUARD_PLUGIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"));
            target.join("release/libsuriguard.so")
        });
    assert!(
        p.is_file(),
        "plugin not built: {} is missing (run `make build` or `cargo build --release -p suriguard-plugin`)",
        p.display()
    );
    p
}

/// The complete minimal Suricata configuration shipped in `suricata-conf/`.
pub fn minimal_config() -> PathBuf {
    workspace_root().join("suricata-conf/suricata-minimal.yaml")
}

/// Index of the plugin's eve-log in `outputs:` of the minimal config.
pub const PLUGIN_OUTPUT: usize = 1;
/// Index of the minimal config's regular eve-log (off unless a test turns it on).
pub const REGULAR_OUTPUT: usize = 0;

/// The Debian 13 root of `scripts/debian13-root.sh`.
pub fn debian13_root() -> PathBuf {
    std::env::var_os("SURIGUARD_DEBIAN13_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/suriguard/debian13"))
}

/// Which real Suricata a test runs: 7.0.10 from the host, or 8.0.8 from the Debian 13
/// root that `scripts/debian13-root.sh` builds (run through `scripts/suricata8`, which
/// builds the root first if it is missing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Suricata {
    #[default]
    V7,
    V8,
}

impl Suricata {
    /// Every version the end-to-end tests run on.
    pub const ALL: [Suricata; 2] = [Suricata::V7, Suricata::V8];

    /// The program to start: `suricata` or `scripts/suricata8`, same arguments.
    pub fn program(self) -> PathBuf {
        match self {
            Suricata::V7 => PathBuf::from("suricata"),
            Suricata::V8 => workspace_root().join("scripts/suricata8"),
        }
    }

    pub fn command(self) -> Command {
        Command::new(self.program())
    }

    /// The `nft` of the same system, as a shell command prefix. The plugin under 8.0
    /// runs the Debian 13 root's nft (1.1), whose sets the host's nft 1.0.6 cannot list
    /// (it crashes): a test looks at the tables with the nft that made them.
    pub fn nft(self) -> String {
        match self {
            Suricata::V7 => "nft".into(),
            Suricata::V8 => format!("chroot {} nft", debian13_root().display()),
        }
    }

    /// "7.0" or "8.0", for messages.
    pub fn name(self) -> &'static str {
        match self {
            Suricata::V7 => "7.0",
            Suricata::V8 => "8.0",
        }
    }

    /// What `GetProgramVersion` reports, as the plugin logs it: "7.0.10", "8.0.8".
    pub fn version_prefix(self) -> &'static str {
        match self {
            Suricata::V7 => "Suricata 7.0.",
            Suricata::V8 => "Suricata 8.0.",
        }
    }
}

impl std::fmt::Display for Suricata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Suricata {}", self.name())
    }
}

/// A command's result, printable in full when a test needs to explain a failure.
pub struct Ran {
    pub command: String,
    pub cwd: PathBuf,
    pub output: Output,
}

impl Ran {
    pub fn run(mut cmd: Command, cwd: &Path) -> Ran {
        cmd.current_dir(cwd);
        let command = format!("{cmd:?}");
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
        Ran {
            command,
            cwd: cwd.to_owned(),
            output,
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn success(&self) -> bool {
        self.output.status.success()
    }

    /// Panics with the whole story unless the command exited 0.
    pub fn assert_success(&self) -> &Ran {
        assert!(self.success(), "command failed\n{self}");
        self
    }
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "cwd:     {}", self.cwd.display())?;
        writeln!(f, "status:  {}", self.output.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout())?;
        writeln!(f, "--- stderr ---\n{}", self.stderr())
    }
}

/// Runs `suriguardctl ARGS --config CFG` (the release build, see [`bin`]) in `cfg`'s
/// directory, with `env` added to its environment.
pub fn ctl(cfg: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut c = Command::new(bin("suriguardctl"));
    c.args(args)
        .arg("--config")
        .arg(cfg)
        .envs(env.iter().copied());
    Ran::run(c, config_dir(cfg))
}

/// Runs `suriguardctl ARGS --config CFG` inside network namespace `ns` (`ip netns
/// exec`), in `cfg`'s directory.
pub fn ctl_in(ns: &str, cfg: &Path, args: &[&str]) -> Ran {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns])
        .arg(bin("suriguardctl"))
        .args(args)
        .arg("--config")
        .arg(cfg);
    Ran::run(c, config_dir(cfg))
}

/// Runs `rulesync -c CFG ARGS` (the release build, see [`bin`]) in `cfg`'s directory,
/// with `env` added to its environment.
pub fn rulesync(cfg: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut c = Command::new(bin("rulesync"));
    c.arg("-c").arg(cfg).args(args).envs(env.iter().copied());
    Ran::run(c, config_dir(cfg))
}

/// Appends `text` to `path` (created if missing), as a program writing its log would.
pub fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// What a command printed on stdout, as JSON (`-o json`); panics with the whole run if
/// it is not JSON.
pub fn json(r: &Ran) -> serde_json::Value {
    serde_json::from_str(&r.stdout()).unwrap_or_else(|e| panic!("{e}: not JSON\n{r}"))
}

/// The entry named `name` among the sources of a `rulesync run -o json` report.
pub fn report_source<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no source {name} in {report}"))
}

/// The directory of a configuration file, where the programs run.
fn config_dir(cfg: &Path) -> &Path {
    cfg.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// One offline Suricata run with the plugin, in its own log directory.
pub struct SuricataRun {
    pub ran: Ran,
    pub log_dir: PathBuf,
}

impl SuricataRun {
    pub fn eve_json(&self) -> PathBuf {
        self.log_dir.join("eve.json")
    }

    pub fn stats_file(&self) -> PathBuf {
        self.log_dir.join("suriguard-stats.json")
    }

    /// The decisions the plugin journaled.
    pub fn decisions(&self) -> Vec<suriguard_decision::Decision> {
        let path = self.log_dir.join("decisions.jsonl");
        suriguard_decision::DecisionLog::read_all(&path).unwrap_or_else(|e| {
            panic!(
                "no decisions journal at {}: {e}\n{}",
                path.display(),
                self.ran
            )
        })
    }

    /// Suricata's own log file in the log directory, if it wrote one (its console output
    /// is in `ran`).
    pub fn suricata_log(&self) -> String {
        std::fs::read_to_string(self.log_dir.join("suricata.log")).unwrap_or_default()
    }

    /// The plugin's counters, written at Deinit.
    pub fn plugin_stats(&self) -> PluginStats {
        let path = self.stats_file();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no plugin stats at {}: {e}\n{}", path.display(), self.ran));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("bad stats JSON in {}: {e}", path.display()))
    }
}

/// Options for [`run_suricata`].
#[derive(Default, Clone)]
pub struct RunOptions {
    /// `threaded:` of the plugin's eve-log.
    pub threaded: bool,
    /// Rule files to load (absolute paths).
    pub rules: Vec<PathBuf>,
    /// Extra `--set key=value` overrides.
    pub set: Vec<String>,
    /// Extra environment for Suricata.
    pub env: Vec<(String, String)>,
    /// TOML appended to the suriguard config the run gets (its `state-dir` is the log
    /// directory, so the decisions journal lands there).
    pub config: String,
    /// Run Suricata inside this network namespace (`ip netns exec`).
    pub netns: Option<String>,
    /// Which Suricata.
    pub suricata: Suricata,
}

/// Runs `suricata -r <pcap>` with the minimal config and the plugin, writing the
/// eve.json (by the plugin) and the plugin's stats file into `log_dir`.
pub fn run_suricata(pcap: &Path, log_dir: &Path, opts: &RunOptions) -> SuricataRun {
    std::fs::create_dir_all(log_dir).expect("create log dir");
    let stats = log_dir.join("suriguard-stats.json");
    let config = log_dir.join("suriguard.toml");
    // Tests that do not ask for enforcement never touch the firewall of the namespace
    // they run in.
    let enforce = if opts.config.contains("[enforce]") {
        ""
    } else {
        "[enforce]\nbackend = \"none\"\n"
    };
    std::fs::write(
        &config,
        format!(
            "state-dir = {:?}\n{}\n{enforce}",
            log_dir.display().to_string(),
            opts.config
        ),
    )
    .expect("write suriguard.toml");
    let mut cmd = match &opts.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(opts.suricata.program());
            c
        }
        None => opts.suricata.command(),
    };
    cmd.arg("-c")
        .arg(minimal_config())
        .arg("-l")
        .arg(log_dir)
        .arg("-r")
        .arg(pcap)
        .args(["-k", "none", "--runmode", "autofp"])
        .arg("--set")
        .arg(format!("plugins.0={}", plugin_path().display()))
        .arg("--set")
        .arg(format!(
            "outputs.{PLUGIN_OUTPUT}.eve-log.threaded={}",
            if opts.threaded { "yes" } else { "no" }
        ))
        .arg("--set")
        .arg(format!(
            "outputs.{PLUGIN_OUTPUT}.eve-log.suriguard.stats-file={}",
            stats.display()
        ))
        .arg("--set")
        .arg(format!(
            "outputs.{PLUGIN_OUTPUT}.eve-log.suriguard.config={}",
            config.display()
        ));
    if opts.rules.is_empty() {
        // No rules at all: keep Suricata from looking for the distribution's rule file.
        cmd.arg("-S").arg("/dev/null");
    } else {
        let joined = log_dir.join("all.rules");
        let mut text = String::new();
        for r in &opts.rules {
            text.push_str(
                &std::fs::read_to_string(r).unwrap_or_else(|e| panic!("{}: {e}", r.display())),
            );
            text.push('\n');
        }
        std::fs::write(&joined, text).expect("write rules");
        cmd.arg("-S").arg(&joined);
    }
    for s in &opts.set {
        cmd.arg("--set").arg(s);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let ran = Ran::run(cmd, log_dir);
    SuricataRun {
        ran,
        log_dir: log_dir.to_owned(),
    }
}

/// Counts records per `event_type` in an EVE JSON-lines file.
pub fn eve_counts(path: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut counts = BTreeMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
        let t = v["event_type"]
            .as_str()
            .unwrap_or_else(|| panic!("{}:{}: no event_type", path.display(), n + 1));
        *counts.entry(t.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// The MISP event and attribute UUIDs of `value` in the recorded Infoblox feed.
pub fn infoblox_origin(value: &str) -> (String, String) {
    let dir = shared_data().join("misp/feeds/infoblox");
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        if f.file_name() == "manifest.json" {
            continue;
        }
        let ev: serde_json::Value =
            serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
        for a in ev["Event"]["Attribute"].as_array().into_iter().flatten() {
            if a["value"] == value && a["to_ids"] == true {
                return (
                    ev["Event"]["uuid"].as_str().unwrap().to_string(),
                    a["uuid"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    panic!("{value} is not an IDS attribute of the Infoblox feed");
}
