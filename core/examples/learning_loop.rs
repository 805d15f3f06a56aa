//! A simulated learning loop: resumes a history (seeded from the bundled
//! sample written by the original Python module), runs more iterations,
//! saves each one durably, and prints the most recent ones.
//!
//! ```text
//! cargo run -p iteration-history --example learning_loop -- [HISTORY] [ITERATIONS]
//! ```
//! `HISTORY` defaults to `target/demo/history.jsonl`; if it does not exist it
//! starts as a copy of `samples/history.jsonl`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use iteration_history::storage::CapStdDir;
use iteration_history::{History, IterationRecord, Options, Value};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A small deterministic random generator (xorshift), seeded per iteration.
fn rand01(seed: u64) -> f64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().unwrap_or_else(|| "target/demo/history.jsonl".into()));
    let iterations: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).ok_or("the history path must end in a file name")?;
    if !path.exists() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/history.jsonl");
        std::fs::create_dir_all(parent)?;
        std::fs::copy(&sample, &path)?;
        println!("seeded {} from {}", path.display(), sample.display());
    }
    let dir = CapStdDir::open_ambient(parent)?;
    let history = History::open(dir, name, Options::default())?;
    if let Some(report) = history.recovery_report()
        && let Some(torn) = &report.torn_tail
    {
        println!("recovered: moved a torn tail of {} bytes to {}", torn.bytes, torn.sidecar);
    }
    // Resume where the loop stopped, and with the champion it had.
    let start = history.last_iteration_num()?.map_or(0, |n| n + 1);
    let mut best = history
        .get_all()?
        .iter()
        .filter(|r| r.success() == Some(true))
        .filter_map(|r| r.metric("sharpe_ratio"))
        .filter(|s| s.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    println!("resuming at iteration {start} ({} records, best sharpe {best:.4})", history.count()?);
    for i in start..start + iterations {
        let ok = rand01(i) > 0.1;
        let sharpe = if ok { (rand01(i + 7) - 0.3) * 3.0 } else { f64::NAN };
        let mut rec = IterationRecord::new(
            i,
            format!("def strategy(data):\n    return data.close.pct_change({}) > 0\n", 1 + i % 9),
        );
        rec.execution_result.insert("success".into(), Value::Bool(ok));
        rec.execution_result.insert("execution_time".into(), Value::from(0.5 + rand01(i + 3) * 4.0));
        if !ok {
            rec.execution_result.insert("error".into(), Value::from("TimeoutError: backtest exceeded 60 s"));
        }
        rec.set_metric("sharpe_ratio", sharpe);
        rec.set_metric("total_return", if ok { sharpe * 0.15 } else { f64::NAN });
        rec.set_metric("max_drawdown", -rand01(i + 11) * 0.3);
        rec.classification_level = format!("LEVEL_{}", if !ok { 0 } else { (sharpe.max(0.0) as u64).min(3) });
        rec.timestamp = format!("2025-04-01T{:02}:{:02}:00", (i / 60) % 24, i % 60);
        rec.champion_updated = ok && sharpe > best;
        if rec.champion_updated {
            best = sharpe;
        }
        history.save(&rec)?;
    }
    println!("saved {iterations} iterations durably to {}; {} records in all", history.file(), history.count()?);
    println!("\n{:>9}  {:>8}  {:>7}  {:<8}  champion", "iteration", "sharpe", "success", "level");
    for r in history.load_recent(5)? {
        println!(
            "{:>9}  {:>8.4}  {:>7}  {:<8}  {}",
            r.iteration_num,
            r.metric("sharpe_ratio").unwrap_or(f64::NAN),
            r.success().map_or("?", |s| if s { "yes" } else { "no" }),
            r.classification_level,
            if r.champion_updated { "*" } else { "" }
        );
    }
    Ok(())
}
