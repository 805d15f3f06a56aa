//! Reading a JSONL history for an import or a copy between stores.
//!
//! The rules are on [`JsonlReader`](crate::JsonlReader), where rustdoc shows them.

use std::io::{BufRead, Read};

use crate::codec::{self, LineError};
use crate::error::{Error, Result};
use crate::record::IterationRecord;
use crate::scan::{Analyzer, Kind, Outcome, RawLine};

/// The UTF-8 byte order mark.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest line (with its line end) a [`JsonlReader`] accepts unless
/// told otherwise: 64 MiB, far more than any real record.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 64 << 20;

/// How an import treats the records a store already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportMode {
    /// Import only into an empty history; otherwise fail with
    /// [`Error::Conflict`] naming its last iteration (nothing written).
    IntoEmpty,
    /// Replace every record the history holds, atomically.
    Replace,
    /// Keep the history's records and add the input's after them, as one
    /// atomic commit (streamed: memory is bounded by the longest line, not
    /// by the input). A leading BOM of the input is dropped (it belongs only
    /// at the start of a file); every other byte is kept.
    Append,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Records imported.
    pub records: u64,
    /// Bytes the history holds after the import (what an export writes).
    pub bytes: u64,
    /// `iteration_num` of the last record.
    pub last_iteration_num: Option<u64>,
    /// The last line had no `\n`; one was added.
    pub added_final_newline: bool,
}

/// One record read by [`JsonlReader`], with the bytes it occupies.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ImportedRecord {
    /// The bytes this record adds to the history, exactly as read: any blank
    /// lines before it, a leading UTF-8 BOM (first line only), the line and
    /// its line end (`\n` or `\r\n`).
    pub raw: Vec<u8>,
    /// The record.
    pub record: IterationRecord,
    /// 1-based number of the record's line in the input.
    pub line: u64,
    /// Byte offset of the record's line in the input.
    pub offset: u64,
}

impl ImportedRecord {
    /// The record's line within [`raw`](Self::raw): without the blank lines
    /// before it, a BOM or its line end.
    pub fn line_bytes(&self) -> &[u8] {
        record_line(&self.raw)
    }
}

/// The record line inside the bytes a record occupies (see
/// [`ImportedRecord::raw`]): the last line, without its line end and
/// without a leading BOM.
pub fn record_line(raw: &[u8]) -> &[u8] {
    let body = codec::strip_line_end(raw);
    let start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
    let line = &body[start..];
    line.strip_prefix(BOM).unwrap_or(line)
}

/// Reads and checks a JSONL history from a [`BufRead`], record by record.
///
/// Call [`next_record`](Self::next_record) until it returns `None`, then
/// [`trailer`](Self::trailer) for any blank lines after the last record and
/// [`finish`](Self::finish) for the final check (damage at the end of the
/// input is found only there). An error at any point means the input must
/// not be imported.
///
/// ```
/// use iteration_history::JsonlReader;
/// let jsonl = b"{\"iteration_num\": 1, \"strategy_code\": \"x\", \"execution_result\": {}, \"metrics\": {\"s\": NaN}, \"classification_level\": \"L\", \"timestamp\": \"t\", \"champion_updated\": false}\n";
/// let mut input = &jsonl[..];
/// let mut reader = JsonlReader::new(&mut input, "history.jsonl");
/// let rec = reader.next_record()?.expect("one record");
/// assert_eq!(rec.raw, jsonl);
/// assert!(reader.next_record()?.is_none());
/// assert_eq!(reader.finish()?.records, 1);
/// # Ok::<(), iteration_history::Error>(())
/// ```
///
/// [`JsonlReader`] reads a history written by this library, by the original
/// Python module or by any tool that writes the [line format](crate::codec),
/// checks every line, and hands out each record together with the exact
/// bytes it occupies, so that a store can keep them and give back the same
/// bytes on export. It applies the rules of [`crate::scan`] to the whole
/// input: an import is all-or-nothing, so any damage — an invalid line, a
/// torn last write — is an error naming the line and byte offset, and
/// nothing is imported. Records cut out of their multi-record commits by a
/// line tool are read as the records they are, and so is a last commit
/// whose later lines are missing (a file cut with `head`): the input has no
/// writer's in-flight record (`<history>.commit`, see docs/durability.md) to say otherwise. A
/// history exported by a store holds no such torn commit: its readers leave
/// one out.
///
/// Memory is bounded by the longest line, not by the input: a line longer
/// than [`DEFAULT_MAX_LINE_BYTES`] (or the limit given to
/// [`JsonlReader::max_line_bytes`]) is refused as
/// [`LineError::TooLong`] after reading at most that many bytes of it, so
/// `/dev/zero` or a sparse file of zeros end in an error, not in the
/// machine's memory. Blank lines kept with the next record count as one
/// line for the limit.
///
/// One normalisation is made: a valid last line without its `\n` (a file
/// written without a final newline) gets one, so that later appends start
/// on a new line. [`ImportReport::added_final_newline`] says when.
pub struct JsonlReader<'a> {
    input: &'a mut dyn BufRead,
    source: String,
    analyzer: Analyzer,
    offset: u64,
    line_no: u64,
    blank: Vec<u8>,
    records: u64,
    bytes: u64,
    last: Option<u64>,
    added_final_newline: bool,
    at_end: bool,
    max_line: u64,
}

impl std::fmt::Debug for JsonlReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlReader").field("source", &self.source).field("line", &self.line_no).finish()
    }
}

impl<'a> JsonlReader<'a> {
    /// A reader of `input`, named `source` in messages (a file, `stdin`, a
    /// database URL without its password).
    pub fn new(input: &'a mut dyn BufRead, source: &str) -> Self {
        JsonlReader {
            input,
            source: source.to_string(),
            analyzer: Analyzer::new(0),
            offset: 0,
            line_no: 0,
            blank: Vec::new(),
            records: 0,
            bytes: 0,
            last: None,
            added_final_newline: false,
            at_end: false,
            max_line: DEFAULT_MAX_LINE_BYTES,
        }
    }

    /// Refuses lines (with their line end) longer than `limit` bytes
    /// (default [`DEFAULT_MAX_LINE_BYTES`]; at least 1).
    #[must_use]
    pub fn max_line_bytes(mut self, limit: u64) -> Self {
        self.max_line = limit.max(1);
        self
    }

    fn invalid(&self, line: u64, offset: u64, reason: LineError) -> Error {
        Error::InvalidJson { file: self.source.clone(), at: format!(" at line {line} (byte {offset})"), reason }
    }

    /// The next record, or `None` at the end of the input.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] naming the line and byte offset of the first
    /// damage; I/O errors reading the input.
    pub fn next_record(&mut self) -> Result<Option<ImportedRecord>> {
        if self.at_end {
            return Ok(None);
        }
        loop {
            let mut buf = Vec::new();
            // At most one byte more than the limit: enough to tell.
            let n = (&mut *self.input)
                .take(self.max_line.saturating_add(1))
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::io(&self.source, "reading the input", e))?;
            if n == 0 {
                self.at_end = true;
                return Ok(None);
            }
            self.line_no += 1;
            let offset = self.offset;
            if n as u64 > self.max_line || (self.blank.len() + n) as u64 > self.max_line {
                return Err(self.invalid(self.line_no, offset, LineError::TooLong { limit: self.max_line }));
            }
            self.offset += n as u64;
            let terminated = buf.last() == Some(&b'\n');
            let content: &[u8] = if offset == 0 { buf.strip_prefix(BOM).unwrap_or(&buf) } else { &buf };
            let raw_line = RawLine { offset, number: self.line_no, bytes: content, terminated, end: offset + n as u64 };
            if codec::is_blank(content) {
                self.analyzer.push(&raw_line, &Kind::Blank);
                self.blank.extend_from_slice(&buf);
                continue;
            }
            let decoded = codec::decode_line(content);
            let kind = match &decoded {
                Ok((_, info)) if !terminated && info.checksummed => Kind::Invalid(LineError::Unterminated),
                Ok((_, info)) => Kind::Valid(info.clone()),
                Err(_) if !terminated => Kind::Invalid(LineError::Unterminated),
                Err(e) => Kind::Invalid(e.clone()),
            };
            self.analyzer.push(&raw_line, &kind);
            if let Some(bad) = self.analyzer.first_damage().cloned() {
                return Err(self.invalid(bad.number, bad.offset, bad.error));
            }
            let Ok((record, _)) = decoded else {
                // Unreachable: an invalid line is damage, reported above.
                return Err(self.invalid(self.line_no, offset, LineError::NotAnObject));
            };
            let mut raw = if self.blank.is_empty() {
                buf
            } else {
                let mut raw = std::mem::take(&mut self.blank);
                raw.extend_from_slice(&buf);
                raw
            };
            if !terminated {
                raw.push(b'\n');
                self.added_final_newline = true;
            }
            self.records += 1;
            self.bytes += raw.len() as u64;
            self.last = Some(record.iteration_num);
            return Ok(Some(ImportedRecord { raw, record, line: self.line_no, offset }));
        }
    }

    /// Blank lines after the last record, exactly as read (meaningful once
    /// [`next_record`](Self::next_record) returned `None`).
    pub fn trailer(&self) -> &[u8] {
        &self.blank
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Checks that the input ended on a complete commit and reports.
    /// Reads any remaining input first.
    ///
    /// # Errors
    /// As [`next_record`](Self::next_record); a torn last line.
    pub fn finish(mut self) -> Result<ImportReport> {
        while self.next_record()?.is_some() {}
        let analyzer = std::mem::replace(&mut self.analyzer, Analyzer::new(0));
        let mut scanned = analyzer.finish();
        // An input has no writer's in-flight record: a partial last commit
        // is a file cut by a tool (see the module docs).
        scanned.accept_partial();
        match scanned.outcome {
            Outcome::Clean => {}
            Outcome::Torn { first_bad, .. } | Outcome::Corrupt { first_bad } => {
                return Err(self.invalid(first_bad.number, first_bad.offset, first_bad.error));
            }
        }
        Ok(ImportReport {
            records: self.records,
            bytes: self.bytes + self.blank.len() as u64,
            last_iteration_num: self.last,
            added_final_newline: self.added_final_newline,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = b"{\"iteration_num\": 4, \"strategy_code\": \"x\", \"execution_result\": {}, \"metrics\": {}, \"classification_level\": \"L\", \"timestamp\": \"t\", \"champion_updated\": false}";

    #[test]
    fn blank_lines_and_a_bom_stay_with_the_next_record() {
        let input = [b"\xEF\xBB\xBF\n  \r\n".as_slice(), LINE, b"\r\n\n"].concat();
        let mut src = &input[..];
        let mut r = JsonlReader::new(&mut src, "in");
        let rec = r.next_record().expect("read").expect("a record");
        assert_eq!(rec.raw, &input[..input.len() - 1]);
        assert_eq!((rec.line, rec.offset), (3, 8));
        assert_eq!(rec.line_bytes(), LINE);
        assert_eq!(rec.record.iteration_num, 4);
        assert!(r.next_record().expect("end").is_none());
        assert_eq!(r.trailer(), b"\n");
        let report = r.finish().expect("finish");
        assert_eq!((report.records, report.bytes, report.last_iteration_num), (1, input.len() as u64, Some(4)));
        assert_eq!(record_line(b"\xEF\xBB\xBF{}\r\n"), b"{}");
    }

    #[test]
    fn damage_names_its_line_and_byte() {
        let input = [LINE, b"\n{oops\n"].concat();
        let mut src = &input[..];
        let mut r = JsonlReader::new(&mut src, "in.jsonl");
        assert!(r.next_record().expect("first").is_some());
        let err = r.next_record().expect_err("bad line").to_string();
        let at = format!("in.jsonl: invalid record at line 2 (byte {})", LINE.len() + 1);
        assert!(err.starts_with(&at), "{err}");
        let mut unterminated = LINE;
        let report = JsonlReader::new(&mut unterminated, "in").finish().expect("a record without newline");
        assert!(report.added_final_newline);
        assert_eq!(report.bytes, LINE.len() as u64 + 1);
    }
}
