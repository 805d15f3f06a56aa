//! Lines as stored in `ih_records`: encoding a commit's records, the
//! `jsonb` copy for queries, decoding a row back into a record.

use iteration_history::codec;
use iteration_history::import::record_line;
use iteration_history::{BackendErrorKind, Error, IterationRecord, Map, Result, Value};

/// The lines of one commit, as the file store would write them (one
/// checksummed line each, tagged `k/n+off` when there are several).
///
/// # Errors
/// [`Error::InvalidRecord`] naming the first invalid record.
pub(crate) fn encode_commit(store: &str, records: &[IterationRecord]) -> Result<Vec<String>> {
    let mut bodies = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let body = codec::encode_body(r).map_err(|source| Error::InvalidRecord {
            file: store.to_string(),
            at: if records.len() > 1 {
                format!(" (record {} of the batch, iteration {})", i + 1, r.iteration_num)
            } else {
                String::new()
            },
            source,
        })?;
        bodies.push(body);
    }
    let mut bytes = Vec::with_capacity(bodies.iter().map(|b| b.approx_line_len() + 24).sum());
    codec::finish_commit(bodies.iter(), bodies.len(), &mut bytes);
    let text = String::from_utf8(bytes).map_err(|_| Error::Backend {
        store: store.to_string(),
        kind: BackendErrorKind::Other,
        message: "the encoder produced a line that is not UTF-8".into(),
    })?;
    Ok(text.split_inclusive('\n').map(str::to_string).collect())
}

/// `record` as one canonical line (checksummed, untagged, `\n`-terminated),
/// the form [`PgStore::compact`](crate::PgStore::compact) writes. `seq`
/// names the row in messages.
///
/// # Errors
/// [`Error::InvalidRecord`] if the record cannot be encoded.
pub(crate) fn canonical_line(store: &str, seq: i64, record: &IterationRecord) -> Result<String> {
    let bytes = codec::encode_line(record).map_err(|source| Error::InvalidRecord {
        file: store.to_string(),
        at: format!(" (record {seq})"),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| Error::Backend {
        store: store.to_string(),
        kind: BackendErrorKind::Other,
        message: "the encoder produced a line that is not UTF-8".into(),
    })
}

/// The text PostgreSQL parses into the `jsonb` column, if it differs from
/// `line`. `strict`: `line` is known to be strict JSON (written by our
/// encoder); lines from other writers (bare `NaN` from Python) are encoded
/// again. PostgreSQL's `jsonb` cannot hold the character U+0000, which
/// strict JSON can (`\u0000`): in the `jsonb` copy it becomes U+FFFD (the
/// `line` column keeps the original).
pub(crate) fn jsonb_text(line: &str, record: &IterationRecord, strict: bool) -> Option<String> {
    let has_nul = line.contains("\\u0000");
    if strict && !has_nul {
        return None;
    }
    let encoded = if has_nul { codec::encode_line(&without_nul(record)) } else { codec::encode_line(record) };
    // A record that was read can always be encoded; if not, fall back to
    // a JSON null so the row is still stored (the line is what counts).
    Some(encoded.ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_else(|| "null".to_string()))
}

fn without_nul(record: &IterationRecord) -> IterationRecord {
    fn s(x: &str) -> String {
        x.replace('\0', "\u{FFFD}")
    }
    fn map(m: &Map) -> Map {
        m.iter().map(|(k, v)| (s(k), value(v))).collect()
    }
    fn value(v: &Value) -> Value {
        match v {
            Value::String(x) => Value::String(s(x)),
            Value::Array(a) => Value::Array(a.iter().map(value).collect()),
            Value::Object(m) => Value::Object(map(m)),
            other => other.clone(),
        }
    }
    let mut r = record.clone();
    r.strategy_code = s(&r.strategy_code);
    r.classification_level = s(&r.classification_level);
    r.timestamp = s(&r.timestamp);
    r.execution_result = map(&r.execution_result);
    r.metrics = map(&r.metrics);
    r.extra = map(&r.extra);
    r
}

/// The record a row holds. `seq` names the row in messages.
///
/// # Errors
/// [`Error::Backend`] with [`BackendErrorKind::Corrupt`]: the row was
/// changed by another program.
pub(crate) fn decode_row(store: &str, seq: i64, line: &str) -> Result<IterationRecord> {
    codec::decode_line(record_line(line.as_bytes())).map(|(r, _)| r).map_err(|reason| Error::Backend {
        store: store.to_string(),
        kind: BackendErrorKind::Corrupt,
        message: format!(
            "record {seq} (column `line` of ih_records, seq = {seq}) is not a valid record: {reason}; it was changed by another program: restore it from a backup, or delete the row"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u64, code: &str) -> IterationRecord {
        let mut r = IterationRecord::new(n, code);
        r.classification_level = "L".into();
        r.timestamp = "t".into();
        r.set_metric("s", f64::NAN);
        r
    }

    #[test]
    fn a_commit_is_encoded_as_the_file_store_writes_it() {
        let lines = encode_commit("s", &[rec(1, "a"), rec(2, "b")]).expect("encode");
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("\"_ih\":\"1/2+0 ") && lines[1].contains("\"_ih\":\"2/2+"), "{lines:?}");
        assert!(lines.iter().all(|l| l.ends_with("}\n")));
        assert_eq!(decode_row("s", 2, &lines[1]).expect("decode"), rec(2, "b"));
        let err = encode_commit("s", &[rec(1, "a"), IterationRecord::new(2, "x")]).expect_err("no timestamp");
        assert!(err.to_string().contains("record 2 of the batch"), "{err}");
    }

    #[test]
    fn jsonb_gets_strict_json_without_nul() {
        let r = rec(1, "a\0b");
        let line = String::from_utf8(codec::encode_line(&r).expect("encode")).expect("utf8");
        assert!(line.contains("\\u0000"));
        let j = jsonb_text(&line, &r, true).expect("rewritten");
        assert!(!j.contains("\\u0000") && j.contains('\u{FFFD}'), "{j}");
        let plain = rec(2, "ok");
        let line = String::from_utf8(codec::encode_line(&plain).expect("encode")).expect("utf8");
        assert_eq!(jsonb_text(&line, &plain, true), None);
        let python = "{\"iteration_num\": 3, \"strategy_code\": \"x\", \"execution_result\": {}, \"metrics\": {\"s\": NaN}, \"classification_level\": \"L\", \"timestamp\": \"t\", \"champion_updated\": false}\n";
        let j = jsonb_text(python, &rec(3, "x"), false).expect("re-encoded");
        assert!(j.contains("\"_nonfinite\":{\"/metrics/s\":\"NaN\"}") && !j.contains("NaN,"), "{j}");
        let err = decode_row("st", 7, "{not json}\n").expect_err("bad row").to_string();
        assert!(err.contains("seq = 7") && err.starts_with("st: "), "{err}");
    }
}
