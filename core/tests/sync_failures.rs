//! A failed sync is an error for the operation, never treated as success,
//! and the next operation starts from a consistent state.

mod common;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{nums, rec};
use iteration_history::storage::{Capabilities, Dir, FileName, LockGuard, MemDir, ReadFile, WriteFile};
use iteration_history::{CommitStrategy, Error, Health, History, Options};

/// Fails the next `n` directory syncs / file data syncs when armed.
#[derive(Debug, Clone, Default)]
struct Flaky {
    inner: MemDir,
    /// Directory syncs that succeed before the failures start.
    skip_dir_syncs: Arc<AtomicU32>,
    fail_dir_syncs: Arc<AtomicU32>,
    fail_data_syncs: Arc<AtomicU32>,
}

fn take(c: &AtomicU32) -> bool {
    c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

fn eio() -> io::Error {
    io::Error::other("Input/output error (injected)")
}

#[derive(Debug)]
struct FlakyFile {
    inner: Box<dyn WriteFile>,
    fail: Arc<AtomicU32>,
}

impl ReadFile for FlakyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl WriteFile for FlakyFile {
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_at(data, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        if take(&self.fail) { Err(eio()) } else { self.inner.sync_data() }
    }
    fn sync_all(&mut self) -> io::Result<()> {
        if take(&self.fail) { Err(eio()) } else { self.inner.sync_all() }
    }
}

impl Dir for Flaky {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        self.inner.open_read(name)
    }
    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(FlakyFile { inner: self.inner.open_write(name)?, fail: self.fail_data_syncs.clone() }))
    }
    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(FlakyFile { inner: self.inner.create_new(name)?, fail: self.fail_data_syncs.clone() }))
    }
    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        self.inner.rename(from, to)
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
        if take(&self.skip_dir_syncs) {
            return Ok(());
        }
        if take(&self.fail_dir_syncs) { Err(eio()) } else { Ok(()) }
    }
    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock(name)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::FULL
    }
}

#[test]
fn a_failed_append_sync_is_an_error_and_the_retry_writes_once() {
    let d = Flaky::default();
    let h = History::open(d.clone(), "h.jsonl", Options::default()).expect("open");
    h.save(&rec(1)).expect("save");
    d.fail_data_syncs.store(1, Ordering::SeqCst);
    let err = h.save(&rec(2)).expect_err("sync fails");
    assert!(matches!(err, Error::SyncFailed { .. }), "{err}");
    assert!(err.to_string().contains("not committed"), "{err}");
    assert_eq!(h.count().expect("count"), 1, "not acknowledged, not counted");
    assert_eq!(nums(&h.load_recent(10).expect("recent")), vec![1], "a writer reads only what is committed");
    h.save(&rec(2)).expect("retry");
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2], "written exactly once");
    drop(h);
    let h = History::open(d, "h.jsonl", Options::default()).expect("reopen");
    assert_eq!(h.verify().expect("verify").health, Health::Healthy);
}

#[test]
fn a_failed_rewrite_dir_sync_does_not_duplicate_the_retried_record() {
    let d = Flaky::default();
    let opts = Options::default().strategy(CommitStrategy::Rewrite);
    let h = History::open(d.clone(), "h.jsonl", opts.clone()).expect("open");
    h.save(&rec(1)).expect("save");
    d.fail_dir_syncs.store(1, Ordering::SeqCst);
    assert!(matches!(h.save(&rec(2)), Err(Error::SyncFailed { .. })));
    assert_eq!(h.count().expect("count"), 1);
    h.save(&rec(2)).expect("retry");
    h.save(&rec(3)).expect("next");
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2, 3]);
    drop(h);
    assert_eq!(nums(&History::open(d, "h.jsonl", opts).expect("reopen").get_all().expect("all")), vec![1, 2, 3]);
}

#[test]
fn after_a_rename_whose_dir_sync_failed_the_writer_builds_on_the_new_file() {
    for op in ["clear", "compact", "repair"] {
        let d = Flaky::default();
        let h = History::open(d.clone(), "h.jsonl", Options::default()).expect("open");
        h.save_batch(&[rec(1), rec(2), rec(3)]).expect("save");
        if op == "repair" {
            // Damage the file (bit rot) so that repair rewrites it; the sidecar's
            // directory sync succeeds, the one after the rename fails.
            let mut bytes = d.inner.contents("h.jsonl").expect("file");
            let second = bytes.iter().position(|&b| b == b'\n').expect("line") + 1;
            bytes[second + 3] = b'#';
            d.inner.put("h.jsonl", &bytes);
            d.skip_dir_syncs.store(1, Ordering::SeqCst);
        }
        d.fail_dir_syncs.store(1, Ordering::SeqCst);
        let res = match op {
            "clear" => h.clear(),
            "compact" => h.compact().map(|_| ()),
            _ => h.repair().map(|_| ()),
        };
        assert!(matches!(res, Err(Error::SyncFailed { .. })), "{op}: {res:?}");
        // The new content is what the writer now builds on: no zero-filled
        // gap, no resurrected lines; the directory is synced again first.
        h.save(&rec(10)).expect("save after the failed sync");
        drop(h);
        let h = History::open(d.clone(), "h.jsonl", Options::default()).expect("reopen");
        assert_eq!(h.verify().expect("verify").health, Health::Healthy, "{op}");
        let expected = match op {
            "clear" => vec![10],
            "compact" => vec![1, 2, 3, 10],
            _ => vec![1, 3, 10],
        };
        assert_eq!(nums(&h.get_all().expect("all")), expected, "{op}");
    }
}
