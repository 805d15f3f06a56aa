//! Pages of records, and columns, as ONE JSON text for a host's native
//! parser (the `-text` functions and `columns` of the WIT): a host reads a
//! whole page with one call of its C-speed JSON parser instead of lifting
//! every field of every typed record.
//!
//! Every record has passed the core's checks (framing, CRC-32C, JSON,
//! fields) before it is written here: the text is produced from decoded
//! records, never copied from the file.
//!
//! Two dialects ([`Dialect`]):
//! * `Python`: what Python's `json.loads` reads: strict JSON, except that a
//!   non-finite number is the bare token `NaN`, `Infinity` or `-Infinity`.
//!   Integers are written in full (Python ints are unbounded). A record is
//!   `{"iteration_num":…,"strategy_code":…,"execution_result":{…},
//!   "metrics":{…},"classification_level":…,"timestamp":…,
//!   "champion_updated":…,"extra":{…}}`: exactly the fields of the Python
//!   package's `IterationRecord`, in its order.
//! * `Javascript`: strict JSON that `JSON.parse` reads. A record is the
//!   flat object the Node package returns: the seven fields, then the
//!   other top-level fields, in the file's order. A value `JSON.parse`
//!   cannot give exactly is written as `null` (a non-finite number) or as a
//!   string of its digits (a metric that is an integer beyond 2^53 but
//!   within 64 bits, which the Node package returns as a `BigInt`), and
//!   listed in the fixups: a JSON array of `[index, kind, key, key, …]`,
//!   `kind` one of `"NaN"`, `"Infinity"`, `"-Infinity"`, `"bigint"`, the
//!   keys the path from the record (or column) at `index` to the value.

use iteration_history::pyjson::{self, Style};
use iteration_history::{IterationRecord, Map, Number, Value};

/// The JSON dialect of a text page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Python's `json`: bare `NaN`/`Infinity`/`-Infinity`, no fixups.
    Python,
    /// `JSON.parse`: strict JSON plus fixups.
    Javascript,
}

/// A page being written: the records' text and the fixups.
#[derive(Debug)]
pub struct TextWriter {
    dialect: Dialect,
    text: String,
    fixups: String,
    count: usize,
    path: Vec<PathKey>,
}

#[derive(Clone, Debug)]
enum PathKey {
    Key(String),
    Index(usize),
}

const SAFE: u64 = (1 << 53) - 1;

impl TextWriter {
    /// A writer for `dialect`, its text sized for `capacity` bytes.
    pub fn new(dialect: Dialect, capacity: usize) -> Self {
        let mut text = String::with_capacity(capacity + 2);
        text.push('[');
        TextWriter { dialect, text, fixups: String::from("["), count: 0, path: Vec::new() }
    }

    /// Appends one record.
    pub fn push_record(&mut self, r: &IterationRecord) {
        self.begin_item();
        let out = &mut self.text;
        out.push_str("{\"iteration_num\":");
        out.push_str(&r.iteration_num.to_string());
        out.push_str(",\"strategy_code\":");
        write_str(&r.strategy_code, out);
        out.push_str(",\"execution_result\":");
        self.path.push(PathKey::Key("execution_result".into()));
        self.object(&r.execution_result, false);
        self.path.pop();
        self.text.push_str(",\"metrics\":");
        self.path.push(PathKey::Key("metrics".into()));
        self.object(&r.metrics, true);
        self.path.pop();
        let out = &mut self.text;
        out.push_str(",\"classification_level\":");
        write_str(&r.classification_level, out);
        out.push_str(",\"timestamp\":");
        write_str(&r.timestamp, out);
        out.push_str(",\"champion_updated\":");
        out.push_str(if r.champion_updated { "true" } else { "false" });
        match self.dialect {
            Dialect::Python => {
                self.text.push_str(",\"extra\":");
                self.object(&r.extra, false);
            }
            Dialect::Javascript => {
                for (k, v) in r.extra.iter() {
                    self.text.push(',');
                    write_str(k, &mut self.text);
                    self.text.push(':');
                    self.path.push(PathKey::Key(k.clone()));
                    self.value(v, false);
                    self.path.pop();
                }
            }
        }
        self.text.push('}');
        self.count += 1;
    }

    /// Appends one column: the value at `path` (see [`lookup`]) of every
    /// record, `null` where a record has none; `metric`: the values are
    /// top-level metrics (written as in a record's `metrics`).
    pub fn push_column<'a>(&mut self, values: impl Iterator<Item = Option<&'a Value>>, metric: bool) {
        self.begin_item();
        self.text.push('[');
        for (i, v) in values.enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.path.push(PathKey::Index(i));
            match v {
                Some(v) => self.value(v, metric),
                None => self.text.push_str("null"),
            }
            self.path.pop();
        }
        self.text.push(']');
        self.count += 1;
    }

    /// Number of records (or columns) written.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The text (a JSON array) and the fixups (a JSON array; `[]` in the
    /// Python dialect).
    pub fn finish(mut self) -> (String, String) {
        self.text.push(']');
        self.fixups.push(']');
        (self.text, self.fixups)
    }

    fn begin_item(&mut self) {
        if self.count > 0 {
            self.text.push(',');
        }
        self.path.clear();
    }

    fn object(&mut self, m: &Map, metrics: bool) {
        self.text.push('{');
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            write_str(k, &mut self.text);
            self.text.push(':');
            if self.dialect == Dialect::Javascript {
                self.path.push(PathKey::Key(k.clone()));
                self.value(v, metrics);
                self.path.pop();
            } else {
                self.value(v, metrics);
            }
        }
        self.text.push('}');
    }

    /// Writes `v`; `metric`: `v` is a top-level metric value (where the
    /// Node package keeps 64-bit integers exact as `BigInt`).
    fn value(&mut self, v: &Value, metric: bool) {
        match v {
            Value::Object(m) => self.object(m, false),
            Value::Array(items) => {
                self.text.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    if self.dialect == Dialect::Javascript {
                        self.path.push(PathKey::Index(i));
                        self.value(item, false);
                        self.path.pop();
                    } else {
                        self.value(item, false);
                    }
                }
                self.text.push(']');
            }
            Value::Number(n) if self.dialect == Dialect::Javascript => match *n {
                Number::Float(f) if !f.is_finite() => {
                    self.text.push_str("null");
                    let kind = if f.is_nan() {
                        "NaN"
                    } else if f > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    };
                    self.fixup(kind);
                }
                Number::PosInt(u) if metric && u > SAFE && i64::try_from(u).is_ok() => {
                    self.text.push('"');
                    self.text.push_str(&u.to_string());
                    self.text.push('"');
                    self.fixup("bigint");
                }
                Number::NegInt(i) if metric && i.unsigned_abs() > SAFE => {
                    self.text.push('"');
                    self.text.push_str(&i.to_string());
                    self.text.push('"');
                    self.fixup("bigint");
                }
                _ => pyjson::write_value(v, Style::Compact, &mut self.text),
            },
            Value::String(s) => write_str(s, &mut self.text),
            _ => pyjson::write_value(v, Style::Compact, &mut self.text),
        }
    }

    fn fixup(&mut self, kind: &str) {
        if self.fixups.len() > 1 {
            self.fixups.push(',');
        }
        self.fixups.push('[');
        self.fixups.push_str(&self.count.to_string());
        self.fixups.push_str(",\"");
        self.fixups.push_str(kind);
        self.fixups.push('"');
        for k in &self.path {
            self.fixups.push(',');
            match k {
                PathKey::Key(k) => write_str(k, &mut self.fixups),
                PathKey::Index(i) => self.fixups.push_str(&i.to_string()),
            }
        }
        self.fixups.push(']');
    }
}

/// A JSON string, ASCII only (a character outside printable ASCII as a
/// `\uXXXX` escape): the text crosses as pure ASCII, which the hosts decode
/// and parse fastest (CPython: a 1-byte-per-character `str`, half the memory
/// of a text with one CJK character; V8: a one-byte string).
fn write_str(s: &str, out: &mut String) {
    pyjson::write_str(s, Style::PythonDefault, out);
}

/// A column name resolved against a record: `iteration_num` and the other
/// six fields, any other top-level field, or a dotted path into an object
/// (`metrics.sharpe_ratio`, `execution_result.success`). At each object the
/// whole remaining name is tried as one key first, so a key that contains a
/// dot is found too. See [`is_metric`].
pub fn lookup<'a>(r: &'a IterationRecord, name: &str, scratch: &'a mut [Value; 5]) -> Option<&'a Value> {
    let (head, rest) = match name.split_once('.') {
        Some((h, rest)) => (h, Some(rest)),
        None => (name, None),
    };
    let [num, code, level, ts, champ] = scratch;
    let top: &Value = match head {
        "iteration_num" if rest.is_none() => {
            *num = Value::Number(Number::PosInt(r.iteration_num));
            num
        }
        "strategy_code" if rest.is_none() => {
            *code = Value::String(r.strategy_code.clone());
            code
        }
        "classification_level" if rest.is_none() => {
            *level = Value::String(r.classification_level.clone());
            level
        }
        "timestamp" if rest.is_none() => {
            *ts = Value::String(r.timestamp.clone());
            ts
        }
        "champion_updated" if rest.is_none() => {
            *champ = Value::Bool(r.champion_updated);
            champ
        }
        "execution_result" | "metrics" => {
            let m = if head == "metrics" { &r.metrics } else { &r.execution_result };
            return match rest {
                None => None, // a whole object is not a column
                Some(rest) => in_map(m, rest),
            };
        }
        _ => return in_map(&r.extra, name),
    };
    Some(top)
}

/// Whether column `name` of record `r` is a top-level metric
/// (`metrics.<name>` with `<name>` a key of `metrics`).
pub fn is_metric(r: &IterationRecord, name: &str) -> bool {
    name.strip_prefix("metrics.").is_some_and(|k| r.metrics.contains_key(k))
}

fn in_map<'a>(m: &'a Map, name: &str) -> Option<&'a Value> {
    if let Some(v) = m.get(name) {
        return Some(v);
    }
    let (head, rest) = name.split_once('.')?;
    match m.get(head)? {
        Value::Object(inner) => in_map(inner, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iteration_history::json;

    fn rec() -> IterationRecord {
        let line = br#"{"iteration_num":3,"strategy_code":"x\n\"y\" \u00e9","execution_result":{"success":true,"t":1.0,"l":[NaN,-Infinity]},"metrics":{"sharpe_ratio":NaN,"n":42,"big":9007199254740993,"neg":-9007199254740993,"huge":18446744073709551615,"inf":Infinity},"classification_level":"LEVEL_3","timestamp":"2025-01-01T00:00:00","champion_updated":false,"zeta":1,"alpha":{"a.b":2}}"#;
        let Value::Object(m) = json::parse(line).expect("parse") else { panic!("object") };
        IterationRecord::from_map(m).expect("record")
    }

    #[test]
    fn python_dialect_has_the_dataclass_fields_and_bare_tokens() {
        let mut w = TextWriter::new(Dialect::Python, 0);
        w.push_record(&rec());
        let (text, fix) = w.finish();
        assert_eq!(fix, "[]");
        assert_eq!(
            text,
            r#"[{"iteration_num":3,"strategy_code":"x\n\"y\" \u00e9","execution_result":{"success":true,"t":1.0,"l":[NaN,-Infinity]},"metrics":{"sharpe_ratio":NaN,"n":42,"big":9007199254740993,"neg":-9007199254740993,"huge":18446744073709551615,"inf":Infinity},"classification_level":"LEVEL_3","timestamp":"2025-01-01T00:00:00","champion_updated":false,"extra":{"zeta":1,"alpha":{"a.b":2}}}]"#
        );
    }

    #[test]
    fn javascript_dialect_is_strict_json_with_fixups() {
        let mut w = TextWriter::new(Dialect::Javascript, 0);
        w.push_record(&rec());
        w.push_record(&rec());
        let (text, fix) = w.finish();
        assert!(!text.contains("NaN") && !text.contains("Infinity"), "{text}");
        serde_json::from_str::<serde_json::Value>(&text).expect("strict JSON");
        assert!(text.contains(r#""zeta":1,"alpha":{"a.b":2}}"#), "{text}");
        assert!(text.contains(r#""big":"9007199254740993","neg":"-9007199254740993","huge":18446744073709551615"#));
        assert_eq!(
            fix,
            r#"[[0,"NaN","execution_result","l",0],[0,"-Infinity","execution_result","l",1],[0,"NaN","metrics","sharpe_ratio"],[0,"bigint","metrics","big"],[0,"bigint","metrics","neg"],[0,"Infinity","metrics","inf"],[1,"NaN","execution_result","l",0],[1,"-Infinity","execution_result","l",1],[1,"NaN","metrics","sharpe_ratio"],[1,"bigint","metrics","big"],[1,"bigint","metrics","neg"],[1,"Infinity","metrics","inf"]]"#
        );
    }

    #[test]
    fn columns_resolve_fields_paths_and_dotted_keys() {
        let r = rec();
        let names = [
            "iteration_num",
            "metrics.sharpe_ratio",
            "classification_level",
            "alpha.a.b",
            "metrics.none",
            "metrics",
            "metrics.big",
        ];
        let mut w = TextWriter::new(Dialect::Javascript, 0);
        for name in names {
            let mut scratch = Default::default();
            let v = lookup(&r, name, &mut scratch).cloned();
            w.push_column([v.as_ref(), None].into_iter(), is_metric(&r, name));
        }
        let (text, fix) = w.finish();
        assert_eq!(
            text,
            r#"[[3,null],[null,null],["LEVEL_3",null],[2,null],[null,null],[null,null],["9007199254740993",null]]"#
        );
        assert_eq!(fix, r#"[[1,"NaN",0],[6,"bigint",0]]"#);
    }
}
