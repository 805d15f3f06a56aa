//! `ihist`: the command-line tool for iteration histories — crash-safe JSONL
//! files of learning-loop iterations (see the `iteration-history` crate), or
//! the same histories in PostgreSQL (`postgres://` URLs, with the default
//! `postgres` cargo feature).
//!
//! Read commands (`recent`, `last`, `count`, `show`, `stats`, `verify`,
//! `export`, `view`) open the history read-only and take no lock, so they
//! work while a loop is writing it. Write commands (`save`, `import`,
//! `repair`, `compact`, `clear`, `demo`, and `copy` for its destination)
//! take the history's writer lock (a file) or write in transactions
//! (PostgreSQL).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod check;
mod copy;
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
use target::Target;

const EXIT_CODES: &str = "\
A history is a file path or a PostgreSQL URL,
  postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?history=NAME]
given as the HISTORY argument or with --store (what the URL leaves out is taken from libpq's PG* variables, such as PGPASSWORD, and ~/.postgresql files).

Exit codes:
  0  success (verify: the history is healthy)
  1  error: bad input, missing file, unreachable database, I/O error, ... (one line on stderr names the history and what to do)
  2  usage error (bad arguments)
  3  verify: torn tail (an unfinished last write; readers ignore it, the next writer moves it aside)
  4  the history is corrupt: a bad line followed by valid ones (run `ihist repair`)
  5  another process holds the history's writer lock (see --lock-timeout)";

/// Keep a crash-safe history of learning-loop iterations (one JSON object per line), in a file or in PostgreSQL.
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
    /// The history, instead of the HISTORY argument.
    #[arg(
        long,
        global = true,
        value_name = "STORE",
        help = "The history, instead of the HISTORY argument: a file, or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?history=NAME]"
    )]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Save a record durably (JSON argument, or JSONL on standard input)
    ///
    /// Without RECORD (or with `-`), read standard input: one JSON object per
    /// line, several lines saved as one all-or-nothing batch. Creates the
    /// history (and a file's directory) if needed.
    Save {
        /// The history: a file (e.g. runs/history.jsonl) or a postgres:// URL (or give --store).
        history: Option<String>,
        /// The record as JSON, or `-` for standard input.
        record: Option<String>,
        /// Let the history number the records: the first gets the last
        /// iteration_num + 1 (0 if empty), atomically, so any number of
        /// writers can save to one history without conflicts; the records'
        /// own iteration_num is replaced (give any, e.g. 0).
        #[arg(long)]
        next: bool,
    },
    /// Show the last N records, oldest first (reads backwards from the end).
    Recent {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
        /// How many records.
        #[arg(short = 'n', long = "number", default_value_t = 5)]
        n: usize,
    },
    /// Print the last iteration_num (where a loop resumes).
    Last {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
    },
    /// Print the number of records.
    Count {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
    },
    /// Show the record(s) with iteration_num N in full.
    Show {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
        /// The iteration_num.
        iteration: Option<u64>,
    },
    /// Summarise: records, success rate, best sharpe ratio, champion, levels
    Stats {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
    },
    /// Check every line; exit code 0 healthy, 3 torn tail, 4 corrupt
    ///
    /// Checks the JSON and checksum of every line and changes nothing; a torn
    /// tail or bad lines are listed with line numbers and byte offsets. In
    /// PostgreSQL: every row, and the history's counters.
    Verify {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
    },
    /// Move a torn tail and bad lines to sidecar files, keep the rest
    ///
    /// The torn tail goes to HISTORY.torn.N, bad lines to HISTORY.bad.N; the
    /// rest is rewritten atomically. A PostgreSQL history has no torn tails
    /// (every commit is a transaction); bad rows are reported with the steps
    /// that repair them.
    Repair {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
    },
    /// Rewrite atomically in canonical form (adds missing checksums)
    ///
    /// Lines written by other tools get checksums; blank lines are dropped.
    /// In PostgreSQL: one transaction.
    Compact {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
    },
    /// Remove every record, atomically (needs --yes)
    Clear {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
        /// Confirm: every record is removed.
        #[arg(long)]
        yes: bool,
    },
    /// Export a snapshot as JSONL or CSV, to a file or standard output
    ///
    /// JSONL is the history byte for byte; CSV has one row per record and
    /// nested fields flattened to columns such as metrics.sharpe_ratio. A file
    /// is written atomically (temp file, fsync, rename).
    Export {
        /// The history: a file or a postgres:// URL (or give --store).
        history: Option<String>,
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
    /// written; so is a line longer than --max-line-bytes.
    Import {
        /// The history: a file (created if needed) or a postgres:// URL (or give --store).
        history: Option<String>,
        /// The JSONL file to import.
        input: Option<PathBuf>,
        /// Refuse a line (with its line end) longer than this many bytes.
        #[arg(long, value_name = "BYTES", default_value_t = iteration_history::DEFAULT_MAX_LINE_BYTES)]
        max_line_bytes: u64,
    },
    /// Copy a whole history between stores, byte for byte
    ///
    /// File to PostgreSQL and back, PostgreSQL to PostgreSQL, file to file:
    /// streamed, with a progress bar, written as one atomic commit; the
    /// copy's export is byte for byte the source's. The destination must be
    /// empty (or absent) unless --replace is given.
    Copy {
        /// The history to copy: a file or a postgres:// URL (read-only).
        source: String,
        /// Where to copy it: a file (created if needed) or a postgres:// URL.
        destination: String,
        /// Replace the destination's records (default: refuse a destination that has records).
        #[arg(long)]
        replace: bool,
    },
    /// Serve the browser viewer with these histories on 127.0.0.1
    ///
    /// Prints the URL (with a random token that every request must carry),
    /// then serves until Ctrl-C. The page is built into ihist. It follows the
    /// histories as they grow; several histories are compared on one page.
    View {
        /// The histories: files or postgres:// URLs (or give one with --store).
        histories: Vec<String>,
        /// Port (0: any free port).
        #[arg(long, default_value_t = 8765)]
        port: u16,
        /// Serve the viewer's files from DIR instead of the viewer built into
        /// ihist (symlinks that lead out of DIR are not followed).
        #[arg(long, value_name = "DIR")]
        www: Option<PathBuf>,
        /// Serve without a token: any local user can then read the histories
        /// (requests from other sites are still refused). By default the
        /// printed URL holds a random token that every request must carry.
        #[arg(long)]
        no_token: bool,
    },
    /// Run a simulated learning loop, then print a summary
    ///
    /// Starts from the bundled sample history (written by the original Python
    /// module) if HISTORY does not exist (or, in PostgreSQL, is empty),
    /// resumes after its last iteration otherwise, saves N iterations durably
    /// (compare-and-append), and prints a summary.
    Demo {
        /// The history.
        #[arg(
            help = "The history: a file or a postgres:// URL (or give --store) [default: target/demo/history.jsonl]"
        )]
        history: Option<String>,
        /// Number of iterations to run.
        #[arg(short = 'n', long = "iterations", default_value_t = 100)]
        iterations: u64,
    },
}

/// The history a command works on: its HISTORY argument, or `--store`.
fn target(store: Option<&str>, history: Option<&str>) -> Result<Target> {
    match (store, history) {
        (Some(_), Some(_)) => {
            Err(CliError::usage("the history is given twice, as the HISTORY argument and with --store: give it once"))
        }
        (Some(s), None) | (None, Some(s)) => Target::parse(s),
        (None, None) => Err(CliError::usage(format!(
            "no history given: pass a file path or a PostgreSQL URL ({}) as HISTORY, or with --store",
            target::PG_URL_FORM
        ))),
    }
}

/// With `--store`, the first positional argument is the command's next
/// argument (`ihist show --store URL 7`).
fn shift<T>(
    store: Option<&str>,
    history: Option<&String>,
    next: Option<T>,
    parse: impl FnOnce(&str) -> Result<T>,
) -> Result<(Option<String>, Option<T>)> {
    match (store, history, next) {
        (Some(_), Some(h), None) => Ok((None, Some(parse(h)?))),
        (_, h, next) => Ok((h.cloned(), next)),
    }
}

fn run(cli: Cli) -> Result {
    let lock_timeout = match cli.lock_timeout {
        None => None,
        Some(s) => Some(Duration::try_from_secs_f64(s).map_err(|_| {
            CliError::new("usage", format!("--lock-timeout {s}: must be a number of seconds, 0 or more"))
        })?),
    };
    let ctx = Ctx { json: cli.json, quiet: cli.quiet, lock_timeout };
    let store = cli.store.as_deref();
    let at = |h: &Option<String>| target(store, h.as_deref());
    match &cli.command {
        Command::Save { history, record, next } => {
            let (history, record) = shift(store, history.as_ref(), record.clone(), |s| Ok(s.to_string()))?;
            save::run(&ctx, &at(&history)?, record.as_deref(), *next)
        }
        Command::Recent { history, n } => read::recent(&ctx, &at(history)?, *n),
        Command::Last { history } => read::last(&ctx, &at(history)?),
        Command::Count { history } => read::count(&ctx, &at(history)?),
        Command::Show { history, iteration } => {
            let (history, iteration) = shift(store, history.as_ref(), *iteration, |s| {
                s.parse().map_err(|_| CliError::usage(format!("ITERATION {s:?}: must be a whole number, 0 or more")))
            })?;
            let target = at(&history)?;
            let iteration =
                iteration.ok_or_else(|| CliError::usage("give the iteration_num to show: ihist show HISTORY N"))?;
            read::show(&ctx, &target, iteration)
        }
        Command::Stats { history } => summary::stats(&ctx, &at(history)?),
        Command::Verify { history } => check::verify(&ctx, &at(history)?),
        Command::Repair { history } => check::repair(&ctx, &at(history)?),
        Command::Compact { history } => check::compact(&ctx, &at(history)?),
        Command::Clear { history, yes } => check::clear(&ctx, &at(history)?, *yes),
        Command::Export { history, output, format } => export::run(&ctx, &at(history)?, output.as_deref(), *format),
        Command::Import { history, input, max_line_bytes } => {
            let (history, input) = shift(store, history.as_ref(), input.clone(), |s| Ok(PathBuf::from(s)))?;
            let target = at(&history)?;
            let input =
                input.ok_or_else(|| CliError::usage("give the JSONL file to import: ihist import HISTORY FILE"))?;
            import::run(&ctx, &target, &input, *max_line_bytes)
        }
        Command::Copy { source, destination, replace } => {
            if store.is_some() {
                return Err(CliError::usage(
                    "copy takes its two histories as SOURCE and DESTINATION; --store does not apply",
                ));
            }
            copy::run(&ctx, &Target::parse(source)?, &Target::parse(destination)?, *replace)
        }
        Command::View { histories, port, www, no_token } => {
            let mut targets = Vec::new();
            if store.is_some() || histories.is_empty() {
                targets.push(at(&None)?);
            }
            for h in histories {
                targets.push(Target::parse(h)?);
            }
            view::run(&ctx, &targets, *port, www.as_deref(), !*no_token)
        }
        Command::Demo { history, iterations } => {
            let history = match (store, history) {
                (None, None) => Some(demo::DEFAULT_HISTORY.to_string()),
                (_, h) => h.clone(),
            };
            demo::run(&ctx, &at(&history)?, *iterations)
        }
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
