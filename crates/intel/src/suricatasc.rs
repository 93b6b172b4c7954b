//! Suricata's unix socket, spoken as `suricatasc` does: `{"version": "0.2"}` first, then
//! one JSON command per line, one JSON answer each.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

pub struct Suricata {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Suricata {
    /// `Ok(None)` when no Suricata listens there (no socket file, or nobody accepting).
    pub fn connect(path: &Path, timeout: Duration) -> Result<Option<Suricata>, String> {
        use std::io::ErrorKind;
        let s = match UnixStream::connect(path) {
            Ok(s) => s,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
                return Ok(None)
            }
            Err(e) => return Err(format!("unix socket {}: {e}", path.display())),
        };
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let mut c = Suricata {
            r: BufReader::new(s.try_clone().map_err(|e| e.to_string())?),
            w: s,
        };
        let hello = c.send(&json!({"version": "0.2"}))?;
        if hello["return"] != "OK" {
            return Err(format!(
                "unix socket {}: handshake refused: {hello}",
                path.display()
            ));
        }
        Ok(Some(c))
    }

    fn send(&mut self, v: &Value) -> Result<Value, String> {
        let mut line = v.to_string();
        line.push('\n');
        self.w
            .write_all(line.as_bytes())
            .map_err(|e| format!("unix socket write: {e}"))?;
        // Answers are one JSON object; Suricata ends them with a newline.
        let mut buf = Vec::new();
        loop {
            let n = self
                .r
                .read_until(b'\n', &mut buf)
                .map_err(|e| format!("unix socket read: {e}"))?;
            if n == 0 {
                return Err("unix socket closed by Suricata".into());
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                return Ok(v);
            }
        }
    }

    /// Runs one command; `Ok(message)` when Suricata answers OK, `Err` with its message
    /// otherwise.
    pub fn command(&mut self, name: &str, args: Option<Value>) -> Result<Value, String> {
        self.answer(name, args)?.map_err(|m| format!("{name}: {m}"))
    }

    /// Runs one command: the outer `Err` is a socket failure, the inner one Suricata's
    /// NOK message.
    pub fn answer(
        &mut self,
        name: &str,
        args: Option<Value>,
    ) -> Result<Result<Value, String>, String> {
        let mut cmd = json!({"command": name});
        if let Some(a) = args {
            cmd["arguments"] = a;
        }
        let ans = self.send(&cmd)?;
        Ok(if ans["return"] == "OK" {
            Ok(ans["message"].clone())
        } else {
            Err(match &ans["message"] {
                Value::String(m) => m.clone(),
                other => other.to_string(),
            })
        })
    }
}
