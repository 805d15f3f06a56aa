//! Every export of `iteration-history:history/store`, through the built
//! component in wasmtime, including each error case a caller branches on.

use std::fs;

use iteration_history::codec;
use iteration_history_host_tests::records::{Comparable, is_float, sample};
use iteration_history_host_tests::wit::{self, Error as E, MetricValue};
use iteration_history_host_tests::{Host, Session};

fn session(dir: &std::path::Path) -> Session {
    Host::shared().instantiate(Some(dir)).expect("instantiate")
}

fn nums(rs: &[wit::IterationRecord]) -> Vec<u64> {
    rs.iter().map(|r| r.iteration_num).collect()
}

fn message(e: &E) -> String {
    format!("{e:?}")
}

#[test]
fn default_options_are_the_documented_defaults() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let o = s.default_options();
    assert!(matches!(o.strategy, wit::CommitStrategy::Append));
    assert!(matches!(o.durability, wit::Durability::Full));
    assert_eq!((o.lock_timeout_ms, o.repair_on_open, o.lease_ms, o.host_lock), (None, false, None, false));
}

#[test]
fn save_load_count_last_and_pages_round_trip_typed_records() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let h = s.open("history.jsonl").expect("open");
    let report = s.open_report(h);
    assert!(report.created && report.writable, "{report:?}");
    assert!(matches!(report.lock, wit::LockKind::Lease), "a guest has no OS locks: {report:?}");
    assert!(report.dir_sync, "wasmtime syncs directories: {report:?}");
    assert_eq!(report.file, "history.jsonl");
    assert!(tmp.path().join("history.jsonl").exists() && tmp.path().join("history.jsonl.lease").exists());

    assert_eq!(s.count(h), Ok(0));
    assert_eq!(s.last_iteration_num(h), Ok(None));
    assert_eq!(s.load_recent(h, 5), Ok(vec![]));
    for n in 0..10 {
        s.save(h, &sample(n)).expect("save");
    }
    s.save_batch(h, &[sample(10), sample(11), sample(12)]).expect("batch");
    s.save_batch(h, &[]).expect("an empty batch is a no-op");
    assert_eq!(s.count(h), Ok(13));
    assert_eq!(s.last_iteration_num(h), Ok(Some(12)));

    let recent = s.load_recent(h, 4).expect("recent");
    assert_eq!(nums(&recent), vec![9, 10, 11, 12]);
    let all = s.all_pages(h, 5).expect("pages");
    assert_eq!(nums(&all), (0..13).collect::<Vec<_>>());
    let got: Vec<Comparable> = all.iter().map(Comparable::from).collect();
    let want: Vec<Comparable> = (0..13).map(|n| Comparable::from(&sample(n))).collect();
    assert_eq!(got, want, "every field crosses the boundary both ways unchanged");
    // Non-finite and integer metrics keep their kind.
    let r5 = &all[5];
    assert!(is_float(&r5.metrics[0].value, f64::NAN) && is_float(&r5.metrics[2].value, f64::NEG_INFINITY));
    assert!(matches!(all[3].metrics[3].value, MetricValue::Integer(11)), "{:?}", all[3].metrics[3]);
    assert!(matches!(&all[3].metrics[4].value, MetricValue::Json(t) if t.contains("NaN")), "{:?}", all[3].metrics[4]);
    assert_eq!(all[4].extra, r#"{"seed":4,"tags":["a","b"]}"#);
    assert_eq!(all[1].extra, "{}");

    // Paging: limit, cursors, the end.
    let p1 = s.get_all(h, 0, 5).expect("page 1");
    assert_eq!((nums(&p1.records), p1.next_cursor.is_some()), ((0..5).collect(), true));
    let p2 = s.get_all(h, p1.next_cursor.expect("cursor 2"), 5).expect("page 2");
    assert_eq!(nums(&p2.records), (5..10).collect::<Vec<_>>());
    let p3 = s.get_all(h, p2.next_cursor.expect("cursor 3"), 5).expect("page 3");
    assert_eq!((nums(&p3.records), p3.next_cursor), (vec![10, 11, 12], None));
    assert_eq!(s.get_all(h, 0, 0).expect("limit 0").records.len(), 0);
}

#[test]
fn json_lines_in_and_out() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let h = s.open("h.jsonl").expect("open");
    // What the original Python module's json.dumps wrote, NaN and all.
    let python = r#"{"iteration_num": 0, "strategy_code": "def s(d):\n    return d\n", "execution_result": {"success": true, "execution_time": 1.25}, "metrics": {"sharpe_ratio": NaN, "total_return": 0.12, "trades": 3}, "classification_level": "LEVEL_1", "timestamp": "2025-01-01T09:00:00.123456", "champion_updated": false}"#;
    s.save_json(h, python).expect("save-json");
    let lines: Vec<String> = (1..4)
        .map(|n| {
            String::from_utf8(
                codec::encode_line(&iteration_history_host_tests::records::to_core(&sample(n))).expect("enc"),
            )
            .expect("utf8")
        })
        .collect();
    s.save_batch_json(h, &lines).expect("save-batch-json");
    assert_eq!(s.count(h), Ok(4));

    let out = s.load_recent_json(h, 2).expect("load-recent-json");
    assert_eq!(out.len(), 2);
    for (line, n) in out.iter().zip([2u64, 3]) {
        assert!(!line.ends_with('\n') && line.ends_with("\"}") && line.contains("\"_ih\":\""), "{line}");
        let (rec, _) = codec::decode_line(line.as_bytes()).expect("a valid, checksummed line");
        assert_eq!(Comparable(rec), Comparable::from(&sample(n)));
    }
    let page = s.get_all_json(h, 0, 10).expect("get-all-json");
    assert_eq!((page.lines.len(), page.next_cursor), (4, None));
    // Strict JSON: NaN is null plus the `_nonfinite` index.
    assert!(
        page.lines[0].contains(r#""sharpe_ratio":null"#)
            && page.lines[0].contains(r#""_nonfinite":{"/metrics/sharpe_ratio":"NaN"}"#),
        "{}",
        page.lines[0]
    );
    let typed = s.load_recent(h, 4).expect("typed")[0].clone();
    assert!(is_float(&typed.metrics[0].value, f64::NAN));
    assert!(matches!(typed.metrics[2].value, MetricValue::Integer(3)));
    // A line handed out can be saved again as it is.
    s.save_json(h, &page.lines[1]).expect("round trip");
    assert_eq!(s.count(h), Ok(5));
}

#[test]
fn text_pages_hold_the_checked_records_in_each_dialect_and_fail_on_damage() {
    use wit::TextDialect::{Javascript, Python};
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let h = s.open("h.jsonl").expect("open");
    let python = r#"{"iteration_num": 0, "strategy_code": "caf\u00e9", "execution_result": {}, "metrics": {"sharpe_ratio": NaN, "big": 9007199254740993}, "classification_level": "L", "timestamp": "t", "champion_updated": false, "seed": 7}"#;
    s.save_json(h, python).expect("save-json");
    s.save_json(h, &python.replace("\"iteration_num\": 0", "\"iteration_num\": 1")).expect("save-json");

    let page = s.get_all_text(h, 0, 1, Python).expect("get-all-text");
    assert_eq!((page.count, page.fixups.as_str()), (1, "[]"));
    assert!(page.next_cursor.is_some());
    assert_eq!(
        page.text,
        r#"[{"iteration_num":0,"strategy_code":"caf\u00e9","execution_result":{},"metrics":{"sharpe_ratio":NaN,"big":9007199254740993},"classification_level":"L","timestamp":"t","champion_updated":false,"extra":{"seed":7}}]"#
    );
    let rest = s.get_all_text(h, page.next_cursor.expect("cursor"), 10, Javascript).expect("page 2");
    assert_eq!((rest.count, rest.next_cursor), (1, None));
    assert_eq!(
        rest.text,
        r#"[{"iteration_num":1,"strategy_code":"caf\u00e9","execution_result":{},"metrics":{"sharpe_ratio":null,"big":"9007199254740993"},"classification_level":"L","timestamp":"t","champion_updated":false,"seed":7}]"#
    );
    assert_eq!(rest.fixups, r#"[[0,"NaN","metrics","sharpe_ratio"],[0,"bigint","metrics","big"]]"#);
    let recent = s.load_recent_text(h, 1, Python).expect("load-recent-text");
    assert_eq!((recent.count, recent.next_cursor), (1, None));
    assert!(recent.text.starts_with(r#"[{"iteration_num":1,"#), "{}", recent.text);
    let names = ["iteration_num", "metrics.sharpe_ratio", "seed"].map(String::from);
    let cols = s.columns(h, &names, Javascript).expect("columns");
    assert_eq!((cols.count, cols.text.as_str()), (3, r#"[[0,1],[null,null],[7,7]]"#));
    assert_eq!(cols.fixups, r#"[[1,"NaN",0],[1,"NaN",1]]"#);
    s.close(h);

    // Damage: a changed byte in the first line fails every text read with
    // `corrupt` naming line 1, offset 0.
    let path = tmp.path().join("h.jsonl");
    let text = fs::read_to_string(&path).expect("read");
    fs::write(&path, text.replacen("\"L\"", "\"M\"", 1)).expect("write");
    let r = s.open_read_only("h.jsonl").expect("reader");
    for e in [
        s.get_all_text(r, 0, 10, Python).map(|_| ()),
        s.load_recent_text(r, 5, Javascript).map(|_| ()),
        s.columns(r, &names, Python).map(|_| ()),
    ] {
        assert!(matches!(e, Err(E::Corrupt(ref c)) if c.line == 1 && c.offset == 0), "{e:?}");
    }
}

#[test]
fn invalid_records_name_the_field_and_the_batch_position_and_write_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let h = s.open("h.jsonl").expect("open");
    s.save(h, &sample(0)).expect("save");
    let before = fs::read(tmp.path().join("h.jsonl")).expect("read");

    let field = |e: E| match e {
        E::InvalidRecord(f) => (f.field, f.index, f.reason, f.message),
        other => panic!("expected invalid-record, got {other:?}"),
    };
    let mut r = sample(1);
    r.timestamp.clear();
    let (f, i, _, msg) = field(s.save(h, &r).expect_err("empty timestamp"));
    assert_eq!((f.as_str(), i), ("timestamp", None));
    assert!(msg.contains("timestamp") && msg.contains("nothing was written"), "{msg}");

    let mut r = sample(1);
    r.execution_result = "[1, 2]".into();
    let (f, _, reason, _) = field(s.save(h, &r).expect_err("not an object"));
    assert_eq!(f, "execution_result");
    assert!(reason.contains("object"), "{reason}");

    let mut r = sample(1);
    r.execution_result = "{\"success\": tru}".into();
    let (f, _, reason, _) = field(s.save(h, &r).expect_err("bad JSON"));
    assert!(f == "execution_result" && reason.contains("byte"), "{f}: {reason}");

    let mut r = sample(1);
    r.metrics.push(r.metrics[0].clone());
    let (f, _, reason, _) = field(s.save(h, &r).expect_err("duplicate metric"));
    assert!(f == "metrics.sharpe_ratio" && reason.contains("twice"), "{f}: {reason}");

    let mut r = sample(1);
    r.metrics[1].value = MetricValue::Json("{oops".into());
    assert_eq!(field(s.save(h, &r).expect_err("bad metric JSON")).0, "metrics.total_return");

    let mut r = sample(1);
    r.extra = r#"{"_ih":"x"}"#.into();
    assert_eq!(field(s.save(h, &r).expect_err("reserved")).0, "_ih");
    let mut r = sample(1);
    r.iteration_num = 1 << 53;
    assert_eq!(field(s.save(h, &r).expect_err("too big")).0, "iteration_num");

    let mut bad = sample(3);
    bad.classification_level = " ".into();
    let (f, i, _, _) = field(s.save_batch(h, &[sample(1), sample(2), bad.clone()]).expect_err("batch"));
    assert_eq!((f.as_str(), i), ("classification_level", Some(2)));
    assert!(matches!(s.save_if_last(h, Some(0), &[bad]), Err(E::InvalidRecord(_))));

    let (f, _, reason, _) = field(s.save_json(h, "{\"iteration_num\": 1,").expect_err("truncated JSON"));
    assert!(f.is_empty() && reason.contains("JSON"), "{f}: {reason}");
    let (f, _, _, _) = field(s.save_json(h, r#"{"iteration_num": "one"}"#).expect_err("mistyped"));
    assert_eq!(f, "iteration_num");
    let good = String::from_utf8(
        codec::encode_line(&iteration_history_host_tests::records::to_core(&sample(1))).expect("enc"),
    )
    .expect("utf8");
    let (_, i, _, _) = field(s.save_batch_json(h, &[good.clone(), "[]".into()]).expect_err("batch json"));
    assert_eq!(i, Some(1));

    assert_eq!(fs::read(tmp.path().join("h.jsonl")).expect("read"), before, "nothing was written");
    assert_eq!(s.count(h), Ok(1));
}

#[test]
fn save_if_last_is_compare_and_append_and_reports_the_actual_last() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let h = s.open("h.jsonl").expect("open");
    assert_eq!(s.save_if_last(h, None, &[sample(0)]), Ok(wit::AppendOutcome::Appended), "empty: expected none");
    assert_eq!(s.save_if_last(h, Some(0), &[sample(1), sample(2)]), Ok(wit::AppendOutcome::Appended));
    // A retry of the same call (its outcome was unknown) writes nothing.
    assert_eq!(s.save_if_last(h, Some(0), &[sample(1), sample(2)]), Ok(wit::AppendOutcome::AlreadyPresent));
    match s.save_if_last(h, Some(1), &[sample(5)]) {
        Err(E::Conflict(c)) => {
            assert_eq!(c.actual, Some(2));
            assert!(c.message.contains("conflict") && c.message.contains("h.jsonl"), "{}", c.message);
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    assert!(matches!(s.save_if_last(h, None, &[sample(3)]), Err(E::Conflict(c)) if c.actual == Some(2)));
    assert_eq!(s.count(h), Ok(3));
}

#[test]
fn clear_verify_compact_export_repair() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let h = s.open("h.jsonl").expect("open");
    for n in 0..6 {
        s.save(h, &sample(n)).expect("save");
    }
    let v = s.verify(h).expect("verify");
    assert!(matches!(v.health, wit::Health::Healthy), "{v:?}");
    assert_eq!((v.records, v.unchecksummed, v.last_iteration_num, v.bad_lines_total), (6, 0, Some(5), 0));
    assert_eq!(v.bytes, fs::metadata(tmp.path().join("h.jsonl")).expect("len").len());
    assert!(v.dir_sync && v.temp_files.is_empty() && v.torn_tail.is_none());

    let bytes = s.export(h, "backup.jsonl").expect("export");
    let original = fs::read(tmp.path().join("h.jsonl")).expect("read");
    assert_eq!(bytes, original.len() as u64);
    assert_eq!(fs::read(tmp.path().join("backup.jsonl")).expect("read backup"), original, "byte for byte");
    assert!(matches!(s.export(h, "../escape.jsonl"), Err(E::InvalidName(_))));

    let one_call = s.verify_file("h.jsonl").expect("verify-file");
    assert_eq!((one_call.records, one_call.bytes), (6, v.bytes));
    assert!(matches!(s.verify_file("missing.jsonl").expect("missing").health, wit::Health::Healthy));
    assert!(!tmp.path().join("missing.jsonl").exists(), "verify-file changes nothing");
    assert!(matches!(s.verify_file("../h.jsonl"), Err(E::InvalidName(_))));
    let repaired = s.repair(h).expect("repair of a healthy history");
    assert_eq!((repaired.kept, repaired.moved_lines, repaired.sidecar), (6, 0, None));

    // compact: canonical lines (the Python-written one gets a checksum).
    s.save_json(h, r#"{"iteration_num": 6, "strategy_code": "x", "execution_result": {}, "metrics": {}, "classification_level": "L", "timestamp": "t", "champion_updated": false}"#).expect("json");
    assert_eq!(s.compact(h), Ok(7));
    assert_eq!(s.verify(h).expect("verify").unchecksummed, 0);

    s.clear(h).expect("clear");
    assert_eq!((s.count(h), s.last_iteration_num(h)), (Ok(0), Ok(None)));
    assert_eq!(fs::metadata(tmp.path().join("h.jsonl")).expect("len").len(), 0);
    assert!(matches!(s.get_all(h, 100, 1), Err(E::InvalidCursor(m)) if m.contains("start again from 0")));
    s.save(h, &sample(0)).expect("save after clear");
    assert_eq!(s.count(h), Ok(1));
    let names: Vec<String> = fs::read_dir(tmp.path())
        .expect("ls")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "no temp file left: {names:?}");
}

#[test]
fn torn_tail_is_moved_aside_and_reported_and_corruption_is_located_then_repaired() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("h.jsonl");
    {
        let mut s = session(tmp.path());
        let h = s.open("h.jsonl").expect("open");
        for n in 0..4 {
            s.save(h, &sample(n)).expect("save");
        }
        s.close(h);
    }
    let good = fs::read(&path).expect("read");
    // A crash in the middle of a write: half a line at the end.
    let mut torn = good.clone();
    torn.extend_from_slice(b"{\"iteration_num\":4,\"strategy_co");
    fs::write(&path, &torn).expect("write");
    let mut s = session(tmp.path());
    let r = s.open_read_only("h.jsonl").expect("reader");
    assert_eq!(s.count(r), Ok(4), "readers ignore a torn tail");
    let v = s.verify(r).expect("verify");
    assert!(matches!(v.health, wit::Health::TornTail) && v.torn_tail.as_ref().is_some_and(|t| t.line == 5), "{v:?}");
    let h = s.open("h.jsonl").expect("open recovers");
    let report = s.open_report(h);
    let t = report.torn_tail.expect("torn tail reported");
    assert_eq!((t.offset, t.line, t.bytes), (good.len() as u64, 5, 31));
    assert_eq!(fs::read(tmp.path().join(&t.sidecar)).expect("sidecar"), b"{\"iteration_num\":4,\"strategy_co");
    assert_eq!(fs::read(&path).expect("read"), good, "cut back to the last commit");
    s.close(h);
    s.close(r);

    // Damage in the middle: line 2 of 4.
    let second = good.iter().position(|b| *b == b'\n').expect("nl") + 1;
    let mut bad = good.clone();
    bad[second + 20] ^= 0x01;
    fs::write(&path, &bad).expect("write");
    let mut s = session(tmp.path());
    match s.open("h.jsonl") {
        Err(E::Corrupt(c)) => {
            assert_eq!((c.line, c.offset), (2, second as u64));
            assert!(c.message.contains("h.jsonl") && c.message.contains("repair"), "{}", c.message);
        }
        other => panic!("expected corrupt, got {other:?}"),
    }
    let r = s.open_read_only("h.jsonl").expect("reader");
    assert!(matches!(s.count(r), Err(E::Corrupt(c)) if c.line == 2));
    assert!(matches!(s.get_all(r, 0, 10), Err(E::Corrupt(c)) if c.line == 2 && c.offset == second as u64));
    let v = s.verify(r).expect("verify reports, never fails on content");
    assert!(
        matches!(v.health, wit::Health::Corrupt) && v.corrupt_lines.len() == 1 && v.corrupt_lines[0].line == 2,
        "{v:?}"
    );
    assert!(matches!(s.repair(r), Err(E::ReadOnly(_))));

    let mut opts = s.default_options();
    opts.repair_on_open = true;
    let h = s.open_with("h.jsonl", &opts).expect("repair on open");
    let rep = s.open_report(h).repaired.expect("repaired");
    assert_eq!((rep.kept, rep.moved_lines), (3, 1));
    assert_eq!(rep.moved[0].line, 2);
    let sidecar = rep.sidecar.expect("sidecar");
    assert_eq!(
        fs::read(tmp.path().join(sidecar)).expect("sidecar"),
        &bad[second..second + (good[second..].iter().position(|b| *b == b'\n').expect("nl") + 1)]
    );
    assert_eq!(nums(&s.all_pages(h, 10).expect("all")), vec![0, 2, 3]);
}

#[test]
fn repair_moves_bad_lines_of_an_open_writer() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let h = s.open("h.jsonl").expect("open");
    for n in 0..3 {
        s.save(h, &sample(n)).expect("save");
    }
    let path = tmp.path().join("h.jsonl");
    let mut bytes = fs::read(&path).expect("read");
    bytes[10] = b'#';
    fs::write(&path, &bytes).expect("write");
    let rep = s.repair(h).expect("repair");
    assert_eq!((rep.kept, rep.moved_lines), (2, 1));
    assert!(rep.sidecar.is_some_and(|n| n.starts_with("h.jsonl.bad.")));
    assert_eq!(s.count(h), Ok(2));
    assert!(matches!(s.verify(h).expect("verify").health, wit::Health::Healthy));
}

#[test]
fn one_writer_at_a_time_readers_any_time_and_the_lease_is_released_on_close() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut a = session(tmp.path());
    let mut b = session(tmp.path());
    let h = a.open("h.jsonl").expect("writer a");
    a.save(h, &sample(0)).expect("save");
    match b.open("h.jsonl") {
        Err(E::Locked(m)) => assert!(m.contains("h.jsonl") && m.contains("read-only"), "{m}"),
        other => panic!("expected locked, got {other:?}"),
    }
    assert!(matches!(a.open("h.jsonl"), Err(E::Locked(_))), "also within one instance");
    let mut opts = b.default_options();
    opts.lock_timeout_ms = Some(60);
    let t0 = std::time::Instant::now();
    assert!(matches!(b.open_with("h.jsonl", &opts), Err(E::Locked(_))));
    assert!(t0.elapsed() >= std::time::Duration::from_millis(60), "waited for the timeout");

    let r = b.open_read_only("h.jsonl").expect("reader");
    assert_eq!(b.count(r), Ok(1));
    let report = b.open_report(r);
    assert!(!report.writable && matches!(report.lock, wit::LockKind::None));
    assert!(matches!(b.save(r, &sample(1)), Err(E::ReadOnly(m)) if m.contains("read-only")));
    assert!(matches!(b.clear(r), Err(E::ReadOnly(_))));
    a.save(h, &sample(1)).expect("save");
    assert_eq!(b.last_iteration_num(r), Ok(Some(1)), "a reader sees committed records");

    a.close(h);
    assert!(!tmp.path().join("h.jsonl.lease").exists(), "the lease is removed on close");
    let h2 = b.open("h.jsonl").expect("b writes after a closed");
    b.save(h2, &sample(2)).expect("save");
    assert_eq!(b.count(h2), Ok(3));
}

#[test]
fn an_expired_lease_is_taken_over_and_the_old_writer_commits_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut a = session(tmp.path());
    let mut b = session(tmp.path());
    let mut short = a.default_options();
    short.lease_ms = Some(50);
    let h = a.open_with("h.jsonl", &short).expect("writer a");
    a.save(h, &sample(0)).expect("save");
    std::thread::sleep(std::time::Duration::from_millis(120));
    let h2 = b.open("h.jsonl").expect("b takes over the expired lease");
    match a.save(h, &sample(1)) {
        Err(E::LeaseLost(m)) => assert!(m.contains("reopen"), "{m}"),
        other => panic!("expected lease-lost, got {other:?}"),
    }
    b.save(h2, &sample(1)).expect("b saves");
    assert_eq!(b.count(h2), Ok(2));
}

#[test]
fn with_host_lock_the_guest_takes_no_lease_and_native_writers_are_kept_out_by_the_hosts_lock() {
    let tmp = tempfile::tempdir().expect("tmp");
    // The host's side: the same OS lock native writers take on <name>.lock.
    let lock = fs::File::create(tmp.path().join("h.jsonl.lock")).expect("lock file");
    lock.try_lock().expect("host takes the OS lock");
    let mut a = session(tmp.path());
    let mut opts = a.default_options();
    opts.host_lock = true;
    let h = a.open_with("h.jsonl", &opts).expect("open with the host's lock");
    let report = a.open_report(h);
    assert!(matches!(report.lock, wit::LockKind::Host), "{report:?}");
    assert!(!tmp.path().join("h.jsonl.lease").exists(), "no lease file");
    a.save(h, &sample(0)).expect("save");
    let native = iteration_history::History::open(
        iteration_history::storage::CapStdDir::open_ambient(tmp.path()).expect("dir"),
        "h.jsonl",
        iteration_history::Options::default(),
    );
    assert!(matches!(native, Err(iteration_history::Error::Locked { .. })), "native writer kept out: {native:?}");
    a.close(h);
    drop(lock);
    // A leasing guest keeps a host-locked one out.
    let mut b = session(tmp.path());
    let leased = b.open("h.jsonl").expect("leasing writer");
    match a.open_with("h.jsonl", &opts) {
        Err(E::Locked(m)) => assert!(m.contains("lease"), "{m}"),
        other => panic!("expected locked, got {other:?}"),
    }
    b.close(leased);
    let h = a.open_with("h.jsonl", &opts).expect("reopens once the lease is gone");
    assert_eq!(a.count(h), Ok(1));
}

#[test]
fn rewrite_strategy_and_no_durability_write_the_same_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let mut rewrite = s.default_options();
    rewrite.strategy = wit::CommitStrategy::Rewrite;
    let mut fast = s.default_options();
    fast.durability = wit::Durability::None;
    let a = s.open_with("a.jsonl", &rewrite).expect("rewrite");
    let b = s.open_with("b.jsonl", &fast).expect("none");
    for n in 0..5 {
        s.save(a, &sample(n)).expect("save a");
        s.save(b, &sample(n)).expect("save b");
    }
    assert_eq!(fs::read(tmp.path().join("a.jsonl")).expect("a"), fs::read(tmp.path().join("b.jsonl")).expect("b"));
    assert_eq!(s.count(a), Ok(5));
}

#[test]
fn errors_carry_messages_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let e = s.open("../x.jsonl").expect_err("invalid name");
    assert!(matches!(&e, E::InvalidName(m) if m.contains("../x.jsonl") && m.contains("separator")), "{}", message(&e));
}
