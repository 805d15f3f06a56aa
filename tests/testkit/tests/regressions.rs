//! Regression tests for the core bugs the crash and fault suites found,
//! each reduced to its few operations.

use iteration_history::storage::{Dir, FileName, MemDir};
use iteration_history::{CommitStrategy, Error, History, Options};
use iteration_history_testkit::records::{nums, rec};
use iteration_history_testkit::workload::NAME;
use iteration_history_testkit::{CrashDir, CrashModel, FaultKind, Faults, OpFilter};

/// A writer that crashed between creating the history (or renaming over
/// it) and syncing the directory left the name only in the page cache. The
/// next writer appended and fdatasynced, acknowledged, and a power loss then
/// took the whole file. Fix: opening for writing syncs the directory.
#[test]
fn a_writer_after_a_crashed_create_makes_the_name_durable_before_acknowledging() {
    for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
        let dir = CrashDir::new();
        // The crashed writer: created the file, never synced the directory.
        drop(dir.create_new(&FileName::new(NAME).expect("name")).expect("create"));
        let after_crash = dir.snapshot().process_crash();
        let h = History::open(after_crash.clone(), NAME, Options::default().strategy(strategy)).expect("open");
        h.save(&rec(1)).expect("acknowledged");
        for img in after_crash.snapshot().crash_images(&CrashModel::default()).images {
            let got = History::open(CrashDir::from_image(&img), NAME, Options::default())
                .and_then(|h| h.get_all())
                .expect("reopen");
            assert_eq!(nums(&got), vec![1], "{strategy:?}: the acknowledged save survives a power loss");
        }
    }
}

/// `clear` renamed an empty file over the history, then the directory sync
/// failed. The writer kept its old length, so the next save extended the
/// new empty file with zeros up to it, appended, and acknowledged a save
/// that was unreadable and, the rename not being durable, lost on power
/// loss. Fix: the writer adopts the replaced file and syncs the directory
/// before acknowledging its next commit.
#[test]
fn a_save_after_a_clear_whose_directory_sync_failed_is_durable_and_readable() {
    for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
        let faults = Faults::new();
        let dir = CrashDir::new().with_faults(faults.clone());
        let h = History::open(dir.clone(), NAME, Options::default().strategy(strategy)).expect("open");
        for n in 0..3 {
            h.save(&rec(n)).expect("save");
        }
        // The temp file's sync is the first sync of a clear; fail the
        // directory sync after the rename, the second.
        faults.fail_at(FaultKind::Eio, OpFilter::Syncs, 2, false);
        let err = h.clear().expect_err("the directory sync failed");
        assert!(matches!(err, Error::SyncFailed { .. }), "{err}");
        faults.lift();
        h.save(&rec(10)).expect("save after the failed clear");
        assert_eq!(nums(&h.get_all().expect("readable")), vec![10]);
        let durable = History::open(CrashDir::from_image(&dir.snapshot().durable_image()), NAME, Options::default())
            .and_then(|h| h.get_all())
            .expect("durable state opens");
        assert_eq!(nums(&durable), vec![10], "{strategy:?}: the acknowledged save is durable, the clear too");
    }
}

/// A history ending in blanks without a final `\n` (an editor, another
/// tool) opened clean, and the next save was appended on the same line: its
/// checksum no longer matched, so the acknowledged save read as corrupt and
/// a reopen moved it to a sidecar. Found by the recovery property test.
/// Fix: opening for writing ends such a last line with `\n` first.
#[test]
fn a_save_after_unterminated_blanks_starts_its_own_line() {
    let record = iteration_history::codec::encode_line(&rec(0)).expect("line");
    for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
        for tail in [&b" "[..], b"\t \r", b"\n  "] {
            for prefix in [&b""[..], &record[..]] {
                let dir = MemDir::new();
                dir.put(NAME, &[prefix, tail].concat());
                let h = History::open(dir.clone(), NAME, Options::default().strategy(strategy)).expect("open");
                h.save(&rec(7)).expect("save");
                assert_eq!(h.load_recent(1).expect("readable")[0], rec(7), "{strategy:?} {tail:?}");
                drop(h);
                let again = History::open(dir.clone(), NAME, Options::default()).expect("reopen");
                assert!(again.recovery_report().expect("writer").torn_tail.is_none());
                assert_eq!(nums(&again.get_all().expect("all")).last(), Some(&7));
            }
        }
    }
}

/// A lease renewal (systems without file locks) cut short by a crash left
/// `.<history>.lease.<random>.tmp` behind for ever. Fix: a writer's open
/// removes them with its own temp files.
#[test]
fn stale_lease_temp_files_are_removed_on_open() {
    let dir = MemDir::new();
    dir.put(".h.jsonl.lease.0123456789abcdef.tmp", b"0123 99\n");
    dir.put(".other.jsonl.lease.0123456789abcdef.tmp", b"not ours\n");
    let h = History::open(dir.clone(), NAME, Options::default()).expect("open");
    let removed = &h.recovery_report().expect("writer").removed_temp_files;
    assert_eq!(removed, &vec![".h.jsonl.lease.0123456789abcdef.tmp".to_string()]);
    assert!(dir.contents(".other.jsonl.lease.0123456789abcdef.tmp").is_some(), "others' files are kept");
}

/// `compact` asked for the new file's length after renaming it over the
/// history, so an error there left the writer appending at the old length
/// (over zeros, or past the end of the shorter compacted file). Fix: no I/O
/// between the rename and adopting the new file. Checked for an error at
/// every operation of a `compact` after the rename: the next save is
/// readable and durable, with every record before it.
#[test]
fn a_save_after_a_compact_that_failed_after_its_rename_is_readable_and_durable() {
    for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
        for n in 1..12 {
            let faults = Faults::new();
            let dir = CrashDir::new().with_faults(faults.clone());
            let h = History::open(dir.clone(), NAME, Options::default().strategy(strategy)).expect("open");
            // A batch: compact rewrites its lines without the commit tags.
            h.save_batch(&[rec(0), rec(1), rec(2)]).expect("batch");
            faults.fail_at(FaultKind::Eio, OpFilter::Applicable, n, false);
            let failed = h.compact().is_err();
            faults.lift();
            h.save(&rec(10)).unwrap_or_else(|e| panic!("{strategy:?} op {n}: save after compact: {e}"));
            let want = [rec(0), rec(1), rec(2), rec(10)];
            assert_eq!(h.get_all().expect("readable"), want, "{strategy:?} op {n} (compact failed: {failed})");
            let durable =
                History::open(CrashDir::from_image(&dir.snapshot().durable_image()), NAME, Options::default())
                    .and_then(|h| h.get_all())
                    .expect("durable state opens");
            assert_eq!(durable, want, "{strategy:?} op {n}: the acknowledged save is durable");
        }
    }
}
