//! The component and the native core are one library: for the same records
//! they write the same bytes, and each opens and continues the other's file.

use std::fs;
use std::path::Path;

use iteration_history::storage::CapStdDir;
use iteration_history::{CommitStrategy, Error, History, Options};
use iteration_history_host_tests::records::{Comparable, sample, to_core};
use iteration_history_host_tests::wit::{self, Error as E};
use iteration_history_host_tests::{Host, Session};

fn native(dir: &Path, name: &str, options: Options) -> History {
    History::open(CapStdDir::open_ambient(dir).expect("dir"), name, options).expect("native open")
}

fn session(dir: &Path) -> Session {
    Host::shared().instantiate(Some(dir)).expect("instantiate")
}

const PYTHON_LINE: &str = r#"{"iteration_num": 8, "strategy_code": "def s(d):\n    return d  # \u00e9\n", "execution_result": {"success": true, "execution_time": 1.25}, "metrics": {"sharpe_ratio": NaN, "total_return": Infinity, "trades": 3}, "classification_level": "LEVEL_1", "timestamp": "2025-01-01T09:00:00.123456", "champion_updated": false}"#;

fn same_bytes(a: &Path, b: &Path, what: &str) {
    let (x, y) = (fs::read(a).expect("read a"), fs::read(b).expect("read b"));
    assert!(!x.is_empty() || what.contains("empty"), "{what}: nothing written");
    assert!(
        x == y,
        "{what}: native and component files differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&x),
        String::from_utf8_lossy(&y)
    );
}

#[test]
fn the_component_writes_byte_for_byte_what_the_native_core_writes() {
    for (strategy, wit_strategy) in
        [(CommitStrategy::Append, wit::CommitStrategy::Append), (CommitStrategy::Rewrite, wit::CommitStrategy::Rewrite)]
    {
        let (a, b) = (tempfile::tempdir().expect("a"), tempfile::tempdir().expect("b"));
        let n = native(a.path(), "h.jsonl", Options::default().strategy(strategy));
        let mut s = session(b.path());
        let mut opts = s.default_options();
        opts.strategy = wit_strategy;
        let h = s.open_with("h.jsonl", &opts).expect("component open");
        let (fa, fb) = (a.path().join("h.jsonl"), b.path().join("h.jsonl"));

        for i in 0..5 {
            n.save(&to_core(&sample(i))).expect("native save");
            s.save(h, &sample(i)).expect("component save");
        }
        n.save_batch(&[5, 6, 7].map(|i| to_core(&sample(i)))).expect("native batch");
        s.save_batch(h, &[sample(5), sample(6), sample(7)]).expect("component batch");
        n.save_json(PYTHON_LINE.as_bytes()).expect("native json");
        s.save_json(h, PYTHON_LINE).expect("component json");
        n.save_if_last(Some(8), &[to_core(&sample(9))]).expect("native cas");
        s.save_if_last(h, Some(8), &[sample(9)]).expect("component cas");
        same_bytes(&fa, &fb, &format!("{strategy:?}: saves, a batch, a Python JSON line, a compare-and-append"));

        n.export_to(&CapStdDir::open_ambient(a.path()).expect("dir"), "copy.jsonl").expect("native export");
        s.export(h, "copy.jsonl").expect("component export");
        same_bytes(&a.path().join("copy.jsonl"), &b.path().join("copy.jsonl"), "export");
        assert_eq!(n.compact().expect("native compact"), 10);
        assert_eq!(s.compact(h), Ok(10));
        same_bytes(&fa, &fb, "compact");

        n.clear().expect("native clear");
        s.clear(h).expect("component clear");
        same_bytes(&fa, &fb, "cleared (empty)");
        n.save(&to_core(&sample(10))).expect("native save");
        s.save(h, &sample(10)).expect("component save");
        same_bytes(&fa, &fb, "a save after clear");
    }
}

#[test]
fn each_opens_the_others_file_and_continues_it() {
    let shared = tempfile::tempdir().expect("shared");
    let reference = tempfile::tempdir().expect("reference");
    {
        let all_native = native(reference.path(), "h.jsonl", Options::default());
        for i in 0..10 {
            all_native.save(&to_core(&sample(i))).expect("save");
        }
    }
    let mut s = session(shared.path());
    let h = s.open("h.jsonl").expect("component open");
    for i in 0..4 {
        s.save(h, &sample(i)).expect("component save");
    }
    s.close(h);

    {
        let n = native(shared.path(), "h.jsonl", Options::default());
        let got: Vec<Comparable> = n.get_all().expect("native reads").into_iter().map(Comparable).collect();
        let want: Vec<Comparable> = (0..4).map(|i| Comparable::from(&sample(i))).collect();
        assert_eq!(got, want, "the native core reads the component's records exactly");
        assert_eq!(n.verify().expect("verify").unchecksummed, 0);
        for i in 4..7 {
            n.save(&to_core(&sample(i))).expect("native save");
        }
    }

    let h = s.open("h.jsonl").expect("component reopens");
    let got: Vec<Comparable> = s.all_pages(h, 3).expect("pages").iter().map(Comparable::from).collect();
    let want: Vec<Comparable> = (0..7).map(|i| Comparable::from(&sample(i))).collect();
    assert_eq!(got, want, "the component reads the native records exactly");
    assert_eq!(s.last_iteration_num(h), Ok(Some(6)));
    for i in 7..10 {
        s.save(h, &sample(i)).expect("component save");
    }
    s.close(h);
    same_bytes(&shared.path().join("h.jsonl"), &reference.path().join("h.jsonl"), "alternating writers");
}

#[test]
fn a_component_writer_keeps_a_native_writer_out_and_readers_in() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = session(tmp.path());
    let h = s.open("h.jsonl").expect("component open");
    s.save(h, &sample(0)).expect("save");
    match History::open(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl", Options::default()) {
        Err(Error::Locked { holder, .. }) => assert!(holder.contains("lease"), "{holder}"),
        other => panic!("expected locked, got {other:?}"),
    }
    let r = History::open_read_only(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl").expect("reader");
    assert_eq!(r.count().expect("count"), 1);
    s.close(h);
    native(tmp.path(), "h.jsonl", Options::default()).save(&to_core(&sample(1))).expect("native writes after close");
}

#[test]
fn the_original_python_modules_history_opens_through_the_component() {
    let sample_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/history.jsonl");
    let original = fs::read(&sample_file).expect("samples/history.jsonl");
    let tmp = tempfile::tempdir().expect("tmp");
    fs::write(tmp.path().join("history.jsonl"), &original).expect("copy");
    let reader = History::open_read_only(CapStdDir::open_ambient(tmp.path()).expect("dir"), "history.jsonl");
    let expected: Vec<Comparable> =
        reader.expect("native reader").get_all().expect("native").into_iter().map(Comparable).collect();
    assert_eq!(expected.len(), 60);

    let mut s = session(tmp.path());
    let r = s.open_read_only("history.jsonl").expect("reader");
    let got: Vec<Comparable> = s.all_pages(r, 16).expect("pages").iter().map(Comparable::from).collect();
    assert_eq!(got, expected, "NaN, -Infinity, \\u escapes: every value as Python wrote it");
    let v = s.verify(r).expect("verify");
    assert_eq!((v.records, v.unchecksummed), (60, 60));

    let h = s.open("history.jsonl").expect("writer resumes the loop");
    let next = s.last_iteration_num(h).expect("last").map_or(0, |n| n + 1);
    assert_eq!(next, 60);
    s.save(h, &sample(next)).expect("save");
    let after = fs::read(tmp.path().join("history.jsonl")).expect("read");
    assert!(after.starts_with(&original), "the Python-written lines are kept byte for byte");
    match s.save_if_last(h, Some(59), &[sample(61)]) {
        Err(E::Conflict(c)) => assert_eq!(c.actual, Some(60)),
        other => panic!("expected conflict, got {other:?}"),
    }
}

#[test]
fn a_native_writer_and_a_component_writer_at_once_never_interleave() {
    // A guest cannot see a native writer's OS lock (documented in the WIT);
    // if both write, the one whose view is stale refuses to commit.
    let tmp = tempfile::tempdir().expect("tmp");
    let n = native(tmp.path(), "h.jsonl", Options::default());
    n.save(&to_core(&sample(0))).expect("native save");
    let mut s = session(tmp.path());
    let h = s.open("h.jsonl").expect("the guest sees no OS lock");
    n.save(&to_core(&sample(1))).expect("native save");
    match s.save(h, &sample(2)) {
        Err(E::ChangedExternally(m)) => assert!(m.contains("h.jsonl") && m.contains("reopen"), "{m}"),
        other => panic!("expected changed-externally, got {other:?}"),
    }
    s.close(h);
    let h = s.open("h.jsonl").expect("reopen");
    s.save(h, &sample(2)).expect("component save after reopening");
    match n.save(&to_core(&sample(3))) {
        Err(Error::ChangedExternally { .. }) => {}
        other => panic!("expected changed-externally, got {other:?}"),
    }
    drop(n);
    let reader = History::open_read_only(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl").expect("reader");
    let nums: Vec<u64> = reader.get_all().expect("all").iter().map(|r| r.iteration_num).collect();
    assert_eq!(nums, vec![0, 1, 2], "no interleaved or lost line");
}
