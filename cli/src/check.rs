//! `verify` (read-only; the exit code tells the health), `repair`,
//! `compact` and `clear` (writers: atomic rewrites), on any store through
//! the `Store` contract.

use iteration_history::{Health, Options, VerifyReport};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_CORRUPT, EXIT_OK, EXIT_TORN, Result};
use crate::progress;
use crate::target::Target;

fn health_name(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::TornTail => "torn-tail",
        Health::Corrupt => "corrupt",
        _ => "unknown",
    }
}

fn exit_code(h: Health) -> u8 {
    match h {
        Health::Healthy => EXIT_OK,
        Health::TornTail => EXIT_TORN,
        _ => EXIT_CORRUPT,
    }
}

/// `ihist verify`: checks every line (JSON and checksums). Exit code 0
/// healthy, 3 torn tail, 4 corrupt. Changes nothing and takes no lock.
pub(crate) fn verify(ctx: &Ctx, target: &Target) -> Result {
    let h = target.reader()?;
    let spin = progress::spinner(ctx, &format!("verifying {}", h.name()));
    let v = h.store().verify();
    spin.finish_and_clear();
    let v = v?;
    let exit = exit_code(v.health);
    if ctx.json {
        ctx.out_json(&verify_json(&v, exit))?;
    } else {
        for line in verify_text(&v, target) {
            ctx.out(line)?;
        }
    }
    Ok(exit)
}

fn verify_json(v: &VerifyReport, exit: u8) -> serde_json::Value {
    json!({
        "file": v.file,
        "health": health_name(v.health),
        "exit_code": exit,
        "records": v.records,
        "unchecksummed": v.unchecksummed,
        "last_iteration_num": v.last_iteration_num,
        "bytes": v.bytes,
        "torn_tail": v.torn_tail.as_ref().map(|t| json!({
            "line": t.line, "offset": t.offset, "bytes": t.bytes, "reason": t.reason,
        })),
        "corrupt_lines": v.corrupt_lines.iter().map(|b| json!({
            "line": b.line, "offset": b.offset, "reason": b.reason,
        })).collect::<Vec<_>>(),
        "cut_records": v.cut.as_ref().map(|c| json!({
            "records": c.records, "line": c.line, "offset": c.offset, "message": c.message,
        })),
        "bad_lines_total": v.bad_lines_total,
        "temp_files": v.temp_files(),
        "dir_sync": v.dir_sync(),
        "problems": v.damage().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

/// How to repair a damaged history: in place for a file, through a file
/// for stores that cannot repair in place.
fn repair_advice(target: &Target, name: &str) -> String {
    if target.as_file().is_some() {
        format!("run `ihist repair {name}` to move the bad lines to a sidecar file and keep the rest")
    } else {
        format!(
            "records changed by another program cannot be repaired in place: export the history (`ihist export {name} -o h.jsonl`), repair the file (`ihist repair h.jsonl`: bad lines go to a sidecar file), then copy it back (`ihist copy --replace h.jsonl {name}`)"
        )
    }
}

fn verify_text(v: &VerifyReport, target: &Target) -> Vec<String> {
    let last = v.last_iteration_num.map_or_else(|| "none".to_string(), |n| n.to_string());
    let mut out = vec![format!(
        "{}: {} — {} records, last iteration {last}, {} bytes",
        v.file,
        health_name(v.health),
        v.records,
        v.bytes
    )];
    if v.unchecksummed > 0 {
        out.push(format!(
            "  {} records have no checksum (written by another tool, e.g. the original Python module); `ihist compact` adds them",
            v.unchecksummed
        ));
    }
    if let Some(c) = &v.cut {
        out.push(format!("  {}", c.message));
    }
    if let Some(t) = &v.torn_tail {
        out.push(format!(
            "  torn tail at line {} (byte {}): {} bytes: {}; readers ignore it, and the next writer (or `ihist repair`) moves it to a sidecar file",
            t.line, t.offset, t.bytes, t.reason
        ));
    }
    if v.health == Health::Corrupt {
        if !v.corrupt_lines.is_empty() {
            out.push(format!("  {} bad lines followed by valid ones:", v.bad_lines_total));
        }
        for b in &v.corrupt_lines {
            out.push(format!("  line {} (byte {}): {}", b.line, b.offset, b.reason));
        }
        if v.bad_lines_total > v.corrupt_lines.len() as u64 {
            out.push(format!("  ... and {} more", v.bad_lines_total - v.corrupt_lines.len() as u64));
        }
        for p in v.damage() {
            out.push(format!("  {p}"));
        }
        out.push(format!("  {}", repair_advice(target, &v.file)));
    }
    if !v.temp_files().is_empty() {
        out.push(format!(
            "  stale temp files of an interrupted rewrite: {} (the next writer removes them)",
            v.temp_files().join(", ")
        ));
    }
    out
}

/// `ihist repair`: moves a torn tail and every bad line to sidecar files
/// and atomically rewrites the rest. A healthy history is left as it is.
/// A store that cannot repair in place says how to repair through a file.
pub(crate) fn repair(ctx: &Ctx, target: &Target) -> Result {
    let h = target.writer_with(ctx, false, Options::default().repair_on_open(true))?;
    let report = h.recovery_report().cloned().unwrap_or_default();
    let again = match h.store().repair() {
        Ok(r) => r,
        Err(e @ iteration_history::Error::Backend { kind: iteration_history::BackendErrorKind::Corrupt, .. }) => {
            let mut err = CliError::from(e);
            err.message = format!("{}; {}", err.message, repair_advice(target, &h.name()));
            return Err(err);
        }
        Err(e) => return Err(e.into()),
    };
    let torn = report.torn_tail.as_ref();
    let mut moved = Vec::new();
    for r in report.repaired.iter().chain(std::iter::once(&again)).filter(|r| r.moved_lines > 0) {
        moved.push(r.clone());
    }
    let count = h.store().count()?;
    let name = h.name();
    if ctx.json {
        ctx.out_json(&json!({
            "file": name,
            "records": count,
            "torn_tail": torn.map(|t| json!({
                "line": t.line, "offset": t.offset, "bytes": t.bytes, "reason": t.reason, "sidecar": t.sidecar,
            })),
            "moved": moved.iter().map(|r| json!({
                "lines": r.moved_lines,
                "bytes": r.moved_bytes,
                "sidecar": r.sidecar,
                "bad_lines": r.moved.iter().map(|b| json!({
                    "line": b.line, "offset": b.offset, "reason": b.reason,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }))?;
        return Ok(EXIT_OK);
    }
    if torn.is_none() && moved.is_empty() {
        ctx.out(format!("{name}: healthy, nothing to repair ({count} records)"))?;
        return Ok(EXIT_OK);
    }
    if let Some(t) = torn {
        ctx.out(format!(
            "{name}: moved a torn tail ({} bytes at line {}, byte {}) to {}",
            t.bytes, t.line, t.offset, t.sidecar
        ))?;
    }
    for r in &moved {
        let sidecar = r.sidecar.as_deref().unwrap_or("a sidecar file");
        ctx.out(format!("{name}: moved {} bad lines ({} bytes) to {sidecar}:", r.moved_lines, r.moved_bytes))?;
        for b in &r.moved {
            ctx.out(format!("  line {} (byte {}): {}", b.line, b.offset, b.reason))?;
        }
    }
    ctx.out(format!("{name}: {count} records kept; the history is healthy again"))?;
    Ok(EXIT_OK)
}

/// `ihist compact`: rewrites the history atomically in canonical form
/// (checksums added to lines written by other tools).
pub(crate) fn compact(ctx: &Ctx, target: &Target) -> Result {
    let h = target.writer(ctx, false)?;
    let name = h.name();
    let spin = progress::spinner(ctx, &format!("compacting {name}"));
    let r = h.store().compact();
    spin.finish_and_clear();
    let r = r?;
    if ctx.json {
        ctx.out_json(&json!({
            "file": name,
            "records": r.records,
            "bytes_before": r.bytes_before,
            "bytes_after": r.bytes_after,
            "rewritten": r.rewritten,
        }))?;
    } else {
        let rows = r.rewritten.map_or_else(String::new, |n| format!(", {n} rows rewritten"));
        ctx.out(format!(
            "{name}: compacted {} records ({} -> {} bytes{rows}): rewritten atomically, every line checksummed",
            r.records, r.bytes_before, r.bytes_after
        ))?;
    }
    Ok(EXIT_OK)
}

/// `ihist clear --yes`: removes every record, atomically (a file: an empty
/// file renamed over it; PostgreSQL: one transaction).
pub(crate) fn clear(ctx: &Ctx, target: &Target, yes: bool) -> Result {
    if !yes {
        return Err(CliError::usage(format!(
            "clear removes every record of {}: pass --yes to confirm (`ihist export` first keeps a copy)",
            target.display()
        )));
    }
    let h = target.writer(ctx, false)?;
    let count = h.store().count()?;
    h.store().clear()?;
    if ctx.json {
        ctx.out_json(&json!({ "file": h.name(), "removed": count, "records": 0 }))?;
    } else {
        ctx.out(format!("{}: removed all {count} records (atomically); the history is empty", h.name()))?;
    }
    Ok(EXIT_OK)
}
