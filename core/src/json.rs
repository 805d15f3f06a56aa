//! The JSON reader: everything CPython's `json.dumps` writes, on jiter.
//!
//! Strict RFC 8259 JSON plus the three bare tokens `NaN`, `Infinity` and
//! `-Infinity` that Python emits by default (`allow_nan=True`), parsed by
//! [jiter](https://docs.rs/jiter) (pydantic's parser) with
//! `allow_inf_nan`. `\uXXXX` escapes, surrogate pairs and raw UTF-8 are
//! decoded; a lone surrogate escape (which Python can write but Rust strings
//! cannot hold) becomes U+FFFD. Nesting deeper than [`MAX_DEPTH`] is refused
//! instead of overflowing the stack. Integers keep their integer form
//! ([`Number`]). The reader works on bytes and never panics.
//!
//! Records are decoded without a tree for the whole line: the walk of the
//! top-level object puts each of the record's fields in its own slot
//! ([`crate::codec::decode_line`]).

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use jiter::{Jiter, JiterError, JiterErrorType, JsonErrorType, Peek};
use lexical_parse_float::FromLexical;

use crate::format::{FIELDS, INTEGRITY_KEY, NONFINITE_KEY};
use crate::value::{Map, Number, Value};

const INVALID_UTF8: &str = "invalid UTF-8 in a string";

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

impl From<JiterError> for JsonError {
    fn from(e: JiterError) -> Self {
        let message = match e.error_type {
            JiterErrorType::JsonError(t) => match t {
                JsonErrorType::EofWhileParsingString => "unterminated string",
                JsonErrorType::EofWhileParsingList
                | JsonErrorType::EofWhileParsingObject
                | JsonErrorType::EofWhileParsingValue => "unexpected end of line",
                JsonErrorType::ExpectedColon => "expected `:` after an object key",
                JsonErrorType::ExpectedListCommaOrEnd => "expected `,` or `]` in an array",
                JsonErrorType::ExpectedObjectCommaOrEnd => "expected `,` or `}` in an object",
                JsonErrorType::ExpectedSomeIdent | JsonErrorType::ExpectedSomeValue => "expected a JSON value",
                JsonErrorType::InvalidEscape | JsonErrorType::LoneLeadingSurrogateInHexEscape => "invalid escape",
                JsonErrorType::UnexpectedEndOfHexEscape => "expected four hex digits after `\\u`",
                JsonErrorType::InvalidNumber | JsonErrorType::FloatExpectingInt => "invalid number",
                JsonErrorType::NumberOutOfRange => "number with more than 4300 digits",
                JsonErrorType::InvalidUnicodeCodePoint => INVALID_UTF8,
                JsonErrorType::ControlCharacterWhileParsingString => "control character in a string",
                JsonErrorType::KeyMustBeAString => "expected a string key",
                JsonErrorType::TrailingComma => "trailing comma",
                JsonErrorType::TrailingCharacters => "unexpected data after the JSON value",
                JsonErrorType::RecursionLimitExceeded => "nesting too deep",
                _ => "invalid JSON",
            },
            JiterErrorType::WrongType { .. } => "expected a JSON value",
        };
        JsonError { offset: e.index, message }
    }
}

/// Parses one complete JSON value; only whitespace may follow it.
pub fn parse(text: &[u8]) -> Result<Value, JsonError> {
    with_jiter(text, |j, c| {
        let peek = j.peek()?;
        let v = value(j, c, peek, 0)?;
        j.finish()?;
        Ok(v)
    })
}

thread_local! {
    /// jiter's buffer for strings with escapes, and the stacks of unfinished
    /// objects and arrays, kept from line to line.
    static SCRATCH: Cell<Scratch> =
        const { Cell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// jiter's string buffer, the members stack and the items stack of [`Ctx`].
type Scratch = (Vec<u8>, Vec<(String, Value)>, Vec<Value>);

/// What the walk of one text needs besides the jiter.
struct Ctx<'a> {
    /// The text as parsed.
    data: &'a [u8],
    /// Members of the objects being read (innermost last): each object is
    /// then moved into a vector of exactly its size (`split_off`).
    pairs: Vec<(String, Value)>,
    /// Items of the arrays being read, likewise.
    items: Vec<Value>,
}

/// Runs `f` on a jiter over `text`, reusing this thread's string buffer and
/// stacks. jiter refuses lone surrogate escapes, which CPython writes: when
/// `f` fails on a text that has some, it runs again on a copy where they are
/// replaced (see [`mend_lone_surrogates`]), so a text without them is
/// scanned only once.
fn with_jiter<T>(
    text: &[u8],
    mut f: impl FnMut(&mut Jiter<'_>, &mut Ctx<'_>) -> Result<T, JsonError>,
) -> Result<T, JsonError> {
    let (tape, pairs, items) = SCRATCH.with(Cell::take);
    let mut ctx = Ctx { data: text, pairs, items };
    let mut j = Jiter::with_tape(text, tape).with_allow_inf_nan();
    let mut out = f(&mut j, &mut ctx);
    let mut tape = j.into_tape();
    if out.is_err()
        && let Some(mended) = mend_lone_surrogates(text)
    {
        ctx.pairs.clear();
        ctx.items.clear();
        let mut ctx2 =
            Ctx { data: &mended, pairs: std::mem::take(&mut ctx.pairs), items: std::mem::take(&mut ctx.items) };
        let mut j = Jiter::with_tape(&mended, tape).with_allow_inf_nan();
        out = f(&mut j, &mut ctx2);
        tape = j.into_tape();
        ctx.pairs = ctx2.pairs;
        ctx.items = ctx2.items;
    }
    if let Err(e) = &mut out
        && e.message == INVALID_UTF8
    {
        // jiter counts in the decoded string; report the byte itself.
        e.offset = std::str::from_utf8(text).err().map_or(e.offset, |u| u.valid_up_to());
    }
    let (mut pairs, mut items) = (ctx.pairs, ctx.items);
    // Left over after an error; big buffers are not kept.
    tape.clear();
    pairs.clear();
    items.clear();
    if tape.capacity() <= 1 << 16 && pairs.capacity() <= 1024 && items.capacity() <= 1024 {
        SCRATCH.with(|t| t.set((tape, pairs, items)));
    }
    out
}

/// A copy of `text` with each lone surrogate escape (`\ud800` not followed
/// by a low surrogate escape, or a low one on its own) replaced by `\ufffd`
/// (the same length, so byte offsets stay true), or `None` if there is none.
/// jiter refuses lone surrogates; CPython writes them and this reader has
/// always read them as U+FFFD.
fn mend_lone_surrogates(text: &[u8]) -> Option<Vec<u8>> {
    static ESCAPE_U: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\\u"));
    if !ESCAPE_U.find_iter(text).any(|i| matches!(text.get(i + 2), Some(b'd' | b'D'))) {
        return None;
    }
    let surrogate = |at: usize| -> Option<u32> {
        let hex = text.get(at..at + 6)?;
        if &hex[..2] != b"\\u" {
            return None;
        }
        let s = std::str::from_utf8(&hex[2..]).ok()?;
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(s, 16).ok().filter(|u| (0xD800..0xE000).contains(u))
    };
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while let Some(pos) = memchr::memchr(b'\\', &text[i..]) {
        let at = i + pos;
        match surrogate(at) {
            Some(hi) if hi < 0xDC00 && surrogate(at + 6).is_some_and(|lo| lo >= 0xDC00) => i = at + 12,
            Some(_) => {
                out.get_or_insert_with(|| text.to_vec())[at..at + 6].copy_from_slice(b"\\ufffd");
                i = at + 6;
            }
            // Any other escape: the backslash and the byte it escapes.
            None => i = at + 2,
        }
        if i >= text.len() {
            break;
        }
    }
    out
}

#[cold]
fn not_a_value(offset: usize) -> JsonError {
    JsonError { offset, message: "expected a JSON value" }
}

#[cold]
fn too_deep(j: &Jiter<'_>) -> JsonError {
    JsonError { offset: j.current_index(), message: "nesting too deep" }
}

/// Reads the value whose first byte is `peek`.
fn value(j: &mut Jiter<'_>, c: &mut Ctx<'_>, peek: Peek, depth: usize) -> Result<Value, JsonError> {
    match peek {
        Peek::Object => Ok(Value::Object(object(j, c, depth)?)),
        Peek::Array => Ok(Value::Array(array(j, c, depth)?)),
        _ => {
            let mut v = Value::Null;
            scalar_into(j, c.data, peek, &mut v)?;
            Ok(v)
        }
    }
}

/// Reads a value into `out`: the value is built where it stays instead of
/// being returned and copied (a returned `Value` is read back from memory
/// in pieces other than those written, which stalls the CPU).
#[inline(always)]
fn member_into(j: &mut Jiter<'_>, c: &mut Ctx<'_>, peek: Peek, depth: usize, out: &mut Value) -> Result<(), JsonError> {
    match peek {
        Peek::Object => *out = Value::Object(object(j, c, depth)?),
        Peek::Array => *out = Value::Array(array(j, c, depth)?),
        _ => scalar_into(j, c.data, peek, out)?,
    }
    Ok(())
}

/// Reads an array (the next byte is its `[`).
fn array(j: &mut Jiter<'_>, c: &mut Ctx<'_>, depth: usize) -> Result<Vec<Value>, JsonError> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(j));
    }
    let base = c.items.len();
    let mut next = j.known_array()?;
    while let Some(p) = next {
        if matches!(p, Peek::Object | Peek::Array) {
            let v = value(j, c, p, depth + 1)?;
            c.items.push(v);
        } else {
            let i = c.items.len();
            c.items.push(Value::Null);
            scalar_into(j, c.data, p, &mut c.items[i])?;
        }
        next = j.array_step()?;
    }
    Ok(take_from(&mut c.items, base))
}

/// Items above `base` on a stack, as a vector of their own. An outermost
/// large array or object takes the stack itself (shrunk, which a large
/// allocation does in place) instead of a copy: a line that is one huge
/// array then peaks at one copy of its values, not two.
#[inline(always)]
fn take_from<T>(stack: &mut Vec<T>, base: usize) -> Vec<T> {
    if base == 0 && stack.len() >= 1 << 12 {
        let mut all = std::mem::take(stack);
        all.shrink_to_fit();
        all
    } else {
        stack.split_off(base)
    }
}

/// Reads a value that is neither an object nor an array into `out`
/// (`data` is the whole text). Each kind is written straight into `out`.
#[inline(always)]
fn scalar_into(j: &mut Jiter<'_>, data: &[u8], peek: Peek, out: &mut Value) -> Result<(), JsonError> {
    match peek {
        Peek::String => *out = Value::String(j.known_str()?.to_owned()),
        // A misspelt literal is reported at its first byte.
        Peek::Null => {
            let start = j.current_index();
            j.known_null().map_err(|_| not_a_value(start))?;
            *out = Value::Null;
        }
        Peek::True | Peek::False => {
            let start = j.current_index();
            *out = Value::Bool(j.known_bool(peek).map_err(|_| not_a_value(start))?);
        }
        Peek::NaN | Peek::Infinity => {
            let start = j.current_index();
            let text = j.known_number_bytes(peek).map_err(|_| not_a_value(start))?;
            *out = Value::Number(number(text).ok_or_else(|| overflow(data, text))?);
        }
        Peek::Minus => {
            let start = j.current_index();
            let text = j.known_number_bytes(peek).map_err(|e| {
                // `-` must be followed by a digit (`-Infinity` aside).
                match data.get(start + 1) {
                    Some(b'0'..=b'9') => JsonError::from(e),
                    _ => JsonError { offset: start + 1, message: "expected a digit" },
                }
            })?;
            *out = Value::Number(number(text).ok_or_else(|| overflow(data, text))?);
        }
        p if p.is_num() => {
            let text = j.known_number_bytes(p)?;
            *out = Value::Number(number(text).ok_or_else(|| overflow(data, text))?);
        }
        _ => return Err(not_a_value(j.current_index())),
    }
    Ok(())
}

/// Reads an object (the next byte is its `{`).
fn object(j: &mut Jiter<'_>, c: &mut Ctx<'_>, depth: usize) -> Result<Map, JsonError> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(j));
    }
    let base = c.pairs.len();
    let mut key = j.known_object()?.map(str::to_owned);
    while let Some(k) = key {
        let peek = j.peek()?;
        if matches!(peek, Peek::Object | Peek::Array) {
            let v = value(j, c, peek, depth + 1)?;
            c.pairs.push((k, v));
        } else {
            // Built in its place in the stack (scalars do not use it).
            let i = c.pairs.len();
            c.pairs.push((k, Value::Null));
            scalar_into(j, c.data, peek, &mut c.pairs[i].1)?;
        }
        key = j.next_key()?.map(str::to_owned);
    }
    Ok(Map::from_pairs(take_from(&mut c.pairs, base)))
}

/// A number from its JSON text (already checked by jiter): integers that
/// fit stay integers, `-0` and larger integers become floats (as
/// `serde_json` reads them). `None` for a number too large for a float
/// (`1e999`, a 400-digit integer): it would become infinity, which only the
/// tokens `Infinity` and `-Infinity` stand for. Inlined, so that the number
/// is built in registers where it is stored.
#[inline(always)]
fn number(text: &[u8]) -> Option<Number> {
    let (neg, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return float(text).map(Number::Float);
    }
    // One pass: an integer while the bytes are digits and the value fits.
    let mut u: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return float(text).map(Number::Float);
        }
        match u.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))) {
            Some(v) => u = v,
            None => return float(text).map(Number::Float),
        }
    }
    Some(if !neg {
        Number::PosInt(u)
    } else if u == 0 {
        Number::Float(-0.0)
    } else if u <= i64::MAX as u64 + 1 {
        Number::NegInt((u as i128).wrapping_neg() as i64)
    } else {
        return float(text).map(Number::Float);
    })
}

/// A number that is not an integer of 64 bits: `NaN`, `Infinity`,
/// `-Infinity`, or a float; `None` if a float overflows to infinity.
#[inline(never)]
fn float(text: &[u8]) -> Option<f64> {
    match text {
        b"NaN" => Some(f64::NAN),
        b"Infinity" => Some(f64::INFINITY),
        b"-Infinity" => Some(f64::NEG_INFINITY),
        // jiter checked the syntax; lexical (jiter's own float parser,
        // correctly rounded) reads the bytes without a second UTF-8 check.
        _ => Some(f64::from_lexical(text).unwrap_or(f64::NAN)).filter(|f| f.is_finite() || f.is_nan()),
    }
}

/// The error for a number too large for a float (`text` lies in `data`).
#[cold]
fn overflow(data: &[u8], text: &[u8]) -> JsonError {
    JsonError { offset: (text.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize), message: OVERFLOW }
}

/// The message for a number too large for a float.
pub const OVERFLOW: &str =
    "number too large for a 64-bit float (it would become infinity; write the token Infinity or -Infinity for that)";

/// [`OVERFLOW`] naming the record's field it is in, in the order of
/// [`FIELDS`].
const OVERFLOW_IN: [&str; 7] = [
    "number too large for a 64-bit float in `iteration_num` (it would become infinity; write the token Infinity or -Infinity for that)",
    "number too large for a 64-bit float in `strategy_code` (it would become infinity; write the token Infinity or -Infinity for that)",
    "number too large for a 64-bit float in `execution_result` (it would become infinity; write the token Infinity or -Infinity for that)",
    "number too large for a 64-bit float in `metrics` (it would become infinity; write the token Infinity or -Infinity for that)",
    "number too large for a 64-bit float in `classification_level` (it would become infinity; write the token Infinity or -Infinity for that)",
    "number too large for a 64-bit float in `timestamp` (it would become infinity; write the token Infinity or -Infinity for that)",
    "number too large for a 64-bit float in `champion_updated` (it would become infinity; write the token Infinity or -Infinity for that)",
];

/// An overflow inside the record's field `i` names the field.
#[cold]
fn in_field(mut e: JsonError, i: usize) -> JsonError {
    if e.message == OVERFLOW {
        e.message = OVERFLOW_IN[i];
    }
    e
}

/// Which top-level key of a record line came last (first occurrences
/// count, as for a map where a repeated key keeps its first position).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LastKey {
    /// No key (an empty object).
    #[default]
    None,
    /// One of the record's seven fields.
    Field,
    /// The integrity field `_ih`.
    Integrity,
    /// The `_nonfinite` index.
    NonFinite,
    /// Another field: the last of `extra`.
    Extra,
}

/// The top-level object of a record line, each field in its slot.
#[derive(Debug, Default)]
pub(crate) struct TopLevel {
    /// The record's fields, in the order of [`FIELDS`] (last value of a
    /// repeated key).
    pub(crate) fields: [Option<Value>; 7],
    /// Whether `_ih` is present (its value is read, checked as JSON and
    /// dropped).
    pub(crate) integrity: bool,
    /// `_nonfinite`, if present.
    pub(crate) nonfinite: Option<Value>,
    /// Other fields, in order, each key once.
    pub(crate) extra: Map,
    /// Which key came last.
    pub(crate) last: LastKey,
}

/// Reads a record line into `top` (which must be empty): `Ok(false)` if it
/// is valid JSON but not an object.
pub(crate) fn parse_top_level(text: &[u8], top: &mut TopLevel) -> Result<bool, JsonError> {
    with_jiter(text, |j, c| {
        let peek = j.peek()?;
        if peek != Peek::Object {
            value(j, c, peek, 0)?;
            j.finish()?;
            return Ok(false);
        }
        // A second run (on a mended copy) starts afresh.
        *top = TopLevel::default();
        let mut extra: Vec<(String, Value)> = Vec::new();
        // Positions of extra keys, once there are many of them.
        let mut index: Option<HashMap<String, usize>> = None;
        let mut key = j.known_object()?.map(|k| slot_of(k).ok_or_else(|| k.to_owned()));
        while let Some(k) = key {
            let peek = j.peek()?;
            match k {
                Ok(Slot::Field(i)) => {
                    let slot = &mut top.fields[i];
                    let first = slot.is_none();
                    member_into(j, c, peek, 1, slot.insert(Value::Null)).map_err(|e| in_field(e, i))?;
                    if first {
                        top.last = LastKey::Field;
                    }
                }
                Ok(Slot::Integrity) => {
                    // Only its presence counts: a string is checked, not kept.
                    if peek == Peek::String {
                        j.known_str()?;
                    } else {
                        value(j, c, peek, 1)?;
                    }
                    if !top.integrity {
                        top.integrity = true;
                        top.last = LastKey::Integrity;
                    }
                }
                Ok(Slot::NonFinite) => {
                    let v = value(j, c, peek, 1)?;
                    if top.nonfinite.replace(v).is_none() {
                        top.last = LastKey::NonFinite;
                    }
                }
                Err(name) => {
                    let v = value(j, c, peek, 1)?;
                    let found = match &index {
                        Some(ix) => ix.get(&name).copied(),
                        None => extra.iter().position(|(k, _)| *k == name),
                    };
                    match found {
                        Some(i) => extra[i].1 = v,
                        None => {
                            if let Some(ix) = &mut index {
                                ix.insert(name.clone(), extra.len());
                            }
                            extra.push((name, v));
                            top.last = LastKey::Extra;
                            if index.is_none() && extra.len() > 32 {
                                index = Some(extra.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect());
                            }
                        }
                    }
                }
            }
            key = j.next_key()?.map(|k| slot_of(k).ok_or_else(|| k.to_owned()));
        }
        j.finish()?;
        top.extra = Map::from_pairs(extra);
        Ok(true)
    })
}

/// Where a top-level key goes.
enum Slot {
    Field(usize),
    Integrity,
    NonFinite,
}

fn slot_of(key: &str) -> Option<Slot> {
    match key {
        INTEGRITY_KEY => Some(Slot::Integrity),
        NONFINITE_KEY => Some(Slot::NonFinite),
        _ => FIELDS.iter().position(|f| f.len() == key.len() && *f == key).map(Slot::Field),
    }
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
    fn lone_surrogates_become_replacement_characters_at_the_same_offsets() {
        assert_eq!(p(r#""\udc00\ud83d\ude00\uD800""#).as_str(), Some("\u{FFFD}😀\u{FFFD}"));
        assert_eq!(p(r#""\\ud800""#).as_str(), Some("\\ud800"), "an escaped backslash, not an escape");
        assert_eq!(p(r#""\ud800\ud800\udc00""#).as_str(), Some("\u{FFFD}\u{10000}"));
        let e = parse(br#"["\ud800", x]"#).expect_err("x");
        assert_eq!(e.offset, 11);
    }

    #[test]
    fn an_integer_part_of_more_than_4300_digits_is_refused_as_cpython_does() {
        // 4300 digits pass jiter's check, then overflow a float.
        assert_eq!(parse("9".repeat(4300).as_bytes()).map_err(|e| e.message), Err(OVERFLOW));
        let e = parse(format!("[{}]", "9".repeat(4301)).as_bytes()).expect_err("too long");
        assert_eq!(e.message, "number with more than 4300 digits");
    }

    #[test]
    fn an_overflow_in_a_record_field_names_the_field() {
        for (i, field) in FIELDS.iter().enumerate() {
            assert!(OVERFLOW_IN[i].contains(&format!("in `{field}`")), "{}", OVERFLOW_IN[i]);
        }
        let line = br#"{"iteration_num": 1, "metrics": {"s": [1, 1e999]}, "x": 1e999}"#;
        let e = parse_top_level(line, &mut TopLevel::default()).expect_err("overflow");
        assert_eq!((e.message, e.offset), (OVERFLOW_IN[3], 42));
        let e = parse_top_level(br#"{"x": -1e999}"#, &mut TopLevel::default()).expect_err("overflow");
        assert_eq!((e.message, e.offset), (OVERFLOW, 6), "another field: not named");
    }

    #[test]
    fn a_number_that_overflows_a_float_is_refused_unless_it_is_the_token() {
        for (text, offset) in [
            ("1e99999999999", 0),
            ("[1, -1e400]", 4),
            ("{\"a\": 1.7976931348623159e308}", 6),
            (&format!("[{}]", "1".repeat(400)), 1),
            ("[Infinity, 2e308]", 11),
        ] {
            let e = parse(text.as_bytes()).expect_err(text);
            assert_eq!((e.message, e.offset), (OVERFLOW, offset), "{text}");
        }
        assert_eq!(p("1.7976931348623157e308"), Value::Number(Number::Float(f64::MAX)));
        assert_eq!(p("-1e-400"), Value::Number(Number::Float(-0.0)));
        assert_eq!(p("[Infinity]"), Value::Array(vec![Value::Number(Number::Float(f64::INFINITY))]));
        assert_eq!(p(&"9".repeat(308)).as_f64().map(f64::is_finite), Some(true));
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
