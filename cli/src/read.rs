//! Read commands: `recent`, `last`, `count`, `show`. They open the history
//! read-only (no lock, nothing created), so they work while a loop is
//! writing it.

use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::render;
use crate::target::Target;

/// `ihist recent -n N`: the last N records, oldest first.
pub(crate) fn recent(ctx: &Ctx, history: &Target, n: usize) -> Result {
    let h = history.reader()?;
    let records = h.store().load_recent(n)?;
    if ctx.json {
        for r in &records {
            ctx.out(render::record_json(r))?;
        }
    } else if records.is_empty() {
        ctx.out(format!("{}: no records", h.name()))?;
    } else {
        for line in render::table(&records) {
            ctx.out(line)?;
        }
    }
    Ok(EXIT_OK)
}

/// `ihist last`: the last `iteration_num` (where a loop resumes).
pub(crate) fn last(ctx: &Ctx, history: &Target) -> Result {
    let h = history.reader()?;
    let last = h.store().last_iteration_num()?;
    if ctx.json {
        ctx.out_json(&json!({ "file": h.name(), "last_iteration_num": last }))?;
    } else {
        ctx.out(last.map_or_else(|| "none (empty history)".to_string(), |n| n.to_string()))?;
    }
    Ok(EXIT_OK)
}

/// `ihist count`: the number of records.
pub(crate) fn count(ctx: &Ctx, history: &Target) -> Result {
    let h = history.reader()?;
    let count = h.store().count()?;
    if ctx.json {
        ctx.out_json(&json!({ "file": h.name(), "records": count }))?;
    } else {
        ctx.out(count.to_string())?;
    }
    Ok(EXIT_OK)
}

/// `ihist show N`: every record whose `iteration_num` is N (normally one),
/// in full.
pub(crate) fn show(ctx: &Ctx, history: &Target, iteration: u64) -> Result {
    let h = history.reader()?;
    let mut found = Vec::new();
    let (mut total, mut min, mut max) = (0u64, u64::MAX, 0u64);
    for r in h.records()? {
        let r = r?;
        total += 1;
        min = min.min(r.iteration_num);
        max = max.max(r.iteration_num);
        if r.iteration_num == iteration {
            found.push(r);
        }
    }
    if found.is_empty() {
        let held = if total == 0 {
            "the history is empty".to_string()
        } else {
            format!("it holds {total} records, iterations {min}..{max}")
        };
        return Err(CliError::new(
            "not-found",
            format!("{}: no record with iteration_num {iteration} ({held}); check the number", h.name()),
        ));
    }
    if ctx.json {
        for r in &found {
            ctx.out(render::record_json(r))?;
        }
        return Ok(EXIT_OK);
    }
    if found.len() > 1 {
        ctx.note(format!("note: {} records have iteration_num {iteration}; showing all, oldest first", found.len()));
    }
    for (i, r) in found.iter().enumerate() {
        if i > 0 {
            ctx.out("")?;
        }
        for line in render::detail(r) {
            ctx.out(line)?;
        }
    }
    Ok(EXIT_OK)
}
