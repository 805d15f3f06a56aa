//! `verify`, `repair` and `compact` on a PostgreSQL history.
//!
//! * `verify` reads the whole history as its JSONL export (the bytes a
//!   `copy` or an `export` gives) and applies the file format's rules to
//!   every line (JSON, checksums, complete multi-record commits), then
//!   checks the history's counters (record count, last iteration) against
//!   its rows. Exit code 0 healthy, 4 corrupt: a PostgreSQL history has no
//!   torn tail (every commit is a transaction), so any damage is a row
//!   changed by another program.
//! * `repair` verifies; a healthy history needs nothing, a damaged one is
//!   repaired through a file (export, `ihist repair`, `copy --replace`),
//!   which the error message spells out.
//! * `compact` rewrites every line in the canonical form in one transaction
//!   ([`PgStore::compact`]).

use std::io::{self, Write};

use iteration_history::Store;
use iteration_history::codec;
use iteration_history::scan::{self, Analyzer, BadLine, Outcome, RawLine};
use iteration_history_postgres::PgStore;
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_CORRUPT, EXIT_OK, Result};
use crate::progress;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Splits the export into lines and feeds each to the format's rules.
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
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..=i]);
            self.line();
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What `verify` found.
struct Report {
    name: String,
    records: u64,
    unchecksummed: u64,
    last: Option<u64>,
    bytes: u64,
    /// Damaged lines of the export (at most [`scan::MAX_REPORTED_BAD_LINES`]).
    bad_lines: Vec<BadLine>,
    bad_total: u64,
    /// Other problems (counters that do not match the rows).
    problems: Vec<String>,
}

impl Report {
    fn healthy(&self) -> bool {
        self.bad_lines.is_empty() && self.problems.is_empty()
    }

    /// The first problem, for an error message.
    fn first_problem(&self) -> String {
        match (self.bad_lines.first(), self.problems.first()) {
            (Some(b), _) => format!("line {} of its JSONL export (byte {}): {}", b.number, b.offset, b.error),
            (None, Some(p)) => p.clone(),
            (None, None) => "healthy".into(),
        }
    }
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "none".to_string(), |n| n.to_string())
}

/// Reads every row (through the export) and the counters.
fn check(s: &PgStore) -> Result<Report> {
    let (count_before, last_before) = (s.count()?, s.last_iteration_num()?);
    let mut sink = LineCheck::new();
    let bytes = s.export_jsonl(&mut sink)?;
    let scanned = sink.finish();
    let (count_after, last_after) = (s.count()?, s.last_iteration_num()?);
    let mut bad_lines = scanned.bad_lines;
    let mut bad_total = scanned.bad_total;
    match scanned.outcome {
        Outcome::Clean => {}
        // No torn tails here: damage at the end is a changed row too.
        Outcome::Torn { first_bad, .. } | Outcome::Corrupt { first_bad } => {
            if !bad_lines.iter().any(|b| b.offset == first_bad.offset) {
                bad_lines.insert(0, first_bad);
                bad_total += 1;
            }
        }
    }
    let totals = scanned.totals;
    let mut problems = Vec::new();
    // Compared only if no writer committed during the check.
    let quiet = count_before == count_after && last_before == last_after;
    if quiet && bad_lines.is_empty() && (totals.records != count_before || totals.last != last_before) {
        problems.push(format!(
            "its counters (ih_histories: {count_before} records, last iteration {}) do not match its rows ({} records, last iteration {}): changed by another program",
            show(last_before),
            totals.records,
            show(totals.last)
        ));
    }
    Ok(Report {
        name: s.describe(),
        records: totals.records,
        unchecksummed: totals.unchecksummed,
        last: totals.last,
        bytes,
        bad_lines,
        bad_total,
        problems,
    })
}

fn repair_advice(name: &str) -> String {
    format!(
        "rows changed by another program cannot be repaired in place: export the history (`ihist export {name} -o h.jsonl`), repair the file (`ihist repair h.jsonl`: bad lines go to a sidecar file), then copy it back (`ihist copy --replace h.jsonl {name}`)"
    )
}

/// `ihist verify` on PostgreSQL: exit code 0 healthy, 4 corrupt.
pub(crate) fn verify(ctx: &Ctx, s: &PgStore) -> Result {
    let spin = progress::spinner(ctx, &format!("verifying {}", s.describe()));
    let r = check(s);
    spin.finish_and_clear();
    let r = r?;
    let (health, exit) = if r.healthy() { ("healthy", EXIT_OK) } else { ("corrupt", EXIT_CORRUPT) };
    if ctx.json {
        ctx.out_json(&json!({
            "file": r.name,
            "health": health,
            "exit_code": exit,
            "records": r.records,
            "unchecksummed": r.unchecksummed,
            "last_iteration_num": r.last,
            "bytes": r.bytes,
            "torn_tail": null,
            "corrupt_lines": r.bad_lines.iter().map(|b| json!({
                "line": b.number, "offset": b.offset, "reason": b.error.to_string(),
            })).collect::<Vec<_>>(),
            "bad_lines_total": r.bad_total,
            "problems": r.problems,
            "temp_files": [],
            "dir_sync": null,
        }))?;
        return Ok(exit);
    }
    ctx.out(format!(
        "{}: {health} — {} records, last iteration {}, {} bytes as JSONL",
        r.name,
        r.records,
        show(r.last),
        r.bytes
    ))?;
    if r.unchecksummed > 0 {
        ctx.out(format!(
            "  {} records have no checksum (imported from another tool, e.g. the original Python module); `ihist compact` adds them",
            r.unchecksummed
        ))?;
    }
    if !r.bad_lines.is_empty() {
        ctx.out(format!("  {} bad lines (line numbers and byte offsets of its JSONL export):", r.bad_total))?;
        for b in &r.bad_lines {
            ctx.out(format!("  line {} (byte {}): {}", b.number, b.offset, b.error))?;
        }
        if r.bad_total > r.bad_lines.len() as u64 {
            ctx.out(format!("  ... and {} more", r.bad_total - r.bad_lines.len() as u64))?;
        }
    }
    for p in &r.problems {
        ctx.out(format!("  {p}"))?;
    }
    if !r.healthy() {
        ctx.out(format!("  {}", repair_advice(&r.name)))?;
    }
    Ok(exit)
}

/// `ihist repair` on PostgreSQL: nothing to do for a healthy history; a
/// damaged one is an error (exit code 4) that says how to repair it.
pub(crate) fn repair(ctx: &Ctx, s: &PgStore) -> Result {
    let r = check(s)?;
    if !r.healthy() {
        let mut e = CliError::new(
            "corrupt",
            format!("{}: corrupt at {}; {}", r.name, r.first_problem(), repair_advice(&r.name)),
        );
        e.exit = EXIT_CORRUPT;
        return Err(e);
    }
    if ctx.json {
        ctx.out_json(&json!({ "file": r.name, "records": r.records, "torn_tail": null, "moved": [] }))?;
    } else {
        ctx.out(format!(
            "{}: healthy, nothing to repair ({} records); a PostgreSQL history never has a torn tail: each commit is a transaction",
            r.name, r.records
        ))?;
    }
    Ok(EXIT_OK)
}

/// `ihist compact` on PostgreSQL: every line rewritten in canonical form,
/// in one transaction.
pub(crate) fn compact(ctx: &Ctx, s: &PgStore) -> Result {
    let spin = progress::spinner(ctx, &format!("compacting {}", s.describe()));
    let r = s.compact();
    spin.finish_and_clear();
    let r = r?;
    let name = s.describe();
    if ctx.json {
        ctx.out_json(&json!({
            "file": name,
            "records": r.records,
            "bytes_before": r.bytes_before,
            "bytes_after": r.bytes_after,
            "rewritten": r.rewritten,
        }))?;
    } else {
        ctx.out(format!(
            "{name}: compacted {} records ({} -> {} bytes, {} rows rewritten): in one transaction, every line checksummed",
            r.records, r.bytes_before, r.bytes_after, r.rewritten
        ))?;
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(bytes: &[u8], chunk: usize) -> scan::Scanned {
        let mut c = LineCheck::new();
        for part in bytes.chunks(chunk.max(1)) {
            c.write_all(part).expect("write");
        }
        c.finish()
    }

    #[test]
    fn lines_split_across_writes_are_checked_as_one() {
        let mut r = iteration_history::IterationRecord::new(3, "x");
        r.timestamp = "t".into();
        r.classification_level = "LEVEL_1".into();
        let line = codec::encode_line(&r).expect("encode");
        let mut bytes = b"\xEF\xBB\xBF\n".to_vec();
        bytes.extend_from_slice(&line);
        bytes.extend_from_slice(&line);
        for chunk in [1, 7, 4096] {
            let s = scan(&bytes, chunk);
            assert_eq!(s.outcome, Outcome::Clean);
            assert_eq!((s.totals.records, s.totals.last), (2, Some(3)));
        }
        let mut damaged = bytes.clone();
        let at = damaged.len() - line.len() - 5;
        damaged[at] ^= 1;
        let s = scan(&damaged, 5);
        assert!(matches!(s.outcome, Outcome::Corrupt { .. }), "{:?}", s.outcome);
        assert_eq!(s.bad_lines.first().map(|b| b.number), Some(2));
    }
}
