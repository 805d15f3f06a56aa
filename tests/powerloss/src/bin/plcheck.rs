//! Host-side checker: replays a dm-log-writes log at every FLUSH, FUA and
//! mark after `mkfs` and checks the history there (see the crate docs).
//!
//! ```text
//! plcheck --log LOG.img --size DATA_BYTES --work DIR [--jobs N] [--expect pass|fail] [--stride K] [--verbose]
//! plcheck --log LOG.img --list           # print the log's entries
//! plcheck --log LOG.img --replay N --out IMAGE --size DATA_BYTES   # replay entries 0..=N
//! ```
//! Exit status 0 when the outcome is the expected one: `pass` (default):
//! every point passed; `fail` (the control run): at least one point failed
//! *because acknowledged records were missing* (a control that failed only
//! on `e2fsck`, a missing directory or a reader error does not count), which
//! shows the checks can catch loss. Every failed point is printed with its
//! reason: `LOST n records` or `no acknowledged record missing`.

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;

use iteration_history_powerloss::check::{self, Config, Seen};
use iteration_history_powerloss::log_format::Log;

const USAGE: &str = "usage: plcheck --log LOG --size BYTES --work DIR [--jobs N] [--expect pass|fail] [--stride K] [--verbose]\n       \
                     plcheck --log LOG --list\n       \
                     plcheck --log LOG --replay N --out IMAGE --size BYTES";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("plcheck: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn value(flag: &str, v: Option<String>) -> Result<String, String> {
    v.ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
}

fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = value(flag, v)?;
    v.parse().map_err(|_| format!("{flag}: `{v}` is not a number"))
}

fn run() -> Result<ExitCode, String> {
    let mut log = None;
    let mut size = None;
    let mut work = None;
    let mut jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut expect_pass = true;
    let mut stride = 1;
    let mut verbose = false;
    let mut list = false;
    let mut replay = None;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--log" => log = Some(PathBuf::from(value(&flag, args.next())?)),
            "--size" => size = Some(number::<u64>(&flag, args.next())?),
            "--work" => work = Some(PathBuf::from(value(&flag, args.next())?)),
            "--jobs" => jobs = number(&flag, args.next())?,
            "--stride" => stride = number(&flag, args.next())?,
            "--expect" => {
                expect_pass = match value(&flag, args.next())?.as_str() {
                    "pass" => true,
                    "fail" => false,
                    other => return Err(format!("--expect: `{other}` is not pass or fail")),
                }
            }
            "--verbose" => verbose = true,
            "--list" => list = true,
            "--replay" => replay = Some(number::<usize>(&flag, args.next())?),
            "--out" => out = Some(PathBuf::from(value(&flag, args.next())?)),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let log = log.ok_or_else(|| format!("--log is required\n{USAGE}"))?;
    if list {
        let parsed = Log::open(&log).map_err(|e| e.to_string())?;
        println!("sector size {}, {} entries", parsed.sectorsize(), parsed.entries().len());
        for e in parsed.entries() {
            println!(
                "{:6} {:9} sector {:10} +{:6}{}",
                e.index,
                e.kind(),
                e.sector,
                e.nr_sectors,
                e.mark.as_deref().map(|m| format!(" {m}")).unwrap_or_default()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let size = size.ok_or_else(|| format!("--size is required\n{USAGE}"))?;
    if let Some(n) = replay {
        let out = out.ok_or_else(|| format!("--replay needs --out\n{USAGE}"))?;
        let parsed = Log::open(&log).map_err(|e| e.to_string())?;
        let f = File::create(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
        f.set_len(size).map_err(|e| format!("sizing {}: {e}", out.display()))?;
        parsed.replay(n, &f).map_err(|e| e.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let work = work.ok_or_else(|| format!("--work is required\n{USAGE}"))?;
    let cfg = Config { log: log.clone(), image_size: size, work, jobs, dir_in_fs: "runs".into(), stride };
    let report = check::check(&cfg)?;
    let name = report.workload.clone().unwrap_or_else(|| log.display().to_string());
    let failed: Vec<_> = report.failed().collect();
    let lost = report.lost().count();
    let kinds: Vec<String> = report.kinds().iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "plcheck: {name}: {} points checked ({}), {} failed, {lost} of them with acknowledged records missing; {} operations acknowledged; {} log entries; {:.1} s",
        report.points.len(),
        kinds.join(", "),
        failed.len(),
        report.ops,
        report.entries,
        report.seconds
    );
    println!(
        "plcheck: {name}: the history held the acknowledged bytes at {} points, plus a torn tail of the operation \
         in flight at {}, the in-flight operation complete at {}",
        report.seen(Seen::Acknowledged),
        report.seen(Seen::TornTail),
        report.seen(Seen::InFlightDone)
    );
    for p in &report.run_problems {
        println!("plcheck: {name}: RUN PROBLEM: {p}");
    }
    let shown = if verbose { failed.len() } else { failed.len().min(8) };
    for p in &failed[..shown] {
        let reason = if p.lost.is_empty() {
            "no acknowledged record missing".to_string()
        } else {
            format!("LOST {} acknowledged records: {}", p.lost.len(), check::fmt_nums(&p.lost))
        };
        println!(
            "plcheck: {name}:   entry {} {}{} (after {} acknowledged operations): {reason}:",
            p.entry,
            p.kind,
            p.mark.as_deref().map(|m| format!(" {m}")).unwrap_or_default(),
            p.acked
        );
        for problem in &p.problems {
            println!("plcheck: {name}:     {problem}");
        }
    }
    if failed.len() > shown {
        println!("plcheck: {name}:   ... and {} more failed points (--verbose lists all)", failed.len() - shown);
    }
    let ok = report.run_problems.is_empty()
        && !report.points.is_empty()
        && if expect_pass { failed.is_empty() } else { lost > 0 };
    let verdict = match (expect_pass, ok) {
        (true, true) => "PASS",
        (true, false) => "FAIL",
        (false, true) => "FAILED AS EXPECTED (acknowledged records missing: the checks caught the loss)",
        (false, false) => "FAIL (the control was expected to lose acknowledged records, and no point lost any)",
    };
    println!(
        "PLCHECK-SUMMARY workload={name} points={} failed={} lost={lost} ops={} torn={} inflight={} expect={} verdict={}",
        report.points.len(),
        failed.len(),
        report.ops,
        report.seen(Seen::TornTail),
        report.seen(Seen::InFlightDone),
        if expect_pass { "pass" } else { "fail" },
        if ok { "ok" } else { "BAD" }
    );
    println!("plcheck: {name}: {verdict}");
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
