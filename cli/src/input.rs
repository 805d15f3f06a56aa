//! Records given to `save` and `import`: one JSON object, or JSONL (one
//! object per line). Every problem names the input, the line and its byte
//! offset; nothing is written unless every record is valid.

use std::io::BufRead;

use indicatif::ProgressBar;
use iteration_history::IterationRecord;
use iteration_history::codec::{self, LineError};
use iteration_history::format::BOM;

use crate::error::{CliError, Result};

/// The error for a line longer than `max_line` bytes.
pub(crate) fn too_long(source: &str, line: u64, offset: u64, max_line: u64) -> CliError {
    CliError::new(
        "invalid-input",
        format!(
            "{source}: line {line} (byte {offset}): longer than {max_line} bytes, the limit for one line (--max-line-bytes); nothing was written"
        ),
    )
}

pub(crate) fn bad_line(source: &str, line: u64, offset: u64, reason: &LineError) -> CliError {
    CliError::new(
        "invalid-input",
        format!(
            "{source}: line {line} (byte {offset}): {reason}; nothing was written: fix or remove that line and retry"
        ),
    )
}

/// Reads every record of a JSONL stream (BOM, CRLF, blank lines and a last
/// line without `\n` accepted). `pb` advances by the bytes read.
pub(crate) fn read_jsonl(mut reader: impl BufRead, source: &str, pb: &ProgressBar) -> Result<Vec<IterationRecord>> {
    let mut records = Vec::new();
    let mut buf = Vec::with_capacity(1024);
    let (mut line, mut offset) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| CliError::new("io", format!("{source}: cannot read line {}: {e}", line + 1)))?;
        if n == 0 {
            break;
        }
        line += 1;
        pb.inc(n as u64);
        let text = if line == 1 { buf.strip_prefix(BOM).unwrap_or(&buf) } else { &buf[..] };
        if !codec::is_blank(text) {
            let (rec, _) = codec::decode_line(text).map_err(|reason| bad_line(source, line, offset, &reason))?;
            records.push(rec);
        }
        offset += n as u64;
    }
    Ok(records)
}

/// Reads the records given to `save`: JSONL (one record per line; several
/// lines are saved as one batch) or a single, possibly pretty-printed, JSON
/// object.
pub(crate) fn read_records(bytes: &[u8], source: &str) -> Result<Vec<IterationRecord>> {
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut lines = body.split(|&b| b == b'\n').filter(|l| !codec::is_blank(l));
    let Some(first) = lines.next() else {
        return Err(CliError::new(
            "invalid-input",
            format!("{source}: no record given; pass a JSON object (one line of JSONL), or JSONL on standard input"),
        ));
    };
    let several = lines.next().is_some();
    let first_is_whole = first.trim_ascii().ends_with(b"}");
    if several && !first_is_whole {
        // One pretty-printed object spread over several lines.
        return read_one(body, source).map(|r| vec![r]);
    }
    read_jsonl(body, source, &ProgressBar::hidden())
}

/// Reads exactly one record (a JSON object, pretty-printed or not).
pub(crate) fn read_one(bytes: &[u8], source: &str) -> Result<IterationRecord> {
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes).trim_ascii();
    if body.is_empty() {
        return Err(CliError::new("invalid-input", format!("{source}: empty; give a record as a JSON object")));
    }
    codec::decode_line(body).map(|(r, _)| r).map_err(|reason| {
        CliError::new("invalid-input", format!("{source}: {reason}; nothing was written: fix the record and retry"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REC: &str = r#"{"iteration_num": 1, "strategy_code": "x", "execution_result": {}, "metrics": {"sharpe_ratio": NaN}, "classification_level": "LEVEL_1", "timestamp": "t", "champion_updated": false}"#;

    #[test]
    fn jsonl_with_bom_crlf_blank_lines_and_no_final_newline() {
        let text = format!("\u{feff}{REC}\r\n\n   \n{}", REC.replace("\"iteration_num\": 1", "\"iteration_num\": 2"));
        let recs = read_records(text.as_bytes(), "stdin").expect("parse");
        assert_eq!(recs.iter().map(|r| r.iteration_num).collect::<Vec<_>>(), vec![1, 2]);
        assert!(recs[0].metric("sharpe_ratio").is_some_and(f64::is_nan));
    }

    #[test]
    fn a_bad_line_is_named_by_number_and_byte_offset() {
        let text = format!("{REC}\n\n{{\"iteration_num\": 2,\n{REC}\n");
        let e = read_jsonl(text.as_bytes(), "in.jsonl", &ProgressBar::hidden()).expect_err("bad line");
        let offset = REC.len() + 2;
        assert!(e.message.starts_with(&format!("in.jsonl: line 3 (byte {offset}): ")), "{}", e.message);
        assert!(e.message.contains("nothing was written"), "{}", e.message);
        assert_eq!(e.code, "invalid-input");
    }

    #[test]
    fn a_missing_field_is_named() {
        let e = read_one(br#"{"iteration_num": 1}"#, "argument").expect_err("missing fields");
        assert!(e.message.contains("strategy_code"), "{}", e.message);
    }

    #[test]
    fn pretty_printed_object_is_one_record() {
        let pretty = REC.replace(", ", ",\n  ").replace('{', "{\n  ");
        let recs = read_records(pretty.as_bytes(), "stdin").expect("pretty");
        assert_eq!(recs.len(), 1);
        let e = read_records(b"{\n  \"iteration_num\": 1,\n", "stdin").expect_err("broken");
        assert!(e.message.starts_with("stdin: not valid JSON"), "{}", e.message);
    }

    #[test]
    fn empty_input_is_an_error() {
        let e = read_records(b"\n  \n", "stdin").expect_err("empty");
        assert!(e.message.contains("no record given"), "{}", e.message);
    }
}
