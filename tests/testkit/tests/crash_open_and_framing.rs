//! Power loss after every operation of the open path and commit framing of
//! issue 13: a writer reopened after a close (its checkpoint written at
//! close, read at open), histories whose checkpoint is stale, damaged or
//! missing, and large batches committed by rename (untagged lines) next to
//! small ones appended with the in-flight commit record.
//!
//! The full-model runs are `#[ignore]`d in the plain workspace run and run
//! by `scripts/test-crash` (release, `--include-ignored`).

use iteration_history::{CommitStrategy, History, Options};
use iteration_history_testkit::records::rec;
use iteration_history_testkit::workload::{self, CheckOptions, NAME, Scenario, Stats, Step, check_trace};
use iteration_history_testkit::{CrashDir, CrashModel, Image};

fn check(scenario: &Scenario, check: &CheckOptions) -> Stats {
    let started = std::time::Instant::now();
    let run = workload::run(scenario);
    let stats = check_trace(&scenario.label, &run, check);
    println!("{} ({:.1} s)", stats.summary(&scenario.label), started.elapsed().as_secs_f64());
    stats.assert_ok(&scenario.label);
    stats
}

fn reopening_steps() -> Vec<Step> {
    vec![
        Step::Open,
        Step::Save(0),
        Step::Save(1),
        Step::Batch(vec![2, 3, 4]),
        Step::Open,
        Step::Save(5),
        Step::Batch(vec![6, 7]),
        Step::Open,
        Step::Save(8),
        Step::Open,
    ]
}

fn large_batch_steps() -> Vec<Step> {
    vec![
        Step::Open,
        Step::Save(0),
        Step::Batch(vec![1, 2, 3, 4, 5]),
        Step::Save(6),
        Step::Batch(vec![7, 8]),
        Step::Batch(vec![9, 10, 11, 12]),
        Step::Open,
        Step::Save(13),
    ]
}

fn opts(s: CommitStrategy) -> Options {
    Options::default().strategy(s)
}

#[test]
fn reopening_and_large_batches_survive_power_loss_quick() {
    // The quick version for every `cargo test`: fewer byte cuts.
    let model = CrashModel { byte_cut_limit: 64, ..CrashModel::default() };
    let o = opts(CommitStrategy::Append).rename_batches_over(3);
    let sc = Scenario::new("Append: reopen + large batches (quick)", o.clone(), large_batch_steps());
    check(&sc, &CheckOptions { model, reopen: o, ..CheckOptions::default() });
}

#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn a_writer_reopened_after_a_close_survives_power_loss_after_every_operation() {
    for s in [CommitStrategy::Append, CommitStrategy::Rewrite] {
        let sc = Scenario::new(format!("{s:?}: reopened after close (checkpoint)"), opts(s), reopening_steps());
        check(&sc, &CheckOptions { reopen: opts(s), ..CheckOptions::default() });
    }
}

#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn large_batches_committed_by_rename_survive_power_loss_after_every_operation() {
    let o = opts(CommitStrategy::Append).rename_batches_over(3);
    let sc = Scenario::new(
        "Append: batches over 3 records by rename, smaller ones appended",
        o.clone(),
        large_batch_steps(),
    );
    let stats = check(&sc, &CheckOptions { reopen: o, ..CheckOptions::default() });
    assert!(stats.rolled_back > 0);
}

/// A history of records 0..10 closed by its writer (so checkpointed), and
/// the files it left.
fn closed_history() -> Image {
    let dir = CrashDir::new();
    let h = History::open(dir.clone(), NAME, Options::default()).expect("open");
    for n in 0..6 {
        h.save(&rec(n)).expect("save");
    }
    h.save_batch(&[rec(6), rec(7), rec(8), rec(9)]).expect("batch");
    drop(h);
    let img = dir.snapshot().live_image();
    assert!(img.contains_key("h.jsonl.idx") && img.contains_key("h.jsonl.commit"), "{:?}", img.keys());
    img
}

#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn a_stale_damaged_or_missing_checkpoint_changes_no_result_at_any_crash_point() {
    let base = closed_history();
    let records: Vec<_> = (0..10).map(rec).collect();
    let idx = base["h.jsonl.idx"].clone();
    let history = base[NAME].clone();
    let mut cases: Vec<(&str, Image, Vec<_>)> = Vec::new();
    cases.push(("valid checkpoint", base.clone(), records.clone()));
    let mut missing = base.clone();
    missing.remove("h.jsonl.idx");
    cases.push(("missing checkpoint", missing, records.clone()));
    let mut damaged = base.clone();
    let mut bad = idx.clone();
    bad[30] ^= 0x10;
    damaged.insert("h.jsonl.idx".into(), bad);
    cases.push(("damaged checkpoint", damaged, records.clone()));
    // Stale: the history cut back to 6 records by another program (the
    // checkpoint's prefix is longer than the file), and one where the
    // history was replaced by other records.
    let ends: Vec<usize> = history.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1).collect();
    let mut shorter = base.clone();
    shorter.insert(NAME.into(), history[..ends[5]].to_vec());
    cases.push(("checkpoint of a longer file", shorter, records[..6].to_vec()));
    let mut replaced = base.clone();
    let other: Vec<u8> =
        (100..110).flat_map(|n| iteration_history::codec::encode_line(&rec(n)).expect("line")).collect();
    replaced.insert(NAME.into(), other);
    cases.push(("checkpoint of another file", replaced, (100..110).map(rec).collect()));
    let mut total = Stats::default();
    for (what, initial, initial_records) in cases {
        let sc = Scenario {
            label: format!("Append: {what}"),
            options: Options::default(),
            initial,
            initial_records,
            steps: vec![Step::Open, Step::Save(500), Step::Batch(vec![501, 502]), Step::Open, Step::Save(503)],
        };
        total.add(&check(&sc, &CheckOptions::default()));
    }
    println!("{}", total.summary("checkpoints valid, missing, damaged, stale"));
}

/// An I/O error (once, then lifted) at every operation N of a workload that
/// reopens the history (checkpoint read at open, written at close) and
/// appends small and large batches, without `repair_on_open` (which would
/// bypass the checkpoint). The failed step is retried once the fault is
/// lifted; at the end a reader and a new writer see exactly the model, and
/// the power-loss state at every acknowledgement holds it.
#[test]
fn an_io_error_at_any_operation_of_reopens_and_batches_loses_nothing() {
    use iteration_history_testkit::records::nums;
    use iteration_history_testkit::{FaultKind, Faults, OpFilter};

    let steps = large_batch_steps();
    let o = opts(CommitStrategy::Append).rename_batches_over(3);
    let mut runs = 0;
    let mut injected_runs = 0;
    for kind in FaultKind::ALL {
        for n in 1u64.. {
            let faults = Faults::new();
            let dir = CrashDir::new().with_faults(faults.clone());
            faults.fail_at(kind, OpFilter::Applicable, n, false);
            let label = format!("{kind:?} at applicable op {n}");
            let mut h: Option<History> = None;
            let mut model = Vec::new();
            let mut injected = false;
            for step in &steps {
                let mut attempt = || -> iteration_history::Result<()> {
                    match step {
                        Step::Open => {
                            drop(h.take());
                            h = Some(History::open(dir.clone(), NAME, o.clone())?);
                            Ok(())
                        }
                        Step::Save(i) => h.as_ref().expect("open").save(&rec(*i)),
                        Step::Batch(ns) => {
                            h.as_ref().expect("open").save_batch(&ns.iter().map(|&i| rec(i)).collect::<Vec<_>>())
                        }
                        other => panic!("{other:?} is not in this workload"),
                    }
                };
                if let Err(e) = attempt() {
                    injected = true;
                    assert!(!faults.injected().is_empty(), "{label}: {step:?} failed without a fault: {e}");
                    faults.lift();
                    attempt().unwrap_or_else(|e| panic!("{label}: {step:?} failed again after the fault: {e}"));
                }
                match step {
                    Step::Save(i) => model.push(*i),
                    Step::Batch(ns) => model.extend(ns),
                    _ => {}
                }
                faults.pause(true);
                let durable = History::open(CrashDir::from_image(&dir.snapshot().durable_image()), NAME, o.clone())
                    .and_then(|h| h.get_all())
                    .unwrap_or_else(|e| panic!("{label}: after {step:?}: the durable state does not open: {e}"));
                assert_eq!(nums(&durable), model, "{label}: after {step:?}: acknowledged but not durable");
                faults.pause(false);
            }
            drop(h);
            faults.pause(true);
            let reader = History::open_read_only(dir.clone(), NAME).expect("reader");
            assert_eq!(nums(&reader.get_all().expect("read")), model, "{label}: reader");
            assert_eq!(reader.count().expect("count"), model.len() as u64, "{label}: reader count");
            let again = History::open(dir.clone(), NAME, o.clone()).expect("reopen");
            assert_eq!(nums(&again.get_all().expect("read")), model, "{label}: writer");
            assert_eq!(again.count().expect("count"), model.len() as u64, "{label}: writer count");
            runs += 1;
            if injected {
                injected_runs += 1;
            }
            if faults.matched() < n {
                break; // the workload has fewer applicable operations
            }
        }
    }
    println!("I/O faults in reopens and batches: {runs} runs, {injected_runs} with a failed step");
    assert!(injected_runs > 30, "faults were injected: {injected_runs}");
}
