//! The fast path of the column pass: reads the fields the viewer's columns
//! need from one line, without building a record.
//!
//! It is an optimisation of [`iteration_history::codec::decode_line`], never
//! a second set of rules: [`extract`] returns a [`Row`] only for a line it
//! is sure the core accepts, with the values the core would read. Whenever
//! it is unsure (invalid JSON, a missing or mistyped field, escaped keys,
//! repeated top-level keys, deep nesting, a `_nonfinite` entry outside
//! `metrics`/`execution_result`, …) it returns `None` and the caller asks the
//! core, which decides and names the error. The tests compare both on
//! thousands of mutated lines.

use std::ops::Range;

/// Nesting the fast path follows before it leaves a line to the core.
const MAX_FAST_DEPTH: usize = 32;

/// Which object a numeric member comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// A member of `metrics`.
    Metrics,
    /// A member of `execution_result` (other than `success`).
    Execution,
}

impl Group {
    /// The field name, used as the prefix of a column key.
    pub fn field(self) -> &'static str {
        match self {
            Group::Metrics => "metrics",
            Group::Execution => "execution_result",
        }
    }
}

/// What a numeric member holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// A number (`NaN` and infinities included).
    Number = 0,
    /// The member is absent from this record.
    Missing = 1,
    /// `null`.
    Null = 2,
}

/// A member of `metrics` or `execution_result` that is a number or `null`.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Its object.
    pub group: Group,
    /// Byte range of its name in the line (the name has no escapes).
    pub name: Range<usize>,
    /// Its value (`NaN` when `null`).
    pub value: f64,
    /// Number or null.
    pub state: State,
}

/// The fields of one valid line, as byte ranges into the line where text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// `iteration_num`.
    pub iteration_num: u64,
    /// Range of the raw (still escaped) text of `strategy_code`.
    pub code: Range<usize>,
    /// Whether that raw text holds escapes.
    pub code_escaped: bool,
    /// Range of the raw text of `timestamp`.
    pub timestamp: Range<usize>,
    /// Whether that raw text holds escapes.
    pub timestamp_escaped: bool,
    /// Range of `classification_level` (never escaped on this path).
    pub level: Range<usize>,
    /// `execution_result.success` if it is a boolean.
    pub success: Option<bool>,
    /// `champion_updated`.
    pub champion: bool,
    /// Numeric (or null) members of `metrics` and `execution_result`.
    pub members: Vec<Member>,
    /// The line has an `_ih` field (its checksum must be verified).
    pub has_integrity: bool,
    nonfinite: Vec<(Range<usize>, f64)>,
}

impl Row {
    fn clear(&mut self) {
        self.members.clear();
        self.nonfinite.clear();
        self.success = None;
        self.has_integrity = false;
    }

    fn member(&mut self, group: Group, name: Range<usize>, value: f64, state: State, line: &[u8]) {
        // A repeated key keeps its last value, as the core's reader does.
        if let Some(m) =
            self.members.iter_mut().find(|m| m.group == group && line[m.name.clone()] == line[name.clone()])
        {
            m.value = value;
            m.state = state;
            return;
        }
        self.members.push(Member { group, name, value, state });
    }
}

/// Top-level fields that must appear exactly once on the fast path.
const F_ITER: u16 = 1;
const F_CODE: u16 = 2;
const F_EXEC: u16 = 4;
const F_METRICS: u16 = 8;
const F_LEVEL: u16 = 16;
const F_TIME: u16 = 32;
const F_CHAMP: u16 = 64;
const F_IH: u16 = 128;
const F_NONFINITE: u16 = 256;
const REQUIRED: u16 = F_ITER | F_CODE | F_EXEC | F_METRICS | F_LEVEL | F_TIME | F_CHAMP;

/// Byte classes for the string scanner: 1 = ends the plain run (`"`, `\`,
/// control character), 2 = non-ASCII (UTF-8 is checked afterwards).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 0x20 || i == b'"' as usize || i == b'\\' as usize {
            1
        } else if i >= 0x80 {
            2
        } else {
            0
        };
        i += 1;
    }
    t
};

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    non_ascii: bool,
}

impl Parser<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, b: u8) -> Option<()> {
        if self.peek() == Some(b) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// A string at `i` (which is `"`): the range of its raw content and
    /// whether it has escapes.
    #[inline]
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            let b = *self.s.get(self.i)?;
            match CLASS[b as usize] {
                0 => self.i += 1,
                2 => {
                    self.non_ascii = true;
                    self.i += 1;
                }
                _ => match b {
                    b'"' => {
                        let r = start..self.i;
                        self.i += 1;
                        return Some((r, escaped));
                    }
                    b'\\' => {
                        escaped = true;
                        self.i += 1;
                        match self.peek()? {
                            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                            b'u' => {
                                let hex = self.s.get(self.i + 1..self.i + 5)?;
                                if !hex.iter().all(u8::is_ascii_hexdigit) {
                                    return None;
                                }
                                self.i += 5;
                            }
                            _ => return None,
                        }
                    }
                    _ => return None, // control character
                },
            }
        }
    }

    /// A number or `NaN`/`Infinity`/`-Infinity`: its value, and its value
    /// as a `u64` if it is a non-negative integer that fits.
    fn number(&mut self) -> Option<(f64, Option<u64>)> {
        let start = self.i;
        match self.peek()? {
            b'N' => return self.lit(b"NaN").map(|()| (f64::NAN, None)),
            b'I' => return self.lit(b"Infinity").map(|()| (f64::INFINITY, None)),
            b'-' => {
                if self.s[self.i..].starts_with(b"-Infinity") {
                    self.i += 9;
                    return Some((f64::NEG_INFINITY, None));
                }
                self.i += 1;
            }
            _ => {}
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return None,
        }
        let mut is_int = true;
        if self.peek() == Some(b'.') {
            is_int = false;
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            is_int = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        let text = &self.s[start..self.i];
        let neg = text[0] == b'-';
        let as_u64 = if is_int && !neg { parse_u64(text) } else { None };
        let value = match as_u64 {
            Some(u) => u as f64,
            None => std::str::from_utf8(text).ok()?.parse::<f64>().ok()?,
        };
        // A number too large for a float is refused by the core (only the
        // tokens stand for infinities): leave the line to it.
        if value.is_infinite() {
            return None;
        }
        Some((value, as_u64))
    }

    /// Skips (and checks) any JSON value.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_FAST_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'n' => self.lit(b"null"),
            _ => self.number().map(drop),
        }
    }

    /// A key without escapes.
    #[inline]
    fn key(&mut self) -> Option<Range<usize>> {
        match self.string()? {
            (r, false) => Some(r),
            _ => None,
        }
    }

    /// The members of `metrics` or `execution_result`.
    fn members(&mut self, group: Group, row: &mut Row) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let name = self.key()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            if group == Group::Execution && &self.s[name.clone()] == b"success" {
                row.success = match self.peek()? {
                    b't' => self.lit(b"true").map(|()| Some(true))?,
                    b'f' => self.lit(b"false").map(|()| Some(false))?,
                    _ => {
                        self.skip_value(1)?;
                        None
                    }
                };
            } else {
                match self.peek()? {
                    b'-' | b'0'..=b'9' | b'N' | b'I' => {
                        let (v, _) = self.number()?;
                        row.member(group, name, v, State::Number, self.s);
                    }
                    b'n' => {
                        self.lit(b"null")?;
                        row.member(group, name, f64::NAN, State::Null, self.s);
                    }
                    _ => {
                        // A string, bool, object or array: not a column.
                        // (A repeated key that was numeric before would keep
                        // its old value here; leave that to the core.)
                        if row
                            .members
                            .iter()
                            .any(|m| m.group == group && self.s[m.name.clone()] == self.s[name.clone()])
                        {
                            return None;
                        }
                        self.skip_value(1)?;
                    }
                }
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The `_nonfinite` index: pointer → value.
    fn nonfinite(&mut self, row: &mut Row) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let pointer = self.key()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let (v, escaped) = self.string()?;
            let value = match (&self.s[v], escaped) {
                (b"NaN", false) => f64::NAN,
                (b"Infinity", false) => f64::INFINITY,
                (b"-Infinity", false) => f64::NEG_INFINITY,
                _ => return None,
            };
            row.nonfinite.push((pointer, value));
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.lit(b"true").map(|()| true),
            b'f' => self.lit(b"false").map(|()| false),
            _ => None,
        }
    }
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// Reads the columns' fields from `line` (without its line end) into `row`.
///
/// Returns `false` when the line must be left to the core (see the module
/// documentation); `row` is then unspecified.
pub fn extract(line: &[u8], row: &mut Row) -> bool {
    row.clear();
    extract_inner(line, row).is_some()
}

fn extract_inner(line: &[u8], row: &mut Row) -> Option<()> {
    let mut p = Parser { s: line, i: 0, non_ascii: false };
    p.ws();
    p.eat(b'{')?;
    let mut seen = 0u16;
    let mut last_was_ih;
    p.ws();
    if p.peek() == Some(b'}') {
        return None; // an empty object lacks every field
    }
    loop {
        p.ws();
        let key = p.key()?;
        p.ws();
        p.eat(b':')?;
        p.ws();
        let flag = match &line[key] {
            b"iteration_num" => {
                let (_, as_u64) = p.number()?;
                row.iteration_num = as_u64?;
                F_ITER
            }
            b"strategy_code" => {
                (row.code, row.code_escaped) = p.string()?;
                F_CODE
            }
            b"execution_result" => {
                p.members(Group::Execution, row)?;
                F_EXEC
            }
            b"metrics" => {
                p.members(Group::Metrics, row)?;
                F_METRICS
            }
            b"classification_level" => {
                let (r, escaped) = p.string()?;
                if escaped {
                    return None;
                }
                row.level = r;
                F_LEVEL
            }
            b"timestamp" => {
                (row.timestamp, row.timestamp_escaped) = p.string()?;
                F_TIME
            }
            b"champion_updated" => {
                row.champion = p.boolean()?;
                F_CHAMP
            }
            b"_ih" => {
                p.skip_value(1)?;
                F_IH
            }
            b"_nonfinite" => {
                p.nonfinite(row)?;
                F_NONFINITE
            }
            other => {
                if iteration_history::codec::is_near_integrity_key(other) {
                    return None; // maybe a damaged `_ih`: the core decides
                }
                p.skip_value(1)?;
                0
            }
        };
        if seen & flag != 0 {
            return None; // a repeated field: leave it to the core
        }
        seen |= flag;
        last_was_ih = flag == F_IH;
        p.ws();
        match p.peek()? {
            b',' => p.i += 1,
            b'}' => {
                p.i += 1;
                break;
            }
            _ => return None,
        }
    }
    p.ws();
    if p.i != line.len() || seen & REQUIRED != REQUIRED {
        return None;
    }
    if seen & F_IH != 0 {
        if !last_was_ih {
            return None;
        }
        row.has_integrity = true;
    }
    if p.non_ascii && std::str::from_utf8(line).is_err() {
        return None;
    }
    let nonfinite = std::mem::take(&mut row.nonfinite);
    let applied = nonfinite.iter().all(|(pointer, value)| apply_nonfinite(line, row, &line[pointer.clone()], *value));
    row.nonfinite = nonfinite;
    applied.then_some(())
}

/// Applies one `_nonfinite` entry to a null member; `false` when it names
/// anything else (the core then decides).
fn apply_nonfinite(line: &[u8], row: &mut Row, pointer: &[u8], value: f64) -> bool {
    let (group, name) = if let Some(n) = pointer.strip_prefix(b"/metrics/") {
        (Group::Metrics, n)
    } else if let Some(n) = pointer.strip_prefix(b"/execution_result/") {
        (Group::Execution, n)
    } else {
        return false;
    };
    if name.contains(&b'/') || name.contains(&b'~') {
        return false;
    }
    match row.members.iter_mut().find(|m| m.group == group && &line[m.name.clone()] == name) {
        Some(m) if m.state == State::Null => {
            m.value = value;
            m.state = State::Number;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Row {
        let mut row = Row::default();
        assert!(extract(line.as_bytes(), &mut row), "fast path refused {line}");
        row
    }

    #[test]
    fn python_line() {
        let line = r#"{"iteration_num": 7, "strategy_code": "def f():\n    return 1\n", "execution_result": {"success": true, "execution_time": 0.9}, "metrics": {"sharpe_ratio": NaN, "total_return": -Infinity, "n": 3}, "classification_level": "LEVEL_1", "timestamp": "2025-03-01T00:13:14", "champion_updated": false}"#;
        let row = ok(line);
        assert_eq!(row.iteration_num, 7);
        assert!(row.code_escaped);
        assert_eq!(&line[row.level.clone()], "LEVEL_1");
        assert_eq!(row.success, Some(true));
        assert_eq!(row.members.len(), 4);
        assert!(row.members[1].value.is_nan());
        assert_eq!(row.members[2].value, f64::NEG_INFINITY);
        assert_eq!(row.members[3].value, 3.0);
        assert!(!row.has_integrity);
    }

    #[test]
    fn nonfinite_index_is_applied() {
        let line = r#"{"iteration_num":1,"strategy_code":"x","execution_result":{"success":false},"metrics":{"s":null,"t":null},"classification_level":"L","timestamp":"t","champion_updated":false,"_nonfinite":{"/metrics/s":"Infinity"}}"#;
        let row = ok(line);
        assert_eq!((row.members[0].value, row.members[0].state), (f64::INFINITY, State::Number));
        assert_eq!(row.members[1].state, State::Null);
    }

    #[test]
    fn unsure_lines_are_left_to_the_core() {
        let base = r#"{"iteration_num":1,"strategy_code":"x","execution_result":{},"metrics":{},"classification_level":"L","timestamp":"t","champion_updated":false"#;
        let mut row = Row::default();
        for tail in [
            r#"}x"#,
            r#","iteration_num":2}"#,
            r#","_nonfinite":{"/extra/0":"NaN"}}"#,
            r#","\u0061":1}"#,
            r#","a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
            r#","_ih":"0/0","z":1}"#,
        ] {
            assert!(!extract(format!("{base}{tail}").as_bytes(), &mut row), "{tail}");
        }
        assert!(extract(format!("{base}}}").as_bytes(), &mut row));
    }
}
