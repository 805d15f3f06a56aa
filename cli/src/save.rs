//! `ihist save`: one record from an argument, or records from standard
//! input (several lines are saved as one all-or-nothing batch).

use std::io::{IsTerminal, Read};

use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::input;
use crate::target::Target;

/// Runs `save`. `record` is the JSON text, or `None`/`-` for standard input.
/// `next`: the history numbers the records ([`Store::append_next`](iteration_history::Store::append_next)).
pub(crate) fn run(ctx: &Ctx, history: &Target, record: Option<&str>, next: bool) -> Result {
    let records = match record {
        None | Some("-") => {
            let mut stdin = std::io::stdin().lock();
            if stdin.is_terminal() {
                ctx.note("reading records from standard input, one JSON object per line (end with Ctrl-D)");
            }
            let mut bytes = Vec::new();
            stdin
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::new("io", format!("standard input: cannot read: {e}")))?;
            input::read_records(&bytes, "standard input")?
        }
        Some(text) => vec![input::read_one(text.as_bytes(), "the record argument")?],
    };
    // Parse first, then take the lock: a bad input never touches the history.
    let h = history.writer(ctx, true)?;
    let (first, last) = if next {
        let got = h.store().append_next(&records)?;
        (Some(got.start).filter(|_| !got.is_empty()), got.end.checked_sub(1).filter(|_| !got.is_empty()))
    } else {
        h.store().append(&records)?;
        (records.first().map(|r| r.iteration_num), records.last().map(|r| r.iteration_num))
    };
    let count = h.store().count()?;
    if ctx.json {
        ctx.out_json(&json!({
            "file": h.name(),
            "saved": records.len(),
            "first_iteration_num": first,
            "last_iteration_num": last,
            "records": count,
        }))?;
    } else if let (Some(first), Some(last)) = (first, last) {
        let what = if records.len() == 1 {
            format!("iteration {first}")
        } else {
            format!("{} records (iterations {first}..{last}) as one all-or-nothing commit", records.len())
        };
        ctx.out(format!("saved {what} to {} durably; {count} records in all", h.name()))?;
    }
    Ok(EXIT_OK)
}
