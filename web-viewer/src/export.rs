//! CSV export of the rows the user filtered.
//!
//! Each row is decoded in full by the core, so the values are exactly what
//! the history holds: integers stay integers, non-finite numbers are
//! written `NaN`, `Infinity`, `-Infinity` (as Python and pandas read them),
//! `null` and absent members are empty cells.

use iteration_history::{Map, Value};

use crate::extract::Group;
use crate::load::{NumColumn, Rows};

/// The header of the export: fixed fields, one column per numeric member,
/// the line number, and the strategy code last (it is the longest).
pub fn header(loaded: &dyn Rows) -> Vec<String> {
    header_for(&keys(loaded), false)
}

/// The numeric members' keys (`metrics.<name>`, `execution_result.<name>`).
pub fn keys(loaded: &dyn Rows) -> Vec<String> {
    loaded.columns().numeric.iter().map(NumColumn::key).collect()
}

fn header_for(keys: &[String], run: bool) -> Vec<String> {
    let mut h: Vec<String> = Vec::new();
    if run {
        h.push("run".into());
    }
    h.extend(["iteration_num", "timestamp", "classification_level", "success", "champion_updated"].map(String::from));
    h.extend(keys.iter().cloned());
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
pub fn to_csv(loaded: &dyn Rows, rows: &[u32]) -> Result<String, String> {
    to_csv_with(loaded, rows, &keys(loaded), None, true)
}

/// As [`to_csv`], with the numeric columns `keys` (those of several
/// histories, when their rows are exported together), a first `run` column
/// holding `run` when given, and the header line only with `header`.
///
/// # Errors
/// As [`to_csv`].
pub fn to_csv_with(
    loaded: &dyn Rows,
    rows: &[u32],
    keys: &[String],
    run: Option<&str>,
    header: bool,
) -> Result<String, String> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let head = header_for(keys, run.is_some());
    let err = |e: csv::Error| format!("writing CSV: {e}");
    if header {
        w.write_record(&head).map_err(err)?;
    }
    let members: Vec<(Group, &str)> = keys
        .iter()
        .map(|k| match k.split_once('.') {
            Some(("execution_result", name)) => (Group::Execution, name),
            Some((_, name)) => (Group::Metrics, name),
            None => (Group::Metrics, k.as_str()),
        })
        .collect();
    let columns = loaded.columns();
    let mut cells: Vec<String> = Vec::with_capacity(head.len());
    for &row in rows {
        let row = row as usize;
        if row >= columns.len() {
            return Err(format!("row {row} does not exist ({} rows)", columns.len()));
        }
        let line = columns.line_no[row];
        let rec = loaded.record(row).map_err(|e| format!("line {line}: {e}"))?;
        cells.clear();
        if let Some(run) = run {
            cells.push(run.to_string());
        }
        cells.push(rec.iteration_num.to_string());
        cells.push(rec.timestamp.clone());
        cells.push(rec.classification_level.clone());
        cells.push(rec.success().map_or_else(String::new, |b| b.to_string()));
        cells.push(rec.champion_updated.to_string());
        for &(group, name) in &members {
            let map = match group {
                Group::Metrics => &rec.metrics,
                Group::Execution => &rec.execution_result,
            };
            cells.push(number_cell(map, name));
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
