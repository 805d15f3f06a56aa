//! Saves per second of compare-and-append on PostgreSQL next to the file
//! store, measured in the same run on the same machine (see
//! `scripts/bench-postgres`, which starts a throwaway server):
//!
//! ```text
//! ih-store-bench --pg URL [--dir DIR] [--saves N] [--writers W]
//!                [--pgbench-1 TPS] [--pgbench-w TPS] [--pg-only] [--sample-line]
//! ```
//! * 1 writer: one process, one open store, N saves, each
//!   `last_iteration_num` + `append_if` (the learning loop's pattern).
//! * W writer processes (`ih-cas-writer`, next to this binary), N/W saves
//!   each, all racing for the next iteration: retry after each conflict.
//!   The file store is reopened for each attempt (one writing process at a
//!   time holds its lock); PostgreSQL keeps one connection per process.
//! * W threads in one process sharing one store.
//! * W writer processes, each on a history of its own (N/W saves each):
//!   many learning loops sharing one server or one disk.
//! * 1 writer and W writer processes on one history with saves numbered by
//!   the store (`Store::append_next`): no conflicts by design.
//!
//! With `--pgbench-1`/`--pgbench-w` (the transactions per second `pgbench`
//! measured on the same server for a one-row insert of a record's line,
//! with 1 and W clients, as `scripts/bench-postgres` does), a second table
//! gives the PostgreSQL rows as a ratio of those. `--pg-only` skips the
//! file store (its "vs file store" column then reads 1.00×). `--sample-line` prints
//! the JSONL line of a benchmark record and exits (the script inserts it
//! with pgbench).
//!
//! Both stores are fully durable: the file store syncs every commit
//! (`Durability::Full`), PostgreSQL runs with its defaults (`fsync = on`,
//! `synchronous_commit = on`). Every run is checked: exactly the expected
//! records, no gap, none twice. Prints a Markdown table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ih_conformance::{
    Mode, WriterStats, check_exactly_once, check_exactly_once_as, concurrent_processes, concurrent_processes_as,
    concurrent_threads, next_writer, open_store, record,
};
use iteration_history::Store;

struct Args {
    pg: String,
    dir: PathBuf,
    saves: u32,
    writers: u32,
    pgbench_1: Option<f64>,
    pgbench_w: Option<f64>,
    pg_only: bool,
}

fn parse() -> Result<Args, String> {
    let mut pg = None;
    let mut dir = None;
    let mut saves = 1000;
    let mut writers = 8;
    let (mut pgbench_1, mut pgbench_w) = (None, None);
    let mut pg_only = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--pg" => pg = Some(val()?),
            "--dir" => dir = Some(PathBuf::from(val()?)),
            "--saves" => saves = val()?.parse().map_err(|e| format!("--saves: {e}"))?,
            "--writers" => writers = val()?.parse().map_err(|e| format!("--writers: {e}"))?,
            "--pgbench-1" => pgbench_1 = Some(val()?.parse().map_err(|e| format!("--pgbench-1: {e}"))?),
            "--pgbench-w" => pgbench_w = Some(val()?.parse().map_err(|e| format!("--pgbench-w: {e}"))?),
            "--pg-only" => pg_only = true,
            "--sample-line" => {
                let line = iteration_history::codec::encode_line(&record(1000, 3, 1000)).map_err(|e| e.to_string())?;
                print!("{}", String::from_utf8_lossy(&line));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let pg = pg.or_else(|| std::env::var("IH_PG_URL").ok()).ok_or("--pg URL (or IH_PG_URL) is required")?;
    let dir = dir.unwrap_or_else(std::env::temp_dir);
    Ok(Args { pg, dir, saves, writers, pgbench_1, pgbench_w, pg_only })
}

fn with_history(url: &str, name: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}history={name}")
}

/// The store spec of writer `w`'s own history.
type SpecOf<'a> = dyn Fn(u32) -> String + 'a;

struct Row {
    store: &'static str,
    how: String,
    saves: u64,
    seconds: f64,
    conflicts: u64,
}

/// One writer, one open store, `saves` compare-and-append saves.
fn one_writer(spec: &str, saves: u32) -> (f64, u64) {
    let store = open_store(spec, false).expect("open");
    store.clear().expect("clear");
    let start = Instant::now();
    let mut stats = WriterStats::default();
    while stats.saved < saves {
        let last = store.last_iteration_num().expect("last");
        match store.append_if(last, &[record(last.map_or(0, |n| n + 1), 0, stats.saved)]) {
            Ok(_) => stats.saved += 1,
            Err(iteration_history::Error::Conflict { .. }) => stats.conflicts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    check_exactly_once(&*store, 1, saves);
    (secs, stats.conflicts)
}

/// One writer, one open store, `saves` saves numbered by the store.
fn one_writer_next(spec: &str, saves: u32) -> f64 {
    let store = open_store(spec, false).expect("open");
    store.clear().expect("clear");
    let start = Instant::now();
    next_writer(&*store, 0, saves).expect("numbered saves");
    let secs = start.elapsed().as_secs_f64();
    check_exactly_once_as(&*store, 1, saves, Mode::Next);
    secs
}

/// `writers` processes, each with a history of its own (`spec_of(w)`).
fn own_histories(exe: &std::path::Path, spec_of: &dyn Fn(u32) -> String, writers: u32, saves: u32) -> f64 {
    for w in 0..writers {
        open_store(&spec_of(w), false).expect("open").clear().expect("clear");
    }
    let start = Instant::now();
    let children: Vec<_> = (0..writers)
        .map(|w| {
            std::process::Command::new(exe)
                .args([spec_of(w).as_str(), "0", &saves.to_string(), "--keep-open"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success(), "a writer failed");
    }
    let secs = start.elapsed().as_secs_f64();
    for w in 0..writers {
        check_exactly_once(&*open_store(&spec_of(w), true).expect("open"), 1, saves);
    }
    secs
}

fn threads(spec: &str, writers: u32, saves: u32) -> (f64, u64) {
    let store = open_store(spec, false).expect("open");
    let start = Instant::now();
    let stats = concurrent_threads(&*store as &dyn Store, writers, saves);
    (start.elapsed().as_secs_f64(), stats.iter().map(|s| s.conflicts).sum())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ih-store-bench: {e}\nusage: ih-store-bench --pg URL [--dir DIR] [--saves N] [--writers W]");
            return ExitCode::from(2);
        }
    };
    let exe = std::env::current_exe().expect("own path").with_file_name("ih-cas-writer");
    if !exe.exists() {
        eprintln!("ih-store-bench: {} not found: build it (cargo build --release --bins)", exe.display());
        return ExitCode::FAILURE;
    }
    let tmp = args.dir.join(format!("ih-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("bench dir");
    let file = tmp.join("history.jsonl");
    let file = file.to_str().expect("UTF-8 path").to_string();
    let pg = with_history(&args.pg, "bench");
    let (n, w) = (args.saves, args.writers);
    let per = (n / w).max(1);
    let mut rows = Vec::new();
    let file_of = |w: u32| tmp.join(format!("own-{w}.jsonl")).to_str().expect("UTF-8 path").to_string();
    let pg_of = |w: u32| with_history(&args.pg, &format!("bench-own-{w}"));
    let spec_of: [(&'static str, &str, &SpecOf<'_>); 2] =
        [("file", file.as_str(), &file_of), ("PostgreSQL", pg.as_str(), &pg_of)];
    for (store, spec, own) in spec_of {
        if args.pg_only && store == "file" {
            continue;
        }
        // PostgreSQL: each row on a history of its own, so that no row
        // inserts next to the deleted rows of the one before (a clear
        // deletes; VACUUM comes later), which pgbench's table never has.
        let row = |tag: &str| {
            if store == "file" { spec.to_string() } else { with_history(&args.pg, &format!("bench-{tag}")) }
        };
        eprintln!("{store}: 1 writer x {n}");
        let (seconds, conflicts) = one_writer(&row("cas-1"), n);
        rows.push(Row { store, how: "1 writer".into(), saves: u64::from(n), seconds, conflicts });
        eprintln!("{store}: {w} processes x {per}");
        let run = concurrent_processes(&row("cas-w"), &exe, w, per);
        rows.push(Row {
            store,
            how: format!("{w} writer processes, one history"),
            saves: u64::from(w * per),
            seconds: run.elapsed.as_secs_f64(),
            conflicts: run.writers.iter().map(|s| s.conflicts).sum(),
        });
        eprintln!("{store}: {w} threads x {per}");
        let (seconds, conflicts) = threads(&row("threads"), w, per);
        rows.push(Row { store, how: format!("{w} threads, one store"), saves: u64::from(w * per), seconds, conflicts });
        eprintln!("{store}: {w} processes, one history each, x {per}");
        let seconds = own_histories(&exe, own, w, per);
        rows.push(Row {
            store,
            how: format!("{w} writer processes, one history each"),
            saves: u64::from(w * per),
            seconds,
            conflicts: 0,
        });
        eprintln!("{store}: 1 writer x {n}, numbered by the store");
        let seconds = one_writer_next(&row("next-1"), n);
        rows.push(Row { store, how: "1 writer, append_next".into(), saves: u64::from(n), seconds, conflicts: 0 });
        eprintln!("{store}: {w} processes x {per}, numbered by the store");
        let run = concurrent_processes_as(&row("next-w"), &exe, w, per, Mode::Next);
        rows.push(Row {
            store,
            how: format!("{w} writer processes, one history, append_next"),
            saves: u64::from(w * per),
            seconds: run.elapsed.as_secs_f64(),
            conflicts: run.writers.iter().map(|s| s.conflicts).sum(),
        });
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!(
        "| store | writers (compare-and-append) | saves | seconds | saves/s | vs file store | conflicts retried |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let rate = r.saves as f64 / r.seconds;
        let base =
            rows.iter().find(|b| b.store == "file" && b.how == r.how).map_or(rate, |b| b.saves as f64 / b.seconds);
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.2}× | {} |",
            r.store,
            r.how,
            r.saves,
            r.seconds,
            rate,
            rate / base,
            r.conflicts
        );
    }
    if let (Some(p1), Some(pw)) = (args.pgbench_1, args.pgbench_w) {
        println!();
        println!("| PostgreSQL, same server, same run | saves or transactions/s | vs pgbench | conflicts retried |");
        println!("|---|---:|---:|---:|");
        println!("| pgbench, one-row INSERT of a record's line, 1 client | {p1:.0} | 1.00× | |");
        println!("| pgbench, the same, {w} clients | {pw:.0} | 1.00× | |");
        for r in rows.iter().filter(|r| r.store == "PostgreSQL") {
            let rate = r.saves as f64 / r.seconds;
            let base = if r.how.starts_with("1 ") { p1 } else { pw };
            let clients = if r.how.starts_with("1 ") { "1 client" } else { "W clients" };
            println!(
                "| ih-store-bench, {} | {rate:.0} | {:.2}× (of {clients}) | {} |",
                r.how,
                rate / base,
                r.conflicts
            );
        }
    }
    ExitCode::SUCCESS
}
