//! Records for the tests: realistic, deterministic, distinguishable.

use iteration_history::{IterationRecord, Value};

/// Record `n` of a workload, as a learning loop writes it (its strategy code
/// has several lines and non-ASCII text, its metrics are finite).
pub fn rec(n: u64) -> IterationRecord {
    let mut r = IterationRecord::new(
        n,
        format!(
            "def strategy_{n}(data):\n    # período {n} – “momentum”\n    return data.close.rolling({}).mean()\n",
            n % 50 + 2
        ),
    );
    r.execution_result.insert("success".into(), Value::Bool(!n.is_multiple_of(5)));
    r.execution_result.insert("execution_time".into(), Value::from(0.5 + n as f64 / 100.0));
    r.set_metric("sharpe_ratio", (n as f64 * 0.37).sin() * 2.0);
    r.set_metric("total_return", n as f64 / 1000.0);
    r.set_metric("max_drawdown", -0.1 - (n % 7) as f64 / 100.0);
    r.classification_level = format!("LEVEL_{}", n % 4);
    r.timestamp = format!("2025-01-01T{:02}:{:02}:{:02}", (n / 3600) % 24, (n / 60) % 60, n % 60);
    r.champion_updated = n.is_multiple_of(7);
    r
}

/// Record `n` tagged with the writer that made it (`writer`, `seq` extra
/// fields), for multi-writer tests.
pub fn tagged(writer: u64, seq: u64) -> IterationRecord {
    let mut r = rec(writer * 1_000_000 + seq);
    r.extra.insert("writer".into(), Value::from(writer));
    r.extra.insert("seq".into(), Value::from(seq));
    r
}

/// The `iteration_num`s of some records.
pub fn nums(records: &[IterationRecord]) -> Vec<u64> {
    records.iter().map(|r| r.iteration_num).collect()
}
