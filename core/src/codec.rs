//! One history line: how a record is written and read. No I/O here.
//!
//! The line format (fields, `_nonfinite`, the `_ih` trailer and commit tags)
//! is described, and its constants are defined, in [`format`](crate::format).
//! Lines without `_ih` (written by the original Python module or by hand)
//! are read as records if they are valid; they are reported as unchecked.
//!
//! Reading also accepts what CPython's `json.dumps` writes by default: bare
//! `NaN`, `Infinity`, `-Infinity`, `\uXXXX` escapes (surrogate pairs too),
//! raw UTF-8, `", "`/`": "` separators, and `\r\n` line ends. A UTF-8 BOM
//! and blank lines are handled by the scanner ([`crate::scan`]).

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::format::{CRC_TAIL, FIELDS, INTEGRITY_KEY, MAX_TAG_LEN, NONFINITE_KEY, TRAILER_OPEN};
use crate::json::{self, JsonError, LastKey, TopLevel};
use crate::record::{FieldError, IterationRecord};
use crate::value::{Map, Number, Value};

/// Where a record sits in a multi-record commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupTag {
    /// 1-based position in the commit.
    pub index: u32,
    /// Number of records in the commit.
    pub count: u32,
    /// Bytes from the commit's first byte to this line's first byte.
    pub offset: u64,
}

/// Why a line is not a valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineError {
    /// Not JSON (offset within the line).
    Json(JsonError),
    /// JSON, but not an object.
    NotAnObject,
    /// An object, but a field is missing or wrong.
    Field(FieldError),
    /// The CRC in `_ih` does not match the line: it was damaged or edited.
    Checksum {
        /// CRC written in the line.
        stored: u32,
        /// CRC of the bytes as they are now.
        actual: u32,
    },
    /// `_ih` or `_nonfinite` is malformed.
    Metadata(&'static str),
    /// The line has no `\n`: a write that did not finish.
    Unterminated,
    /// The line (with its line end), or a run of blank lines, is longer
    /// than the reader's limit ([`crate::import::JsonlReader::max_line_bytes`]):
    /// the rest of it was not read.
    TooLong {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The last commit of the file is incomplete: only `present` of its
    /// `count` records are there (see [`crate::scan`] for when this is a
    /// write that did not finish and when a cut file).
    IncompleteCommit {
        /// Records of the commit present at the end of the file.
        present: u32,
        /// Records the commit holds.
        count: u32,
    },
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Json(e) => write!(f, "not valid JSON: {} at byte {} of the line", e.message, e.offset),
            LineError::NotAnObject => f.write_str("not a JSON object"),
            LineError::Field(e) => write!(f, "invalid record: {e}"),
            LineError::Checksum { stored, actual } => write!(
                f,
                "checksum mismatch (stored {stored:08x}, computed {actual:08x}): the line was damaged or edited after it was written"
            ),
            LineError::Metadata(what) => write!(f, "malformed metadata: {what}"),
            LineError::Unterminated => f.write_str("unterminated line (a write that did not finish)"),
            LineError::TooLong { limit } => write!(
                f,
                "line longer than {limit} bytes, the limit for one line (not a record; the rest of the input was not read)"
            ),
            LineError::IncompleteCommit { present, count } => write!(
                f,
                "the last commit is incomplete: {present} of its {count} records are present, and the writer's in-flight record names this commit as a write that had not finished"
            ),
        }
    }
}

impl std::error::Error for LineError {}

/// What a valid line holds.
#[derive(Clone, Debug, PartialEq)]
pub struct LineInfo {
    /// The record's `iteration_num`.
    pub iteration_num: u64,
    /// Its place in a multi-record commit, if any.
    pub tag: Option<GroupTag>,
    /// Whether the line carries a checksum (written by this library).
    pub checksummed: bool,
}

/// The part of a line before its integrity field: `{…` without the closing
/// brace. Encoding is done once per record; the trailer is added when the
/// commit it belongs to is known.
#[derive(Clone, Debug)]
pub struct EncodedBody {
    pub(crate) bytes: Vec<u8>,
    pub(crate) iteration_num: u64,
}

impl EncodedBody {
    /// The record's `iteration_num`.
    pub fn iteration_num(&self) -> u64 {
        self.iteration_num
    }

    /// Length in bytes of the finished line without its tag.
    pub fn approx_line_len(&self) -> usize {
        self.bytes.len() + TRAILER_OPEN.len() + CRC_TAIL + 1
    }
}

/// Validates and encodes a record's body.
///
/// # Errors
/// The first invalid field; nothing is produced.
pub fn encode_body(rec: &IterationRecord) -> Result<EncodedBody, FieldError> {
    rec.validate()?;
    let mut nonfinite = Map::new();
    collect_nonfinite("/execution_result", &rec.execution_result, &mut nonfinite);
    collect_nonfinite("/metrics", &rec.metrics, &mut nonfinite);
    for (k, v) in &rec.extra {
        collect_value(&format!("/{}", escape_pointer(k)), v, &mut nonfinite);
    }
    let mut bytes = Vec::with_capacity(256 + rec.strategy_code.len());
    let ser = RecordSer { rec, nonfinite: (!nonfinite.is_empty()).then_some(&nonfinite) };
    serde_json::to_writer(&mut bytes, &ser)
        .map_err(|e| FieldError::new("record", format!("cannot be encoded: {e}")))?;
    // serde_json ends an object with `}`; the trailer goes before it.
    if bytes.pop() != Some(b'}') {
        return Err(FieldError::new("record", "encoder did not produce an object"));
    }
    Ok(EncodedBody { bytes, iteration_num: rec.iteration_num })
}

/// Appends the finished line (`body` + integrity field + `\n`) to `out`.
pub fn finish_line(body: &EncodedBody, tag: Option<GroupTag>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&body.bytes);
    out.extend_from_slice(TRAILER_OPEN);
    if let Some(t) = tag {
        out.extend_from_slice(format!("{}/{}+{} ", t.index, t.count, t.offset).as_bytes());
    }
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(format!("{crc:08x}\"}}\n").as_bytes());
}

/// Encodes a record as one finished line (a single-record commit).
///
/// # Errors
/// The first invalid field.
pub fn encode_line(rec: &IterationRecord) -> Result<Vec<u8>, FieldError> {
    let body = encode_body(rec)?;
    let mut out = Vec::with_capacity(body.approx_line_len());
    finish_line(&body, None, &mut out);
    Ok(out)
}

/// Finishes several bodies as one commit: one line each, tagged `k/n+off`
/// when there is more than one.
pub fn finish_commit<'a>(bodies: impl IntoIterator<Item = &'a EncodedBody>, count: usize, out: &mut Vec<u8>) {
    let start = out.len();
    for (i, body) in bodies.into_iter().enumerate() {
        let tag = (count > 1).then(|| GroupTag {
            index: (i + 1) as u32,
            count: count as u32,
            offset: (out.len() - start) as u64,
        });
        finish_line(body, tag, out);
    }
}

/// Finishes several bodies as untagged single-record lines: for commits
/// made atomic by a rename, which need no commit tag (a line tool that cuts
/// such a history leaves only whole commits).
pub fn finish_untagged<'a>(bodies: impl IntoIterator<Item = &'a EncodedBody>, out: &mut Vec<u8>) {
    for body in bodies {
        finish_line(body, None, out);
    }
}

/// A checksummed line (without its line end) finished again without a
/// commit tag, or `None` if the line has no valid trailer.
pub(crate) fn untag(line: &[u8]) -> Option<Vec<u8>> {
    let (_, _, covered) = trailer(line)?.ok()?;
    let pos = memchr::memmem::rfind(&line[..covered], TRAILER_OPEN)?;
    let body = EncodedBody { bytes: line[..pos].to_vec(), iteration_num: 0 };
    let mut out = Vec::with_capacity(line.len() + 1);
    finish_line(&body, None, &mut out);
    Some(out)
}

/// The line without its line end (`\n` or `\r\n`).
pub fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether a line holds only whitespace.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// A parsed integrity trailer: stored CRC, tag, covered length.
type Trailer = (u32, Option<GroupTag>, usize);

/// The integrity trailer of a line (without its line end), if it has one:
/// (stored CRC, tag, length of the bytes the CRC covers).
fn trailer(line: &[u8]) -> Option<Result<Trailer, LineError>> {
    let n = line.len();
    if n < TRAILER_OPEN.len() + CRC_TAIL + 1 || !line.ends_with(b"\"}") {
        return None;
    }
    let hex = &line[n - CRC_TAIL..n - 2];
    let covered = n - CRC_TAIL;
    // Untagged: `,"_ih":"` directly before the CRC.
    if line[..covered].ends_with(TRAILER_OPEN) {
        return Some(parse_hex(hex).map(|crc| (crc, None, covered)));
    }
    // Tagged: `,"_ih":"k/n+off ` before the CRC (tag at most 50 bytes).
    if line[covered - 1] != b' ' {
        return None;
    }
    let window_start = covered.saturating_sub(TRAILER_OPEN.len() + MAX_TAG_LEN);
    let window = &line[window_start..covered - 1];
    let pos = memchr::memmem::rfind(window, TRAILER_OPEN)?;
    let tag_text = &window[pos + TRAILER_OPEN.len()..];
    Some(parse_tag(tag_text).and_then(|tag| parse_hex(hex).map(|crc| (crc, Some(tag), covered))))
}

fn parse_hex(hex: &[u8]) -> Result<u32, LineError> {
    /// The value of each lowercase hex digit; 0xff for any other byte (a
    /// table, not branches: the digits of a CRC are random).
    const HEX: [u8; 256] = {
        let mut t = [0xff; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        while i < 16 {
            t[b'a' as usize + i - 10] = i as u8;
            i += 1;
        }
        t
    };
    let bad = || LineError::Metadata("`_ih` must end with 8 lowercase hex digits");
    let digits: &[u8; 8] = hex.try_into().map_err(|_| bad())?;
    let mut crc = 0u32;
    let mut seen = 0u8;
    for &b in digits {
        let d = HEX[usize::from(b)];
        seen |= d;
        crc = crc << 4 | u32::from(d & 0xf);
    }
    if seen == 0xff { Err(bad()) } else { Ok(crc) }
}

fn parse_tag(text: &[u8]) -> Result<GroupTag, LineError> {
    const BAD: LineError = LineError::Metadata("`_ih` commit tag must be `k/n+offset`");
    let s = std::str::from_utf8(text).map_err(|_| BAD)?;
    let (k, rest) = s.split_once('/').ok_or(BAD)?;
    let (n, off) = rest.split_once('+').ok_or(BAD)?;
    let num = |t: &str| -> Result<u64, LineError> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BAD);
        }
        t.parse::<u64>().map_err(|_| BAD)
    };
    let (index, count, offset) = (num(k)?, num(n)?, num(off)?);
    let index = u32::try_from(index).map_err(|_| BAD)?;
    let count = u32::try_from(count).map_err(|_| BAD)?;
    if index == 0 || index > count || (index == 1) != (offset == 0) {
        return Err(BAD);
    }
    Ok(GroupTag { index, count, offset })
}

/// Reads `iteration_num` from the start of a line this library wrote.
fn fast_iteration_num(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"iteration_num\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    if end == 0 || rest[end] != b',' || (end > 1 && rest[0] == b'0') {
        return None;
    }
    let digits = std::str::from_utf8(&rest[..end]).ok()?;
    digits.parse().ok()
}

/// Checks a line (without its line end) and reads what a scan needs.
///
/// With `full == false`, a line whose checksum matches is trusted without
/// parsing its JSON (our writer only writes valid records); lines without a
/// checksum are always parsed.
pub fn check_line(line: &[u8], full: bool) -> Result<LineInfo, LineError> {
    let line = strip_line_end(line);
    match trailer(line) {
        Some(Err(e)) => Err(e),
        Some(Ok((stored, tag, covered))) => {
            let actual = crc32c::crc32c(&line[..covered]);
            if actual != stored {
                return Err(LineError::Checksum { stored, actual });
            }
            if !full && let Some(iteration_num) = fast_iteration_num(line) {
                return Ok(LineInfo { iteration_num, tag, checksummed: true });
            }
            let (rec, tag2, _) = decode_checked(line, Some(tag))?;
            Ok(LineInfo { iteration_num: rec.iteration_num, tag: tag2, checksummed: true })
        }
        None => {
            let (rec, tag, checksummed) = decode_checked(line, None)?;
            Ok(LineInfo { iteration_num: rec.iteration_num, tag, checksummed })
        }
    }
}

/// Decodes a line (without or with its line end) into a record.
///
/// # Errors
/// Why the line is not a valid record.
pub fn decode_line(line: &[u8]) -> Result<(IterationRecord, LineInfo), LineError> {
    let line = strip_line_end(line);
    let trailer = match trailer(line) {
        Some(Err(e)) => return Err(e),
        Some(Ok((stored, tag, covered))) => {
            let actual = crc32c::crc32c(&line[..covered]);
            if actual != stored {
                return Err(LineError::Checksum { stored, actual });
            }
            Some(tag)
        }
        None => None,
    };
    let (rec, tag, checksummed) = decode_checked(line, trailer)?;
    let info = LineInfo { iteration_num: rec.iteration_num, tag, checksummed };
    Ok((rec, info))
}

/// Parses the JSON of a line whose trailer (if `trailer` is `Some`) was
/// already verified.
///
/// The order of the checks is part of the contract (the differential test
/// holds it to the previous reader's): JSON syntax, then an object, then
/// `_ih`, then `_nonfinite`, then the fields in the order of
/// [`crate::format::FIELDS`]. A repeated key keeps its first position and
/// its last value, as in Python's `json.loads`.
fn decode_checked(
    line: &[u8],
    trailer: Option<Option<GroupTag>>,
) -> Result<(IterationRecord, Option<GroupTag>, bool), LineError> {
    let mut top = TopLevel::default();
    if !json::parse_top_level(line, &mut top).map_err(LineError::Json)? {
        return Err(LineError::NotAnObject);
    }
    let (tag, checksummed) = match (trailer, top.integrity) {
        (Some(tag), true) => {
            // The verified trailer must be the object's last member.
            if top.last != LastKey::Integrity {
                return Err(LineError::Metadata("`_ih` must be the last field"));
            }
            (tag, true)
        }
        (None, true) => return Err(LineError::Metadata("`_ih` is present but not in the form `…crc32c\"}`")),
        (Some(_), false) => return Err(LineError::Metadata("`_ih` trailer found but no `_ih` field")),
        (None, false) => {
            if top.last == LastKey::Extra && looks_like_damaged_integrity(&top.extra) {
                return Err(LineError::Metadata("the `_ih` field's name is damaged"));
            }
            (None, false)
        }
    };
    if let Some(index) = top.nonfinite.take() {
        apply_nonfinite(&mut top, index)?;
    }
    let rec = IterationRecord::from_fields(top.fields, top.extra).map_err(LineError::Field)?;
    Ok((rec, tag, checksummed))
}

/// Whether the last field of a line without `_ih` is our integrity field
/// with one byte of its name changed (`_ix`, `_Ih`, …): a checksummed line
/// damaged there must not be read as another tool's line with an extra
/// field.
fn looks_like_damaged_integrity(map: &Map) -> bool {
    let Some((key, Value::String(v))) = map.last() else { return false };
    let differing = is_near_integrity_key(key.as_bytes());
    let v = v.as_bytes();
    if !differing || v.len() < 8 || parse_hex(&v[v.len() - 8..]).is_err() {
        return false;
    }
    match v.len() - 8 {
        0 => true,
        n => v[n - 1] == b' ' && parse_tag(&v[..n - 1]).is_ok(),
    }
}

/// Whether a field name is `_ih` with exactly one byte changed (`_ix`,
/// `_Ih`, …). A line that ends with such a field and a checksum-shaped value
/// is refused by [`decode_line`] as a damaged integrity field; a faster
/// reader must leave such lines to it.
pub fn is_near_integrity_key(key: &[u8]) -> bool {
    key.len() == INTEGRITY_KEY.len() && key.iter().zip(INTEGRITY_KEY.as_bytes()).filter(|(a, b)| a != b).count() == 1
}

fn apply_nonfinite(top: &mut TopLevel, index: Value) -> Result<(), LineError> {
    let Value::Object(entries) = index else {
        return Err(LineError::Metadata("`_nonfinite` must be an object"));
    };
    for (pointer, kind) in entries {
        let f = match kind.as_str() {
            Some("NaN") => f64::NAN,
            Some("Infinity") => f64::INFINITY,
            Some("-Infinity") => f64::NEG_INFINITY,
            _ => return Err(LineError::Metadata("`_nonfinite` values must be \"NaN\", \"Infinity\" or \"-Infinity\"")),
        };
        let slot = resolve_pointer(top, &pointer)
            .ok_or(LineError::Metadata("`_nonfinite` names a position that does not exist"))?;
        if *slot != Value::Null {
            return Err(LineError::Metadata("`_nonfinite` names a position that is not null"));
        }
        *slot = Value::Number(Number::Float(f));
    }
    Ok(())
}

/// The value a JSON Pointer names among a line's fields (`_ih` and
/// `_nonfinite` excluded).
fn resolve_pointer<'a>(top: &'a mut TopLevel, pointer: &str) -> Option<&'a mut Value> {
    let mut parts = pointer.strip_prefix('/')?.split('/').map(unescape_pointer);
    let first = parts.next()?;
    let mut cur = match FIELDS.iter().position(|f| *f == first) {
        Some(i) => top.fields[i].as_mut()?,
        None => top.extra.get_mut(&first)?,
    };
    for part in parts {
        cur = match cur {
            Value::Object(m) => m.get_mut(&part)?,
            Value::Array(a) => {
                if part.is_empty() || (part.len() > 1 && part.starts_with('0')) {
                    return None;
                }
                a.get_mut(part.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn escape_pointer(key: &str) -> String {
    if !key.contains(['~', '/']) {
        return key.to_owned();
    }
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape_pointer(part: &str) -> String {
    if !part.contains('~') {
        return part.to_owned();
    }
    part.replace("~1", "/").replace("~0", "~")
}

fn collect_nonfinite(prefix: &str, map: &Map, out: &mut Map) {
    for (k, v) in map {
        collect_value(&format!("{prefix}/{}", escape_pointer(k)), v, out);
    }
}

fn collect_value(path: &str, v: &Value, out: &mut Map) {
    match v {
        Value::Number(n @ Number::Float(f)) if n.is_non_finite() => {
            let kind = if f.is_nan() {
                "NaN"
            } else if *f > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            };
            out.insert(path.to_string(), Value::from(kind));
        }
        Value::Object(m) => collect_nonfinite(path, m, out),
        Value::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                collect_value(&format!("{path}/{i}"), item, out);
            }
        }
        _ => {}
    }
}

/// Serializes a record's fields in order, plus `_nonfinite`, without copying.
struct RecordSer<'a> {
    rec: &'a IterationRecord,
    nonfinite: Option<&'a Map>,
}

impl Serialize for RecordSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.rec;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("iteration_num", &r.iteration_num)?;
        m.serialize_entry("strategy_code", &r.strategy_code)?;
        m.serialize_entry("execution_result", &MapSer(&r.execution_result))?;
        m.serialize_entry("metrics", &MapSer(&r.metrics))?;
        m.serialize_entry("classification_level", &r.classification_level)?;
        m.serialize_entry("timestamp", &r.timestamp)?;
        m.serialize_entry("champion_updated", &r.champion_updated)?;
        for (k, v) in &r.extra {
            m.serialize_entry(k, v)?;
        }
        if let Some(nf) = self.nonfinite {
            m.serialize_entry(NONFINITE_KEY, &MapSer(nf))?;
        }
        m.end()
    }
}

struct MapSer<'a>(&'a Map);

impl Serialize for MapSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64) -> IterationRecord {
        let mut r = IterationRecord::new(n, "def s():\n    return \"x\"\n");
        r.execution_result.insert("success".into(), Value::Bool(true));
        r.execution_result.insert("execution_time".into(), Value::from(0.25));
        r.set_metric("sharpe_ratio", 1.25);
        r.metrics.insert("trades".into(), Value::from(42u64));
        r.classification_level = "LEVEL_2".into();
        r.timestamp = "2025-03-01T12:00:00.123456".into();
        r
    }

    fn decode(line: &[u8]) -> IterationRecord {
        match decode_line(line) {
            Ok((r, _)) => r,
            Err(e) => panic!("{}: {e}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn a_damaged_integrity_field_name_is_not_read_as_an_extra_field() {
        let bodies = [encode_body(&sample(1)).expect("valid"), encode_body(&sample(2)).expect("valid")];
        let mut batch = Vec::new();
        finish_commit(&bodies, 2, &mut batch);
        for line in [
            encode_line(&sample(1)).expect("valid"),
            batch.split_inclusive(|&b| b == b'\n').nth(1).map(<[u8]>::to_vec).expect("2nd"),
        ] {
            let at = memchr::memmem::rfind(&line, b"\"_ih\"").expect("trailer") + 1;
            for (i, c) in [(at, b'x'), (at + 1, b'I'), (at + 2, b'g')] {
                let mut damaged = line.clone();
                damaged[i] = c;
                assert_eq!(
                    decode_line(&damaged).map(|_| ()),
                    Err(LineError::Metadata("the `_ih` field's name is damaged")),
                    "{}",
                    String::from_utf8_lossy(&damaged)
                );
            }
        }
        // Another tool's three-letter field with a hex value is fine.
        let foreign = br#"{"iteration_num":1,"strategy_code":"","execution_result":{},"metrics":{},"classification_level":"L","timestamp":"t","champion_updated":false,"sha":"0123abcd"}"#;
        assert!(decode_line(foreign).is_ok());
    }

    #[test]
    fn encode_decode_round_trip_with_non_finite_and_extras() {
        let mut r = sample(5);
        r.set_metric("sortino", f64::NAN);
        r.set_metric("calmar", f64::NEG_INFINITY);
        r.execution_result.insert("curve".into(), Value::Array(vec![Value::from(1.0), Value::from(f64::INFINITY)]));
        r.extra.insert("a/b~c".into(), Value::from(f64::NAN));
        r.extra.insert("note".into(), Value::from("naïve ☃ \u{1F600}"));
        let line = encode_line(&r).expect("valid");
        let text = std::str::from_utf8(&line).expect("utf8");
        assert!(text.ends_with("\"}\n") && text.matches('\n').count() == 1);
        // Strict JSON that serde_json accepts: no bare NaN tokens.
        let strict: serde_json::Value = serde_json::from_str(text).expect("strict JSON");
        assert_eq!(strict["metrics"]["sortino"], serde_json::Value::Null);
        assert_eq!(strict["_nonfinite"]["/a~1b~0c"], "NaN");
        assert_eq!(strict["_nonfinite"]["/execution_result/curve/1"], "Infinity");
        assert_eq!(decode(&line), r);
    }

    #[test]
    fn python_json_dumps_output_is_read() {
        // Exactly what CPython 3.11 json.dumps writes for such a record (defaults).
        let line = br#"{"iteration_num": 3, "strategy_code": "print(\"caf\u00e9 \ud83d\ude00\")", "execution_result": {"success": false, "error": "boom"}, "metrics": {"sharpe_ratio": NaN, "total_return": -Infinity, "max_drawdown": Infinity, "n": 1e-05}, "classification_level": "LEVEL_0", "timestamp": "2025-01-01T00:00:00", "champion_updated": false}"#;
        let (r, info) = decode_line(line).expect("python line");
        assert!(!info.checksummed);
        assert_eq!(r.strategy_code, "print(\"café 😀\")");
        assert!(r.metric("sharpe_ratio").is_some_and(f64::is_nan));
        assert_eq!(r.metric("total_return"), Some(f64::NEG_INFINITY));
        assert_eq!(r.metric("max_drawdown"), Some(f64::INFINITY));
        assert_eq!(r.metric("n"), Some(1e-5));
        // Written back strictly, read back to the same record.
        assert_eq!(decode(&encode_line(&r).expect("valid")), r);
        // CRLF line end.
        let mut crlf = line.to_vec();
        crlf.extend_from_slice(b"\r\n");
        assert_eq!(decode(&crlf), r);
    }

    #[test]
    fn checksum_catches_a_changed_byte() {
        let line = encode_line(&sample(1)).expect("valid");
        let mut bad = line.clone();
        let pos = bad.iter().position(|&b| b == b'2').expect("a digit");
        bad[pos] = b'3';
        assert!(matches!(decode_line(&bad), Err(LineError::Checksum { .. })));
        assert!(matches!(check_line(&bad, false), Err(LineError::Checksum { .. })));
        assert_eq!(check_line(&line, false).map(|i| i.iteration_num), Ok(1));
    }

    #[test]
    fn commit_tags_are_written_and_read() {
        let bodies: Vec<_> = (1..=3).map(|n| encode_body(&sample(n)).expect("valid")).collect();
        let mut out = Vec::new();
        finish_commit(&bodies, 3, &mut out);
        let lines: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 3);
        let mut off = 0u64;
        for (i, line) in lines.iter().enumerate() {
            let info = check_line(line, true).expect("valid");
            assert_eq!(info.tag, Some(GroupTag { index: i as u32 + 1, count: 3, offset: off }));
            off += line.len() as u64;
        }
    }

    #[test]
    fn zeros_and_garbage_are_not_records() {
        assert!(check_line(&[0u8; 40], false).is_err());
        assert!(check_line(b"\x8f\x00garbage\xff}", false).is_err());
        assert!(matches!(check_line(b"[1,2]", false), Err(LineError::NotAnObject)));
    }

    #[test]
    fn integrity_field_in_the_wrong_place_is_refused() {
        let line = br#"{"_ih":"00000000","iteration_num":1}"#;
        assert!(matches!(decode_line(line), Err(LineError::Metadata(_))));
    }

    #[test]
    fn invalid_record_is_not_encoded() {
        let mut r = sample(1);
        r.classification_level = String::new();
        assert_eq!(encode_line(&r).map_err(|e| e.field), Err("classification_level".into()));
    }
}
