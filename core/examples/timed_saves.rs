//! The native baseline of `scripts/bench-packages`: opens history FILE
//! (in its directory), saves N copies of the record in TEMPLATE (one JSON
//! line; `iteration_num` counts up from the history's last + 1), each a
//! durable commit, and prints the median and mean time per save in
//! microseconds: `native-save-us median=… mean=…`.
//!
//! `cargo run --release -p iteration-history --example timed_saves -- FILE TEMPLATE N [none]`
//! (`none`: `Durability::None`, no syncs: the library's own cost).

use std::path::Path;
use std::time::{Duration, Instant};

use iteration_history::storage::CapStdDir;
use iteration_history::{Durability, History, Options, codec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (file, template, n, durability) = match &args[..] {
        [f, t, n] => (f, t, n, Durability::Full),
        [f, t, n, d] if d == "none" => (f, t, n, Durability::None),
        _ => return Err("usage: timed_saves FILE TEMPLATE N [none]".into()),
    };
    let n: usize = n.parse()?;
    let path = Path::new(file);
    let dir = CapStdDir::open_ambient(path.parent().unwrap_or(Path::new(".")))?;
    let name = path.file_name().and_then(|s| s.to_str()).ok_or("FILE needs a file name")?;
    let line = std::fs::read(template)?;
    let (mut rec, _) = codec::decode_line(line.trim_ascii_end()).map_err(|e| e.to_string())?;
    let h = History::open(dir, name, Options::default().durability(durability))?;
    let start = h.last_iteration_num()?.map_or(0, |l| l + 1);
    let mut times: Vec<Duration> = Vec::with_capacity(n);
    for i in 0..n as u64 {
        rec.iteration_num = start + i;
        let t = Instant::now();
        h.save(&rec)?;
        times.push(t.elapsed());
    }
    let mean = times.iter().sum::<Duration>().as_secs_f64() * 1e6 / n.max(1) as f64;
    times.sort();
    let median = times.get(n / 2).map_or(0.0, |d| d.as_secs_f64() * 1e6);
    println!("native-save-us median={median:.1} mean={mean:.1}");
    Ok(())
}
