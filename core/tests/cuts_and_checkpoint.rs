//! Files cut by line tools versus commits torn by a writer that stopped
//! (the in-flight commit record), and the optional checkpoint that makes
//! opening cost what the tail costs.

mod common;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{nums, rec};
use iteration_history::storage::{Capabilities, Dir, FileName, LockGuard, MemDir, ReadFile, WriteFile};
use iteration_history::{Error, Health, History, Options};

fn line_ends(bytes: &[u8]) -> Vec<usize> {
    bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1).collect()
}

#[test]
fn a_batch_cut_at_a_line_boundary_is_torn_only_if_the_writer_recorded_it_in_flight() {
    let dir = MemDir::new();
    let h = History::open(dir.clone(), "b.jsonl", Options::default()).expect("open");
    h.save_batch(&[rec(1), rec(2), rec(3)]).expect("batch");
    h.save(&rec(4)).expect("save");
    h.save_batch(&[rec(5), rec(6), rec(7), rec(8), rec(9)]).expect("batch");
    drop(h);
    let full = dir.contents("b.jsonl").expect("file");
    let ends = line_ends(&full);
    assert_eq!(ends.len(), 9);
    assert!(dir.contents("b.jsonl.commit").is_some(), "the writer recorded its batch in flight");

    // What a writer that stopped after 2 of the 5 lines leaves: its record
    // names that commit, so it is a torn tail, whole or not at all.
    let cut = &full[..ends[5]];
    dir.put("b.jsonl", cut);
    let reader = History::open_read_only(dir.clone(), "b.jsonl").expect("reader");
    assert_eq!(nums(&reader.get_all().expect("read")), vec![1, 2, 3, 4]);
    assert_eq!(reader.count().expect("count"), 4);
    let v = reader.verify().expect("verify");
    assert_eq!((v.health, v.records, v.cut.is_none()), (Health::TornTail, 4, true));
    let reason = &v.torn_tail.as_ref().expect("torn").reason;
    assert!(reason.contains("2 of its 5 records are present"), "{reason}");
    let h = History::open(dir.clone(), "b.jsonl", Options::default()).expect("open");
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2, 3, 4]);
    let torn = h.recovery_report().and_then(|r| r.torn_tail.clone()).expect("torn tail moved");
    assert_eq!((torn.offset, torn.line), (ends[3] as u64, 5));
    assert_eq!(dir.contents(&torn.sidecar).expect("sidecar"), full[ends[3]..ends[5]]);
    drop(h);

    // The same bytes under another name (`head -n 6 b.jsonl > s.jsonl`): no
    // writer recorded a commit there, so the 6 records are read.
    dir.put("s.jsonl", cut);
    let reader = History::open_read_only(dir.clone(), "s.jsonl").expect("reader");
    assert_eq!(nums(&reader.get_all().expect("read")), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(reader.count().expect("count"), 6);
    let v = reader.verify().expect("verify");
    assert_eq!((v.health, v.records), (Health::Healthy, 6));
    let c = v.cut.expect("cut records reported");
    assert_eq!((c.records, c.line, c.offset), (2, 5, ends[3] as u64));
    assert!(c.message.contains("cut or filtered by a tool") && !c.message.contains("crashed"), "{}", c.message);
    let h = History::open(dir.clone(), "s.jsonl", Options::default()).expect("open");
    let report = h.recovery_report().expect("report");
    assert!(report.torn_tail.is_none() && report.cut.is_some(), "{report:?}");
    h.save(&rec(10)).expect("save");
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2, 3, 4, 5, 6, 10]);
    drop(h);
    assert!(!dir.list().expect("list").iter().any(|n| n.starts_with("s.jsonl.torn")));

    // A cut inside an earlier batch under the history's own name: the
    // record names another commit, so these are cut records.
    dir.put("b.jsonl", &full[..ends[1]]);
    let reader = History::open_read_only(dir.clone(), "b.jsonl").expect("reader");
    assert_eq!(nums(&reader.get_all().expect("read")), vec![1, 2]);
    // A damaged record names nothing.
    dir.put("b.jsonl", cut);
    let mut rec_bytes = dir.contents("b.jsonl.commit").expect("record");
    rec_bytes[20] ^= 1;
    dir.put("b.jsonl.commit", &rec_bytes);
    assert_eq!(History::open_read_only(dir.clone(), "b.jsonl").expect("reader").count().expect("count"), 6);
}

#[test]
fn single_saves_and_large_batches_need_no_in_flight_record() {
    let dir = MemDir::new();
    let h = History::open(dir.clone(), "h.jsonl", Options::default().rename_batches_over(10)).expect("open");
    h.save(&rec(0)).expect("save");
    h.save_batch(&(1..=20).map(rec).collect::<Vec<_>>()).expect("large batch");
    assert!(dir.contents("h.jsonl.commit").is_none(), "no multi-record append yet");
    let text = String::from_utf8(dir.contents("h.jsonl").expect("file")).expect("utf8");
    assert!(!text.contains("/20+"), "a batch committed by rename is untagged");
    h.save_batch(&[rec(21), rec(22)]).expect("small batch");
    assert!(dir.contents("h.jsonl.commit").is_some());
    assert_eq!(h.count().expect("count"), 23);
}

/// A directory that counts the bytes read through it.
#[derive(Debug)]
struct Counting {
    inner: MemDir,
    read: Arc<AtomicU64>,
}

#[derive(Debug)]
struct CountingFile {
    inner: Box<dyn ReadFile>,
    read: Arc<AtomicU64>,
}

impl ReadFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let n = self.inner.read_at(buf, offset)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl Dir for Counting {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        Ok(Box::new(CountingFile { inner: self.inner.open_read(name)?, read: self.read.clone() }))
    }
    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        self.inner.open_write(name)
    }
    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        self.inner.create_new(name)
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
        self.inner.sync_dir()
    }
    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock(name)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

/// A history of `n` records written in batches of 50, closed (checkpointed).
fn history(dir: &MemDir, n: u64) {
    let h = History::open(dir.clone(), "h.jsonl", Options::default()).expect("open");
    for start in (0..n).step_by(50) {
        h.save_batch(&(start..(start + 50).min(n)).map(rec).collect::<Vec<_>>()).expect("batch");
    }
}

fn open_scanned(dir: &MemDir, opts: Options) -> (History, u64) {
    let h = History::open(dir.clone(), "h.jsonl", opts).expect("open");
    let scanned = h.recovery_report().expect("report").scanned_bytes;
    (h, scanned)
}

#[test]
fn opening_reads_the_tail_after_a_checkpoint_and_a_missing_stale_or_damaged_one_changes_nothing() {
    let dir = MemDir::new();
    history(&dir, 2000);
    let len = dir.contents("h.jsonl").expect("file").len() as u64;
    assert!(len > 500_000, "{len}");
    // Checkpointed at close: the next open scans nothing, counts exactly.
    let (h, scanned) = open_scanned(&dir, Options::default());
    assert_eq!(scanned, 0);
    assert_eq!((h.count().expect("count"), h.last_iteration_num().expect("last")), (2000, Some(1999)));
    h.save(&rec(2000)).expect("save");
    drop(h);
    // A reader's count reads about the two 64 KiB spans, not the file.
    let read = Arc::new(AtomicU64::new(0));
    let counting = Counting { inner: dir.clone(), read: read.clone() };
    let r = History::open_read_only(counting, "h.jsonl").expect("reader");
    assert_eq!(r.count().expect("count"), 2001);
    let bytes_read = read.load(Ordering::Relaxed);
    assert!(bytes_read < 400 * 1024, "count read {bytes_read} of {len} bytes");

    let expect = |dir: &MemDir, what: &str, full_scan: bool| {
        let (h, scanned) = open_scanned(dir, Options::default());
        let len = dir.contents("h.jsonl").expect("file").len() as u64;
        if full_scan {
            assert_eq!(scanned, len, "{what}: scanned the whole file");
        }
        assert_eq!(h.count().expect("count"), 2001, "{what}");
        assert_eq!(h.last_iteration_num().expect("last"), Some(2000), "{what}");
        assert_eq!(h.get_all().expect("all").len(), 2001, "{what}");
        drop(h);
        let r = History::open_read_only(dir.clone(), "h.jsonl").expect("reader");
        assert_eq!(r.count().expect("count"), 2001, "{what}: reader");
    };
    let good_idx = dir.contents("h.jsonl.idx").expect("written at close");
    // Missing. (A writer that commits nothing writes no new checkpoint.)
    dir.remove(&FileName::new("h.jsonl.idx").expect("name")).expect("remove");
    expect(&dir, "missing checkpoint", true);
    assert!(dir.contents("h.jsonl.idx").is_none());
    // Damaged (one byte).
    let mut idx = good_idx.clone();
    idx[25] ^= 0x01;
    dir.put("h.jsonl.idx", &idx);
    expect(&dir, "damaged checkpoint", true);
    // Stale: the history rewritten (compact drops the commit tags) and grown
    // past the checkpointed length again: the bytes there differ.
    let bytes = dir.contents("h.jsonl").expect("file");
    let h = History::open(dir.clone(), "h.jsonl", Options::default()).expect("open");
    h.compact().expect("compact");
    let mut n = 2001;
    while dir.contents("h.jsonl").expect("file").len() <= bytes.len() + 1000 {
        h.save(&rec(n)).expect("save");
        n += 1;
    }
    drop(h);
    dir.put("h.jsonl.idx", &good_idx);
    let (h, scanned) = open_scanned(&dir, Options::default());
    assert_eq!(scanned, dir.contents("h.jsonl").expect("file").len() as u64, "stale checkpoint: full scan");
    assert_eq!((h.count().expect("count"), h.last_iteration_num().expect("last")), (n, Some(n - 1)));
    drop(h);
    dir.put("h.jsonl", &bytes);
    dir.put("h.jsonl.idx", &good_idx);
    expect(&dir, "the checkpoint of these bytes again", false);
    // Stale: the history shortened (an external rewrite dropped records).
    let ends = line_ends(&bytes);
    dir.put("h.jsonl", &bytes[..ends[999]]);
    dir.put("h.jsonl.idx", &good_idx);
    let (h, scanned) = open_scanned(&dir, Options::default());
    assert_eq!((h.count().expect("count"), scanned), (1000, ends[999] as u64));
}

#[test]
fn bit_rot_before_a_checkpoint_is_found_by_reads_verify_and_repair_on_open() {
    let dir = MemDir::new();
    history(&dir, 2000);
    let mut bytes = dir.contents("h.jsonl").expect("file");
    let ends = line_ends(&bytes);
    // A byte in line 1001 (far from both checkpointed ends) rots.
    let at = ends[999] + 40;
    bytes[at] ^= 0x08;
    dir.put("h.jsonl", &bytes);
    // Opening for writing reads only the tail: it does not see the damage.
    let (h, scanned) = open_scanned(&dir, Options::default());
    assert_eq!(scanned, 0);
    h.save(&rec(2000)).expect("save");
    // Every read that reaches it reports it, with its line and offset.
    match h.get_all() {
        Err(Error::Corrupt { line, offset, .. }) => assert_eq!((line, offset), (1001, ends[999] as u64)),
        other => panic!("{other:?}"),
    }
    let v = h.verify().expect("verify");
    assert_eq!((v.health, v.corrupt_lines[0].line), (Health::Corrupt, 1001));
    drop(h);
    let r = History::open_read_only(dir.clone(), "h.jsonl").expect("reader");
    assert_eq!(r.verify().expect("verify").health, Health::Corrupt);
    assert!(matches!(r.get_all(), Err(Error::Corrupt { line: 1001, .. })));
    // `repair_on_open` ignores the checkpoint: it finds and repairs it.
    let (h, scanned) = open_scanned(&dir, Options::default().repair_on_open(true));
    assert!(scanned > 500_000);
    let repaired = h.recovery_report().and_then(|r| r.repaired.clone()).expect("repaired");
    assert_eq!((repaired.kept, repaired.moved_lines), (2000, 1));
    assert_eq!(h.get_all().expect("all").len(), 2000);
    drop(h);
    // Damage near the end of the checkpointed prefix fails the open at once.
    let dir = MemDir::new();
    history(&dir, 2000);
    let mut bytes = dir.contents("h.jsonl").expect("file");
    let ends = line_ends(&bytes);
    // (line 1940: in the checkpoint's last 64 KiB, not in the last commit)
    bytes[ends[1938] + 40] ^= 0x08;
    dir.put("h.jsonl", &bytes);
    match History::open(dir.clone(), "h.jsonl", Options::default()) {
        Err(Error::Corrupt { line, .. }) => assert_eq!(line, 1940),
        other => panic!("{other:?}"),
    }
}
