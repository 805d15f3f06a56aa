//! `ihist demo`: a simulated learning loop. It starts from the bundled
//! sample history (written by the original Python module) when the target
//! does not exist (a file) or is empty (PostgreSQL), resumes after its last
//! iteration otherwise, saves each new iteration durably with
//! compare-and-append, and prints a summary.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use atomic_write_file::AtomicWriteFile;
use iteration_history::{IterationRecord, Value};
use std::io::Write;

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::progress;
use crate::summary::{SHARPE, Summary};
use crate::target::{HistoryPath, Opened, Target};

/// The sample history, written by the original Python module
/// (`samples/make_sample.py`): 60 records, `json.dumps` defaults.
const SAMPLE: &[u8] = include_bytes!("sample.jsonl");

/// Where `ihist demo` writes when no history is given (inside `target/`,
/// which git ignores).
pub(crate) const DEFAULT_HISTORY: &str = "target/demo/history.jsonl";

/// splitmix64: a small deterministic generator, one stream per (iteration, salt).
fn rand01(i: u64, salt: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal sample (Box-Muller).
fn gauss(i: u64, salt: u64) -> f64 {
    let u1 = rand01(i, salt).max(1e-12);
    let u2 = rand01(i, salt + 1);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The current time as Python's `datetime.now(timezone.utc).isoformat()`
/// without the offset: `2025-03-01T12:34:56.789012`.
pub(crate) fn now_iso() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// One simulated iteration: a strategy is generated and backtested; the
/// mean sharpe ratio improves as the loop learns; about 12% of runs fail.
/// `best` is the best sharpe so far: beating it makes a new champion.
pub(crate) fn simulate(i: u64, best: f64, timestamp: String) -> IterationRecord {
    const INDICATORS: [&str; 7] = ["sma", "ema", "rsi", "macd", "bollinger", "momentum", "atr"];
    const ERRORS: [&str; 3] =
        ["KeyError: 'close'", "ZeroDivisionError: division by zero", "TimeoutError: backtest exceeded 60 s"];
    let fast = 3 + (rand01(i, 1) * 18.0) as u64;
    let slow = 21 + (rand01(i, 2) * 100.0) as u64;
    let ind = INDICATORS[(rand01(i, 3) * 7.0) as usize % 7];
    let code = format!(
        "def strategy(data):\n    # {ind} crossover, tuned \u{2192} fast={fast}, slow={slow}\n    fast = data.close.rolling({fast}).mean()\n    slow = data.close.rolling({slow}).mean()\n    return (fast > slow).astype(int)\n"
    );
    let mut rec = IterationRecord::new(i, code);
    let ok = rand01(i, 4) > 0.12;
    rec.execution_result.insert("success".into(), Value::Bool(ok));
    if ok {
        let mean = 0.6 + 1.2 * (1.0 - (-(i as f64) / 80.0).exp());
        let sharpe = round4(mean + gauss(i, 5) * 0.45);
        rec.execution_result.insert("execution_time".into(), Value::from(round4(0.8 + rand01(i, 7) * 5.2)));
        rec.set_metric(SHARPE, sharpe);
        rec.set_metric("total_return", round4(sharpe * 0.18 + gauss(i, 8) * 0.05));
        rec.set_metric("max_drawdown", round4(-(0.15 + gauss(i, 10) * 0.07).abs()));
        rec.set_metric("win_rate", round4(0.4 + rand01(i, 12) * 0.25));
        let level = if sharpe > 1.2 {
            3
        } else if sharpe > 0.8 {
            2
        } else if sharpe > 0.0 {
            1
        } else {
            0
        };
        rec.classification_level = format!("LEVEL_{level}");
        rec.champion_updated = sharpe > best;
    } else {
        rec.execution_result.insert("execution_time".into(), Value::from(round4(0.1 + rand01(i, 7) * 0.9)));
        rec.execution_result.insert("error".into(), Value::from(ERRORS[(rand01(i, 13) * 3.0) as usize % 3]));
        rec.set_metric(SHARPE, f64::NAN);
        rec.set_metric("total_return", f64::NAN);
        rec.set_metric("max_drawdown", f64::NEG_INFINITY);
        rec.set_metric("win_rate", 0.0);
        rec.classification_level = "LEVEL_0".into();
    }
    rec.timestamp = timestamp;
    rec
}

/// Creates `history` as a copy of the bundled sample, atomically and
/// durably (temp file, fsync, rename, directory fsync).
fn seed(history: &HistoryPath) -> Result<()> {
    let path = history.path();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent, "create the directory", &e))?;
    }
    let mut file = AtomicWriteFile::open(path).map_err(|e| CliError::io(path, "create the history", &e))?;
    file.write_all(SAMPLE).map_err(|e| CliError::io(path, "write the sample history", &e))?;
    file.commit().map_err(|e| CliError::io(path, "commit the sample history", &e))
}

/// Seeds an empty store other than a file with the bundled sample, byte
/// for byte, in one commit (refused if another writer filled it first).
fn seed_store(ctx: &Ctx, h: &Opened) -> Result<()> {
    use iteration_history::ImportMode;
    if h.is_file() {
        return Ok(());
    }
    let store = h.store();
    if store.count()? > 0 {
        return Ok(());
    }
    let mut input = SAMPLE;
    store.import_jsonl(&mut input, ImportMode::IntoEmpty, &mut |_| {})?;
    ctx.note(format!(
        "seeded {} from the bundled sample: 60 iterations written by the original Python module",
        h.name()
    ));
    Ok(())
}

/// Runs the demo: `iterations` new iterations, each saved durably.
pub(crate) fn run(ctx: &Ctx, history: &Target, iterations: u64) -> Result {
    if let Some(path) = history.as_file()
        && !path.exists()
    {
        seed(path)?;
        ctx.note(format!(
            "seeded {} from the bundled sample: 60 iterations written by the original Python module",
            path.display()
        ));
    }
    let h = history.writer(ctx, true)?;
    seed_store(ctx, &h)?;
    let mut summary = Summary::of(ctx, &h)?;
    let mut last = h.store().last_iteration_num()?;
    let start = last.map_or(0, |n| n + 1);
    ctx.note(format!(
        "resuming {} at iteration {start} ({} records, best sharpe {})",
        h.name(),
        summary.records,
        crate::render::float(summary.best_sharpe())
    ));
    let pb = progress::items(ctx, iterations, "learning loop");
    let t0 = Instant::now();
    for i in start..start + iterations {
        let rec = simulate(i, summary.best_sharpe(), now_iso());
        // Compare-and-append: another writer's iteration i is a conflict.
        h.store().append_if(last, std::slice::from_ref(&rec))?;
        last = Some(i);
        summary.add(&rec);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let recent = h.store().load_recent(5)?;
    if ctx.json {
        let mut v = summary.to_json(&h.name(), &recent);
        v["saved"] = iterations.into();
        v["seconds"] = secs.into();
        ctx.out_json(&v)?;
    } else {
        let per = if iterations > 0 {
            format!(", {:.2} ms per save", secs * 1000.0 / iterations as f64)
        } else {
            String::new()
        };
        let how = if h.is_file() { "each synced to disk before the next" } else { "each committed before the next" };
        ctx.out(format!("saved {iterations} iterations durably ({how}) in {secs:.2} s{per}"))?;
        ctx.out("")?;
        for line in summary.to_text(&h.name(), &recent) {
            ctx.out(line)?;
        }
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_records_are_valid_and_deterministic() {
        let mut best = f64::NEG_INFINITY;
        let mut failures = 0;
        for i in 0..500 {
            let r = simulate(i, best, "2025-01-01T00:00:00".into());
            r.validate().expect("valid record");
            assert_eq!(r, simulate(i, best, "2025-01-01T00:00:00".into()));
            if r.success() == Some(false) {
                failures += 1;
                assert!(!r.champion_updated);
            } else if r.champion_updated {
                best = r.metric(SHARPE).expect("sharpe");
            }
        }
        assert!((20..120).contains(&failures), "about 12% fail: {failures}");
    }

    #[test]
    fn timestamps_look_like_python_isoformat() {
        let t = now_iso();
        assert_eq!(t.len(), 26, "{t}");
        assert_eq!(&t[4..5], "-");
        assert_eq!(&t[10..11], "T");
        assert!(t.as_str() > "2025-01-01");
    }

    #[test]
    fn the_sample_is_bundled() {
        assert_eq!(SAMPLE.iter().filter(|&&b| b == b'\n').count(), 60);
    }
}
