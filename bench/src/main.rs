//! Benchmarks of `iteration-history` against the original module's
//! algorithm, SQLite and the fsync floor. Not part of the test suite.
//!
//! ```text
//! cargo run --release -p iteration-history-bench            # full run (several minutes)
//! cargo run --release -p iteration-history-bench -- --quick # small sizes, a smoke run
//! cargo run --release -p iteration-history-bench -- --decode # decoding only: 100k-record files, get_all's peak at 1M
//! options: --dir DIR (default target/bench-data; must be on the disk to measure,
//!          not a tmpfs), --rounds N (default 3; medians are reported),
//!          --open-only (only the new-process saves and the reads)
//! ```
//! Prints Markdown tables (absolute times, then ratios) for the README.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use iteration_history::storage::CapStdDir;
use iteration_history::{History, Options};

mod counting;
mod data;
mod decode;
mod reopen;
mod saves;

use saves::Method;

struct Args {
    dir: PathBuf,
    rounds: usize,
    quick: bool,
    decode: bool,
    /// Only the new-process saves and the reads (`--open-only`).
    open_only: bool,
}

fn parse_args() -> Result<Result<Args, (String, PathBuf)>, String> {
    let mut args = std::env::args().skip(1);
    let mut out =
        Args { dir: PathBuf::from("target/bench-data"), rounds: 3, quick: false, decode: false, open_only: false };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" => out.dir = args.next().ok_or("--dir needs a directory")?.into(),
            "--rounds" => {
                out.rounds =
                    args.next().and_then(|s| s.parse().ok()).filter(|&n| n > 0).ok_or("--rounds needs N > 0")?
            }
            "--quick" => out.quick = true,
            "--decode" => out.decode = true,
            "--open-only" => out.open_only = true,
            "--child" => {
                let op = args.next().ok_or("--child needs OP PATH")?;
                let path = args.next().ok_or("--child needs OP PATH")?;
                return Ok(Err((op, path.into())));
            }
            other => return Err(format!("unknown argument {other:?}; see the source's header for usage")),
        }
    }
    Ok(Ok(out))
}

fn main() -> ExitCode {
    let result = match parse_args() {
        Err(e) => Err(io::Error::other(e)),
        Ok(Err((op, path))) => child(&op, &path),
        Ok(Ok(args)) => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iteration-history-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn size_label(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{}M", n / 1_000_000),
        n if n >= 1000 && n.is_multiple_of(1000) => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn machine(dir: &Path) -> Vec<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(|| "unknown".into(), |kb| format!("{} GiB", kb / (1 << 20)));
    let df = sh("df", &["-T", &dir.display().to_string()]);
    let fs = df.lines().nth(1).map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        format!(
            "{} on {} (mounted at {})",
            f.get(1).unwrap_or(&"?"),
            f.first().unwrap_or(&"?"),
            f.last().unwrap_or(&"?")
        )
    });
    vec![
        format!("- date: {}", sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
        format!(
            "- machine: {} cores (`nproc`), {cpu}, {mem} RAM, Linux {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            sh("uname", &["-r"])
        ),
        format!("- file system of the data directory (`df -T`): {}", fs.unwrap_or_else(|| "unknown".into())),
        format!("- SQLite {} (rusqlite, bundled)", rusqlite::version()),
    ]
}

fn run(args: &Args) -> io::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let dir = args.dir.canonicalize()?;
    let work = dir.join("work");
    std::fs::create_dir_all(&work)?;
    println!("# iteration-history benchmarks\n");
    for l in machine(&dir) {
        println!("{l}");
    }
    println!("- rounds: {} (saves: every save of every round counts; reads: medians of repeated calls)", args.rounds);
    println!("- load average at the start (1, 5, 15 min): {}\n", loadavg());
    if args.decode {
        decode::bench(&dir, if args.quick { 10_000 } else { 100_000 })?;
        let n = if args.quick { 100_000 } else { 1_000_000 };
        eprintln!("memory: building the {n}-record history");
        let (big, _) = data::template(&dir, n)?;
        bench_memory(&big, &["open", "iter", "get_all"])?;
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }
    let save_sizes: &[u64] = if args.quick { &[100, 1000] } else { &[100, 1000, 10_000, 100_000] };
    let read_sizes: &[u64] = if args.quick { &[10_000] } else { &[10_000, 100_000, 1_000_000] };
    let saves_per_run = 100;
    if !args.open_only {
        bench_saves(args, &dir, &work, save_sizes, saves_per_run)?;
        bench_threads(&dir, &work, if args.quick { 80 } else { 400 })?;
    }
    let np_sizes: &[u64] = if args.quick { &[100, 10_000] } else { &[100, 10_000, 100_000, 1_000_000] };
    reopen::bench(&dir, &work, np_sizes)?;
    let big = bench_reads(&dir, read_sizes)?;
    if !args.open_only {
        bench_memory(&big, &["open", "load_recent", "last_iteration_num", "verify", "count", "iter", "get_all"])?;
    }
    println!("Load average at the end (1, 5, 15 min): {}", loadavg());
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn bench_saves(args: &Args, dir: &Path, work: &Path, sizes: &[u64], saves: u64) -> io::Result<()> {
    let methods = [
        Method::Floor,
        Method::Append,
        Method::SqliteWal,
        Method::SqliteDelete,
        Method::Rewrite,
        Method::Original,
        Method::OriginalParsing,
        Method::AppendNoSync,
    ];
    // Per (method, size): mean and median time of one save over all rounds.
    let mut mean: BTreeMap<(usize, u64), f64> = BTreeMap::new();
    let mut med: BTreeMap<(usize, u64), f64> = BTreeMap::new();
    for &n in sizes {
        eprintln!("saves: building the {n}-record templates");
        let t = saves::templates(dir, n)?;
        let mut all: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
        for round in 0..args.rounds {
            eprintln!("saves: n={n} round {}", round + 1);
            for (m, d) in saves::measure(&methods, &t, work, saves, 1)?.into_iter().enumerate() {
                all.entry(m).or_default().extend(d);
            }
        }
        for (m, v) in all {
            let total: Duration = v.iter().sum();
            mean.insert((m, n), ms(total) / v.len() as f64);
            med.insert((m, n), ms(median(v)));
        }
    }
    let heads: Vec<String> = sizes.iter().map(|&n| format!("{} records", size_label(n))).collect();
    let table = |title: &str, cell: &dyn Fn(usize, u64) -> String| {
        println!("{title}\n");
        println!("| method | {} |", heads.join(" | "));
        println!("|---|{}", "---:|".repeat(sizes.len()));
        for (m, method) in methods.iter().enumerate() {
            let cells: Vec<String> = sizes.iter().map(|&n| cell(m, n)).collect();
            println!("| {} | {} |", method.name(), cells.join(" | "));
        }
        println!();
    };
    let idx = |x: Method| methods.iter().position(|&m| m == x).unwrap_or(0);
    let append = idx(Method::Append);
    println!("## {saves} saves on a history of N records\n");
    println!(
        "Each round opens every method on a fresh copy of an N-record history and makes {saves} saves with each; \
         the methods take turns save by save (the order rotating), and after each save of a method that does not \
         sync, all dirty pages are flushed (untimed), so the methods meet the same disk conditions. {} rounds.\n",
        args.rounds
    );
    table(&format!("Mean time per save in ms (the time of {saves} saves is 100× this; absolute):"), &|m, n| {
        format!("{:.3}", mean[&(m, n)])
    });
    table("Median time per save in ms (absolute; robust to bursts of other disk traffic):", &|m, n| {
        format!("{:.3}", med[&(m, n)])
    });
    table("Ratios of the mean times: method ÷ `Append` (above 1: slower than Append):", &|m, n| {
        format!("{:.2}×", mean[&(m, n)] / mean[&(append, n)])
    });
    let ratio = |a: Method, b: Method, n: u64| mean[&(idx(a), n)] / mean[&(idx(b), n)];
    let ratio_med = |a: Method, b: Method, n: u64| med[&(idx(a), n)] / med[&(idx(b), n)];
    let list = |f: &dyn Fn(u64) -> f64| sizes.iter().map(|&n| format!("{:.2}×", f(n))).collect::<Vec<_>>().join(", ");
    println!("Goals (ratios of means; of medians in brackets):\n");
    let ok = sizes.iter().all(|&n| ratio(Method::Append, Method::Floor, n) <= 1.2);
    println!(
        "- Append ÷ floor: {} [{}] (goal ≤ 1.2×): {}",
        list(&|n| ratio(Method::Append, Method::Floor, n)),
        list(&|n| ratio_med(Method::Append, Method::Floor, n)),
        met(ok)
    );
    if sizes.contains(&10_000) {
        let r = ratio(Method::Original, Method::Append, 10_000);
        let rm = ratio_med(Method::Original, Method::Append, 10_000);
        println!("- original algorithm ÷ Append at 10k records: {r:.1}× [{rm:.1}×] (goal ≥ 100×): {}", met(r >= 100.0));
        let f = ratio(Method::Original, Method::Floor, 10_000);
        println!("  - original algorithm ÷ floor at 10k records (no durable save can beat the floor): {f:.1}×");
        let r2 = ratio(Method::Original, Method::AppendNoSync, 10_000);
        println!("  - without syncs on either side (original ÷ Append with Durability::None): {r2:.0}×");
        let p = ratio(Method::OriginalParsing, Method::Append, 10_000);
        let pm = ratio_med(Method::OriginalParsing, Method::Append, 10_000);
        println!(
            "- original algorithm as the module ran it (records parsed + re-serialized) ÷ Append at 10k records: {p:.1}× [{pm:.1}×] (goal ≥ 100×): {}",
            met(p >= 100.0)
        );
    }
    let ok = sizes.iter().all(|&n| ratio(Method::SqliteWal, Method::Append, n) >= 1.0);
    println!(
        "- SQLite WAL ÷ Append: {} [{}] (goal ≥ 1.0× at every size): {}\n",
        list(&|n| ratio(Method::SqliteWal, Method::Append, n)),
        list(&|n| ratio_med(Method::SqliteWal, Method::Append, n)),
        met(ok)
    );
    Ok(())
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn bench_threads(dir: &Path, work: &Path, total: u64) -> io::Result<()> {
    let t = data::template(dir, 1000)?.0;
    println!("## Save throughput with several threads (one shared `History`, Append, durable)\n");
    println!("{total} saves in all, split evenly between the threads; syncs counted by a wrapping `Dir`.\n");
    println!("| threads | saves | fdatasyncs | saves per sync | time (ms) | saves/s | ÷ 1 thread |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut base = None;
    for threads in [1u64, 4, 8] {
        eprintln!("threads: {threads}");
        let path = work.join("threads.jsonl");
        data::copy_synced(&t, &path)?;
        let (cdir, syncs) = counting::CountingDir::new(CapStdDir::open_ambient(work)?);
        let h = Arc::new(History::open(cdir, "threads.jsonl", Options::default()).map_err(io::Error::other)?);
        saves::sync_all();
        syncs.store(0, Ordering::SeqCst);
        let per = total / threads;
        let t0 = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let h = h.clone();
                std::thread::spawn(move || -> io::Result<()> {
                    for j in 0..per {
                        h.save(&data::record(1000 + k * per + j)).map_err(io::Error::other)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().map_err(|_| io::Error::other("a thread panicked"))??;
        }
        let elapsed = t0.elapsed();
        let n = syncs.load(Ordering::SeqCst);
        let rate = (per * threads) as f64 / elapsed.as_secs_f64();
        let b = *base.get_or_insert(rate);
        println!(
            "| {threads} | {} | {n} | {:.2} | {:.0} | {rate:.0} | {:.2}× |",
            per * threads,
            (per * threads) as f64 / n.max(1) as f64,
            ms(elapsed),
            rate / b
        );
    }
    println!();
    Ok(())
}

/// CPU time used by this thread so far (less sensitive than wall-clock time
/// to other processes competing for the cores).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Medians of wall-clock and thread CPU time over `runs` calls of `f`.
fn time_median(runs: usize, mut f: impl FnMut() -> io::Result<()>) -> io::Result<(Duration, Duration)> {
    let mut wall = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (c0, t0) = (thread_cpu(), Instant::now());
        f()?;
        wall.push(t0.elapsed());
        cpu.push(thread_cpu().saturating_sub(c0));
    }
    Ok((median(wall), median(cpu)))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// Returns the path of the largest history (for the memory section).
fn bench_reads(dir: &Path, sizes: &[u64]) -> io::Result<PathBuf> {
    let mut rows: Vec<(String, Vec<String>)> = vec![
        ("`load_recent(5)`, read-only handle (µs)".into(), vec![]),
        ("`last_iteration_num`, read-only handle (µs)".into(), vec![]),
        ("`count`, read-only handle: scans checksums (ms)".into(), vec![]),
        ("open for writing, no checkpoint: one scan, then O(1) (ms)".into(), vec![]),
        ("`get_all` (ms)".into(), vec![]),
        ("`get_all` throughput, wall clock (MB/s)".into(), vec![]),
        ("`get_all` throughput, CPU time (MB/s)".into(), vec![]),
        ("`iter()` streaming throughput, CPU time (MB/s)".into(), vec![]),
        ("history size (MB)".into(), vec![]),
    ];
    let mut last = PathBuf::new();
    for &n in sizes {
        eprintln!("reads: building the {n}-record history");
        let (path, bytes) = data::template(dir, n)?;
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("").to_string();
        let reader = History::open_read_only(CapStdDir::open_ambient(dir)?, &name).map_err(io::Error::other)?;
        let e = io::Error::other;
        // No checkpoint (an earlier run may have left one for these bytes).
        let _ = std::fs::remove_file(dir.join(format!("{name}.idx")));
        // Warm the page cache once: these are warm-cache figures.
        reader.count().map_err(e)?;
        let recent = time_median(201, || reader.load_recent(5).map(drop).map_err(e))?;
        let lastn = time_median(201, || reader.last_iteration_num().map(drop).map_err(e))?;
        let count = time_median(3, || reader.count().map(drop).map_err(e))?;
        // Without a checkpoint (the open writes one; delete it each time).
        let idx = dir.join(format!("{name}.idx"));
        let open = time_median(3, || {
            let _ = std::fs::remove_file(&idx);
            History::open(CapStdDir::open_ambient(dir)?, &name, Options::default()).map(drop).map_err(e)
        })?;
        let _ = std::fs::remove_file(&idx);
        let all = time_median(3, || reader.get_all().map(drop).map_err(e))?;
        let stream = time_median(3, || {
            for r in reader.iter().map_err(e)? {
                r.map_err(e)?;
            }
            Ok(())
        })?;
        let mb = bytes as f64 / 1e6;
        let cells = [
            format!("{:.1} (CPU {:.1})", us(recent.0), us(recent.1)),
            format!("{:.1} (CPU {:.1})", us(lastn.0), us(lastn.1)),
            format!("{:.1}", ms(count.0)),
            format!("{:.1}", ms(open.0)),
            format!("{:.0}", ms(all.0)),
            format!("{:.0}", mb / all.0.as_secs_f64()),
            format!("{:.0}", mb / all.1.as_secs_f64()),
            format!("{:.0}", mb / stream.1.as_secs_f64()),
            format!("{mb:.1}"),
        ];
        for (row, c) in rows.iter_mut().zip(cells) {
            row.1.push(c);
        }
        last = path;
    }
    println!("## Reads (warm page cache; medians)\n");
    let heads: Vec<String> = sizes.iter().map(|&n| format!("{} records", size_label(n))).collect();
    println!("| operation | {} |", heads.join(" | "));
    println!("|---|{}", "---:|".repeat(sizes.len()));
    for (label, cells) in rows {
        println!("| {label} | {} |", cells.join(" | "));
    }
    println!();
    Ok(last)
}

fn bench_memory(path: &Path, ops: &[&str]) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    let size = std::fs::metadata(path)?.len() as f64 / 1e6;
    let records = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix("template-"))
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    println!("## Peak memory on the {}-record history ({size:.0} MB)\n", size_label(records));
    println!("Each operation runs in a fresh child process; peak resident memory is its `VmHWM`.\n");
    println!("| operation (read-only handle) | peak RSS (MB) | above the open-only baseline (MB) | peak ÷ file size |");
    println!("|---|---:|---:|---:|");
    let mut baseline = None;
    let mut get_all = 0.0;
    for &op in ops {
        eprintln!("memory: {op}");
        let out = Command::new(&exe).arg("--child").arg(op).arg(path).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!("child {op}: {}", String::from_utf8_lossy(&out.stderr))));
        }
        let kb: f64 = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("child printed no VmHWM"))?;
        let mb = kb / 1024.0;
        let b = *baseline.get_or_insert(mb);
        let label = match op {
            "open" => "open only (baseline)".to_string(),
            "load_recent" => "`load_recent(5)`".to_string(),
            "iter" => "`iter()` over every record (streaming)".to_string(),
            other => format!("`{other}`"),
        };
        println!("| {label} | {mb:.1} | {:.1} | {:.2}× |", mb - b, mb * 1.048_576 / size);
        if op == "get_all" {
            get_all = mb * 1.048_576 / size;
        }
    }
    println!();
    println!("- `get_all` peak RSS ÷ file size: {get_all:.2}× (goal ≤ 2×): {}\n", met(get_all <= 2.0));
    Ok(())
}

/// A child process: runs one read operation on `path`, prints its peak RSS.
fn child(op: &str, path: &Path) -> io::Result<()> {
    if op == "save" {
        let n = std::env::var("IHIST_BENCH_RECORD").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        return reopen::child_save(path, n);
    }
    let dir = path.parent().ok_or_else(|| io::Error::other("no parent"))?;
    let name = path.file_name().and_then(|s| s.to_str()).ok_or_else(|| io::Error::other("no name"))?;
    let h = History::open_read_only(CapStdDir::open_ambient(dir)?, name).map_err(io::Error::other)?;
    let e = io::Error::other;
    match op {
        "open" => {}
        "load_recent" => drop(h.load_recent(5).map_err(e)?),
        "last_iteration_num" => drop(h.last_iteration_num().map_err(e)?),
        "verify" => drop(h.verify().map_err(e)?),
        "count" => drop(h.count().map_err(e)?),
        "get_all" => drop(h.get_all().map_err(e)?),
        "iter" => {
            for r in h.iter().map_err(e)? {
                drop(r.map_err(e)?);
            }
        }
        other => return Err(io::Error::other(format!("unknown op {other}"))),
    }
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .ok_or_else(|| io::Error::other("no VmHWM in /proc/self/status"))?;
    println!("VmHWM_kB {hwm}");
    Ok(())
}
