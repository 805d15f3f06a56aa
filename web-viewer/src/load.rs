//! The one pass over a history's bytes that builds the viewer's columns.
//!
//! Bytes arrive in chunks ([`Loader::push`]) as the browser reads the file;
//! every complete line is classified at once, so reading and scanning
//! overlap. Each line goes through the core's scan rules
//! ([`iteration_history::scan`]: BOM, CRLF, blank lines, checksums, commits,
//! torn tail, corruption). A valid line adds one row to the columns: its
//! byte range (to decode the full record only when it is shown), line
//! number, `iteration_num`, success, champion flag, level, and one `f64`
//! per numeric member of `metrics` and `execution_result`. An invalid line
//! becomes a warning with its line number, byte offset and the core's
//! reason, and the rest still loads.

use std::collections::HashMap;
use std::ops::Range;

use iteration_history::codec::{self, LineError, LineInfo};
use iteration_history::format::BOM;
use iteration_history::scan::{self, Analyzer, Kind, Outcome, RawLine};
use iteration_history::{IterationRecord, Value};

use crate::extract::{self, Group, Row, State};

/// How many warnings are kept (the total is always counted).
pub const MAX_WARNINGS: usize = scan::MAX_REPORTED_BAD_LINES;

/// Row flag: `strategy_code`'s raw text holds escapes.
pub const CODE_ESCAPED: u8 = 1;
/// Row flag: `timestamp`'s raw text holds escapes.
pub const TIME_ESCAPED: u8 = 2;
/// Row flag: the row came from the core's decoder; its text ranges are not
/// known and the line must be decoded to read them.
pub const SLOW_PATH: u8 = 4;

/// Why the loader stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// Offsets are 32-bit in the browser.
    TooLarge {
        /// Bytes received so far (or announced).
        bytes: u64,
    },
    /// The memory for the file's bytes could not be reserved.
    OutOfMemory {
        /// Bytes asked for.
        bytes: u64,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::TooLarge { bytes } => {
                write!(f, "the file is larger than 4 GiB ({bytes} bytes): too large for the browser viewer")
            }
            LoadError::OutOfMemory { bytes } => {
                write!(f, "not enough memory to hold the file ({bytes} bytes) in this browser tab")
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// What kind of problem a warning reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarningKind {
    /// A line that is not a valid record; the lines after it still load.
    BadLine,
    /// The tail of a write that did not finish; ignored, as the library's
    /// readers ignore it.
    TornTail,
    /// The file's last record has no final `\n` (written by another tool).
    MissingNewline,
}

impl WarningKind {
    /// A stable name for the page.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::BadLine => "bad-line",
            WarningKind::TornTail => "torn-tail",
            WarningKind::MissingNewline => "missing-newline",
        }
    }
}

/// A problem found in the file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// What kind.
    pub kind: WarningKind,
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's first byte.
    pub offset: u64,
    /// What is wrong (the core's message).
    pub message: String,
}

/// One numeric column: a member of `metrics` or `execution_result`.
#[derive(Clone, Debug, PartialEq)]
pub struct NumColumn {
    /// Its object.
    pub group: Group,
    /// The member's name.
    pub name: String,
    /// One value per row (`NaN` where not a number).
    pub values: Vec<f64>,
    /// One [`State`] per row.
    pub states: Vec<u8>,
}

impl NumColumn {
    /// `metrics.<name>` or `execution_result.<name>`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.group.field(), self.name)
    }
}

/// The columns of a loaded history: one entry per valid record, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Columns {
    /// Start of each record's JSON in the file (after a BOM).
    pub line_start: Vec<u32>,
    /// End of it (before `\r\n` or `\n`).
    pub line_end: Vec<u32>,
    /// 1-based line number.
    pub line_no: Vec<u32>,
    /// `iteration_num` (exact up to 2^53).
    pub iteration: Vec<f64>,
    /// `execution_result.success`: 0 false, 1 true, 2 absent or not a bool.
    pub success: Vec<u8>,
    /// `champion_updated`: 0 or 1.
    pub champion: Vec<u8>,
    /// Index into [`Columns::levels`].
    pub level: Vec<u32>,
    /// Distinct `classification_level` values, in order of appearance.
    pub levels: Vec<String>,
    /// Raw `strategy_code` text range in the file.
    pub code_start: Vec<u32>,
    /// End of it.
    pub code_end: Vec<u32>,
    /// Raw `timestamp` text range in the file.
    pub time_start: Vec<u32>,
    /// End of it.
    pub time_end: Vec<u32>,
    /// [`CODE_ESCAPED`], [`TIME_ESCAPED`], [`SLOW_PATH`].
    pub flags: Vec<u8>,
    /// Whether each row's line carries a verified checksum.
    pub checksummed: Vec<u8>,
    /// Numeric columns, in order of first appearance.
    pub numeric: Vec<NumColumn>,
}

impl Columns {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.iteration.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.iteration.is_empty()
    }

    fn truncate(&mut self, n: usize) {
        for v in [
            &mut self.line_start,
            &mut self.line_end,
            &mut self.line_no,
            &mut self.level,
            &mut self.code_start,
            &mut self.code_end,
            &mut self.time_start,
            &mut self.time_end,
        ] {
            v.truncate(n);
        }
        for v in [&mut self.success, &mut self.champion, &mut self.flags, &mut self.checksummed] {
            v.truncate(n);
        }
        self.iteration.truncate(n);
        for c in &mut self.numeric {
            c.values.truncate(n);
            c.states.truncate(n);
        }
    }
}

/// A loaded history: the file's bytes and its columns.
#[derive(Debug)]
pub struct Loaded {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// One row per valid record.
    pub columns: Columns,
    /// Problems found, in file order (at most [`MAX_WARNINGS`]).
    pub warnings: Vec<Warning>,
    /// Number of problems in all.
    pub warnings_total: u64,
    /// Lines in the file.
    pub lines: u64,
    /// Valid lines that needed the core's full decoder (the fast path
    /// was unsure).
    pub slow_rows: u64,
    /// Damage is followed by valid records: a writer would refuse the
    /// file until it is repaired.
    pub corrupt: bool,
}

/// Builds [`Loaded`] from chunks of bytes.
#[derive(Debug)]
pub struct Loader {
    bytes: Vec<u8>,
    /// Start of the first line not yet processed.
    next: usize,
    /// Where the search for its `\n` resumes.
    search: usize,
    state: State0,
}

#[derive(Debug)]
struct State0 {
    number: u64,
    analyzer: Analyzer,
    row: Row,
    /// The current line's row, when the line is valid.
    fresh: Option<Fresh>,
    columns: Columns,
    keys: HashMap<(Group, Vec<u8>), usize>,
    /// (group, name range in the file, column) of the previous row's members,
    /// tried first: rows usually repeat the same members in the same order.
    recent_keys: Vec<(Group, Range<usize>, usize)>,
    levels: HashMap<Vec<u8>, u32>,
    last_level: Option<(Range<usize>, u32)>,
    /// Per column: this row's value, when set.
    scratch: Vec<Option<(f64, State)>>,
    bad: Vec<Warning>,
    bad_total: u64,
    slow_rows: u64,
    /// Rows finished (the current row is not counted until it is).
    rows: usize,
}

#[derive(Debug)]
enum Fresh {
    Fast { checksummed: bool },
    Slow(Box<IterationRecord>, bool),
}

impl Loader {
    /// A loader for a file of about `size_hint` bytes (memory for the
    /// bytes is reserved at once, so that a file too large for the tab fails
    /// here with a clear error rather than half-way).
    ///
    /// # Errors
    /// [`LoadError::TooLarge`] past 4 GiB, [`LoadError::OutOfMemory`].
    pub fn new(size_hint: u64) -> Result<Self, LoadError> {
        if size_hint > u64::from(u32::MAX) {
            return Err(LoadError::TooLarge { bytes: size_hint });
        }
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(size_hint as usize).map_err(|_| LoadError::OutOfMemory { bytes: size_hint })?;
        Ok(Loader {
            bytes,
            next: 0,
            search: 0,
            state: State0 {
                number: 1,
                analyzer: Analyzer::new(0),
                row: Row::default(),
                fresh: None,
                columns: Columns::default(),
                keys: HashMap::new(),
                recent_keys: Vec::new(),
                levels: HashMap::new(),
                last_level: None,
                scratch: Vec::new(),
                bad: Vec::new(),
                bad_total: 0,
                slow_rows: 0,
                rows: 0,
            },
        })
    }

    /// Takes the next chunk of the file and processes every line it completes.
    ///
    /// # Errors
    /// [`LoadError::TooLarge`] past 4 GiB.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), LoadError> {
        if self.bytes.len() + chunk.len() > u32::MAX as usize {
            return Err(LoadError::TooLarge { bytes: (self.bytes.len() + chunk.len()) as u64 });
        }
        self.bytes
            .try_reserve(chunk.len())
            .map_err(|_| LoadError::OutOfMemory { bytes: (self.bytes.len() + chunk.len()) as u64 })?;
        self.bytes.extend_from_slice(chunk);
        while let Some(i) = memchr::memchr(b'\n', &self.bytes[self.search..]) {
            let end = self.search + i + 1;
            self.state.line(&self.bytes, self.next, end);
            self.next = end;
            self.search = end;
        }
        self.search = self.bytes.len();
        Ok(())
    }

    /// Processes the last (unterminated) line, applies the torn-tail and
    /// corruption rules, and returns the result.
    pub fn finish(mut self) -> Loaded {
        if self.next < self.bytes.len() {
            let end = self.bytes.len();
            self.state.line(&self.bytes, self.next, end);
        }
        let lines = self.state.number - 1;
        let s = self.state;
        let scanned = s.analyzer.finish();
        let end = Conclusion::of(&s.columns, &s.bad, s.bad_total, &scanned, lines, self.bytes.len() as u64);
        let mut columns = s.columns;
        columns.truncate(end.rows);
        Loaded {
            bytes: self.bytes,
            columns,
            warnings: end.warnings,
            warnings_total: end.warnings_total,
            lines,
            slow_rows: s.slow_rows,
            corrupt: end.corrupt,
        }
    }

    /// How the bytes so far end, while more may come (a history followed
    /// as a writer appends): the core's rules applied to a copy of the
    /// scan state, with the unfinished last line (if any) classified as the
    /// core classifies it. Rows of a commit that is not complete yet (or
    /// torn) are not counted in [`Live::rows`]; the columns keep them, so
    /// they count as soon as the commit completes.
    pub fn live(&self) -> Live {
        let mut analyzer = self.state.analyzer.clone();
        let mut lines = self.state.number - 1;
        let pending = (self.bytes.len() - self.next) as u64;
        let mut bad = Vec::new();
        let mut bad_total = self.state.bad_total;
        if pending > 0 {
            let start = self.next;
            let mut content = start;
            if start == 0 && self.bytes.starts_with(BOM) {
                content = BOM.len();
            }
            let raw = RawLine {
                offset: start as u64,
                number: lines + 1,
                bytes: &self.bytes[content..],
                terminated: false,
                end: self.bytes.len() as u64,
            };
            let kind = scan::classify_with(&raw, |b| codec::decode_line(codec::strip_line_end(b)).map(|(_, i)| i));
            if let Kind::Invalid(e) = &kind {
                bad_total += 1;
                bad.push(Warning {
                    kind: WarningKind::BadLine,
                    line: lines + 1,
                    offset: start as u64,
                    message: e.to_string(),
                });
            }
            analyzer.push(&raw, &kind);
            lines += 1;
        }
        let scanned = analyzer.finish();
        let all: Vec<Warning>;
        let warnings = if bad.is_empty() {
            &self.state.bad
        } else {
            all = self.state.bad.iter().cloned().chain(bad).collect();
            &all
        };
        let end = Conclusion::of(&self.state.columns, warnings, bad_total, &scanned, lines, self.bytes.len() as u64);
        let torn = matches!(scanned.outcome, Outcome::Torn { .. });
        Live {
            rows: end.rows,
            warnings: end.warnings,
            warnings_total: end.warnings_total,
            corrupt: end.corrupt,
            torn,
            lines,
            pending,
            bytes: self.bytes.len() as u64,
        }
    }
}

/// How a history followed live ends so far (see [`Loader::live`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    /// Rows of complete commits (the first rows of the columns).
    pub rows: usize,
    /// Problems found, as [`Loaded::warnings`].
    pub warnings: Vec<Warning>,
    /// Number of problems in all.
    pub warnings_total: u64,
    /// Damage is followed by valid records.
    pub corrupt: bool,
    /// The bytes end with a torn tail: an unfinished write (in progress,
    /// or a writer that stopped).
    pub torn: bool,
    /// Lines so far (the unfinished last one included).
    pub lines: u64,
    /// Bytes after the last `\n`.
    pub pending: u64,
    /// Bytes received.
    pub bytes: u64,
}

/// The torn-tail and corruption rules applied to a scan.
struct Conclusion {
    /// Rows kept (the rest belong to a torn tail).
    rows: usize,
    warnings: Vec<Warning>,
    warnings_total: u64,
    corrupt: bool,
}

impl Conclusion {
    fn of(
        columns: &Columns,
        bad: &[Warning],
        bad_total: u64,
        scanned: &scan::Scanned,
        lines: u64,
        size: u64,
    ) -> Conclusion {
        let mut warnings = bad.to_vec();
        let mut warnings_total = bad_total;
        let mut rows = columns.len();
        let mut corrupt = false;
        match &scanned.outcome {
            Outcome::Clean => {
                if scanned.missing_newline {
                    warnings_total += 1;
                    if warnings.len() < MAX_WARNINGS {
                        let row = columns.len().saturating_sub(1);
                        warnings.push(Warning {
                            kind: WarningKind::MissingNewline,
                            line: columns.line_no.get(row).copied().map_or(0, u64::from),
                            offset: columns.line_start.get(row).copied().map_or(0, u64::from),
                            message: "the last record has no final newline (written by another tool); \
                                      a writer adds it"
                                .into(),
                        });
                    }
                }
            }
            Outcome::Torn { from, first_bad } => {
                let from = *from;
                // Rows in the tail belong to a commit that did not finish.
                let keep = columns.line_start.partition_point(|&o| u64::from(o) < from);
                let line = if first_bad.offset == from {
                    first_bad.number
                } else {
                    columns.line_no.get(keep).copied().map_or(first_bad.number, u64::from)
                };
                let dropped_rows = columns.len() - keep;
                rows = keep;
                let before = warnings.len();
                warnings.retain(|w| w.offset < from);
                warnings_total -= (before - warnings.len()) as u64;
                let tail_lines = lines + 1 - line;
                let mut message = format!(
                    "torn tail: {} — the end of a write that did not finish ({} line{}, {} byte{}); \
                     ignored, as the library's readers ignore it, and moved aside by the next writer",
                    first_bad.error,
                    tail_lines,
                    if tail_lines == 1 { "" } else { "s" },
                    size - from,
                    if size - from == 1 { "" } else { "s" },
                );
                if dropped_rows > 0 {
                    message.push_str(&format!(
                        "; it holds {dropped_rows} valid record(s) of that unfinished commit, not shown"
                    ));
                }
                warnings_total += 1;
                warnings.push(Warning { kind: WarningKind::TornTail, line, offset: from, message });
            }
            Outcome::Corrupt { first_bad } => {
                corrupt = true;
                // A valid line can still break the commit rules (a record of
                // a multi-record commit without the records before it).
                if !warnings.iter().any(|w| w.offset == first_bad.offset) {
                    warnings_total += 1;
                    let at = warnings.partition_point(|w| w.offset < first_bad.offset);
                    warnings.insert(
                        at,
                        Warning {
                            kind: WarningKind::BadLine,
                            line: first_bad.number,
                            offset: first_bad.offset,
                            message: first_bad.error.to_string(),
                        },
                    );
                }
            }
        }
        Conclusion { rows, warnings, warnings_total, corrupt }
    }
}

/// What the text search, sort ranks and CSV export read: the bytes and
/// the columns (of a finished [`Loaded`] or of a [`Loader`] still growing).
pub trait Rows {
    /// The bytes the columns point into.
    fn bytes(&self) -> &[u8];
    /// The columns.
    fn columns(&self) -> &Columns;
    /// The JSON text of row `row` (without its line end).
    fn line(&self, row: usize) -> &[u8] {
        let c = self.columns();
        &self.bytes()[c.line_start[row] as usize..c.line_end[row] as usize]
    }
    /// Row `row` decoded in full by the core.
    ///
    /// # Errors
    /// The core's reason (cannot happen for a row the loader accepted,
    /// unless the bytes changed).
    fn record(&self, row: usize) -> Result<IterationRecord, LineError> {
        codec::decode_line(self.line(row)).map(|(rec, _)| rec)
    }
}

impl Rows for Loaded {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    fn columns(&self) -> &Columns {
        &self.columns
    }
}

impl Rows for Loader {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    fn columns(&self) -> &Columns {
        &self.state.columns
    }
}

impl State0 {
    /// Processes the line `bytes[start..end]` (with its `\n`, if any).
    fn line(&mut self, bytes: &[u8], start: usize, end: usize) {
        let number = self.number;
        self.number += 1;
        let mut content = start;
        if start == 0 && bytes[..end].starts_with(BOM) {
            content = BOM.len();
        }
        let raw = RawLine {
            offset: start as u64,
            number,
            bytes: &bytes[content..end],
            terminated: bytes[end - 1] == b'\n',
            end: end as u64,
        };
        self.fresh = None;
        let kind = scan::classify_with(&raw, |b| self.check(b));
        match &kind {
            Kind::Valid(_) => {
                if let Some(fresh) = self.fresh.take() {
                    let body_end = content + codec::strip_line_end(raw.bytes).len();
                    self.add_row(bytes, content, body_end, number, fresh);
                }
            }
            Kind::Invalid(e) => {
                self.bad_total += 1;
                if self.bad.len() < MAX_WARNINGS {
                    self.bad.push(Warning {
                        kind: WarningKind::BadLine,
                        line: number,
                        offset: start as u64,
                        message: e.to_string(),
                    });
                }
            }
            Kind::Blank => {}
        }
        self.analyzer.push(&raw, &kind);
    }

    /// The classification of one line (given with its line end).
    fn check(&mut self, with_end: &[u8]) -> Result<LineInfo, LineError> {
        let line = codec::strip_line_end(with_end);
        if extract::extract(line, &mut self.row) {
            let info = if self.row.has_integrity {
                // Verifies the CRC (and reads the commit tag) without parsing again.
                codec::check_line(line, false)?
            } else {
                LineInfo { iteration_num: self.row.iteration_num, tag: None, checksummed: false }
            };
            self.fresh = Some(Fresh::Fast { checksummed: info.checksummed });
            return Ok(info);
        }
        let (rec, info) = codec::decode_line(line)?;
        self.fresh = Some(Fresh::Slow(Box::new(rec), info.checksummed));
        Ok(info)
    }

    fn column(&mut self, bytes: &[u8], group: Group, name: Range<usize>, slot: usize) -> usize {
        if let Some((g, r, id)) = self.recent_keys.get(slot)
            && *g == group
            && bytes[r.clone()] == bytes[name.clone()]
        {
            let id = *id;
            self.recent_keys[slot].1 = name;
            return id;
        }
        let id = self.column_by_name(group, &bytes[name.clone()]);
        if slot < self.recent_keys.len() {
            self.recent_keys[slot] = (group, name, id);
        } else {
            self.recent_keys.push((group, name, id));
        }
        id
    }

    fn column_by_name(&mut self, group: Group, name: &[u8]) -> usize {
        if let Some(&id) = self.keys.get(&(group, name.to_vec())) {
            return id;
        }
        let rows = self.rows;
        let id = self.columns.numeric.len();
        self.columns.numeric.push(NumColumn {
            group,
            name: String::from_utf8_lossy(name).into_owned(),
            values: vec![f64::NAN; rows],
            states: vec![State::Missing as u8; rows],
        });
        self.keys.insert((group, name.to_vec()), id);
        self.scratch.push(None);
        id
    }

    fn level(&mut self, bytes: &[u8], range: Range<usize>) -> u32 {
        if let Some((r, id)) = &self.last_level
            && bytes[r.clone()] == bytes[range.clone()]
        {
            return *id;
        }
        let id = self.level_by_name(&bytes[range.clone()]);
        self.last_level = Some((range, id));
        id
    }

    fn level_by_name(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.levels.get(name) {
            return id;
        }
        let id = self.columns.levels.len() as u32;
        self.columns.levels.push(String::from_utf8_lossy(name).into_owned());
        self.levels.insert(name.to_vec(), id);
        id
    }

    fn add_row(&mut self, bytes: &[u8], start: usize, end: usize, number: u64, fresh: Fresh) {
        let c = &mut self.columns;
        c.line_start.push(start as u32);
        c.line_end.push(end as u32);
        c.line_no.push(u32::try_from(number).unwrap_or(u32::MAX));
        match fresh {
            Fresh::Fast { checksummed } => {
                let row = std::mem::take(&mut self.row);
                let c = &mut self.columns;
                c.iteration.push(row.iteration_num as f64);
                c.success.push(match row.success {
                    Some(false) => 0,
                    Some(true) => 1,
                    None => 2,
                });
                c.champion.push(u8::from(row.champion));
                c.code_start.push((start + row.code.start) as u32);
                c.code_end.push((start + row.code.end) as u32);
                c.time_start.push((start + row.timestamp.start) as u32);
                c.time_end.push((start + row.timestamp.end) as u32);
                c.flags.push(
                    if row.code_escaped { CODE_ESCAPED } else { 0 }
                        | if row.timestamp_escaped { TIME_ESCAPED } else { 0 },
                );
                c.checksummed.push(u8::from(checksummed));
                let level = self.level(bytes, start + row.level.start..start + row.level.end);
                self.columns.level.push(level);
                for (slot, m) in row.members.iter().enumerate() {
                    let id = self.column(bytes, m.group, start + m.name.start..start + m.name.end, slot);
                    self.scratch[id] = Some((m.value, m.state));
                }
                self.row = row;
            }
            Fresh::Slow(rec, checksummed) => {
                self.slow_rows += 1;
                let c = &mut self.columns;
                c.iteration.push(rec.iteration_num as f64);
                c.success.push(match rec.success() {
                    Some(false) => 0,
                    Some(true) => 1,
                    None => 2,
                });
                c.champion.push(u8::from(rec.champion_updated));
                for v in [&mut c.code_start, &mut c.code_end, &mut c.time_start, &mut c.time_end] {
                    v.push(0);
                }
                c.flags.push(SLOW_PATH);
                c.checksummed.push(u8::from(checksummed));
                let level = self.level_by_name(rec.classification_level.as_bytes());
                self.columns.level.push(level);
                self.last_level = None;
                for (group, map) in [(Group::Execution, &rec.execution_result), (Group::Metrics, &rec.metrics)] {
                    for (name, value) in map {
                        if group == Group::Execution && name == "success" {
                            continue;
                        }
                        let (v, state) = match value {
                            Value::Number(n) => (n.as_f64(), State::Number),
                            Value::Null => (f64::NAN, State::Null),
                            _ => continue,
                        };
                        let id = self.column_by_name(group, name.as_bytes());
                        self.scratch[id] = Some((v, state));
                    }
                }
            }
        }
        for (col, slot) in self.columns.numeric.iter_mut().zip(self.scratch.iter_mut()) {
            let (v, state) = slot.take().unwrap_or((f64::NAN, State::Missing));
            col.values.push(v);
            col.states.push(state as u8);
        }
        self.rows += 1;
    }
}

/// Loads a whole file held in memory (tests and native callers).
pub fn load(bytes: &[u8]) -> Result<Loaded, LoadError> {
    let mut loader = Loader::new(bytes.len() as u64)?;
    loader.push(bytes)?;
    Ok(loader.finish())
}
