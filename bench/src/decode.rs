//! Decoding speed: the core's reader next to `serde_json::Value` and
//! CPython's `json.loads`, one line at a time, on the same two files: one
//! written by CPython (`json.dumps` defaults: bare `NaN`, `\uXXXX` escapes)
//! and one written by this library (checksums, `_nonfinite`).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use iteration_history::History;
use iteration_history::storage::CapStdDir;

use crate::{data, met, time_median};

/// Rewrites `from` (one of our histories) as CPython's `json.dumps` writes
/// each record (the original module's format), with python3.
fn python_copy(from: &Path, to: &Path) -> io::Result<()> {
    let script = r#"
import json, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "w") as out:
    for line in f:
        r = json.loads(line)
        r.pop("_ih", None)
        for ptr, kind in r.pop("_nonfinite", {}).items():
            parts = ptr.split("/")[1:]
            d = r
            for p in parts[:-1]:
                d = d[p]
            d[parts[-1]] = float(kind.lower().replace("infinity", "inf"))
        out.write(json.dumps(r) + "\n")
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(from).arg(to).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("python3: {}", String::from_utf8_lossy(&out.stderr))));
    }
    Ok(())
}

/// CPU seconds of CPython's `json.loads` over every line (median of 3), and
/// the number of lines.
fn python_loads(path: &Path) -> io::Result<f64> {
    let script = r#"
import json, sys, time
times = []
for _ in range(3):
    t0 = time.process_time()
    with open(sys.argv[1], "rb") as f:
        for line in f:
            json.loads(line)
    times.append(time.process_time() - t0)
print(sorted(times)[1])
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(path).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("python3: {}", String::from_utf8_lossy(&out.stderr))));
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| io::Error::other("python3 printed no time"))
}

/// `serde_json::Value` on every line; returns the lines it refused (bare
/// `NaN` and `Infinity` are not JSON to it).
fn serde_lines(path: &Path) -> io::Result<u64> {
    let mut r = BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut line = Vec::new();
    let mut refused = 0;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(refused);
        }
        if serde_json::from_slice::<serde_json::Value>(&line).is_err() {
            refused += 1;
        }
    }
}

/// Prints the decoding table for a `records`-record history (made in `dir`).
pub(crate) fn bench(dir: &Path, records: u64) -> io::Result<()> {
    eprintln!("decode: building the {records}-record files");
    let (ours, _) = data::template(dir, records)?;
    let py: PathBuf = dir.join(format!("python-{records}.jsonl"));
    python_copy(&ours, &py)?;
    let e = io::Error::other;
    let mut rows: Vec<[String; 3]> = Vec::new();
    let mut ratios = Vec::new();
    for (label, path) in [("CPython-written", &py), ("library-written", &ours)] {
        eprintln!("decode: {label}");
        let mb = std::fs::metadata(path)?.len() as f64 / 1e6;
        let name =
            path.file_name().and_then(|s| s.to_str()).ok_or_else(|| io::Error::other("no file name"))?.to_string();
        let h = History::open_read_only(CapStdDir::open_ambient(dir)?, &name).map_err(e)?;
        let rate = |d: Duration| mb / d.as_secs_f64();
        h.count().map_err(e)?; // warm the page cache
        let iter = time_median(5, || {
            for r in h.iter().map_err(e)? {
                r.map_err(e)?;
            }
            Ok(())
        })?;
        let all = time_median(5, || h.get_all().map(drop).map_err(e))?;
        let mut refused = 0;
        let serde = time_median(5, || {
            refused = serde_lines(path)?;
            Ok(())
        })?;
        let python = python_loads(path)?;
        rows.push([
            format!("{label} ({mb:.0} MB)"),
            format!(
                "{:.0} | {:.0} | {:.0}{} | {:.0}",
                rate(iter.1),
                rate(all.1),
                rate(serde.1),
                if refused > 0 { format!(" ({refused} lines refused)") } else { String::new() },
                mb / python
            ),
            String::new(),
        ]);
        ratios.push((label, rate(iter.1) / rate(serde.1), rate(iter.1) / (mb / python)));
    }
    println!("## Decoding, one line at a time ({records} records; MB/s of CPU time, medians)\n");
    println!(
        "| file | `History::iter()` | `History::get_all()` | `serde_json::Value` | CPython `json.loads` (python3, child process) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for [a, b, _] in &rows {
        println!("| {a} | {b} |");
    }
    println!();
    for (label, vs_serde, vs_py) in ratios {
        println!(
            "- {label}: `iter()` ÷ `serde_json::Value` {vs_serde:.2}× (goal ≥ 1.0×): {}; ÷ CPython {vs_py:.1}× (goal ≥ 5×): {}",
            met(vs_serde >= 1.0),
            met(vs_py >= 5.0)
        );
    }
    println!();
    Ok(())
}
