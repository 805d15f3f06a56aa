//! One learning-loop writer process for the many-writers checks and the
//! benchmark: `ih-cas-writer STORE WRITER SAVES [--keep-open]` makes SAVES
//! compare-and-append saves to STORE (a `postgres://` URL or a JSONL file
//! path), retrying after each conflict, and prints
//! `saved N conflicts C seconds S`.
//!
//! A file store is reopened for each attempt, so that several processes
//! take turns on its writer lock (one writing process at a time), unless
//! `--keep-open` (a history of its own).

use std::process::ExitCode;
use std::time::Instant;

use iteration_history_postgres::is_postgres_url;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let next = args.iter().any(|a| a == "--next");
    args.retain(|a| a != "--next");
    let (keep_open, args) = match args.split_last() {
        Some((last, rest)) if last == "--keep-open" => (true, rest),
        _ => (false, &args[..]),
    };
    let [spec, writer, saves] = args else {
        eprintln!("usage: ih-cas-writer STORE WRITER SAVES [--keep-open] [--next]");
        return ExitCode::from(2);
    };
    let (Ok(writer), Ok(saves)) = (writer.parse::<u32>(), saves.parse::<u32>()) else {
        eprintln!("ih-cas-writer: WRITER and SAVES must be numbers");
        return ExitCode::from(2);
    };
    let reopen = !is_postgres_url(spec) && !keep_open;
    let start = Instant::now();
    let run = if next {
        // The file store's writer lock is per process: keep it open while
        // saving (the processes take turns), then let the next one have it.
        ih_conformance::open_store(spec, false).and_then(|s| ih_conformance::next_writer(&*s, writer, saves))
    } else {
        ih_conformance::cas_writer(&mut || ih_conformance::open_store(spec, false), reopen, writer, saves)
    };
    match run {
        Ok(stats) => {
            println!(
                "saved {} conflicts {} seconds {:.3}",
                stats.saved,
                stats.conflicts,
                start.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ih-cas-writer {writer}: {e}");
            ExitCode::FAILURE
        }
    }
}
