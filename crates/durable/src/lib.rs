//! Crash-safe files: every state file, journal compaction, stats file and generation that
//! suriguard replaces goes through [`write_atomic`], and writers of a shared journal
//! serialise with [`lock`].
//!
//! An atomic replace writes a temporary file in the same folder, fsyncs it, renames it
//! over the target and fsyncs the folder, so a crash or power cut leaves either the old or
//! the new file, never a mix or an empty one. Errors name the file.

#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

fn named(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// The temporary name next to `path` (hidden, unique per process).
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Replaces `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Replaces `path` atomically with what `fill` writes (buffered), for large files.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let tmp = temp_path(path);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| named(&tmp, "cannot create", e))?;
        // Large: rulesync writes stores of a million indicators through here.
        let mut w = BufWriter::with_capacity(1 << 20, file);
        fill(&mut w).map_err(|e| named(&tmp, "cannot write", e))?;
        let file = w
            .into_inner()
            .map_err(|e| named(&tmp, "cannot write", e.into_error()))?;
        file.sync_all().map_err(|e| named(&tmp, "cannot sync", e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| named(path, "cannot replace", e))?;
        sync_dir(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Fsyncs the folder holding `path`, so a rename into it survives a crash.
/// Whether `f`'s last byte is not a newline: its last line was cut short (a crash or a
/// full disk in the middle of a write). An empty file is not torn. `f` must be readable.
pub fn ends_torn(f: &File) -> io::Result<bool> {
    use std::os::unix::fs::FileExt as _;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    f.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] != b'\n')
}

/// Appends `lines` (whole lines) to `f`, opened with O_APPEND, in one write. After a torn
/// end (`*torn`: [`ends_torn`] at open, or a write that failed) a newline goes first, so
/// new lines never join a cut one (at worst that leaves an empty line, which readers
/// skip). `*torn` is left set when this write fails: part of it may have landed.
pub fn append_lines(f: &mut File, lines: &[u8], torn: &mut bool) -> io::Result<()> {
    use std::io::Write as _;
    let r = if *torn {
        let mut v = Vec::with_capacity(lines.len() + 1);
        v.push(b'\n');
        v.extend_from_slice(lines);
        f.write_all(&v)
    } else {
        f.write_all(lines)
    };
    *torn = r.is_err();
    r
}

pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| named(dir, "cannot sync folder", e))
}

/// An exclusive advisory lock on `<path>.lock`, released when dropped.
///
/// Every writer of a shared journal takes it around its append or its compaction, so a
/// compaction never renames a file over lines another process is appending.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The lock file belonging to `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the exclusive lock of `path` (waits for the holder to release it).
pub fn lock(path: &Path) -> io::Result<Lock> {
    let lp = lock_path(path);
    // Created by whoever comes first (root's suriguardctl, or Suricata's user): a user
    // that may not write it can still lock it, read-only.
    let file = match OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lp)
    {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            OpenOptions::new().read(true).open(&lp)
        }
        other => other,
    }
    .map_err(|e| named(&lp, "cannot open lock file", e))?;
    file.lock().map_err(|e| named(&lp, "cannot lock", e))?;
    Ok(Lock { file })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, b"old").unwrap();
        let e = write_atomic_with(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn errors_name_the_file() {
        let e = write_atomic(Path::new("/nonexistent-dir/x.json"), b"x").unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/"), "{e}");
    }

    #[test]
    fn appends_after_a_torn_line_start_on_a_line_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        std::fs::write(&p, "{\"a\":1}\n{\"b\":").unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&p)
            .unwrap();
        let mut torn = ends_torn(&f).unwrap();
        assert!(torn);
        append_lines(&mut f, b"{\"c\":3}\n", &mut torn).unwrap();
        assert!(!torn && !ends_torn(&f).unwrap());
        append_lines(&mut f, b"{\"d\":4}\n", &mut torn).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"b\":\n{\"c\":3}\n{\"d\":4}\n"
        );
        let empty = tempfile::tempfile().unwrap();
        assert!(!ends_torn(&empty).unwrap());
    }

    #[test]
    fn lock_excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let first = lock(&p).unwrap();
        let taken = Arc::new(AtomicBool::new(false));
        let t = {
            let (p, taken) = (p.clone(), Arc::clone(&taken));
            std::thread::spawn(move || {
                let _second = lock(&p).unwrap();
                taken.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !taken.load(Ordering::SeqCst),
            "second lock taken while held"
        );
        drop(first);
        t.join().unwrap();
        assert!(taken.load(Ordering::SeqCst));
    }
}
