//! Power loss after every operation: every post-crash disk state of a
//! workload, per the ALICE model (see `iteration_history_testkit::crash`),
//! reopens with every acknowledged save there, nothing duplicated or
//! altered, a prefix of what was attempted, and accepts a new save.
//!
//! The heavy ones are `#[ignore]`d in the plain workspace run and run by
//! `scripts/test-crash` (release mode, `--include-ignored`). Each prints
//! how many states it checked.

use std::sync::Arc;

use iteration_history::storage::{Dir, MemDir};
use iteration_history::{CommitStrategy, Durability, History, IterationRecord, Options};
use iteration_history_testkit::records::{nums, rec};
use iteration_history_testkit::workload::{
    self, CheckOptions, NAME, Scenario, Stats, Step, check_trace, original_module_save,
};
use iteration_history_testkit::{CrashDir, CrashModel, Image};

const STRATEGIES: [CommitStrategy; 2] = [CommitStrategy::Append, CommitStrategy::Rewrite];

fn long_mode() -> bool {
    std::env::var("IH_CRASH_LONG").is_ok_and(|v| v == "1")
}

fn opts(s: CommitStrategy) -> Options {
    Options::default().strategy(s)
}

/// The crash model: the default, or in long mode far more samples of long
/// writes (temp files of the Rewrite strategy).
fn model() -> CrashModel {
    if long_mode() {
        CrashModel { byte_cut_limit: 16 * 1024, large_write_samples: 64, ..CrashModel::default() }
    } else {
        CrashModel::default()
    }
}

fn check_opts(reopen: Options) -> CheckOptions {
    CheckOptions { model: model(), reopen, ..CheckOptions::default() }
}

fn check(scenario: &Scenario, check: &CheckOptions) -> Stats {
    let started = std::time::Instant::now();
    let run = workload::run(scenario);
    let stats = check_trace(&scenario.label, &run, check);
    println!("{} ({:.1} s)", stats.summary(&scenario.label), started.elapsed().as_secs_f64());
    stats.assert_ok(&scenario.label);
    stats
}

/// Many saves and batches: the main workload.
fn saves_and_batches(n: u64) -> Vec<Step> {
    let mut steps = vec![Step::Open];
    let mut i = 0;
    while i < n {
        if i % 7 == 3 {
            steps.push(Step::Batch(vec![i, i + 1, i + 2]));
            i += 3;
        } else {
            steps.push(Step::Save(i));
            i += 1;
        }
    }
    steps
}

#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn saves_and_batches_survive_power_loss_after_every_operation() {
    let n = if long_mode() { 120 } else { 40 };
    for s in STRATEGIES {
        let sc = Scenario::new(format!("{s:?}: {n} records in saves and batches"), opts(s), saves_and_batches(n));
        let stats = check(&sc, &check_opts(opts(s)));
        assert!(stats.torn_tails > 0 || s == CommitStrategy::Rewrite, "torn tails were produced and recovered");
        assert!(stats.rolled_back > 0, "unacknowledged saves were lost in some states, as allowed");
    }
}

#[test]
fn a_short_workload_survives_power_loss_after_every_operation() {
    // The quick version of the test above, for every `cargo test`.
    for s in STRATEGIES {
        let sc = Scenario::new(
            format!("{s:?}: short"),
            opts(s),
            vec![Step::Open, Step::Save(0), Step::Batch(vec![1, 2]), Step::Save(3)],
        );
        let model = CrashModel { byte_cut_limit: 64, ..CrashModel::default() };
        check(&sc, &CheckOptions { model, reopen: opts(s), ..CheckOptions::default() });
    }
}

#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn clear_is_all_or_nothing_at_every_crash_point() {
    for s in STRATEGIES {
        let steps = vec![
            Step::Open,
            Step::Save(0),
            Step::Save(1),
            Step::Batch(vec![2, 3]),
            Step::Clear,
            Step::Save(4),
            Step::Clear,
            Step::Clear,
            Step::Save(5),
            Step::Batch(vec![6, 7]),
        ];
        let sc = Scenario::new(format!("{s:?}: clear"), opts(s), steps);
        check(&sc, &check_opts(opts(s)));
    }
}

#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn repair_and_compact_lose_nothing_at_any_crash_point() {
    for s in STRATEGIES {
        let steps = vec![
            Step::Open,
            Step::Save(0),
            Step::Save(1),
            Step::Batch(vec![2, 3, 4]),
            Step::Save(5),
            Step::Damage(1),
            Step::Repair,
            Step::Save(6),
            Step::Compact,
            Step::Save(7),
        ];
        let sc = Scenario::new(format!("{s:?}: repair and compact"), opts(s), steps);
        let reopen = opts(s).repair_on_open(true);
        check(&sc, &check_opts(reopen));
    }
}

/// A history written by the original Python module (no checksums), then
/// continued by us.
#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn continuing_a_python_written_history_survives_every_crash() {
    let sample = include_bytes!("../../../samples/history.jsonl").to_vec();
    let initial_records = History::open_read_only(
        {
            let d = MemDir::new();
            d.put(NAME, &sample);
            d
        },
        NAME,
    )
    .expect("reader")
    .get_all()
    .expect("sample reads");
    for s in STRATEGIES {
        let sc = Scenario {
            label: format!("{s:?}: continuing the Python sample"),
            options: opts(s),
            initial: Image::from([(NAME.to_string(), sample.clone())]),
            initial_records: initial_records.clone(),
            steps: vec![Step::Open, Step::Save(100), Step::Batch(vec![101, 102]), Step::Save(103)],
        };
        let model = CrashModel { byte_cut_limit: 1024, ..CrashModel::default() };
        check(&sc, &CheckOptions { model, reopen: opts(s), ..CheckOptions::default() });
    }
}

/// A crash while recovering from a crash: take post-crash states that need
/// recovery (a torn tail, a stale temp file), crash at every operation of
/// that recovery and of the next save, and check again.
#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn a_crash_during_recovery_loses_nothing() {
    let mut total = Stats::default();
    let mut cases = 0;
    for s in STRATEGIES {
        let sc = Scenario::new(format!("{s:?}"), opts(s), saves_and_batches(12));
        let run = workload::run(&sc);
        let model = CrashModel { byte_cut_limit: 64, max_images: 400, ..CrashModel::default() };
        let every = if long_mode() { 3 } else { 17 };
        let mut k = 0usize;
        for snap in &run.trace {
            for img in snap.crash_images(&model).images {
                let needs_recovery = {
                    let d = CrashDir::from_image(&img);
                    let names = d.names();
                    let reader = History::open_read_only(d.clone(), NAME).expect("reader");
                    let v = reader.verify().expect("verify");
                    v.torn_tail.is_some() || names.iter().any(|n| n.ends_with(".tmp"))
                };
                if !needs_recovery {
                    continue;
                }
                k += 1;
                if !k.is_multiple_of(every) {
                    continue;
                }
                let records: Vec<IterationRecord> = History::open_read_only(CrashDir::from_image(&img), NAME)
                    .expect("reader")
                    .get_all()
                    .expect("reader reads");
                let sc2 = Scenario {
                    label: format!("{s:?}: crash during recovery of a state after op {} ({})", snap.index, snap.op),
                    options: opts(s),
                    initial: img,
                    initial_records: records,
                    steps: vec![Step::Open, Step::Save(500), Step::Save(501)],
                };
                let run2 = workload::run(&sc2);
                let stats = check_trace(
                    &sc2.label,
                    &run2,
                    &CheckOptions { model: model.clone(), reopen: opts(s), ..CheckOptions::default() },
                );
                cases += 1;
                total.add(&stats);
            }
        }
    }
    println!("crash during recovery: {cases} recoveries crashed; {}", total.summary("second crash"));
    total.assert_ok("crash during recovery");
    assert!(cases >= 10, "enough recoveries were tried");
}

/// Threads saving at once are committed in groups (one write, one sync for
/// several saves). After a crash at any point: every acknowledged save is
/// there, each record once, unaltered, each thread's records in its order,
/// and the whole is a prefix of the final file.
#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn group_commits_of_concurrent_threads_survive_every_crash() {
    let (threads, per) = if long_mode() { (4u64, 25u64) } else { (4, 8) };
    for s in STRATEGIES {
        // Slow syncs make threads queue behind the one committing.
        let dir = CrashDir::new().with_sync_delay(std::time::Duration::from_millis(3));
        dir.record();
        let h = Arc::new(History::open(dir.clone(), NAME, opts(s)).expect("open"));
        let acks = Arc::new(std::sync::Mutex::new(Vec::<(u64, u64)>::new()));
        std::thread::scope(|sc| {
            for t in 0..threads {
                let (h, acks, dir) = (h.clone(), acks.clone(), dir.clone());
                sc.spawn(move || {
                    for i in 0..per {
                        let n = t * 1000 + i;
                        h.save(&rec(n)).expect("save");
                        // Read the counter the moment `save` returns (before
                        // taking the list's lock, which other threads hold).
                        let at = dir.mutations();
                        acks.lock().expect("acks").push((n, at));
                    }
                });
            }
        });
        let final_records = h.get_all().expect("all");
        drop(h);
        let trace = dir.take_trace();
        let acks = acks.lock().expect("acks").clone();
        let model = CrashModel { byte_cut_limit: 1024, ..CrashModel::default() };
        let mut stats = Stats::default();
        // Commits: appends to the history, or renames over it.
        let commits = trace
            .iter()
            .filter(|t| t.op.starts_with("write_at h.jsonl") || t.op.ends_with(&format!("-> {NAME}")))
            .count() as u64;
        for snap in &trace {
            let acked: Vec<u64> = acks.iter().filter(|(_, at)| *at <= snap.index).map(|(n, _)| *n).collect();
            let images = snap.crash_images(&model);
            stats.points += 1;
            for img in &images.images {
                stats.images += 1;
                let d = CrashDir::from_image(img);
                let got = match History::open(d, NAME, opts(s)).and_then(|h| h.get_all()) {
                    Ok(g) => g,
                    Err(e) => {
                        stats.failed += 1;
                        stats.failures.push(format!("op {} ({}): reopen: {e}", snap.index, snap.op));
                        continue;
                    }
                };
                let ok = got.len() <= final_records.len()
                    && got[..] == final_records[..got.len()]
                    && acked.iter().all(|n| got.iter().any(|r| r.iteration_num == *n));
                if !ok {
                    stats.failed += 1;
                    stats.failures.push(format!(
                        "op {} ({}): got {:?}, acked {acked:?}, final {:?}",
                        snap.index,
                        snap.op,
                        nums(&got),
                        nums(&final_records)
                    ));
                }
            }
        }
        let label = format!("{s:?}: {threads} threads x {per} saves in {commits} group commits");
        println!("{}", stats.short(&label));
        stats.assert_ok(&label);
        assert!(commits < threads * per, "{label}: some saves were committed together");
        assert_eq!(final_records.len() as u64, threads * per);
    }
}

/// The simulator can fail: the original module's algorithm (rewrite to
/// `<file>.tmp`, rename, no sync) loses acknowledged saves, and with them
/// the whole history, in some post-crash states.
#[test]
fn the_original_modules_algorithm_loses_data_in_the_simulator() {
    let sample = include_bytes!("../../../samples/history.jsonl").to_vec();
    let dir = CrashDir::from_image(&Image::from([(NAME.to_string(), sample.clone())]));
    dir.record();
    let mut acked: Vec<(Vec<u8>, u64)> = Vec::new();
    for n in 100..103 {
        let line = iteration_history::codec::encode_line(&rec(n)).expect("line");
        original_module_save(&dir, NAME, &line).expect("save");
        acked.push((line, dir.mutations()));
    }
    let trace = dir.take_trace();
    let (mut states, mut losing, mut empty) = (0u64, 0u64, 0u64);
    for snap in &trace {
        let model = CrashModel { byte_cut_limit: 64, max_images: 300, ..CrashModel::default() };
        for img in snap.crash_images(&model).images {
            states += 1;
            let file = img.get(NAME).cloned().unwrap_or_default();
            let lost_sample = !file.starts_with(&sample);
            let lost_acked = acked
                .iter()
                .filter(|(_, at)| *at <= snap.index)
                .any(|(line, _)| !file.windows(line.len()).any(|w| w == line.as_slice()));
            if lost_sample || lost_acked {
                losing += 1;
            }
            empty += u64::from(file.is_empty());
        }
    }
    println!(
        "original module (tmp + rename, no sync): {states} post-crash states, {losing} lose acknowledged records, {empty} leave an empty history"
    );
    assert!(losing > 0 && empty > 0, "the simulator must catch the original module's data loss");
}

/// `Durability::None` survives a process crash (the page cache is kept) but
/// not a power loss, as documented.
#[test]
fn durability_none_survives_a_process_crash_but_not_a_power_loss() {
    let dir = CrashDir::new();
    let h = History::open(dir.clone(), NAME, Options::default().durability(Durability::None)).expect("open");
    for n in 0..5 {
        h.save(&rec(n)).expect("save");
    }
    let snap = dir.snapshot();
    drop(h);
    let after_process_crash = History::open(snap.process_crash(), NAME, Options::default()).expect("reopen");
    assert_eq!(nums(&after_process_crash.get_all().expect("all")), vec![0, 1, 2, 3, 4]);
    let lost = snap
        .crash_images(&CrashModel { byte_cut_limit: 64, ..CrashModel::default() })
        .images
        .iter()
        .filter(|img| {
            History::open(CrashDir::from_image(img), NAME, Options::default())
                .and_then(|h| h.get_all())
                .map_or(true, |r| r.len() < 5)
        })
        .count();
    assert!(lost > 0, "a power loss loses unsynced saves");
}

/// The same checks on a directory without OS locks (WASI): the writer uses
/// a lease file, whose creation, renewal and removal also go through
/// crashes. Every post-crash state holds exactly the records of a model step
/// between the last acknowledged save and the last started one, accepts a
/// new save that survives a second power loss, and a process crash at every
/// point is followed by a save and a power loss.
#[test]
#[ignore = "heavy: run by scripts/test-crash"]
fn lease_lock_histories_survive_every_crash() {
    let dir = CrashDir::new().without_os_locks();
    dir.record();
    let o = Options::default().lease(std::time::Duration::from_millis(1));
    let mut models = vec![Vec::new()];
    let mut spans = Vec::new();
    let start = dir.mutations();
    let h = History::open(dir.clone(), NAME, o.clone()).expect("open");
    spans.push((start, dir.mutations()));
    models.push(Vec::new());
    for n in 0..8 {
        // Past the 1 ms lease: each save renews it.
        std::thread::sleep(std::time::Duration::from_millis(2));
        let start = dir.mutations();
        h.save(&rec(n)).expect("save");
        spans.push((start, dir.mutations()));
        let mut m = models.last().cloned().unwrap_or_default();
        m.push(rec(n));
        models.push(m);
    }
    assert_eq!(h.get_all().expect("all"), models[models.len() - 1]);
    drop(h);
    // Checked after the run: every crashed writer's 1 ms lease has expired.
    std::thread::sleep(std::time::Duration::from_millis(2));
    let run = workload::Run { trace: dir.take_trace(), models, spans };
    let label = "lease lock (no OS locks, as under WASI)";
    let model = CrashModel { byte_cut_limit: 256, ..CrashModel::default() };
    // A check's writer renews its lease when it saves; the reopens after
    // the second power loss wait for that lease to expire.
    let reopen = o.lock_timeout(Some(std::time::Duration::from_millis(200)));
    let stats = check_trace(label, &run, &CheckOptions { model, reopen, os_locks: false, ..CheckOptions::default() });
    println!("{}", stats.summary(label));
    stats.assert_ok(label);
    assert!(stats.process_crashes > 0 && stats.second_crash_images > 0, "process crashes and second power losses ran");
}

#[test]
fn memdir_and_crashdir_agree_on_a_workload() {
    // The simulator behaves like a plain directory when nothing crashes.
    let a = CrashDir::new();
    let b = MemDir::new();
    for d in [Arc::new(a.clone()) as Arc<dyn Dir>, Arc::new(b.clone())] {
        let h = History::open_shared(d, NAME, Options::default()).expect("open");
        h.save_batch(&[rec(1), rec(2)]).expect("batch");
        h.save(&rec(3)).expect("save");
        h.clear().expect("clear");
        h.save(&rec(4)).expect("save");
    }
    assert_eq!(a.contents(NAME), b.contents(NAME));
}
