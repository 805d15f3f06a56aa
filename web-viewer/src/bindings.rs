//! The JavaScript API (wasm-bindgen). Compiled on every target so that
//! native builds check it; only the browser calls it.

use iteration_history::codec;
use iteration_history::{IterationRecord, Map, Value};
use js_sys::{Array, Float64Array, Object, Reflect, Uint8Array, Uint32Array};
use wasm_bindgen::prelude::*;

use crate::load::{self, Rows};
use crate::text::{self, TextField};

/// Builds a history's columns from the file's bytes, chunk by chunk.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Loader(load::Loader);

#[wasm_bindgen]
impl Loader {
    /// A loader for a file of `size` bytes (reserves the memory once).
    ///
    /// # Errors
    /// The file is too large for 32-bit offsets or for the tab's memory.
    #[wasm_bindgen(constructor)]
    pub fn new(size: f64) -> Result<Loader, JsError> {
        load::Loader::new(size.max(0.0) as u64).map(Loader).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The next chunk of the file.
    ///
    /// # Errors
    /// The file is too large for 32-bit offsets.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        self.0.push(chunk).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Ends the file: the last line, torn-tail and corruption rules.
    pub fn finish(self) -> History {
        History(self.0.finish())
    }
}

/// A loaded history: its columns, warnings, and the bytes for search and export.
#[wasm_bindgen]
#[derive(Debug)]
pub struct History(load::Loaded);

fn set(obj: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(obj, &JsValue::from_str(key), value).map(drop).map_err(|_| JsError::new("cannot set a property"))
}

#[wasm_bindgen]
impl History {
    /// Number of records (rows).
    #[wasm_bindgen(getter)]
    pub fn len(&self) -> u32 {
        self.0.columns.len() as u32
    }

    /// Whether there are no records.
    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.0.columns.is_empty()
    }

    /// Lines in the file.
    #[wasm_bindgen(getter)]
    pub fn lines(&self) -> f64 {
        self.0.lines as f64
    }

    /// Records that needed the core's full decoder during the pass.
    #[wasm_bindgen(getter, js_name = slowRows)]
    pub fn slow_rows(&self) -> f64 {
        self.0.slow_rows as f64
    }

    /// Damage followed by valid records.
    #[wasm_bindgen(getter)]
    pub fn corrupt(&self) -> bool {
        self.0.corrupt
    }

    /// The columns as one plain object of typed arrays (copies, ready to
    /// be transferred to the page): `iteration`, `success`, `champion`,
    /// `level`, `levels`, `lineStart`, `lineEnd`, `lineNo`, `checksummed`,
    /// `numeric: [{key, group, name, values, states}]`.
    pub fn columns(&self) -> Result<Object, JsError> {
        columns_js(&self.0.columns, 0, self.0.columns.len())
    }

    /// Problems found: `[{kind, line, offset, message}]`, `kind` one of
    /// `bad-line`, `torn-tail`, `missing-newline`.
    pub fn warnings(&self) -> Result<Array, JsError> {
        warnings_js(&self.0.warnings)
    }

    /// Number of problems in all (the list keeps the first 1000).
    #[wasm_bindgen(getter, js_name = warningsTotal)]
    pub fn warnings_total(&self) -> f64 {
        self.0.warnings_total as f64
    }

    /// One byte per row: whether its strategy code contains `needle`
    /// (ASCII case ignored).
    #[wasm_bindgen(js_name = searchCode)]
    pub fn search_code(&self, needle: &str) -> Uint8Array {
        Uint8Array::from(&text::search_code(&self.0, needle)[..])
    }

    /// Sort rank of each row by `"timestamp"` or `"strategy_code"`.
    ///
    /// # Errors
    /// Another field name.
    pub fn rank(&self, field: &str) -> Result<Uint32Array, JsError> {
        Ok(Uint32Array::from(&text::rank(&self.0, text_field(field)?)[..]))
    }

    /// The CSV text of `rows` (row indices, in order).
    ///
    /// # Errors
    /// A row index out of range.
    pub fn csv(&self, rows: &[u32]) -> Result<String, JsError> {
        crate::export::to_csv(&self.0, rows).map_err(|e| JsError::new(&e))
    }

    /// The CSV of `rows` with the numeric columns `keys`, a first `run`
    /// column holding `run` when given, and the header line only with
    /// `header` (to export the rows of several histories as one CSV).
    ///
    /// # Errors
    /// A row index out of range.
    #[wasm_bindgen(js_name = csvWith)]
    pub fn csv_with(
        &self,
        rows: &[u32],
        keys: Vec<String>,
        run: Option<String>,
        header: bool,
    ) -> Result<String, JsError> {
        crate::export::to_csv_with(&self.0, rows, &keys, run.as_deref(), header).map_err(|e| JsError::new(&e))
    }

    /// Row `row` decoded in full (see [`decode_line`]).
    ///
    /// # Errors
    /// A row index out of range.
    pub fn record(&self, row: u32) -> Result<Object, JsError> {
        let row = row as usize;
        if row >= self.0.columns.len() {
            return Err(JsError::new(&format!("row {row} does not exist")));
        }
        decode_line(self.0.line(row))
    }
}

/// Rows `from..to` of `c` as a plain object of typed arrays (see
/// [`History::columns`]); `length` is the number of rows in it.
fn columns_js(c: &load::Columns, from: usize, to: usize) -> Result<Object, JsError> {
    let o = Object::new();
    set(&o, "length", &JsValue::from((to - from) as u32))?;
    set(&o, "iteration", &Float64Array::from(&c.iteration[from..to]))?;
    set(&o, "success", &Uint8Array::from(&c.success[from..to]))?;
    set(&o, "champion", &Uint8Array::from(&c.champion[from..to]))?;
    set(&o, "checksummed", &Uint8Array::from(&c.checksummed[from..to]))?;
    set(&o, "level", &Uint32Array::from(&c.level[from..to]))?;
    set(&o, "levels", &c.levels.iter().map(|s| JsValue::from_str(s)).collect::<Array>())?;
    set(&o, "lineStart", &Uint32Array::from(&c.line_start[from..to]))?;
    set(&o, "lineEnd", &Uint32Array::from(&c.line_end[from..to]))?;
    set(&o, "lineNo", &Uint32Array::from(&c.line_no[from..to]))?;
    let numeric = Array::new();
    for col in &c.numeric {
        let n = Object::new();
        set(&n, "key", &JsValue::from_str(&col.key()))?;
        set(&n, "group", &JsValue::from_str(col.group.field()))?;
        set(&n, "name", &JsValue::from_str(&col.name))?;
        set(&n, "values", &Float64Array::from(&col.values[from..to]))?;
        set(&n, "states", &Uint8Array::from(&col.states[from..to]))?;
        numeric.push(&n);
    }
    set(&o, "numeric", &numeric)?;
    Ok(o)
}

fn warnings_js(warnings: &[load::Warning]) -> Result<Array, JsError> {
    let out = Array::new();
    for w in warnings {
        let o = Object::new();
        set(&o, "kind", &JsValue::from_str(w.kind.as_str()))?;
        set(&o, "line", &JsValue::from(w.line as f64))?;
        set(&o, "offset", &JsValue::from(w.offset as f64))?;
        set(&o, "message", &JsValue::from_str(&w.message))?;
        out.push(&o);
    }
    Ok(out)
}

/// A history followed while a writer appends to it: bytes arrive with
/// [`Live::push`] (what was appended since the last call), and
/// [`Live::update`] returns the rows of complete commits not returned yet.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Live {
    loader: load::Loader,
    /// Rows already returned by `update`.
    sent: usize,
}

#[wasm_bindgen]
impl Live {
    /// An empty history.
    ///
    /// # Errors
    /// None in practice (no memory is reserved up front).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<Live, JsError> {
        Ok(Live { loader: load::Loader::new(0).map_err(|e| JsError::new(&e.to_string()))?, sent: 0 })
    }

    /// The bytes appended since the last call.
    ///
    /// # Errors
    /// The history grew past 4 GiB, or the tab's memory.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        self.loader.push(chunk).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The rows of complete commits not returned yet, and the state of the
    /// whole history: `{from, cols, rows, warnings, warningsTotal, corrupt,
    /// torn, lines, pending, bytes}` (`cols` as [`History::columns`], for
    /// rows `from..rows`; `from` is 0 and every row is in `cols` when rows
    /// already returned are no longer valid).
    pub fn update(&mut self) -> Result<Object, JsError> {
        let live = self.loader.live();
        let from = if live.rows < self.sent { 0 } else { self.sent };
        let o = Object::new();
        set(&o, "from", &JsValue::from(from as u32))?;
        set(&o, "cols", &columns_js(self.loader.columns(), from, live.rows)?.into())?;
        set(&o, "rows", &JsValue::from(live.rows as u32))?;
        set(&o, "warnings", &warnings_js(&live.warnings)?.into())?;
        set(&o, "warningsTotal", &JsValue::from(live.warnings_total as f64))?;
        set(&o, "corrupt", &JsValue::from_bool(live.corrupt))?;
        set(&o, "torn", &JsValue::from_bool(live.torn))?;
        set(&o, "lines", &JsValue::from(live.lines as f64))?;
        set(&o, "pending", &JsValue::from(live.pending as f64))?;
        set(&o, "bytes", &JsValue::from(live.bytes as f64))?;
        self.sent = live.rows;
        Ok(o)
    }

    /// As [`History::search_code`].
    #[wasm_bindgen(js_name = searchCode)]
    pub fn search_code(&self, needle: &str) -> Uint8Array {
        Uint8Array::from(&text::search_code(&self.loader, needle)[..self.sent])
    }

    /// As [`History::rank`].
    ///
    /// # Errors
    /// Another field name.
    pub fn rank(&self, field: &str) -> Result<Uint32Array, JsError> {
        Ok(Uint32Array::from(&text::rank(&self.loader, text_field(field)?)[..self.sent]))
    }

    /// As [`History::csv`].
    ///
    /// # Errors
    /// A row index out of range.
    pub fn csv(&self, rows: &[u32]) -> Result<String, JsError> {
        if let Some(&row) = rows.iter().find(|&&r| r as usize >= self.sent) {
            return Err(JsError::new(&format!("row {row} does not exist")));
        }
        crate::export::to_csv(&self.loader, rows).map_err(|e| JsError::new(&e))
    }

    /// As [`History::csv_with`].
    ///
    /// # Errors
    /// A row index out of range.
    #[wasm_bindgen(js_name = csvWith)]
    pub fn csv_with(
        &self,
        rows: &[u32],
        keys: Vec<String>,
        run: Option<String>,
        header: bool,
    ) -> Result<String, JsError> {
        crate::export::to_csv_with(&self.loader, rows, &keys, run.as_deref(), header).map_err(|e| JsError::new(&e))
    }

    /// Row `row` decoded in full (see [`decode_line`]).
    ///
    /// # Errors
    /// A row index out of range.
    pub fn record(&self, row: u32) -> Result<Object, JsError> {
        let row = row as usize;
        if row >= self.sent {
            return Err(JsError::new(&format!("row {row} does not exist")));
        }
        decode_line(self.loader.line(row))
    }
}

fn text_field(field: &str) -> Result<TextField, JsError> {
    match field {
        "timestamp" => Ok(TextField::Timestamp),
        "strategy_code" => Ok(TextField::Code),
        other => Err(JsError::new(&format!("no text rank for field `{other}`"))),
    }
}

fn to_js(v: &Value) -> Result<JsValue, JsError> {
    Ok(match v {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => JsValue::from_f64(n.as_f64()),
        Value::String(s) => JsValue::from_str(s),
        Value::Array(items) => {
            let a = Array::new();
            for item in items {
                a.push(&to_js(item)?);
            }
            a.into()
        }
        Value::Object(m) => map_to_js(m)?.into(),
    })
}

fn map_to_js(m: &Map) -> Result<Object, JsError> {
    let o = Object::new();
    for (k, v) in m {
        set(&o, k, &to_js(v)?)?;
    }
    Ok(o)
}

fn record_to_js(rec: &IterationRecord) -> Result<Object, JsError> {
    map_to_js(&rec.to_map())
}

/// Decodes one history line with the core: `{record, checksummed, commit}`
/// where `record` holds every field (non-finite numbers as JS `NaN` /
/// `±Infinity`) and `commit` is `"k/n"` for a line of a multi-record commit.
///
/// # Errors
/// The core's reason why the line is not a valid record.
#[wasm_bindgen(js_name = decodeLine)]
pub fn decode_line(line: &[u8]) -> Result<Object, JsError> {
    let (rec, info) = codec::decode_line(line).map_err(|e| JsError::new(&e.to_string()))?;
    let o = Object::new();
    set(&o, "record", &record_to_js(&rec)?.into())?;
    set(&o, "checksummed", &JsValue::from_bool(info.checksummed))?;
    let commit = info.tag.map_or(JsValue::NULL, |t| JsValue::from_str(&format!("{}/{}", t.index, t.count)));
    set(&o, "commit", &commit)?;
    Ok(o)
}
