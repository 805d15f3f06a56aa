//! Helpers: run the real `ihist` binary on real files.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const IHIST: &str = env!("CARGO_BIN_EXE_ihist");

/// Runs `ihist` with `args` in `dir`, standard input empty.
pub fn ihist(dir: &Path, args: &[&str]) -> Output {
    ihist_stdin(dir, args, b"")
}

/// Runs `ihist` with `args` in `dir`, `stdin` on standard input.
pub fn ihist_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(IHIST)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ihist");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    child.wait_with_output().expect("wait")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns standard output.
#[track_caller]
pub fn ok(o: Output) -> String {
    assert!(o.status.success(), "exit {:?}\nstdout: {}\nstderr: {}", o.status.code(), stdout(&o), stderr(&o));
    stdout(&o)
}

/// Asserts exit code `code` and a one-line error on stderr; returns it.
#[track_caller]
pub fn fails(o: Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("ihist: error: "), "{err}");
    err
}

/// A record as one JSON line, as the original module's `json.dumps` writes it.
pub fn record(n: u64) -> String {
    format!(
        r#"{{"iteration_num": {n}, "strategy_code": "def s(d):\n    return d.close > {n}\n", "execution_result": {{"success": {}, "execution_time": 1.5}}, "metrics": {{"sharpe_ratio": {}, "total_return": 0.1}}, "classification_level": "LEVEL_{}", "timestamp": "2025-01-01T00:00:{:02}", "champion_updated": {}}}"#,
        n % 5 != 4,
        if n % 5 == 4 { "NaN".to_string() } else { format!("{:.2}", n as f64 / 10.0) },
        n % 4,
        n % 60,
        n % 5 != 4 && n.is_multiple_of(3)
    )
}

/// `records` lines of JSONL.
pub fn jsonl(range: std::ops::Range<u64>) -> String {
    range.map(|n| record(n) + "\n").collect()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

/// Parses JSON lines of stdout.
pub fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

pub fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).expect("JSON")
}

/// Whether python3 exists. CI must have it (`CI` set: missing is a failure);
/// elsewhere the Python tests are skipped with a note.
pub fn python3() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found || std::env::var_os("CI").is_none(), "python3 is required in CI");
    found
}

/// Runs a python3 script with arguments; asserts success; returns stdout.
pub fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The original Python module's save algorithm: every save rewrites the whole
/// file with `json.dumps(record)` per line to `<file>.tmp` and renames it.
pub const ORIGINAL_MODULE: &str = r#"
import json, math, os, sys
path, n = sys.argv[1], int(sys.argv[2])
records = []
for i in range(n):
    ok = i % 7 != 3
    records.append({
        "iteration_num": i,
        "strategy_code": "def strategy(data):\n    # caf\u00e9 \u2192 %d\n    return data.close.pct_change(%d) > 0\n" % (i, i % 9 + 1),
        "execution_result": {"success": ok, "execution_time": 0.25 * i} if ok else
            {"success": False, "execution_time": 0.1, "error": "ZeroDivisionError: division by zero"},
        "metrics": {"sharpe_ratio": (i % 11) / 5.0 if ok else float("nan"),
                    "total_return": 0.01 * i, "max_drawdown": -math.inf if not ok else -0.05},
        "classification_level": "LEVEL_%d" % (i % 4),
        "timestamp": "2025-02-01T10:%02d:%02d.123456" % (i // 60 % 60, i % 60),
        "champion_updated": ok and i % 5 == 0,
    })
    with open(path + ".tmp", "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    os.replace(path + ".tmp", path)
"#;

/// Writes a history of `n` records with the original module's algorithm.
pub fn python_history(path: &Path, n: u64) {
    let count = n.to_string();
    let out = Command::new("python3").arg("-c").arg(ORIGINAL_MODULE).arg(path).arg(&count).output().expect("python3");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The content of a chunked body (streamed responses of unknown length).
pub fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let n = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).expect("ascii").trim(), 16).expect("hex");
        raw = &raw[eol + 2..];
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..n]);
        assert_eq!(&raw[n..n + 2], b"\r\n");
        raw = &raw[n + 2..];
    }
}
