//! `ihist export`: a consistent snapshot of the history as JSONL (byte for
//! byte) or CSV (nested fields flattened to dotted columns), to a file
//! (written atomically and durably) or to standard output.

use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use atomic_write_file::AtomicWriteFile;
use clap::ValueEnum;
use iteration_history::{IterationRecord, Map, Number, Value};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::progress;
use crate::target::{Opened, Target};

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The history's own lines, byte for byte (checksums included).
    Jsonl,
    /// One row per record, nested fields as dotted columns
    /// (`metrics.sharpe_ratio`); non-finite numbers as `NaN`, `inf`, `-inf`.
    Csv,
    /// The lines the original Python module would have written:
    /// `json.dumps(record)` with CPython's defaults (`\uXXXX` escapes, bare
    /// `NaN`/`Infinity`, `", "`/`": "` separators; no `_ih`, no `_nonfinite`).
    Python,
}

/// A writer that remembers its first error, so a failed export names the
/// output rather than the history.
struct Tracked<W> {
    inner: W,
    error: Option<io::Error>,
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            self.error.get_or_insert_with(|| io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|e| {
            self.error.get_or_insert_with(|| io::Error::new(e.kind(), e.to_string()));
        })
    }
}

/// Where the export goes.
enum Dest {
    Stdout,
    File(AtomicWriteFile),
}

fn output_error(out: Option<&Path>, e: &io::Error) -> CliError {
    match out {
        Some(p) => CliError::io(p, "write the export", e),
        None => CliError::stdout(io::Error::new(e.kind(), e.to_string())),
    }
}

/// Runs `export`. The format is `format`, else `csv` if `out` ends in
/// `.csv`, else `jsonl`.
pub(crate) fn run(ctx: &Ctx, history: &Target, out: Option<&Path>, format: Option<Format>) -> Result {
    let out = out.filter(|p| p.as_os_str() != "-");
    let format = format.unwrap_or_else(|| match out.and_then(|p| p.extension()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
        _ => Format::Jsonl,
    });
    let h = history.reader()?;
    let dest = match out {
        None => Dest::Stdout,
        Some(p) => Dest::File(AtomicWriteFile::open(p).map_err(|e| CliError::io(p, "create the export file", &e))?),
    };
    // The size of a file (for the progress bar); unknown for other stores.
    let total = history.file_path().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
    let (written, records) = match dest {
        Dest::Stdout => {
            let stdout = io::stdout().lock();
            let mut w = Tracked { inner: BufWriter::with_capacity(1 << 16, stdout), error: None };
            let r = export(ctx, &h, format, total, &mut w, None);
            let r = r.and_then(|v| w.flush().map(|()| v).map_err(|e| output_error(None, &e)));
            r?
        }
        Dest::File(mut file) => {
            let mut w = Tracked { inner: BufWriter::with_capacity(1 << 16, &mut file), error: None };
            let r = export(ctx, &h, format, total, &mut w, out);
            let r = r.and_then(|v| w.flush().map(|()| v).map_err(|e| output_error(out, &e)));
            drop(w);
            let v = match r {
                Ok(v) => v,
                Err(e) => {
                    let _ = file.discard();
                    return Err(e);
                }
            };
            // Committing syncs the file, renames it over the destination
            // and syncs the directory: the export is complete or absent.
            if let Some(p) = out {
                file.commit().map_err(|e| CliError::io(p, "commit the export file", &e))?;
            }
            v
        }
    };
    if ctx.json {
        if let Some(p) = out {
            ctx.out_json(&json!({
                "file": h.name(),
                "output": p.display().to_string(),
                "format": format!("{format:?}").to_lowercase(),
                "records": records,
                "bytes": written,
            }))?;
        }
    } else if let Some(p) = out {
        let what = records.map(|n| format!("{n} records, ")).unwrap_or_default();
        ctx.note(format!("exported {} to {} ({what}{written} bytes)", h.name(), p.display()));
    }
    Ok(EXIT_OK)
}

/// Writes the export; returns (bytes written, records if counted).
fn export<W: Write>(
    ctx: &Ctx,
    h: &Opened,
    format: Format,
    total: Option<u64>,
    w: &mut Tracked<W>,
    out: Option<&Path>,
) -> Result<(u64, Option<u64>)> {
    match format {
        Format::Jsonl => {
            let pb = match total {
                Some(total) => progress::bytes(ctx, total, "exporting"),
                None => progress::bytes_unknown(ctx, "exporting"),
            };
            let mut wrapped = pb.wrap_write(&mut *w);
            let r = h.store().export_jsonl(&mut wrapped);
            pb.finish_and_clear();
            match r {
                Ok(n) => Ok((n, None)),
                Err(e) => match w.error.take() {
                    Some(io) => Err(output_error(out, &io)),
                    None => Err(e.into()),
                },
            }
        }
        Format::Python => {
            let r = export_python(ctx, h, w);
            match (r, w.error.take()) {
                (Ok(v), _) => Ok(v),
                (Err(_), Some(io)) => Err(output_error(out, &io)),
                (Err(e), None) => Err(e),
            }
        }
        Format::Csv => {
            let r = export_csv(ctx, h, w);
            match (r, w.error.take()) {
                (Ok(v), _) => Ok(v),
                (Err(_), Some(io)) => Err(output_error(out, &io)),
                (Err(e), None) => Err(e),
            }
        }
    }
}

/// The columns of the CSV, in order: the seven record fields (objects
/// flattened, keys in order of first appearance), then other fields.
#[derive(Default)]
struct Columns {
    order: Vec<String>,
    groups: Vec<(String, Vec<String>)>,
    seen: HashSet<String>,
}

impl Columns {
    fn add(&mut self, path: String) {
        if !self.seen.insert(path.clone()) {
            return;
        }
        let top = path.split('.').next().unwrap_or(&path).to_string();
        match self.groups.iter_mut().find(|(t, _)| *t == top) {
            Some((_, cols)) => cols.push(path),
            None => self.groups.push((top, vec![path])),
        }
    }

    fn finish(&mut self) {
        let fields = iteration_history::format::FIELDS;
        let rank = |t: &str| fields.iter().position(|f| *f == t).unwrap_or(fields.len());
        self.groups.sort_by_key(|(t, _)| rank(t));
        self.order = self.groups.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => flatten_map(prefix, m, out),
        other => out.push((prefix.to_string(), cell(other))),
    }
}

fn flatten_map(prefix: &str, m: &Map, out: &mut Vec<(String, String)>) {
    for (k, v) in m {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        flatten(&path, v, out);
    }
}

/// One CSV cell: numbers in full precision (`NaN`, `inf`, `-inf` for the
/// non-finite ones), booleans as `true`/`false`, null as empty, arrays as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(Number::PosInt(u)) => u.to_string(),
        Value::Number(Number::NegInt(i)) => i.to_string(),
        Value::Number(Number::Float(f)) if f.is_nan() => "NaN".into(),
        Value::Number(Number::Float(f)) if f.is_infinite() => (if *f > 0.0 { "inf" } else { "-inf" }).into(),
        Value::Number(Number::Float(f)) => format!("{f:?}"),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => serde_json::to_string(v).unwrap_or_default(),
    }
}

fn flat_record(r: &IterationRecord) -> Vec<(String, String)> {
    let mut cells = Vec::with_capacity(16);
    let map = r.to_map();
    for (k, v) in &map {
        match v {
            // An empty object still gets no column; a scalar field gets one.
            Value::Object(m) => flatten_map(k, m, &mut cells),
            other => cells.push((k.clone(), cell(other))),
        }
    }
    cells
}

/// Two passes over a snapshot: the columns (every record may add some),
/// then the rows. The second pass stops at the number of records the first
/// one saw, so records appended in between are not half-exported.
fn export_csv<W: Write>(ctx: &Ctx, h: &Opened, w: &mut W) -> Result<(u64, Option<u64>)> {
    let spin = progress::spinner(ctx, "reading columns");
    let mut cols = Columns::default();
    let mut n = 0u64;
    for r in h.records()? {
        for (path, _) in flat_record(&r?) {
            cols.add(path);
        }
        n += 1;
        if n.is_multiple_of(4096) {
            spin.set_message(format!("reading columns: {n} records"));
        }
    }
    spin.finish_and_clear();
    cols.finish();
    let pb = progress::items(ctx, n, "exporting CSV");
    let mut counter = CountingWriter { inner: w, bytes: 0 };
    {
        let mut csv = csv::Writer::from_writer(&mut counter);
        let csv_err = |e: csv::Error| CliError::new("output", format!("cannot write CSV: {e}"));
        csv.write_record(&cols.order).map_err(csv_err)?;
        let mut row = vec![String::new(); cols.order.len()];
        let index: std::collections::HashMap<&str, usize> =
            cols.order.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        for r in h.records()?.take(n as usize) {
            row.iter_mut().for_each(String::clear);
            for (path, value) in flat_record(&r?) {
                if let Some(&i) = index.get(path.as_str()) {
                    row[i] = value;
                }
            }
            csv.write_record(&row).map_err(csv_err)?;
            pb.inc(1);
        }
        csv.flush().map_err(|e| CliError::new("output", format!("cannot write CSV: {e}")))?;
    }
    pb.finish_and_clear();
    Ok((counter.bytes, Some(n)))
}

/// Every record as the original module wrote it (`pyjson::python_line`),
/// one per line.
fn export_python<W: Write>(ctx: &Ctx, h: &Opened, w: &mut W) -> Result<(u64, Option<u64>)> {
    let spin = progress::spinner(ctx, "exporting for Python");
    let (mut bytes, mut n) = (0u64, 0u64);
    for r in h.records()? {
        let mut line = iteration_history::pyjson::python_line(&r?);
        line.push('\n');
        w.write_all(line.as_bytes()).map_err(CliError::stdout)?;
        bytes += line.len() as u64;
        n += 1;
        if n.is_multiple_of(4096) {
            spin.set_message(format!("exporting for Python: {n} records"));
        }
    }
    spin.finish_and_clear();
    Ok((bytes, Some(n)))
}

struct CountingWriter<'a, W> {
    inner: &'a mut W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(cell(&Value::from(f64::NAN)), "NaN");
        assert_eq!(cell(&Value::from(f64::NEG_INFINITY)), "-inf");
        assert_eq!(cell(&Value::from(0.1)), "0.1");
        assert_eq!(cell(&Value::from(1e-5)), "1e-5");
        assert_eq!(cell(&Value::from(3u64)), "3");
        assert_eq!(cell(&Value::Null), "");
        assert_eq!(cell(&Value::Array(vec![Value::from(1u64), Value::Null])), "[1,null]");
    }

    #[test]
    fn columns_follow_the_record_fields_then_extras() {
        let mut r = IterationRecord::new(1, "x");
        r.extra.insert("seed".into(), Value::from(7u64));
        r.metrics.insert("sharpe_ratio".into(), Value::from(1.0));
        r.execution_result.insert("success".into(), Value::Bool(true));
        let mut cols = Columns::default();
        // A later record adds a metric: it joins the metrics group.
        let mut r2 = r.clone();
        r2.metrics.insert("sortino".into(), Value::from(2.0));
        for rec in [&r, &r2] {
            for (p, _) in flat_record(rec) {
                cols.add(p);
            }
        }
        cols.finish();
        assert_eq!(
            cols.order,
            [
                "iteration_num",
                "strategy_code",
                "execution_result.success",
                "metrics.sharpe_ratio",
                "metrics.sortino",
                "classification_level",
                "timestamp",
                "champion_updated",
                "seed"
            ]
        );
    }
}
