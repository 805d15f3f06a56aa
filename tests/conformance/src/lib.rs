//! The conformance suite of the [`Store`] contract.
//!
//! Every check is written against `&dyn Store` and runs unchanged against
//! every store: the JSONL file store (in memory and on disk) in
//! `tests/file_store.rs`, PostgreSQL in `tests/postgres.rs`. A new store
//! (object storage, ...) passes when it passes these.
//!
//! Each check starts with [`Store::clear`], so a store can be reused from
//! one check to the next. [`run_all`] runs every single-store check;
//! [`concurrent_threads`] and [`concurrent_processes`] are the
//! many-writers checks (compare-and-append with retry on conflict, then
//! exactly N×M records, gap-free, none twice).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use iteration_history::import::ImportMode;
use iteration_history::storage::CapStdDir;
use iteration_history::{AppendOutcome, Error, Health, History, IterationRecord, Options, Store, Value};
use iteration_history_postgres::{PgStore, is_postgres_url};

/// A realistic record: NaN and infinite metrics, non-ASCII text, an extra
/// field. `writer` and `k` (which writer saved it, its k-th save) go into
/// extra fields so the many-writers checks can find duplicates.
pub fn record(n: u64, writer: u32, k: u32) -> IterationRecord {
    let mut r = IterationRecord::new(n, format!("def strategy_{n}(data):\n    # café → {writer}/{k}\n    return 1\n"));
    r.execution_result.insert("success".into(), Value::Bool(!n.is_multiple_of(5)));
    r.execution_result.insert("execution_time".into(), Value::from(0.25 + n as f64 / 64.0));
    r.set_metric("sharpe_ratio", if n.is_multiple_of(7) { f64::NAN } else { (n as f64 * 0.37).sin() * 2.0 });
    r.set_metric("total_return", if n.is_multiple_of(11) { f64::INFINITY } else { n as f64 / 1000.0 });
    r.set_metric("max_drawdown", -0.125);
    r.classification_level = format!("LEVEL_{}", n % 4);
    r.timestamp = format!("2025-03-01T{:02}:{:02}:{:02}", (n / 3600) % 24, (n / 60) % 60, n % 60);
    r.champion_updated = n.is_multiple_of(9);
    r.extra.insert("writer".into(), Value::from(u64::from(writer)));
    r.extra.insert("k".into(), Value::from(u64::from(k)));
    r
}

fn records(range: std::ops::Range<u64>) -> Vec<IterationRecord> {
    range.map(|n| record(n, 0, n as u32)).collect()
}

fn nums(rs: &[IterationRecord]) -> Vec<u64> {
    rs.iter().map(|r| r.iteration_num).collect()
}

fn export(s: &dyn Store) -> Vec<u8> {
    let mut out = Vec::new();
    let n = s.export_jsonl(&mut out).expect("export");
    assert_eq!(n, out.len() as u64, "{}: export_jsonl must return the bytes it wrote", s.describe());
    out
}

fn all_records(s: &dyn Store) -> Vec<IterationRecord> {
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        let page = s.page(cursor, 100).expect("page");
        out.extend(page.records);
        match page.next_cursor {
            Some(c) => cursor = c,
            None => return out,
        }
    }
}

/// Every single-store check, in order.
pub fn run_all(s: &dyn Store) {
    empty_store(s);
    append_and_read(s);
    compare_and_append(s);
    idempotent_retry(s);
    paging(s);
    clear(s);
    export_is_the_saved_lines(s);
    import_keeps_every_byte(s);
    import_refuses_bad_input_and_changes_nothing(s);
    import_into_empty_refuses_a_history_with_records(s);
    append_next_numbers_records(s);
    verify_repair_compact(s);
}

/// An empty history reads as empty everywhere.
pub fn empty_store(s: &dyn Store) {
    s.clear().expect("clear");
    assert_eq!(s.count().expect("count"), 0);
    assert_eq!(s.last_iteration_num().expect("last"), None);
    assert!(s.load_recent(10).expect("recent").is_empty());
    let page = s.page(0, 10).expect("page");
    assert!(page.records.is_empty() && page.next_cursor.is_none());
    assert!(export(s).is_empty());
    assert!(!s.describe().is_empty());
}

/// Appended records read back equal (NaN, infinities, non-ASCII, extras).
pub fn append_and_read(s: &dyn Store) {
    s.clear().expect("clear");
    let first = records(0..3);
    s.append(&first).expect("append a batch");
    s.append(&records(3..4)).expect("append one");
    s.append(&[]).expect("an empty append is a no-op");
    assert_eq!(s.count().expect("count"), 4);
    assert_eq!(s.last_iteration_num().expect("last"), Some(3));
    let recent = s.load_recent(2).expect("recent");
    assert_eq!(recent, records(2..4), "load_recent returns the last records, oldest first");
    assert_eq!(s.load_recent(100).expect("all"), records(0..4));
    assert_eq!(s.load_recent(0).expect("none"), Vec::new());
    let back = &s.load_recent(4).expect("recent")[0];
    assert!(back.metric("sharpe_ratio").is_some_and(f64::is_nan), "NaN survives");
    assert!(back.strategy_code.contains("café →"));
    let mut bad = record(4, 0, 4);
    bad.timestamp.clear();
    let err = s.append(&[record(5, 0, 5), bad]).expect_err("invalid record");
    assert_eq!(err.code(), "invalid-record", "{err}");
    assert!(err.to_string().contains("timestamp"), "the error names the field: {err}");
    assert_eq!(s.count().expect("count"), 4, "an invalid batch writes nothing");
}

/// Compare-and-append: appended only if the last iteration is as expected.
pub fn compare_and_append(s: &dyn Store) {
    s.clear().expect("clear");
    assert_eq!(s.append_if(None, &records(0..1)).expect("first"), AppendOutcome::Appended);
    let err = s.append_if(None, &records(1..2)).expect_err("not empty any more");
    assert!(matches!(&err, Error::Conflict { actual, .. } if actual == "0"), "{err}");
    assert_eq!(err.code(), "conflict");
    assert_eq!(s.append_if(Some(0), &records(1..3)).expect("batch"), AppendOutcome::Appended);
    let err = s.append_if(Some(1), &records(3..4)).expect_err("stale expectation");
    assert!(matches!(&err, Error::Conflict { expected, actual, .. } if expected == "1" && actual == "2"), "{err}");
    assert!(err.to_string().contains(&s.describe()), "the conflict names the store: {err}");
    let err = s.append_if(Some(7), &records(8..9)).expect_err("ahead of the history");
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(s.append_if(Some(2), &[]).expect("empty batch checks only"), AppendOutcome::Appended);
    assert!(matches!(s.append_if(Some(1), &[]), Err(Error::Conflict { .. })));
    assert_eq!(nums(&s.load_recent(10).expect("recent")), vec![0, 1, 2]);
}

/// A retry after an unknown outcome never stores a record twice.
pub fn idempotent_retry(s: &dyn Store) {
    s.clear().expect("clear");
    s.append_if(None, &records(0..1)).expect("first");
    let batch = records(1..4);
    assert_eq!(s.append_if(Some(0), &batch).expect("commit"), AppendOutcome::Appended);
    // The caller never learnt the outcome (a timeout): it retries.
    assert_eq!(s.append_if(Some(0), &batch).expect("retry"), AppendOutcome::AlreadyPresent);
    assert_eq!(s.append_if(Some(0), &batch).expect("again"), AppendOutcome::AlreadyPresent);
    assert_eq!(s.count().expect("count"), 4);
    // Same iteration numbers, other content: a real conflict.
    let mut other = records(1..4);
    other[2].strategy_code.push_str("# another writer's iteration 3");
    assert!(matches!(s.append_if(Some(0), &other), Err(Error::Conflict { .. })));
    // Only the tail counts: records 1..3 are not "the last records".
    assert!(matches!(s.append_if(Some(0), &records(1..3)), Err(Error::Conflict { .. })));
    assert_eq!(s.load_recent(10).expect("recent"), records(0..4));
}

/// The paged scan returns every record once, in order, and refuses a
/// cursor it did not hand out.
pub fn paging(s: &dyn Store) {
    s.clear().expect("clear");
    for chunk in records(0..25).chunks(4) {
        s.append(chunk).expect("append");
    }
    for limit in [1, 7, 25, 100] {
        let mut cursor = 0;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = s.page(cursor, limit).expect("page");
            assert!(page.records.len() <= limit);
            assert!(page.next_cursor.is_none() || page.records.len() == limit, "only the last page is short");
            seen.extend(page.records);
            pages += 1;
            match page.next_cursor {
                Some(c) => cursor = c,
                None => break,
            }
        }
        assert_eq!(seen, records(0..25), "limit {limit}");
        assert_eq!(pages, 25usize.div_ceil(limit).max(1), "limit {limit}");
    }
    // A cursor stays valid while the history grows.
    let page = s.page(0, 10).expect("page");
    let next = page.next_cursor.expect("more");
    s.append(&records(25..26)).expect("grow");
    assert_eq!(nums(&s.page(next, 1).expect("page").records), vec![10]);
    let err = s.page(1 << 50, 10).expect_err("a cursor past the end");
    assert_eq!(err.code(), "invalid-cursor", "{err}");
}

/// `clear` removes every record; the history is usable afterwards.
pub fn clear(s: &dyn Store) {
    s.clear().expect("clear");
    s.append(&records(0..5)).expect("append");
    s.clear().expect("clear");
    assert_eq!(s.count().expect("count"), 0);
    assert_eq!(s.last_iteration_num().expect("last"), None);
    assert!(s.load_recent(5).expect("recent").is_empty());
    assert!(export(s).is_empty());
    s.append_if(None, &records(0..2)).expect("starts again from empty");
    assert_eq!(s.count().expect("count"), 2);
}

/// The export is JSONL that any JSON reader reads: one checksummed line per
/// record, in order; multi-record commits tagged.
pub fn export_is_the_saved_lines(s: &dyn Store) {
    s.clear().expect("clear");
    s.append(&records(0..1)).expect("one");
    s.append(&records(1..3)).expect("two");
    let bytes = export(s);
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.starts_with("{\"iteration_num\":") && l.contains("\"_ih\":\"")), "{text}");
    assert!(lines[1].contains("\"_ih\":\"1/2+0 ") && lines[2].contains("\"_ih\":\"2/2+"), "{text}");
    assert!(text.ends_with('\n'));
    // The same bytes come back from a file store holding them.
    let copy =
        History::open(iteration_history::storage::MemDir::new(), "copy.jsonl", Options::default()).expect("file store");
    copy.import_jsonl(&mut &bytes[..], ImportMode::IntoEmpty, &mut |_| {}).expect("import");
    assert_eq!(copy.get_all().expect("records"), records(0..3));
}

/// JSONL as another writer produced it: Python's `json.dumps` (bare NaN,
/// Infinity, `\uXXXX`), CRLF, a BOM, blank lines, a line without the
/// final newline.
pub const FOREIGN_JSONL: &[u8] = b"\xEF\xBB\xBF{\"iteration_num\": 0, \"strategy_code\": \"caf\\u00e9\", \"execution_result\": {\"success\": true}, \"metrics\": {\"sharpe_ratio\": NaN, \"total_return\": -Infinity}, \"classification_level\": \"LEVEL_1\", \"timestamp\": \"2025-01-01T00:00:00\", \"champion_updated\": false}\n\
\n\
{\"iteration_num\": 1, \"strategy_code\": \"x = 1\", \"execution_result\": {}, \"metrics\": {}, \"classification_level\": \"LEVEL_0\", \"timestamp\": \"2025-01-01T00:01:00\", \"champion_updated\": true, \"note\": \"nul \\u0000 inside\"}\r\n\
  \n\
{\"iteration_num\": 2, \"strategy_code\": \"y\", \"execution_result\": {}, \"metrics\": {\"s\": 1e-05}, \"classification_level\": \"LEVEL_2\", \"timestamp\": \"2025-01-01T00:02:00\", \"champion_updated\": false}\n\
\n";

/// An import keeps every byte: the export gives back exactly what was
/// imported, and later appends follow it.
pub fn import_keeps_every_byte(s: &dyn Store) {
    s.clear().expect("clear");
    s.append(&records(0..3)).expect("append");
    let ours = export(s);
    s.clear().expect("clear");
    let mut seen = Vec::new();
    let report = s.import_jsonl(&mut &ours[..], ImportMode::IntoEmpty, &mut |n| seen.push(n)).expect("import");
    assert_eq!((report.records, report.bytes), (3, ours.len() as u64));
    assert_eq!(seen.last(), Some(&3), "progress reaches the record count");
    assert_eq!(export(s), ours, "our own lines come back byte for byte");
    assert_eq!(s.load_recent(3).expect("recent"), records(0..3));

    let report = s.import_jsonl(&mut &FOREIGN_JSONL[..], ImportMode::Replace, &mut |_| {}).expect("replace");
    assert_eq!(report.records, 3);
    assert_eq!(report.last_iteration_num, Some(2));
    assert!(!report.added_final_newline);
    assert_eq!(export(s), FOREIGN_JSONL, "foreign bytes come back byte for byte");
    assert_eq!(s.count().expect("count"), 3);
    assert_eq!(s.last_iteration_num().expect("last"), Some(2));
    let all = all_records(s);
    assert_eq!(nums(&all), vec![0, 1, 2]);
    assert!(all[0].metric("sharpe_ratio").is_some_and(f64::is_nan));
    assert_eq!(all[0].metric("total_return"), Some(f64::NEG_INFINITY));
    assert_eq!(all[0].strategy_code, "café");
    assert_eq!(all[1].extra.get("note"), Some(&Value::String("nul \0 inside".into())));
    // Appends after an import follow its bytes (trailing blank lines stay).
    s.append_if(Some(2), &[record(3, 0, 3)]).expect("append after import");
    let after = export(s);
    assert!(after.starts_with(FOREIGN_JSONL), "the imported bytes are untouched");
    assert_eq!(nums(&all_records(s)), vec![0, 1, 2, 3]);
    assert_eq!(s.load_recent(1).expect("recent"), vec![record(3, 0, 3)]);

    // A last line without its newline gets one (then appends stay lines).
    let unterminated = &FOREIGN_JSONL[..FOREIGN_JSONL.len() - 2];
    let report = s.import_jsonl(&mut &unterminated[..], ImportMode::Replace, &mut |_| {}).expect("import");
    assert!(report.added_final_newline);
    let mut expected = unterminated.to_vec();
    expected.push(b'\n');
    assert_eq!(export(s), expected);
}

/// Damage anywhere in the input fails the whole import, naming the line;
/// the history is unchanged.
pub fn import_refuses_bad_input_and_changes_nothing(s: &dyn Store) {
    s.clear().expect("clear");
    s.append(&records(0..2)).expect("append");
    let before = export(s);
    let mut batch = Vec::new();
    let other = History::open(iteration_history::storage::MemDir::new(), "b.jsonl", Options::default()).expect("open");
    other.save_batch(&records(0..3)).expect("batch");
    other.export_to_writer(&mut batch).expect("export");
    let lines: Vec<&[u8]> = batch.split_inclusive(|b| *b == b'\n').collect();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        ([lines[0], b"{\"iteration_num\": 1, oops}\n", lines[1]].concat(), "line 2"),
        ([lines[0], &lines[1][..40]].concat(), "line 2"), // a torn last line
        (lines[0].iter().map(|b| if *b == b'c' { b'C' } else { *b }).collect(), "line 1"), // checksum
    ];
    for (input, at) in cases {
        let err = s.import_jsonl(&mut &input[..], ImportMode::Replace, &mut |_| {}).expect_err("bad input");
        assert_eq!(err.code(), "invalid-record", "{err}");
        assert!(err.to_string().contains(at), "names {at}: {err}");
        assert_eq!(export(s), before, "a failed import changes nothing");
        assert_eq!(s.count().expect("count"), 2);
    }
    // A commit of 3 cut after 2 lines (`head`) is not bad input: an input has
    // no writer's in-flight record, so those lines are read as the records
    // they are, and the store verifies healthy with them.
    let cut = [lines[0], lines[1]].concat();
    let r = s.import_jsonl(&mut &cut[..], ImportMode::Replace, &mut |_| {}).expect("a commit cut by a tool imports");
    assert_eq!(r.records, 2);
    assert_eq!(s.count().expect("count"), 2);
    let v = s.verify().expect("verify");
    assert_eq!(v.health, Health::Healthy, "{v:?}");
    assert_eq!(v.cut.as_ref().map(|c| c.records), Some(2), "{v:?}");
}

/// [`ImportMode::IntoEmpty`] refuses a history that has records.
pub fn import_into_empty_refuses_a_history_with_records(s: &dyn Store) {
    s.clear().expect("clear");
    s.append(&records(0..2)).expect("append");
    let before = export(s);
    let err = s.import_jsonl(&mut &FOREIGN_JSONL[..], ImportMode::IntoEmpty, &mut |_| {}).expect_err("not empty");
    assert!(matches!(&err, Error::Conflict { actual, .. } if actual == "1"), "{err}");
    assert_eq!(export(s), before);
}

/// `append_next`: the store numbers the records (last + 1, ...), whatever
/// numbers they carry; it mixes with compare-and-append and follows an
/// import.
pub fn append_next_numbers_records(s: &dyn Store) {
    s.clear().expect("clear");
    assert_eq!(s.append_next(&[record(41, 0, 0)]).expect("into empty"), 0..1, "an empty history starts at 0");
    assert_eq!(s.append_next(&[]).expect("nothing"), 1..1, "no records: the next number, nothing written");
    let batch = [record(7, 0, 1), record(7, 0, 2), record(3, 0, 3)];
    assert_eq!(s.append_next(&batch).expect("batch"), 1..4);
    assert_eq!(s.append_if(Some(3), &records(4..5)).expect("compare-and-append after"), AppendOutcome::Appended);
    assert_eq!(s.append_next(&[record(0, 0, 5)]).expect("after append_if"), 5..6);
    let expected: Vec<IterationRecord> = [(0, 0), (1, 1), (2, 2), (3, 3)]
        .iter()
        .map(|&(n, k)| numbered(record([41, 7, 7, 3][k], 0, k as u32), n))
        .chain(records(4..5))
        .chain([numbered(record(0, 0, 5), 5)])
        .collect();
    assert_eq!(s.load_recent(10).expect("recent"), expected, "stored as given, renumbered");
    assert_eq!(s.last_iteration_num().expect("last"), Some(5));
    assert_eq!(s.count().expect("count"), 6);
    let text = String::from_utf8(export(s)).expect("UTF-8");
    assert_eq!(text.lines().count(), 6);
    assert!(text.lines().nth(2).is_some_and(|l| l.contains("\"_ih\":\"2/3+")), "one tagged commit: {text}");
    // An invalid record: nothing written, nothing numbered.
    let mut bad = record(0, 0, 6);
    bad.timestamp.clear();
    let err = s.append_next(&[record(0, 0, 6), bad]).expect_err("invalid");
    assert_eq!(err.code(), "invalid-record", "{err}");
    assert_eq!(s.append_next(&[record(0, 0, 6)]).expect("next"), 6..7, "no number was used up");
    // After an import, numbering follows the imported records.
    s.import_jsonl(&mut &FOREIGN_JSONL[..], ImportMode::Replace, &mut |_| {}).expect("import");
    assert_eq!(s.append_next(&[record(0, 0, 7)]).expect("after import"), 3..4);
    let after = export(s);
    assert!(after.starts_with(FOREIGN_JSONL), "the imported bytes are untouched");
    assert_eq!(nums(&all_records(s)), vec![0, 1, 2, 3]);
}

/// `verify`, `repair` and `compact` through the contract: a history
/// imported from another writer (no checksums, blank lines, BOM, CRLF) is
/// healthy with unchecksummed records, needs no repair, and compacts into
/// the canonical lines (the records unchanged); compacting again changes
/// nothing; saving goes on afterwards.
pub fn verify_repair_compact(s: &dyn Store) {
    use iteration_history::Health;
    s.clear().expect("clear");
    let empty = s.verify().expect("verify an empty history");
    assert_eq!((empty.health, empty.records, empty.last_iteration_num), (Health::Healthy, 0, None));
    s.import_jsonl(&mut &FOREIGN_JSONL[..], ImportMode::IntoEmpty, &mut |_| {}).expect("import");
    let before = all_records(s);
    let v = s.verify().expect("verify");
    assert_eq!(v.health, Health::Healthy, "{v:?}");
    assert_eq!((v.records, v.unchecksummed, v.last_iteration_num), (3, 3, Some(2)), "{v:?}");
    assert_eq!(v.bytes, FOREIGN_JSONL.len() as u64);
    assert!(v.corrupt_lines.is_empty() && v.torn_tail.is_none() && v.problems.is_empty(), "{v:?}");
    assert!(!v.file.is_empty());
    let r = s.repair().expect("repair a healthy history");
    assert_eq!((r.kept, r.moved_lines), (3, 0), "nothing to repair");
    assert_eq!(export(s), FOREIGN_JSONL, "repair left a healthy history as it was");
    let c = s.compact().expect("compact");
    let canonical: Vec<u8> =
        before.iter().flat_map(|r| iteration_history::codec::encode_line(r).expect("encode")).collect();
    assert_eq!((c.records, c.bytes_before, c.bytes_after), (3, FOREIGN_JSONL.len() as u64, canonical.len() as u64));
    assert_eq!(export(s), canonical, "every line in canonical form");
    assert_eq!(all_records(s), before, "the records did not change");
    let v = s.verify().expect("verify");
    assert_eq!((v.health, v.records, v.unchecksummed), (Health::Healthy, 3, 0));
    let again = s.compact().expect("compact again");
    assert_eq!((again.records, again.bytes_before, again.bytes_after), (3, c.bytes_after, c.bytes_after));
    if let Some(n) = again.rewritten {
        assert_eq!(n, 0, "nothing to rewrite in a compact history");
    }
    assert_eq!(s.append_next(&[record(0, 0, 9)]).expect("save after compacting"), 3..4);
    assert_eq!(s.verify().expect("verify").records, 4);
}

/// `r` with `iteration_num` `n`.
pub fn numbered(mut r: IterationRecord, n: u64) -> IterationRecord {
    r.iteration_num = n;
    r
}

/// The record writer `writer` gives [`Store::append_next`] for its k-th
/// save (the store numbers it).
pub fn next_record(writer: u32, k: u32) -> IterationRecord {
    record(0, writer, k)
}

/// A history written by the original Python module (`samples/history.jsonl`)
/// goes in and comes out byte for byte.
pub fn sample_round_trip(s: &dyn Store, sample: &[u8]) {
    s.clear().expect("clear");
    let report = s.import_jsonl(&mut &sample[..], ImportMode::IntoEmpty, &mut |_| {}).expect("import the sample");
    assert_eq!(report.bytes, sample.len() as u64);
    assert_eq!(export(s), sample);
    assert_eq!(s.count().expect("count"), report.records);
}

/// What one compare-and-append writer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records it appended.
    pub saved: u32,
    /// Conflicts it retried after.
    pub conflicts: u64,
}

/// How a many-writers check appends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read the last iteration, compare-and-append the next, retry on a
    /// conflict ([`Store::append_if`]).
    CompareAndAppend,
    /// Let the store number the record ([`Store::append_next`]).
    Next,
}

/// A writer that lets the store number its records: `saves` calls of
/// [`Store::append_next`]; a conflict would be a bug.
///
/// # Errors
/// Any error.
pub fn next_writer(store: &dyn Store, writer: u32, saves: u32) -> Result<WriterStats, Error> {
    let mut stats = WriterStats::default();
    while stats.saved < saves {
        let got = store.append_next(&[next_record(writer, stats.saved)])?;
        assert_eq!(got.end - got.start, 1, "one number for one record");
        stats.saved += 1;
    }
    Ok(stats)
}

/// A learning-loop writer: `saves` times, read the last iteration, compute
/// the next record, compare-and-append it; on a conflict, reload and retry.
/// `open` gives the store for each attempt (a file store is reopened per
/// attempt so that several processes take turns on its writer lock).
///
/// # Errors
/// Any error other than a conflict.
pub fn cas_writer(
    open: &mut dyn FnMut() -> Result<Box<dyn Store>, Error>,
    reopen_each_attempt: bool,
    writer: u32,
    saves: u32,
) -> Result<WriterStats, Error> {
    let mut stats = WriterStats::default();
    let mut store = open()?;
    while stats.saved < saves {
        if reopen_each_attempt && stats.saved + stats.conflicts as u32 > 0 {
            drop(store);
            store = open()?;
        }
        let last = store.last_iteration_num()?;
        let next = last.map_or(0, |n| n + 1);
        match store.append_if(last, &[record(next, writer, stats.saved)]) {
            Ok(_) => stats.saved += 1,
            Err(Error::Conflict { .. }) => stats.conflicts += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(stats)
}

/// Checks the result of `writers` × `saves` compare-and-append saves:
/// exactly that many records, iterations 0..N-1 in order (no gap, no
/// duplicate), each writer's k-th save present once.
pub fn check_exactly_once(s: &dyn Store, writers: u32, saves: u32) {
    check_exactly_once_as(s, writers, saves, Mode::CompareAndAppend);
}

/// [`check_exactly_once`] for records saved in `mode` (with
/// [`Mode::Next`], each writer's k-th record is [`next_record`], numbered
/// by the store).
pub fn check_exactly_once_as(s: &dyn Store, writers: u32, saves: u32, mode: Mode) {
    let total = u64::from(writers) * u64::from(saves);
    let all = all_records(s);
    assert_eq!(all.len() as u64, total, "{}: exactly {total} records", s.describe());
    assert_eq!(s.count().expect("count"), total);
    assert_eq!(nums(&all), (0..total).collect::<Vec<_>>(), "no gap, no duplicate, in order");
    assert_eq!(s.last_iteration_num().expect("last"), total.checked_sub(1));
    let mut seen = HashSet::new();
    for r in &all {
        let w = r.extra.get("writer").and_then(Value::as_u64).expect("writer field");
        let k = r.extra.get("k").and_then(Value::as_u64).expect("k field");
        assert!(w < u64::from(writers) && k < u64::from(saves), "writer {w} save {k}");
        assert!(seen.insert((w, k)), "writer {w}'s save {k} stored twice");
        let expected = match mode {
            Mode::CompareAndAppend => record(r.iteration_num, w as u32, k as u32),
            Mode::Next => numbered(next_record(w as u32, k as u32), r.iteration_num),
        };
        assert_eq!(r, &expected, "record {} read back equal", r.iteration_num);
    }
}

/// `threads` threads share one store and each make `saves`
/// compare-and-append saves.
pub fn concurrent_threads(s: &dyn Store, threads: u32, saves: u32) -> Vec<WriterStats> {
    s.clear().expect("clear");
    let stats: Vec<WriterStats> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                scope.spawn(move || {
                    let mut stats = WriterStats::default();
                    while stats.saved < saves {
                        let last = s.last_iteration_num().expect("last");
                        let next = last.map_or(0, |n| n + 1);
                        match s.append_if(last, &[record(next, w, stats.saved)]) {
                            Ok(_) => stats.saved += 1,
                            Err(Error::Conflict { .. }) => stats.conflicts += 1,
                            Err(e) => panic!("writer {w}: {e}"),
                        }
                    }
                    stats
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer thread")).collect()
    });
    check_exactly_once(s, threads, saves);
    stats
}

/// `threads` threads share one store and each make `saves`
/// [`Store::append_next`] saves: no conflict, exactly N records, no gap.
pub fn concurrent_threads_next(s: &dyn Store, threads: u32, saves: u32) {
    s.clear().expect("clear");
    std::thread::scope(|scope| {
        for w in 0..threads {
            scope.spawn(move || next_writer(s, w, saves).unwrap_or_else(|e| panic!("writer {w}: {e}")));
        }
    });
    check_exactly_once_as(s, threads, saves, Mode::Next);
}

/// Opens a store by its spec: a `postgres://` URL, or the path of a JSONL
/// file. A file store waits up to 120 s for the writer lock; `read_only`
/// opens without it.
///
/// # Errors
/// As [`PgStore::open`] and [`History::open`].
pub fn open_store(spec: &str, read_only: bool) -> Result<Box<dyn Store>, Error> {
    if is_postgres_url(spec) {
        return Ok(Box::new(if read_only { PgStore::open_read_only(spec)? } else { PgStore::open(spec)? }));
    }
    let path = Path::new(spec);
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(spec);
    let dir = CapStdDir::open_ambient(parent).map_err(|e| Error::Io {
        file: parent.display().to_string(),
        op: "opening the directory",
        source: std::sync::Arc::new(e),
    })?;
    Ok(Box::new(if read_only {
        History::open_read_only(dir, name)?
    } else {
        History::open(dir, name, Options::default().lock_timeout(Some(Duration::from_secs(120))))?
    }))
}

/// What [`concurrent_processes`] measured.
#[derive(Clone, Debug)]
pub struct ProcessRun {
    /// Each writer's stats, in writer order.
    pub writers: Vec<WriterStats>,
    /// Wall time from the first spawn to the last exit.
    pub elapsed: Duration,
}

/// `writers` processes of `writer_exe` (the `ih-cas-writer` binary) each
/// make `saves` compare-and-append saves to the store `spec`; then the
/// result is checked with [`check_exactly_once`]. The store is cleared
/// first through `spec` (no handle of the caller may hold a file store's
/// writer lock meanwhile).
pub fn concurrent_processes(spec: &str, writer_exe: &Path, writers: u32, saves: u32) -> ProcessRun {
    concurrent_processes_as(spec, writer_exe, writers, saves, Mode::CompareAndAppend)
}

/// [`concurrent_processes`] with the writers appending in `mode`
/// (`ih-cas-writer --next` for [`Mode::Next`]); with [`Mode::Next`] every
/// writer must report 0 conflicts.
pub fn concurrent_processes_as(spec: &str, writer_exe: &Path, writers: u32, saves: u32, mode: Mode) -> ProcessRun {
    open_store(spec, false).expect("open").clear().expect("clear");
    let start = Instant::now();
    let children: Vec<_> = (0..writers)
        .map(|w| {
            Command::new(writer_exe)
                .args([spec, &w.to_string(), &saves.to_string()])
                .args((mode == Mode::Next).then_some("--next"))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a writer process")
        })
        .collect();
    let mut stats = Vec::new();
    for (w, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("writer process");
        assert!(out.status.success(), "writer {w} failed: {}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        let parse = |key: &str| -> u64 {
            text.split_whitespace()
                .skip_while(|t| *t != key)
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("writer {w} printed no {key}: {text}"))
        };
        stats.push(WriterStats { saved: parse("saved") as u32, conflicts: parse("conflicts") });
    }
    let elapsed = start.elapsed();
    let store = open_store(spec, true).expect("reopen");
    check_exactly_once_as(&*store, writers, saves, mode);
    assert!(stats.iter().all(|s| s.saved == saves));
    if mode == Mode::Next {
        assert!(stats.iter().all(|s| s.conflicts == 0), "numbered appends never conflict: {stats:?}");
    }
    ProcessRun { writers: stats, elapsed }
}

/// [`iteration_history::copy`] from `a` to `b` and back gives back the
/// bytes of `sample` exactly, whatever the two stores; a copy into a
/// history with records is refused and changes nothing.
pub fn copy_round_trip(a: &dyn Store, b: &dyn Store, sample: &[u8]) {
    a.clear().expect("clear");
    b.clear().expect("clear");
    a.import_jsonl(&mut &sample[..], ImportMode::IntoEmpty, &mut |_| {}).expect("seed");
    let mut seen = 0;
    let there = iteration_history::copy(a, b, ImportMode::IntoEmpty, &mut |n| seen = n).expect("copy a -> b");
    assert_eq!(there.bytes, sample.len() as u64);
    assert_eq!(seen, there.records, "progress reaches every record");
    assert_eq!(export(b), sample, "{} holds the sample byte for byte", b.describe());
    assert_eq!(all_records(b), all_records(a));
    a.clear().expect("clear");
    iteration_history::copy(b, a, ImportMode::IntoEmpty, &mut |_| {}).expect("copy b -> a");
    assert_eq!(export(a), sample, "back in {}: byte for byte", a.describe());
    // The destination has records now: refused, unchanged.
    let err = iteration_history::copy(b, a, ImportMode::IntoEmpty, &mut |_| {}).expect_err("not empty");
    assert_eq!(err.code(), "conflict", "{err}");
    assert_eq!(export(a), sample);
    // Replace is allowed, and appending goes on after the copy.
    iteration_history::copy(b, a, ImportMode::Replace, &mut |_| {}).expect("replace");
    let last = a.last_iteration_num().expect("last");
    a.append_if(last, &[record(last.map_or(0, |n| n + 1), 0, 0)]).expect("append after the copy");
}
