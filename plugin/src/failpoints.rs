//! Fault injection for the hostile-host tests, off unless `SURIGUARD_FAILPOINTS` is set
//! in Suricata's environment when the output starts (comma-separated names):
//!
//! - `pause-worker`: the worker takes nothing off the queue until `Deinit`, so a test can
//!   fill the queue and count drops exactly;
//! - `panic-in-worker` / `panic-in-write`: a record starting with [`WORKER_PANIC_MARKER`]
//!   / [`WRITE_PANIC_MARKER`] makes the worker / `Write` panic, to prove panics are
//!   contained and counted.
//!
//! Production cost: one predictable branch per record.

pub const ENV: &str = "SURIGUARD_FAILPOINTS";
pub const WORKER_PANIC_MARKER: &[u8] = b"{\"suriguard-failpoint\":\"panic-in-worker\"";
pub const WRITE_PANIC_MARKER: &[u8] = b"{\"suriguard-failpoint\":\"panic-in-write\"";

#[derive(Debug, Default, Clone, Copy)]
pub struct Failpoints {
    pub pause_worker: bool,
    pub panic_in_worker: bool,
    pub panic_in_write: bool,
}

impl Failpoints {
    /// Reads the environment; unknown names are returned so the caller can warn.
    pub fn from_env() -> (Failpoints, Vec<String>) {
        let mut fp = Failpoints::default();
        let mut unknown = Vec::new();
        if let Ok(list) = std::env::var(ENV) {
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match name {
                    "pause-worker" => fp.pause_worker = true,
                    "panic-in-worker" => fp.panic_in_worker = true,
                    "panic-in-write" => fp.panic_in_write = true,
                    other => unknown.push(other.to_owned()),
                }
            }
        }
        (fp, unknown)
    }

    pub fn any(&self) -> bool {
        self.pause_worker || self.panic_in_worker || self.panic_in_write
    }
}
