//! What a writer does when it opens a history, and `repair`.
//!
//! The steps are described on [`RecoveryReport`](crate::RecoveryReport), where rustdoc shows them.

use std::io;

use crate::codec;
use crate::commit::{self, Target};
use crate::error::{Error, Result};
use crate::scan::{self, BadLine, CutRecords, Kind, Lines, Outcome, Scanned, Totals};
use crate::storage::{ReadFile, WriteFile};
use crate::{checkpoint, intent};

/// A torn tail found (and, by a writer, moved aside).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// Byte offset where the tail starts.
    pub offset: u64,
    /// 1-based line number where it starts (0 if not known).
    pub line: u64,
    /// Length of the tail in bytes.
    pub bytes: u64,
    /// Why it is not a complete commit.
    pub reason: String,
    /// The sidecar file its bytes were moved to (empty if not moved).
    pub sidecar: String,
}

/// A line that is not a valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BadLineReport {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's first byte.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

impl From<&BadLine> for BadLineReport {
    fn from(b: &BadLine) -> Self {
        BadLineReport { line: b.number, offset: b.offset, reason: b.error.to_string() }
    }
}

/// Records read although they were cut out of their multi-record commit
/// (see [`crate::scan`]): lines were removed, or the file was cut, by a tool.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CutReport {
    /// How many records.
    pub records: u64,
    /// 1-based line number of the first one (0 if not known).
    pub line: u64,
    /// Byte offset of the first one.
    pub offset: u64,
    /// What this means, for a message.
    pub message: String,
}

impl CutReport {
    pub(crate) fn new(c: &CutRecords, line: u64) -> Self {
        let where_ =
            if line > 0 { format!("line {line}, byte {}", c.first_offset) } else { format!("byte {}", c.first_offset) };
        CutReport {
            records: c.records,
            line,
            offset: c.first_offset,
            message: format!(
                "{} record(s) from multi-record commits whose other lines are not in the file (the first at {where_}); a crash of the writer cannot remove lines, so the file was cut or filtered by a tool (e.g. head, tail, grep, split); they are read as records",
                c.records
            ),
        }
    }
}

/// Applies the writer's in-flight record to a scan's partial last commit:
/// a torn tail if it names it, else records cut out of their commit.
pub(crate) fn apply_intent(t: Target<'_>, scanned: &mut Scanned) -> Result<()> {
    if let Some(p) = &scanned.partial
        && !intent::names(t.dir, t.name, t.display, p)?
    {
        scanned.accept_partial();
    }
    Ok(())
}

/// What `repair` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Records kept.
    pub kept: u64,
    /// Lines moved to the sidecar (at most 1000 listed).
    pub moved: Vec<BadLineReport>,
    /// Number of lines moved.
    pub moved_lines: u64,
    /// Bytes moved.
    pub moved_bytes: u64,
    /// The sidecar holding the moved bytes, if anything was moved.
    pub sidecar: Option<String>,
}

/// What opening for writing found and did.
///
/// On open (holding the writer lock): remove our stale temp files; create
/// the history if missing, else sync the directory (a writer that crashed
/// may have left its create or rename only in the page cache); scan it —
/// only the bytes after a valid checkpoint (`<history>.idx`, see docs/durability.md) if
/// there is one, else the whole file. A partial last commit is a torn tail
/// when the writer's in-flight record names it (`<history>.commit`, see docs/durability.md),
/// else records cut out of their commit by a tool. A torn tail (see [`crate::scan`]) is
/// copied to a sidecar `<history>.torn.<n>`, synced, and only then cut off,
/// so a crash in between loses nothing. Corruption fails the open with
/// [`Error::Corrupt`] unless repair was asked for.
///
/// `repair` moves every bad line (and a torn tail) to `<history>.bad.<n>`
/// and atomically rewrites the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Our stale temp files that were removed.
    pub removed_temp_files: Vec<String>,
    /// Whether the history file was created.
    pub created: bool,
    /// A torn tail that was moved aside.
    pub torn_tail: Option<TornTail>,
    /// A final line lacking its `\n` (a record from another tool, or
    /// blanks) got one.
    pub added_final_newline: bool,
    /// Corruption repaired on open (with `repair_on_open`).
    pub repaired: Option<RepairReport>,
    /// Records cut out of their commits by a tool, read as records (in the
    /// part of the file scanned on open).
    pub cut: Option<CutReport>,
    /// Bytes scanned on open: the whole file, or what follows a valid
    /// checkpoint.
    pub scanned_bytes: u64,
}

pub(crate) struct Opened {
    pub(crate) file: Box<dyn WriteFile>,
    pub(crate) totals: Totals,
    pub(crate) report: RecoveryReport,
    /// The whole of `[0, totals.end)` is known durable (synced here).
    pub(crate) durable: bool,
}

fn last_byte(src: &dyn ReadFile, len: u64, display: &str) -> Result<u8> {
    Ok(read_range(src, len - 1, len, display)?[0])
}

fn read_range(src: &dyn ReadFile, from: u64, to: u64, display: &str) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; (to - from) as usize];
    crate::storage::read_exact_at(src, &mut buf, from).map_err(|e| Error::io(display, "reading the history", e))?;
    Ok(buf)
}

/// Recovery on open; the caller holds the writer lock.
pub(crate) fn open(t: Target<'_>, repair_on_open: bool) -> Result<Opened> {
    let mut report = RecoveryReport::default();
    let entries = t.dir.list().map_err(|e| Error::io(t.display, "listing the directory", e))?;
    // Our temp files, and those of a lease renewal cut short by a crash.
    let lease = t.name.with_suffix(".lease")?;
    for entry in entries.iter().filter(|e| commit::is_temp_of(e, t.name) || commit::is_temp_of(e, &lease)) {
        let name = crate::storage::FileName::new(entry)?;
        match t.dir.remove(&name) {
            Ok(()) => report.removed_temp_files.push(entry.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(t.display, "removing a stale temp file", e)),
        }
    }
    let mut file = match t.dir.open_write(t.name) {
        Ok(f) => {
            // The file's directory entry may not be durable yet: a writer
            // that crashed between creating (or renaming over) the file and
            // syncing the directory leaves it only in the page cache. Sync
            // the directory before acknowledging anything appended to it.
            commit::sync_dir(t, "syncing the directory of the history")?;
            f
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.created = true;
            commit::create(t)?
        }
        Err(e) => return Err(Error::io(t.display, "opening the history", e)),
    };
    let len = file.len().map_err(|e| Error::io(t.display, "reading the history's length", e))?;
    // With `repair_on_open` the whole file is checked; otherwise only what
    // follows a valid checkpoint.
    let base = if repair_on_open { None } else { checkpoint::load(t.dir, t.name, &*file, len) };
    let start = base.map_or(0, |b| b.end);
    report.scanned_bytes = len - start;
    let mut scanned =
        scan::scan_after(&*file, base, len, false).map_err(|e| Error::io(t.display, "reading the history", e))?;
    apply_intent(t, &mut scanned)?;
    if let Some(c) = &scanned.cut {
        let line =
            if c.first_line > 0 { c.first_line } else { scan::line_number_at(&*file, c.first_offset).unwrap_or(0) };
        report.cut = Some(CutReport::new(c, line));
    }
    let mut totals = scanned.totals;
    let mut durable = false;
    match scanned.outcome {
        Outcome::Clean => {
            // A last line without `\n` (a record from another tool, or just
            // blanks) gets one: the next append must start a new line, or it
            // would be glued to it and its checksum would not match.
            if scanned.missing_newline || (len > 0 && last_byte(&*file, len, t.display)? != b'\n') {
                commit::append(t, &mut *file, len, b"\n", false)?;
                report.added_final_newline = true;
                totals.end = len + 1;
                durable = true;
            } else {
                totals.end = len;
            }
        }
        Outcome::Torn { from, first_bad } => {
            let bytes = read_range(&*file, from, len, t.display)?;
            let sidecar = commit::write_sidecar(t, "torn", &bytes)?;
            commit::truncate(t, &mut *file, from)?;
            totals.end = from;
            durable = true;
            let line = if first_bad.offset == from && first_bad.number > 0 {
                first_bad.number
            } else {
                scan::line_number_at(&*file, from).unwrap_or(0)
            };
            report.torn_tail =
                Some(TornTail { offset: from, line, bytes: len - from, reason: first_bad.error.to_string(), sidecar });
        }
        Outcome::Corrupt { first_bad } => {
            if !repair_on_open {
                let line = if first_bad.number > 0 {
                    first_bad.number
                } else {
                    scan::line_number_at(&*file, first_bad.offset).unwrap_or(0)
                };
                return Err(Error::Corrupt {
                    file: t.display.to_string(),
                    line,
                    offset: first_bad.offset,
                    reason: first_bad.error,
                });
            }
            let (replaced, rep, new_totals) = repair(t, file, len, 0)?;
            replaced.dir_synced?;
            file = replaced.file;
            totals = new_totals;
            durable = true;
            report.repaired = Some(rep);
        }
    }
    Ok(Opened { file, totals, report, durable })
}

/// Moves bad lines and a torn tail of `[0, len)` to a sidecar and rewrites
/// the rest atomically. Returns the new file, the report and the totals.
/// `src` is closed before the rename (see [`commit::replace`]).
///
/// `committed`: bytes known to hold acknowledged commits (a writer knows
/// what it committed; 0 when opening). A torn tail cannot start before it:
/// damage there is corruption, and only the bad lines themselves move.
pub(crate) fn repair(
    t: Target<'_>,
    src: Box<dyn ReadFile>,
    len: u64,
    committed: u64,
) -> Result<(commit::Replaced, RepairReport, Totals)> {
    let io_err = |e| Error::io(t.display, "reading the history", e);
    // Where the torn tail starts (if any), judged from the end.
    let mut tail = scan::tail(&*src, len).map_err(io_err)?;
    apply_intent(t, &mut tail)?;
    let keep_end = match tail.outcome {
        Outcome::Torn { from, .. } => from.max(committed.min(len)),
        _ => len,
    };
    let mut report = RepairReport::default();
    let mut totals = Totals::default();
    let replaced = commit::replace(t, src, |src, f| {
        let write_err = |e| Error::io(t.display, "writing a temp file", e);
        let mut out = Vec::with_capacity(1 << 20);
        let mut pos = 0u64;
        let mut moved = Vec::new();
        let mut lines = Lines::new(0, len, 1);
        while let Some(line) = lines.next_line(&**src).map_err(io_err)? {
            let kind = if line.offset >= keep_end { None } else { Some(scan::classify(&line, true)) };
            match kind {
                Some(Kind::Blank) => {}
                Some(Kind::Valid(info)) => {
                    let body = codec::strip_line_end(line.bytes);
                    // Commit tags lose their meaning once lines are removed.
                    match info.tag.and_then(|_| codec::untag(body)) {
                        Some(untagged) => out.extend_from_slice(&untagged),
                        None => {
                            out.extend_from_slice(body);
                            out.push(b'\n');
                        }
                    }
                    totals.records += 1;
                    totals.last = Some(info.iteration_num);
                    if !info.checksummed {
                        totals.unchecksummed += 1;
                    }
                    if out.len() >= 1 << 20 {
                        f.write_at(&out, pos).map_err(write_err)?;
                        pos += out.len() as u64;
                        out.clear();
                    }
                }
                Some(Kind::Invalid(_)) | None => {
                    let reason = match kind {
                        Some(Kind::Invalid(e)) => e.to_string(),
                        _ => "part of a torn tail (a write that did not finish)".to_string(),
                    };
                    if report.moved.len() < scan::MAX_REPORTED_BAD_LINES {
                        report.moved.push(BadLineReport { line: line.number, offset: line.offset, reason });
                    }
                    report.moved_lines += 1;
                    moved.extend_from_slice(line.bytes);
                    if !line.terminated {
                        moved.push(b'\n');
                    }
                }
            }
        }
        f.write_at(&out, pos).map_err(write_err)?;
        totals.end = pos + out.len() as u64;
        report.kept = totals.records;
        report.moved_bytes = moved.len() as u64;
        // The moved bytes are durable in the sidecar before the rename drops them.
        if !moved.is_empty() {
            report.sidecar = Some(commit::write_sidecar(t, "bad", &moved)?);
        }
        Ok(())
    })?;
    Ok((replaced, report, totals))
}
