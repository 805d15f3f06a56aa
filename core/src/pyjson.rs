//! JSON text in the dialect of Python's `json` module: strict JSON, except
//! that a non-finite number is the bare token `NaN`, `Infinity` or
//! `-Infinity` (which Python's `json.loads` reads). The writer beside the
//! strict one of [`codec`](crate::codec), which writes a non-finite number as
//! `null` listed in `_nonfinite`.
//!
//! Two styles:
//! * [`Style::Compact`]: `,` and `:` separators, non-ASCII characters as
//!   they are, numbers as [`Number`]'s `Display`. The WASI component's text
//!   at its boundary (`execution-result`, `extra`, `json` metric values).
//! * [`Style::PythonDefault`]: exactly what CPython's `json.dumps(obj)` writes
//!   with its default arguments: `", "` and `": "` separators,
//!   `ensure_ascii` (every character outside printable ASCII as a lowercase
//!   `\uXXXX` escape, surrogate pairs beyond the BMP), floats as Python's
//!   `repr` (`1.0`, `1e-05`, `1e+16`). [`python_line`] writes a record this
//!   way: the line the original Python module wrote (`ihist export --format
//!   python`), read back by `Record(**json.loads(line))`.

use std::fmt::Write as _;

use crate::record::IterationRecord;
use crate::value::{Map, Number, Value};

/// How the text is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Style {
    /// Compact separators, UTF-8 as is.
    Compact,
    /// CPython's `json.dumps` defaults.
    PythonDefault,
}

/// Writes `v` as JSON text to `out`.
pub fn write_value(v: &Value, style: Style, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, style, out),
        Value::String(s) => write_string(s, style, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(separator(style));
                }
                write_value(item, style, out);
            }
            out.push(']');
        }
        Value::Object(m) => write_object(m, style, out),
    }
}

/// Writes an object as JSON text to `out`.
pub fn write_object(m: &Map, style: Style, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push_str(separator(style));
        }
        write_string(k, style, out);
        out.push_str(if style == Style::Compact { ":" } else { ": " });
        write_value(v, style, out);
    }
    out.push('}');
}

/// A value as JSON text.
pub fn value_text(v: &Value, style: Style) -> String {
    let mut out = String::new();
    write_value(v, style, &mut out);
    out
}

/// An object as JSON text.
pub fn object_text(m: &Map, style: Style) -> String {
    let mut out = String::new();
    write_object(m, style, &mut out);
    out
}

/// A record as the original module wrote it: `json.dumps(record)` with
/// CPython's defaults (the seven fields, then the other fields, in order;
/// no `_ih`, no `_nonfinite`), without the newline.
pub fn python_line(r: &IterationRecord) -> String {
    let mut out = String::with_capacity(512);
    write_object(&r.to_map(), Style::PythonDefault, &mut out);
    out
}

fn separator(style: Style) -> &'static str {
    if style == Style::Compact { "," } else { ", " }
}

fn write_number(n: &Number, style: Style, out: &mut String) {
    match (style, n) {
        (Style::PythonDefault, Number::Float(x)) if x.is_finite() => python_float_repr(*x, out),
        // Integers and non-finite numbers are the same in both; `Display`
        // writes the shortest float that reads back exactly.
        _ => {
            let _ = write!(out, "{n}");
        }
    }
}

/// Python's `repr(float)`: the shortest digits that read back exactly, in
/// positional form when the decimal exponent is in -4..16 (always with a
/// fraction, `1.0`), else in exponent form with at least two exponent digits
/// (`1e-05`, `1.5e+16`).
fn python_float_repr(x: f64, out: &mut String) {
    // `{:e}` gives the shortest round-trip digits: `-1.2345e-7`.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if digits.len() <= point {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', point - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
    }
}

/// Writes `s` as a JSON string to `out` (in `style`'s escaping).
pub fn write_str(s: &str, style: Style, out: &mut String) {
    write_string(s, style, out);
}

/// Writes `s` as a JSON string. Characters that need no escape are copied
/// in runs, not one by one.
fn write_string(s: &str, style: Style, out: &mut String) {
    // PythonDefault escapes everything outside printable ASCII (0x20..=0x7e).
    let ascii_only = style == Style::PythonDefault;
    let bytes = s.as_bytes();
    out.push('"');
    // `run` and `i` stay on character boundaries: the scan stops only at an
    // ASCII byte, or (ascii_only) at the first byte of a character.
    let (mut run, mut i) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if b >= 0x20 && b != b'"' && b != b'\\' && !(ascii_only && b >= 0x7f) {
            i += 1;
            continue;
        }
        out.push_str(&s[run..i]);
        if b.is_ascii() {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0x08 => out.push_str("\\b"),
                0x0c => out.push_str("\\f"),
                _ => {
                    let _ = write!(out, "\\u{b:04x}");
                }
            }
            i += 1;
        } else {
            // ascii_only: a non-ASCII character as `\uXXXX` (a surrogate
            // pair beyond the BMP).
            let c = s[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
            i += c.len_utf8();
        }
        run = i;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(x: f64) -> String {
        let mut s = String::new();
        python_float_repr(x, &mut s);
        s
    }

    #[test]
    fn floats_as_pythons_repr() {
        // Expected values are CPython 3's repr().
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (100.0, "100.0"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.7231, "0.7231"),
            (-0.0843, "-0.0843"),
            (1234.5, "1234.5"),
        ];
        for (x, want) in cases {
            assert_eq!(repr(x), want, "{x:e}");
        }
    }

    #[test]
    fn python_default_style_is_json_dumps() {
        let mut m = Map::new();
        m.insert("s".into(), Value::String("é → 😀 \u{7f} \"q\"\n".into()));
        m.insert("nan".into(), Value::from(f64::NAN));
        m.insert("inf".into(), Value::from(f64::NEG_INFINITY));
        m.insert(
            "list".into(),
            Value::Array(vec![Value::from(1i64), Value::from(2.0), Value::Null, Value::Bool(true)]),
        );
        m.insert("empty".into(), Value::Object(Map::new()));
        assert_eq!(
            object_text(&m, Style::PythonDefault),
            r#"{"s": "\u00e9 \u2192 \ud83d\ude00 \u007f \"q\"\n", "nan": NaN, "inf": -Infinity, "list": [1, 2.0, null, true], "empty": {}}"#
        );
        assert_eq!(
            object_text(&m, Style::Compact),
            "{\"s\":\"é → 😀 \u{7f} \\\"q\\\"\\n\",\"nan\":NaN,\"inf\":-Infinity,\"list\":[1,2.0,null,true],\"empty\":{}}"
        );
    }

    /// The string writer, one character at a time, as it was before it
    /// copied runs: the reference the run-copying writer must match.
    fn reference_string(s: &str, style: Style) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{08}' => out.push_str("\\b"),
                '\u{0c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c if style == Style::PythonDefault && !(' '..='~').contains(&c) => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{u:04x}");
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn strings_are_written_as_the_character_by_character_writer_wrote_them() {
        let pieces = [
            "",
            "a",
            "plain ascii text",
            "\"",
            "\\",
            "\n",
            "\r\t",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "\u{80}",
            "é",
            "→",
            "😀",
            "\u{2028}",
            " ",
            "~",
        ];
        let mut cases: Vec<String> = pieces.iter().map(|p| (*p).to_string()).collect();
        for a in pieces {
            for b in pieces {
                cases.push(format!("{a}{b}x{a}"));
            }
        }
        cases.push("def f(x):\n    return \"é\" + 'q' \\ 1\t# → done 😀".into());
        for s in &cases {
            for style in [Style::Compact, Style::PythonDefault] {
                let mut got = String::new();
                write_string(s, style, &mut got);
                assert_eq!(got, reference_string(s, style), "{s:?} {style:?}");
            }
        }
    }
}
