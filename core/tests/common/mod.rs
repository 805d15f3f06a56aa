//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::Arc;

use iteration_history::storage::{CapStdDir, Dir, MemDir};
use iteration_history::{IterationRecord, Value};

/// A realistic record.
pub fn rec(n: u64) -> IterationRecord {
    let mut r =
        IterationRecord::new(n, format!("def strategy_{n}(data):\n    return data.close.rolling({n}).mean()\n"));
    r.execution_result.insert("success".into(), Value::Bool(!n.is_multiple_of(5)));
    r.execution_result.insert("execution_time".into(), Value::from(0.5 + n as f64 / 100.0));
    r.set_metric("sharpe_ratio", (n as f64 * 0.37).sin() * 2.0);
    r.set_metric("total_return", n as f64 / 1000.0);
    r.set_metric("max_drawdown", -0.1);
    r.classification_level = format!("LEVEL_{}", n % 4);
    r.timestamp = format!("2025-01-01T00:{:02}:{:02}", (n / 60) % 60, n % 60);
    r.champion_updated = n.is_multiple_of(7);
    r
}

/// Both backends: an in-memory directory and a real temp directory.
/// The `TempDir` (if any) must outlive the test.
pub fn backends() -> Vec<(&'static str, Arc<dyn Dir>, Option<tempfile::TempDir>)> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk = CapStdDir::open_ambient(tmp.path()).expect("open tempdir");
    vec![("mem", Arc::new(MemDir::new()) as Arc<dyn Dir>, None), ("disk", Arc::new(disk), Some(tmp))]
}

/// Reads a file of a Dir fully.
pub fn read_all(dir: &dyn Dir, name: &str) -> Vec<u8> {
    let name = iteration_history::storage::FileName::new(name).expect("name");
    let f = dir.open_read(&name).expect("open");
    let len = f.len().expect("len") as usize;
    let mut buf = vec![0u8; len];
    iteration_history::storage::read_exact_at(&*f, &mut buf, 0).expect("read");
    buf
}

/// Writes a file of a Dir (replacing it).
pub fn write_all(dir: &dyn Dir, name: &str, data: &[u8]) {
    let name = iteration_history::storage::FileName::new(name).expect("name");
    if dir.len(&name).expect("len").is_some() {
        dir.remove(&name).expect("remove");
    }
    let mut f = dir.create_new(&name).expect("create");
    f.write_at(data, 0).expect("write");
}

pub fn nums(records: &[IterationRecord]) -> Vec<u64> {
    records.iter().map(|r| r.iteration_num).collect()
}
