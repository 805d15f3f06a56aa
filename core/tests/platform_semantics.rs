//! Platform semantics of the real-disk backend: replacing a history that
//! readers hold open, what each system reports it can do, and (on Windows)
//! retries of the sharing errors other programs cause.
//!
//! The first tests emulate, on every platform, a system that cannot rename
//! over an open file (Windows on FAT or many SMB shares, Windows before 10
//! 1607, Wine): every rewrite must still work, because the writer closes its
//! own handles before renaming. The CI runs this file natively and, built
//! for `x86_64-pc-windows-gnu`, under Wine.

mod common;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{nums, rec};
use iteration_history::storage::{CapStdDir, Capabilities, Dir, FileName, LockGuard, MemDir, ReadFile, WriteFile};
use iteration_history::{CommitStrategy, Error, History, Options};

/// A directory that refuses to rename over a file with open handles, as
/// Windows does without POSIX rename semantics.
#[derive(Debug, Clone, Default)]
struct NoReplaceOpen {
    inner: MemDir,
    /// Open handle id -> the name it refers to now.
    open: Arc<Mutex<HashMap<u64, String>>>,
    next: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Tracked<F: ?Sized> {
    id: u64,
    open: Arc<Mutex<HashMap<u64, String>>>,
    inner: Box<F>,
}

impl<F: ?Sized> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.open.lock().expect("lock").remove(&self.id);
    }
}

impl<F: ReadFile + ?Sized> ReadFile for Tracked<F> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl<F: WriteFile + ?Sized> WriteFile for Tracked<F> {
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_at(data, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.inner.sync_all()
    }
}

impl NoReplaceOpen {
    fn track<F: ?Sized>(&self, name: &FileName, inner: Box<F>) -> Tracked<F> {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        self.open.lock().expect("lock").insert(id, name.to_string());
        Tracked { id, open: self.open.clone(), inner }
    }

    fn open_handles(&self, name: &str) -> usize {
        self.open.lock().expect("lock").values().filter(|n| *n == name).count()
    }
}

impl Dir for NoReplaceOpen {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        Ok(Box::new(self.track(name, self.inner.open_read(name)?)))
    }
    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(self.track(name, self.inner.open_write(name)?)))
    }
    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(self.track(name, self.inner.create_new(name)?)))
    }
    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        let mut open = self.open.lock().expect("lock");
        if open.values().any(|n| n == to.as_str()) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("cannot replace {to}: it is open (emulated Windows without POSIX rename semantics)"),
            ));
        }
        self.inner.rename(from, to)?;
        for n in open.values_mut().filter(|n| *n == from.as_str()) {
            *n = to.to_string();
        }
        Ok(())
    }
    fn remove(&self, name: &FileName) -> io::Result<()> {
        self.inner.remove(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        self.inner.len(name)
    }
    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }
    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock(name)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(false, true)
    }
}

#[test]
fn every_rewrite_closes_the_writers_own_handles_before_renaming() {
    let dir = NoReplaceOpen::default();
    let h = History::open(dir.clone(), "h.jsonl", Options::default().strategy(CommitStrategy::Rewrite)).expect("open");
    h.save(&rec(1)).expect("a rewrite save");
    h.save_batch(&[rec(2), rec(3)]).expect("a rewrite batch");
    assert_eq!(h.compact().expect("compact"), 3);
    h.clear().expect("clear");
    h.save(&rec(4)).expect("save after clear");
    assert_eq!(nums(&h.get_all().expect("all")), vec![4]);
    assert_eq!(dir.refused.load(Ordering::SeqCst), 0, "no rename was refused");
    drop(h);

    // Repair, both on open and on a writer, rewrites with the damaged file open.
    let mut bytes = dir.inner.contents("h.jsonl").expect("file");
    bytes.extend_from_slice(b"{damaged\n");
    bytes.extend_from_slice(&iteration_history::codec::encode_line(&rec(5)).expect("line"));
    dir.inner.put("h.jsonl", &bytes);
    let h = History::open(dir.clone(), "h.jsonl", Options::default().repair_on_open(true)).expect("repair on open");
    assert!(h.recovery_report().is_some_and(|r| r.repaired.is_some()));
    assert_eq!(nums(&h.get_all().expect("all")), vec![4, 5]);
    drop(h);
    dir.inner.put("h.jsonl", &bytes);
    let h = History::open(dir.clone(), "h.jsonl", Options::default());
    let err = h.expect_err("corrupt");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert_eq!(dir.refused.load(Ordering::SeqCst), 0, "no rename was refused");
}

/// A writer's reads share one read handle until the writer replaces the
/// file: every replace (rewrite save, compact, clear, repair) drops it before
/// renaming (else this directory refuses the rename), and the reads after it
/// show the new file.
#[test]
fn a_writers_cached_read_handle_follows_every_replace() {
    for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
        let dir = NoReplaceOpen::default();
        let h = History::open(dir.clone(), "c.jsonl", Options::default().strategy(strategy)).expect("open");
        h.save_batch(&[rec(1), rec(2), rec(3)]).expect("batch");
        assert_eq!(nums(&h.load_recent(2).expect("recent")), vec![2, 3]);
        let opened = dir.next.load(Ordering::SeqCst);
        for _ in 0..3 {
            assert_eq!(nums(&h.load_recent(2).expect("recent")), vec![2, 3]);
            assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2, 3]);
        }
        assert_eq!(dir.next.load(Ordering::SeqCst), opened, "{strategy:?}: the reads reused one handle");
        assert_eq!(dir.open_handles("c.jsonl"), 2, "{strategy:?}: the writer's file and its read handle");

        h.save(&rec(4)).expect("save");
        assert_eq!(nums(&h.load_recent(2).expect("recent")), vec![3, 4], "{strategy:?}: after a save");
        assert_eq!(h.compact().expect("compact"), 4);
        assert_eq!(nums(&h.load_recent(2).expect("recent")), vec![3, 4], "{strategy:?}: after compact");
        h.clear().expect("clear");
        assert_eq!(h.load_recent(5).expect("recent"), vec![], "{strategy:?}: after clear");
        h.save_batch(&[rec(5), rec(6)]).expect("save after clear");
        assert_eq!(nums(&h.load_recent(5).expect("recent")), vec![5, 6], "{strategy:?}: after clear and save");

        // A program that ignores the lock appends a bad line; repair moves it
        // away and renames a new file into place.
        let name = FileName::new("c.jsonl").expect("name");
        let mut f = dir.open_write(&name).expect("open");
        let len = f.len().expect("len");
        f.write_at(b"{damaged\n", len).expect("append");
        drop(f);
        assert_eq!(h.repair().expect("repair").kept, 2);
        h.save(&rec(7)).expect("save after repair");
        assert_eq!(nums(&h.load_recent(5).expect("recent")), vec![5, 6, 7], "{strategy:?}: after repair");
        assert_eq!(dir.refused.load(Ordering::SeqCst), 0, "{strategy:?}: no rename was refused");
    }
}

#[test]
fn where_open_files_cannot_be_replaced_a_reader_delays_a_rewrite_and_nothing_is_lost() {
    let dir = NoReplaceOpen::default();
    let w = History::open(dir.clone(), "r.jsonl", Options::default()).expect("writer");
    w.save_batch(&[rec(1), rec(2)]).expect("save");
    let r = History::open_read_only(dir.clone(), "r.jsonl").expect("reader");
    let mut it = r.iter().expect("iter holds a read handle");
    assert_eq!(dir.open_handles("r.jsonl"), 2, "the writer's and the reader's");
    let err = w.clear().expect_err("the reader's handle blocks the rename");
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    assert!(err.to_string().contains("r.jsonl"), "{err}");
    assert_eq!(nums(&w.get_all().expect("all")), vec![1, 2], "nothing changed");
    assert!(dir.list().expect("list").iter().all(|n| !n.ends_with(".tmp")), "temp file removed");
    assert_eq!(it.next().expect("item").expect("record").iteration_num, 1, "the reader reads on");
    drop(it);
    w.clear().expect("the reader is gone");
    assert_eq!(w.count().expect("count"), 0);
    w.save(&rec(3)).expect("save");
    assert_eq!(nums(&r.get_all().expect("all")), vec![3]);
}

/// On the real disk of this system.
#[test]
fn capabilities_match_the_system() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = CapStdDir::open_ambient(tmp.path()).expect("dir");
    let caps = dir.capabilities();
    // Windows has no directory sync; Unix (Linux, macOS) has.
    assert_eq!(caps.dir_sync, cfg!(unix), "{caps:?}");
    assert!(caps.os_locks, "flock / LockFileEx");
    dir.sync_dir().expect("a directory sync (a no-op on Windows) succeeds");
    let h = History::open(dir, "c.jsonl", Options::default()).expect("open");
    h.save(&rec(1)).expect("save");
    assert_eq!(h.verify().expect("verify").dir_sync(), cfg!(unix));
}

#[test]
fn a_rewrite_replaces_the_history_while_a_reader_holds_it_open() {
    let tmp = tempfile::tempdir().expect("tmp");
    let open = || CapStdDir::open_ambient(tmp.path()).expect("dir");
    let w = History::open(open(), "h.jsonl", Options::default().strategy(CommitStrategy::Rewrite)).expect("writer");
    w.save_batch(&[rec(1), rec(2)]).expect("save");
    let r = History::open_read_only(open(), "h.jsonl").expect("reader");
    let mut it = r.iter().expect("iter holds a read handle for as long as it lives");
    assert_eq!(it.next().expect("first").expect("record").iteration_num, 1);
    match w.save(&rec(3)) {
        Ok(()) => {
            // Unix, and Windows with POSIX rename semantics (NTFS, 10 1607+):
            // the rename replaced the file under the reader, who reads on in
            // the old one.
            w.clear().expect("clear, also while the reader holds the old file");
            assert_eq!(it.next().expect("second").expect("record").iteration_num, 2, "the old file, whole");
            assert!(it.next().is_none(), "the reader's snapshot does not change");
            assert_eq!(w.count().expect("count"), 0);
        }
        Err(err) => {
            // Only where an open file cannot be replaced (Wine, FAT, SMB,
            // older Windows): after about 2 s of retries, a clear error, and
            // nothing lost.
            if cfg!(unix) {
                panic!("a rename over an open file must work on Unix: {err}");
            }
            let msg = err.to_string();
            assert!(msg.contains("h.jsonl") && msg.contains("still failing after"), "{msg}");
            assert!(msg.contains("held open by another program"), "{msg}");
            eprintln!("NOTE: this system cannot replace an open file; the rewrite failed as documented: {msg}");
            assert_eq!(nums(&w.get_all().expect("all")), vec![1, 2], "history unchanged");
            drop(it);
            w.save(&rec(3)).expect("works once the reader is done");
            assert_eq!(nums(&r.get_all().expect("all")), vec![1, 2, 3]);
        }
    }
    assert!(
        std::fs::read_dir(tmp.path()).expect("ls").all(|e| !e
            .expect("entry")
            .path()
            .to_string_lossy()
            .ends_with(".tmp"))
    );
}

/// A reader that finishes within the retry budget never makes a rewrite
/// fail, on any system (on systems that cannot replace an open file the
/// rename is retried until the reader is done).
#[test]
fn a_short_read_never_fails_a_rewrite() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().to_path_buf();
    let w = History::open(
        CapStdDir::open_ambient(&path).expect("dir"),
        "s.jsonl",
        Options::default().strategy(CommitStrategy::Rewrite),
    )
    .expect("writer");
    w.save(&rec(1)).expect("save");
    for round in 0..3u64 {
        let (opened, wait) = mpsc::channel();
        let reader = {
            let path = path.clone();
            std::thread::spawn(move || {
                let r = History::open_read_only(CapStdDir::open_ambient(&path).expect("dir"), "s.jsonl").expect("r");
                let it = r.iter().expect("holds a handle");
                opened.send(()).expect("send");
                std::thread::sleep(Duration::from_millis(300));
                drop(it);
            })
        };
        wait.recv().expect("reader opened");
        let t0 = Instant::now();
        w.save(&rec(10 + round)).expect("the rename waits for the reader at most");
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        reader.join().expect("reader");
    }
    assert_eq!(nums(&w.get_all().expect("all")), vec![1, 10, 11, 12]);
}

/// Windows only: another program holding the history for a moment, as
/// virus scanners, indexers and sync clients do with files they see change.
#[cfg(windows)]
mod windows_sharing {
    use std::os::windows::fs::OpenOptionsExt;
    use std::path::Path;

    use super::*;

    const FILE_SHARE_READ: u32 = 1;
    const FILE_SHARE_WRITE: u32 = 2;

    /// Opens `path` for reading, sharing it with `share` only.
    fn hold(path: &Path, share: u32) -> std::fs::File {
        std::fs::OpenOptions::new().read(true).share_mode(share).open(path).expect("the other program's open")
    }

    /// Closes `file` after `ms` milliseconds, on another thread.
    fn release_after(file: std::fs::File, ms: u64) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            drop(file);
        })
    }

    #[test]
    fn a_program_that_lets_go_within_the_budget_is_waited_for() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("x.jsonl");
        let dir = || CapStdDir::open_ambient(tmp.path()).expect("dir");
        let w = History::open(dir(), "x.jsonl", Options::default().strategy(CommitStrategy::Rewrite)).expect("w");
        w.save(&rec(1)).expect("save");

        // Held without FILE_SHARE_DELETE: the rename over it waits.
        let t = release_after(hold(&path, FILE_SHARE_READ | FILE_SHARE_WRITE), 300);
        let t0 = Instant::now();
        w.save(&rec(2)).expect("the rename is retried until the program lets go");
        let waited = t0.elapsed();
        t.join().expect("holder");
        assert!(waited >= Duration::from_millis(200), "the save really waited: {waited:?}");
        drop(w);

        // Held with no sharing at all: opening waits.
        let t = release_after(hold(&path, 0), 300);
        let t0 = Instant::now();
        let w = History::open(dir(), "x.jsonl", Options::default()).expect("the open is retried");
        let waited = t0.elapsed();
        t.join().expect("holder");
        assert!(waited >= Duration::from_millis(200), "the open really waited: {waited:?}");
        assert_eq!(nums(&w.get_all().expect("all")), vec![1, 2]);
    }

    #[test]
    fn a_program_that_keeps_the_file_gets_a_clear_error_after_the_budget() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = || CapStdDir::open_ambient(tmp.path()).expect("dir");
        let w = History::open(dir(), "y.jsonl", Options::default().strategy(CommitStrategy::Rewrite)).expect("w");
        w.save(&rec(1)).expect("save");
        let holder = hold(&tmp.path().join("y.jsonl"), FILE_SHARE_READ | FILE_SHARE_WRITE);
        let t0 = Instant::now();
        let err = w.save(&rec(2)).expect_err("held for good");
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_secs(10), "{waited:?}");
        let msg = err.to_string();
        assert!(msg.contains("y.jsonl") && msg.contains("still failing after"), "{msg}");
        assert!(msg.contains("virus scanner"), "{msg}");
        drop(holder);
        assert_eq!(nums(&w.get_all().expect("all")), vec![1], "nothing lost, nothing half-written");
        assert!(
            std::fs::read_dir(tmp.path()).expect("ls").all(|e| !e
                .expect("e")
                .path()
                .to_string_lossy()
                .ends_with(".tmp"))
        );
        w.save(&rec(2)).expect("works once the program is gone");
        assert_eq!(nums(&w.get_all().expect("all")), vec![1, 2]);
    }
}
