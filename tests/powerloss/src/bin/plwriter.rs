//! The guest's workload writer (built static for x86_64-unknown-linux-musl).
//!
//! ```text
//! plwriter run <workload> --dir DIR (--dm NAME | --marks-to FILE) [--scale N]
//! plwriter child --dir DIR (--dm NAME | --marks-to FILE) --proc P --first I --sessions S --per-session K
//! plwriter list
//! ```
//! `run` creates DIR, runs the workload on `DIR/history.jsonl` and marks
//! every acknowledged operation (see the crate docs); `child` is one process
//! of the `procs` workload.

use std::path::PathBuf;
use std::process::ExitCode;

use iteration_history_powerloss::mark_sink::MarkTarget;
use iteration_history_powerloss::workloads::{self, ChildPlan, Ctx};

const USAGE: &str = "usage: plwriter run <workload> --dir DIR (--dm NAME | --marks-to FILE) [--scale N]\n       \
                     plwriter child --dir DIR (--dm NAME | --marks-to FILE) --proc P --first I --sessions S --per-session K\n       \
                     plwriter list";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plwriter: error: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    dir: Option<PathBuf>,
    target: Option<MarkTarget>,
    scale: u64,
    process: u32,
    first: u64,
    sessions: u64,
    per_session: u64,
}

fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
    v.parse().map_err(|_| format!("{flag}: `{v}` is not a number"))
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args { dir: None, target: None, scale: 1, process: 0, first: 0, sessions: 1, per_session: 1 };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--dir" => a.dir = it.next().map(PathBuf::from),
            "--dm" => a.target = it.next().map(MarkTarget::Dm),
            "--marks-to" => a.target = it.next().map(|p| MarkTarget::File(p.into())),
            "--scale" => a.scale = number(&flag, it.next())?,
            "--proc" => a.process = number(&flag, it.next())?,
            "--first" => a.first = number(&flag, it.next())?,
            "--sessions" => a.sessions = number(&flag, it.next())?,
            "--per-session" => a.per_session = number(&flag, it.next())?,
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(a)
}

fn ctx(a: &Args) -> Result<Ctx, Box<dyn std::error::Error + Send + Sync>> {
    Ok(Ctx {
        dir: a.dir.clone().ok_or(format!("--dir is required\n{USAGE}"))?,
        target: a.target.clone().ok_or(format!("--dm or --marks-to is required\n{USAGE}"))?,
        scale: a.scale,
        exe: std::env::current_exe()?,
    })
}

fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("list") => {
            for (name, what, must_pass) in workloads::WORKLOADS {
                println!("{name} {} {what}", if *must_pass { "pass" } else { "fail" });
            }
        }
        Some("run") => {
            let name = args.next().ok_or(USAGE)?;
            let a = parse(args)?;
            let ops = workloads::run(&name, &ctx(&a)?)?;
            println!("plwriter: {name}: {ops} operations acknowledged and marked");
        }
        Some("child") => {
            let a = parse(args)?;
            let plan =
                ChildPlan { process: a.process, first: a.first, sessions: a.sessions, per_session: a.per_session };
            let waited = workloads::child(&ctx(&a)?, plan)?;
            println!("plwriter: process {}: {} sessions, waited={waited}", a.process, a.sessions);
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}
