//! The reader of records as it was before the jiter decoder (hand-written
//! JSON parser into a tree, then fields taken out of the map): a test
//! oracle for the differential test, not production code.
#![allow(dead_code, unreachable_pub, missing_docs)]

use iteration_history::IterationRecord;
use iteration_history::codec::{GroupTag, LineError, LineInfo, is_near_integrity_key, strip_line_end};
use iteration_history::format::{CRC_TAIL, INTEGRITY_KEY, NONFINITE_KEY, TRAILER_OPEN};

mod json {
    // The old hand-written JSON reader (before jiter), kept as a test oracle: accepts everything CPython's `json.dumps` writes.
    //
    // Strict RFC 8259 JSON plus the three bare tokens `NaN`, `Infinity` and
    // `-Infinity` that Python emits by default (`allow_nan=True`). `\uXXXX`
    // escapes, surrogate pairs and raw UTF-8 are decoded; a lone surrogate
    // escape (which Python can write but Rust strings cannot hold) becomes
    // U+FFFD. Nesting deeper than [`MAX_DEPTH`] is refused instead of
    // overflowing the stack. The reader works on bytes and never panics.

    use iteration_history::json::JsonError;
    use iteration_history::{Map, Number, Value};

    /// Deepest nesting of arrays and objects accepted.
    const MAX_DEPTH: usize = 128;

    /// Parses one complete JSON value; only whitespace may follow it.
    pub(crate) fn parse(text: &[u8]) -> Result<Value, JsonError> {
        let mut p = Parser { s: text, i: 0 };
        p.skip_ws();
        let v = p.value(0)?;
        p.skip_ws();
        if p.i != p.s.len() {
            return Err(p.err("unexpected data after the JSON value"));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn err(&self, message: &'static str) -> JsonError {
            JsonError { offset: self.i, message }
        }

        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn skip_ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.i += 1;
            }
        }

        fn eat(&mut self, lit: &[u8]) -> bool {
            if self.s[self.i..].starts_with(lit) {
                self.i += lit.len();
                true
            } else {
                false
            }
        }

        fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
            match self.peek() {
                None => Err(self.err("unexpected end of line")),
                Some(b'{') => self.object(depth),
                Some(b'[') => self.array(depth),
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
                Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
                Some(b'n') if self.eat(b"null") => Ok(Value::Null),
                Some(b'N') if self.eat(b"NaN") => Ok(Value::Number(Number::Float(f64::NAN))),
                Some(b'I') if self.eat(b"Infinity") => Ok(Value::Number(Number::Float(f64::INFINITY))),
                Some(b'-') if self.eat(b"-Infinity") => Ok(Value::Number(Number::Float(f64::NEG_INFINITY))),
                Some(b'-' | b'0'..=b'9') => self.number(),
                Some(_) => Err(self.err("expected a JSON value")),
            }
        }

        fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
            if depth >= MAX_DEPTH {
                return Err(self.err("nesting too deep"));
            }
            self.i += 1; // '{'
            let mut map = Map::new();
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(Value::Object(map));
            }
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a string key"));
                }
                let key = self.string()?;
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(self.err("expected `:` after an object key"));
                }
                self.i += 1;
                self.skip_ws();
                let v = self.value(depth + 1)?;
                // Like Python's json.loads: a repeated key keeps its first
                // position and its last value.
                map.insert(key, v);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        return Ok(Value::Object(map));
                    }
                    _ => return Err(self.err("expected `,` or `}` in an object")),
                }
            }
        }

        fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
            if depth >= MAX_DEPTH {
                return Err(self.err("nesting too deep"));
            }
            self.i += 1; // '['
            let mut items = Vec::new();
            self.skip_ws();
            if self.peek() == Some(b']') {
                self.i += 1;
                return Ok(Value::Array(items));
            }
            loop {
                self.skip_ws();
                items.push(self.value(depth + 1)?);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        return Ok(Value::Array(items));
                    }
                    _ => return Err(self.err("expected `,` or `]` in an array")),
                }
            }
        }

        fn number(&mut self) -> Result<Value, JsonError> {
            let start = self.i;
            let neg = self.peek() == Some(b'-');
            if neg {
                self.i += 1;
            }
            match self.peek() {
                Some(b'0') => self.i += 1,
                Some(b'1'..=b'9') => {
                    while let Some(b'0'..=b'9') = self.peek() {
                        self.i += 1;
                    }
                }
                _ => return Err(self.err("expected a digit")),
            }
            let int_end = self.i;
            let mut is_float = false;
            if self.peek() == Some(b'.') {
                is_float = true;
                self.i += 1;
                if !matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.err("expected a digit after `.`"));
                }
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            if let Some(b'e' | b'E') = self.peek() {
                is_float = true;
                self.i += 1;
                if let Some(b'+' | b'-') = self.peek() {
                    self.i += 1;
                }
                if !matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.err("expected a digit in the exponent"));
                }
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            // The bytes matched above are ASCII, so this cannot fail.
            let text = std::str::from_utf8(&self.s[start..self.i])
                .map_err(|_| JsonError { offset: start, message: "invalid number" })?;
            if !is_float {
                let digits = &self.s[start + usize::from(neg)..int_end];
                if let Some(u) = parse_u64(digits) {
                    if !neg {
                        return Ok(Value::Number(Number::PosInt(u)));
                    }
                    if u == 0 {
                        return Ok(Value::Number(Number::Float(-0.0)));
                    }
                    if u <= i64::MAX as u64 + 1 {
                        return Ok(Value::Number(Number::NegInt((u as i128).wrapping_neg() as i64)));
                    }
                }
                // Integers beyond 64 bits are read as floats, as serde_json does.
            }
            // A number too large for a float is refused (it is not the
            // token `Infinity`), as the jiter decoder does.
            match text.parse::<f64>() {
                Ok(f) if f.is_infinite() => Err(JsonError { offset: start, message: "number too large" }),
                Ok(f) => Ok(Value::Number(Number::Float(f))),
                Err(_) => Err(JsonError { offset: start, message: "invalid number" }),
            }
        }

        fn hex4(&mut self) -> Result<u32, JsonError> {
            let mut v = 0u32;
            for _ in 0..4 {
                let d = match self.peek() {
                    Some(c @ b'0'..=b'9') => c - b'0',
                    Some(c @ b'a'..=b'f') => c - b'a' + 10,
                    Some(c @ b'A'..=b'F') => c - b'A' + 10,
                    _ => return Err(self.err("expected four hex digits after `\\u`")),
                };
                v = v * 16 + u32::from(d);
                self.i += 1;
            }
            Ok(v)
        }

        fn string(&mut self) -> Result<String, JsonError> {
            self.i += 1; // opening quote
            let mut out: Vec<u8> = Vec::new();
            loop {
                let rest = &self.s[self.i..];
                let Some(pos) = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20) else {
                    self.i = self.s.len();
                    return Err(self.err("unterminated string"));
                };
                out.extend_from_slice(&rest[..pos]);
                self.i += pos;
                match self.s[self.i] {
                    b'"' => {
                        self.i += 1;
                        return String::from_utf8(out).map_err(|e| JsonError {
                            offset: self.i - 1 - (out_len_after(&e)),
                            message: "invalid UTF-8 in a string",
                        });
                    }
                    b'\\' => {
                        self.i += 1;
                        let Some(c) = self.peek() else {
                            return Err(self.err("unterminated escape"));
                        };
                        self.i += 1;
                        match c {
                            b'"' => out.push(b'"'),
                            b'\\' => out.push(b'\\'),
                            b'/' => out.push(b'/'),
                            b'b' => out.push(0x08),
                            b'f' => out.push(0x0c),
                            b'n' => out.push(b'\n'),
                            b'r' => out.push(b'\r'),
                            b't' => out.push(b'\t'),
                            b'u' => {
                                let cp = self.unicode_escape()?;
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(cp.encode_utf8(&mut buf).as_bytes());
                            }
                            _ => {
                                self.i -= 1;
                                return Err(self.err("invalid escape"));
                            }
                        }
                    }
                    _ => return Err(self.err("control character in a string")),
                }
            }
        }

        /// After `\u`: one code point, pairing surrogates; a lone surrogate is U+FFFD.
        fn unicode_escape(&mut self) -> Result<char, JsonError> {
            let hi = self.hex4()?;
            if (0xD800..0xDC00).contains(&hi) {
                if self.s[self.i..].starts_with(b"\\u") {
                    let save = self.i;
                    self.i += 2;
                    let lo = self.hex4()?;
                    if (0xDC00..0xE000).contains(&lo) {
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        return Ok(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                    }
                    self.i = save; // not a low surrogate: decode it on its own next
                }
                return Ok('\u{FFFD}');
            }
            Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
        }
    }

    /// How many bytes of a failed UTF-8 buffer follow the first invalid byte.
    fn out_len_after(e: &std::string::FromUtf8Error) -> usize {
        let bytes = e.as_bytes();
        bytes.len().saturating_sub(e.utf8_error().valid_up_to())
    }

    fn parse_u64(digits: &[u8]) -> Option<u64> {
        let mut v: u64 = 0;
        for &d in digits {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        Some(v)
    }
}

use iteration_history::{Map, Number, Value};
use json::parse as json_parse;

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
    let window_start = covered.saturating_sub(TRAILER_OPEN.len() + 50);
    let window = &line[window_start..covered - 1];
    let pos = memchr::memmem::rfind(window, TRAILER_OPEN)?;
    let tag_text = &window[pos + TRAILER_OPEN.len()..];
    Some(parse_tag(tag_text).and_then(|tag| parse_hex(hex).map(|crc| (crc, Some(tag), covered))))
}

fn parse_hex(hex: &[u8]) -> Result<u32, LineError> {
    if hex.len() != 8 || !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(LineError::Metadata("`_ih` must end with 8 lowercase hex digits"));
    }
    let s = std::str::from_utf8(hex).map_err(|_| LineError::Metadata("`_ih` is not UTF-8"))?;
    u32::from_str_radix(s, 16).map_err(|_| LineError::Metadata("`_ih` checksum is not hex"))
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

/// Decodes a line (without or with its line end) into a record.
///
/// # Errors
/// Why the line is not a valid record.
pub fn old_decode_line(line: &[u8]) -> Result<(IterationRecord, LineInfo), LineError> {
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
fn decode_checked(
    line: &[u8],
    trailer: Option<Option<GroupTag>>,
) -> Result<(IterationRecord, Option<GroupTag>, bool), LineError> {
    let value = json_parse(line).map_err(LineError::Json)?;
    let Value::Object(mut map) = value else {
        return Err(LineError::NotAnObject);
    };
    let has_ih = map.contains_key(INTEGRITY_KEY);
    let (tag, checksummed) = match (trailer, has_ih) {
        (Some(tag), true) => {
            // The verified trailer must be the object's last member.
            if map.get_index(map.len() - 1).map(|(k, _)| k.as_str()) != Some(INTEGRITY_KEY) {
                return Err(LineError::Metadata("`_ih` must be the last field"));
            }
            map.shift_remove(INTEGRITY_KEY);
            (tag, true)
        }
        (None, true) => return Err(LineError::Metadata("`_ih` is present but not in the form `…crc32c\"}`")),
        (Some(_), false) => return Err(LineError::Metadata("`_ih` trailer found but no `_ih` field")),
        (None, false) => {
            if looks_like_damaged_integrity(&map) {
                return Err(LineError::Metadata("the `_ih` field's name is damaged"));
            }
            (None, false)
        }
    };
    if let Some(index) = map.shift_remove(NONFINITE_KEY) {
        apply_nonfinite(&mut map, index)?;
    }
    let rec = IterationRecord::from_map(map).map_err(LineError::Field)?;
    Ok((rec, tag, checksummed))
}

/// Whether the last field of a line without `_ih` is our integrity field
/// with one byte of its name changed (`_ix`, `_Ih`, …): a checksummed line
/// damaged there must not be read as another tool's line with an extra
/// field.
fn looks_like_damaged_integrity(map: &Map) -> bool {
    let Some((key, Value::String(v))) = map.get_index(map.len().wrapping_sub(1)) else { return false };
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

fn apply_nonfinite(map: &mut Map, index: Value) -> Result<(), LineError> {
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
        let slot = resolve_pointer(map, &pointer)
            .ok_or(LineError::Metadata("`_nonfinite` names a position that does not exist"))?;
        if *slot != Value::Null {
            return Err(LineError::Metadata("`_nonfinite` names a position that is not null"));
        }
        *slot = Value::Number(Number::Float(f));
    }
    Ok(())
}

fn resolve_pointer<'a>(map: &'a mut Map, pointer: &str) -> Option<&'a mut Value> {
    let mut parts = pointer.strip_prefix('/')?.split('/').map(unescape_pointer);
    let first = parts.next()?;
    let mut cur = map.get_mut(&first)?;
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

fn unescape_pointer(part: &str) -> String {
    part.replace("~1", "/").replace("~0", "~")
}
