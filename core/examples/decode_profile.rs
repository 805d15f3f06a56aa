//! Runs only `History::iter()` over the given history files, to profile the
//! decoder without anything else in the process:
//! `cargo run --release -p iteration-history --example decode_profile -- FILE...`
//! (for example the benchmark's `target/bench-data/*-100000.jsonl`).

use std::path::Path;
use std::time::Duration;

use iteration_history::History;
use iteration_history::storage::CapStdDir;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    for arg in std::env::args().skip(1) {
        let path = Path::new(&arg);
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().and_then(|s| s.to_str()).ok_or("no file name")?;
        let h = History::open_read_only(CapStdDir::open_ambient(dir)?, name)?;
        let mb = std::fs::metadata(path)?.len() as f64 / 1e6;
        // CPU time is counted in scheduler ticks on some kernels: time all
        // the rounds together.
        let t = cpu();
        for _ in 0..rounds {
            let mut n = 0u64;
            for r in h.iter()? {
                r?;
                n += 1;
            }
            std::hint::black_box(n);
        }
        let secs = (cpu() - t).as_secs_f64() / rounds as f64;
        println!("{arg}: {:.0} MB/s of CPU time (mean of {rounds})", mb / secs);
    }
    Ok(())
}

/// CPU time of this thread so far (Linux: `/proc/thread-self/schedstat`).
fn cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(s.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0))
}
