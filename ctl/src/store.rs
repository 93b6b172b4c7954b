//! suriguardctl's local store: SQLite (bundled), WAL mode.
//!
//! Tables: `incidents` (alerts and decisions, with their MISP state), `misp_events`,
//! `misp_attributes`, `misp_tags`, `sightings`, `outbox` (every notification, sent or
//! not, with its attempts), `digest_queue`, `cursors` (how far each input file has
//! been read), and since version 2 `device_keys` and `device_nonces` (the console's
//! device alert API). A new store is created mode 0600. Several suriguardctl processes may use it at once (a timer run and an
//! operator's `alerts list`): WAL lets readers go on while one writes, and the busy
//! timeout makes a second writer wait instead of failing.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use suriguard_report::incident::Incident;

use crate::error::CtlError;

pub struct Store {
    pub db: Connection,
    /// The database file, for error messages.
    pub path: PathBuf,
}

/// The schema version this program writes and reads (`PRAGMA user_version`). A change
/// to the tables bumps it and appends a step to [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = 2;

/// One schema step: `MIGRATIONS[n]` takes a database from version `n` to `n + 1`
/// (inside a transaction; the caller stamps the new version). `path` is the store's file,
/// for error messages.
type Migration = fn(&Connection, &Path) -> Result<(), CtlError>;

const MIGRATIONS: &[Migration] = &[adopt_v0, add_devices];

/// Version 1 → 2: the device alert API's keys and the nonces it has seen.
fn add_devices(db: &Connection, path: &Path) -> Result<(), CtlError> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS device_keys(
             name TEXT PRIMARY KEY,
             key_sha256 TEXT NOT NULL,
             created_us INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS device_nonces(
             name TEXT NOT NULL,
             nonce TEXT NOT NULL,
             ts INTEGER NOT NULL,
             PRIMARY KEY(name, nonce)
         );",
    )
    .map_err(|source| CtlError::Sqlite {
        path: path.to_owned(),
        op: "migrating the schema from version 1 to 2: device tables".into(),
        source,
    })
}

/// Version 0 → 1: stores written before the schema was versioned. Their tables are
/// version 1's (tables added since were created by `CREATE TABLE IF NOT EXISTS`), so
/// create what is missing, check every table has version 1's columns, and stamp.
fn adopt_v0(db: &Connection, path: &Path) -> Result<(), CtlError> {
    let failed = |op: String| {
        move |source: rusqlite::Error| CtlError::Sqlite {
            path: path.to_owned(),
            op: format!("migrating the schema from version 0 to 1: {op}"),
            source,
        }
    };
    let reference = Connection::open_in_memory()
        .and_then(|r| r.execute_batch(SCHEMA_V1).map(|()| r))
        .map_err(failed("building the reference schema".into()))?;
    for table in tables(&reference).map_err(failed("listing tables".into()))? {
        let op = || format!("reading the columns of {table}");
        let want = columns(&reference, &table).map_err(failed(op()))?;
        let have = columns(db, &table).map_err(failed(op()))?;
        if !have.is_empty() && have != want {
            return Err(CtlError::ForeignStore {
                path: path.to_owned(),
                table,
                have,
                want,
            });
        }
    }
    db.execute_batch(SCHEMA_V1)
        .map_err(failed("creating the missing tables".into()))
}

fn tables(db: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let names = st
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>());
    names
}

fn columns(db: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = db.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let names = st
        .query_map([table], |r| r.get(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>());
    names
}

fn user_version(db: &Connection) -> rusqlite::Result<i64> {
    db.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the database at `path` to [`SCHEMA_VERSION`]: creates a new one, runs the
/// steps from its version on, refuses one written by a newer suriguardctl.
fn migrate(db: &Connection, path: &Path) -> Result<(), CtlError> {
    let ctx = |op: &'static str| {
        move |source: rusqlite::Error| CtlError::Sqlite {
            path: path.to_owned(),
            op: op.into(),
            source,
        }
    };
    // IMMEDIATE: two processes opening a new store do not both create it.
    db.execute_batch("BEGIN IMMEDIATE")
        .map_err(ctx("starting the schema transaction"))?;
    let done = (|| {
        let mut version = user_version(db).map_err(ctx("reading the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(CtlError::NewerStore {
                path: path.to_owned(),
                version,
                known: SCHEMA_VERSION,
            });
        }
        if version == 0 && tables(db).map_err(ctx("reading the schema"))?.is_empty() {
            db.execute_batch(SCHEMA_V1)
                .map_err(ctx("creating the tables"))?;
            version = 1;
            set_version(db, version).map_err(ctx("stamping the schema version"))?;
        }
        while version < SCHEMA_VERSION {
            let step = MIGRATIONS[version as usize];
            step(db, path)?;
            version += 1;
            set_version(db, version).map_err(ctx("stamping the schema version"))?;
        }
        Ok(())
    })();
    match done {
        Ok(()) => db
            .execute_batch("COMMIT")
            .map_err(ctx("committing the schema")),
        Err(e) => {
            let _ = db.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn set_version(db: &Connection, version: i64) -> rusqlite::Result<()> {
    db.execute_batch(&format!("PRAGMA user_version = {version}"))
}

/// Version 1 of the schema (the tables before versioning). Later versions are this plus
/// the [`MIGRATIONS`] steps.
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS incidents(
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    origin TEXT NOT NULL,
    time TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    subject_ip TEXT,
    reason_key TEXT NOT NULL,
    json TEXT NOT NULL,
    ingested_us INTEGER NOT NULL,
    misp_state TEXT NOT NULL,
    misp_event TEXT,
    misp_attempts INTEGER NOT NULL DEFAULT 0,
    misp_error TEXT,
    sight_state TEXT
);
CREATE INDEX IF NOT EXISTS incidents_time ON incidents(time_us);
CREATE INDEX IF NOT EXISTS incidents_misp ON incidents(misp_state);
CREATE TABLE IF NOT EXISTS misp_events(
    uuid TEXT PRIMARY KEY,
    group_key TEXT NOT NULL,
    misp_id TEXT,
    info TEXT NOT NULL,
    threat_level INTEGER NOT NULL,
    first_us INTEGER NOT NULL,
    last_us INTEGER NOT NULL,
    incidents INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS misp_events_group ON misp_events(group_key, first_us);
CREATE TABLE IF NOT EXISTS misp_attributes(
    event_uuid TEXT NOT NULL,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    misp_id TEXT,
    PRIMARY KEY(event_uuid, type, value)
);
CREATE TABLE IF NOT EXISTS misp_tags(event_uuid TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY(event_uuid, name));
CREATE TABLE IF NOT EXISTS misp_tag_ids(name TEXT PRIMARY KEY, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sightings(
    incident_key TEXT NOT NULL,
    attribute_uuid TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY(incident_key, attribute_uuid)
);
CREATE TABLE IF NOT EXISTS outbox(
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    cooldown_key TEXT,
    incident_key TEXT,
    subject TEXT,
    message TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_us INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_us INTEGER NOT NULL,
    sent_us INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_cooldown ON outbox(channel, cooldown_key, created_us);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state);
CREATE TABLE IF NOT EXISTS digest_queue(
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    incident_key TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    outbox_id INTEGER
);
CREATE TABLE IF NOT EXISTS cursors(path TEXT PRIMARY KEY, ino INTEGER NOT NULL, offset INTEGER NOT NULL);
";

/// What waits in the store: [`Store::queue_counts`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueueCounts {
    /// Incidents by MISP push state.
    pub misp: std::collections::BTreeMap<String, u64>,
    /// Notifications by (channel, state).
    pub outbox: std::collections::BTreeMap<(String, String), u64>,
}

pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// One stored incident.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub id: i64,
    #[serde(flatten)]
    pub incident: Incident,
    pub misp_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misp_event: Option<String>,
    pub misp_attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misp_error: Option<String>,
}

impl Store {
    /// Turns a SQLite error into a [`CtlError::Sqlite`]: `<file>: <operation>: <cause>`.
    pub fn failed<'a>(&'a self, op: &'a str) -> impl Fn(rusqlite::Error) -> CtlError + 'a {
        move |source| CtlError::Sqlite {
            path: self.path.clone(),
            op: op.to_owned(),
            source,
        }
    }

    pub fn open(path: &Path) -> Result<Store, CtlError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(CtlError::file("create", dir))?;
        }
        let failed = |op: &'static str| {
            move |source: rusqlite::Error| CtlError::Sqlite {
                path: path.to_owned(),
                op: op.into(),
                source,
            }
        };
        // A new store is its owner's alone (it holds device keys); SQLite gives its WAL
        // and shared-memory files the database file's mode.
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
            match created {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(CtlError::file("create", path)(e)),
            }
        }
        let db = Connection::open(path).map_err(failed("opening the store"))?;
        let mode: String = db
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(failed("setting WAL mode"))?;
        if mode != "wal" {
            return Err(CtlError::Wal {
                path: path.to_owned(),
                mode,
            });
        }
        db.busy_timeout(std::time::Duration::from_secs(10))
            .and_then(|_| db.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"))
            .map_err(failed("setting up the connection"))?;
        migrate(&db, path)?;
        Ok(Store {
            db,
            path: path.to_path_buf(),
        })
    }

    /// Inserts an incident unless its key is known; true when it is new.
    /// `sight_state`: `pending` when the incident should add a MISP sighting.
    pub fn insert(
        &self,
        inc: &Incident,
        misp_state: &str,
        sight_state: Option<&str>,
        now: i64,
    ) -> Result<bool, CtlError> {
        let json = serde_json::to_string(inc).map_err(CtlError::encode("an incident"))?;
        let n = self
            .db
            .execute(
                "INSERT OR IGNORE INTO incidents(key, origin, time, time_us, severity, subject_ip,
                 reason_key, json, ingested_us, misp_state, sight_state)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                params![
                    inc.key,
                    inc.origin.as_str(),
                    inc.time,
                    inc.time_us,
                    inc.severity,
                    inc.subject_ip(),
                    inc.reason_key(),
                    json,
                    now,
                    misp_state,
                    sight_state
                ],
            )
            .map_err(self.failed("storing an incident"))?;
        Ok(n == 1)
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let json: String = r.get(1)?;
        let incident: Incident = serde_json::from_str(&json).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?;
        Ok(Row {
            id: r.get(0)?,
            incident,
            misp_state: r.get(2)?,
            misp_event: r.get(3)?,
            misp_attempts: r.get(4)?,
            misp_error: r.get(5)?,
        })
    }

    const COLS: &'static str = "id, json, misp_state, misp_event, misp_attempts, misp_error";

    /// Incidents at or after `since_us` with severity ≤ `max_severity`, oldest first.
    pub fn list(
        &self,
        since_us: i64,
        max_severity: u8,
        limit: usize,
    ) -> Result<Vec<Row>, CtlError> {
        let sql = format!(
            "SELECT {} FROM (SELECT * FROM incidents WHERE time_us >= ?1 AND severity <= ?2
             ORDER BY time_us DESC, id DESC LIMIT ?3) ORDER BY time_us, id",
            Self::COLS
        );
        let mut st = self
            .db
            .prepare(&sql)
            .map_err(self.failed("listing incidents"))?;
        let rows = st
            .query_map(params![since_us, max_severity, limit as i64], Self::row)
            .map_err(self.failed("listing incidents"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.failed("listing incidents"))
    }

    /// One incident by store id or key (a unique key prefix of 6+ characters is enough).
    pub fn get(&self, id: &str) -> Result<Option<Row>, CtlError> {
        let sql = format!(
            "SELECT {} FROM incidents WHERE id = ?1 OR key = ?2",
            Self::COLS
        );
        let by_id: i64 = id.parse().unwrap_or(-1);
        let found = self
            .db
            .query_row(&sql, params![by_id, id], Self::row)
            .optional()
            .map_err(self.failed("finding an incident"))?;
        if found.is_some() || id.len() < 6 {
            return Ok(found);
        }
        let sql = format!(
            "SELECT {} FROM incidents WHERE key LIKE ?1 || '%' LIMIT 2",
            Self::COLS
        );
        let mut st = self
            .db
            .prepare(&sql)
            .map_err(self.failed("finding an incident"))?;
        let rows: Vec<Row> = st
            .query_map(params![id], Self::row)
            .map_err(self.failed("finding an incident"))?
            .collect::<Result<_, _>>()
            .map_err(self.failed("finding an incident"))?;
        match rows.len() {
            1 => Ok(rows.into_iter().next()),
            0 => Ok(None),
            _ => Err(CtlError::AmbiguousIncident { id: id.to_owned() }),
        }
    }

    /// Incidents by MISP push state, and notifications by channel and state (for
    /// `/metrics`).
    pub fn queue_counts(&self) -> Result<QueueCounts, CtlError> {
        let op = "counting the queues";
        let mut q = QueueCounts::default();
        let mut st = self
            .db
            .prepare("SELECT misp_state, COUNT(*) FROM incidents GROUP BY misp_state")
            .map_err(self.failed(op))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(self.failed(op))?;
        for row in rows {
            let (state, n) = row.map_err(self.failed(op))?;
            q.misp.insert(state, n as u64);
        }
        let mut st = self
            .db
            .prepare("SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state")
            .map_err(self.failed(op))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(self.failed(op))?;
        for row in rows {
            let (channel, state, n) = row.map_err(self.failed(op))?;
            q.outbox.insert((channel, state), n as u64);
        }
        Ok(q)
    }

    /// Registers a device's key (the SHA-256 of its secret, hex); false if the name is
    /// taken.
    pub fn add_device(&self, name: &str, key_sha256: &str, now: i64) -> Result<bool, CtlError> {
        // Keys are secrets: a store others can read is made owner-only first.
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.as_os_str().to_owned();
            p.push(suffix);
            let p = PathBuf::from(p);
            if let Ok(meta) = std::fs::metadata(&p) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!("{} was readable by others; now owner-only", p.display());
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                        .map_err(CtlError::file("restrict", &p))?;
                }
            }
        }
        let n = self
            .db
            .execute(
                "INSERT OR IGNORE INTO device_keys(name, key_sha256, created_us) VALUES (?1, ?2, ?3)",
                params![name, key_sha256, now],
            )
            .map_err(self.failed("adding a device"))?;
        Ok(n == 1)
    }

    /// Forgets a device (its key and nonces); false if unknown.
    pub fn delete_device(&self, name: &str) -> Result<bool, CtlError> {
        let op = "deleting a device";
        self.db
            .execute("DELETE FROM device_nonces WHERE name = ?1", [name])
            .map_err(self.failed(op))?;
        let n = self
            .db
            .execute("DELETE FROM device_keys WHERE name = ?1", [name])
            .map_err(self.failed(op))?;
        Ok(n == 1)
    }

    /// Devices by name, with when they were added (µs).
    pub fn devices(&self) -> Result<Vec<(String, i64)>, CtlError> {
        let op = "listing devices";
        let mut st = self
            .db
            .prepare("SELECT name, created_us FROM device_keys ORDER BY name")
            .map_err(self.failed(op))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.failed(op))?;
        rows.collect::<Result<_, _>>().map_err(self.failed(op))
    }

    /// A device's key (hex), if the device is known.
    pub fn device_key(&self, name: &str) -> Result<Option<String>, CtlError> {
        self.db
            .query_row(
                "SELECT key_sha256 FROM device_keys WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.failed("reading a device key"))
    }

    /// Whether `name` used `nonce` before (read only).
    pub fn nonce_used(&self, name: &str, nonce: &str) -> Result<bool, CtlError> {
        self.db
            .query_row(
                "SELECT COUNT(*) FROM device_nonces WHERE name = ?1 AND nonce = ?2",
                [name, nonce],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(self.failed("reading device nonces"))
    }

    /// Records a nonce of `name` at `ts` (Unix seconds) unless it was seen: true when it
    /// is new. Nonces older than `forget_before` are dropped first (the timestamp check
    /// refuses their requests anyway).
    pub fn use_nonce(
        &self,
        name: &str,
        nonce: &str,
        ts: i64,
        forget_before: i64,
    ) -> Result<bool, CtlError> {
        let op = "recording a device nonce";
        self.db
            .execute("DELETE FROM device_nonces WHERE ts < ?1", [forget_before])
            .map_err(self.failed(op))?;
        let n = self
            .db
            .execute(
                "INSERT OR IGNORE INTO device_nonces(name, nonce, ts) VALUES (?1, ?2, ?3)",
                params![name, nonce, ts],
            )
            .map_err(self.failed(op))?;
        Ok(n == 1)
    }

    /// Incidents waiting for MISP, oldest first.
    pub fn misp_queue(&self) -> Result<Vec<Row>, CtlError> {
        let sql = format!(
            "SELECT {} FROM incidents WHERE misp_state IN ('pending', 'retry') ORDER BY time_us, id",
            Self::COLS
        );
        let mut st = self
            .db
            .prepare(&sql)
            .map_err(self.failed("reading the MISP queue"))?;
        let rows = st
            .query_map([], Self::row)
            .map_err(self.failed("reading the MISP queue"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.failed("reading the MISP queue"))
    }

    /// Incidents whose sighting is still to be added, oldest first.
    pub fn sighting_queue(&self) -> Result<Vec<Row>, CtlError> {
        let sql = format!(
            "SELECT {} FROM incidents WHERE sight_state IN ('pending', 'retry') ORDER BY time_us, id",
            Self::COLS
        );
        let mut st = self
            .db
            .prepare(&sql)
            .map_err(self.failed("reading the sighting queue"))?;
        let rows = st
            .query_map([], Self::row)
            .map_err(self.failed("reading the sighting queue"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.failed("reading the sighting queue"))
    }

    pub fn set_sight(&self, id: i64, state: &str) -> Result<(), CtlError> {
        self.db
            .execute(
                "UPDATE incidents SET sight_state = ?2 WHERE id = ?1",
                params![id, state],
            )
            .map(drop)
            .map_err(self.failed("recording a sighting state"))
    }

    pub fn set_misp(
        &self,
        id: i64,
        state: &str,
        event: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), CtlError> {
        self.db
            .execute(
                "UPDATE incidents SET misp_state = ?2, misp_event = COALESCE(?3, misp_event),
                 misp_error = ?4, misp_attempts = misp_attempts + (?4 IS NOT NULL) WHERE id = ?1",
                params![id, state, event, error],
            )
            .map(drop)
            .map_err(self.failed("recording a MISP state"))
    }

    /// Where reading `path` should resume, given its inode and length now.
    pub fn cursor(&self, path: &str, ino: u64, len: u64) -> Result<u64, CtlError> {
        let found: Option<(i64, i64)> = self
            .db
            .query_row(
                "SELECT ino, offset FROM cursors WHERE path = ?1",
                params![path],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.failed("reading a file cursor"))?;
        Ok(match found {
            // Same file, not truncated: go on where we stopped.
            Some((i, off)) if i as u64 == ino && off as u64 <= len => off as u64,
            // Rotated or truncated: from the start (incident keys keep it idempotent).
            _ => 0,
        })
    }

    /// The inode and offset stored for `path`, if any.
    pub fn stored_cursor(&self, path: &str) -> Result<Option<(u64, u64)>, CtlError> {
        self.db
            .query_row(
                "SELECT ino, offset FROM cursors WHERE path = ?1",
                params![path],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .optional()
            .map_err(self.failed("reading a file cursor"))
    }

    pub fn set_cursor(&self, path: &str, ino: u64, offset: u64) -> Result<(), CtlError> {
        self.db
            .execute(
                "INSERT INTO cursors(path, ino, offset) VALUES (?1, ?2, ?3)
                 ON CONFLICT(path) DO UPDATE SET ino = ?2, offset = ?3",
                params![path, ino as i64, offset as i64],
            )
            .map(drop)
            .map_err(self.failed("saving a file cursor"))
    }

    /// Removes incidents stored before `cutoff_us` (and delivered notifications). Intake
    /// time, not EVE time: a capture replayed today is kept, whatever its timestamps.
    pub fn prune(&self, cutoff_us: i64) -> Result<usize, CtlError> {
        let n = self
            .db
            .execute(
                "DELETE FROM incidents WHERE ingested_us < ?1 AND misp_state NOT IN ('pending', 'retry')
                 AND coalesce(sight_state, '') NOT IN ('pending', 'retry')",
                params![cutoff_us],
            )
            .map_err(self.failed("pruning incidents"))?;
        self.db
            .execute(
                "DELETE FROM outbox WHERE created_us < ?1 AND state IN ('sent', 'suppressed')",
                params![cutoff_us],
            )
            .map_err(self.failed("pruning notifications"))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suriguard_report::incident::from_line;

    #[test]
    fn wal_insert_once_list_and_find() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = Store::open(&path).unwrap();
        let line = r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","flow_id":5,"event_type":"alert","src_ip":"203.0.113.9","dest_ip":"192.168.1.2","alert":{"signature_id":1,"signature":"x","severity":1}}"#;
        let inc = from_line(line).unwrap().unwrap();
        assert!(s.insert(&inc, "pending", None, 1).unwrap());
        assert!(
            !s.insert(&inc, "pending", None, 2).unwrap(),
            "same key twice"
        );
        let rows = s.list(0, 3, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].incident, inc);
        assert!(s.list(0, 0, 10).unwrap().is_empty());
        assert_eq!(s.get(&inc.key[..8]).unwrap().unwrap().id, rows[0].id);
        assert_eq!(
            s.get(&rows[0].id.to_string())
                .unwrap()
                .unwrap()
                .incident
                .key,
            inc.key
        );
        // A second connection reads while the first holds the file.
        let other = Store::open(&path).unwrap();
        assert_eq!(other.misp_queue().unwrap().len(), 1);
        assert!(
            std::fs::metadata(dir.path().join("s.db-wal")).is_ok(),
            "WAL file exists"
        );
    }

    /// A SQLite failure reaches the user with the file and what was being done.
    #[test]
    fn sqlite_errors_name_the_file_and_the_operation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = Store::open(&path).unwrap();
        s.db.execute_batch("PRAGMA query_only = 1").unwrap();
        let e = s
            .set_cursor("/var/log/suricata/eve.json", 1, 2)
            .unwrap_err();
        assert!(
            matches!(&e, CtlError::Sqlite { path: p, op, .. } if *p == path && op == "saving a file cursor"),
            "{e:?}"
        );
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
        let e = e.to_string();
        assert!(
            e.starts_with(&format!("{}: saving a file cursor: ", path.display())),
            "{e}"
        );
        let e = s.prune(0).unwrap_err().to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("pruning"),
            "{e}"
        );
    }

    #[test]
    fn new_store_gets_the_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(user_version(&s.db).unwrap(), SCHEMA_VERSION);
        assert!(tables(&s.db).unwrap().contains(&"incidents".to_string()));
        drop(s);
        // Opening again changes nothing.
        let s = Store::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(user_version(&s.db).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn unversioned_store_with_the_tables_is_stamped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch(SCHEMA_V1).unwrap();
            // A store from before `misp_tag_ids` existed: created on the way.
            db.execute_batch("DROP TABLE misp_tag_ids").unwrap();
            db.execute(
                "INSERT INTO cursors(path, ino, offset) VALUES ('x', 1, 2)",
                [],
            )
            .unwrap();
            assert_eq!(user_version(&db).unwrap(), 0);
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(user_version(&s.db).unwrap(), SCHEMA_VERSION);
        assert_eq!(s.cursor("x", 1, 10).unwrap(), 2, "data kept");
        let tables = tables(&s.db).unwrap();
        assert!(tables.contains(&"misp_tag_ids".to_string()));
        // And on through every later step: version 2's device tables.
        assert!(tables.contains(&"device_keys".to_string()), "{tables:?}");
    }

    #[test]
    fn unversioned_foreign_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE incidents(a, b)")
            .unwrap();
        let e = Store::open(&path).err().expect("refused");
        assert!(
            matches!(&e, CtlError::ForeignStore { table, .. } if table == "incidents"),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(
            e.contains("other.db") && e.contains("not a suriguardctl store"),
            "{e}"
        );
        let db = Connection::open(&path).unwrap();
        assert_eq!(user_version(&db).unwrap(), 0, "left as it was");
    }

    #[test]
    fn newer_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "{SCHEMA_V1} PRAGMA user_version = {};",
                SCHEMA_VERSION + 1
            ))
            .unwrap();
        let e = Store::open(&path).err().expect("refused").to_string();
        assert!(e.contains("future.db"), "{e}");
        assert!(
            e.contains(&format!("version {}", SCHEMA_VERSION + 1))
                && e.contains(&format!("version {SCHEMA_VERSION})")),
            "{e}"
        );
    }

    #[test]
    fn every_version_has_a_step() {
        assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
    }
}
