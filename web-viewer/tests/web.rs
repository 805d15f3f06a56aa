//! The JS API in a real browser (headless Chromium through
//! wasm-bindgen-test): `cargo test --target wasm32-unknown-unknown -p iteration-history-viewer`.
#![cfg(target_arch = "wasm32")]

use iteration_history_viewer::bindings::{History, Live, Loader, decode_line};
use js_sys::{Array, Float64Array, Object, Reflect, Uint8Array, Uint32Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const SAMPLE: &[u8] = include_bytes!("../../samples/history.jsonl");

fn get(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(key)).expect("property")
}

fn load(bytes: &[u8], chunk: usize) -> History {
    let mut loader = Loader::new(bytes.len() as f64).expect("memory");
    for c in bytes.chunks(chunk) {
        loader.push(c).expect("push");
    }
    loader.finish()
}

#[wasm_bindgen_test]
fn columns_are_typed_arrays() {
    let h = load(SAMPLE, 4096);
    assert_eq!(h.len(), 60);
    let cols: JsValue = h.columns().expect("columns").into();
    let it: Float64Array = get(&cols, "iteration").dyn_into().expect("Float64Array");
    assert_eq!(it.length(), 60);
    assert_eq!(it.get_index(59), 59.0);
    let champ: Uint8Array = get(&cols, "champion").dyn_into().expect("Uint8Array");
    assert_eq!(champ.get_index(0), 1);
    let starts: Uint32Array = get(&cols, "lineStart").dyn_into().expect("Uint32Array");
    assert_eq!(starts.get_index(0), 0);
    let numeric: Array = get(&cols, "numeric").dyn_into().expect("Array");
    let keys: Vec<String> = numeric.iter().map(|c| get(&c, "key").as_string().expect("key")).collect();
    assert!(keys.contains(&"metrics.sharpe_ratio".to_string()), "{keys:?}");
    assert_eq!(h.warnings().expect("warnings").length(), 0);
}

#[wasm_bindgen_test]
fn a_bad_line_is_a_warning_and_the_rest_loads() {
    let mut bytes = Vec::new();
    let lines: Vec<&[u8]> = SAMPLE.split_inclusive(|&b| b == b'\n').collect();
    bytes.extend_from_slice(lines[0]);
    bytes.extend_from_slice(b"{\"iteration_num\": 1, \"strategy_code\": \n");
    bytes.extend_from_slice(lines[2]);
    let h = load(&bytes, 7);
    assert_eq!(h.len(), 2);
    assert!(h.corrupt());
    let w = h.warnings().expect("warnings");
    assert_eq!(w.length(), 1);
    let first = w.get(0);
    assert_eq!(get(&first, "line").as_f64(), Some(2.0));
    assert_eq!(get(&first, "kind").as_string().as_deref(), Some("bad-line"));
    assert!(get(&first, "message").as_string().expect("message").contains("not valid JSON"));
}

#[wasm_bindgen_test]
fn decode_line_keeps_python_nan_as_js_nan() {
    let failed =
        SAMPLE.split(|&b| b == b'\n').find(|l| l.windows(8).any(|w| w == b"\"error\":")).expect("a failed iteration");
    let d: JsValue = decode_line(failed).expect("decodes").into();
    let rec = get(&d, "record");
    let sharpe = get(&get(&rec, "metrics"), "sharpe_ratio");
    assert!(sharpe.as_f64().expect("number").is_nan());
    assert_eq!(get(&get(&rec, "execution_result"), "success").as_bool(), Some(false));
    assert_eq!(get(&d, "checksummed").as_bool(), Some(false));
    let err = decode_line(b"{\"iteration_num\": 1}").map(|_| ()).expect_err("missing fields");
    let msg: JsValue = err.into();
    let text = get(&msg, "message").as_string().expect("message");
    assert!(text.contains("strategy_code"), "{text}");
}

#[wasm_bindgen_test]
fn search_rank_csv_and_record() {
    let h = load(SAMPLE, 1 << 20);
    let mask = h.search_code("RSI");
    assert_eq!(mask.length(), 60);
    assert!(mask.to_vec().contains(&1) && mask.to_vec().contains(&0));
    assert_eq!(h.rank("timestamp").expect("rank").length(), 60);
    assert!(h.rank("nope").is_err());
    let csv = h.csv(&[0, 5]).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 2 * 6, "header + 2 records of 6 lines each (multi-line code)");
    assert!(csv.starts_with("iteration_num,timestamp,classification_level,success,champion_updated,"));
    let r: Object = h.record(3).expect("record");
    assert_eq!(get(&get(&r, "record"), "iteration_num").as_f64(), Some(3.0));
    assert!(h.record(60).is_err());
}

#[wasm_bindgen_test]
fn live_returns_each_row_once_as_bytes_arrive() {
    let mut live = Live::new().expect("live");
    let mut seen = 0u32;
    // Chunks that cut lines anywhere; each update returns only new rows.
    for c in SAMPLE.chunks(777) {
        live.push(c).expect("push");
        let u: JsValue = live.update().expect("update").into();
        assert_eq!(get(&u, "from").as_f64(), Some(f64::from(seen)));
        let cols = get(&u, "cols");
        let n = get(&cols, "length").as_f64().expect("length") as u32;
        let it: Float64Array = get(&cols, "iteration").dyn_into().expect("Float64Array");
        for k in 0..n {
            assert_eq!(it.get_index(k), f64::from(seen + k));
        }
        seen += n;
        assert_eq!(get(&u, "rows").as_f64(), Some(f64::from(seen)));
    }
    assert_eq!(seen, 60);
    // A torn tail is reported; the record of row 59 still decodes.
    live.push(b"{\"iteration_num\": 60, \"str").expect("push");
    let u: JsValue = live.update().expect("update").into();
    assert_eq!(get(&u, "torn").as_bool(), Some(true));
    assert_eq!(get(&get(&u, "cols"), "length").as_f64(), Some(0.0));
    let rec: JsValue = live.record(59).expect("record").into();
    assert_eq!(get(&get(&rec, "record"), "iteration_num").as_f64(), Some(59.0));
    assert!(live.csv(&[0, 59]).expect("csv").starts_with("iteration_num,"));
}
