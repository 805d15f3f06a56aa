//! The backend-neutral history contract.
//!
//! The contract is described on [`Store`](crate::Store), where rustdoc shows it.

use std::fmt;
use std::io::{BufRead, Write};

use crate::codec;
use crate::error::Result;
use crate::format::BOM;
use crate::import::{ImportMode, ImportReport};
use crate::record::IterationRecord;
use crate::recovery::{BadLineReport, CutReport, RepairReport, TornTail};
use crate::scan::{self, Analyzer, Outcome, RawLine};

/// One page of a paged scan ([`History::page`](crate::History::page)).
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

/// The result of [`History::verify`](crate::History::verify).
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
    /// What else the store found, of any backend: stale temp files, a
    /// storage without directory sync, counters that do not match the
    /// records ([`Finding::is_damage`] says which are damage).
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// Stale temp files of ours present in the directory (a file store).
    pub fn temp_files(&self) -> &[String] {
        self.findings
            .iter()
            .find_map(|f| match f {
                Finding::StaleTempFiles(names) => Some(names.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// Whether the storage can make renames and creates durable (directory
    /// sync). `false` on Windows and some WASI hosts.
    pub fn dir_sync(&self) -> bool {
        !self.findings.contains(&Finding::NoDirSync)
    }

    /// The findings that are damage (the history is then
    /// [`Health::Corrupt`]).
    pub fn damage(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_damage())
    }
}

/// Something [`Store::verify`] found besides bad lines, a torn tail and cut
/// records, typed so that every backend reports it the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// Stale temp files of an interrupted rewrite (a file store); the next
    /// writer removes them. Not damage.
    StaleTempFiles(Vec<String>),
    /// The storage cannot make creates and renames durable (no directory
    /// sync: Windows, some WASI hosts). Not damage.
    NoDirSync,
    /// The store's counters do not match its records: changed by another
    /// program (a database store). Damage.
    CountersMismatch {
        /// Records, by the counters.
        counted: u64,
        /// Last iteration, by the counters.
        counted_last: Option<u64>,
        /// Records, by reading them.
        records: u64,
        /// Last iteration, by reading the records.
        last: Option<u64>,
    },
}

impl Finding {
    /// Whether this finding is damage (it makes the history
    /// [`Health::Corrupt`]).
    pub fn is_damage(&self) -> bool {
        matches!(self, Finding::CountersMismatch { .. })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |n: Option<u64>| n.map_or_else(|| "none".to_string(), |n| n.to_string());
        match self {
            Finding::StaleTempFiles(names) => write!(f, "stale temp files of an interrupted rewrite: {}", names.join(", ")),
            Finding::NoDirSync => f.write_str("the storage cannot sync directories: creates and renames are atomic but their durability is up to the OS"),
            Finding::CountersMismatch { counted, counted_last, records, last } => write!(
                f,
                "its counters ({counted} records, last iteration {}) do not match its records ({records} records, last iteration {}): changed by another program",
                show(*counted_last),
                show(*last)
            ),
        }
    }
}

/// What [`Store::compact`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactReport {
    /// Records in the history (unchanged by compacting).
    pub records: u64,
    /// Bytes of the history (its JSONL export) before compacting.
    pub bytes_before: u64,
    /// Bytes after compacting.
    pub bytes_after: u64,
    /// Records whose line was rewritten, for stores that rewrite only
    /// those (PostgreSQL); `None` for a store that writes the whole
    /// history again (the file store).
    pub rewritten: Option<u64>,
}

/// The operations every history store offers.
///
/// [`Store`] is what every history store offers: the JSONL file store
/// ([`History`](crate::History)) and stores on other engines (a PostgreSQL store, and later
/// object storage). Code written against `&dyn Store` runs unchanged on any
/// of them; one conformance suite checks them all.
///
/// The key operation is [`Store::append_if`], compare-and-append: iteration
/// N is computed from iterations 1..N-1, so N is appended only if the last
/// stored iteration is still N-1. A retry after an unknown outcome is safe:
/// if the store already ends with exactly those records, nothing is written.
pub trait Store: Send + Sync + fmt::Debug {
    /// How the store is named in messages (a file path, a database URL
    /// without its password, ...).
    fn describe(&self) -> String;

    /// Appends `records` as one all-or-nothing, durable commit.
    ///
    /// Stores that key records by `iteration_num` (PostgreSQL) refuse an
    /// iteration that is already stored
    /// ([`BackendErrorKind::Duplicate`](crate::BackendErrorKind::Duplicate)),
    /// unless the history already ends with exactly these records (a retry),
    /// which is then a no-op; the file store keeps duplicates.
    ///
    /// # Errors
    /// Invalid records (nothing written) and storage errors.
    fn append(&self, records: &[IterationRecord]) -> Result<()>;

    /// Appends `records` as one commit only if the last stored
    /// `iteration_num` is `expected_last` (`None`: empty). Idempotent for a
    /// retry of the same records.
    ///
    /// # Errors
    /// [`Error::Conflict`](crate::Error::Conflict) naming the actual last
    /// iteration; as [`append`](Self::append).
    fn append_if(&self, expected_last: Option<u64>, records: &[IterationRecord]) -> Result<AppendOutcome>;

    /// Appends `records` as one all-or-nothing, durable commit numbered by
    /// the store: the first gets the last stored `iteration_num` + 1 (0 in
    /// an empty history), the next one more, and so on; the numbers the
    /// records carry are ignored. The store reads the last number and
    /// appends atomically, so any number of writers can append to one
    /// history this way without conflicts and without gaps. Returns the
    /// numbers given (an empty range at the next number for no records).
    ///
    /// Use it for records that do not depend on the one before; a learning
    /// loop that computes iteration N from N-1 uses
    /// [`append_if`](Self::append_if). Unlike `append_if`, a retry after
    /// [`BackendErrorKind::OutcomeUnknown`](crate::BackendErrorKind::OutcomeUnknown)
    /// may store the records a second time (under other numbers).
    ///
    /// The default implementation retries [`append_if`](Self::append_if)
    /// with the last number until no other writer came first; stores
    /// override it with one atomic operation (the file store under its
    /// writer lock, PostgreSQL in one statement).
    ///
    /// # Errors
    /// Invalid records (nothing written) and storage errors.
    fn append_next(&self, records: &[IterationRecord]) -> Result<std::ops::Range<u64>> {
        loop {
            let last = self.last_iteration_num()?;
            let first = last.map_or(0, |n| n + 1);
            let numbered: Vec<IterationRecord> = IterationRecord::renumbered(records, first);
            match self.append_if(last, &numbered) {
                Ok(AppendOutcome::Appended) => return Ok(first..first + records.len() as u64),
                // Another writer came first (or stored the same records).
                Ok(AppendOutcome::AlreadyPresent) | Err(crate::Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The last `n` records, oldest first.
    ///
    /// # Errors
    /// Storage errors, corruption.
    fn load_recent(&self, n: usize) -> Result<Vec<IterationRecord>>;

    /// `iteration_num` of the last record.
    ///
    /// # Errors
    /// Storage errors, corruption.
    fn last_iteration_num(&self) -> Result<Option<u64>>;

    /// Number of records.
    ///
    /// # Errors
    /// Storage errors, corruption.
    fn count(&self) -> Result<u64>;

    /// A page of at most `limit` records from `cursor` (0: the start; then
    /// the previous page's `next_cursor`). Cursors are opaque to callers.
    ///
    /// # Errors
    /// An invalid cursor, storage errors, corruption.
    fn page(&self, cursor: u64, limit: usize) -> Result<Page>;

    /// Removes every record, atomically.
    ///
    /// # Errors
    /// Storage errors (then nothing was removed).
    fn clear(&self) -> Result<()>;

    /// Writes the history as JSONL to `out`; returns the bytes written.
    /// The bytes are exactly those saved or imported: a history imported
    /// with [`import_jsonl`](Self::import_jsonl) exports byte for byte as it
    /// was read, whatever the store.
    ///
    /// # Errors
    /// Storage errors, errors writing `out`.
    fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64>;

    /// Replaces, fills or appends to (see [`ImportMode`]) the history with
    /// the JSONL read from `input`, as one atomic, durable commit, keeping every
    /// line byte for byte (see [`JsonlReader`](crate::JsonlReader)): a copy between two
    /// stores through [`export_jsonl`](Self::export_jsonl) and this
    /// method is byte-identical. `progress` is called with the number of
    /// records read so far.
    ///
    /// # Errors
    /// [`Error::InvalidJson`](crate::Error::InvalidJson) naming the first bad
    /// line (nothing imported); [`Error::Conflict`](crate::Error::Conflict)
    /// for [`ImportMode::IntoEmpty`] and a history with records; storage
    /// errors (nothing imported).
    fn import_jsonl(
        &self,
        input: &mut dyn BufRead,
        mode: ImportMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport>;

    /// Checks every record of the history against the file format's rules
    /// (JSON, checksums, complete multi-record commits) and the history's
    /// own bookkeeping; changes nothing and blocks no writer.
    /// [`VerifyReport::health`] says what was found.
    ///
    /// The default reads the history through
    /// [`export_jsonl`](Self::export_jsonl) (see [`verify_export`]); the
    /// file store overrides it (it also finds torn tails and stale temp
    /// files).
    ///
    /// # Errors
    /// Storage errors (not damage: damage is in the report).
    fn verify(&self) -> Result<VerifyReport> {
        verify_export(self)
    }

    /// Repairs what [`verify`](Self::verify) finds, keeping every valid
    /// record: the file store moves a torn tail and bad lines to sidecar
    /// files and rewrites the rest atomically. A healthy history is left
    /// as it is.
    ///
    /// The default repairs nothing: it verifies, and reports a damaged
    /// history as an error (a store whose commits are transactions has no
    /// torn tail, and a record changed by another program is better
    /// repaired through a file: export, repair the file, import it back).
    ///
    /// # Errors
    /// [`Error::Backend`](crate::Error::Backend) with
    /// [`BackendErrorKind::Corrupt`](crate::BackendErrorKind::Corrupt) for
    /// damage the store cannot repair in place; storage errors.
    fn repair(&self) -> Result<RepairReport> {
        let report = self.verify()?;
        if report.health == Health::Healthy {
            return Ok(RepairReport { kept: report.records, ..RepairReport::default() });
        }
        Err(crate::Error::Backend {
            store: self.describe(),
            kind: crate::BackendErrorKind::Corrupt,
            message: format!(
                "corrupt at {}; this store cannot repair records in place: export the history to a file, repair the file (bad lines go to a sidecar file) and import it back, replacing the history",
                first_problem(&report)
            ),
        })
    }

    /// Rewrites every record's line in the canonical form (checksummed,
    /// untagged; blank lines, a BOM and `\r` dropped), atomically: readers
    /// see the history as it was before or after, a crash leaves it as it
    /// was. The records do not change. Compacting a compact history
    /// changes nothing.
    ///
    /// # Errors
    /// [`Error::ReadOnly`](crate::Error::ReadOnly); damage (nothing is
    /// rewritten); storage errors (nothing is rewritten).
    fn compact(&self) -> Result<CompactReport>;
}

/// The first problem of a damaged history, for a message.
fn first_problem(r: &VerifyReport) -> String {
    match (r.corrupt_lines.first(), &r.torn_tail, r.damage().next()) {
        (Some(b), _, _) => format!("line {} of its JSONL export (byte {}): {}", b.line, b.offset, b.reason),
        (None, Some(t), _) => format!("line {} of its JSONL export (byte {}): {}", t.line, t.offset, t.reason),
        (None, None, Some(p)) => p.to_string(),
        (None, None, None) => "an unknown place".into(),
    }
}

/// Splits an export into lines and feeds each to the format's rules.
struct LineCheck {
    analyzer: Analyzer,
    partial: Vec<u8>,
    offset: u64,
    line_no: u64,
}

impl LineCheck {
    fn new() -> Self {
        LineCheck { analyzer: Analyzer::new(0), partial: Vec::new(), offset: 0, line_no: 0 }
    }

    fn line(&mut self) {
        let buf = std::mem::take(&mut self.partial);
        self.line_no += 1;
        let offset = self.offset;
        self.offset += buf.len() as u64;
        let terminated = buf.last() == Some(&b'\n');
        let content: &[u8] = if offset == 0 { buf.strip_prefix(BOM).unwrap_or(&buf) } else { &buf };
        let raw = RawLine { offset, number: self.line_no, bytes: content, terminated, end: self.offset };
        let kind = scan::classify_with(&raw, |b| codec::check_line(b, true));
        self.analyzer.push(&raw, &kind);
    }

    fn finish(mut self) -> scan::Scanned {
        if !self.partial.is_empty() {
            self.line();
        }
        self.analyzer.finish()
    }
}

impl Write for LineCheck {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..=i]);
            self.line();
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// [`Store::verify`] for any store, through its JSONL export: every line
/// gets the file format's rules (JSON, checksums, complete multi-record
/// commits; a partial last commit is read as records cut out of it, as an
/// import reads it), in constant memory; then the store's count and last
/// iteration are compared with what the lines hold (only if no writer
/// committed during the check). Damage at the end is reported as a bad
/// line, not a torn tail: a store whose commits are transactions has no
/// torn tail. Line numbers and byte offsets are those of the export.
///
/// # Errors
/// Storage errors while reading.
pub fn verify_export<S: Store + ?Sized>(s: &S) -> Result<VerifyReport> {
    let (count_before, last_before) = (s.count()?, s.last_iteration_num()?);
    let mut sink = LineCheck::new();
    let bytes = s.export_jsonl(&mut sink)?;
    let mut scanned = sink.finish();
    // Every commit of such a store is a transaction: a partial last commit
    // in its export came from an import of a file cut by a tool.
    scanned.accept_partial();
    let cut = scanned.cut.as_ref().map(|c| CutReport::new(c, c.first_line));
    let (count_after, last_after) = (s.count()?, s.last_iteration_num()?);
    let mut bad_lines = scanned.bad_lines;
    let mut bad_total = scanned.bad_total;
    match scanned.outcome {
        Outcome::Clean => {}
        Outcome::Torn { first_bad, .. } | Outcome::Corrupt { first_bad } => {
            if !bad_lines.iter().any(|b| b.offset == first_bad.offset) {
                bad_lines.insert(0, first_bad);
                bad_total += 1;
            }
        }
    }
    let totals = scanned.totals;
    let mut findings = Vec::new();
    let quiet = count_before == count_after && last_before == last_after;
    if quiet && bad_lines.is_empty() && (totals.records != count_before || totals.last != last_before) {
        findings.push(Finding::CountersMismatch {
            counted: count_before,
            counted_last: last_before,
            records: totals.records,
            last: totals.last,
        });
    }
    let healthy = bad_lines.is_empty() && !findings.iter().any(Finding::is_damage);
    Ok(VerifyReport {
        file: s.describe(),
        health: if healthy { Health::Healthy } else { Health::Corrupt },
        records: totals.records,
        unchecksummed: totals.unchecksummed,
        last_iteration_num: totals.last,
        bytes,
        torn_tail: None,
        corrupt_lines: bad_lines.iter().map(BadLineReport::from).collect(),
        cut,
        bad_lines_total: bad_total,
        findings,
    })
}

/// Copies the whole history of `src` into `dst`, byte for byte, as one
/// atomic commit in `dst` (see [`Store::import_jsonl`]): file store to
/// PostgreSQL and back gives the same bytes. The export and the import run
/// at the same time (the export in a second thread) in constant memory. An
/// export that fails half-way fails the import: `dst` is then unchanged.
/// `progress` is called with the number of records copied so far.
///
/// # Errors
/// Errors of the export (reading `src`) or of the import (writing `dst`,
/// including [`Error::Conflict`](crate::Error::Conflict) for
/// [`ImportMode::IntoEmpty`] and a destination with records).
#[cfg(not(target_family = "wasm"))]
pub fn copy(src: &dyn Store, dst: &dyn Store, mode: ImportMode, progress: &mut dyn FnMut(u64)) -> Result<ImportReport> {
    use std::sync::mpsc;

    let (tx, rx) = mpsc::sync_channel::<Chunk>(16);
    std::thread::scope(|scope| {
        let exporter = scope.spawn(move || {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, ChannelWriter { tx: tx.clone() });
            let result = src.export_jsonl(&mut out).and_then(|n| {
                out.flush().map_err(|e| crate::Error::io("output", "passing the export on", e))?;
                Ok(n)
            });
            drop(out);
            let _ = tx.send(match &result {
                Ok(_) => Chunk::Done,
                Err(e) => Chunk::Failed(e.to_string()),
            });
            result
        });
        let mut input =
            std::io::BufReader::with_capacity(1 << 16, ChannelReader { rx, buf: Vec::new(), pos: 0, done: false });
        let imported = dst.import_jsonl(&mut input, mode, progress);
        // If the import stopped early, unblock the exporter.
        drop(input);
        let exported = exporter.join().unwrap_or_else(|_| {
            Err(crate::Error::Io {
                file: src.describe(),
                op: "exporting (the export thread panicked)",
                source: std::sync::Arc::new(std::io::Error::other("panic")),
            })
        });
        match (exported, imported) {
            // The import failed reading its input because the export failed.
            (Err(ex), Err(crate::Error::Io { file, .. })) if file == "input" => Err(ex),
            // Otherwise the import's error says why (the exporter then only
            // saw the import stop).
            (_, Err(im)) => Err(im),
            (Err(ex), Ok(_)) => Err(ex),
            (Ok(n), Ok(report)) if report.bytes != n && !report.added_final_newline => Err(crate::Error::Io {
                file: dst.describe(),
                op: "copying",
                source: std::sync::Arc::new(std::io::Error::other(format!(
                    "the source exported {n} bytes but the destination holds {}",
                    report.bytes
                ))),
            }),
            (Ok(_), Ok(report)) => Ok(report),
        }
    })
}

#[cfg(not(target_family = "wasm"))]
enum Chunk {
    Data(Vec<u8>),
    Done,
    Failed(String),
}

#[cfg(not(target_family = "wasm"))]
struct ChannelWriter {
    tx: std::sync::mpsc::SyncSender<Chunk>,
}

#[cfg(not(target_family = "wasm"))]
impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .send(Chunk::Data(buf.to_vec()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the import stopped"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads what the exporter sends; the end of the input is reached only when
/// the export finished: a failed export is an error, never a short input.
#[cfg(not(target_family = "wasm"))]
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Chunk>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

#[cfg(not(target_family = "wasm"))]
impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Chunk::Data(d)) => {
                    self.buf = d;
                    self.pos = 0;
                }
                Ok(Chunk::Done) => self.done = true,
                Ok(Chunk::Failed(e)) => return Err(std::io::Error::other(format!("the export failed: {e}"))),
                Err(_) => return Err(std::io::Error::other("the export ended without finishing")),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
