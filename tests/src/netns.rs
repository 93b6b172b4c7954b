//! Throwaway network namespaces for end-to-end tests: a [`Lab`] creates namespaces and
//! veth pairs, runs commands inside them, and on drop kills what it started and deletes
//! every namespace it made, whether the test passed or panicked.
//!
//! Only traffic between the lab's own namespaces is ever sent; every wait is bounded.

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Lab {
    /// Prefix of every namespace name: `sg<pid>x<n>`.
    prefix: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
}

impl Lab {
    pub fn new() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Lab {
            prefix: format!("sg{}x{n}", std::process::id()),
            namespaces: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Creates namespace `<prefix>-<name>` with loopback up; returns its full name.
    pub fn ns(&mut self, name: &str) -> String {
        let full = format!("{}-{name}", self.prefix);
        must(Command::new("ip").args(["netns", "add", &full]));
        self.namespaces.push(full.clone());
        self.sh(&full, "ip link set lo up");
        full
    }

    /// A veth pair between two namespaces, both ends up, with the given addresses
    /// (`addr/len`, IPv4 or IPv6; IPv6 without duplicate address detection).
    pub fn link(
        &self,
        a: &str,
        a_if: &str,
        a_addrs: &[&str],
        b: &str,
        b_if: &str,
        b_addrs: &[&str],
    ) {
        must(Command::new("ip").args([
            "link", "add", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b,
        ]));
        for (ns, ifname, addrs) in [(a, a_if, a_addrs), (b, b_if, b_addrs)] {
            for addr in addrs {
                let extra = if addr.contains(':') { " nodad" } else { "" };
                self.sh(ns, &format!("ip addr add {addr} dev {ifname}{extra}"));
            }
            self.sh(ns, &format!("ip link set {ifname} up"));
        }
    }

    /// Runs a shell command in a namespace and requires success.
    pub fn sh(&self, ns: &str, cmd: &str) -> String {
        let out = self.try_sh(ns, cmd);
        assert!(
            out.status.success(),
            "in {ns}: {cmd}\nstatus {}\nstdout {}\nstderr {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a shell command in a namespace; the caller judges the outcome.
    pub fn try_sh(&self, ns: &str, cmd: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", cmd])
            .output()
            .expect("run ip netns exec")
    }

    /// Starts a long-running program in a namespace; it is killed when the lab drops.
    /// Returns its pid.
    pub fn spawn(&mut self, ns: &str, program: &str, args: &[&str], log: &std::path::Path) -> u32 {
        let out = std::fs::File::create(log).expect("create log");
        let err = out.try_clone().expect("clone log");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Sends SIGTERM to a spawned program and waits (bounded) for it to exit.
    pub fn stop(&mut self, pid: u32, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let i = self.children.iter().position(|c| c.id() == pid)?;
        let mut child = self.children.remove(i);
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Can `ns` open a TCP connection to `host:port` within `timeout`?
    pub fn tcp_connects(&self, ns: &str, host: &str, port: u16, timeout: f64) -> bool {
        self.try_sh(
            ns,
            &format!(
                "python3 -c 'import socket; socket.create_connection((\"{host}\", {port}), timeout={timeout}).close()'"
            ),
        )
        .status
        .success()
    }

    /// Does one ping from `ns` to `host` get an answer within a second?
    pub fn pings(&self, ns: &str, host: &str) -> bool {
        self.try_sh(ns, &format!("ping -c 1 -W 1 {host} >/dev/null 2>&1"))
            .status
            .success()
    }
}

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn must(cmd: &mut Command) {
    let out = cmd.output().expect("run ip");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `f` every 100 ms until it returns true or `within` passes; returns how long it
/// took, or `None` on timeout.
pub fn wait_for(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if f() {
            return Some(start.elapsed());
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
