//! Reading a history's bytes: lines, commits, and where the valid part ends.
//!
//! This is the format logic of recovery, kept apart from files: it reads
//! through a [`ReadFile`] (any byte source) and never changes anything.
//!
//! # Rules
//! * A line is *valid* if it decodes to a record (and its checksum, if any,
//!   matches); *blank* if it holds only whitespace; otherwise *invalid*.
//! * A *commit* is one untagged valid line, or the `n` valid lines tagged
//!   `1/n … n/n` that one commit wrote (see [`crate::codec`]), each at the
//!   byte offset its tag names from the commit's first line.
//! * The *torn tail*: if the end of the file is damage — invalid lines, or
//!   an unterminated last line — and no complete commit follows the first
//!   damage, everything from the start of the damaged commit to the end of
//!   the file is the tail of a write that did not finish. Readers ignore
//!   it; a writer moves it to a sidecar.
//! * *Corruption*: damage followed by a complete commit. It cannot come from
//!   a crash of our writer, so it is reported with its line and byte offset.
//! * *Cut records*: valid tagged lines that are not where their commit puts
//!   them — a commit interrupted by a valid line of another commit, a line
//!   whose commit's earlier lines are missing, or lines whose offsets no
//!   longer match. A crash cannot produce this (it loses or garbles bytes in
//!   place; it never removes a line and keeps the next); a line tool
//!   (`head`, `tail`, `grep`, `split`, `sed -n`) does. They are read as the
//!   records they are and counted in [`Scanned::cut`].
//! * *A partial last commit*: the range ends, with no damage, after the
//!   first `k < n` lines of a tagged commit. A writer that stopped during
//!   the commit leaves this, and so does a tool that cut the file after
//!   line `k`. The lines alone cannot tell which, so [`Analyzer::finish`]
//!   takes the safe side — a torn tail, which a reader ignores and so never
//!   shows part of a batch in flight — and describes it in
//!   [`Scanned::partial`]. The history, which knows the commit its writer
//!   had in flight (see [`crate::intent`]), calls
//!   [`Scanned::accept_partial`] when that record names another commit (or
//!   there is none, as for a file cut under another name): its lines are
//!   then read as cut records.
//! * An unterminated last line without a checksum that is a valid record
//!   (a file written by another tool without a final newline) is a record;
//!   a writer adds the missing `\n`.
//!
//! # Using the rules on bytes you already hold
//! [`History`](crate::History) reads files through [`ReadFile`]. A caller
//! that holds a history's bytes itself (the browser viewer, which builds
//! columns with its own decoder) splits them into [`RawLine`]s, classifies
//! each with [`classify_with`] and feeds it to an [`Analyzer`]; [`Analyzer::finish`]
//! gives the same verdict a reader gets: the valid records, a torn tail, or
//! corruption with its line and byte offset.

use std::io;

use crate::codec::{self, GroupTag, LineError, LineInfo};
use crate::record::IterationRecord;
use crate::storage::ReadFile;

const CHUNK: usize = 1 << 20;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One physical line of the file.
#[derive(Clone, Copy, Debug)]
pub struct RawLine<'a> {
    /// Byte offset of the line's first byte (0 for the first line, even
    /// when a BOM precedes it).
    pub offset: u64,
    /// 1-based line number (0 when unknown).
    pub number: u64,
    /// The bytes, including `\n` when terminated (a leading BOM removed).
    pub bytes: &'a [u8],
    /// Whether the line ends with `\n`.
    pub terminated: bool,
    /// Offset just past the line (its `\n` included).
    pub end: u64,
}

/// Forward reader of the lines in `[start, end)` of a byte source (passed
/// to each call, so an iterator can own both).
#[derive(Debug)]
pub(crate) struct Lines {
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    buf_len: usize,
    cursor: usize,
    number: u64,
}

impl Lines {
    /// Lines from `start` (a line start) to `end`; `first_number` is the
    /// line number of the line at `start` (0: do not count).
    pub(crate) fn new(start: u64, end: u64, first_number: u64) -> Self {
        Lines { pos: start, end, buf: Vec::new(), buf_start: start, buf_len: 0, cursor: 0, number: first_number }
    }

    /// The next line, or `None` at `end`.
    pub(crate) fn next_line(&mut self, src: &dyn ReadFile) -> io::Result<Option<RawLine<'_>>> {
        let line_start = self.buf_start + self.cursor as u64;
        if line_start >= self.end {
            return Ok(None);
        }
        // Find the newline, refilling (and growing) the buffer as needed.
        let mut searched = self.cursor;
        let nl = loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[searched..self.buf_len]) {
                break Some(searched + i);
            }
            searched = self.buf_len;
            if self.pos >= self.end {
                break None;
            }
            // Move the partial line to the front and read more.
            self.buf.copy_within(self.cursor..self.buf_len, 0);
            self.buf_len -= self.cursor;
            searched -= self.cursor;
            self.buf_start += self.cursor as u64;
            self.cursor = 0;
            let want = CHUNK.max(self.buf_len * 2).min((self.end - self.pos) as usize + self.buf_len);
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            let room = (self.buf.len() - self.buf_len).min((self.end - self.pos) as usize);
            let n = read_some(src, &mut self.buf[self.buf_len..self.buf_len + room], self.pos)?;
            if n == 0 {
                // The source is shorter than `end`: treat as the end.
                self.end = self.pos;
                break None;
            }
            self.buf_len += n;
            self.pos += n as u64;
        };
        let (stop, terminated) = match nl {
            Some(i) => (i + 1, true),
            None => (self.buf_len, false),
        };
        let mut bytes = &self.buf[self.cursor..stop];
        if line_start == 0 && bytes.starts_with(BOM) {
            bytes = &bytes[BOM.len()..];
        }
        self.cursor = stop;
        let number = self.number;
        if self.number != 0 {
            self.number += 1;
        }
        Ok(Some(RawLine { offset: line_start, number, bytes, terminated, end: self.buf_start + stop as u64 }))
    }
}

fn read_some(src: &dyn ReadFile, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        match src.read_at(buf, offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// What a line is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Only whitespace.
    Blank,
    /// A record (its checksum, if any, matches).
    Valid(LineInfo),
    /// Not a record, and why.
    Invalid(LineError),
}

/// Classifies a line. `full` parses checksummed lines too.
pub(crate) fn classify(line: &RawLine<'_>, full: bool) -> Kind {
    classify_with(line, |bytes| codec::check_line(bytes, full))
}

/// Classifies a line from what a decoder says about its bytes: `check` is
/// [`codec::check_line`], or an equivalent that also reads what the caller
/// needs (it gets the line with its line end; it is not called for a blank
/// line). Applies the rule for unterminated lines: a line of ours without
/// its `\n`, or an invalid one, is a write that did not finish.
pub fn classify_with(line: &RawLine<'_>, check: impl FnOnce(&[u8]) -> Result<LineInfo, LineError>) -> Kind {
    if codec::is_blank(line.bytes) {
        return Kind::Blank;
    }
    match check(line.bytes) {
        // Our own lines always end with `\n`; without it the write was torn.
        Ok(info) if !line.terminated && info.checksummed => Kind::Invalid(LineError::Unterminated),
        Ok(info) => Kind::Valid(info),
        Err(_) if !line.terminated => Kind::Invalid(LineError::Unterminated),
        Err(e) => Kind::Invalid(e),
    }
}

/// A damaged line.
#[derive(Clone, Debug, PartialEq)]
pub struct BadLine {
    /// Byte offset of the line's first byte.
    pub offset: u64,
    /// 1-based; 0 if not known yet (backward scans).
    pub number: u64,
    /// What is wrong with it.
    pub error: LineError,
}

#[derive(Clone, Debug)]
struct Pending {
    start: u64,
    count: u32,
    next: u32,
    records: u64,
    last: u64,
    first_number: u64,
    /// End of its last line so far.
    end: u64,
    /// CRC-32C of its first line (with its `\n`).
    first_crc: u32,
}

/// The last commit of a range when only its first lines are there (see the
/// [rules](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialCommit {
    /// Offset of its first line.
    pub from: u64,
    /// 1-based line number of its first line (0 if unknown).
    pub line: u64,
    /// Lines present.
    pub present: u32,
    /// Lines the commit holds.
    pub count: u32,
    /// CRC-32C of its first line, `\n` included (what a writer's in-flight
    /// record names).
    pub first_line_crc: u32,
    /// The totals with its records.
    with: Totals,
}

/// Records read although they were cut out of their multi-record commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CutRecords {
    /// How many.
    pub records: u64,
    /// Offset of the first one's line.
    pub first_offset: u64,
    /// 1-based line number of the first one (0 if unknown).
    pub first_line: u64,
}

#[derive(Clone, Debug)]
struct Damage {
    /// Where the damaged commit starts (the torn tail would start here).
    torn_from: u64,
    first_bad: BadLine,
    /// A complete commit, or a line of another commit, follows the damage.
    corrupt: bool,
    /// Commit start named by valid tagged lines after the damage.
    group_start: Option<u64>,
}

/// Totals of the valid part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// End offset of the last complete commit (blank lines after it included).
    pub end: u64,
    /// Records in complete commits.
    pub records: u64,
    /// `iteration_num` of the last record.
    pub last: Option<u64>,
    /// Valid lines without a checksum.
    pub unchecksummed: u64,
}

/// How a scanned range ends.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Everything is complete commits (and blank lines).
    Clean,
    /// The range ends with a torn tail starting at `from`.
    Torn {
        /// Offset where the tail starts (the start of its damaged commit).
        from: u64,
        /// The first invalid line in the tail.
        first_bad: BadLine,
    },
    /// Damage followed by complete commits.
    Corrupt {
        /// The first invalid line.
        first_bad: BadLine,
    },
}

/// The forward state machine that applies the rules of this module: feed
/// it every line of a range in order ([`Analyzer::push`]), then
/// [`Analyzer::finish`]. A clone can be finished to see how the lines
/// so far end, while the original goes on (the viewer's live follow).
#[derive(Clone, Debug)]
pub struct Analyzer {
    good: Totals,
    pending: Option<Pending>,
    damage: Option<Damage>,
    /// The last line is a valid record without its `\n` (foreign writer).
    missing_newline: bool,
    /// Every invalid line seen (for verify), up to a cap.
    bad_lines: Vec<BadLine>,
    bad_total: u64,
    cut: Option<CutRecords>,
}

/// How many bad lines [`Analyzer`] remembers for a report.
pub const MAX_REPORTED_BAD_LINES: usize = 1000;

impl Analyzer {
    /// A state machine for a range that starts at offset `start` (0 for a
    /// whole file).
    pub fn new(start: u64) -> Self {
        Analyzer {
            good: Totals { end: start, ..Totals::default() },
            pending: None,
            damage: None,
            missing_newline: false,
            bad_lines: Vec::new(),
            bad_total: 0,
            cut: None,
        }
    }

    fn start_damage(&mut self, torn_from: u64, first_bad: BadLine) {
        self.damage = Some(Damage { torn_from, first_bad, corrupt: false, group_start: None });
    }

    fn note_bad(&mut self, line: &RawLine<'_>, error: &LineError) {
        self.bad_total += 1;
        if self.bad_lines.len() < MAX_REPORTED_BAD_LINES {
            self.bad_lines.push(BadLine { offset: line.offset, number: line.number, error: error.clone() });
        }
    }

    /// The first damage seen so far, if any (an import stops there).
    pub(crate) fn first_damage(&self) -> Option<&BadLine> {
        self.damage.as_ref().map(|d| &d.first_bad)
    }

    /// Feeds the next line with its classification.
    pub fn push(&mut self, line: &RawLine<'_>, kind: &Kind) {
        if let Kind::Invalid(e) = kind {
            self.note_bad(line, e);
        }
        if let Some(d) = &mut self.damage {
            if let Kind::Valid(info) = kind {
                match info.tag {
                    None => d.corrupt = true,
                    Some(tag) => {
                        let start = line.offset.saturating_sub(tag.offset);
                        if start != d.torn_from || d.group_start.is_some_and(|g| g != start) {
                            d.corrupt = true;
                        }
                        d.group_start = Some(start);
                    }
                }
            }
            return;
        }
        match kind {
            Kind::Blank => {
                if self.pending.is_none() {
                    self.good.end = line.end;
                }
            }
            Kind::Invalid(e) => {
                let from = self.pending.take().map_or(line.offset, |p| p.start);
                let bad = BadLine { offset: line.offset, number: line.number, error: e.clone() };
                self.start_damage(from, bad);
            }
            Kind::Valid(info) => {
                if !line.terminated {
                    self.missing_newline = true;
                }
                match info.tag {
                    None => {
                        if let Some(p) = self.pending.take() {
                            self.cut_pending(&p);
                        }
                        self.commit_one(line.end, info);
                    }
                    Some(tag) => self.push_tagged(line, info, tag),
                }
            }
        }
    }

    fn push_tagged(&mut self, line: &RawLine<'_>, info: &LineInfo, tag: GroupTag) {
        let start = line.offset.saturating_sub(tag.offset);
        if let Some(mut p) = self.pending.take() {
            if p.start == start && p.next == tag.index && p.count == tag.count {
                p.records += 1;
                p.last = info.iteration_num;
                p.next += 1;
                p.end = line.end;
                if tag.index == tag.count {
                    self.commit_group(&p);
                } else {
                    self.pending = Some(p);
                }
                return;
            }
            // Interrupted by a valid line: a tool removed lines (a crash
            // garbles bytes in place, it never removes a line).
            self.cut_pending(&p);
        }
        if tag.index == 1 && tag.count > 1 {
            self.pending = Some(Pending {
                start: line.offset,
                count: tag.count,
                next: 2,
                records: 1,
                last: info.iteration_num,
                first_number: line.number,
                end: line.end,
                first_crc: crc32c::crc32c(line.bytes),
            });
        } else {
            // `1/1`, or a line whose commit's earlier lines are not here.
            if tag.index != tag.count || tag.offset != 0 {
                self.note_cut(line.offset, line.number, 1);
            }
            self.commit_one(line.end, info);
        }
    }

    fn note_cut(&mut self, offset: u64, number: u64, records: u64) {
        match &mut self.cut {
            Some(c) => c.records += records,
            None => self.cut = Some(CutRecords { records, first_offset: offset, first_line: number }),
        }
    }

    /// The lines of a pending commit are records cut out of it.
    fn cut_pending(&mut self, p: &Pending) {
        self.note_cut(p.start, p.first_number, p.records);
        self.commit_group(p);
    }

    fn commit_one(&mut self, end: u64, info: &LineInfo) {
        self.good.end = end;
        self.good.records += 1;
        self.good.last = Some(info.iteration_num);
        if !info.checksummed {
            self.good.unchecksummed += 1;
        }
    }

    fn commit_group(&mut self, p: &Pending) {
        self.good.end = p.end;
        self.good.records += p.records;
        self.good.last = Some(p.last);
    }

    /// Ends the scan. A partial last commit is a torn tail, described in
    /// [`Scanned::partial`] (see the [rules](self)).
    pub fn finish(mut self) -> Scanned {
        let mut partial = None;
        let outcome = match (self.damage.take(), self.pending.take()) {
            (Some(d), _) if d.corrupt => Outcome::Corrupt { first_bad: d.first_bad },
            (Some(d), _) => Outcome::Torn { from: d.torn_from, first_bad: d.first_bad },
            (None, Some(p)) => {
                let mut with = self.good;
                with.end = p.end;
                with.records += p.records;
                with.last = Some(p.last);
                partial = Some(PartialCommit {
                    from: p.start,
                    line: p.first_number,
                    present: p.records as u32,
                    count: p.count,
                    first_line_crc: p.first_crc,
                    with,
                });
                Outcome::Torn {
                    from: p.start,
                    first_bad: BadLine {
                        offset: p.start,
                        number: p.first_number,
                        error: LineError::IncompleteCommit { present: p.records as u32, count: p.count },
                    },
                }
            }
            (None, None) => Outcome::Clean,
        };
        let missing_newline = self.missing_newline && outcome == Outcome::Clean;
        Scanned {
            totals: self.good,
            outcome,
            missing_newline,
            bad_lines: self.bad_lines,
            bad_total: self.bad_total,
            cut: self.cut,
            partial,
        }
    }
}

/// The result of a scan.
#[derive(Debug)]
pub struct Scanned {
    /// Totals of the valid part (complete commits before any damage).
    pub totals: Totals,
    /// How the range ends.
    pub outcome: Outcome,
    /// The file is clean but its last record lacks `\n`.
    pub missing_newline: bool,
    /// Every invalid line, in order (at most [`MAX_REPORTED_BAD_LINES`]).
    pub bad_lines: Vec<BadLine>,
    /// Number of invalid lines in all.
    pub bad_total: u64,
    /// Records read although they were cut out of their commit (a partial
    /// last commit included once [`accept_partial`](Self::accept_partial)
    /// made it records).
    pub cut: Option<CutRecords>,
    /// The range ends with the first lines of a commit whose other lines
    /// are missing: `outcome` is then a torn tail from its first line, until
    /// [`accept_partial`](Self::accept_partial).
    pub partial: Option<PartialCommit>,
}

impl Scanned {
    /// Reads the partial last commit (if any) as records cut out of their
    /// commit, instead of a torn tail: what a history does when its
    /// writer's in-flight record does not name that commit. Returns whether
    /// there was one.
    pub fn accept_partial(&mut self) -> bool {
        let Some(p) = self.partial.take() else { return false };
        self.totals = p.with;
        let records = u64::from(p.present);
        match &mut self.cut {
            Some(c) => c.records += records,
            None => self.cut = Some(CutRecords { records, first_offset: p.from, first_line: p.line }),
        }
        self.outcome = Outcome::Clean;
        true
    }
}

/// Scans `[0, len)` forward. With `full`, every line's JSON is parsed.
pub(crate) fn scan_all(src: &dyn ReadFile, len: u64, full: bool) -> io::Result<Scanned> {
    scan_range(src, 0, len, 1, full)
}

/// Scans `[base.end, len)` forward (line numbers unknown: 0) and adds the
/// totals of the prefix `base` (from a checkpoint), or scans `[0, len)`.
pub(crate) fn scan_after(src: &dyn ReadFile, base: Option<Totals>, len: u64, full: bool) -> io::Result<Scanned> {
    let Some(base) = base else { return scan_all(src, len, full) };
    let mut s = scan_range(src, base.end, len, 0, full)?;
    s.totals.add_prefix(&base);
    if let Some(p) = &mut s.partial {
        p.with.add_prefix(&base);
    }
    Ok(s)
}

impl Totals {
    fn add_prefix(&mut self, base: &Totals) {
        self.records += base.records;
        self.unchecksummed += base.unchecksummed;
        self.last = self.last.or(base.last);
    }
}

fn scan_range(src: &dyn ReadFile, start: u64, end: u64, first_number: u64, full: bool) -> io::Result<Scanned> {
    let mut lines = Lines::new(start, end, first_number);
    let mut an = Analyzer::new(start);
    while let Some(line) = lines.next_line(src)? {
        let kind = classify(&line, full);
        an.push(&line, &kind);
    }
    Ok(an.finish())
}

/// Where the valid part of `[0, len)` ends, reading only the tail.
///
/// Walks back from the end to the last line that starts a commit (a valid
/// untagged line, or a valid `1/n` line), then applies the rules forward
/// from there. Corruption before that point is not looked for (readers find
/// it when they reach it). Line numbers in the result are 0 (unknown).
pub(crate) fn tail(src: &dyn ReadFile, len: u64) -> io::Result<Scanned> {
    let anchor = find_anchor(src, len)?;
    scan_range(src, anchor, len, 0, false)
}

/// Start of the last line before `len` that begins a commit, or 0.
fn find_anchor(src: &dyn ReadFile, len: u64) -> io::Result<u64> {
    let mut back = BackLines::new(src, len);
    while let Some((start, bytes, terminated)) = back.prev()? {
        if !terminated {
            continue;
        }
        let line = RawLine { offset: start, number: 0, bytes: &bytes, terminated, end: start + bytes.len() as u64 };
        if let Kind::Valid(info) = classify(&line, false)
            && info.tag.is_none_or(|t| t.index == 1)
        {
            return Ok(start);
        }
    }
    Ok(0)
}

/// Backward reader of lines in `[0, end)`.
pub(crate) struct BackLines<'a> {
    src: &'a dyn ReadFile,
    /// Bytes `[buf_start, line_end)` are in `buf`.
    buf: Vec<u8>,
    buf_start: u64,
    /// End of the next line to return.
    line_end: u64,
    first: bool,
}

impl<'a> BackLines<'a> {
    pub(crate) fn new(src: &'a dyn ReadFile, end: u64) -> Self {
        BackLines { src, buf: Vec::new(), buf_start: end, line_end: end, first: true }
    }

    /// The previous line: (start offset, bytes incl. `\n`, terminated).
    /// The bytes are copied out; a leading BOM at offset 0 is removed.
    pub(crate) fn prev(&mut self) -> io::Result<Option<(u64, Vec<u8>, bool)>> {
        if self.line_end == 0 {
            return Ok(None);
        }
        let terminated;
        let content_end; // end of the line before its '\n' (search limit)
        self.ensure(self.line_end - 1)?;
        if self.first {
            self.first = false;
            // The last segment: terminated iff the byte before end is '\n'.
            terminated = self.byte(self.line_end - 1) == b'\n';
            content_end = if terminated { self.line_end - 1 } else { self.line_end };
        } else {
            terminated = true;
            content_end = self.line_end - 1;
        }
        // Search backward for the '\n' that ends the line before this one.
        let start = loop {
            let local_end = (content_end - self.buf_start) as usize;
            if let Some(i) = memchr::memrchr(b'\n', &self.buf[..local_end]) {
                break self.buf_start + i as u64 + 1;
            }
            if self.buf_start == 0 {
                break 0;
            }
            self.grow()?;
        };
        let mut bytes = self.buf[(start - self.buf_start) as usize..(self.line_end - self.buf_start) as usize].to_vec();
        if start == 0 && bytes.starts_with(BOM) {
            bytes.drain(..BOM.len());
        }
        self.line_end = start;
        // Keep the buffer bounded: drop what lies after the new line end.
        self.buf.truncate((start - self.buf_start) as usize);
        Ok(Some((start, bytes, terminated)))
    }

    fn byte(&self, offset: u64) -> u8 {
        self.buf[(offset - self.buf_start) as usize]
    }

    /// Makes sure `offset` is in the buffer.
    fn ensure(&mut self, offset: u64) -> io::Result<()> {
        while offset < self.buf_start {
            self.grow()?;
        }
        Ok(())
    }

    /// Reads one more chunk before `buf_start`: 16 KiB first (the last few
    /// records), then twice what is buffered, up to 1 MiB, so `load_recent(5)`
    /// reads kilobytes, not a megabyte.
    fn grow(&mut self) -> io::Result<()> {
        let want = self.buf.len().clamp(16 * 1024, CHUNK);
        let take = (want as u64).min(self.buf_start).max(1) as usize;
        let new_start = self.buf_start - take as u64;
        let mut chunk = vec![0u8; take];
        crate::storage::read_exact_at(self.src, &mut chunk, new_start)?;
        chunk.extend_from_slice(&self.buf);
        self.buf = chunk;
        self.buf_start = new_start;
        Ok(())
    }
}

/// The last `n` records of the valid part `[0, end)`, oldest first.
///
/// # Errors
/// I/O errors; an invalid line met on the way is returned as `Err(BadLine)`
/// (line number unknown: 0).
pub(crate) fn recent(src: &dyn ReadFile, end: u64, n: usize) -> io::Result<Result<Vec<IterationRecord>, BadLine>> {
    let mut out = Vec::with_capacity(n.min(4096));
    let mut back = BackLines::new(src, end);
    while out.len() < n {
        let Some((start, bytes, _)) = back.prev()? else { break };
        if codec::is_blank(&bytes) {
            continue;
        }
        match codec::decode_line(&bytes) {
            Ok((rec, _)) => out.push(rec),
            Err(error) => return Ok(Err(BadLine { offset: start, number: 0, error })),
        }
    }
    out.reverse();
    Ok(Ok(out))
}

/// `iteration_num` of the last record in the valid part `[0, end)`.
pub(crate) fn last_iteration(src: &dyn ReadFile, end: u64) -> io::Result<Result<Option<u64>, BadLine>> {
    let mut back = BackLines::new(src, end);
    while let Some((start, bytes, _)) = back.prev()? {
        if codec::is_blank(&bytes) {
            continue;
        }
        return Ok(match codec::check_line(&bytes, false) {
            Ok(info) => Ok(Some(info.iteration_num)),
            Err(error) => Err(BadLine { offset: start, number: 0, error }),
        });
    }
    Ok(Ok(None))
}

/// 1-based number of the line that starts at `offset` (counts `\n` before it).
pub(crate) fn line_number_at(src: &dyn ReadFile, offset: u64) -> io::Result<u64> {
    let mut count = 1u64;
    let mut pos = 0u64;
    let mut buf = vec![0u8; CHUNK];
    while pos < offset {
        let want = ((offset - pos) as usize).min(CHUNK);
        let n = read_some(src, &mut buf[..want], pos)?;
        if n == 0 {
            break;
        }
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        pos += n as u64;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{encode_body, encode_line, finish_commit};
    use crate::storage::{Dir, FileName, MemDir};
    use crate::value::Value;

    fn rec(n: u64) -> IterationRecord {
        let mut r = IterationRecord::new(n, format!("code {n}"));
        r.execution_result.insert("success".into(), Value::Bool(true));
        r.set_metric("sharpe_ratio", n as f64 / 10.0);
        r.classification_level = "LEVEL_1".into();
        r.timestamp = "2025-01-01T00:00:00".into();
        r
    }

    fn line(n: u64) -> Vec<u8> {
        encode_line(&rec(n)).expect("valid")
    }

    fn group(ns: &[u64]) -> Vec<u8> {
        let bodies: Vec<_> = ns.iter().map(|&n| encode_body(&rec(n)).expect("valid")).collect();
        let mut out = Vec::new();
        finish_commit(&bodies, bodies.len(), &mut out);
        out
    }

    fn src(bytes: &[u8]) -> Box<dyn ReadFile> {
        let d = MemDir::new();
        d.put("f", bytes);
        d.open_read(&FileName::new("f").expect("name")).expect("open")
    }

    /// The public route: lines split from bytes held in memory, classified
    /// with `classify_with` and fed to an `Analyzer` by the caller.
    fn scan_in_memory(bytes: &[u8]) -> Scanned {
        let mut an = Analyzer::new(0);
        let (mut offset, mut number) = (0usize, 1u64);
        while offset < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |i| offset + i + 1);
            let mut line = &bytes[offset..end];
            if offset == 0 {
                line = line.strip_prefix(BOM).unwrap_or(line);
            }
            let raw = RawLine {
                offset: offset as u64,
                number,
                bytes: line,
                terminated: line.ends_with(b"\n"),
                end: end as u64,
            };
            let kind = classify_with(&raw, |b| codec::decode_line(b).map(|(_, info)| info));
            an.push(&raw, &kind);
            offset = end;
            number += 1;
        }
        an.finish()
    }

    fn scan(bytes: &[u8]) -> Scanned {
        let s = src(bytes);
        let full = scan_all(&*s, bytes.len() as u64, true).expect("scan");
        let fast = scan_all(&*s, bytes.len() as u64, false).expect("scan");
        assert_eq!(full.outcome, fast.outcome);
        assert_eq!(full.totals, fast.totals);
        let mem = scan_in_memory(bytes);
        assert_eq!(mem.outcome, full.outcome);
        assert_eq!(mem.totals, full.totals);
        assert_eq!(mem.bad_lines, full.bad_lines);
        assert_eq!(mem.missing_newline, full.missing_newline);
        // The backward tail scan agrees on where the valid part ends.
        let t = tail(&*s, bytes.len() as u64).expect("tail");
        if !matches!(full.outcome, Outcome::Corrupt { .. }) {
            let end = |sc: &Scanned| match &sc.outcome {
                Outcome::Torn { from, .. } => *from,
                _ => sc.totals.end,
            };
            assert_eq!(end(&t), end(&full), "tail vs full on {:?}", String::from_utf8_lossy(bytes));
        }
        full
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn clean_file_with_blank_lines_bom_and_crlf() {
        let mut a = line(1);
        a.pop();
        a.extend_from_slice(b"\r\n");
        let bytes = cat(&[BOM, &a, b"\n  \n", &line(2), &group(&[3, 4])]);
        let s = scan(&bytes);
        assert_eq!(s.outcome, Outcome::Clean);
        assert_eq!(s.totals.records, 4);
        assert_eq!(s.totals.last, Some(4));
        assert_eq!(s.totals.end, bytes.len() as u64);
    }

    #[test]
    fn unterminated_last_line_is_torn() {
        let good = cat(&[&line(1), &line(2)]);
        let l3 = line(3);
        for cut in 1..l3.len() {
            let bytes = cat(&[&good, &l3[..cut]]);
            let s = scan(&bytes);
            assert!(matches!(s.outcome, Outcome::Torn { from, .. } if from == good.len() as u64), "cut {cut}");
            assert_eq!(s.totals.records, 2);
        }
    }

    #[test]
    fn zero_and_garbage_tails_are_torn() {
        let good = cat(&[&line(1), &line(2)]);
        for tail_bytes in [vec![0u8; 300], b"\x13\x99garbage\n".to_vec(), b"{\"iteration_num\":3}\n\0\0".to_vec()] {
            let bytes = cat(&[&good, &tail_bytes]);
            let s = scan(&bytes);
            assert!(matches!(s.outcome, Outcome::Torn { from, .. } if from == good.len() as u64));
        }
    }

    #[test]
    fn damage_followed_by_a_record_is_corruption() {
        let bytes = cat(&[&line(1), b"not json\n", &line(3)]);
        let s = scan(&bytes);
        match s.outcome {
            Outcome::Corrupt { first_bad } => {
                assert_eq!(first_bad.number, 2);
                assert_eq!(first_bad.offset, line(1).len() as u64);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_damaged_or_short_final_commit_is_torn_as_a_whole() {
        let good = line(1);
        let g = group(&[2, 3, 4]);
        let lens: Vec<usize> = g.split_inclusive(|&b| b == b'\n').map(<[u8]>::len).collect();
        // Only the first line (or two) of the commit made it: read as cut
        // records, unless the writer's in-flight record names the commit.
        for (present, keep) in [(1u32, lens[0]), (2, lens[0] + lens[1])] {
            let mut s = scan(&cat(&[&good, &g[..keep]]));
            assert!(matches!(s.outcome, Outcome::Torn { from, .. } if from == good.len() as u64));
            assert_eq!(s.totals.records, 1);
            let p = s.partial.clone().expect("partial");
            assert_eq!((p.from, p.present, p.count), (good.len() as u64, present, 3));
            assert_eq!(p.first_line_crc, crc32c::crc32c(&g[..lens[0]]));
            assert!(s.accept_partial());
            assert_eq!(s.outcome, Outcome::Clean);
            assert_eq!(s.totals.records, 1 + u64::from(present));
            assert_eq!(s.cut.map(|c| (c.records, c.first_offset)), Some((u64::from(present), good.len() as u64)));
        }
        // First line zeroed, the rest intact.
        let mut damaged = g.clone();
        damaged[..lens[0]].fill(0);
        let s = scan(&cat(&[&good, &damaged]));
        assert!(matches!(s.outcome, Outcome::Torn { from, .. } if from == good.len() as u64), "{:?}", s.outcome);
        // Middle line garbled.
        let mut damaged = g.clone();
        damaged[lens[0] + 5] ^= 0x55;
        let s = scan(&cat(&[&good, &damaged]));
        assert!(matches!(s.outcome, Outcome::Torn { from, .. } if from == good.len() as u64));
        assert_eq!(s.totals.records, 1);
    }

    #[test]
    fn lines_cut_out_of_their_commit_by_a_tool_are_records() {
        let g = group(&[2, 3, 4, 5]);
        let lines: Vec<&[u8]> = g.split_inclusive(|&b| b == b'\n').collect();
        let l1 = line(1);
        let l6 = line(6);
        // tail: the commit's first lines are gone.
        let s = scan(&cat(&[lines[2], lines[3], &l6]));
        assert_eq!((s.outcome.clone(), s.totals.records, s.partial.clone()), (Outcome::Clean, 3, None));
        assert_eq!(s.cut, Some(CutRecords { records: 2, first_offset: 0, first_line: 1 }));
        // grep: lines 1 and 3 of the commit kept, 2 and 4 removed.
        let s = scan(&cat(&[&l1, lines[0], lines[2], &l6]));
        assert_eq!((s.outcome.clone(), s.totals.records), (Outcome::Clean, 4));
        assert_eq!(s.cut.map(|c| (c.records, c.first_offset)), Some((2, l1.len() as u64)));
        assert_eq!(s.totals.last, Some(6));
        // split/sed -n: a middle piece with neither end of its commit.
        let s = scan(&cat(&[lines[1], lines[2]]));
        assert_eq!((s.outcome.clone(), s.totals.records, s.partial.is_some()), (Outcome::Clean, 2, false));
        // A whole commit moved to another offset (lines before it removed) is whole.
        let s = scan(&g);
        assert_eq!((s.totals.records, s.cut), (4, None));
        // head: a prefix at the end is a partial commit (see the test above).
        let mut s = scan(&cat(&[&l1, lines[0], lines[1]]));
        assert_eq!((s.totals.records, s.partial.as_ref().map(|p| p.present)), (1, Some(2)));
        assert!(s.accept_partial());
        assert_eq!(s.totals.records, 3);
        // Damage is still damage: a garbled line inside the cut commit.
        let mut bad = lines[2].to_vec();
        bad[10] ^= 0x20;
        let s = scan(&cat(&[lines[1], &bad, &l6]));
        assert!(matches!(s.outcome, Outcome::Corrupt { .. }), "{:?}", s.outcome);
    }

    #[test]
    fn foreign_record_without_final_newline_is_kept() {
        let py = br#"{"iteration_num": 1, "strategy_code": "x", "execution_result": {}, "metrics": {}, "classification_level": "L", "timestamp": "t", "champion_updated": false}"#;
        let s = scan(py);
        assert_eq!(s.outcome, Outcome::Clean);
        assert!(s.missing_newline);
        assert_eq!(s.totals.records, 1);
    }

    #[test]
    fn recent_and_last_read_backwards() {
        let bytes = cat(&[&line(1), b"\n", &line(2), &group(&[3, 4]), &line(5)]);
        let s = src(&bytes);
        let got = recent(&*s, bytes.len() as u64, 3).expect("io").expect("valid");
        assert_eq!(got.iter().map(|r| r.iteration_num).collect::<Vec<_>>(), vec![3, 4, 5]);
        let all = recent(&*s, bytes.len() as u64, 100).expect("io").expect("valid");
        assert_eq!(all.len(), 5);
        assert_eq!(last_iteration(&*s, bytes.len() as u64).expect("io"), Ok(Some(5)));
        assert_eq!(line_number_at(&*s, line(1).len() as u64 + 1).expect("io"), 3);
    }
}
