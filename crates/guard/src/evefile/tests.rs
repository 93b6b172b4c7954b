use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::*;

fn record(i: usize) -> Vec<u8> {
    format!(r#"{{"event_type":"flow","n":{i}}}"#).into_bytes()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A writer whose forwarded records are collected.
fn collecting(path: &Path, flag: Arc<AtomicI32>) -> (EveFile, Arc<Mutex<Vec<Vec<u8>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let f = EveFile::start(path, 8192, 4 << 20, flag, move |chunk| {
        let mut seen = sink.lock().unwrap();
        for r in chunk.records() {
            seen.push(r.to_vec());
        }
    })
    .unwrap();
    (f, seen)
}

fn balanced(s: &EveFileStats) -> bool {
    s.queued == s.written + s.lost
}

#[test]
fn a_record_with_a_newline_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    let f = EveFile::start(&path, 16, 1 << 20, Arc::default(), drop).unwrap();
    assert!(!f.write(b"{\"a\":1}\n{\"b\":2}"));
    assert!(f.write(b"{\"c\":3}"));
    let s = f.finish();
    assert_eq!((s.queued, s.rejected, s.written), (1, 1, 1));
    assert_eq!(lines(&path), vec!["{\"c\":3}".to_owned()]);
}

#[test]
fn records_larger_than_a_chunk_and_many_chunks_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    let (f, seen) = collecting(&path, Arc::default());
    let big = |i: usize| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(CHUNK + i));
    let mut expected = Vec::new();
    for i in 0..3000 {
        let r = if i % 1000 == 7 {
            big(i).into_bytes()
        } else {
            record(i)
        };
        // Paced so the pending bound is never reached.
        while !f.write(&r) {
            std::thread::sleep(Duration::from_millis(1));
        }
        expected.push(r);
    }
    let s = f.finish();
    let got: Vec<Vec<u8>> = std::fs::read(&path)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(got, expected);
    assert_eq!(*seen.lock().unwrap(), expected);
    assert!(balanced(&s));
}

#[test]
fn writes_every_record_as_a_line_and_forwards_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    std::fs::write(&path, "{\"earlier\":1}\n").unwrap();
    let (f, seen) = collecting(&path, Arc::default());
    for i in 0..5000 {
        assert!(f.write(&record(i)));
    }
    let s = f.finish();
    let got = lines(&path);
    assert_eq!(got.len(), 5001, "appends to what was there");
    assert_eq!(got[0], "{\"earlier\":1}");
    for (i, line) in got[1..].iter().enumerate() {
        assert_eq!(line.as_bytes(), record(i));
    }
    let seen = seen.lock().unwrap();
    let file_order: Vec<Vec<u8>> = got[1..].iter().map(|l| l.as_bytes().to_vec()).collect();
    assert_eq!(*seen, file_order);
    assert_eq!((s.queued, s.written, s.lost, s.errors), (5000, 5000, 0, 0));
    assert_eq!(s.bytes, std::fs::metadata(&path).unwrap().len() - 14);
    assert!(balanced(&s));
}

#[test]
fn a_new_file_gets_suricatas_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    let f = EveFile::start(&path, 16, 1 << 20, Arc::default(), drop).unwrap();
    f.finish();
    // The process umask applies on top, as for Suricata's own files.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640 & !umask);
    assert_eq!(mode & 0o007, 0, "never readable by others");
}

#[test]
fn a_moved_file_is_noticed_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    let moved = dir.path().join("eve.json.1");
    let (f, _) = collecting(&path, Arc::default());
    for i in 0..100 {
        f.write(&record(i));
    }
    // Everything written so far is in the file before it moves.
    wait_for(|| f.stats().written == 100);
    std::fs::rename(&path, &moved).unwrap();
    wait_for(|| f.stats().reopened == 1);
    for i in 100..200 {
        f.write(&record(i));
    }
    let s = f.finish();
    let (old, new) = (lines(&moved), lines(&path));
    assert_eq!(old.len() + new.len(), 200);
    assert_eq!(old.len(), 100);
    assert_eq!(new.first().map(String::as_bytes), Some(&record(100)[..]));
    assert_eq!((s.written, s.lost, s.reopened), (200, 0, 1));
}

#[test]
fn the_rotation_flag_reopens_at_once_and_is_lowered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    let moved = dir.path().join("eve.json.1");
    let flag = Arc::new(AtomicI32::new(0));
    let (f, _) = collecting(&path, Arc::clone(&flag));
    f.write(&record(0));
    wait_for(|| f.stats().written == 1);
    std::fs::rename(&path, &moved).unwrap();
    // What Suricata does on SIGHUP: set the registered int to 1.
    flag.store(1, Relaxed);
    wait_for(|| flag.load(Relaxed) == 0);
    assert!(path.exists(), "the file is created again at once");
    f.write(&record(1));
    let s = f.finish();
    assert_eq!(lines(&moved), vec![String::from_utf8(record(0)).unwrap()]);
    assert_eq!(lines(&path), vec![String::from_utf8(record(1)).unwrap()]);
    assert_eq!(s.reopened, 1);
}

#[test]
fn write_errors_lose_only_buffered_records_and_detection_still_gets_all() {
    // /dev/full opens and fails every write with ENOSPC, like a full disk.
    let path = Path::new("/dev/full");
    let count = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&count);
    let f = EveFile::start(path, 1024, 1 << 20, Arc::default(), move |chunk| {
        c.fetch_add(chunk.records().count() as u64, Relaxed);
    })
    .unwrap();
    for i in 0..300 {
        f.write(&record(i));
    }
    let s = f.finish();
    assert_eq!(count.load(Relaxed), 300);
    assert_eq!((s.queued, s.written, s.lost), (300, 0, 300));
    assert!(s.errors >= 1);
    assert!(balanced(&s));
}

#[test]
fn writing_resumes_after_the_error_clears() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("logs");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("eve.json");
    let (f, _) = collecting(&path, Arc::default());
    f.write(&record(0));
    wait_for(|| f.stats().written == 1);
    // The directory goes away: the file is noticed missing and cannot be created again.
    std::fs::remove_dir_all(&sub).unwrap();
    wait_for(|| f.stats().errors >= 1);
    f.write(&record(1));
    wait_for(|| f.stats().lost == 1);
    std::fs::create_dir(&sub).unwrap();
    wait_for(|| f.stats().reopened >= 1);
    f.write(&record(2));
    let s = f.finish();
    assert_eq!(lines(&path), vec![String::from_utf8(record(2)).unwrap()]);
    assert_eq!((s.written, s.lost), (2, 1));
    assert!(balanced(&s));
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let mut held = false;
    // The first forwarded record holds the writer until released.
    let f = EveFile::start(&path, 8, 1 << 20, Arc::default(), move |_| {
        if !held {
            held = true;
            let _ = release_rx.lock().unwrap().recv();
        }
    })
    .unwrap();
    assert!(f.write(&record(0)));
    // The writer took it and is held in `forward`.
    wait_for(|| f.stats().queued == 1 && f.shared.lock().records == 0);
    let started = Instant::now();
    let accepted = (1..100).filter(|&i| f.write(&record(i))).count();
    assert!(started.elapsed() < Duration::from_secs(1), "write blocked");
    assert_eq!(accepted, 8, "the queue holds 8");
    release_tx.send(()).unwrap();
    let s = f.finish();
    assert_eq!((s.queued, s.dropped_queue_full), (9, 91));
    assert_eq!(lines(&path).len(), 9);
    assert!(balanced(&s));
}

#[test]
fn the_byte_budget_drops_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    let f = EveFile::start(&path, 1024, 4096, Arc::default(), drop).unwrap();
    assert!(!f.write(&vec![b'x'; 5000]), "larger than the whole budget");
    assert!(f.write(&record(1)));
    let s = f.finish();
    assert_eq!((s.queued, s.dropped_queue_full, s.written), (1, 1, 1));
}

#[test]
fn an_unopenable_path_is_an_error_that_names_it() {
    let e = EveFile::start(
        Path::new("/nonexistent-dir/eve.json"),
        16,
        4096,
        Arc::default(),
        drop,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("/nonexistent-dir/eve.json"), "{e}");
}

fn wait_for(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}
