//! Scripted workloads on a recording [`CrashDir`], and the checks every
//! post-crash state must pass.
//!
//! A [`Scenario`] is a starting directory and a list of [`Step`]s. [`run`]
//! executes it once with the real `History` on a recording `CrashDir`,
//! keeping a snapshot after every changing operation and, for each step, the
//! model of the history after it. [`check_trace`] then crashes at every
//! snapshot, enumerates the disk images a power loss may leave, and checks
//! each one ([`check_image`]):
//!
//! 1. a reader and a writer open it; the writer's recovery succeeds;
//! 2. the records are exactly the model after some step between the last
//!    acknowledged one and the last one started: every acknowledged save is
//!    there, nothing is duplicated or altered, and what is there is a prefix
//!    of what was attempted (whole batches, whole clears);
//! 3. whatever recovery reports, the history's bytes are all still in the
//!    directory: what a writer cut off is in a sidecar file (`.torn.<n>`),
//!    what a repair moved is in the history or a sidecar; no temp file is
//!    left (the same check after a process crash);
//! 4. the history accepts a new save, and that save survives a second power
//!    loss right after it (so recovery left everything durable).

use std::fmt::Write as _;
use std::sync::Mutex;

use iteration_history::storage::{Dir, FileName, WriteFile};
use iteration_history::{History, IterationRecord, Options, codec};

use crate::crash::{CrashDir, CrashModel, Image, Snapshot};
use crate::records::{nums, rec};

/// The history file name used by the workloads.
pub const NAME: &str = "h.jsonl";

/// `iteration_num` of the save a check makes after recovery.
pub const PROBE: u64 = 900_000;

/// One step of a workload.
#[derive(Clone, Debug)]
pub enum Step {
    /// `History::open` (the model is unchanged); after the first, the open
    /// writer is closed first, as a new process would.
    Open,
    /// `save(rec(n))`.
    Save(u64),
    /// `save_batch` of `rec(n)` for each `n`.
    Batch(Vec<u64>),
    /// `clear()`.
    Clear,
    /// Flips a byte in the middle of the `i`-th record's line (0-based),
    /// durably, through another handle: bit rot. The record is gone from the
    /// model (reopening with `repair_on_open` moves it to a sidecar).
    Damage(usize),
    /// `repair()`.
    Repair,
    /// `compact()`.
    Compact,
}

/// A workload.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Shown in messages.
    pub label: String,
    /// Options of the writer.
    pub options: Options,
    /// The directory before the first step (durable).
    pub initial: Image,
    /// The records `initial` holds.
    pub initial_records: Vec<IterationRecord>,
    /// The steps (the first is normally [`Step::Open`]).
    pub steps: Vec<Step>,
}

impl Scenario {
    /// An empty directory, then `steps`.
    pub fn new(label: impl Into<String>, options: Options, steps: Vec<Step>) -> Self {
        Scenario { label: label.into(), options, initial: Image::new(), initial_records: Vec::new(), steps }
    }
}

/// A workload that ran.
#[derive(Debug)]
pub struct Run {
    /// Snapshots after every changing operation (index 0: before any).
    pub trace: Vec<Snapshot>,
    /// The model after each step (`models[0]`: before the first).
    pub models: Vec<Vec<IterationRecord>>,
    /// Changing-operation counter at the start and end of each step.
    pub spans: Vec<(u64, u64)>,
}

impl Run {
    /// The models a crash after snapshot `k` may legitimately leave: from
    /// the last step acknowledged by then to the last step started.
    pub fn allowed(&self, k: u64) -> &[Vec<IterationRecord>] {
        let acked = self.spans.iter().filter(|(_, end)| *end <= k).count();
        let started = self.spans.iter().filter(|(start, _)| *start < k).count();
        &self.models[acked..=started.max(acked)]
    }
}

/// Runs `scenario` once on a recording `CrashDir`; panics if a step fails.
pub fn run(scenario: &Scenario) -> Run {
    let dir = CrashDir::from_image(&scenario.initial);
    dir.record();
    let mut models = vec![scenario.initial_records.clone()];
    let mut spans = Vec::new();
    let mut history: Option<History> = None;
    for step in &scenario.steps {
        let start = dir.mutations();
        let mut model = models.last().cloned().unwrap_or_default();
        let h = || history.as_ref().expect("Step::Open first");
        match step {
            Step::Open => {
                // A second `Open` closes the writer first (a new process).
                drop(history.take());
                history = Some(
                    History::open(dir.clone(), NAME, scenario.options.clone())
                        .unwrap_or_else(|e| panic!("{}: open: {e}", scenario.label)),
                );
            }
            Step::Save(n) => {
                h().save(&rec(*n)).unwrap_or_else(|e| panic!("{}: save {n}: {e}", scenario.label));
                model.push(rec(*n));
            }
            Step::Batch(ns) => {
                let recs: Vec<_> = ns.iter().map(|&n| rec(n)).collect();
                h().save_batch(&recs).unwrap_or_else(|e| panic!("{}: batch: {e}", scenario.label));
                model.extend(recs);
            }
            Step::Clear => {
                h().clear().unwrap_or_else(|e| panic!("{}: clear: {e}", scenario.label));
                model.clear();
            }
            Step::Damage(i) => {
                damage_line(&dir, *i);
                model.remove(*i);
            }
            Step::Repair => {
                h().repair().unwrap_or_else(|e| panic!("{}: repair: {e}", scenario.label));
            }
            Step::Compact => {
                h().compact().unwrap_or_else(|e| panic!("{}: compact: {e}", scenario.label));
            }
        }
        spans.push((start, dir.mutations()));
        models.push(model);
    }
    if let Some(h) = &history {
        let got = h.get_all().expect("final read");
        assert_eq!(nums(&got), nums(models.last().expect("model")), "{}: final state", scenario.label);
    }
    drop(history);
    Run { trace: dir.take_trace(), models, spans }
}

/// Flips a byte inside the strategy code of line `i` (0-based) and syncs.
fn damage_line(dir: &CrashDir, i: usize) {
    let data = dir.contents(NAME).expect("history exists");
    let start: usize = data.split_inclusive(|&b| b == b'\n').take(i).map(<[u8]>::len).sum();
    let at = start + 40;
    let name = FileName::new(NAME).expect("name");
    let mut f = dir.open_write(&name).expect("open");
    let flipped = if data[at] == b'x' { b'y' } else { b'x' };
    f.write_at(&[flipped], at as u64).expect("damage");
    f.sync_data().expect("sync");
}

/// Counts of a crash check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Crash points (snapshots) tried.
    pub points: u64,
    /// Distinct disk images checked.
    pub images: u64,
    /// Combinations generated before deduplication.
    pub generated: u64,
    /// Points whose images were sampled (more than `max_images`).
    pub sampled_points: u64,
    /// Images where recovery moved a torn tail aside.
    pub torn_tails: u64,
    /// Images where the outcome was an earlier model than the last one
    /// started (an unacknowledged step lost, as allowed).
    pub rolled_back: u64,
    /// Process crashes followed by a new writer and a power loss.
    pub process_crashes: u64,
    /// Images after those power losses.
    pub second_crash_images: u64,
    /// Failures (each described in `failures`).
    pub failed: u64,
    /// The first failures, described.
    pub failures: Vec<String>,
}

impl Stats {
    /// Adds another run's counts (keeping at most 10 failure messages).
    pub fn add(&mut self, o: &Stats) {
        self.points += o.points;
        self.images += o.images;
        self.generated += o.generated;
        self.sampled_points += o.sampled_points;
        self.torn_tails += o.torn_tails;
        self.rolled_back += o.rolled_back;
        self.process_crashes += o.process_crashes;
        self.second_crash_images += o.second_crash_images;
        self.failed += o.failed;
        for f in &o.failures {
            if self.failures.len() < 10 {
                self.failures.push(f.clone());
            }
        }
    }

    fn fail(&mut self, what: String) {
        self.failed += 1;
        if self.failures.len() < 10 {
            self.failures.push(what);
        }
    }

    /// One line for the test output.
    pub fn summary(&self, label: &str) -> String {
        format!(
            "{label}: {} crash points, {} distinct post-crash states checked ({} generated{}), {} torn tails moved aside, {} unacknowledged steps rolled back, {} process crashes + {} states after a second power loss; {} failed",
            self.points,
            self.images,
            self.generated,
            if self.sampled_points > 0 { format!(", {} points sampled", self.sampled_points) } else { String::new() },
            self.torn_tails,
            self.rolled_back,
            self.process_crashes,
            self.second_crash_images,
            self.failed
        )
    }

    /// One short line (crash points, states, failures) for checks that
    /// fill in only those.
    pub fn short(&self, label: &str) -> String {
        format!(
            "{label}: {} crash points, {} distinct post-crash states checked; {} failed",
            self.points, self.images, self.failed
        )
    }

    /// Panics listing the failures, if any.
    pub fn assert_ok(&self, label: &str) {
        assert!(self.failed == 0, "{}\n{}", self.summary(label), self.failures.join("\n---\n"));
    }
}

/// What a check does besides the power-loss images.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The crash model.
    pub model: CrashModel,
    /// Options a checker reopens with (e.g. `repair_on_open`).
    pub reopen: Options,
    /// Also simulate a process crash at every point: a new writer continues
    /// from the page cache, saves, and then the power fails.
    pub process_crashes: bool,
    /// Check only every `stride`-th snapshot (1: all).
    pub stride: usize,
    /// Whether the post-crash directories have OS locks (`false`: as under
    /// WASI, the writers use a lease file).
    pub os_locks: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            model: CrashModel::default(),
            reopen: Options::default(),
            process_crashes: true,
            stride: 1,
            os_locks: true,
        }
    }
}

fn describe(image: &Image) -> String {
    let mut s = String::new();
    for (name, data) in image {
        let _ = write!(s, "{name} ({} bytes) ", data.len());
    }
    s
}

fn matches_one(records: &[IterationRecord], allowed: &[Vec<IterationRecord>]) -> Option<usize> {
    allowed.iter().position(|m| m.as_slice() == records)
}

/// What [`check_image`] found, when it passed.
#[derive(Debug)]
pub struct ImageOutcome {
    /// Which allowed model it matched.
    pub matched: usize,
    /// Whether recovery moved a torn tail aside.
    pub torn_tail: bool,
}

/// Checks one post-crash disk image (see the [module docs](self)).
///
/// # Errors
/// What went wrong, for the failure list.
pub fn check_image(image: &Image, allowed: &[Vec<IterationRecord>], reopen: &Options) -> Result<ImageOutcome, String> {
    check_image_with(image, allowed, reopen, true)
}

/// A directory holding `image`, with or without OS locks.
fn crashed_dir(image: &Image, os_locks: bool) -> CrashDir {
    let dir = CrashDir::from_image(image);
    if os_locks { dir } else { dir.without_os_locks() }
}

/// [`check_image`] on a directory with or without OS locks.
///
/// # Errors
/// What went wrong, for the failure list.
pub fn check_image_with(
    image: &Image,
    allowed: &[Vec<IterationRecord>],
    reopen: &Options,
    os_locks: bool,
) -> Result<ImageOutcome, String> {
    let dir = crashed_dir(image, os_locks);
    let show = |v: &[Vec<IterationRecord>]| v.iter().map(|m| nums(m)).collect::<Vec<_>>();
    let reader = History::open_read_only(dir.clone(), NAME).map_err(|e| format!("read-only open: {e}"))?;
    let seen = reader.get_all();
    let h = History::open(dir.clone(), NAME, reopen.clone()).map_err(|e| format!("reopen for writing: {e}"))?;
    let records = h.get_all().map_err(|e| format!("get_all after reopen: {e}"))?;
    let Some(matched) = matches_one(&records, allowed) else {
        return Err(format!("records {:?} are none of the allowed {:?}", nums(&records), show(allowed)));
    };
    // A reader ignores a torn tail exactly as recovery cuts it off; only a
    // repair on open (bad lines in the middle) makes them differ.
    let repaired = h.recovery_report().and_then(|r| r.repaired.as_ref()).is_some();
    match seen {
        Ok(seen) if seen == records => {}
        _ if repaired => {}
        Ok(seen) => {
            return Err(format!("a reader saw {:?} but the writer recovered {:?}", nums(&seen), nums(&records)));
        }
        Err(e) => return Err(format!("reader: {e}")),
    }
    if h.count().map_err(|e| e.to_string())? != records.len() as u64
        || h.last_iteration_num().map_err(|e| e.to_string())? != records.last().map(|r| r.iteration_num)
    {
        return Err("count or last_iteration_num disagree with the records".into());
    }
    let report = h.recovery_report().cloned().unwrap_or_default();
    let names = dir.names();
    if let Some(t) = names.iter().find(|n| n.ends_with(".tmp")) {
        return Err(format!("temp file {t} left after recovery"));
    }
    let before = image.get(NAME).cloned().unwrap_or_default();
    let mut torn_tail = false;
    if let Some(t) = &report.torn_tail {
        torn_tail = true;
        let kept = dir.contents(&t.sidecar).unwrap_or_default();
        if kept != before[t.offset as usize..] {
            return Err(format!("torn tail at byte {} not kept whole in {}", t.offset, t.sidecar));
        }
    }
    nothing_dropped(&before, &dir, repaired, &records)?;
    // The history accepts a new save, which then survives a power loss.
    h.save(&rec(PROBE)).map_err(|e| format!("a new save after recovery failed: {e}"))?;
    let mut expected = records.clone();
    expected.push(rec(PROBE));
    let after = h.get_all().map_err(|e| e.to_string())?;
    if after != expected {
        return Err(format!("after a new save: {:?}, expected {:?}", nums(&after), nums(&expected)));
    }
    let snap = dir.snapshot();
    drop(h);
    for (what, img) in [("nothing unsynced", snap.durable_image()), ("everything", snap.live_image())] {
        let again = History::open(crashed_dir(&img, os_locks), NAME, reopen.clone())
            .map_err(|e| format!("second power loss ({what} kept): reopen: {e}"))?;
        let got = again.get_all().map_err(|e| e.to_string())?;
        if got != expected {
            return Err(format!(
                "second power loss ({what} kept) after an acknowledged save: {:?}, expected {:?}",
                nums(&got),
                nums(&expected)
            ));
        }
    }
    Ok(ImageOutcome { matched, torn_tail })
}

/// Whatever recovery reported: the history's bytes before a writer opened
/// it (`before`) are all still in the directory. Either the history is
/// unchanged (or only gained the `\n` that ends an unterminated last line),
/// or it is a prefix of `before` and another file holds exactly the bytes
/// cut off; after a repair, every line of `before` is in the history or in
/// another file, or is a valid line whose record the writer returns (repair
/// drops the commit tags of batch lines) or a blank line.
fn nothing_dropped(before: &[u8], dir: &CrashDir, repaired: bool, records: &[IterationRecord]) -> Result<(), String> {
    let now = dir.contents(NAME).unwrap_or_default();
    if now == before || (now.len() == before.len() + 1 && now.starts_with(before) && now.ends_with(b"\n")) {
        return Ok(());
    }
    let others: Vec<(String, Vec<u8>)> =
        dir.names().into_iter().filter(|n| n != NAME).filter_map(|n| dir.contents(&n).map(|c| (n, c))).collect();
    let contains = |hay: &[u8], needle: &[u8]| needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle);
    if repaired {
        for (i, line) in before.split_inclusive(|&b| b == b'\n').enumerate() {
            let kept = contains(&now, line)
                || others.iter().any(|(_, c)| contains(c, line))
                || codec::is_blank(line)
                || codec::decode_line(line).is_ok_and(|(r, _)| records.contains(&r));
            if !kept {
                return Err(format!(
                    "repair on open dropped line {} ({} bytes): in no file of the directory",
                    i + 1,
                    line.len()
                ));
            }
        }
        return Ok(());
    }
    if !before.starts_with(&now) {
        return Err(format!(
            "opening for writing changed the history's bytes ({} -> {} bytes) other than by cutting a tail",
            before.len(),
            now.len()
        ));
    }
    let cut = &before[now.len()..];
    if others.iter().any(|(_, c)| c.as_slice() == cut) {
        Ok(())
    } else {
        Err(format!(
            "recovery cut {} bytes off at byte {} and no sidecar holds exactly them (files: {:?})",
            cut.len(),
            now.len(),
            others.iter().map(|(n, c)| format!("{n} ({} bytes)", c.len())).collect::<Vec<_>>()
        ))
    }
}

/// A process crash at `snap`: a new writer continues from the page cache,
/// recovers, saves, and then the power fails in every possible way.
fn check_process_crash(
    snap: &Snapshot,
    allowed: &[Vec<IterationRecord>],
    opts: &CheckOptions,
    stats: &mut Stats,
) -> Result<(), String> {
    let dir = if opts.os_locks { snap.process_crash() } else { snap.process_crash().without_os_locks() };
    let before = dir.contents(NAME).unwrap_or_default();
    let h = History::open(dir.clone(), NAME, opts.reopen.clone()).map_err(|e| format!("reopen: {e}"))?;
    let records = h.get_all().map_err(|e| e.to_string())?;
    if matches_one(&records, allowed).is_none() {
        return Err(format!("after a process crash: {:?}", nums(&records)));
    }
    let repaired = h.recovery_report().and_then(|r| r.repaired.as_ref()).is_some();
    nothing_dropped(&before, &dir, repaired, &records).map_err(|e| format!("after a process crash: {e}"))?;
    h.save(&rec(PROBE)).map_err(|e| format!("save after a process crash: {e}"))?;
    let mut expected = records;
    expected.push(rec(PROBE));
    let final_snap = dir.snapshot();
    drop(h);
    let images = final_snap.crash_images(&opts.model);
    stats.process_crashes += 1;
    for img in &images.images {
        stats.second_crash_images += 1;
        let h = History::open(crashed_dir(img, opts.os_locks), NAME, opts.reopen.clone())
            .map_err(|e| format!("power loss after process crash + save: reopen: {e} [{}]", describe(img)))?;
        let got = h.get_all().map_err(|e| e.to_string())?;
        if got != expected {
            return Err(format!(
                "power loss after process crash + acknowledged save: {:?}, expected {:?} [{}]",
                nums(&got),
                nums(&expected),
                describe(img)
            ));
        }
    }
    Ok(())
}

/// Crashes after every snapshot of `run` and checks every image (on two
/// threads). Returns the counts; failures are in [`Stats::failures`].
pub fn check_trace(label: &str, run: &Run, opts: &CheckOptions) -> Stats {
    let total = Mutex::new(Stats::default());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
    std::thread::scope(|s| {
        for t in 0..threads {
            let total = &total;
            s.spawn(move || {
                let mut stats = Stats::default();
                for (i, snap) in run.trace.iter().enumerate() {
                    if i % threads != t || (i % opts.stride.max(1) != 0 && i + 1 != run.trace.len()) {
                        continue;
                    }
                    check_snapshot(label, run, snap, opts, &mut stats);
                }
                total.lock().unwrap_or_else(|e| e.into_inner()).add(&stats);
            });
        }
    });
    total.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn check_snapshot(label: &str, run: &Run, snap: &Snapshot, opts: &CheckOptions, stats: &mut Stats) {
    let allowed = run.allowed(snap.index);
    let images = snap.crash_images(&opts.model);
    stats.points += 1;
    stats.generated += images.generated;
    if images.sampled {
        stats.sampled_points += 1;
    }
    for img in &images.images {
        stats.images += 1;
        match check_image_with(img, allowed, &opts.reopen, opts.os_locks) {
            Ok(o) => {
                stats.torn_tails += u64::from(o.torn_tail);
                stats.rolled_back += u64::from(o.matched + 1 < allowed.len());
            }
            Err(e) => stats.fail(format!(
                "{label}: crash after op {} ({}): {e}\n  image: {}",
                snap.index,
                snap.op,
                describe(img)
            )),
        }
    }
    if opts.process_crashes
        && let Err(e) = check_process_crash(snap, allowed, opts, stats)
    {
        stats.fail(format!("{label}: process crash after op {} ({}): {e}", snap.index, snap.op));
    }
}

/// The original Python module's save, on any [`Dir`]: read the whole
/// history, write it plus the new line to the fixed name `<file>.tmp`
/// (truncating), rename over the history. No sync anywhere.
pub fn original_module_save(dir: &dyn Dir, file: &str, line: &[u8]) -> std::io::Result<()> {
    let name = FileName::new(file).map_err(std::io::Error::other)?;
    let tmp = FileName::new(&format!("{file}.tmp")).map_err(std::io::Error::other)?;
    let mut data = match dir.open_read(&name) {
        Ok(f) => {
            let mut buf = vec![0u8; f.len()? as usize];
            iteration_history::storage::read_exact_at(&*f, &mut buf, 0)?;
            buf
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    data.extend_from_slice(line);
    let mut f: Box<dyn WriteFile> = match dir.open_write(&tmp) {
        Ok(mut f) => {
            f.set_len(0)?;
            f
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => dir.create_new(&tmp)?,
        Err(e) => return Err(e),
    };
    f.write_at(&data, 0)?;
    drop(f);
    dir.rename(&tmp, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &[u8])]) -> CrashDir {
        CrashDir::from_image(&files.iter().map(|(n, c)| (n.to_string(), c.to_vec())).collect())
    }

    #[test]
    fn bytes_cut_off_without_a_sidecar_fail_the_check() {
        let before = b"{\"a\":1}\n{\"b\":";
        let cut = dir_with(&[(NAME, b"{\"a\":1}\n")]);
        assert!(nothing_dropped(before, &cut, false, &[]).is_err(), "cut, no sidecar");
        let kept = dir_with(&[(NAME, b"{\"a\":1}\n"), ("h.jsonl.torn.1", b"{\"b\":")]);
        assert!(nothing_dropped(before, &kept, false, &[]).is_ok(), "cut, sidecar holds it");
        let partly = dir_with(&[(NAME, b"{\"a\":1}\n"), ("h.jsonl.torn.1", b"{\"b")]);
        assert!(nothing_dropped(before, &partly, false, &[]).is_err(), "the sidecar holds only part");
        let changed = dir_with(&[(NAME, b"{\"a\":2}\n")]);
        assert!(nothing_dropped(before, &changed, false, &[]).is_err(), "changed, not cut");
        let ended = dir_with(&[(NAME, b"{\"a\":1}\n{\"b\":\n")]);
        assert!(nothing_dropped(before, &ended, false, &[]).is_ok(), "a final newline added");
        let repaired = dir_with(&[(NAME, b"")]);
        assert!(nothing_dropped(before, &repaired, true, &[]).is_err(), "a repair that dropped lines");
    }
}
