//! The real Suricata as a daemon in unix-socket mode (`suricata --unix-socket`): it
//! loads its rules once, then processes the captures it is given over its socket
//! (`pcap-file`), so a test can change rules and datasets between captures and see what
//! the *same* running process makes of them.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use suriguard_intel::suricatasc::Suricata as Socket;

use crate::Suricata;

/// A suricata.yaml for a daemon whose rules are `rule_file`, with its unix socket at
/// `socket`, logs under `log_dir` and `state` datasets under `data_dir`. Alerts carry
/// their rule metadata and the app-layer fields (DNS query, HTTP host and URL).
pub fn socket_mode_yaml(
    rule_file: &Path,
    socket: &Path,
    log_dir: &Path,
    data_dir: &Path,
) -> String {
    format!(
        r#"%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "[192.168.0.0/16]"
    EXTERNAL_NET: "!$HOME_NET"
  port-groups:
    HTTP_PORTS: "80"
default-log-dir: {log}
default-data-dir: {data}
unix-command:
  enabled: yes
  filename: {sock}
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert:
            metadata: yes
logging:
  default-log-level: info
  outputs:
    - console:
        enabled: yes
app-layer:
  protocols:
    http:
      enabled: yes
    tls:
      enabled: yes
    dns:
      udp:
        enabled: yes
      tcp:
        enabled: yes
rule-files:
  - {rules}
classification-file: /etc/suricata/classification.config
reference-config-file: /etc/suricata/reference.config
"#,
        log = log_dir.display(),
        data = data_dir.display(),
        sock = socket.display(),
        rules = rule_file.display(),
    )
}

pub struct Daemon {
    child: Child,
    socket: PathBuf,
    console: PathBuf,
    suricata: Suricata,
}

impl Daemon {
    /// Starts Suricata 7.0 (the host's `suricata`): [`Daemon::start_on`] with
    /// [`Suricata::V7`].
    pub fn start(config: &Path, socket: &Path, log_dir: &Path) -> Daemon {
        Daemon::start_on(Suricata::V7, config, socket, log_dir)
    }

    /// Starts `suricata -c config --unix-socket` of the given version and waits until its
    /// socket answers. Under 8.0 the process started is Suricata itself (every step of
    /// `scripts/suricata8` execs), so stopping it works the same way.
    pub fn start_on(suricata: Suricata, config: &Path, socket: &Path, log_dir: &Path) -> Daemon {
        std::fs::create_dir_all(log_dir).expect("log dir");
        let console = log_dir.join("console.log");
        let out = std::fs::File::create(&console).expect("console log");
        let child = suricata
            .command()
            .arg("-c")
            .arg(config)
            .arg("--unix-socket")
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {suricata}: {e}"));
        let mut d = Daemon {
            child,
            socket: socket.to_owned(),
            console,
            suricata,
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!(
                    "{suricata} exited ({status}) before its socket answered:\n{}",
                    d.console()
                );
            }
            if let Ok(Some(_)) = Socket::connect(socket, Duration::from_secs(10)) {
                if suricata == Suricata::V8 {
                    d.set_up_outputs(log_dir);
                }
                return d;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{suricata}'s socket did not answer within 120 s:\n{}",
                d.console()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Suricata 8.0 in unix-socket mode sets its outputs up only when it processes its
    /// first capture (`RunModeInitializeOutputs` moved out of startup for that mode), and
    /// the rules it loaded at startup, before that, were parsed without their `metadata`
    /// (the eve alert output is what asks for it, `DetectEngineSetParseMetadata`): alerts
    /// of that first engine carry no `alert.metadata`, those of any engine loaded later
    /// do. 7.0 sets its outputs up once at startup, and so does 8.0 in every other mode
    /// (`-r`, live capture), before it loads the rules. So that the daemon under test
    /// behaves like a production Suricata, it processes one harmless packet, then
    /// reloads its rules; tests take their `reload_time` baseline afterwards.
    fn set_up_outputs(&mut self, log_dir: &Path) {
        let dir = log_dir.join("set-up-outputs");
        std::fs::create_dir_all(&dir).expect("set-up dir");
        let pcap = dir.join("one-packet.pcap");
        let mut w = crate::pcap::PcapWriter::new(std::fs::File::create(&pcap).expect("pcap"))
            .expect("pcap header");
        let doc = |last: u8| crate::pcap::Endpoint::new([192, 0, 2, last].into(), 9);
        // 2024-01-01, like the captures the tests make.
        w.frame(
            1_704_067_200_000_000,
            &crate::pcap::udp_frame(doc(1), doc(2), b"set up"),
        )
        .expect("pcap frame");
        w.finish().expect("write pcap");
        self.replay(&pcap, &dir.join("eve"));
        let answer = self.command("reload-rules", None);
        assert!(
            self.running(),
            "{} died reloading its rules:\n{}",
            self.suricata,
            self.console()
        );
        assert_eq!(answer, "done", "reload-rules:\n{}", self.console());
    }

    /// The process that was started is still running (every check of a test is made
    /// against this one process: nothing restarts it).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Which Suricata this is.
    pub fn suricata(&self) -> Suricata {
        self.suricata
    }

    /// What the process printed, headed by its version (for failure messages).
    pub fn console(&self) -> String {
        format!(
            "--- {} console ---\n{}",
            self.suricata,
            std::fs::read_to_string(&self.console).unwrap_or_default()
        )
    }

    pub fn client(&self) -> Socket {
        Socket::connect(&self.socket, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}\n{}", self.console()))
            .unwrap_or_else(|| panic!("{} is not listening\n{}", self.suricata, self.console()))
    }

    /// One command that must succeed.
    pub fn command(&self, name: &str, args: Option<Value>) -> Value {
        self.client()
            .command(name, args)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.console()))
    }

    /// When the running detection engine was loaded (changes with every rule reload).
    pub fn reload_time(&self) -> Value {
        self.command("ruleset-reload-time", None)
    }

    /// Has the daemon process `pcap` with its eve.json in `out` (a fresh directory),
    /// waits until it is done, and returns the alerts.
    pub fn replay(&self, pcap: &Path, out: &Path) -> Vec<Value> {
        std::fs::create_dir_all(out).expect("replay dir");
        let mut c = self.client();
        c.command(
            "pcap-file",
            Some(json!({"filename": pcap, "output-dir": out})),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", self.console()));
        let eve = out.join("eve.json");
        let start = Instant::now();
        let mut idle = 0;
        // Done: the file was opened, nothing is queued or in progress, twice in a row.
        while idle < 2 {
            std::thread::sleep(Duration::from_millis(150));
            let queued = c.command("pcap-file-number", None).unwrap_or(json!(-1));
            let current = c.command("pcap-current", None).unwrap_or(json!("?"));
            if eve.exists() && queued == 0 && current == "None" {
                idle += 1;
            } else {
                idle = 0;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{} did not finish {} within 60 s:\n{}",
                self.suricata,
                pcap.display(),
                self.console()
            );
        }
        std::fs::read_to_string(&eve)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["event_type"] == "alert")
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(Some(mut c)) = Socket::connect(&self.socket, Duration::from_secs(5)) {
            let _ = c.command("shutdown", None);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
