//! Benchmark data: realistic records (~450 bytes, like the bundled sample)
//! and template histories of N records, written once per run.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use iteration_history::{IterationRecord, Value, codec};

/// splitmix64 in [0, 1).
fn rand01(i: u64, salt: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Iteration `i` of a learning loop, shaped like the sample's records.
pub(crate) fn record(i: u64) -> IterationRecord {
    let (fast, slow) = (3 + (rand01(i, 1) * 18.0) as u64, 21 + (rand01(i, 2) * 100.0) as u64);
    let mut r = IterationRecord::new(
        i,
        format!(
            "def strategy(data):\n    # sma crossover, tuned \u{2192} fast={fast}, slow={slow}\n    fast = data.close.rolling({fast}).mean()\n    slow = data.close.rolling({slow}).mean()\n    return (fast > slow).astype(int)\n"
        ),
    );
    let ok = rand01(i, 3) > 0.12;
    r.execution_result.insert("success".into(), Value::Bool(ok));
    r.execution_result.insert("execution_time".into(), Value::from(0.8 + rand01(i, 4) * 5.0));
    let sharpe = if ok { rand01(i, 5) * 3.0 - 0.5 } else { f64::NAN };
    r.set_metric("sharpe_ratio", sharpe);
    r.set_metric("total_return", if ok { sharpe * 0.18 } else { f64::NAN });
    r.set_metric("max_drawdown", -rand01(i, 6) * 0.3);
    r.set_metric("win_rate", 0.4 + rand01(i, 7) * 0.25);
    r.classification_level = format!("LEVEL_{}", if ok { (sharpe.max(0.0) as u64).min(3) } else { 0 });
    r.timestamp = format!(
        "2025-03-{:02}T{:02}:{:02}:{:02}.{:06}",
        1 + i / 86_400 % 28,
        i / 3600 % 24,
        i / 60 % 60,
        i % 60,
        i % 1_000_000
    );
    r.champion_updated = ok && rand01(i, 8) > 0.97;
    r
}

/// One encoded line per record, exactly as a single `save` writes it.
pub(crate) fn line(i: u64) -> io::Result<Vec<u8>> {
    codec::encode_line(&record(i)).map_err(io::Error::other)
}

/// A template history of `n` records (the lines single saves would write).
/// Returns its path and size in bytes.
pub(crate) fn template(dir: &Path, n: u64) -> io::Result<(PathBuf, u64)> {
    let path = dir.join(format!("template-{n}.jsonl"));
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&path)?);
    let mut bytes = 0u64;
    for i in 0..n {
        let l = line(i)?;
        bytes += l.len() as u64;
        w.write_all(&l)?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok((path, bytes))
}

/// Copies `from` to `to` and syncs both the file and its directory, so no
/// dirty page of the set-up is flushed while a measurement runs.
pub(crate) fn copy_synced(from: &Path, to: &Path) -> io::Result<()> {
    let _ = fs::remove_file(to);
    fs::copy(from, to)?;
    File::open(to)?.sync_all()?;
    if let Some(parent) = to.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}
