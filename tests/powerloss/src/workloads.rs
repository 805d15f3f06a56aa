//! The workloads the guest runs. Each writes a mark (see [`crate::marks`])
//! right after every operation that returned `Ok`: from then on, the
//! operation must survive a power cut.

use std::error::Error;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;

use iteration_history::storage::CapStdDir;
use iteration_history::{CommitStrategy, Durability, History, IterationRecord, Options, codec};

use crate::mark_sink::{MarkSink, MarkTarget};
use crate::marks::{Mark, Op};
use crate::records::{garbage_line, record};

/// The history's file name in the workload's directory.
pub const HISTORY: &str = "history.jsonl";

/// Result type of the workloads.
pub type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Every workload: name, what it does, and whether the checks must pass
/// (`false` for the control, whose loss the checks must catch).
pub const WORKLOADS: &[(&str, &str, bool)] = &[
    ("append", "single saves, CommitStrategy::Append (the default)", true),
    ("rewrite", "single saves, CommitStrategy::Rewrite (temp file, fsync, rename, fsync dir)", true),
    ("batch", "save_batch of 2 to 5 records, each followed by a single save", true),
    ("clear", "saves, clear(), saves, clear(), ... saves", true),
    ("repair", "saves, a damaged line + a record appended by plain I/O, repair(), saves", true),
    ("procs", "3 processes saving in turns, queueing on the writer lock (lock_timeout)", true),
    (
        "reopen",
        "batches of 2 to 6 records (over 3 by rename, untagged) and saves; the writer closed and reopened (checkpoint) every 2 batches",
        true,
    ),
    ("control", "the original module's algorithm: rewrite <file>.tmp + rename, no fsync (must FAIL)", false),
    ("nosync", "single saves with Durability::None, which skips every sync (must FAIL)", false),
];

/// Names of the workloads.
pub fn names() -> impl Iterator<Item = &'static str> {
    WORKLOADS.iter().map(|w| w.0)
}

/// What a workload runs with.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The history's directory (created by the workload).
    pub dir: PathBuf,
    /// Where marks go.
    pub target: MarkTarget,
    /// Multiplies the number of operations (1 in CI).
    pub scale: u64,
    /// This program, for the child processes of `procs`.
    pub exe: PathBuf,
}

/// Sends marks for one process and counts its operations.
struct Marker {
    sink: Box<dyn MarkSink>,
    dir: PathBuf,
    process: Option<u32>,
    ops: u64,
}

impl Marker {
    fn new(ctx: &Ctx, process: Option<u32>) -> Res<Self> {
        Ok(Marker { sink: ctx.target.open()?, dir: ctx.dir.clone(), process, ops: 0 })
    }

    /// Marks `op` as acknowledged, with the history's length as this
    /// process sees it now.
    fn ack(&mut self, op: Op) -> Res<()> {
        let len = match fs::metadata(self.dir.join(HISTORY)) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(format!("reading the length of {HISTORY}: {e}").into()),
        };
        self.sink.mark(&Mark::Op { op, len, process: self.process }.to_string())?;
        self.ops += 1;
        Ok(())
    }

    fn mark(&self, mark: &Mark) -> Res<()> {
        Ok(self.sink.mark(&mark.to_string())?)
    }
}

fn sync_dir(path: &Path) -> Res<()> {
    File::open(path).and_then(|d| d.sync_all()).map_err(|e| format!("syncing directory {}: {e}", path.display()).into())
}

/// Creates the history's directory durably and marks `ready`.
fn prepare(ctx: &Ctx, m: &Marker) -> Res<()> {
    fs::create_dir_all(&ctx.dir).map_err(|e| format!("creating {}: {e}", ctx.dir.display()))?;
    sync_dir(&ctx.dir)?;
    if let Some(parent) = ctx.dir.parent() {
        sync_dir(parent)?;
    }
    m.mark(&Mark::Ready)
}

fn open(ctx: &Ctx, options: Options) -> Res<History> {
    let dir = CapStdDir::open_ambient(&ctx.dir).map_err(|e| format!("opening {}: {e}", ctx.dir.display()))?;
    Ok(History::open(dir, HISTORY, options)?)
}

/// Runs workload `name`; returns the number of acknowledged operations.
///
/// # Errors
/// An unknown workload, any failed operation, or a mark that could not be
/// written.
pub fn run(name: &str, ctx: &Ctx) -> Res<u64> {
    let mut m = Marker::new(ctx, None)?;
    prepare(ctx, &m)?;
    let s = ctx.scale.max(1);
    match name {
        "append" | "rewrite" | "nosync" => {
            let strategy = if name == "rewrite" { CommitStrategy::Rewrite } else { CommitStrategy::Append };
            let durability = if name == "nosync" { Durability::None } else { Durability::Full };
            let h = open(ctx, Options::default().strategy(strategy).durability(durability))?;
            for i in 0..16 * s {
                h.save(&record(i))?;
                m.ack(Op::Save(i))?;
            }
        }
        "batch" => {
            let h = open(ctx, Options::default())?;
            let mut i = 0;
            for b in 0..6 * s {
                let count = 2 + b % 4;
                let recs: Vec<IterationRecord> = (i..i + count).map(record).collect();
                h.save_batch(&recs)?;
                m.ack(Op::Batch { first: i, count })?;
                i += count;
                h.save(&record(i))?;
                m.ack(Op::Save(i))?;
                i += 1;
            }
        }
        "clear" => {
            let h = open(ctx, Options::default())?;
            let mut i = 0;
            for _ in 0..3 * s {
                for _ in 0..4 {
                    h.save(&record(i))?;
                    m.ack(Op::Save(i))?;
                    i += 1;
                }
                h.clear()?;
                m.ack(Op::Clear)?;
            }
            for _ in 0..3 {
                h.save(&record(i))?;
                m.ack(Op::Save(i))?;
                i += 1;
            }
        }
        "repair" => {
            let h = open(ctx, Options::default())?;
            let mut i = 0;
            for _ in 0..2 * s {
                for _ in 0..4 {
                    h.save(&record(i))?;
                    m.ack(Op::Save(i))?;
                    i += 1;
                }
                corrupt(&ctx.dir.join(HISTORY), i)?;
                m.ack(Op::Corrupt(i))?;
                i += 1;
                let report = h.repair()?;
                if report.moved_lines != 1 {
                    return Err(
                        format!("repair moved {} lines, expected the 1 damaged line", report.moved_lines).into()
                    );
                }
                m.ack(Op::Repair)?;
                for _ in 0..2 {
                    h.save(&record(i))?;
                    m.ack(Op::Save(i))?;
                    i += 1;
                }
            }
        }
        "procs" => return procs(ctx, m, s),
        "reopen" => reopen(ctx, &mut m, s)?,
        "control" => {
            let mut content = Vec::new();
            for i in 0..16 * s {
                content.extend_from_slice(&codec::encode_line(&record(i))?);
                original_save(&ctx.dir, &content)?;
                m.ack(Op::Save(i))?;
            }
        }
        other => {
            return Err(
                format!("unknown workload `{other}` (known: {})", names().collect::<Vec<_>>().join(", ")).into()
            );
        }
    }
    m.mark(&Mark::End { workload: name.to_string(), ops: m.ops })?;
    Ok(m.ops)
}

/// Batches, the larger ones committed by rename, and saves; the writer is
/// closed (writing its checkpoint) and reopened (reading it) every 2 batches.
fn reopen(ctx: &Ctx, m: &mut Marker, s: u64) -> Res<()> {
    let options = Options::default().rename_batches_over(3);
    let mut h = open(ctx, options.clone())?;
    let mut i = 0;
    for b in 0..6 * s {
        let count = 2 + b % 5;
        let recs: Vec<IterationRecord> = (i..i + count).map(record).collect();
        h.save_batch(&recs)?;
        m.ack(if count > 3 { Op::RenamedBatch { first: i, count } } else { Op::Batch { first: i, count } })?;
        i += count;
        h.save(&record(i))?;
        m.ack(Op::Save(i))?;
        i += 1;
        if b % 2 == 1 {
            drop(h);
            h = open(ctx, options.clone())?;
        }
    }
    Ok(())
}

/// Appends a damaged line and then a valid record with plain file I/O, and
/// syncs: corruption in the middle of the history once more is saved.
fn corrupt(path: &Path, i: u64) -> Res<()> {
    let mut bytes = garbage_line(i);
    bytes.extend_from_slice(&codec::encode_line(&record(i))?);
    let mut f = OpenOptions::new().append(true).open(path)?;
    f.write_all(&bytes)?;
    f.sync_data()?;
    Ok(())
}

/// The original Python module's save: write the whole history to
/// `<file>.tmp`, rename it over the history. No fsync anywhere.
fn original_save(dir: &Path, content: &[u8]) -> Res<()> {
    let tmp = dir.join(format!("{HISTORY}.tmp"));
    fs::write(&tmp, content)?;
    fs::rename(&tmp, dir.join(HISTORY))?;
    Ok(())
}

/// Processes, sessions per process, saves per session of `procs`.
const PROCS: u32 = 3;
const SESSIONS: u64 = 2;
const PER_SESSION: u64 = 3;

fn procs(ctx: &Ctx, m: Marker, s: u64) -> Res<u64> {
    let sessions = SESSIONS * s;
    let mut children = Vec::new();
    for p in 0..PROCS {
        let mut cmd = Command::new(&ctx.exe);
        cmd.arg("child")
            .arg("--dir")
            .arg(&ctx.dir)
            .args(ctx.target.to_args())
            .args(["--proc", &p.to_string(), "--first", &(u64::from(p) * 100_000).to_string()])
            .args(["--sessions", &sessions.to_string(), "--per-session", &PER_SESSION.to_string()]);
        cmd.stdout(Stdio::piped());
        children.push((p, cmd.spawn().map_err(|e| format!("starting {}: {e}", ctx.exe.display()))?));
    }
    let mut failed = Vec::new();
    let mut waited = 0;
    for (p, child) in children {
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        if !out.status.success() {
            failed.push(format!("process {p}: {}", out.status));
        }
        waited += text
            .lines()
            .filter_map(|l| l.rsplit_once("waited="))
            .filter_map(|(_, n)| n.parse::<u64>().ok())
            .sum::<u64>();
    }
    if !failed.is_empty() {
        return Err(format!("child processes failed: {}", failed.join("; ")).into());
    }
    if waited == 0 {
        return Err("no process ever waited for the writer lock: the workload did not exercise queueing".into());
    }
    let ops = u64::from(PROCS) * sessions * PER_SESSION;
    m.mark(&Mark::End { workload: "procs".into(), ops })?;
    Ok(ops)
}

/// What one child process of `procs` does.
#[derive(Clone, Copy, Debug)]
pub struct ChildPlan {
    /// Its number.
    pub process: u32,
    /// Its first iteration number.
    pub first: u64,
    /// Writer sessions (open, saves, close).
    pub sessions: u64,
    /// Saves per session.
    pub per_session: u64,
}

/// Runs one child of `procs`: each session opens the history (waiting for
/// the writer lock if another process holds it), saves, and closes it.
/// Returns how many sessions had to wait for the lock.
///
/// # Errors
/// Any failed operation or mark.
pub fn child(ctx: &Ctx, plan: ChildPlan) -> Res<u64> {
    let mut m = Marker::new(ctx, Some(plan.process))?;
    let mut waited = 0;
    let mut i = plan.first;
    for _ in 0..plan.sessions {
        let h = match open(ctx, Options::default()) {
            Ok(h) => h,
            Err(e) if e.downcast_ref::<iteration_history::Error>().is_some_and(|e| e.code() == "locked") => {
                waited += 1;
                open(ctx, Options::default().lock_timeout(Some(Duration::from_secs(600))))?
            }
            Err(e) => return Err(e),
        };
        for _ in 0..plan.per_session {
            h.save(&record(i))?;
            m.ack(Op::Save(i))?;
            i += 1;
        }
        drop(h);
        // Let the others take the lock before this process asks again.
        std::thread::sleep(Duration::from_millis(30));
    }
    Ok(waited)
}
