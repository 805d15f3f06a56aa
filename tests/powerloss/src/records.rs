//! The records the workloads save: a pure function of the iteration number,
//! so the host checker knows every expected byte without being told.

use iteration_history::{IterationRecord, Value};

/// `iteration_num` of the record the checker saves to prove that a
/// recovered history accepts new saves.
pub const PROBE: u64 = 9_000_000_000;

/// splitmix64: a small, well-mixed deterministic generator.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A number in [0, 1) derived from `i` and `salt`, with few digits so
/// that it prints short.
fn unit(i: u64, salt: u64) -> f64 {
    (mix(i ^ salt.wrapping_mul(0x1000_0000_01B3)) % 1_000_000) as f64 / 1_000_000.0
}

/// Length of record `i`'s `strategy_code`: mostly a few hundred bytes, one
/// record in four between 3 and 12 KiB, so that lines straddle 4 KiB file
/// system blocks and a single save can span several of them.
pub fn code_len(i: u64) -> usize {
    let r = mix(i);
    if r.is_multiple_of(4) { 3_000 + (r >> 8) as usize % 9_000 } else { 150 + (r >> 8) as usize % 600 }
}

/// Record `i` of the workloads: every field of the original module, a mix
/// of sizes, non-ASCII text and, one record in five, a `NaN` metric (kept
/// by the `_nonfinite` index).
pub fn record(i: u64) -> IterationRecord {
    let len = code_len(i);
    let mut code = format!("def strategy_{i}(data):\n    # rendement attendu: 5 % — 収益\n");
    let mut line = 0u64;
    while code.len() < len {
        code.push_str(&format!("    signal_{line} = data.close.rolling({}).mean()\n", 2 + (mix(i + line) % 60)));
        line += 1;
    }
    code.push_str("    return signal_0 > 0\n");
    let mut rec = IterationRecord::new(i, code);
    let ok = !mix(i ^ 0xA5).is_multiple_of(5);
    rec.execution_result.insert("success".into(), Value::Bool(ok));
    rec.execution_result.insert("execution_time".into(), Value::from(0.5 + 3.0 * unit(i, 1)));
    if !ok {
        rec.execution_result.insert("error".into(), Value::from(format!("TimeoutError: iteration {i} exceeded 60 s")));
    }
    rec.set_metric("sharpe_ratio", if ok { 3.0 * unit(i, 2) - 0.5 } else { f64::NAN });
    rec.set_metric("total_return", unit(i, 3) - 0.2);
    rec.set_metric("max_drawdown", -unit(i, 4) * 0.4);
    rec.metrics.insert("num_trades".into(), Value::from(mix(i) % 500));
    rec.classification_level = format!("LEVEL_{}", mix(i ^ 7) % 4);
    rec.timestamp = format!("2025-03-{:02}T{:02}:{:02}:{:02}", 1 + i % 28, (i / 60) % 24, i % 60, (i * 7) % 60);
    rec.champion_updated = i.is_multiple_of(7);
    rec
}

/// The corrupt line the `repair` workload writes with plain file I/O: not
/// JSON, with invalid UTF-8, ended by `\n`.
pub fn garbage_line(i: u64) -> Vec<u8> {
    let mut line = format!("### damaged line {i}: ").into_bytes();
    line.extend_from_slice(b"\xff\xfe\x00\x01 {\"iteration_num\": ");
    line.extend_from_slice(format!("{i}, \"strategy_code\": \"trunc\n").as_bytes());
    line
}
