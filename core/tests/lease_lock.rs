//! The lease-file lock used where the OS has no file locks (WASI).

mod common;

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{nums, rec};
use iteration_history::storage::{Capabilities, Dir, FileName, LockGuard, MemDir, ReadFile, WriteFile};
use iteration_history::{Error, History, LockKind, Options};

/// A directory like a WASI preopen: no advisory locks.
#[derive(Debug, Clone, Default)]
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
        Ok(())
    }
    fn try_lock(&self, _: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "lock() not supported"))
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(true, false)
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64
}

#[test]
fn without_os_locks_a_lease_file_excludes_a_second_writer() {
    let dir = NoLocks::default();
    let a = History::open(dir.clone(), "h.jsonl", Options::default()).expect("open");
    assert_eq!(a.lock_kind(), Some(LockKind::Lease));
    assert!(dir.0.contents("h.jsonl.lease").is_some());
    a.save(&rec(1)).expect("save");
    let err = History::open(dir.clone(), "h.jsonl", Options::default()).expect_err("leased");
    assert!(matches!(&err, Error::Locked { holder, .. } if holder.contains("lease")), "{err}");
    drop(a);
    assert!(dir.0.contents("h.jsonl.lease").is_none(), "released on close");
    let b = History::open(dir.clone(), "h.jsonl", Options::default()).expect("reopen");
    assert_eq!(nums(&b.get_all().expect("all")), vec![1]);
}

#[test]
fn an_expired_lease_is_taken_over_and_its_holder_cannot_commit() {
    let dir = NoLocks::default();
    let opts = Options::default().lease(Duration::from_millis(150));
    let a = History::open(dir.clone(), "h.jsonl", opts.clone()).expect("open");
    a.save(&rec(1)).expect("save");
    std::thread::sleep(Duration::from_millis(300));
    let b = History::open(dir.clone(), "h.jsonl", opts).expect("takes over the expired lease");
    let err = a.save(&rec(2)).expect_err("lease lost");
    assert!(matches!(err, Error::LeaseLost { .. }), "{err}");
    assert_eq!(err.code(), "lease-lost");
    b.save(&rec(2)).expect("new holder saves");
    drop(a); // must not remove b's lease
    assert!(dir.0.contents("h.jsonl.lease").is_some());
    assert_eq!(nums(&b.get_all().expect("all")), vec![1, 2]);
}

#[test]
fn a_writer_renews_its_lease_while_it_commits() {
    let dir = NoLocks::default();
    let opts = Options::default().lease(Duration::from_millis(1000));
    let a = History::open(dir.clone(), "h.jsonl", opts.clone()).expect("open");
    for n in 0..6 {
        std::thread::sleep(Duration::from_millis(300));
        a.save(&rec(n)).expect("renewing saves");
    }
    // 1.8 s later (longer than the lease) it is still live: a second writer is refused.
    assert!(matches!(History::open(dir.clone(), "h.jsonl", opts), Err(Error::Locked { .. })));
}

#[test]
fn a_native_writer_respects_a_live_lease() {
    let dir = MemDir::new();
    dir.put("h.jsonl.lease", format!("00000000000000ab {}\n", now_ms() + 60_000).as_bytes());
    let err = History::open(dir.clone(), "h.jsonl", Options::default()).expect_err("a WASI writer holds it");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    dir.put("h.jsonl.lease", format!("00000000000000ab {}\n", now_ms() - 1).as_bytes());
    History::open(dir, "h.jsonl", Options::default()).expect("an expired lease does not block");
}

#[test]
fn a_failed_open_leaves_no_lease_behind() {
    let dir = NoLocks::default();
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

#[test]
fn a_host_held_lock_takes_no_lease_but_still_refuses_a_live_one() {
    let dir = NoLocks::default();
    let host = Options::default().host_lock(true);
    let a = History::open(dir.clone(), "h.jsonl", host.clone()).expect("open with the host's lock");
    assert_eq!(a.lock_kind(), Some(LockKind::Host));
    assert!(dir.0.contents("h.jsonl.lease").is_none(), "no lease file");
    a.save(&rec(1)).expect("save");
    drop(a);
    // A lease-holding writer (a host that cannot lock) keeps it out.
    let leased = History::open(dir.clone(), "h.jsonl", Options::default()).expect("lease");
    assert_eq!(leased.lock_kind(), Some(LockKind::Lease));
    let err = History::open(dir.clone(), "h.jsonl", host.clone()).expect_err("live lease");
    assert!(matches!(&err, Error::Locked { holder, .. } if holder.contains("lease")), "{err}");
    drop(leased);
    let b = History::open(dir.clone(), "h.jsonl", host).expect("reopen");
    assert_eq!(nums(&b.get_all().expect("all")), vec![1]);
}
