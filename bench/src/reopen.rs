//! A new process per save, as the CLI, a component instance or a script
//! makes it: open for writing + one durable save + close, at 100 to 1M
//! records; and `count()` on a read-only handle at each size.

use std::io;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use iteration_history::storage::CapStdDir;
use iteration_history::{History, Options};

use crate::{data, median, ms, size_label};

/// Saves per size (each in a fresh process).
const SAVES: u64 = 41;

/// The child: open `path` for writing, save record `n`, close. Prints the
/// time of the three together and of each, in nanoseconds, and the bytes
/// the open scanned.
pub(crate) fn child_save(path: &Path, n: u64) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("no parent"))?;
    let name = path.file_name().and_then(|s| s.to_str()).ok_or_else(|| io::Error::other("no name"))?;
    let started = Instant::now();
    let h = History::open(CapStdDir::open_ambient(dir)?, name, Options::default()).map_err(io::Error::other)?;
    let opened = started.elapsed();
    let scanned = h.recovery_report().map_or(0, |r| r.scanned_bytes);
    h.save(&data::record(n)).map_err(io::Error::other)?;
    let saved = started.elapsed();
    drop(h);
    let all = started.elapsed();
    println!(
        "{} {scanned} {} {} {}",
        all.as_nanos(),
        opened.as_nanos(),
        (saved - opened).as_nanos(),
        (all - saved).as_nanos()
    );
    Ok(())
}

struct Row {
    n: u64,
    first_open: Duration,
    first_scanned: u64,
    in_process: Duration,
    parts: [Duration; 3],
    wall: Duration,
    scanned: u64,
    count: Duration,
    count_no_checkpoint: Duration,
}

/// Per size: times in the process, wall times, and open/save/close times.
type Samples = (Vec<Duration>, Vec<Duration>, [Vec<Duration>; 3]);

pub(crate) fn bench(dir: &Path, work: &Path, sizes: &[u64]) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    // Set-up of every size first, then the sizes take turns save by save,
    // so that they meet the same disk conditions (other load comes and goes).
    for &n in sizes {
        eprintln!("new-process saves: the {n}-record history");
        let (template, _) = data::template(dir, n)?;
        let path = work.join(format!("np-{n}.jsonl"));
        data::copy_synced(&template, &path)?;
        let _ = std::fs::remove_file(work.join(format!("np-{n}.jsonl.idx")));
        let name = format!("np-{n}.jsonl");
        // The first writer of a history without a checkpoint scans it all;
        // closing after a save writes the checkpoint, and a new process
        // after that reads only the tail.
        let started = Instant::now();
        let h = History::open(CapStdDir::open_ambient(work)?, &name, Options::default()).map_err(io::Error::other)?;
        let first_scanned = h.recovery_report().map_or(0, |r| r.scanned_bytes);
        h.save(&data::record(n + SAVES)).map_err(io::Error::other)?;
        drop(h);
        rows.push(Row {
            n,
            first_open: started.elapsed(),
            first_scanned,
            in_process: Duration::ZERO,
            parts: [Duration::ZERO; 3],
            wall: Duration::ZERO,
            scanned: 0,
            count: Duration::ZERO,
            count_no_checkpoint: Duration::ZERO,
        });
    }
    let mut samples: Vec<Samples> = sizes.iter().map(|_| Default::default()).collect();
    for i in 0..SAVES {
        for (k, row) in rows.iter_mut().enumerate() {
            let n = row.n;
            let path = work.join(format!("np-{n}.jsonl"));
            let started = Instant::now();
            let out = Command::new(&exe)
                .arg("--child")
                .arg("save")
                .arg(&path)
                .env("IHIST_BENCH_RECORD", (n + i).to_string())
                .output()?;
            let (inside, wall, times) = &mut samples[k];
            wall.push(started.elapsed());
            if !out.status.success() {
                return Err(io::Error::other(format!("child save: {}", String::from_utf8_lossy(&out.stderr))));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut parts = text.split_whitespace();
            let nanos: u64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other("no time"))?;
            row.scanned = row.scanned.max(parts.next().and_then(|s| s.parse().ok()).unwrap_or(0));
            inside.push(Duration::from_nanos(nanos));
            for p in times.iter_mut() {
                p.push(Duration::from_nanos(parts.next().and_then(|s| s.parse().ok()).unwrap_or(0)));
            }
        }
    }
    for (row, (inside, wall, times)) in rows.iter_mut().zip(samples) {
        let n = row.n;
        row.in_process = median(inside);
        row.wall = median(wall);
        row.parts = times.map(median);
        let name = format!("np-{n}.jsonl");
        let reader = History::open_read_only(CapStdDir::open_ambient(work)?, &name).map_err(io::Error::other)?;
        let expected = n + SAVES + 1;
        row.count = crate::time_median(5, || {
            let c = reader.count().map_err(io::Error::other)?;
            if c != expected {
                return Err(io::Error::other(format!("count {c}, expected {expected}")));
            }
            Ok(())
        })?
        .0;
        std::fs::remove_file(work.join(format!("np-{n}.jsonl.idx")))?;
        row.count_no_checkpoint = crate::time_median(3, || reader.count().map(drop).map_err(io::Error::other))?.0;
        std::fs::remove_file(work.join(&name))?;
    }
    println!("## A new process per save (open for writing + one durable save + close)\n");
    println!(
        "Each size: a copy of the N-record history, opened once by this process, which saves one record and closes it (no checkpoint yet: the open scans the whole file; the close writes the checkpoint); then {SAVES} saves per size, each by a fresh process (`iteration-history-bench --child save`) that opens the history, saves one record durably and closes it, the sizes taking turns save by save. Medians; \"in the process\" is open + save + close as the child timed it, \"wall\" adds process start and exit. `count()` on a read-only handle (warm cache, median of 5), with the checkpoint and after deleting it.\n"
    );
    let heads: Vec<String> = rows.iter().map(|r| format!("{} records", size_label(r.n))).collect();
    println!("| | {} |", heads.join(" | "));
    println!("|---|{}", "---:|".repeat(rows.len()));
    let line = |label: &str, f: &dyn Fn(&Row) -> String| {
        println!("| {label} | {} |", rows.iter().map(f).collect::<Vec<_>>().join(" | "));
    };
    line("open + save + close, in the process (ms)", &|r| format!("{:.3}", ms(r.in_process)));
    line("… of which open (ms)", &|r| format!("{:.3}", ms(r.parts[0])));
    line("… of which save (ms)", &|r| format!("{:.3}", ms(r.parts[1])));
    line("… of which close (ms)", &|r| format!("{:.3}", ms(r.parts[2])));
    line("the same, process wall time (ms)", &|r| format!("{:.3}", ms(r.wall)));
    line("bytes an open scanned (max)", &|r| r.scanned.to_string());
    line("first writer without a checkpoint: open + save + close (ms)", &|r| format!("{:.1}", ms(r.first_open)));
    line("bytes that first open scanned", &|r| r.first_scanned.to_string());
    line("`count()`, read-only handle, checkpoint (ms)", &|r| format!("{:.3}", ms(r.count)));
    line("`count()`, read-only handle, no checkpoint (ms)", &|r| format!("{:.1}", ms(r.count_no_checkpoint)));
    println!();
    if let (Some(small), Some(big)) = (rows.first(), rows.last()) {
        let ratio = ms(big.in_process) / ms(small.in_process);
        let wall = ms(big.wall) / ms(small.wall);
        println!(
            "- new-process save at {} ÷ at {} records: {ratio:.2}× in the process, {wall:.2}× wall (goal ≤ 3×): {}\n",
            size_label(big.n),
            size_label(small.n),
            crate::met(ratio <= 3.0)
        );
    }
    Ok(())
}
