//! Suricata's unix socket, spoken as `suricatasc` does: `{"version": "0.2"}` first, then
//! one JSON command per line, one JSON answer each.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::Error;

pub struct Suricata {
    r: BufReader<UnixStream>,
    w: UnixStream,
    /// The socket, for error messages.
    path: PathBuf,
}

impl Suricata {
    /// `Ok(None)` when no Suricata listens there (no socket file, or nobody accepting).
    pub fn connect(path: &Path, timeout: Duration) -> Result<Option<Suricata>, Error> {
        use std::io::ErrorKind;
        let io = |op: &'static str| {
            move |source| Error::Socket {
                path: path.to_path_buf(),
                op,
                source,
            }
        };
        let s = match UnixStream::connect(path) {
            Ok(s) => s,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
                return Ok(None)
            }
            Err(e) => return Err(io("connect")(e)),
        };
        s.set_read_timeout(Some(timeout))
            .map_err(io("setting the read timeout"))?;
        s.set_write_timeout(Some(timeout))
            .map_err(io("setting the write timeout"))?;
        let mut c = Suricata {
            r: BufReader::new(s.try_clone().map_err(io("cloning the stream"))?),
            w: s,
            path: path.to_path_buf(),
        };
        let hello = c.send(&json!({"version": "0.2"}))?;
        if hello["return"] != "OK" {
            return Err(Error::Handshake {
                path: path.to_path_buf(),
                answer: hello,
            });
        }
        Ok(Some(c))
    }

    fn io(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Socket {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn send(&mut self, v: &Value) -> Result<Value, Error> {
        let mut line = v.to_string();
        line.push('\n');
        if let Err(e) = self.w.write_all(line.as_bytes()) {
            return Err(self.io("write")(e));
        }
        // Answers are one JSON object; Suricata ends them with a newline.
        let mut buf = Vec::new();
        loop {
            let n = match self.r.read_until(b'\n', &mut buf) {
                Ok(n) => n,
                Err(e) => return Err(self.io("read")(e)),
            };
            if n == 0 {
                return Err(Error::SocketClosed {
                    path: self.path.clone(),
                });
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                return Ok(v);
            }
        }
    }

    /// Runs one command; `Ok(message)` when Suricata answers OK, [`Error::Refused`] with
    /// its message otherwise.
    pub fn command(&mut self, name: &str, args: Option<Value>) -> Result<Value, Error> {
        self.answer(name, args)?.map_err(|message| Error::Refused {
            command: name.to_string(),
            message,
        })
    }

    /// Runs one command: the outer `Err` is a socket failure, the inner one Suricata's
    /// NOK message (an answer, not a failure of ours: callers match on its text).
    pub fn answer(
        &mut self,
        name: &str,
        args: Option<Value>,
    ) -> Result<Result<Value, String>, Error> {
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
