//! The host side: replay a workload's log at every point and check it.
//!
//! A *point* is every FLUSH, every FUA write and every mark after the
//! `mkfs` mark. At each point the disk is rebuilt from the log onto a fresh
//! sparse image ([`Log::replay`]), its journal is replayed with
//! `e2fsck -E journal_only` (what the kernel does when it mounts), and then:
//! 1. `e2fsck -fn` finds nothing to fix;
//! 2. the history's directory is extracted with `debugfs rdump`;
//! 3. the history file starts with every byte acknowledged before the
//!    point (or, if an operation was in flight, is exactly its result);
//! 4. a reader ([`History::open_read_only`]) and a writer
//!    ([`History::open`]) see exactly the acknowledged records, or those
//!    plus the whole in-flight operation — never part of a batch, never a
//!    record twice, every record equal to what was saved;
//! 5. what a writer moved aside (a torn tail) is in its sidecar: nothing
//!    on disk is dropped; every acknowledged damaged line is still in the
//!    history or a sidecar;
//! 6. the recovered history accepts a new save, and a fresh reader sees it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use iteration_history::storage::CapStdDir;
use iteration_history::{History, IterationRecord, Options};

use crate::log_format::{Entry, Log};
use crate::marks::Mark;
use crate::model::State;
use crate::records::{PROBE, garbage_line, record};
use crate::workloads::HISTORY;

/// What to check.
#[derive(Clone, Debug)]
pub struct Config {
    /// The log disk image.
    pub log: PathBuf,
    /// Size in bytes of the data disk the log was taken of.
    pub image_size: u64,
    /// A scratch directory (images and extracted files).
    pub work: PathBuf,
    /// Points checked at once.
    pub jobs: usize,
    /// The history's directory inside the file system.
    pub dir_in_fs: String,
    /// Check only every `stride`-th point (1: all).
    pub stride: usize,
}

/// One point checked and what was wrong there.
#[derive(Clone, Debug)]
pub struct PointResult {
    /// Index of the log entry.
    pub entry: usize,
    /// `FLUSH`, `FUA`, `FLUSH|FUA` or `MARK`.
    pub kind: &'static str,
    /// The mark's text, for a mark.
    pub mark: Option<String>,
    /// Operations acknowledged before the point.
    pub acked: usize,
    /// Problems found (empty: the point passed).
    pub problems: Vec<String>,
    /// Acknowledged records missing there: the history file is gone, or a
    /// reader or a writer does not return them. A point can fail without
    /// losing a record (e.g. `e2fsck` finds damage); this tells them apart.
    pub lost: Vec<u64>,
    /// What the history held there.
    pub seen: Seen,
}

/// What the history file held at a point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Seen {
    /// Exactly the acknowledged bytes.
    #[default]
    Acknowledged,
    /// The acknowledged bytes and part of the operation in flight (a torn
    /// tail, which a writer moves aside).
    TornTail,
    /// The result of the operation in flight, complete though not yet
    /// acknowledged.
    InFlightDone,
    /// Something else (a failed point).
    Other,
}

/// The outcome of checking one log.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The workload named by the log's end mark.
    pub workload: Option<String>,
    /// Number of entries in the log.
    pub entries: usize,
    /// Operations acknowledged (operation marks in the log).
    pub ops: usize,
    /// Every point checked, in log order.
    pub points: Vec<PointResult>,
    /// Problems with the run itself (a missing end mark, the writer and the
    /// model disagreeing): the points prove nothing then.
    pub run_problems: Vec<String>,
    /// Seconds spent.
    pub seconds: f64,
}

impl Report {
    /// Points with problems.
    pub fn failed(&self) -> impl Iterator<Item = &PointResult> {
        self.points.iter().filter(|p| !p.problems.is_empty())
    }

    /// Points where acknowledged records were missing.
    pub fn lost(&self) -> impl Iterator<Item = &PointResult> {
        self.points.iter().filter(|p| !p.lost.is_empty())
    }

    /// Number of points of each kind.
    pub fn kinds(&self) -> Vec<(&'static str, usize)> {
        let mut out: Vec<(&'static str, usize)> = Vec::new();
        for p in &self.points {
            match out.iter_mut().find(|(k, _)| *k == p.kind) {
                Some((_, n)) => *n += 1,
                None => out.push((p.kind, 1)),
            }
        }
        out
    }

    /// Number of points at which the history held each [`Seen`].
    pub fn seen(&self, what: Seen) -> usize {
        self.points.iter().filter(|p| p.seen == what).count()
    }
}

/// An expected state and how to name it in messages.
struct Expect {
    label: String,
    state: State,
    content: Vec<u8>,
    records: Vec<u64>,
}

/// Checks every point of the log in `cfg`.
///
/// # Errors
/// The log cannot be read, has no `mkfs` mark, or a tool cannot be run.
pub fn check(cfg: &Config) -> Result<Report, String> {
    let started = Instant::now();
    let log = Log::open(&cfg.log).map_err(|e| e.to_string())?;
    let entries = log.entries();
    let mkfs = log.find_mark("mkfs").ok_or_else(|| format!("{}: no `mkfs` mark", cfg.log.display()))?;
    let mut report = Report { entries: entries.len(), ..Report::default() };

    // The timeline: expected state after each acknowledged operation.
    let mut expects = vec![Expect {
        label: "before any operation".into(),
        state: State::default(),
        content: Vec::new(),
        records: Vec::new(),
    }];
    // acked[e]: operations acknowledged at or before entry e.
    let mut acked = Vec::with_capacity(entries.len());
    let mut ready = None;
    for e in entries {
        if let Some(text) = &e.mark {
            match Mark::parse(text) {
                Ok(Mark::Op { op, len, .. }) => {
                    let state = expects.last().map(|x| x.state.apply(op)).unwrap_or_default();
                    let content = state.content();
                    if content.len() as u64 != len {
                        report.run_problems.push(format!(
                            "after `{text}` the writer's history had {len} bytes, the model expects {}",
                            content.len()
                        ));
                    }
                    let records = state.records();
                    expects.push(Expect { label: format!("`{text}` (entry {})", e.index), state, content, records });
                }
                Ok(Mark::Ready) => ready = Some(e.index),
                Ok(Mark::End { workload, ops }) => {
                    if ops as usize != expects.len() - 1 {
                        report.run_problems.push(format!(
                            "the end mark says {ops} operations, the log has {} operation marks",
                            expects.len() - 1
                        ));
                    }
                    report.workload = Some(workload);
                }
                Ok(_) => {}
                Err(err) => report.run_problems.push(err),
            }
        }
        acked.push(expects.len() - 1);
    }
    report.ops = expects.len() - 1;
    if report.workload.is_none() {
        report.run_problems.push("no end mark: the workload did not finish".into());
    }

    let points: Vec<&Entry> = entries
        .iter()
        .skip(mkfs + 1)
        .filter(|e| e.is_barrier() || e.mark.is_some())
        .step_by(cfg.stride.max(1))
        .collect();
    fs::create_dir_all(&cfg.work).map_err(|e| format!("creating {}: {e}", cfg.work.display()))?;
    let conf = cfg.work.join("e2fsck.conf");
    // The guest's clock is not the host's: no time checks.
    fs::write(&conf, "[options]\n\tbroken_system_clock = 1\n")
        .map_err(|e| format!("writing {}: {e}", conf.display()))?;

    let jobs = cfg.jobs.max(1);
    let mut results: Vec<Option<PointResult>> = vec![None; points.len()];
    std::thread::scope(|s| -> Result<(), String> {
        let handles: Vec<_> = (0..jobs)
            .map(|j| {
                let (log, points, expects, acked, conf) = (&log, &points, &expects, &acked, &conf);
                s.spawn(move || -> Result<Vec<(usize, PointResult)>, String> {
                    let work = cfg.work.join(format!("job{j}"));
                    fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
                    let mut out = Vec::new();
                    for (k, e) in points.iter().enumerate().skip(j).step_by(jobs) {
                        let a = acked[e.index];
                        let dir_ready = ready.is_some_and(|r| r <= e.index);
                        let mut problems = Vec::new();
                        let mut lost = Vec::new();
                        let job = Job { cfg, log, work: &work, conf };
                        let seen =
                            job.check_point(e, dir_ready, (&expects[a], expects.get(a + 1)), &mut problems, &mut lost)?;
                        lost.sort_unstable();
                        lost.dedup();
                        let r = PointResult {
                            entry: e.index,
                            kind: e.kind(),
                            mark: e.mark.clone(),
                            acked: a,
                            problems,
                            lost,
                            seen,
                        };
                        out.push((k, r));
                    }
                    Ok(out)
                })
            })
            .collect();
        for h in handles {
            for (k, r) in h.join().map_err(|_| "a checking thread panicked".to_string())?? {
                results[k] = Some(r);
            }
        }
        Ok(())
    })?;
    report.points = results.into_iter().flatten().collect();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Runs a tool; returns its exit code and its output (stdout then stderr).
fn tool(cmd: &mut Command) -> Result<(i32, String), String> {
    let out = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.code().unwrap_or(-1), text))
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// What a checking thread works with.
struct Job<'a> {
    cfg: &'a Config,
    log: &'a Log,
    /// The thread's own scratch directory.
    work: &'a Path,
    /// The e2fsck configuration file.
    conf: &'a Path,
}

impl Job<'_> {
    /// Checks the point at entry `e`, given the state acknowledged there
    /// (`a`) and the one after the operation in flight (`n`).
    fn check_point(
        &self,
        e: &Entry,
        dir_ready: bool,
        (a, n): (&Expect, Option<&Expect>),
        problems: &mut Vec<String>,
        lost: &mut Vec<u64>,
    ) -> Result<Seen, String> {
        let Job { cfg, log, work, conf } = *self;
        let image = work.join("image");
        {
            let f = File::create(&image).map_err(|err| format!("creating {}: {err}", image.display()))?;
            f.set_len(cfg.image_size).map_err(|err| format!("sizing {}: {err}", image.display()))?;
            log.replay(e.index, &f).map_err(|err| format!("replaying to entry {}: {err}", e.index))?;
        }
        // Recover as the kernel does at mount: replay the journal, nothing else.
        // Then the file system must need no repair at all.
        let (code, out) =
            tool(Command::new("e2fsck").args(["-y", "-E", "journal_only"]).arg(&image).env("E2FSCK_CONFIG", conf))?;
        if code & !1 != 0 {
            problems.push(format!("e2fsck -E journal_only exited with {code}: {}", last_lines(&out, 4)));
            return Ok(Seen::Other);
        }
        let (code, out) = tool(Command::new("e2fsck").arg("-fn").arg(&image).env("E2FSCK_CONFIG", conf))?;
        if code != 0 {
            problems.push(format!("e2fsck -fn after journal recovery exited with {code}: {}", last_lines(&out, 4)));
            // Let e2fsck repair it, so that the history can still be checked.
            let (code, out) = tool(Command::new("e2fsck").arg("-fy").arg(&image).env("E2FSCK_CONFIG", conf))?;
            if code & !1 != 0 {
                problems.push(format!("e2fsck -fy exited with {code}: {}", last_lines(&out, 4)));
                return Ok(Seen::Other);
            }
        }
        let extract = work.join("x");
        if extract.exists() {
            fs::remove_dir_all(&extract).map_err(|err| format!("removing {}: {err}", extract.display()))?;
        }
        fs::create_dir_all(&extract).map_err(|err| format!("creating {}: {err}", extract.display()))?;
        let request = format!("rdump /{} {}", cfg.dir_in_fs, extract.display());
        let (code, out) = tool(Command::new("debugfs").arg("-R").arg(&request).arg(&image))?;
        let dir = extract.join(&cfg.dir_in_fs);
        if code != 0 {
            problems.push(format!("debugfs rdump exited with {code}: {}", last_lines(&out, 3)));
            return Ok(Seen::Other);
        }
        if !dir.is_dir() {
            if dir_ready {
                problems
                    .push(format!("directory /{} is missing, though it was synced before the point", cfg.dir_in_fs));
            }
            fs::create_dir_all(&dir).map_err(|err| format!("creating {}: {err}", dir.display()))?;
        }
        check_history(&dir, a, n, problems, lost)
    }
}

/// Compact form of a list of iteration numbers: `0..=5, 9, 12..=13`.
pub fn fmt_nums(nums: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < nums.len() {
        let mut j = i;
        while j + 1 < nums.len() && nums[j + 1] == nums[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if j > i {
            let _ = write!(out, "{}..={}", nums[i], nums[j]);
        } else {
            let _ = write!(out, "{}", nums[i]);
        }
        i = j + 1;
    }
    if out.is_empty() { "none".into() } else { out }
}

/// Whether `recs` is one of the allowed record lists, each record equal to
/// what was saved; a description of the difference if not.
fn compare_records(who: &str, recs: &[IterationRecord], a: &Expect, n: Option<&Expect>) -> Option<String> {
    let nums: Vec<u64> = recs.iter().map(|r| r.iteration_num).collect();
    let mut seen = HashMap::new();
    for i in &nums {
        *seen.entry(*i).or_insert(0) += 1;
    }
    let mut dups: Vec<u64> = seen.iter().filter(|(_, c)| **c > 1).map(|(i, _)| *i).collect();
    if !dups.is_empty() {
        dups.sort_unstable();
        return Some(format!("{who}: records duplicated: {}", fmt_nums(&dups)));
    }
    if nums != a.records && n.is_none_or(|n| nums != n.records) {
        let missing: Vec<u64> = a.records.iter().copied().filter(|i| !seen.contains_key(i)).collect();
        let mut msg = format!(
            "{who}: {} records ({}); acknowledged {}: {} records ({})",
            nums.len(),
            fmt_nums(&nums),
            a.label,
            a.records.len(),
            fmt_nums(&a.records)
        );
        if !missing.is_empty() {
            let _ = write!(msg, "; LOST: {}", fmt_nums(&missing));
        }
        if let Some(n) = n {
            let _ = write!(msg, "; or after the next operation {}: {} records", n.label, n.records.len());
        }
        return Some(msg);
    }
    recs.iter()
        .find(|r| **r != record(r.iteration_num))
        .map(|r| format!("{who}: record {} differs from what was saved", r.iteration_num))
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()))
}

/// Files of the directory whose names start with the history's name.
fn history_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("listing {}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("listing {}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(HISTORY) && entry.path().is_file() {
            let bytes = fs::read(entry.path()).map_err(|e| format!("reading {}: {e}", entry.path().display()))?;
            out.push((name, bytes));
        }
    }
    out.sort();
    Ok(out)
}

fn open_dir(dir: &Path) -> Result<CapStdDir, String> {
    CapStdDir::open_ambient(dir).map_err(|e| format!("opening {}: {e}", dir.display()))
}

/// The acknowledged records of `a` that `recs` lacks, unless `recs` is the
/// complete result of the operation in flight `n` (e.g. a `clear`).
fn missing(recs: &[IterationRecord], a: &Expect, n: Option<&Expect>) -> Vec<u64> {
    let nums: Vec<u64> = recs.iter().map(|r| r.iteration_num).collect();
    if n.is_some_and(|n| nums == n.records) {
        return Vec::new();
    }
    a.records.iter().copied().filter(|i| !nums.contains(i)).collect()
}

fn check_history(
    dir: &Path,
    a: &Expect,
    n: Option<&Expect>,
    problems: &mut Vec<String>,
    lost: &mut Vec<u64>,
) -> Result<Seen, String> {
    let before = history_files(dir)?;
    let file = before.iter().find(|(name, _)| name == HISTORY).map(|(_, b)| b.clone());
    let may_be_corrupt = a.state.corrupt() || n.is_some_and(|n| n.state.corrupt());

    // 3. Bytes.
    let seen = match &file {
        None if a.content.is_empty() => Seen::Acknowledged,
        Some(f) if *f == a.content => Seen::Acknowledged,
        Some(f) if n.is_some_and(|n| *f == n.content) => Seen::InFlightDone,
        Some(f) if f.starts_with(&a.content) => Seen::TornTail,
        _ => Seen::Other,
    };
    if file.is_none() && !a.content.is_empty() {
        lost.extend_from_slice(&a.records);
    }
    match &file {
        None if !a.content.is_empty() => problems.push(format!(
            "{HISTORY} is missing; acknowledged {}: {} bytes, {} records",
            a.label,
            a.content.len(),
            a.records.len()
        )),
        Some(f) if !f.starts_with(&a.content) && n.is_none_or(|n| *f != n.content) => problems.push(format!(
            "{HISTORY} has {} bytes and differs from the {} bytes acknowledged {} at byte {}",
            f.len(),
            a.content.len(),
            a.label,
            first_difference(f, &a.content)
        )),
        _ => {}
    }

    // 5b. Acknowledged damaged lines are still on disk.
    for g in &a.state.preserved_garbage {
        let line = garbage_line(*g);
        if !before.iter().any(|(_, bytes)| bytes.windows(line.len()).any(|w| w == line.as_slice())) {
            problems.push(format!("the damaged line {g} (acknowledged) is in no file of the directory: lost"));
        }
    }

    // 4. A reader.
    let reader = History::open_read_only(open_dir(dir)?, HISTORY).map_err(|e| e.to_string())?;
    match reader.get_all() {
        Ok(recs) => {
            lost.extend(missing(&recs, a, n));
            problems.extend(compare_records("reader", &recs, a, n));
        }
        Err(e) if e.code() == "corrupt" && may_be_corrupt => {}
        Err(e) => problems.push(format!("reader: {e}")),
    }
    drop(reader);

    // 4. A writer (it recovers: moves a torn tail aside).
    // Points are checked by several threads that start e2fsck and debugfs:
    // a child forked while this thread holds the writer lock keeps a copy of
    // the lock's descriptor until it execs, so a lock just released may look
    // held for a moment. Wait for it rather than fail.
    let options = Options::default().lock_timeout(Some(Duration::from_secs(30)));
    let writer = match History::open(open_dir(dir)?, HISTORY, options.clone()) {
        Ok(h) => {
            let report = h.recovery_report().cloned().unwrap_or_default();
            let after = history_files(dir)?;
            let now = after.iter().find(|(name, _)| name == HISTORY).map(|(_, b)| b.clone()).unwrap_or_default();
            let old = file.clone().unwrap_or_default();
            // 5a. Nothing dropped: the history plus the new sidecar is what was on disk.
            let mut rebuilt = now.clone();
            if report.torn_tail.is_some() {
                let new_sidecars: Vec<&(String, Vec<u8>)> = after
                    .iter()
                    .filter(|(name, _)| name.contains(".torn.") && !before.iter().any(|(b, _)| b == name))
                    .collect();
                match new_sidecars.as_slice() {
                    [(_, bytes)] => rebuilt.extend_from_slice(bytes),
                    other => problems.push(format!("a torn tail was moved, to {} new sidecar files", other.len())),
                }
            }
            if rebuilt != old {
                problems.push(format!(
                    "opening for writing changed the history ({} -> {} bytes) and the sidecar does not hold the difference",
                    old.len(),
                    now.len()
                ));
            }
            h
        }
        Err(e) if e.code() == "corrupt" && may_be_corrupt => {
            match History::open(open_dir(dir)?, HISTORY, options.repair_on_open(true)) {
                Ok(h) => h,
                Err(e) => {
                    problems.push(format!("opening with repair_on_open failed: {e}"));
                    return Ok(seen);
                }
            }
        }
        Err(e) => {
            problems.push(format!("opening for writing failed: {e}"));
            return Ok(seen);
        }
    };
    let recs = match writer.get_all() {
        Ok(recs) => {
            lost.extend(missing(&recs, a, n));
            problems.extend(compare_records("writer", &recs, a, n));
            recs
        }
        Err(e) => {
            problems.push(format!("writer: reading: {e}"));
            return Ok(seen);
        }
    };

    // 6. A new save.
    let probe = record(PROBE);
    if let Err(e) = writer.save(&probe) {
        problems.push(format!("the recovered history refused a new save: {e}"));
        return Ok(seen);
    }
    drop(writer);
    let mut expected = recs;
    expected.push(probe);
    match History::open_read_only(open_dir(dir)?, HISTORY).map_err(|e| e.to_string())?.get_all() {
        Ok(got) if got == expected => {}
        Ok(got) => problems.push(format!(
            "after a new save a reader sees {} records, expected {} ending with the new one",
            got.len(),
            expected.len()
        )),
        Err(e) => problems.push(format!("after a new save a reader fails: {e}")),
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(records: &[u64]) -> Expect {
        Expect { label: "x".into(), state: State::default(), content: Vec::new(), records: records.to_vec() }
    }

    #[test]
    fn missing_records_are_lost_unless_the_operation_in_flight_completed() {
        let recs: Vec<IterationRecord> = [0, 2].into_iter().map(record).collect();
        assert_eq!(missing(&recs, &expect(&[0, 1, 2]), None), vec![1]);
        assert!(missing(&recs, &expect(&[0, 2]), None).is_empty());
        // A clear in flight: none of the acknowledged records, all of the next state.
        assert!(missing(&[], &expect(&[0, 1]), Some(&expect(&[]))).is_empty());
        assert_eq!(missing(&[], &expect(&[0, 1]), Some(&expect(&[0, 1, 2]))), vec![0, 1]);
    }
}
