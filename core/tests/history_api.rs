//! Every History API, on the in-memory and the real-disk backend.

mod common;

use std::sync::Arc;

use common::{backends, nums, read_all, rec};
use iteration_history::storage::{Dir, MemDir};
use iteration_history::{CommitStrategy, Error, Health, History, IterationRecord, Options};

fn strategies() -> [CommitStrategy; 2] {
    [CommitStrategy::Append, CommitStrategy::Rewrite]
}

#[test]
fn history_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<History>();
    assert_send_sync::<Error>();
    assert_send_sync::<iteration_history::Records>();
}

#[test]
fn save_load_count_last_on_both_backends_and_strategies() {
    for (label, dir, _tmp) in backends() {
        for strategy in strategies() {
            let name = format!("h-{strategy:?}.jsonl");
            let h = History::open_shared(dir.clone(), &name, Options::default().strategy(strategy)).expect("open");
            assert!(h.recovery_report().is_some_and(|r| r.created));
            assert_eq!(h.last_iteration_num().expect("last"), None);
            assert_eq!(h.count().expect("count"), 0);
            assert!(h.load_recent(5).expect("recent").is_empty());
            for n in 1..=10 {
                h.save(&rec(n)).expect("save");
            }
            h.save_batch(&[rec(11), rec(12), rec(13)]).expect("batch");
            h.save_batch(&[]).expect("empty batch is a no-op");
            assert_eq!(h.count().expect("count"), 13, "{label} {strategy:?}");
            assert_eq!(h.last_iteration_num().expect("last"), Some(13));
            assert_eq!(nums(&h.load_recent(4).expect("recent")), vec![10, 11, 12, 13]);
            assert_eq!(nums(&h.load_recent(100).expect("recent")), (1..=13).collect::<Vec<_>>());
            let all = h.get_all().expect("all");
            assert_eq!(all, (1..=13).map(rec).collect::<Vec<_>>(), "records are stored exactly");
            let streamed: Vec<IterationRecord> = h.iter().expect("iter").collect::<Result<_, _>>().expect("iter items");
            assert_eq!(streamed, all);
            drop(h);

            // Reopen: everything is still there; readers agree.
            let h = History::open_shared(dir.clone(), &name, Options::default().strategy(strategy)).expect("reopen");
            assert_eq!(h.count().expect("count"), 13);
            let r = History::open_read_only_shared(dir.clone(), &name).expect("reader");
            assert!(!r.is_writable());
            assert_eq!(r.count().expect("count"), 13);
            assert_eq!(r.last_iteration_num().expect("last"), Some(13));
            assert_eq!(nums(&r.load_recent(2).expect("recent")), vec![12, 13]);
            assert_eq!(r.get_all().expect("all").len(), 13);
            let v = h.verify().expect("verify");
            assert_eq!(
                (v.health, v.records, v.unchecksummed, v.last_iteration_num),
                (Health::Healthy, 13, 0, Some(13))
            );
            assert!(matches!(r.save(&rec(14)), Err(Error::ReadOnly { .. })));
        }
    }
}

#[test]
fn file_is_plain_jsonl_one_object_per_line() {
    let dir = MemDir::new();
    let h = History::open(dir.clone(), "h.jsonl", Options::default()).expect("open");
    h.save(&rec(1)).expect("save");
    h.save_batch(&[rec(2), rec(3)]).expect("batch");
    let bytes = dir.contents("h.jsonl").expect("file");
    let text = String::from_utf8(bytes).expect("utf-8");
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    for (i, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is strict JSON");
        assert_eq!(v["iteration_num"], i as u64 + 1);
        assert!(v["_ih"].is_string());
    }
    assert!(lines[1].contains("\"_ih\":\"1/2+0 "), "{}", lines[1]);
}

#[test]
fn clear_is_atomic_and_leaves_an_empty_history() {
    for (_, dir, _tmp) in backends() {
        for strategy in strategies() {
            let h = History::open_shared(dir.clone(), "c.jsonl", Options::default().strategy(strategy)).expect("open");
            h.clear().expect("clear any previous");
            h.save_batch(&[rec(1), rec(2)]).expect("batch");
            h.clear().expect("clear");
            assert_eq!(h.count().expect("count"), 0);
            assert_eq!(h.last_iteration_num().expect("last"), None);
            assert!(read_all(&*dir, "c.jsonl").is_empty());
            h.save(&rec(1)).expect("save after clear");
            assert_eq!(nums(&h.get_all().expect("all")), vec![1]);
            // No temp files are left behind.
            assert!(dir.list().expect("list").iter().all(|n| !n.ends_with(".tmp")), "{:?}", dir.list());
        }
    }
}

#[test]
fn export_is_a_byte_identical_consistent_copy() {
    for (_, dir, _tmp) in backends() {
        let h = History::open_shared(dir.clone(), "e.jsonl", Options::default()).expect("open");
        h.save_batch(&(1..=20).map(rec).collect::<Vec<_>>()).expect("batch");
        let out = MemDir::new();
        let n = h.export_to(&out, "backup.jsonl").expect("export");
        let original = read_all(&*dir, "e.jsonl");
        assert_eq!(n, original.len() as u64);
        assert_eq!(out.contents("backup.jsonl").expect("copy"), original);
        let mut buf = Vec::new();
        h.export_to_writer(&mut buf).expect("export to writer");
        assert_eq!(buf, original);
        // The copy opens as a history of its own.
        let copy = History::open(out, "backup.jsonl", Options::default()).expect("open copy");
        assert_eq!(copy.count().expect("count"), 20);
    }
}

#[test]
fn save_refuses_invalid_records_naming_the_field_and_writes_nothing() {
    let dir = MemDir::new();
    let h = History::open(dir.clone(), "v.jsonl", Options::default()).expect("open");
    h.save(&rec(1)).expect("save");
    let before = dir.contents("v.jsonl");
    let mut bad = rec(2);
    bad.timestamp.clear();
    let err = h.save(&bad).expect_err("empty timestamp");
    assert!(matches!(&err, Error::InvalidRecord { source, .. } if source.field == "timestamp"), "{err}");
    assert!(err.to_string().contains("timestamp") && err.to_string().contains("nothing was written"), "{err}");
    let mut bad = rec(3);
    bad.extra.insert("_ih".into(), iteration_history::Value::Null);
    let err = h.save_batch(&[rec(2), bad]).expect_err("reserved field");
    assert!(err.to_string().contains("record 2 of the batch"), "{err}");
    assert!(err.to_string().contains("`_ih`"), "{err}");
    let err = h.save_json(br#"{"iteration_num": "7"}"#).expect_err("string iteration");
    assert!(err.to_string().contains("iteration_num"), "{err}");
    assert_eq!(dir.contents("v.jsonl"), before, "nothing was written");
    assert_eq!(h.count().expect("count"), 1);
    // A valid JSON line (Python style) is accepted.
    h.save_json(br#"{"iteration_num": 2, "strategy_code": "x", "execution_result": {"success": true}, "metrics": {"sharpe_ratio": NaN}, "classification_level": "LEVEL_1", "timestamp": "2025-01-01T00:00:00", "champion_updated": true}"#)
        .expect("python-style json");
    let last = h.load_recent(1).expect("recent");
    assert!(last[0].metric("sharpe_ratio").is_some_and(f64::is_nan));
}

#[test]
fn save_if_last_is_compare_and_append() {
    let h = History::open(MemDir::new(), "cas.jsonl", Options::default()).expect("open");
    h.save_if_last(None, &[rec(1)]).expect("first");
    h.save_if_last(Some(1), &[rec(2), rec(3)]).expect("next");
    let err = h.save_if_last(Some(1), &[rec(2)]).expect_err("stale expectation");
    assert!(matches!(&err, Error::Conflict { actual, .. } if actual == "3"), "{err}");
    assert_eq!(h.count().expect("count"), 3);
}

#[test]
fn compact_reencodes_and_keeps_every_record() {
    let dir = MemDir::new();
    let python = b"{\"iteration_num\": 1, \"strategy_code\": \"a\", \"execution_result\": {}, \"metrics\": {\"s\": Infinity}, \"classification_level\": \"L\", \"timestamp\": \"t\", \"champion_updated\": false}\r\n\r\n";
    dir.put("p.jsonl", python);
    let h = History::open(dir.clone(), "p.jsonl", Options::default()).expect("open");
    h.save(&rec(2)).expect("save");
    assert_eq!(h.verify().expect("verify").unchecksummed, 1);
    assert_eq!(h.compact().expect("compact"), 2);
    let v = h.verify().expect("verify");
    assert_eq!((v.records, v.unchecksummed), (2, 0));
    assert_eq!(h.get_all().expect("all")[0].metric("s"), Some(f64::INFINITY));
    h.save(&rec(3)).expect("save after compact");
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2, 3]);
}

#[test]
fn shared_dir_arc_works_and_display_names_the_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir: Arc<dyn Dir> = Arc::new(iteration_history::storage::CapStdDir::open_ambient(tmp.path()).expect("dir"));
    let h = History::open_shared(dir, "named.jsonl", Options::default()).expect("open");
    assert!(h.file().ends_with("named.jsonl") && h.file().contains(&*tmp.path().to_string_lossy()), "{}", h.file());
}

#[test]
fn paging_walks_every_record_once_and_refuses_bad_cursors() {
    for (_, dir, _tmp) in backends() {
        let h = History::open_shared(dir.clone(), "pg.jsonl", Options::default()).expect("open");
        h.save_batch(&(1..=25).map(rec).collect::<Vec<_>>()).expect("batch");
        let mut cursor = 0;
        let mut seen = Vec::new();
        loop {
            let page = h.page(cursor, 10).expect("page");
            assert!(page.records.len() <= 10);
            seen.extend(nums(&page.records));
            match page.next_cursor {
                Some(c) => cursor = c,
                None => break,
            }
        }
        assert_eq!(seen, (1..=25).collect::<Vec<_>>());
        let err = h.page(3, 10).expect_err("not a line start");
        assert!(matches!(err, Error::InvalidCursor { cursor: 3, .. }), "{err}");
        assert!(matches!(h.page(1 << 40, 1), Err(Error::InvalidCursor { .. })));
        let r = History::open_read_only_shared(dir.clone(), "pg.jsonl").expect("reader");
        assert_eq!(r.page(0, 100).expect("page").records.len(), 25);
    }
}

#[test]
fn compare_and_append_is_idempotent_for_a_retry() {
    use iteration_history::AppendOutcome;
    let h = History::open(MemDir::new(), "idem.jsonl", Options::default()).expect("open");
    assert_eq!(h.save_if_last(None, &[rec(1)]).expect("first"), AppendOutcome::Appended);
    assert_eq!(h.save_if_last(Some(1), &[rec(2), rec(3)]).expect("next"), AppendOutcome::Appended);
    // The first attempt's outcome was unknown to the caller; it retries.
    assert_eq!(h.save_if_last(Some(1), &[rec(2), rec(3)]).expect("retry"), AppendOutcome::AlreadyPresent);
    let mut other = rec(3);
    other.strategy_code.push_str("# different");
    assert!(matches!(h.save_if_last(Some(2), &[other]), Err(Error::Conflict { .. })));
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2, 3]);
}

#[test]
fn the_file_store_serves_the_backend_neutral_contract() {
    use iteration_history::Store;
    let h = History::open(MemDir::new(), "s.jsonl", Options::default()).expect("open");
    let store: &dyn Store = &h;
    store.append(&[rec(1), rec(2)]).expect("append");
    store.append_if(Some(2), &[rec(3)]).expect("append_if");
    assert_eq!(store.count().expect("count"), 3);
    assert_eq!(store.last_iteration_num().expect("last"), Some(3));
    assert_eq!(nums(&store.load_recent(2).expect("recent")), vec![2, 3]);
    assert_eq!(store.page(0, 2).expect("page").records.len(), 2);
    let mut out = Vec::new();
    assert!(store.export_jsonl(&mut out).expect("export") > 0);
    store.clear().expect("clear");
    assert_eq!(store.count().expect("count"), 0);
    assert!(store.describe().ends_with("s.jsonl"));
}

/// `ImportMode::Append` after a history whose last line has no `\n` (written
/// by another tool): the input starts on a line of its own, and the counts
/// are the file's.
#[test]
fn an_append_import_after_a_last_line_without_its_newline() {
    use iteration_history::ImportMode;
    use iteration_history::storage::CapStdDir;
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = "{\"iteration_num\": 0, \"strategy_code\": \"x\", \"execution_result\": {}, \"metrics\": {}, \"classification_level\": \"L\", \"timestamp\": \"t\", \"champion_updated\": false}";
    std::fs::write(tmp.path().join("h.jsonl"), first).expect("write");
    let h =
        History::open(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl", Options::default()).expect("open");
    let input = first.replace("\"iteration_num\": 0", "\"iteration_num\": 1") + "\n";
    let report = h.import_jsonl(&mut input.as_bytes(), ImportMode::Append, &mut |_| {}).expect("append");
    let bytes = std::fs::read(tmp.path().join("h.jsonl")).expect("read");
    assert_eq!(bytes, format!("{first}\n{input}").into_bytes());
    assert_eq!((report.records, report.bytes), (1, bytes.len() as u64));
    assert_eq!((h.count().expect("count"), h.last_iteration_num().expect("last")), (2, Some(1)));
    h.save(&rec(2)).expect("save after");
    drop(h);
    let h = History::open(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl", Options::default())
        .expect("reopen");
    assert_eq!(nums(&h.get_all().expect("all")), vec![0, 1, 2]);
    assert_eq!(h.verify().expect("verify").health, Health::Healthy);
}
