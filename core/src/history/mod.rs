//! The history: open, save, read, verify, repair, clear, export.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::codec::{self, EncodedBody};
use crate::commit::{self, Target};
use crate::error::{Error, Result};
use crate::import::{ImportMode, ImportReport, JsonlReader};
use crate::lock::{self, LockKind, WriterLock};
use crate::options::{CommitStrategy, Options};
use crate::record::IterationRecord;
use crate::recovery::{self, BadLineReport, CutReport, RecoveryReport, RepairReport, TornTail};
use crate::scan::{self, BadLine, Lines, Outcome};
use crate::storage::{Dir, FileName, LastBlock, ReadFile, WriteFile};
use crate::{checkpoint, intent};

/// One page of a paged scan ([`History::page`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// The records, oldest first.
    pub records: Vec<IterationRecord>,
    /// Where the next page starts, or `None` at the end.
    pub next_cursor: Option<u64>,
}

impl Page {
    /// A page (for stores other than the file store).
    pub fn new(records: Vec<IterationRecord>, next_cursor: Option<u64>) -> Self {
        Page { records, next_cursor }
    }
}

/// What a compare-and-append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppendOutcome {
    /// The records were appended.
    Appended,
    /// The history already ended with exactly these records (a retry):
    /// nothing was written.
    AlreadyPresent,
}

/// How healthy a history is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Every line is a valid record (or blank).
    Healthy,
    /// Valid, except for the tail of a write that did not finish; the next
    /// writer moves it to a sidecar file.
    TornTail,
    /// A bad line is followed by valid ones; `repair` is needed to write.
    Corrupt,
}

/// The result of [`History::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The history, as named in messages.
    pub file: String,
    /// Overall state.
    pub health: Health,
    /// Valid records (complete commits only).
    pub records: u64,
    /// Valid records without a checksum (written by another tool).
    pub unchecksummed: u64,
    /// `iteration_num` of the last valid record.
    pub last_iteration_num: Option<u64>,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// The torn tail, if any (not moved: verify changes nothing).
    pub torn_tail: Option<TornTail>,
    /// Bad lines followed by valid ones (at most 1000 listed).
    pub corrupt_lines: Vec<BadLineReport>,
    /// Records cut out of their multi-record commits by a tool (counted in
    /// `records`; see [`crate::scan`]).
    pub cut: Option<CutReport>,
    /// Number of bad lines in all.
    pub bad_lines_total: u64,
    /// Stale temp files of ours present in the directory.
    pub temp_files: Vec<String>,
    /// Whether the storage can make renames and creates durable (directory
    /// sync). `false` on Windows and some WASI hosts.
    pub dir_sync: bool,
    /// Other damage, one sentence each (e.g. a database store whose counters
    /// do not match its rows); empty for a file.
    pub problems: Vec<String>,
}

struct WriterState {
    /// The history's file, open for appending (`None` while a replace is
    /// under way or after one failed). Change it only through
    /// [`set_file`](WriterState::set_file).
    file: Option<Box<dyn WriteFile>>,
    /// A read handle on the same file, opened by the first read after `file`
    /// was set and shared by the reads that follow (saves the open and close
    /// of each `load_recent`). The file only grows while it is cached, and
    /// reads stop at `len`; [`set_file`](WriterState::set_file) drops it
    /// whenever the writer renames another file into place (rewrite commit,
    /// compact, clear, repair), so a read never sees a replaced file.
    reader: Option<Arc<dyn ReadFile>>,
    /// Length of the committed (acknowledged) prefix.
    len: u64,
    count: u64,
    last: Option<u64>,
    /// An attempt failed: bytes after `len` must be cut before the next append.
    dirty: bool,
    /// A rename's directory sync failed: sync the directory before committing.
    dir_unsynced: bool,
    /// `[0, len)` is known durable (our own sync): a checkpoint may describe it.
    durable: bool,
    /// The open in-flight commit record (see [`crate::intent`]).
    intent: Option<Box<dyn WriteFile>>,
    lock: WriterLock,
}

impl WriterState {
    /// Sets the history's file handle (`None`: closed) and drops the cached
    /// read handle, which may be on the file being replaced.
    fn set_file(&mut self, file: Option<Box<dyn WriteFile>>) {
        self.file = file;
        self.reader = None;
    }
}

#[derive(Default)]
struct Queue {
    next_ticket: u64,
    pending: Vec<(u64, Vec<EncodedBody>)>,
    leader: bool,
    results: HashMap<u64, Result<()>>,
}

struct Writer {
    state: Mutex<WriterState>,
    queue: Mutex<Queue>,
    done: Condvar,
    report: RecoveryReport,
    lock_kind: LockKind,
}

/// A crash-safe history of iteration records in one JSONL file.
///
/// Open it for writing with [`History::open`] (one writer process at a
/// time; see [`crate::lock`]) or for reading with [`History::open_read_only`]
/// (no lock; any number of readers, also while a writer appends).
///
/// `History` is `Send + Sync`: share it between threads (e.g. in an `Arc`)
/// and call [`save`](Self::save) from all of them with no lock of your own.
/// Saves that arrive while another is being synced are committed together
/// (group commit): one write and one sync for all of them. Lines never
/// interleave.
///
/// # Durability
/// With the default [`Durability::Full`](crate::Durability::Full), when
/// `save` or `save_batch` returns `Ok` the records are on stable storage and
/// survive a process crash or power loss. Each call is all-or-nothing: after
/// a crash a batch is either entirely there or entirely absent. If it returns
/// `Err`, nothing of it is committed (a retry writes it again in full).
/// A reader sees a record once it is written, possibly a moment before its
/// sync returns; a writer's own reads show only committed records.
pub struct History {
    dir: Arc<dyn Dir>,
    name: FileName,
    display: String,
    options: Options,
    writer: Option<Writer>,
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("file", &self.display)
            .field("writable", &self.writer.is_some())
            .field("options", &self.options)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resets the queue's leader flag even if a commit panics.
struct LeaderGuard<'a> {
    writer: &'a Writer,
    tickets: Vec<u64>,
    result: Option<Result<()>>,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        let mut q = lock(&self.writer.queue);
        q.leader = false;
        let result = self.result.take().unwrap_or_else(|| {
            Err(Error::Io {
                file: String::new(),
                op: "committing (the committing thread panicked)",
                source: Arc::new(io::Error::other("panic during commit")),
            })
        });
        for t in &self.tickets {
            q.results.insert(*t, result.clone());
        }
        self.writer.done.notify_all();
    }
}

impl History {
    /// Opens (creating if needed) history `name` in `dir` for writing.
    ///
    /// Takes the writer lock, then recovers: removes our stale temp files,
    /// moves a torn tail to a sidecar file, and fails on corruption unless
    /// [`Options::repair_on_open`] is set. What it did is in
    /// [`recovery_report`](Self::recovery_report). Opening reads only what
    /// follows the history's checkpoint (see [`crate::checkpoint`]), or the
    /// whole file (checksums only) when there is no valid one; after that, saves, `count`,
    /// `last_iteration_num` and `load_recent` do not depend on the history's
    /// length. Damage inside a checkpointed prefix is found by reads,
    /// [`verify`](Self::verify) and [`Options::repair_on_open`], not here.
    ///
    /// # Errors
    /// [`Error::Locked`] if another writer holds it, [`Error::Corrupt`],
    /// [`Error::InvalidName`], and I/O errors (disk full, permission denied).
    pub fn open(dir: impl Dir + 'static, name: &str, options: Options) -> Result<History> {
        Self::open_shared(Arc::new(dir), name, options)
    }

    /// Like [`open`](Self::open), for a directory handle shared with others.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_shared(dir: Arc<dyn Dir>, name: &str, options: Options) -> Result<History> {
        let name = FileName::new(name)?;
        let display = dir.display_name(&name);
        let mut lock = lock::acquire(&*dir, &name, &display, &options)?;
        let t = Target { dir: &*dir, name: &name, display: &display, durability: options.durability };
        let opened = match recovery::open(t, options.repair_on_open) {
            Ok(opened) => opened,
            Err(e) => {
                // A failed open must not leave a lease behind (it would lock
                // the history until it expires).
                lock.release(&*dir);
                return Err(e);
            }
        };
        let lock_kind = lock.kind();
        let writer = Writer {
            state: Mutex::new(WriterState {
                file: Some(opened.file),
                reader: None,
                len: opened.totals.end,
                count: opened.totals.records,
                last: opened.totals.last,
                dirty: false,
                dir_unsynced: false,
                durable: opened.durable,
                intent: None,
                lock,
            }),
            queue: Mutex::new(Queue::default()),
            done: Condvar::new(),
            report: opened.report,
            lock_kind,
        };
        Ok(History { dir, name, display, options, writer: Some(writer) })
    }

    /// Opens history `name` in `dir` for reading only. Takes no lock and
    /// changes nothing: a torn tail is ignored, not moved. A missing file
    /// reads as an empty history.
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    pub fn open_read_only(dir: impl Dir + 'static, name: &str) -> Result<History> {
        Self::open_read_only_shared(Arc::new(dir), name)
    }

    /// Like [`open_read_only`](Self::open_read_only) for a shared directory handle.
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    pub fn open_read_only_shared(dir: Arc<dyn Dir>, name: &str) -> Result<History> {
        let name = FileName::new(name)?;
        let display = dir.display_name(&name);
        Ok(History { dir, name, display, options: Options::default(), writer: None })
    }

    /// The history's file as named in messages (e.g. `runs/history.jsonl`).
    pub fn file(&self) -> &str {
        &self.display
    }

    /// Whether this handle can write.
    pub fn is_writable(&self) -> bool {
        self.writer.is_some()
    }

    /// What opening for writing found and did (`None` for read-only handles).
    pub fn recovery_report(&self) -> Option<&RecoveryReport> {
        self.writer.as_ref().map(|w| &w.report)
    }

    /// The kind of writer lock held (`None` for read-only handles).
    pub fn lock_kind(&self) -> Option<LockKind> {
        self.writer.as_ref().map(|w| w.lock_kind)
    }

    fn target(&self) -> Target<'_> {
        Target { dir: &*self.dir, name: &self.name, display: &self.display, durability: self.options.durability }
    }

    fn writer(&self, op: &'static str) -> Result<&Writer> {
        self.writer.as_ref().ok_or_else(|| Error::ReadOnly { file: self.display.clone(), op })
    }

    fn encode(&self, records: &[IterationRecord]) -> Result<Vec<EncodedBody>> {
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                codec::encode_body(r).map_err(|source| Error::InvalidRecord {
                    file: self.display.clone(),
                    at: if records.len() > 1 {
                        format!(" (record {} of the batch, iteration {})", i + 1, r.iteration_num)
                    } else {
                        String::new()
                    },
                    source,
                })
            })
            .collect()
    }

    /// Saves one record durably (see [Durability](Self#durability)).
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] (nothing written), [`Error::ReadOnly`], and
    /// I/O errors; on any error nothing of the record is committed.
    pub fn save(&self, record: &IterationRecord) -> Result<()> {
        let w = self.writer("save")?;
        let bodies = self.encode(std::slice::from_ref(record))?;
        self.commit(w, bodies)
    }

    /// Saves several records as one all-or-nothing commit: after a crash
    /// either all of them are in the history or none is. Up to
    /// [`Options::rename_batches_over`] records are appended as one tagged
    /// commit (announced first in `<history>.commit`, see [`crate::intent`]);
    /// more are committed by a rename of a new file holding the history and
    /// the new untagged lines (cost: a copy of the history).
    ///
    /// # Errors
    /// As [`save`](Self::save); an invalid record names its place in the batch.
    pub fn save_batch(&self, records: &[IterationRecord]) -> Result<()> {
        let w = self.writer("save")?;
        if records.is_empty() {
            return Ok(());
        }
        let bodies = self.encode(records)?;
        self.commit(w, bodies)
    }

    /// Saves one record given as a JSON object (one line of JSONL, in any
    /// form the reader accepts, e.g. written by Python's `json.dumps`).
    ///
    /// # Errors
    /// [`Error::InvalidJson`] naming the problem, or as [`save`](Self::save).
    pub fn save_json(&self, json: &[u8]) -> Result<()> {
        let record = self.parse_json(json, "")?;
        self.save(&record)
    }

    /// Parses one JSON record for saving, with errors naming this history.
    fn parse_json(&self, json: &[u8], at: &str) -> Result<IterationRecord> {
        codec::decode_line(json).map(|(r, _)| r).map_err(|reason| Error::InvalidJson {
            file: self.display.clone(),
            at: at.to_string(),
            reason,
        })
    }

    /// Saves `records` only if the history's last `iteration_num` is
    /// `expected_last` (`None`: the history is empty), as one commit.
    /// Two writers computing iteration N from N-1 cannot both append N.
    ///
    /// Idempotent: if the history already ends with exactly these records
    /// (a retry after an unknown outcome, e.g. a crash or timeout during the
    /// first attempt), nothing is written and
    /// [`AppendOutcome::AlreadyPresent`] is returned.
    ///
    /// # Errors
    /// [`Error::Conflict`] with the actual last iteration, or as
    /// [`save_batch`](Self::save_batch).
    pub fn save_if_last(&self, expected_last: Option<u64>, records: &[IterationRecord]) -> Result<AppendOutcome> {
        let w = self.writer("save")?;
        let bodies = self.encode(records)?;
        let mut st = lock(&w.state);
        if st.last != expected_last {
            if !records.is_empty() && st.last == records.last().map(|r| r.iteration_num) {
                let src =
                    self.dir.open_read(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
                let tail = scan::recent(&*src, st.len, records.len())
                    .map_err(|e| Error::io(&self.display, "reading the history", e))?;
                if tail.as_deref() == Ok(records) {
                    return Ok(AppendOutcome::AlreadyPresent);
                }
            }
            let show = |v: Option<u64>| v.map_or_else(|| "none (empty history)".to_string(), |n| n.to_string());
            return Err(Error::Conflict {
                file: self.display.clone(),
                expected: show(expected_last),
                actual: show(st.last),
            });
        }
        if !bodies.is_empty() {
            let refs: Vec<&EncodedBody> = bodies.iter().collect();
            self.commit_locked(&mut st, &refs, refs.len() > 1)?;
        }
        Ok(AppendOutcome::Appended)
    }

    /// Saves `records` as one commit numbered by the history: the first
    /// gets the last stored `iteration_num` + 1 (0 in an empty history),
    /// the next one more, and so on; the numbers the records carry are
    /// ignored. Reading the last number and appending happen under the
    /// writer's lock, so writer threads sharing this history never conflict
    /// and never leave a gap. Returns the numbers given (an empty range at
    /// the next number for no records).
    ///
    /// For a loop whose next record is computed from the last one, use
    /// [`save_if_last`](Self::save_if_last) instead.
    ///
    /// # Errors
    /// As [`save_batch`](Self::save_batch); nothing is written on error.
    pub fn save_next(&self, records: &[IterationRecord]) -> Result<std::ops::Range<u64>> {
        let w = self.writer("save")?;
        let mut st = lock(&w.state);
        let first = st.last.map_or(0, |n| n + 1);
        let numbered: Vec<IterationRecord> = IterationRecord::renumbered(records, first);
        let bodies = self.encode(&numbered)?;
        if !bodies.is_empty() {
            let refs: Vec<&EncodedBody> = bodies.iter().collect();
            self.commit_locked(&mut st, &refs, refs.len() > 1)?;
        }
        Ok(first..first + records.len() as u64)
    }

    /// Group commit: queue our records; one thread at a time commits
    /// everything queued so far in one write and one sync.
    fn commit(&self, w: &Writer, bodies: Vec<EncodedBody>) -> Result<()> {
        let mut q = lock(&w.queue);
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push((ticket, bodies));
        loop {
            if let Some(result) = q.results.remove(&ticket) {
                return result;
            }
            if !q.leader {
                q.leader = true;
                let batch = std::mem::take(&mut q.pending);
                drop(q);
                let mut guard =
                    LeaderGuard { writer: w, tickets: batch.iter().map(|(t, _)| *t).collect(), result: None };
                let refs: Vec<&EncodedBody> = batch.iter().flat_map(|(_, b)| b).collect();
                // A commit holding a multi-record batch must be all-or-nothing;
                // one of single saves only (each its own commit) need not.
                let multi = batch.iter().any(|(_, b)| b.len() > 1);
                let result = {
                    let mut st = lock(&w.state);
                    self.commit_locked(&mut st, &refs, multi)
                };
                guard.result = Some(result);
                drop(guard);
                q = lock(&w.queue);
                continue;
            }
            q = w.done.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// One commit of `bodies` under the state lock. `multi`: the commit holds
    /// a multi-record batch, which must stay all-or-nothing after a crash.
    ///
    /// Appended commits of several records carry `k/n+offset` tags; if one
    /// holds a batch, the in-flight record ([`crate::intent`]) is written
    /// and synced first. Commits by rename (the `Rewrite` strategy, and
    /// batches over [`Options::rename_batches_over`]) are untagged.
    fn commit_locked(&self, st: &mut WriterState, bodies: &[&EncodedBody], multi: bool) -> Result<()> {
        st.lock.check(&*self.dir)?;
        self.resync_dir(st)?;
        let by_rename =
            self.options.strategy == CommitStrategy::Rewrite || bodies.len() > self.options.rename_batches_over;
        let mut bytes = Vec::with_capacity(bodies.iter().map(|b| b.approx_line_len() + 24).sum());
        if by_rename {
            codec::finish_untagged(bodies.iter().copied(), &mut bytes);
        } else {
            codec::finish_commit(bodies.iter().copied(), bodies.len(), &mut bytes);
        }
        let t = self.target();
        if by_rename {
            let len = st.len;
            let src = self.dir.open_read(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
            st.set_file(None);
            st.dirty = true;
            st.durable = false;
            let replaced = commit::replace(t, src, |src, f| {
                commit::copy_prefix(&**src, f, len, &self.display)?;
                f.write_at(&bytes, len).map_err(|e| Error::io(&self.display, "writing a temp file", e))
            })?;
            st.set_file(Some(replaced.file));
            // If the directory sync failed the new file is visible but not
            // counted: the next rewrite copies only the committed prefix.
            replaced.dir_synced?;
            st.dirty = false;
        } else {
            self.ensure_file(st)?;
            let heal = st.dirty;
            st.dirty = true;
            let at = st.len;
            let not_open = || Error::io(&self.display, "appending", io::Error::other("the history is not open"));
            if !heal {
                // One fstat: catch a program that ignores the lock.
                let file = st.file.as_ref().ok_or_else(not_open)?;
                let actual = file.len().map_err(|e| Error::io(&self.display, "reading the history's length", e))?;
                if actual != at {
                    st.dirty = false;
                    return Err(Error::ChangedExternally { file: self.display.clone(), expected: at, actual });
                }
            }
            if multi && bodies.len() > 1 {
                // The batch's record in flight, durable before the batch.
                let first = memchr::memchr(b'\n', &bytes).map_or(bytes.len(), |i| i + 1);
                let record = intent::Intent {
                    from: at,
                    count: bodies.len() as u32,
                    first_line_crc: crc32c::crc32c(&bytes[..first]),
                };
                let written = intent::write(
                    &*self.dir,
                    &self.name,
                    &self.display,
                    self.options.durability,
                    &mut st.intent,
                    record,
                );
                if let Err(e) = written {
                    st.dirty = heal;
                    return Err(e);
                }
            }
            let file = st.file.as_mut().ok_or_else(not_open)?;
            commit::append(t, &mut **file, at, &bytes, heal)?;
            st.dirty = false;
        }
        st.durable = true;
        st.len += bytes.len() as u64;
        st.count += bodies.len() as u64;
        st.last = bodies.last().map(|b| b.iteration_num());
        Ok(())
    }

    /// After a rename whose directory sync failed, sync the directory again
    /// (a fresh attempt) before anything else is committed.
    fn resync_dir(&self, st: &mut WriterState) -> Result<()> {
        if st.dir_unsynced {
            commit::sync_dir(self.target(), "syncing the directory after an earlier failure")?;
            st.dir_unsynced = false;
        }
        Ok(())
    }

    /// Takes the new file of a replace (clear, repair, compact) as the
    /// current state; a failed directory sync is reported and retried later.
    fn adopt(&self, st: &mut WriterState, replaced: commit::Replaced, totals: (u64, u64, Option<u64>)) -> Result<()> {
        st.set_file(Some(replaced.file));
        (st.len, st.count, st.last) = totals;
        st.dirty = false;
        st.durable = replaced.dir_synced.is_ok();
        if let Err(e) = replaced.dir_synced {
            st.dir_unsynced = true;
            return Err(e);
        }
        Ok(())
    }

    fn ensure_file(&self, st: &mut WriterState) -> Result<()> {
        if st.file.is_none() {
            let f = self.dir.open_write(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
            st.set_file(Some(f));
        }
        Ok(())
    }

    /// A read handle and the end of the valid part to read up to.
    fn view(&self) -> Result<Option<(Arc<dyn ReadFile>, u64)>> {
        let open = || match self.dir.open_read(&self.name) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&self.display, "opening the history", e)),
        };
        if let Some(w) = &self.writer {
            // Hold the state lock so the handle and the length match.
            let mut st = lock(&w.state);
            if let Some(f) = &st.reader {
                return Ok(Some((f.clone(), st.len)));
            }
            let f = open()?.map(Arc::<dyn ReadFile>::from);
            // Cache it only while the writer has the file open: then nothing
            // replaces the file without going through `set_file`.
            if st.file.is_some() {
                st.reader.clone_from(&f);
            }
            return Ok(f.map(|f| (f, st.len)));
        }
        // A read-only handle opens the file for each call; `LastBlock`
        // spares the call reading the tail block again for the records.
        let Some(f) = open()? else { return Ok(None) };
        let f: Arc<dyn ReadFile> = Arc::new(LastBlock::new(f));
        let len = f.len().map_err(|e| Error::io(&self.display, "reading the history's length", e))?;
        let mut t = scan::tail(&*f, len).map_err(|e| Error::io(&self.display, "reading the history", e))?;
        recovery::apply_intent(self.target(), &mut t)?;
        let end = match t.outcome {
            Outcome::Torn { from, .. } => from,
            _ => len,
        };
        Ok(Some((f, end)))
    }

    fn corrupt(&self, src: &dyn ReadFile, bad: BadLine) -> Error {
        let line = if bad.number > 0 { bad.number } else { scan::line_number_at(src, bad.offset).unwrap_or(0) };
        Error::Corrupt { file: self.display.clone(), line, offset: bad.offset, reason: bad.error }
    }

    /// The last `n` records, oldest first. Reads backwards from the end of
    /// the file: the cost depends on `n`, not on the history's length.
    /// A writer's reads share one read handle, opened by the first read and
    /// closed whenever the writer replaces the file (rewrite commit,
    /// `compact`, `clear`, `repair`), so a call costs no open or close.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if a bad line lies among them; I/O errors.
    pub fn load_recent(&self, n: usize) -> Result<Vec<IterationRecord>> {
        let Some((src, end)) = self.view()? else { return Ok(Vec::new()) };
        match scan::recent(&*src, end, n).map_err(|e| Error::io(&self.display, "reading the history", e))? {
            Ok(records) => Ok(records),
            Err(bad) => Err(self.corrupt(&*src, bad)),
        }
    }

    /// `iteration_num` of the last record (`None` if empty): where a loop
    /// resumes. Constant time.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the last line is bad; I/O errors.
    pub fn last_iteration_num(&self) -> Result<Option<u64>> {
        if let Some(w) = &self.writer {
            return Ok(lock(&w.state).last);
        }
        let Some((src, end)) = self.view()? else { return Ok(None) };
        match scan::last_iteration(&*src, end).map_err(|e| Error::io(&self.display, "reading the history", e))? {
            Ok(last) => Ok(last),
            Err(bad) => Err(self.corrupt(&*src, bad)),
        }
    }

    /// Number of records. Constant time for a writer. A reader reads the
    /// bytes after the history's checkpoint (see [`crate::checkpoint`]),
    /// or the whole file (checksums only) if there is no valid checkpoint.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (in the part read); I/O errors.
    pub fn count(&self) -> Result<u64> {
        if let Some(w) = &self.writer {
            return Ok(lock(&w.state).count);
        }
        let Some((src, end)) = self.view()? else { return Ok(0) };
        let base = checkpoint::load(&*self.dir, &self.name, &*src, end);
        let mut s = scan::scan_after(&*src, base, end, false)
            .map_err(|e| Error::io(&self.display, "reading the history", e))?;
        // `end` already excludes a partial commit the in-flight record names.
        recovery::apply_intent(self.target(), &mut s)?;
        match s.outcome {
            Outcome::Corrupt { first_bad } | Outcome::Torn { first_bad, .. } => Err(self.corrupt(&*src, first_bad)),
            Outcome::Clean => Ok(s.totals.records),
        }
    }

    /// One page of records, oldest first: at most `limit` records starting
    /// at `cursor` (0 for the start; then the `next_cursor` of the previous
    /// page). A cursor is a byte offset of a line start, stable while the
    /// history only grows.
    ///
    /// # Errors
    /// [`Error::InvalidCursor`] for a cursor that is not a line start of
    /// this history; [`Error::Corrupt`]; I/O errors.
    pub fn page(&self, cursor: u64, limit: usize) -> Result<Page> {
        let Some((src, end)) = self.view()? else {
            return if cursor == 0 {
                Ok(Page { records: Vec::new(), next_cursor: None })
            } else {
                Err(Error::InvalidCursor { file: self.display.clone(), cursor })
            };
        };
        let io_err = |e| Error::io(&self.display, "reading the history", e);
        if cursor > end {
            return Err(Error::InvalidCursor { file: self.display.clone(), cursor });
        }
        if cursor > 0 {
            let mut b = [0u8; 1];
            crate::storage::read_exact_at(&*src, &mut b, cursor - 1).map_err(io_err)?;
            if b[0] != b'\n' {
                return Err(Error::InvalidCursor { file: self.display.clone(), cursor });
            }
        }
        let mut lines = Lines::new(cursor, end, 0);
        let mut records = Vec::with_capacity(limit.min(4096));
        let mut pos = cursor;
        while records.len() < limit {
            let Some(line) = lines.next_line(&*src).map_err(io_err)? else { break };
            pos = line.end;
            if codec::is_blank(line.bytes) {
                continue;
            }
            let (offset, result) = (line.offset, codec::decode_line(line.bytes));
            match result {
                Ok((rec, _)) => records.push(rec),
                Err(error) => return Err(self.corrupt(&*src, BadLine { offset, number: 0, error })),
            }
        }
        Ok(Page { records, next_cursor: (pos < end).then_some(pos) })
    }

    /// Every record, oldest first (see [`iter`](Self::iter) to stream).
    ///
    /// # Errors
    /// [`Error::Corrupt`] at the first bad line; I/O errors.
    pub fn get_all(&self) -> Result<Vec<IterationRecord>> {
        self.iter()?.collect()
    }

    /// Streams every record, oldest first, in constant memory. The records
    /// are those committed when the iterator was made.
    ///
    /// # Errors
    /// Opening fails on I/O errors; items are `Err(Error::Corrupt)` at a bad
    /// line (and the iteration ends).
    pub fn iter(&self) -> Result<Records> {
        let view = self.view()?;
        Ok(Records {
            view: view.map(|(src, end)| (src, Lines::new(0, end, 1))),
            display: self.display.clone(),
            failed: false,
        })
    }

    /// Checks every line (full JSON parse, checksums) and reports. Changes
    /// nothing.
    ///
    /// # Errors
    /// I/O errors only; problems in the file are in the report.
    pub fn verify(&self) -> Result<VerifyReport> {
        let io_err = |e| Error::io(&self.display, "reading the history", e);
        let temp_files = self
            .dir
            .list()
            .map_err(|e| Error::io(&self.display, "listing the directory", e))?
            .into_iter()
            .filter(|e| commit::is_temp_of(e, &self.name))
            .collect();
        let dir_sync = self.dir.capabilities().dir_sync;
        let mut report = VerifyReport {
            file: self.display.clone(),
            health: Health::Healthy,
            records: 0,
            unchecksummed: 0,
            last_iteration_num: None,
            bytes: 0,
            torn_tail: None,
            corrupt_lines: Vec::new(),
            cut: None,
            bad_lines_total: 0,
            temp_files,
            dir_sync,
            problems: Vec::new(),
        };
        let src = match self.dir.open_read(&self.name) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
            Err(e) => return Err(Error::io(&self.display, "opening the history", e)),
        };
        // A writer verifies what it has committed; a reader the whole file.
        let len = match &self.writer {
            Some(w) => lock(&w.state).len,
            None => src.len().map_err(io_err)?,
        };
        let mut s = scan::scan_all(&*src, len, true).map_err(io_err)?;
        recovery::apply_intent(self.target(), &mut s)?;
        if let Some(c) = &s.cut {
            let line =
                if c.first_line > 0 { c.first_line } else { scan::line_number_at(&*src, c.first_offset).unwrap_or(0) };
            report.cut = Some(CutReport::new(c, line));
        }
        report.bytes = len;
        report.records = s.totals.records;
        report.unchecksummed = s.totals.unchecksummed;
        report.last_iteration_num = s.totals.last;
        report.bad_lines_total = s.bad_total;
        match s.outcome {
            Outcome::Clean => {}
            Outcome::Torn { from, first_bad } => {
                report.health = Health::TornTail;
                let line = if first_bad.offset == from {
                    first_bad.number
                } else {
                    scan::line_number_at(&*src, from).unwrap_or(0)
                };
                report.torn_tail = Some(TornTail {
                    offset: from,
                    line,
                    bytes: len - from,
                    reason: first_bad.error.to_string(),
                    sidecar: String::new(),
                });
            }
            Outcome::Corrupt { .. } => {
                report.health = Health::Corrupt;
                report.corrupt_lines = s.bad_lines.iter().map(BadLineReport::from).collect();
            }
        }
        Ok(report)
    }

    /// Moves every bad line (and a torn tail) to a sidecar file
    /// `<history>.bad.<n>` and atomically rewrites the rest. A healthy
    /// history is left as it is.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; I/O errors (the history is then unchanged).
    pub fn repair(&self) -> Result<RepairReport> {
        let w = self.writer("repair")?;
        let mut st = lock(&w.state);
        st.lock.check(&*self.dir)?;
        self.resync_dir(&mut st)?;
        let src = self.dir.open_read(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
        let file_len = src.len().map_err(|e| Error::io(&self.display, "reading the history's length", e))?;
        // Bytes after the committed length left by a failed attempt are not records.
        let len = if st.dirty { st.len.min(file_len) } else { file_len };
        let mut s = scan::scan_all(&*src, len, true).map_err(|e| Error::io(&self.display, "reading the history", e))?;
        recovery::apply_intent(self.target(), &mut s)?;
        if s.outcome == Outcome::Clean && s.totals.end == len && len == file_len && len == st.len {
            return Ok(RepairReport { kept: s.totals.records, ..RepairReport::default() });
        }
        st.set_file(None);
        let (replaced, report, totals) = recovery::repair(self.target(), src, len, st.len)?;
        self.adopt(&mut st, replaced, (totals.end, totals.records, totals.last))?;
        Ok(report)
    }

    /// Rewrites the history atomically with every record re-encoded in the
    /// canonical form (checksums added to lines written by other tools,
    /// blank lines and `\r` dropped).
    ///
    /// # Errors
    /// [`Error::Corrupt`] (repair first); I/O errors (history unchanged).
    pub fn compact(&self) -> Result<u64> {
        self.compact_sizes().map(|(count, _, _)| count)
    }

    /// [`compact`](Self::compact), returning (records, bytes before, bytes
    /// after).
    pub(crate) fn compact_sizes(&self) -> Result<(u64, u64, u64)> {
        let w = self.writer("compact")?;
        let mut st = lock(&w.state);
        st.lock.check(&*self.dir)?;
        self.resync_dir(&mut st)?;
        let src = self.dir.open_read(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
        let len = st.len;
        let mut count = 0u64;
        let mut last = None;
        let mut new_len = 0u64;
        st.set_file(None);
        let replaced = commit::replace(self.target(), src, |src, f| {
            let mut lines = Lines::new(0, len, 1);
            let mut out = Vec::with_capacity(1 << 20);
            let mut pos = 0u64;
            while let Some(line) =
                lines.next_line(&**src).map_err(|e| Error::io(&self.display, "reading the history", e))?
            {
                if codec::is_blank(line.bytes) {
                    continue;
                }
                let rec = codec::decode_line(line.bytes).map(|(r, _)| r).map_err(|reason| Error::Corrupt {
                    file: self.display.clone(),
                    line: line.number,
                    offset: line.offset,
                    reason,
                })?;
                let encoded = codec::encode_line(&rec).map_err(|source| Error::InvalidRecord {
                    file: self.display.clone(),
                    at: format!(" (line {})", line.number),
                    source,
                })?;
                out.extend_from_slice(&encoded);
                count += 1;
                last = Some(rec.iteration_num);
                if out.len() >= 1 << 20 {
                    f.write_at(&out, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
                    pos += out.len() as u64;
                    out.clear();
                }
            }
            f.write_at(&out, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
            new_len = pos + out.len() as u64;
            Ok(())
        });
        // No I/O between the rename and adopting the new state: an error
        // there would leave this writer appending at the old length.
        let replaced = replaced?;
        self.adopt(&mut st, replaced, (new_len, count, last))?;
        Ok((count, len, new_len))
    }

    /// Removes every record, atomically (an empty file is renamed over the
    /// history): after a crash the history is either as before or empty.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; I/O errors (history unchanged).
    pub fn clear(&self) -> Result<()> {
        let w = self.writer("clear")?;
        let mut st = lock(&w.state);
        st.lock.check(&*self.dir)?;
        self.resync_dir(&mut st)?;
        st.set_file(None);
        st.dirty = true;
        let replaced = commit::replace(self.target(), (), |_, _| Ok(()))?;
        self.adopt(&mut st, replaced, (0, 0, None))
    }

    /// Replaces the history with the JSONL read from `input`, kept byte for
    /// byte, as one atomic, durable commit (a temp file renamed over the
    /// history): afterwards [`export_to_writer`](Self::export_to_writer)
    /// writes exactly the bytes read (plus a `\n` if the last line had
    /// none). Every line is checked first (see [`crate::import`]); on any
    /// error the history is unchanged. `progress` is called with the number
    /// of records read so far.
    ///
    /// # Errors
    /// [`Error::Conflict`] for [`ImportMode::IntoEmpty`] when the history
    /// has records; [`Error::InvalidJson`] naming the first bad line of the
    /// input; [`Error::ReadOnly`]; I/O errors.
    pub fn import_jsonl(
        &self,
        input: &mut dyn io::BufRead,
        mode: ImportMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport> {
        let w = self.writer("import")?;
        let mut st = lock(&w.state);
        if mode == ImportMode::IntoEmpty && st.count > 0 {
            return Err(Error::Conflict {
                file: self.display.clone(),
                expected: "none (empty history)".to_string(),
                actual: st.last.map_or_else(|| "none".to_string(), |n| n.to_string()),
            });
        }
        st.lock.check(&*self.dir)?;
        self.resync_dir(&mut st)?;
        st.set_file(None);
        st.dirty = true;
        let mut report = None;
        let replaced = commit::replace(self.target(), (), |_, f| {
            let mut reader = JsonlReader::new(input, "input");
            let mut pos = 0u64;
            let mut buf = Vec::with_capacity(1 << 20);
            while let Some(rec) = reader.next_record()? {
                buf.extend_from_slice(&rec.raw);
                if buf.len() >= 1 << 20 {
                    f.write_at(&buf, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
                    pos += buf.len() as u64;
                    buf.clear();
                }
                progress(reader.records());
            }
            buf.extend_from_slice(reader.trailer());
            f.write_at(&buf, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
            report = Some(reader.finish()?);
            Ok(())
        })?;
        let report = report.unwrap_or_default();
        self.adopt(&mut st, replaced, (report.bytes, report.records, report.last_iteration_num))?;
        Ok(report)
    }

    /// Writes a consistent copy of the committed history (byte for byte) to
    /// `name` in `dir`, atomically and durably, e.g. for a backup or the
    /// viewer. Returns the number of bytes.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; I/O errors (the destination is unchanged).
    pub fn export_to(&self, dir: &dyn Dir, name: &str) -> Result<u64> {
        let dest = FileName::new(name)?;
        let display = dir.display_name(&dest);
        let t = Target { dir, name: &dest, display: &display, durability: crate::Durability::Full };
        let view = self.view()?;
        let mut written = 0;
        let replaced = commit::replace(t, (), |_, f| {
            if let Some((src, end)) = &view {
                commit::copy_prefix(&**src, f, *end, &display)?;
                written = *end;
            }
            Ok(())
        })?;
        replaced.dir_synced?;
        Ok(written)
    }

    /// Writes the committed history (byte for byte) to `out`.
    ///
    /// # Errors
    /// I/O errors from reading the history or writing `out`.
    pub fn export_to_writer(&self, out: &mut dyn Write) -> Result<u64> {
        let Some((src, end)) = self.view()? else { return Ok(0) };
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0u64;
        while pos < end {
            let want = ((end - pos) as usize).min(buf.len());
            crate::storage::read_exact_at(&*src, &mut buf[..want], pos)
                .map_err(|e| Error::io(&self.display, "reading the history", e))?;
            out.write_all(&buf[..want]).map_err(|e| Error::io("output", "writing the export", e))?;
            pos += want as u64;
        }
        Ok(end)
    }
}

impl Drop for History {
    fn drop(&mut self) {
        if let Some(w) = &self.writer {
            let mut st = lock(&w.state);
            // A failed attempt may have left bytes after the committed length,
            // which a failed sync may even have made partly durable: cut them
            // durably now, as the next commit would have (best effort: the
            // next writer's first commit overwrites them anyway).
            if st.dirty && st.lock.check(&*self.dir).is_ok() {
                let len = st.len;
                let full = self.options.durability == crate::Durability::Full;
                if let Some(f) = st.file.as_mut()
                    && f.set_len(len).and_then(|()| if full { f.sync_data() } else { Ok(()) }).is_ok()
                {
                    st.dirty = false;
                }
            }
            // A checkpoint of what this writer made durable, so the next
            // open reads only what is appended after it.
            let durable = st.durable || self.options.durability == crate::Durability::None;
            if durable
                && !st.dirty
                && let Some(f) = &st.file
            {
                let totals = scan::Totals { end: st.len, records: st.count, last: st.last, unchecksummed: 0 };
                checkpoint::store(&*self.dir, &self.name, &**f as &dyn ReadFile, &totals);
            }
            st.lock.release(&*self.dir);
        }
    }
}

/// Streaming iterator over a history's records (see [`History::iter`]).
pub struct Records {
    view: Option<(Arc<dyn ReadFile>, Lines)>,
    display: String,
    failed: bool,
}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records").field("file", &self.display).finish()
    }
}

impl Iterator for Records {
    type Item = Result<IterationRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let (src, lines) = self.view.as_mut()?;
        loop {
            let line = match lines.next_line(&**src) {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(Error::io(&self.display, "reading the history", e)));
                }
            };
            if codec::is_blank(line.bytes) {
                continue;
            }
            return Some(match codec::decode_line(line.bytes) {
                Ok((rec, _)) => Ok(rec),
                Err(reason) => {
                    self.failed = true;
                    Err(Error::Corrupt { file: self.display.clone(), line: line.number, offset: line.offset, reason })
                }
            });
        }
    }
}
