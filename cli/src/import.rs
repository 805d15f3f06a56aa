//! `ihist import`: appends the records of another JSONL file (e.g. one
//! written by the original Python module) as one all-or-nothing commit.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::target::Target;
use crate::{input, progress};

/// Runs `import`: reads and checks every line of `input` first (a bad line
/// is reported with its line number and byte offset, and nothing is
/// written), then appends all records in one commit.
pub(crate) fn run(ctx: &Ctx, history: &Target, input_path: &Path, max_line_bytes: u64) -> Result {
    let source = input_path.display().to_string();
    let file = File::open(input_path).map_err(|e| CliError::io(input_path, "open the file to import", &e))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let pb = progress::bytes(ctx, total, "reading");
    let records = input::read_jsonl(BufReader::with_capacity(1 << 20, file), &source, &pb, max_line_bytes);
    pb.finish_and_clear();
    let records = records?;
    if records.is_empty() {
        return Err(CliError::new("invalid-input", format!("{source}: no records to import (the file is empty)")));
    }
    let h = history.writer(ctx, true)?;
    let before = h.store().last_iteration_num()?;
    let spin = progress::spinner(ctx, &format!("writing {} records as one commit", records.len()));
    let saved = h.store().append(&records);
    spin.finish_and_clear();
    saved?;
    let first = records.first().map(|r| r.iteration_num);
    let last = records.last().map(|r| r.iteration_num);
    let count = h.store().count()?;
    if let (Some(b), Some(f)) = (before, first)
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
            "imported": records.len(),
            "first_iteration_num": first,
            "last_iteration_num": last,
            "records": count,
        }))?;
    } else {
        ctx.out(format!(
            "imported {} records from {source} into {} as one commit (durable); {count} records in all",
            records.len(),
            h.name()
        ))?;
    }
    Ok(EXIT_OK)
}
