//! Property tests: any record round-trips through a line; any bytes decode
//! without a panic; any tail after committed records (torn, zeroed, garbage,
//! or made of pieces of real lines) is recovered without losing a committed
//! record. The bodies are shared with the `cargo fuzz` targets in `tests/fuzz/`.

use iteration_history::codec;
use iteration_history::{IterationRecord, Map, Number, Value};
use iteration_history_testkit::fuzz;
use iteration_history_testkit::records::rec;
use proptest::prelude::*;

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

fn non_blank() -> impl Strategy<Value = String> {
    text().prop_filter("not blank", |s| !s.trim().is_empty())
}

fn record() -> impl Strategy<Value = IterationRecord> {
    (0..=iteration_history::MAX_ITERATION_NUM, text(), map(), map(), non_blank(), non_blank(), any::<bool>(), map())
        .prop_map(|(n, code, exec, metrics, level, ts, champion, extra)| {
            let mut r = IterationRecord::new(n, code);
            r.execution_result = exec;
            r.metrics = metrics;
            r.classification_level = level;
            r.timestamp = ts;
            r.champion_updated = champion;
            // Extra fields may not reuse the record's or our own keys.
            r.extra = extra
                .into_iter()
                .filter(|(k, _)| {
                    !iteration_history::format::FIELDS.contains(&k.as_str())
                        && !iteration_history::format::RESERVED_FIELDS.contains(&k.as_str())
                })
                .collect();
            r
        })
}

/// Cases per property: `IH_PROPTEST_CASES` (scripts/test-crash sets 1000,
/// its long mode 20000), else 64 for a quick `cargo test`.
fn cases() -> u32 {
    std::env::var("IH_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// encode → decode is the identity (NaN, ±inf, -0.0, unicode, control
    /// characters, extra fields, any nesting), the line is one line of
    /// strict JSON, and encoding is stable.
    #[test]
    fn any_record_round_trips_through_one_strict_json_line(r in record()) {
        let line = codec::encode_line(&r).expect("a valid record encodes");
        prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        prop_assert_eq!(line.last(), Some(&b'\n'));
        serde_json::from_slice::<serde_json::Value>(&line).expect("strict JSON that Python and jq read");
        let (back, info) = codec::decode_line(&line).expect("decodes");
        prop_assert!(info.checksummed);
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(codec::encode_line(&back).expect("encodes"), line);
    }

    /// A batch's lines decode to its records, in order.
    #[test]
    fn any_batch_round_trips(rs in prop::collection::vec(record(), 1..5)) {
        let bodies: Vec<_> = rs.iter().map(|r| codec::encode_body(r).expect("valid")).collect();
        let mut out = Vec::new();
        codec::finish_commit(&bodies, bodies.len(), &mut out);
        let back: Vec<IterationRecord> = out
            .split_inclusive(|&b| b == b'\n')
            .map(|l| codec::decode_line(l).expect("decodes").0)
            .collect();
        prop_assert_eq!(back, rs);
    }

    /// Any bytes: no panic; whatever decodes re-encodes stably.
    #[test]
    fn decoding_any_bytes_never_panics(data in prop::collection::vec(any::<u8>(), 0..400)) {
        fuzz::decode_line(&data);
    }

    /// A real line with one byte changed (bit rot): it is rejected, never
    /// read as a different record (also not as another tool's unchecked
    /// line with an odd field).
    #[test]
    fn a_line_with_one_byte_changed_is_rejected_never_misread(
        r in record(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let line = codec::encode_line(&r).expect("encodes");
        let i = at.index(line.len() - 1); // not the final newline
        prop_assume!(line[i] != byte);
        let mut damaged = line.clone();
        damaged[i] = byte;
        fuzz::decode_line(&damaged);
        if let Ok((got, info)) = codec::decode_line(&damaged) {
            // Only a change the checksum does not need to cover (e.g. `\r`
            // or `\n` turning the line end into a blank) may decode, and only
            // to the same record.
            prop_assert!(info.checksummed, "read as unchecked: {:?}", String::from_utf8_lossy(&damaged));
            prop_assert_eq!(got, r);
        }
    }

    /// Several bytes cut, inserted or changed: no panic.
    #[test]
    fn a_line_damaged_anyhow_never_panics(
        r in record(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    ) {
        let mut damaged = codec::encode_line(&r).expect("encodes");
        for (at, byte, kind) in edits {
            let i = at.index(damaged.len().max(1));
            match kind {
                0 if i < damaged.len() => damaged[i] = byte,
                1 => damaged.truncate(i),
                _ => damaged.insert(i.min(damaged.len()), byte),
            }
        }
        fuzz::decode_line(&damaged);
    }

    /// Any tail after committed records: recovery never panics and never
    /// loses a committed record.
    #[test]
    fn recovery_keeps_every_committed_record_whatever_the_tail(
        committed in 0u8..12,
        tail in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        fuzz::recover_tail(committed, &tail);
    }

    /// Tails made of pieces of real lines (torn writes, zeros, a second copy
    /// of a line, garbage after a newline).
    #[test]
    fn recovery_of_realistic_torn_tails(
        committed in 0u8..8,
        pieces in prop::collection::vec((0u64..20, any::<prop::sample::Index>(), 0..4u8), 1..4),
    ) {
        let mut tail = Vec::new();
        for (n, cut, kind) in pieces {
            let line = codec::encode_line(&rec(n)).expect("line");
            match kind {
                0 => tail.extend_from_slice(&line[..cut.index(line.len())]),
                1 => tail.extend(std::iter::repeat_n(0u8, cut.index(600))),
                2 => {
                    let mut l = line.clone();
                    let i = cut.index(l.len());
                    l[i] ^= 0x20;
                    tail.extend(l);
                }
                _ => tail.extend(line),
            }
        }
        fuzz::recover_tail(committed, &tail);
    }
}
