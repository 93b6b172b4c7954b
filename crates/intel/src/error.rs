//! The intelligence crate's one error type. Each variant carries the input at fault (the
//! file, the document kind, the event UUID, the list entry, the socket, the command) and
//! keeps the error underneath as its `source`, so a caller can print the whole chain or
//! walk it. As everywhere in suriguard, the message already quotes the cause once.

use std::path::PathBuf;

/// Every way reading, storing or handing over intelligence fails.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document that is not the JSON its reader expects (`what`: "a MISP event").
    #[error("not {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    /// An XML document (STIX 1, OpenIOC) that does not parse.
    #[error("XML error at byte {position}: {source}")]
    Xml {
        position: u64,
        source: quick_xml::Error,
    },
    /// Well-formed, but not the kind of document expected: `what` is the kind, `missing`
    /// what gave it away ("<ioc> element").
    #[error("not {what} (no {missing})")]
    NotDocument {
        what: &'static str,
        missing: &'static str,
    },
    /// A MISP feed manifest naming an event by something else than a UUID (it would
    /// become a file name or a URL path).
    #[error("manifest.json: {uuid:?} is not an event UUID")]
    EventUuid { uuid: String },
    /// The indicator store's state file cannot be read.
    #[error("state file {}: {source}", path.display())]
    StateRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The state file is not a store.
    #[error("state file {}: {source}", path.display())]
    StateParse {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The state file cannot be written (or installed from `from`, a generation's index).
    #[error("state file {}{}: {source}", path.display(),
        from.as_ref().map(|f| format!(" from {}", f.display())).unwrap_or_default())]
    StateWrite {
        path: PathBuf,
        from: Option<PathBuf>,
        source: std::io::Error,
    },
    /// A MISP warninglist file cannot be read.
    #[error("warninglist {}: {source}", path.display())]
    WarninglistRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A MISP warninglist file is not one.
    #[error("warninglist {}: not a MISP warninglist: {source}", path.display())]
    WarninglistParse {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// An entry of a `cidr` warninglist that is not a prefix (`reason` names it).
    #[error("warninglist {}: {reason}", path.display())]
    WarninglistEntry {
        path: PathBuf,
        entry: String,
        reason: String,
    },
    /// A warninglist type other than cidr, string, hostname and substring.
    #[error("warninglist {}: type {kind:?} is not supported (cidr, string, hostname, substring are)", path.display())]
    WarninglistType { path: PathBuf, kind: String },
    /// Suricata's unix socket: connecting, setting it up, writing or reading (`op`).
    #[error("unix socket {}: {op}: {source}", path.display())]
    Socket {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    /// Suricata closed its socket before answering.
    #[error("unix socket {}: closed by Suricata", path.display())]
    SocketClosed { path: PathBuf },
    /// Suricata refused the protocol version.
    #[error("unix socket {}: handshake refused: {answer}", path.display())]
    Handshake {
        path: PathBuf,
        answer: serde_json::Value,
    },
    /// Suricata answered a command with NOK (`message` is its text).
    #[error("{command}: {message}")]
    Refused { command: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn errors_name_their_input_and_keep_their_cause() {
        let e = crate::formats::misp_manifest("{").unwrap_err();
        assert!(matches!(e, Error::Json { what, .. } if what == "a MISP feed manifest"));
        assert!(e.source().is_some(), "{e:?}");
        let e = crate::formats::misp_manifest(r#"{"../etc/passwd": {}}"#).unwrap_err();
        assert!(
            matches!(&e, Error::EventUuid { uuid } if uuid == "../etc/passwd"),
            "{e:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = crate::Store::load(dir.path()).unwrap_err();
        assert!(
            matches!(&e, Error::StateRead { path, .. } if path == dir.path()),
            "{e:?}"
        );
        assert!(e.to_string().contains(&dir.path().display().to_string()));
        assert!(e.source().is_some());
    }
}
