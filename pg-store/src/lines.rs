//! Lines as stored in `ih_records`: encoding a commit's records, the
//! `jsonb` copy for queries, decoding a row back into a record.

use std::fmt::Write as _;

use iteration_history::codec;
use iteration_history::record_line;
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

/// A commit numbered by the store, as `ih_append_next` takes it: each
/// line split around its number into `head` and `rest` (the same for every
/// candidate first number), and for each candidate first number
/// `guess + j` (`j` in `0..window`) the lines' tails (integrity field,
/// checksum over the whole line, line end), candidate after candidate.
pub(crate) struct NextCommit {
    pub(crate) heads: Vec<String>,
    pub(crate) rests: Vec<String>,
    pub(crate) tails: Vec<String>,
    pub(crate) jsons: Vec<Option<String>>,
}

const KEY: &str = "\"iteration_num\":";
const TRAILER_OPEN: &str = ",\"_ih\":\"";
/// `crc32c as 8 hex digits` + `"}` + `\n`.
const CRC_END: usize = 8 + 3;

fn not_split(store: &str) -> Error {
    Error::Backend {
        store: store.to_string(),
        kind: BackendErrorKind::Other,
        message:
            "internal error: the encoder's lines do not have the form a numbered append needs; nothing was written"
                .into(),
    }
}

/// `line` (a record numbered `num`) as (head, rest, tail).
fn split_line<'a>(store: &str, line: &'a str, num: u64) -> Result<(&'a str, &'a str, &'a str)> {
    let broken = || not_split(store);
    let at = line.find(KEY).ok_or_else(broken)? + KEY.len();
    let digits = num.to_string();
    let after = at + digits.len();
    if !line[at..].starts_with(&digits) || line.as_bytes().get(after).is_none_or(u8::is_ascii_digit) {
        return Err(broken());
    }
    let tail = line.rfind(TRAILER_OPEN).filter(|t| *t >= after).ok_or_else(broken)?;
    Ok((&line[..at], &line[after..tail], &line[tail..]))
}

/// Encodes `records` for `ih_append_next` with a window of `window`
/// candidate first numbers starting at `guess`.
///
/// # Errors
/// [`Error::InvalidRecord`] naming the first invalid record.
pub(crate) fn encode_next(store: &str, records: &[IterationRecord], guess: u64, window: u64) -> Result<NextCommit> {
    let numbered = |first: u64| IterationRecord::renumbered(records, first);
    let first = numbered(guess);
    let lines = encode_commit(store, &first)?;
    let mut out = NextCommit {
        heads: Vec::with_capacity(lines.len()),
        rests: Vec::with_capacity(lines.len()),
        tails: Vec::with_capacity(lines.len() * window as usize),
        jsons: lines.iter().zip(&first).map(|(l, r)| jsonb_text(l, r, true)).collect(),
    };
    for (line, r) in lines.iter().zip(&first) {
        let (head, rest, tail) = split_line(store, line, r.iteration_num)?;
        out.heads.push(head.to_string());
        out.rests.push(rest.to_string());
        out.tails.push(tail.to_string());
    }
    if records.len() == 1 {
        // One untagged line: only the number and the checksum change. The
        // checksum covers head, number, rest and the tail's opening
        // (`,"_ih":"`): the head's is computed once.
        let tail = out.tails[0].clone();
        let open = &tail[..tail.len().saturating_sub(CRC_END)];
        let head_crc = crc32c::crc32c(out.heads[0].as_bytes());
        let mut digits = String::with_capacity(20);
        for j in 1..window {
            digits.clear();
            write!(digits, "{}", guess + j).map_err(|_| not_split(store))?;
            let crc = crc32c::crc32c_append(head_crc, digits.as_bytes());
            let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc, out.rests[0].as_bytes()), open.as_bytes());
            out.tails.push(format!("{open}{crc:08x}\"}}\n"));
        }
        return Ok(out);
    }
    for j in 1..window {
        let start = guess + j;
        // Several lines: the tags' byte offsets change with the numbers'
        // lengths too; encode the commit again.
        let lines = encode_commit(store, &numbered(start))?;
        for (i, line) in lines.iter().enumerate() {
            let (head, rest, tail) = split_line(store, line, start + i as u64)?;
            if head != out.heads[i] || rest != out.rests[i] {
                return Err(not_split(store));
            }
            out.tails.push(tail.to_string());
        }
    }
    Ok(out)
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
    fn every_candidate_line_of_a_numbered_commit_is_valid() {
        for records in [vec![rec(0, "a")], vec![rec(5, "a"), rec(6, "b\u{0}c"), rec(7, "d")]] {
            for guess in [0, 7, 95, 9_999_990] {
                let window = 16u64;
                let c = encode_next("s", &records, guess, window).expect("encode");
                let n = records.len();
                assert_eq!(c.tails.len(), n * window as usize);
                for j in 0..window {
                    let mut commit = String::new();
                    for i in 0..n {
                        let num = guess + j + i as u64;
                        commit.push_str(&format!("{}{num}{}{}", c.heads[i], c.rests[i], c.tails[j as usize * n + i]));
                    }
                    let lines = encode_commit(
                        "s",
                        &records
                            .iter()
                            .zip(guess + j..)
                            .map(|(r, num)| {
                                let mut r = r.clone();
                                r.iteration_num = num;
                                r
                            })
                            .collect::<Vec<_>>(),
                    )
                    .expect("encode");
                    assert_eq!(commit, lines.concat(), "guess {guess} + {j}");
                    for (i, l) in commit.split_inclusive('\n').enumerate() {
                        let got = decode_row("s", 1, l).expect("a valid line");
                        assert_eq!(got.iteration_num, guess + j + i as u64);
                    }
                }
            }
        }
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
