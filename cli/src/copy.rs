//! `ihist copy SOURCE DESTINATION`: a whole history from one store to
//! another (file → PostgreSQL and back, PostgreSQL → PostgreSQL, file →
//! file), byte for byte, through [`iteration_history::copy`]: the export of
//! the source is streamed into the destination's import, which is one
//! atomic commit, so the destination ends up either with the whole history
//! or unchanged.

use iteration_history::{Error, ImportMode};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::progress;
use crate::target::Target;

/// Runs `copy`. Without `replace`, a destination that has records is
/// refused (nothing written).
pub(crate) fn run(ctx: &Ctx, src: &Target, dst: &Target, replace: bool) -> Result {
    if src.same_file(dst) {
        return Err(CliError::usage(format!("{}: SOURCE and DESTINATION are the same history", src.display())));
    }
    let s = src.reader()?;
    // Also checks the source before anything is created.
    let total = s.store().count()?;
    let new_file = dst.as_file().filter(|p| !p.exists()).map(|p| p.path().to_path_buf());
    let d = dst.writer(ctx, true)?;
    if src.file_path().is_none() && s.name() == d.name() {
        return Err(CliError::usage(format!("{}: SOURCE and DESTINATION are the same history", s.name())));
    }
    let mode = if replace { ImportMode::Replace } else { ImportMode::IntoEmpty };
    let pb = progress::items(ctx, total, "copying");
    let copied = iteration_history::copy(s.store(), d.store(), mode, &mut |n| pb.set_position(n));
    pb.finish_and_clear();
    let report = match copied {
        Ok(r) => r,
        Err(e) => {
            drop(d);
            // A destination file this copy created and left empty is removed.
            if let Some(p) = new_file
                && std::fs::metadata(&p).is_ok_and(|m| m.len() == 0)
            {
                let _ = std::fs::remove_file(&p);
            }
            return Err(match e {
                Error::Conflict { file, actual, .. } if !replace => CliError::new(
                    "not-empty",
                    format!(
                        "{file}: already holds records (last iteration {actual}); copy fills only an empty history: pass --replace to replace them (`ihist export` first keeps a copy), or choose another destination; nothing was written"
                    ),
                ),
                other => other.into(),
            });
        }
    };
    let (from, to) = (s.name(), d.name());
    if ctx.json {
        ctx.out_json(&json!({
            "source": from,
            "destination": to,
            "records": report.records,
            "bytes": report.bytes,
            "last_iteration_num": report.last_iteration_num,
            "replaced": replace,
            "added_final_newline": report.added_final_newline,
        }))?;
        return Ok(EXIT_OK);
    }
    if report.added_final_newline {
        ctx.note(format!("note: {from}: its last line had no newline; the copy has one"));
    }
    let last = report.last_iteration_num.map_or_else(|| "none".to_string(), |n| n.to_string());
    ctx.out(format!(
        "copied {} records ({} bytes, last iteration {last}) from {from} to {to} as one atomic commit, byte for byte",
        report.records, report.bytes
    ))?;
    Ok(EXIT_OK)
}
