//! The jiter decoder against the hand-written reader it replaced
//! (`support/old_reader.rs`, kept here as an oracle): on every corpus the
//! project has (the sample history, the CPython fixtures, the fuzz corpus if
//! `scripts/fuzz` made one, records from the property tests' generators,
//! written by this library and in CPython's dialect, and ~40,000 mutated
//! lines), both accept the same records and refuse the same lines with the
//! same error (JSON errors: at the same byte offset).

#[path = "support/old_reader.rs"]
mod old_reader;

use iteration_history::codec::{self, LineError};
use iteration_history::{IterationRecord, Map, Number, Value, pyjson};
use proptest::prelude::*;

/// Where the two readers disagree on `line`, if they do.
fn disagreement(line: &[u8]) -> Option<String> {
    let old = old_reader::old_decode_line(line);
    let new = codec::decode_line(line);
    let same = match (&old, &new) {
        // Debug shows the order of keys, which `==` on maps ignores.
        (Ok((a, ai)), Ok((b, bi))) => format!("{a:?}") == format!("{b:?}") && ai == bi,
        (Err(LineError::Json(a)), Err(LineError::Json(b))) => {
            a.offset == b.offset
                // The old reader placed invalid UTF-8 by counting decoded
                // bytes; the new one names the byte itself.
                || (a.message == b.message
                    && a.message == "invalid UTF-8 in a string"
                    && std::str::from_utf8(line).err().map(|e| e.valid_up_to()) == Some(b.offset))
                // A `\u` escape cut by the end of the line: the old reader
                // named the first missing hex digit, jiter the line's end.
                || (a.message == "expected four hex digits after `\\u`"
                    && b.message == "unterminated string"
                    && b.offset == codec::strip_line_end(line).len()
                    && a.offset + 4 >= b.offset)
        }
        (Err(a), Err(b)) => a == b,
        _ => false,
    };
    (!same).then(|| format!("line {:?}\n old: {old:?}\n new: {new:?}", String::from_utf8_lossy(line)))
}

fn check_all<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> usize {
    let mut n = 0;
    let mut bad = Vec::new();
    for line in lines {
        n += 1;
        if let Some(d) = disagreement(line) {
            bad.push(d);
        }
    }
    if std::env::var_os("IH_DIFF_DUMP").is_some() {
        for b in &bad {
            eprintln!("{b}");
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {n} lines read differently; first ones:\n{}",
        bad.len(),
        bad[..bad.len().min(8)].join("\n")
    );
    n
}

const SAMPLE: &[u8] = include_bytes!("../../samples/history.jsonl");

/// Lines CPython's `json.dumps` writes (from `tests/python_compat.rs`),
/// and the rules' corner cases.
const FIXTURES: &[&[u8]] = &[
    br##"{"iteration_num": 0, "strategy_code": "def s(d):\n    return d\n", "execution_result": {"success": true, "execution_time": 1.25}, "metrics": {"sharpe_ratio": NaN, "total_return": 0.12, "max_drawdown": -0.05}, "classification_level": "LEVEL_1", "timestamp": "2025-01-01T09:00:00.123456", "champion_updated": false}"##,
    br##"{"iteration_num": 1, "strategy_code": "# caf\u00e9 \ud83d\ude80", "execution_result": {"success": false, "error": "ZeroDivisionError"}, "metrics": {"sharpe_ratio": -Infinity, "total_return": Infinity, "max_drawdown": 1e-05}, "classification_level": "LEVEL_0", "timestamp": "2025-01-01T09:01:00", "champion_updated": false}"##,
    br##"{"iteration_num": 2, "strategy_code": "x = 1", "execution_result": {"success": true}, "metrics": {"sharpe_ratio": 2.5}, "classification_level": "LEVEL_3", "timestamp": "2025-01-01T09:02:00", "champion_updated": true, "notes": [1, 2.0, null]}"##,
    br##"{"iteration_num": 3, "strategy_code": "\ud800 \udc00 \ud800\u0041 \\ud800", "execution_result": {}, "metrics": {"m": -0, "big": 18446744073709551616, "neg": -9223372036854775809, "e": 1E+2}, "classification_level": "L", "timestamp": "t", "champion_updated": false}"##,
    br##"{"iteration_num": 4, "iteration_num": 5, "strategy_code": "", "execution_result": {"a": 1, "a": 2}, "metrics": {}, "classification_level": "L", "timestamp": "t", "champion_updated": false, "x": 1, "x": 2}"##,
    br##"{"iteration_num":1,"strategy_code":"","execution_result":{},"metrics":{},"classification_level":"L","timestamp":"t","champion_updated":false,"sha":"0123abcd"}"##,
    br##"{"iteration_num":1,"strategy_code":"","execution_result":{},"metrics":{},"classification_level":"L","timestamp":"t","champion_updated":false,"_ix":"0123abcd"}"##,
    br##"{"iteration_num":1,"strategy_code":"","execution_result":{},"metrics":{"a":null},"classification_level":"L","timestamp":"t","champion_updated":false,"_nonfinite":{"/metrics/a":"NaN"}}"##,
    br##"{"iteration_num":null,"strategy_code":"","execution_result":{},"metrics":{},"classification_level":"L","timestamp":"t","champion_updated":false,"_nonfinite":{"/iteration_num":"NaN"}}"##,
    br##"{"iteration_num":1,"strategy_code":"","execution_result":{},"metrics":{},"classification_level":"L","timestamp":"t","champion_updated":false,"_nonfinite":{"/_ih":"NaN"}}"##,
    br##"{"_ih":"00000000","iteration_num":1}"##,
    br##"{"iteration_num":1,"_ih":"x","strategy_code":"","execution_result":{},"metrics":{},"classification_level":"L","timestamp":"t","champion_updated":false,"_ih":"00000000"}"##,
    b"{\"a\": tru}",
    b"{\"a\": nul, \"b\": NaX}",
    b"[1, -Infinit]",
    b"{\"a\": 01}",
    b"{\"a\": 1.}",
    b"{\"a\": 1e}",
    b"{\"a\": -}",
    b"{\"a\": \"\\u12\"}",
    b"{\"a\": \"\\ud800\\u12\"}",
    b"{\"a\": \"\xff\"}",
    b"{\"a\": \"\xe2\x82\"}",
    b"{\"a\": \"x\x01\"}",
    b"{\"a\" 1}",
    b"{1: 1}",
    b"{\"a\": 1,}",
    b"[1,]",
    b"{} x",
    b"",
    b"   ",
    b"\"just a string\"",
];

fn fixture_lines() -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = SAMPLE.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines.extend(FIXTURES.iter().map(|l| l.to_vec()));
    let deep = |n: usize, open: &str, close: &str| {
        format!("{{\"iteration_num\": {}{}}}", open.repeat(n), close.repeat(n)).into_bytes()
    };
    for n in [126, 127, 128, 129, 1000] {
        lines.push(deep(n, "[", "]"));
        lines.push(deep(n, "{\"k\":", "}"));
    }
    lines
}

/// Files of the fuzz corpus (`tests/fuzz/corpus/decode_line`, made by `scripts/fuzz`), if any.
fn fuzz_corpus() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode_line");
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(|e| std::fs::read(e.ok()?.path()).ok()).collect()
}

/// A record as CPython's `json.dumps` writes it (the core's Python-dialect
/// writer, checked against a real python3 in `python_compat.rs`).
fn python_line(r: &IterationRecord) -> Vec<u8> {
    let mut line = pyjson::python_line(r).into_bytes();
    line.push(b'\n');
    line
}

/// The byte values mutations use: JSON's structure, CPython's tokens,
/// escapes, UTF-8 lead and continuation bytes, line ends.
const INTERESTING: &[u8] = b"\"\\{}[],: Nn-0e.Iu1d\x00\x1f\x7f\xc3\xa9\xe2\xff\r\n_";

/// A splitmix64 stream (deterministic mutations, no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(line: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = line.to_vec();
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(m.len());
        let byte = if rng.below(2) == 0 { INTERESTING[rng.below(INTERESTING.len())] } else { rng.next() as u8 };
        match rng.below(6) {
            0 | 1 if i < m.len() => m[i] = byte,
            2 if i < m.len() => {
                m.remove(i);
            }
            3 => m.truncate(i),
            4 => {
                // A piece of the line repeated (a key or a value twice).
                let j = (i + 1 + rng.below(40)).min(m.len());
                let piece = m[i..j].to_vec();
                m.splice(i..i, piece);
            }
            _ => m.insert(i.min(m.len()), byte),
        }
    }
    m
}

#[test]
fn the_readers_agree_on_the_fixtures_and_the_fuzz_corpus() {
    let mut lines = fixture_lines();
    lines.extend(fuzz_corpus());
    // Each also with CRLF, a BOM-less blank tail and without its line end.
    let more: Vec<Vec<u8>> = lines
        .iter()
        .flat_map(|l| {
            let bare = codec::strip_line_end(l).to_vec();
            let mut crlf = bare.clone();
            crlf.extend_from_slice(b"\r\n");
            [bare, crlf]
        })
        .collect();
    lines.extend(more);
    check_all(lines.iter().map(Vec::as_slice));
}

#[test]
fn the_readers_agree_on_40000_mutated_lines() {
    let mut base = fixture_lines();
    let mut rng = Rng(12);
    for i in 0..64 {
        let mut r = IterationRecord::new(i, format!("def s():\n    return \"caf\u{e9} \u{1F600}\" # {i}\n"));
        r.execution_result.insert("success".into(), Value::Bool(i % 3 != 0));
        r.execution_result.insert("curve".into(), Value::Array(vec![Value::from(1.5), Value::from(f64::NAN)]));
        r.set_metric("sharpe_ratio", if i % 4 == 0 { f64::INFINITY } else { i as f64 / 7.0 });
        r.metrics.insert("trades".into(), Value::from(i * 1000));
        r.classification_level = format!("LEVEL_{}", i % 4);
        r.timestamp = "2025-01-01T00:00:00".into();
        r.extra.insert("seed".into(), Value::from(-(i as i64)));
        base.push(codec::encode_line(&r).expect("valid"));
        base.push(python_line(&r));
    }
    let bodies: Vec<_> = (0..3)
        .map(|i| {
            codec::encode_body(&IterationRecord {
                classification_level: "L".into(),
                timestamp: "t".into(),
                ..IterationRecord::new(i, "x")
            })
            .expect("valid")
        })
        .collect();
    let mut batch = Vec::new();
    codec::finish_commit(&bodies, 3, &mut batch);
    base.extend(batch.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec));
    let mutated: Vec<Vec<u8>> = (0..40_000).map(|k| mutate(&base[k % base.len()], &mut rng)).collect();
    assert_eq!(check_all(mutated.iter().map(Vec::as_slice)), 40_000);
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(1e300),
        1 => Just(5e-324),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        1 => "[a-z\"\\\\\n\t\u{0}\u{1f}\u{7f}\u{2028}é€😀{}\\[\\],:]{0,40}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(|u| Value::Number(Number::PosInt(u))),
        (i64::MIN..0).prop_map(|i| Value::Number(Number::NegInt(i))),
        float().prop_map(|f| Value::Number(Number::Float(f))),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn map() -> impl Strategy<Value = Map> {
    prop::collection::vec((text(), value()), 0..6).prop_map(|kv| kv.into_iter().collect())
}

/// The property tests' record generator (`tests/testkit/tests/properties.rs`).
fn record() -> impl Strategy<Value = IterationRecord> {
    (0..=iteration_history::record::MAX_ITERATION_NUM, text(), map(), map(), text(), text(), any::<bool>(), map())
        .prop_map(|(n, code, exec, metrics, level, ts, champion, extra)| {
            let mut r = IterationRecord::new(n, code);
            r.execution_result = exec;
            r.metrics = metrics;
            r.classification_level = level;
            r.timestamp = ts;
            r.champion_updated = champion;
            r.extra = extra
                .into_iter()
                .filter(|(k, _)| {
                    !iteration_history::record::FIELDS.contains(&k.as_str())
                        && !iteration_history::record::RESERVED_FIELDS.contains(&k.as_str())
                })
                .collect();
            r
        })
}

fn cases() -> u32 {
    std::env::var("IH_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Generated records, as this library writes them and as CPython
    /// writes them, with a byte changed: the readers agree.
    #[test]
    fn the_readers_agree_on_generated_records(r in record(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        for line in [python_line(&r), codec::encode_line(&r).unwrap_or_else(|_| python_line(&r))] {
            prop_assert_eq!(disagreement(&line), None);
            let mut damaged = line.clone();
            damaged[at.index(line.len())] = byte;
            prop_assert_eq!(disagreement(&damaged), None);
        }
    }

    /// Any bytes: the readers agree.
    #[test]
    fn the_readers_agree_on_any_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert_eq!(disagreement(&data), None);
    }
}
