//! `ihist import`: appends the records of another JSONL file (e.g. one
//! written by the original Python module) as one all-or-nothing commit,
//! streamed: each line is read (at most `--max-line-bytes` of it), checked,
//! written again in the canonical form (with its checksum) and passed on to
//! the store's import ([`ImportMode::Append`]), which commits them with the
//! history's records in one atomic step (a file: a temp file renamed over
//! the history; PostgreSQL: one transaction). Memory is bounded by the
//! longest line, not by the file; a bad line anywhere leaves the history
//! unchanged.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use indicatif::ProgressBar;
use iteration_history::ImportMode;
use iteration_history::codec;
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::target::Target;
use crate::{input, progress};

/// What the canonical stream saw.
#[derive(Default)]
struct Seen {
    records: u64,
    first: Option<u64>,
    last: Option<u64>,
    /// Why the input was refused, if it was.
    error: Option<CliError>,
}

/// The input's records as canonical lines, one record at a time: blank
/// lines and a BOM dropped, each record encoded again with its checksum.
/// A bad line ends the stream with an I/O error and the reason in `seen`.
struct Canonical<R> {
    input: R,
    source: String,
    max_line: u64,
    line: u64,
    offset: u64,
    buf: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    pb: ProgressBar,
    seen: Rc<RefCell<Seen>>,
}

impl<R: BufRead> Canonical<R> {
    fn refuse(&self, e: CliError) -> io::Error {
        let text = e.to_string();
        self.seen.borrow_mut().error = Some(e);
        io::Error::other(text)
    }

    /// The next record's canonical line in `out`; `false` at the end.
    fn next_line(&mut self) -> io::Result<bool> {
        loop {
            self.buf.clear();
            let n = (&mut self.input).take(self.max_line.saturating_add(1)).read_until(b'\n', &mut self.buf).map_err(
                |e| {
                    self.refuse(CliError::new(
                        "io",
                        format!("{}: cannot read line {}: {e}", self.source, self.line + 1),
                    ))
                },
            )?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            let offset = self.offset;
            self.offset += n as u64;
            self.pb.inc(n as u64);
            if n as u64 > self.max_line {
                return Err(self.refuse(input::too_long(&self.source, self.line, offset, self.max_line)));
            }
            let text = if self.line == 1 {
                self.buf.strip_prefix(iteration_history::format::BOM).unwrap_or(&self.buf)
            } else {
                &self.buf
            };
            if codec::is_blank(text) {
                continue;
            }
            let rec = match codec::decode_line(text) {
                Ok((rec, _)) => rec,
                Err(reason) => return Err(self.refuse(input::bad_line(&self.source, self.line, offset, &reason))),
            };
            let encoded = match codec::encode_line(&rec) {
                Ok(line) => line,
                Err(e) => {
                    let reason = codec::LineError::Field(e);
                    return Err(self.refuse(input::bad_line(&self.source, self.line, offset, &reason)));
                }
            };
            self.out = encoded;
            self.pos = 0;
            if self.buf.capacity() > 1 << 20 {
                // A long line's buffer is not kept for the next ones.
                self.buf = Vec::new();
            }
            let mut seen = self.seen.borrow_mut();
            seen.records += 1;
            seen.first.get_or_insert(rec.iteration_num);
            seen.last = Some(rec.iteration_num);
            return Ok(true);
        }
    }
}

impl<R: BufRead> Read for Canonical<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Canonical<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.out.len() && !self.next_line()? {
            return Ok(&[]);
        }
        Ok(&self.out[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.out.len());
    }
}

/// Whether `input_path` holds a non-blank line (read within `max_line`).
fn has_a_record(input_path: &Path, source: &str, max_line: u64) -> Result<bool> {
    let file = File::open(input_path).map_err(|e| CliError::io(input_path, "open the file to import", &e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let (mut line, mut offset) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(max_line.saturating_add(1))
            .read_until(b'\n', &mut buf)
            .map_err(|e| CliError::new("io", format!("{source}: cannot read line {}: {e}", line + 1)))?;
        if n == 0 {
            return Ok(false);
        }
        line += 1;
        if n as u64 > max_line {
            return Err(input::too_long(source, line, offset, max_line));
        }
        let text = if line == 1 { buf.strip_prefix(iteration_history::format::BOM).unwrap_or(&buf) } else { &buf[..] };
        if !codec::is_blank(text) {
            return Ok(true);
        }
        offset += n as u64;
    }
}

/// Runs `import`: streams the records of `input` into the history as one
/// commit; a bad line is reported with its line number and byte offset,
/// and nothing is written.
pub(crate) fn run(ctx: &Ctx, history: &Target, input_path: &Path, max_line_bytes: u64) -> Result {
    let source = input_path.display().to_string();
    if !has_a_record(input_path, &source, max_line_bytes)? {
        return Err(CliError::new("invalid-input", format!("{source}: no records to import (the file is empty)")));
    }
    let file = File::open(input_path).map_err(|e| CliError::io(input_path, "open the file to import", &e))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let h = history.writer(ctx, true)?;
    let before = h.store().last_iteration_num()?;
    let seen = Rc::new(RefCell::new(Seen::default()));
    let pb = progress::bytes(ctx, total, "importing");
    let mut canonical = Canonical {
        input: BufReader::with_capacity(1 << 20, file),
        source: source.clone(),
        max_line: max_line_bytes,
        line: 0,
        offset: 0,
        buf: Vec::new(),
        out: Vec::new(),
        pos: 0,
        pb: pb.clone(),
        seen: seen.clone(),
    };
    let imported = h.store().import_jsonl(&mut canonical, ImportMode::Append, &mut |_| {});
    drop(canonical);
    pb.finish_and_clear();
    let seen = Rc::try_unwrap(seen).map(RefCell::into_inner).unwrap_or_default();
    match (imported, seen.error) {
        (Ok(_), None) => {}
        // The input was refused: that is the reason, not the store's view
        // of a stream that stopped.
        (Err(_), Some(why)) => return Err(why),
        (Err(e), None) => return Err(e.into()),
        (Ok(_), Some(why)) => return Err(why),
    }
    let count = h.store().count()?;
    if let (Some(b), Some(f)) = (before, seen.first)
        && f <= b
    {
        ctx.note(format!(
            "note: the imported records start at iteration {f}, at or below the history's previous last iteration {b}"
        ));
    }
    if ctx.json {
        ctx.out_json(&json!({
            "file": h.name(),
            "input": source,
            "imported": seen.records,
            "first_iteration_num": seen.first,
            "last_iteration_num": seen.last,
            "records": count,
        }))?;
    } else {
        ctx.out(format!(
            "imported {} records from {source} into {} as one commit (durable); {count} records in all",
            seen.records,
            h.name()
        ))?;
    }
    Ok(EXIT_OK)
}
