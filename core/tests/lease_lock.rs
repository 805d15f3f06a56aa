//! The lease-file lock used where the system has no file locks (WASI):
//! one writer, readers any time, takeover of an expired lease, and no
//! lease left behind by a failed open.

mod common;

use std::io;
use std::time::Duration;

use common::rec;
use iteration_history::storage::{Capabilities, Dir, FileName, LockGuard, MemDir, ReadFile, WriteFile};
use iteration_history::{Error, History, LockKind, Options};

/// A directory whose system has no file locks, like a WASI guest's.
#[derive(Debug, Clone)]
struct NoLocks(MemDir);

impl Dir for NoLocks {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        self.0.open_read(name)
    }
    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        self.0.open_write(name)
    }
    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        self.0.create_new(name)
    }
    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        self.0.rename(from, to)
    }
    fn remove(&self, name: &FileName) -> io::Result<()> {
        self.0.remove(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.0.list()
    }
    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        self.0.len(name)
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.0.sync_dir()
    }
    fn try_lock(&self, _name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no file locks here"))
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(true, false)
    }
}

#[test]
fn a_lease_admits_one_writer_and_is_removed_on_close() {
    let dir = NoLocks(MemDir::new());
    let h = History::open(dir.clone(), "h.jsonl", Options::default()).expect("open");
    assert_eq!(h.lock_kind(), Some(LockKind::Lease));
    h.save(&rec(0)).expect("save");
    assert!(dir.0.contents("h.jsonl.lease").is_some());
    let err = History::open(dir.clone(), "h.jsonl", Options::default()).expect_err("second writer");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("lease"), "{err}");
    let r = History::open_read_only(dir.clone(), "h.jsonl").expect("reader");
    assert_eq!(r.count().expect("count"), 1);
    drop(h);
    assert!(dir.0.contents("h.jsonl.lease").is_none(), "released on close");
    History::open(dir, "h.jsonl", Options::default()).expect("next writer");
}

#[test]
fn an_expired_lease_is_taken_over_and_its_old_holder_commits_nothing() {
    let dir = NoLocks(MemDir::new());
    let short = Options::default().lease(Duration::from_millis(30));
    let a = History::open(dir.clone(), "h.jsonl", short).expect("a");
    a.save(&rec(0)).expect("save");
    std::thread::sleep(Duration::from_millis(80));
    let b = History::open(dir.clone(), "h.jsonl", Options::default()).expect("b takes over");
    let err = a.save(&rec(1)).expect_err("a lost its lease");
    assert!(matches!(err, Error::LeaseLost { .. }), "{err}");
    b.save(&rec(1)).expect("b saves");
    drop(a);
    assert!(dir.0.contents("h.jsonl.lease").is_some(), "a's close does not remove b's lease");
    assert_eq!(b.count().expect("count"), 2);
}

#[test]
fn a_failed_open_leaves_no_lease_behind() {
    let dir = NoLocks(MemDir::new());
    let h = History::open(dir.clone(), "h.jsonl", Options::default()).expect("open");
    for n in 0..3 {
        h.save(&rec(n)).expect("save");
    }
    drop(h);
    let mut bytes = dir.0.contents("h.jsonl").expect("file");
    bytes[3] = b'#';
    dir.0.put("h.jsonl", &bytes);
    let err = History::open(dir.clone(), "h.jsonl", Options::default()).expect_err("corrupt");
    assert!(matches!(err, Error::Corrupt { line: 1, .. }), "{err}");
    assert!(dir.0.contents("h.jsonl.lease").is_none(), "the failed open released its lease");
    let h = History::open(dir, "h.jsonl", Options::default().repair_on_open(true)).expect("repair at once");
    assert_eq!(h.count().expect("count"), 2);
}
