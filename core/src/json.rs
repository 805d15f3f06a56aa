//! A JSON reader that accepts everything CPython's `json.dumps` writes.
//!
//! Strict RFC 8259 JSON plus the three bare tokens `NaN`, `Infinity` and
//! `-Infinity` that Python emits by default (`allow_nan=True`). `\uXXXX`
//! escapes, surrogate pairs and raw UTF-8 are decoded; a lone surrogate
//! escape (which Python can write but Rust strings cannot hold) becomes
//! U+FFFD. Nesting deeper than [`MAX_DEPTH`] is refused instead of
//! overflowing the stack. The reader works on bytes and never panics.

use std::fmt;

use crate::value::{Map, Number, Value};

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 128;

/// Why a JSON text could not be read, and where (byte offset in the text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the problem, from the start of the text.
    pub offset: usize,
    /// What was wrong.
    pub message: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for JsonError {}

/// Parses one complete JSON value; only whitespace may follow it.
pub fn parse(text: &[u8]) -> Result<Value, JsonError> {
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
        text.parse::<f64>()
            .map(|f| Value::Number(Number::Float(f)))
            .map_err(|_| JsonError { offset: start, message: "invalid number" })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value {
        match parse(s.as_bytes()) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn python_non_finite_tokens() {
        let v = p(r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": [NaN]}"#);
        assert!(v.get("a").and_then(Value::as_f64).is_some_and(f64::is_nan));
        assert_eq!(v.get("b").and_then(Value::as_f64), Some(f64::INFINITY));
        assert_eq!(v.get("c").and_then(Value::as_f64), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn escapes_and_surrogate_pairs() {
        let v = p(r#""\u00e9\ud83d\ude00\n\t\"\\\/""#);
        assert_eq!(v.as_str(), Some("é😀\n\t\"\\/"));
        assert_eq!(p(r#""\ud800x""#).as_str(), Some("\u{FFFD}x"));
        assert_eq!(p(r#""\ud800\u0041""#).as_str(), Some("\u{FFFD}A"));
        assert_eq!(p("\"caf\u{e9} 😀\"").as_str(), Some("café 😀"));
    }

    #[test]
    fn numbers_keep_their_kind() {
        assert_eq!(p("42"), Value::Number(Number::PosInt(42)));
        assert_eq!(p("-42"), Value::Number(Number::NegInt(-42)));
        assert_eq!(p("42.0"), Value::Number(Number::Float(42.0)));
        assert_eq!(p("1e-05"), Value::Number(Number::Float(1e-5)));
        assert_eq!(p("-9223372036854775808"), Value::Number(Number::NegInt(i64::MIN)));
        assert_eq!(p("18446744073709551615"), Value::Number(Number::PosInt(u64::MAX)));
        assert_eq!(p("1000000000000000000000000000000"), Value::Number(Number::Float(1e30)));
    }

    #[test]
    fn rejects_bad_json_with_offsets() {
        for (text, offset) in [
            ("{\"a\":}", 5),
            ("[1,]", 3),
            ("{\"a\":1", 6),
            ("\"abc", 4),
            ("01", 1),
            ("{} x", 3),
            ("nan", 0),
            ("\"\\x\"", 2),
            ("\"a\u{1}\"", 2),
        ] {
            let e = parse(text.as_bytes()).expect_err(text);
            assert_eq!(e.offset, offset, "{text}: {e}");
        }
        assert!(parse(b"\"\xff\"").is_err());
        assert!(parse(b"\"\xe2\x82\"").is_err(), "torn multi-byte character");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse(deep.as_bytes()).map_err(|e| e.message), Err("nesting too deep"));
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn agrees_with_serde_json_on_strict_json() {
        let text = r#"{"k":[1,-2,3.5,1e300,"s\u0001",true,false,null,{"x":{}}],"k":2,"z":[]}"#;
        let ours = p(text);
        let theirs: serde_json::Value = serde_json::from_str(text).expect("valid");
        assert_eq!(ours, Value::from(theirs));
    }
}
