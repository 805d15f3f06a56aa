//! Torn tails, zero-filled and garbage tails, mid-file corruption, repair,
//! and temp files left by a crash.

mod common;

use common::{backends, nums, read_all, rec, write_all};
use iteration_history::codec::encode_line;
use iteration_history::storage::{Dir, MemDir};
use iteration_history::{Error, Health, History, Options};

fn lines(ns: std::ops::RangeInclusive<u64>) -> Vec<u8> {
    ns.flat_map(|n| encode_line(&rec(n)).expect("valid")).collect()
}

#[test]
fn a_torn_tail_is_moved_to_a_sidecar_at_every_cut() {
    let good = lines(1..=3);
    let last = encode_line(&rec(4)).expect("valid");
    for (_, dir, _tmp) in backends() {
        for cut in 1..last.len() {
            let mut bytes = good.clone();
            bytes.extend_from_slice(&last[..cut]);
            write_all(&*dir, "t.jsonl", &bytes);
            for e in dir.list().expect("list") {
                if e.starts_with("t.jsonl.torn") {
                    dir.remove(&iteration_history::storage::FileName::new(&e).expect("n")).expect("rm");
                }
            }
            // Readers ignore the torn tail and change nothing.
            let r = History::open_read_only_shared(dir.clone(), "t.jsonl").expect("reader");
            assert_eq!(r.count().expect("count"), 3, "cut {cut}");
            assert_eq!(r.last_iteration_num().expect("last"), Some(3));
            assert_eq!(r.verify().expect("verify").health, Health::TornTail);
            assert_eq!(read_all(&*dir, "t.jsonl"), bytes, "readers never mutate");
            // The writer moves it aside, reports it, and appends cleanly.
            let h = History::open_shared(dir.clone(), "t.jsonl", Options::default()).expect("writer");
            let torn = h.recovery_report().and_then(|r| r.torn_tail.clone()).expect("torn tail reported");
            assert_eq!((torn.offset, torn.line, torn.bytes), (good.len() as u64, 4, cut as u64));
            assert_eq!(read_all(&*dir, &torn.sidecar), &last[..cut], "nothing silently dropped");
            h.save(&rec(4)).expect("save");
            assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2, 3, 4]);
            assert_eq!(h.verify().expect("verify").health, Health::Healthy);
        }
    }
}

#[test]
fn zero_filled_and_garbage_tails_are_torn_not_corrupt() {
    let good = lines(1..=5);
    let tails: Vec<Vec<u8>> = vec![
        vec![0u8; 4096],
        b"\xde\xad\xbe\xef garbage \x00\x01\n".to_vec(),
        b"garbage line\nmore garbage\n".to_vec(),
        {
            // A whole line of ours with one byte changed: the checksum catches it.
            let mut l = encode_line(&rec(6)).expect("valid");
            l[20] ^= 1;
            l
        },
        // Valid JSON but not a record (e.g. stale bytes of another file).
        b"{\"hello\": 1}\n".to_vec(),
    ];
    for t in tails {
        let dir = MemDir::new();
        dir.put("z.jsonl", &[good.clone(), t.clone()].concat());
        let h = History::open(dir.clone(), "z.jsonl", Options::default()).expect("open");
        let report = h.recovery_report().cloned().expect("report");
        assert!(report.torn_tail.is_some(), "{t:?}");
        assert_eq!(h.count().expect("count"), 5);
        assert_eq!(dir.contents("z.jsonl"), Some(good.clone()));
    }
}

#[test]
fn a_torn_batch_disappears_as_a_whole() {
    let dir = MemDir::new();
    let h = History::open(dir.clone(), "b.jsonl", Options::default()).expect("open");
    h.save_batch(&[rec(1), rec(2)]).expect("batch");
    h.save_batch(&[rec(3), rec(4), rec(5)]).expect("batch");
    drop(h);
    let full = dir.contents("b.jsonl").expect("file");
    let first_batch_len =
        full.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).map(|(i, _)| i + 1).expect("2 lines");
    // Lose the end of the second batch at several points: all or nothing.
    for keep in [first_batch_len + 10, full.len() - 200, full.len() - 1] {
        dir.put("b.jsonl", &full[..keep]);
        let h = History::open(dir.clone(), "b.jsonl", Options::default()).expect("open");
        assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2], "keep {keep}");
    }
    // The batch's last line intact but its first line zeroed: still all or nothing.
    let mut damaged = full.clone();
    damaged[first_batch_len..first_batch_len + 50].fill(0);
    dir.put("b.jsonl", &damaged);
    let h = History::open(dir.clone(), "b.jsonl", Options::default()).expect("open");
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2]);
}

#[test]
fn mid_file_corruption_fails_open_and_reads_naming_line_and_offset() {
    let l1 = encode_line(&rec(1)).expect("valid");
    let mut l2 = encode_line(&rec(2)).expect("valid");
    l2[30] = b'#';
    let l3 = encode_line(&rec(3)).expect("valid");
    let bytes = [l1.clone(), l2, l3].concat();
    let dir = MemDir::new();
    dir.put("c.jsonl", &bytes);
    let err = History::open(dir.clone(), "c.jsonl", Options::default()).expect_err("corrupt");
    match &err {
        Error::Corrupt { line, offset, .. } => assert_eq!((*line, *offset), (2, l1.len() as u64)),
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("c.jsonl") && msg.contains("line 2") && msg.contains(&format!("byte {}", l1.len())), "{msg}");
    assert!(msg.contains("repair"), "says what to do: {msg}");
    assert_eq!(dir.contents("c.jsonl"), Some(bytes.clone()), "open changed nothing");
    // Reads return the same error.
    let r = History::open_read_only(dir.clone(), "c.jsonl").expect("reader");
    for res in [r.get_all().map(|_| ()), r.count().map(|_| ()), r.load_recent(10).map(|_| ())] {
        assert!(matches!(res, Err(Error::Corrupt { line: 2, .. })), "{res:?}");
    }
    // The last records are still readable where the damage is not reached.
    assert_eq!(nums(&r.load_recent(1).expect("recent")), vec![3]);
    let v = r.verify().expect("verify");
    assert_eq!(v.health, Health::Corrupt);
    assert_eq!(v.corrupt_lines.len(), 1);
    assert_eq!(v.corrupt_lines[0].line, 2);
}

#[test]
fn repair_moves_bad_lines_to_a_sidecar_and_keeps_the_rest() {
    for (_, dir, _tmp) in backends() {
        let mut bytes = lines(1..=2);
        let bad1 = b"{oops\n".to_vec();
        bytes.extend_from_slice(&bad1);
        bytes.extend_from_slice(&lines(3..=4));
        let bad2 = b"\x00\x00\x00\n".to_vec();
        bytes.extend_from_slice(&bad2);
        bytes.extend_from_slice(&lines(5..=5));
        let torn = &encode_line(&rec(6)).expect("valid")[..40];
        bytes.extend_from_slice(torn);
        write_all(&*dir, "r.jsonl", &bytes);
        // Repair on open.
        let h = History::open_shared(dir.clone(), "r.jsonl", Options::default().repair_on_open(true)).expect("open");
        let rep = h.recovery_report().and_then(|r| r.repaired.clone()).expect("repaired");
        assert_eq!(rep.kept, 5);
        assert_eq!(rep.moved_lines, 3);
        assert_eq!(rep.moved.iter().map(|m| m.line).collect::<Vec<_>>(), vec![3, 6, 8]);
        let side = read_all(&*dir, rep.sidecar.as_deref().expect("sidecar"));
        assert_eq!(side, [bad1, bad2, torn.to_vec(), b"\n".to_vec()].concat());
        assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2, 3, 4, 5]);
        assert_eq!(h.verify().expect("verify").health, Health::Healthy);
        // An explicit repair of a healthy history does nothing.
        let again = h.repair().expect("repair");
        assert_eq!((again.kept, again.moved_lines), (5, 0));
        h.save(&rec(6)).expect("save");
    }
}

#[test]
fn repair_untags_the_surviving_lines_of_a_damaged_batch() {
    let dir = MemDir::new();
    let h = History::open(dir.clone(), "g.jsonl", Options::default()).expect("open");
    h.save_batch(&[rec(1), rec(2), rec(3)]).expect("batch");
    h.save(&rec(4)).expect("save");
    drop(h);
    let mut bytes = dir.contents("g.jsonl").expect("file");
    let second_line = bytes.iter().position(|&b| b == b'\n').expect("nl") + 1;
    bytes[second_line + 25] ^= 0x20; // damage record 2 of the batch
    dir.put("g.jsonl", &bytes);
    assert!(matches!(
        History::open(dir.clone(), "g.jsonl", Options::default()),
        Err(Error::Corrupt { line: 1, .. }) | Err(Error::Corrupt { line: 2, .. })
    ));
    let h = History::open(dir.clone(), "g.jsonl", Options::default().repair_on_open(true)).expect("repair");
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 3, 4]);
    drop(h);
    // It reopens cleanly: the kept batch members no longer look incomplete.
    let h = History::open(dir.clone(), "g.jsonl", Options::default()).expect("reopen");
    assert_eq!(h.verify().expect("verify").health, Health::Healthy);
}

#[test]
fn stale_temp_files_of_ours_are_removed_on_open_others_kept() {
    for (_, dir, _tmp) in backends() {
        let h = History::open_shared(dir.clone(), "h.jsonl", Options::default()).expect("open");
        h.save(&rec(1)).expect("save");
        drop(h);
        // A crash during a rewrite leaves a temp file; the original module's
        // `<file>.tmp` and other histories' temp files are not ours.
        write_all(&*dir, ".h.jsonl.0123456789abcdef.tmp", b"partial");
        write_all(&*dir, "h.jsonl.tmp", b"python's");
        write_all(&*dir, ".other.jsonl.0123456789abcdef.tmp", b"other");
        let r = History::open_read_only_shared(dir.clone(), "h.jsonl").expect("reader");
        assert_eq!(r.verify().expect("verify").temp_files(), [".h.jsonl.0123456789abcdef.tmp".to_string()]);
        let h = History::open_shared(dir.clone(), "h.jsonl", Options::default()).expect("open");
        assert_eq!(
            h.recovery_report().map(|r| r.removed_temp_files.clone()),
            Some(vec![".h.jsonl.0123456789abcdef.tmp".into()])
        );
        let mut names = dir.list().expect("list");
        names.sort();
        assert!(
            names.contains(&"h.jsonl.tmp".to_string())
                && names.contains(&".other.jsonl.0123456789abcdef.tmp".to_string())
        );
        assert!(!names.contains(&".h.jsonl.0123456789abcdef.tmp".to_string()));
        assert_eq!(h.count().expect("count"), 1);
    }
}
