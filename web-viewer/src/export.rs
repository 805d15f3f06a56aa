//! CSV export of the rows the user filtered.
//!
//! Each row is decoded in full by the core, so the values are exactly what
//! the history holds: integers stay integers, non-finite numbers are
//! written `NaN`, `Infinity`, `-Infinity` (as Python and pandas read them),
//! `null` and absent members are empty cells.

use iteration_history::{Map, Value};

use crate::extract::Group;
use crate::load::Loaded;

/// The header of the export: fixed fields, one column per numeric member,
/// the line number, and the strategy code last (it is the longest).
pub fn header(loaded: &Loaded) -> Vec<String> {
    let mut h: Vec<String> =
        ["iteration_num", "timestamp", "classification_level", "success", "champion_updated"].map(String::from).into();
    h.extend(loaded.columns.numeric.iter().map(|c| c.key()));
    h.push("error".into());
    h.push("line".into());
    h.push("strategy_code".into());
    h
}

fn number_cell(map: &Map, name: &str) -> String {
    match map.get(name) {
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The CSV text (RFC 4180, `\n` line ends) of `rows`, in the given order.
///
/// # Errors
/// A row whose line no longer decodes (cannot happen for rows the loader
/// accepted) is reported with its line number.
pub fn to_csv(loaded: &Loaded, rows: &[u32]) -> Result<String, String> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let head = header(loaded);
    let err = |e: csv::Error| format!("writing CSV: {e}");
    w.write_record(&head).map_err(err)?;
    let mut cells: Vec<String> = Vec::with_capacity(head.len());
    for &row in rows {
        let row = row as usize;
        if row >= loaded.columns.len() {
            return Err(format!("row {row} does not exist ({} rows)", loaded.columns.len()));
        }
        let line = loaded.columns.line_no[row];
        let rec = loaded.record(row).map_err(|e| format!("line {line}: {e}"))?;
        cells.clear();
        cells.push(rec.iteration_num.to_string());
        cells.push(rec.timestamp.clone());
        cells.push(rec.classification_level.clone());
        cells.push(rec.success().map_or_else(String::new, |b| b.to_string()));
        cells.push(rec.champion_updated.to_string());
        for c in &loaded.columns.numeric {
            let map = match c.group {
                Group::Metrics => &rec.metrics,
                Group::Execution => &rec.execution_result,
            };
            cells.push(number_cell(map, &c.name));
        }
        cells.push(match rec.execution_result.get("error") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => serde_json::to_string(other).unwrap_or_default(),
        });
        cells.push(line.to_string());
        cells.push(rec.strategy_code.clone());
        w.write_record(&cells).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| format!("writing CSV: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("writing CSV: {e}"))
}
