//! JSON text for the open-ended parts of a record at the component
//! boundary (`execution-result`, `extra`, `json` metric values).
//!
//! Written compact, keys in the record's order, in the dialect of Python's
//! `json.dumps`: strict JSON, except that a non-finite number is the bare
//! token `NaN`, `Infinity` or `-Infinity`, so nothing is lost (Python's
//! `json.loads` reads them back). Written by the core's
//! `iteration_history::pyjson` (compact style), read with the
//! core's parser, which accepts the same dialect.

use iteration_history::json;
use iteration_history::pyjson::{self, Style};
use iteration_history::{Map, Value};

/// An object as JSON text (the core's Python-dialect writer, compact).
pub fn object_text(m: &Map) -> String {
    // Sized for a typical key and value, so a small object is written
    // without the string growing several times.
    let mut out = String::with_capacity(2 + 32 * m.len());
    pyjson::write_object(m, Style::Compact, &mut out);
    out
}

/// A value as JSON text (the core's Python-dialect writer, compact).
pub fn value_text(v: &Value) -> String {
    let mut out = String::with_capacity(32);
    pyjson::write_value(v, Style::Compact, &mut out);
    out
}

/// Parses JSON text (strict JSON or Python's dialect).
///
/// # Errors
/// What is wrong and at which byte.
pub fn parse_value(text: &str) -> Result<Value, String> {
    json::parse(text.as_bytes()).map_err(|e| format!("not valid JSON: {} at byte {}", e.message, e.offset))
}

/// Parses JSON text that must be an object; `""` (or only whitespace) is
/// the empty object.
///
/// # Errors
/// Not JSON, or not an object.
pub fn parse_object(text: &str) -> Result<Map, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match parse_value(text)? {
        Value::Object(m) => Ok(m),
        other => Err(format!("must be a JSON object, found {}", other.type_name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind_of_value_including_non_finite_numbers() {
        let text = r#"{"success":false,"error":"KeyError: 'close'\n\t\"x\"\\ é \u0001","time":0.1,"n":-3,"big":18446744073709551615,"nan":NaN,"inf":Infinity,"ninf":-Infinity,"list":[1,2.5,null,true,{}],"nested":{"a":[]}}"#;
        let m = parse_object(text).expect("parse");
        assert_eq!(object_text(&m), text, "written back byte for byte");
        assert_eq!(parse_object(&object_text(&m)).expect("again"), m);
        assert!(m.get("nan").and_then(Value::as_f64).is_some_and(f64::is_nan));
    }

    #[test]
    fn accepts_python_json_dumps_output() {
        let m =
            parse_object(r#"{"success": true, "execution_time": 1.0, "note": "\u00e9\ud83d\ude00"}"#).expect("parse");
        assert_eq!(object_text(&m), r#"{"success":true,"execution_time":1.0,"note":"é😀"}"#);
    }

    #[test]
    fn empty_text_is_the_empty_object_and_errors_say_what_is_wrong() {
        assert!(parse_object("").expect("empty").is_empty());
        assert!(parse_object("  ").expect("blank").is_empty());
        assert_eq!(parse_object("[1]").expect_err("array"), "must be a JSON object, found an array");
        let e = parse_object("{\"a\":}").expect_err("bad");
        assert!(e.starts_with("not valid JSON") && e.contains("at byte 5"), "{e}");
        assert_eq!(value_text(&Value::from(f64::NEG_INFINITY)), "-Infinity");
    }
}
