//! How records and values are shown: JSON lines for scripts, tables and
//! detail views for people.

use iteration_history::codec;
use iteration_history::{IterationRecord, Number, Value};

/// The bytes `encode_line` puts after a single-record line's body:
/// `,"_ih":"` + 8 hex digits + `"}` + `\n`.
const TRAILER_LEN: usize = 8 + 8 + 3;

/// A record as one line of strict JSON: the history's own line format
/// without its `_ih` checksum. Non-finite numbers are `null` and listed in
/// `_nonfinite`, so `ihist save` and `ihist import` read them back exactly.
pub(crate) fn record_json(r: &IterationRecord) -> String {
    if let Ok(mut line) = codec::encode_line(r)
        && line.len() > TRAILER_LEN
        && line[line.len() - TRAILER_LEN..].starts_with(b",\"_ih\":\"")
    {
        line.truncate(line.len() - TRAILER_LEN);
        line.push(b'}');
        if let Ok(s) = String::from_utf8(line) {
            return s;
        }
    }
    // A record read from another tool may not pass the writer's checks
    // (e.g. an empty timestamp): plain JSON, non-finite numbers as null.
    serde_json::to_string(r).unwrap_or_else(|_| "null".into())
}

/// A record as a `serde_json` value (for embedding in JSON reports).
pub(crate) fn record_value(r: &IterationRecord) -> serde_json::Value {
    serde_json::from_str(&record_json(r)).unwrap_or(serde_json::Value::Null)
}

/// A number for people: integers as they are, floats with 4 decimals,
/// `NaN`, `inf`, `-inf`.
pub(crate) fn number(n: &Number) -> String {
    match *n {
        Number::PosInt(u) => u.to_string(),
        Number::NegInt(i) => i.to_string(),
        Number::Float(f) => float(f),
    }
}

/// A float for people (4 decimals).
pub(crate) fn float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{f:.4}")
    }
}

/// A value on one line for people.
pub(crate) fn value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => s.replace('\n', "\\n"),
        Value::Array(_) | Value::Object(_) => serde_json::to_string(v).unwrap_or_default(),
    }
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

/// A table of records for people: iteration, success, level, champion,
/// up to five metrics (those present, in order of appearance), timestamp.
pub(crate) fn table(records: &[IterationRecord]) -> Vec<String> {
    let mut metrics: Vec<&str> = Vec::new();
    for r in records {
        for k in r.metrics.keys() {
            if !metrics.contains(&k.as_str()) && metrics.len() < 5 {
                metrics.push(k);
            }
        }
    }
    let mut header: Vec<String> = ["iteration", "success", "level", "champion"].map(String::from).to_vec();
    header.extend(metrics.iter().map(|m| m.to_string()));
    header.push("timestamp".into());
    let mut rows = vec![header];
    for r in records {
        let mut row = vec![
            r.iteration_num.to_string(),
            yes_no(r.success()).to_string(),
            r.classification_level.clone(),
            if r.champion_updated { "*".into() } else { String::new() },
        ];
        row.extend(metrics.iter().map(|m| r.metrics.get(*m).map(value).unwrap_or_default()));
        row.push(r.timestamp.clone());
        rows.push(row);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    // Text columns (level, champion, timestamp) left-aligned, numbers right.
                    let left = c == 2 || c == 3 || c == cols - 1;
                    if left { format!("{cell:<w$}", w = widths[c]) } else { format!("{cell:>w$}", w = widths[c]) }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

/// Every field of one record, for people (`ihist show`).
pub(crate) fn detail(r: &IterationRecord) -> Vec<String> {
    let mut out = vec![
        format!("iteration_num         {}", r.iteration_num),
        format!("timestamp             {}", r.timestamp),
        format!("classification_level  {}", r.classification_level),
        format!("champion_updated      {}", r.champion_updated),
        "execution_result".to_string(),
    ];
    let width = |m: &iteration_history::Map| m.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    let w = width(&r.execution_result);
    out.extend(r.execution_result.iter().map(|(k, v)| format!("  {k:<w$}  {}", value(v))));
    out.push("metrics".into());
    let w = width(&r.metrics);
    out.extend(r.metrics.iter().map(|(k, v)| format!("  {k:<w$}  {}", value(v))));
    if !r.extra.is_empty() {
        out.push("other fields".into());
        let w = width(&r.extra);
        out.extend(r.extra.iter().map(|(k, v)| format!("  {k:<w$}  {}", value(v))));
    }
    out.push("strategy_code".into());
    out.extend(r.strategy_code.lines().map(|l| format!("  {l}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> IterationRecord {
        let mut r = IterationRecord::new(7, "def s():\n    return 1\n");
        r.execution_result.insert("success".into(), Value::Bool(true));
        r.set_metric("sharpe_ratio", f64::NAN);
        r.set_metric("total_return", 0.25);
        r.classification_level = "LEVEL_1".into();
        r.timestamp = "2025-01-01T00:00:00".into();
        r
    }

    #[test]
    fn record_json_is_strict_json_without_checksum_and_reads_back() {
        let r = rec();
        let line = record_json(&r);
        assert!(!line.contains("_ih"), "{line}");
        assert!(line.contains(r#""_nonfinite":{"/metrics/sharpe_ratio":"NaN"}"#), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).expect("strict JSON");
        assert_eq!(v["iteration_num"], 7);
        let (back, _) = codec::decode_line(line.as_bytes()).expect("reads back");
        assert!(back.metric("sharpe_ratio").is_some_and(f64::is_nan));
        assert_eq!(back.metric("total_return"), Some(0.25));
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::NEG_INFINITY), "-inf");
        assert_eq!(float(1.23456), "1.2346");
        assert_eq!(number(&Number::PosInt(42)), "42");
    }

    #[test]
    fn table_has_a_header_and_one_row_per_record() {
        let t = table(&[rec(), rec()]);
        assert_eq!(t.len(), 3);
        assert!(t[0].contains("sharpe_ratio") && t[0].contains("timestamp"), "{}", t[0]);
        assert!(t[1].contains("NaN") && t[1].contains("0.2500"), "{}", t[1]);
    }
}
