//! An I/O error at every operation: for every N, the N-th storage operation
//! of a workload fails with disk full, permission denied or EIO (once, or
//! from then on until the fault is lifted). Then: the history is intact, no
//! temp file is left, the error names the file and says what happened, the
//! same step succeeds once the fault is lifted, and the whole workload ends
//! exactly as without the fault. A failed sync is never taken for a good
//! one: at every acknowledgement, every *durable* state (the disk if the
//! power failed right then, with failed syncs' pages forgotten as Linux
//! does, but any of them possibly on the disk whole or in part: a prefix, a
//! suffix, every other sector) already holds exactly what was acknowledged;
//! after a failed step each of those states recovers to the records before
//! or after the step.

use iteration_history::storage::{Dir, FileName};
use iteration_history::{CommitStrategy, Error, History, IterationRecord, Options};
use iteration_history_testkit::records::{nums, rec};
use iteration_history_testkit::workload::NAME;
use iteration_history_testkit::workload::Step;
use iteration_history_testkit::{CrashDir, CrashModel, FaultDir, FaultKind, Faults, OpFilter};

/// The records of every disk a power loss may leave with nothing unsynced
/// on it (see `Snapshot::durable_images`), each recovered by a writer.
fn durable_states(dir: &CrashDir, o: &Options) -> Result<Vec<Vec<IterationRecord>>, String> {
    dir.snapshot()
        .durable_images(&CrashModel::default())
        .iter()
        .map(|img| {
            History::open(CrashDir::from_image(img), NAME, o.clone())
                .and_then(|h| h.get_all())
                .map_err(|e| format!("a durable state does not open: {e} ({} files)", img.len()))
        })
        .collect()
}

/// Every durable state holds exactly `acked` (whole records); returns how
/// many states were checked.
fn check_durable(dir: &CrashDir, o: &Options, acked: &[IterationRecord], what: &str) -> u64 {
    let states = durable_states(dir, o).unwrap_or_else(|e| panic!("{what}: {e}"));
    for durable in &states {
        assert!(
            durable == acked,
            "{what}: acknowledged but not durable, or altered: {:?}, acknowledged {:?}",
            nums(durable),
            nums(acked)
        );
    }
    states.len() as u64
}

fn workload() -> Vec<Step> {
    vec![
        Step::Open,
        Step::Save(0),
        Step::Save(1),
        Step::Batch(vec![2, 3, 4]),
        Step::Save(5),
        Step::Clear,
        Step::Save(6),
        Step::Batch(vec![7, 8]),
        Step::Open,
        Step::Save(9),
        Step::Damage(1),
        Step::Repair,
        Step::Save(10),
        Step::Compact,
        Step::Save(11),
    ]
}

fn apply(model: &mut Vec<IterationRecord>, step: &Step) {
    match step {
        Step::Open | Step::Repair | Step::Compact => {}
        Step::Save(n) => model.push(rec(*n)),
        Step::Batch(ns) => model.extend(ns.iter().map(|&n| rec(n))),
        Step::Clear => model.clear(),
        Step::Damage(i) => {
            model.remove(*i);
        }
    }
}

fn damage(dir: &CrashDir, i: usize) {
    let data = dir.contents(NAME).expect("history");
    let start: usize = data.split_inclusive(|&b| b == b'\n').take(i).map(<[u8]>::len).sum();
    let mut f = dir.open_write(&FileName::new(NAME).expect("name")).expect("open");
    let at = start + 40;
    f.write_at(&[if data[at] == b'x' { b'y' } else { b'x' }], at as u64).expect("damage");
    f.sync_data().expect("sync");
}

fn exec(h: &mut Option<History>, dir: &CrashDir, faults: &Faults, step: &Step, o: &Options) -> Result<(), Error> {
    match step {
        Step::Open => {
            drop(h.take());
            *h = Some(History::open(dir.clone(), NAME, o.clone())?);
            Ok(())
        }
        Step::Save(n) => h.as_ref().expect("open").save(&rec(*n)),
        Step::Batch(ns) => h.as_ref().expect("open").save_batch(&ns.iter().map(|&n| rec(n)).collect::<Vec<_>>()),
        Step::Clear => h.as_ref().expect("open").clear(),
        Step::Damage(i) => {
            faults.pause(true);
            damage(dir, *i);
            faults.pause(false);
            Ok(())
        }
        Step::Repair => h.as_ref().expect("open").repair().map(|_| ()),
        Step::Compact => h.as_ref().expect("open").compact().map(|_| ()),
    }
}

#[derive(Default)]
struct Tally {
    runs: u64,
    faults: u64,
    retries: u64,
    ack_checks: u64,
    /// Power losses right after a failed step (each disk it may leave).
    after_failure: u64,
    /// Of those, disks holding part of a failed sync's data.
    partial_sync: u64,
}

/// One run with the `n`-th applicable operation failing. Returns whether
/// a fault was injected.
fn run_with_fault(
    strategy: CommitStrategy,
    kind: FaultKind,
    filter: OpFilter,
    n: u64,
    sticky: bool,
    t: &mut Tally,
) -> bool {
    let faults = Faults::new();
    let dir = CrashDir::new().with_faults(faults.clone());
    let o = Options::default().strategy(strategy).repair_on_open(true);
    let label = format!("{strategy:?} {kind:?} at applicable op {n} ({filter:?}, sticky {sticky})");
    let mut model: Vec<IterationRecord> = Vec::new();
    let mut h: Option<History> = None;
    faults.fail_at(kind, filter, n, sticky);
    let mut injected = false;
    t.runs += 1;
    for step in workload() {
        let before = model.clone();
        let mut after = model.clone();
        apply(&mut after, &step);
        let mut attempts = 0;
        loop {
            match exec(&mut h, &dir, &faults, &step, &o) {
                Ok(()) => break,
                Err(err) => {
                    attempts += 1;
                    injected = true;
                    let what = faults.injected();
                    assert!(!what.is_empty(), "{label}: {step:?} failed without an injected fault: {err}");
                    check_error(&err, kind, &label, &step);
                    faults.pause(true);
                    check_intact(&dir, &h, &before, &after, &what, &label, &step);
                    // A power loss now: the failed attempt may be on the
                    // disk in part; recovery gives the records before or
                    // after the step.
                    if !matches!(step, Step::Repair | Step::Damage(_)) {
                        let states =
                            durable_states(&dir, &o).unwrap_or_else(|e| panic!("{label}: {step:?} failed: {e}"));
                        t.after_failure += states.len() as u64;
                        t.partial_sync += states.len() as u64 - 1;
                        for d in states {
                            assert!(
                                d == before || d == after,
                                "{label}: {step:?} failed ({what:?}); after a power loss: {:?}, before {:?}",
                                nums(&d),
                                nums(&before)
                            );
                        }
                    }
                    faults.pause(false);
                    // Sticky faults: fail again a few times, then lift.
                    if !sticky || attempts >= 3 {
                        faults.lift();
                    }
                    t.retries += 1;
                    assert!(attempts < 10, "{label}: {step:?} never succeeded");
                }
            }
        }
        model = after;
        // Acknowledged: the state a power loss right now leaves must hold it
        // (failed syncs' pages were forgotten by the simulator).
        faults.pause(true);
        t.ack_checks += check_durable(&dir, &o, &model, &format!("{label}: after {step:?}"));
        faults.pause(false);
    }
    faults.lift();
    let h = h.expect("opened");
    assert_eq!(h.get_all().expect("all"), model, "{label}: final state");
    drop(h);
    let again = History::open(dir.clone(), NAME, o).expect("reopen");
    assert_eq!(again.get_all().expect("all"), model, "{label}: final state after reopen");
    let temps: Vec<String> = dir.names().into_iter().filter(|n| n.ends_with(".tmp")).collect();
    assert!(temps.is_empty(), "{label}: temp files after reopen: {temps:?}");
    t.faults += u64::from(injected);
    injected
}

fn check_error(err: &Error, kind: FaultKind, label: &str, step: &Step) {
    let msg = err.to_string();
    assert!(msg.contains(NAME), "{label}: {step:?}: the error names the file: {msg}");
    let expected = match kind {
        FaultKind::DiskFull => matches!(err, Error::DiskFull { .. }) && msg.contains("no space left"),
        FaultKind::PermissionDenied => {
            matches!(err, Error::PermissionDenied { .. }) && msg.contains("permission denied")
        }
        FaultKind::Eio => matches!(err, Error::Io { .. } | Error::SyncFailed { .. }),
    };
    assert!(expected, "{label}: {step:?}: wrong error for {kind:?}: {msg}");
    assert!(err.io_error().is_some(), "{label}: the OS error is kept as the source");
}

fn check_intact(
    dir: &CrashDir,
    h: &Option<History>,
    before: &[IterationRecord],
    after: &[IterationRecord],
    injected: &[String],
    label: &str,
    step: &Step,
) {
    let names = dir.names();
    let temps: Vec<&String> = names.iter().filter(|n| n.ends_with(".tmp")).collect();
    let last_fault = injected.last().map_or("", String::as_str);
    let dir_sync_failed = injected.iter().any(|f| f.contains("SyncDir"));
    // A temp file can only stay if removing it failed too (the next open
    // removes it; checked at the end).
    let remove_failed = injected.iter().any(|f| f.contains("Remove"));
    assert!(temps.is_empty() || remove_failed, "{label}: {step:?}: temp files left: {temps:?}");
    if let Some(h) = h {
        let own = match h.get_all() {
            Ok(own) => own,
            // Between Damage and Repair the history is corrupt on purpose.
            Err(Error::Corrupt { .. }) if matches!(step, Step::Repair) => before.to_vec(),
            Err(e) => panic!("{label}: {step:?}: the writer cannot read: {e}"),
        };
        assert!(
            own == before || (own == after && dir_sync_failed),
            "{label}: {step:?} failed ({last_fault}) but the writer sees {:?} (before: {:?})",
            nums(&own),
            nums(before)
        );
    }
    if dir.contents(NAME).is_some() {
        let reader = History::open_read_only(dir.clone(), NAME).expect("reader");
        match reader.get_all() {
            Ok(seen) => assert!(
                seen == before || seen == after,
                "{label}: {step:?} failed ({last_fault}); a reader sees {:?}, before {:?}",
                nums(&seen),
                nums(before)
            ),
            // Between Damage and Repair the history is corrupt on purpose.
            Err(Error::Corrupt { .. }) if matches!(step, Step::Repair) => {}
            Err(e) => panic!("{label}: {step:?} failed ({last_fault}); a reader fails: {e}"),
        }
    }
}

fn every_n(strategy: CommitStrategy, kind: FaultKind, filter: OpFilter, sticky: bool, t: &mut Tally) {
    let mut n = 1;
    while run_with_fault(strategy, kind, filter, n, sticky, t) {
        n += 1;
    }
    assert!(n > 5, "{strategy:?} {kind:?}: the workload has applicable operations");
}

#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn every_operation_failing_once_or_until_lifted_loses_nothing() {
    let mut t = Tally::default();
    for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
        for kind in FaultKind::ALL {
            for sticky in [false, true] {
                every_n(strategy, kind, OpFilter::Applicable, sticky, &mut t);
            }
        }
    }
    println!(
        "I/O faults: {} runs, {} with an injected fault (every applicable operation N of the workload, disk full / permission denied / EIO, once and sticky, both strategies), {} failed steps retried, {} acknowledgements checked durable; {} power losses right after a failed step, {} of them with part of a failed sync's data on the disk",
        t.runs, t.faults, t.retries, t.ack_checks, t.after_failure, t.partial_sync
    );
}

#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn every_failed_sync_is_an_error_and_never_acknowledges_unsynced_data() {
    let mut t = Tally::default();
    for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
        for kind in [FaultKind::Eio, FaultKind::DiskFull] {
            every_n(strategy, kind, OpFilter::Syncs, false, &mut t);
        }
    }
    println!(
        "failed syncs: {} runs, {} faults, {} acknowledgements checked durable; {} power losses right after a failed step, {} of them with part of a failed sync's data on the disk",
        t.runs, t.faults, t.ack_checks, t.after_failure, t.partial_sync
    );
}

/// The caller gives up on a failed step and goes on with the next one
/// (no retry). Whatever the writer then acknowledges must be durable: at
/// every acknowledgement the disk state a power loss would leave reads
/// exactly as the writer does, and that is the model with each failed step
/// either applied or not (a failed save is never there twice).
fn run_skipping(strategy: CommitStrategy, kind: FaultKind, n: u64, t: &mut Tally) -> bool {
    let faults = Faults::new();
    let dir = CrashDir::new().with_faults(faults.clone());
    let o = Options::default().strategy(strategy).repair_on_open(true);
    let label = format!("{strategy:?} {kind:?} at applicable op {n}, failed step skipped");
    let mut models: Vec<Vec<IterationRecord>> = vec![Vec::new()];
    let mut h: Option<History> = None;
    faults.fail_at(kind, OpFilter::Applicable, n, false);
    let mut injected = false;
    t.runs += 1;
    // Without Damage/Repair: a skipped repair leaves a corrupt history.
    let steps = workload().into_iter().filter(|s| !matches!(s, Step::Damage(_) | Step::Repair));
    for step in steps {
        let failed = match exec(&mut h, &dir, &faults, &step, &o) {
            Ok(()) => false,
            Err(_) if matches!(step, Step::Open) => {
                faults.lift();
                exec(&mut h, &dir, &faults, &step, &o).expect("open after the fault");
                false
            }
            Err(_) => true,
        };
        injected |= failed;
        let mut next = Vec::new();
        for m in &models {
            let mut applied = m.clone();
            apply(&mut applied, &step);
            next.push(applied);
            if failed {
                next.push(m.clone());
            }
        }
        next.dedup();
        models = next;
        if failed || h.is_none() {
            continue;
        }
        faults.pause(true);
        let own = h.as_ref().expect("open").get_all().unwrap_or_else(|e| panic!("{label}: after {step:?}: {e}"));
        assert!(models.contains(&own), "{label}: after {step:?}: writer sees {:?}", nums(&own));
        t.ack_checks += check_durable(&dir, &o, &own, &format!("{label}: after {step:?}"));
        models = vec![own];
        faults.pause(false);
    }
    t.faults += u64::from(injected);
    faults.lift();
    injected || faults.matched() >= n
}

#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn failed_steps_that_are_not_retried_leave_a_consistent_durable_history() {
    let mut t = Tally::default();
    for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
        for kind in FaultKind::ALL {
            let mut n = 1;
            while run_skipping(strategy, kind, n, &mut t) {
                n += 1;
            }
        }
    }
    println!(
        "I/O faults, failed step not retried: {} runs, {} with a failed step, {} acknowledgements checked durable",
        t.runs, t.faults, t.ack_checks
    );
}

/// The wrapper works on the real disk too.
#[test]
fn faults_on_the_real_disk_give_clear_errors_and_lose_nothing() {
    for kind in FaultKind::ALL {
        let tmp = tempfile::tempdir().expect("tmp");
        let faults = Faults::new();
        let disk = iteration_history::storage::CapStdDir::open_ambient(tmp.path()).expect("dir");
        let h = History::open(FaultDir::new(disk, faults.clone()), NAME, Options::default()).expect("open");
        h.save(&rec(0)).expect("save");
        let mut failures = 0;
        for n in 1..=8 {
            faults.fail_at(kind, OpFilter::Applicable, n, false);
            if let Err(e) = h.save(&rec(1)) {
                failures += 1;
                assert!(e.to_string().contains(NAME), "{e}");
                faults.lift();
                h.save(&rec(1)).expect("retry succeeds");
            }
            faults.lift();
            let all = h.get_all().expect("all");
            assert_eq!(all, [rec(0), rec(1)], "{kind:?}: exactly the saved records");
            h.clear().expect("clear");
            h.save(&rec(0)).expect("save");
        }
        assert!(failures > 0, "{kind:?}: some save failed");
        let names: Vec<_> = std::fs::read_dir(tmp.path()).expect("ls").map(|e| e.expect("e").file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")), "{names:?}");
    }
}
