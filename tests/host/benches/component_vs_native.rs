//! Benchmark: the WASI component in a wasmtime host versus the native core,
//! in the same run, on the same disk.
//!
//! On a 10,000-record history: 100 durable saves (`Durability::Full`: each
//! one `fdatasync`ed) and `load_recent(5)`. Each is measured in several
//! alternating rounds; the median round is reported, with the ratio
//! component / native (goal: at most 1.3).
//!
//! Run: `cargo bench -p iteration-history-host-tests --bench component_vs_native`
//! (builds wasmtime optimised: several minutes the first time; build the
//! component first with `scripts/build-component`). `BENCH_ROUNDS` sets the
//! number of rounds (default 5).

use std::path::Path;
use std::time::{Duration, Instant};

use iteration_history::storage::CapStdDir;
use iteration_history::{Durability, History, Options};
use iteration_history_host_tests::Host;
use iteration_history_host_tests::records::{sample, to_core};

const HISTORY: u64 = 10_000;
const SAVES: u64 = 100;
const RECENT_CALLS: u32 = 200;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Writes the 10k-record starting history once (no syncs: setup only).
fn seed(dir: &Path) {
    let h = History::open(
        CapStdDir::open_ambient(dir).expect("dir"),
        "h.jsonl",
        Options::default().durability(Durability::None),
    )
    .expect("open");
    let records: Vec<_> = (0..HISTORY).map(|i| to_core(&sample(i))).collect();
    for chunk in records.chunks(1000) {
        h.save_batch(chunk).expect("seed");
    }
}

struct Round {
    saves: Duration,
    recent: Duration,
}

fn native_round(dir: &Path, first: u64) -> Round {
    let h = History::open(CapStdDir::open_ambient(dir).expect("dir"), "h.jsonl", Options::default()).expect("open");
    let records: Vec<_> = (first..first + SAVES).map(|i| to_core(&sample(i))).collect();
    let t = Instant::now();
    for r in &records {
        h.save(r).expect("save");
    }
    let saves = t.elapsed();
    let t = Instant::now();
    for _ in 0..RECENT_CALLS {
        assert_eq!(h.load_recent(5).expect("recent").len(), 5);
    }
    Round { saves, recent: t.elapsed() / RECENT_CALLS }
}

fn component_round(host: &Host, dir: &Path, first: u64) -> Round {
    let mut s = host.instantiate(Some(dir)).expect("instantiate");
    let h = s.open("h.jsonl").expect("open");
    let records: Vec<_> = (first..first + SAVES).map(sample).collect();
    let t = Instant::now();
    for r in &records {
        s.save(h, r).expect("save");
    }
    let saves = t.elapsed();
    let t = Instant::now();
    for _ in 0..RECENT_CALLS {
        assert_eq!(s.load_recent(h, 5).expect("recent").len(), 5);
    }
    let recent = t.elapsed() / RECENT_CALLS;
    s.close(h);
    Round { saves, recent }
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    // On the real disk (the target directory), not a tmpfs: syncs must cost what they cost.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-component");
    std::fs::create_dir_all(&base).expect("bench dir");
    let native_dir = tempfile::tempdir_in(&base).expect("tmp");
    let component_dir = tempfile::tempdir_in(&base).expect("tmp");
    seed(native_dir.path());
    std::fs::copy(native_dir.path().join("h.jsonl"), component_dir.path().join("h.jsonl")).expect("copy");

    let t = Instant::now();
    let host = Host::built(|_| Ok(()));
    eprintln!("component loaded in {:?} (not timed below)", t.elapsed());

    let (mut native, mut component) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let first = HISTORY + round as u64 * SAVES;
        // Alternate the order so neither side always runs on a warmer cache.
        if round % 2 == 0 {
            native.push(native_round(native_dir.path(), first));
            component.push(component_round(&host, component_dir.path(), first));
        } else {
            component.push(component_round(&host, component_dir.path(), first));
            native.push(native_round(native_dir.path(), first));
        }
    }
    let same = std::fs::read(native_dir.path().join("h.jsonl")).expect("read")
        == std::fs::read(component_dir.path().join("h.jsonl")).expect("read");
    assert!(same, "both sides wrote the same file");

    let ns = median(native.iter().map(|r| r.saves).collect());
    let cs = median(component.iter().map(|r| r.saves).collect());
    let nr = median(native.iter().map(|r| r.recent).collect());
    let cr = median(component.iter().map(|r| r.recent).collect());
    println!("component vs native core, {HISTORY}-record history, median of {rounds} rounds (files identical: {same})");
    println!("{:<32} {:>12} {:>12} {:>8}", "", "native", "component", "ratio");
    println!(
        "{:<32} {:>9.1} ms {:>9.1} ms {:>7.2}x",
        format!("{SAVES} durable saves"),
        ns.as_secs_f64() * 1e3,
        cs.as_secs_f64() * 1e3,
        cs.as_secs_f64() / ns.as_secs_f64()
    );
    println!(
        "{:<32} {:>9.1} µs {:>9.1} µs {:>7.2}x",
        "load_recent(5), per call",
        nr.as_secs_f64() * 1e6,
        cr.as_secs_f64() * 1e6,
        cr.as_secs_f64() / nr.as_secs_f64()
    );
}
