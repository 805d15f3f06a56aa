//! `ihist`: the command-line tool for iteration histories — crash-safe JSONL
//! files of learning-loop iterations (see the `iteration-history` crate).
//!
//! Read commands (`recent`, `last`, `count`, `show`, `stats`, `verify`,
//! `export`, `view`) open the history read-only and take no lock, so they
//! work while a loop is writing it. Write commands (`save`, `import`,
//! `repair`, `compact`, `demo`) take the history's writer lock.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod check;
mod ctx;
mod demo;
mod error;
mod export;
mod import;
mod input;
mod progress;
mod read;
mod render;
mod save;
mod summary;
mod target;
mod view;

use ctx::Ctx;
use error::{CliError, Result};
use target::HistoryPath;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (verify: the history is healthy)
  1  error: bad input, missing file, I/O error, ... (one line on stderr names the file and what to do)
  2  usage error (bad arguments)
  3  verify: torn tail (the unfinished last write of a crashed writer; the next writer moves it aside)
  4  the history is corrupt: a bad line followed by valid ones (run `ihist repair`)
  5  another process holds the history's writer lock (see --lock-timeout)";

/// Keep a crash-safe history of learning-loop iterations (one JSON object per line).
#[derive(Debug, Parser)]
#[command(name = "ihist", version, after_help = EXIT_CODES)]
struct Cli {
    /// Machine-readable output: JSON objects, records as JSON lines; no progress bars.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars and no notes on standard error.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Writers wait up to SECONDS for another writer to release the history (default: fail at once).
    #[arg(long, global = true, value_name = "SECONDS")]
    lock_timeout: Option<f64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Save a record durably (JSON argument, or JSONL on standard input)
    ///
    /// Without RECORD (or with `-`), read standard input: one JSON object per
    /// line, several lines saved as one all-or-nothing batch. Creates the
    /// history and its directory if needed.
    Save {
        /// The history file (e.g. runs/history.jsonl).
        history: PathBuf,
        /// The record as JSON, or `-` for standard input.
        record: Option<String>,
    },
    /// Show the last N records, oldest first (reads backwards from the end).
    Recent {
        /// The history file.
        history: PathBuf,
        /// How many records.
        #[arg(short = 'n', long = "number", default_value_t = 5)]
        n: usize,
    },
    /// Print the last iteration_num (where a loop resumes).
    Last {
        /// The history file.
        history: PathBuf,
    },
    /// Print the number of records.
    Count {
        /// The history file.
        history: PathBuf,
    },
    /// Show the record(s) with iteration_num N in full.
    Show {
        /// The history file.
        history: PathBuf,
        /// The iteration_num.
        iteration: u64,
    },
    /// Summarise: records, success rate, best sharpe ratio, champion, levels
    Stats {
        /// The history file.
        history: PathBuf,
    },
    /// Check every line; exit code 0 healthy, 3 torn tail, 4 corrupt
    ///
    /// Checks the JSON and checksum of every line and changes nothing; a torn
    /// tail or bad lines are listed with line numbers and byte offsets.
    Verify {
        /// The history file.
        history: PathBuf,
    },
    /// Move a torn tail and bad lines to sidecar files, keep the rest
    ///
    /// The torn tail goes to HISTORY.torn.N, bad lines to HISTORY.bad.N; the
    /// rest is rewritten atomically.
    Repair {
        /// The history file.
        history: PathBuf,
    },
    /// Rewrite atomically in canonical form (adds missing checksums)
    ///
    /// Lines written by other tools get checksums; blank lines are dropped.
    Compact {
        /// The history file.
        history: PathBuf,
    },
    /// Export a snapshot as JSONL or CSV, to a file or standard output
    ///
    /// JSONL is the history byte for byte; CSV has one row per record and
    /// nested fields flattened to columns such as metrics.sharpe_ratio. A file
    /// is written atomically (temp file, fsync, rename).
    Export {
        /// The history file.
        history: PathBuf,
        /// Output file (`-` or absent: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Format (default: csv if FILE ends in .csv, else jsonl).
        #[arg(short, long, value_enum)]
        format: Option<export::Format>,
    },
    /// Append the records of another JSONL file as one commit
    ///
    /// For example a history written by the original Python module. A bad
    /// line is reported with its line number and byte offset, and nothing is
    /// written.
    Import {
        /// The history file (created if needed).
        history: PathBuf,
        /// The JSONL file to import.
        input: PathBuf,
    },
    /// Serve the browser viewer with this history on 127.0.0.1
    ///
    /// Prints the URL, then serves until Ctrl-C.
    View {
        /// The history file.
        history: PathBuf,
        /// Port (0: any free port).
        #[arg(long, default_value_t = 8765)]
        port: u16,
        /// The viewer's files (default: web-viewer/www of this repository; build
        /// them with scripts/build-viewer).
        #[arg(long, value_name = "DIR")]
        www: Option<PathBuf>,
    },
    /// Run a simulated learning loop, then print a summary
    ///
    /// Starts from the bundled sample history (written by the original Python
    /// module) if HISTORY does not exist, resumes after its last iteration
    /// otherwise, saves N iterations durably, and prints a summary.
    Demo {
        /// The history file.
        #[arg(default_value = demo::DEFAULT_HISTORY)]
        history: PathBuf,
        /// Number of iterations to run.
        #[arg(short = 'n', long = "iterations", default_value_t = 100)]
        iterations: u64,
    },
}

fn run(cli: Cli) -> Result {
    let lock_timeout = match cli.lock_timeout {
        None => None,
        Some(s) => Some(Duration::try_from_secs_f64(s).map_err(|_| {
            CliError::new("usage", format!("--lock-timeout {s}: must be a number of seconds, 0 or more"))
        })?),
    };
    let ctx = Ctx { json: cli.json, quiet: cli.quiet, lock_timeout };
    let path = |p: &PathBuf| HistoryPath::new(p);
    match &cli.command {
        Command::Save { history, record } => save::run(&ctx, &path(history)?, record.as_deref()),
        Command::Recent { history, n } => read::recent(&ctx, &path(history)?, *n),
        Command::Last { history } => read::last(&ctx, &path(history)?),
        Command::Count { history } => read::count(&ctx, &path(history)?),
        Command::Show { history, iteration } => read::show(&ctx, &path(history)?, *iteration),
        Command::Stats { history } => summary::stats(&ctx, &path(history)?),
        Command::Verify { history } => check::verify(&ctx, &path(history)?),
        Command::Repair { history } => check::repair(&ctx, &path(history)?),
        Command::Compact { history } => check::compact(&ctx, &path(history)?),
        Command::Export { history, output, format } => export::run(&ctx, &path(history)?, output.as_deref(), *format),
        Command::Import { history, input } => import::run(&ctx, &path(history)?, input),
        Command::View { history, port, www } => view::run(&ctx, &path(history)?, *port, www.as_deref()),
        Command::Demo { history, iterations } => demo::run(&ctx, &path(history)?, *iterations),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.code == "broken-pipe" => ExitCode::from(e.exit),
        Err(e) => {
            if json {
                let v = serde_json::json!({ "error": { "code": e.code, "message": e.message, "exit_code": e.exit } });
                eprintln!("{v}");
            } else {
                eprintln!("ihist: error: {e}");
            }
            ExitCode::from(e.exit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
