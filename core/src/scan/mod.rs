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
//!   had in flight (its `<history>.commit`, see docs/durability.md), calls
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
use crate::format::BOM;
use crate::record::IterationRecord;
use crate::storage::ReadFile;

const CHUNK: usize = 1 << 20;

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

mod analyzer;
mod lines;

pub use analyzer::{Analyzer, CutRecords, MAX_REPORTED_BAD_LINES, Outcome, PartialCommit, Scanned, Totals};
pub(crate) use lines::{BackLines, Lines, last_iteration, line_number_at, recent};

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
