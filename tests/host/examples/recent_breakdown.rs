//! Where the time of `load_recent(5)` goes, native vs component, on the
//! benchmark's history (10,000 records saved in batches of 1,000, then 100
//! single saves). Times calls that share parts of it: the bare cost of a
//! component call, fewer records, the JSON-line variant, a read-only handle,
//! and natively the decoding of the same five lines alone.
//!
//! Run: `cargo run --release -p iteration-history-host-tests --example recent_breakdown [CALLS]`
//! (after `scripts/build-component`). Options, by environment:
//! * `WASMS=a.wasm,b.wasm,...`: instead, `load_recent(5)` of each of these
//!   builds of the component, in 40 alternating rounds in this one process
//!   (min, 25th percentile and median per call): compares build settings
//!   on a noisy machine (`READ_ONLY=1`: on read-only handles).
//! * `ONLY=native` or `ONLY=component`: one side only; `ONLY=recent`: the
//!   component's `load-recent(5)` on a writer handle only (to profile it).
//! * `PERFMAP=1`: wasmtime writes `/tmp/perf-PID.map`, so `perf record -g`
//!   names the guest's functions.
use std::path::Path;
use std::time::{Duration, Instant};

use iteration_history::storage::CapStdDir;
use iteration_history::{Durability, History, Options, codec};
use iteration_history_host_tests::HostState as State;
use iteration_history_host_tests::bindings::HistoryComponent;
use iteration_history_host_tests::records::{sample, to_core};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, ProfilingStrategy, Store};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Mean time of one call of `f` over `calls` calls, after a tenth as many
/// unmeasured ones.
fn per_call(calls: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..calls / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..calls {
        f();
    }
    t.elapsed() / calls
}

fn show(what: &str, d: Duration) {
    println!("{what:<52} {:>8.2} µs", d.as_secs_f64() * 1e6);
}

fn seed(dir: &Path) -> wasmtime::Result<()> {
    let opts = Options::default().durability(Durability::None);
    let h = History::open(CapStdDir::open_ambient(dir)?, "h.jsonl", opts)?;
    let records: Vec<_> = (0..10_000).map(|i| to_core(&sample(i))).collect();
    for chunk in records.chunks(1000) {
        h.save_batch(chunk)?;
    }
    for i in 10_000..10_100 {
        h.save(&to_core(&sample(i)))?;
    }
    Ok(())
}

fn native(dir: &Path, calls: u32) -> wasmtime::Result<()> {
    let h = History::open(CapStdDir::open_ambient(dir)?, "h.jsonl", Options::default())?;
    let recent = |h: &History, n| assert_eq!(h.load_recent(n).expect("load_recent").len(), n);
    show("native load_recent(5), writer", per_call(calls, || recent(&h, 5)));
    show("native load_recent(1), writer", per_call(calls, || recent(&h, 1)));
    drop(h);
    let r = History::open_read_only(CapStdDir::open_ambient(dir)?, "h.jsonl")?;
    show("native load_recent(5), read-only", per_call(calls, || recent(&r, 5)));
    let text = std::fs::read(dir.join("h.jsonl"))?;
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).rev().take(5).collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    show(
        &format!("native decode_line of those 5 lines ({bytes} bytes)"),
        per_call(calls, || lines.iter().for_each(|l| drop(codec::decode_line(l).expect("decode")))),
    );
    Ok(())
}

fn engine() -> wasmtime::Result<(Engine, Linker<State>)> {
    let mut config = Config::new();
    if std::env::var_os("PERFMAP").is_some() {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    Ok((engine, linker))
}

fn instance(
    engine: &Engine,
    linker: &Linker<State>,
    wasm: &Path,
    dir: &Path,
) -> wasmtime::Result<(Store<State>, HistoryComponent)> {
    let component = Component::from_file(engine, wasm)?;
    // Before `preopened_dir`: the preopen keeps the setting it finds.
    let ctx =
        WasiCtxBuilder::new().allow_blocking_current_thread(true).preopened_dir(dir, ".", FsPerms::ReadWrite)?.build();
    let mut store = Store::new(engine, State::new(ctx));
    let api = HistoryComponent::instantiate(&mut store, &component, linker)?;
    Ok((store, api))
}

fn component(dir: &Path, calls: u32, only_recent: bool) -> wasmtime::Result<()> {
    let (engine, linker) = engine()?;
    let (mut store, api) = instance(&engine, &linker, &iteration_history_host_tests::wasm_path(), dir)?;
    let history = api.iteration_history_history_store().history();
    let s = &mut store;
    let h = history.call_open(&mut *s, "h.jsonl")??;
    let recent = |s: &mut Store<State>, h, n: u32| {
        let got = history.call_load_recent(s, h, n).expect("no trap").expect("load-recent");
        assert_eq!(got.len(), n as usize);
    };
    if only_recent {
        show("component load-recent(5), writer", per_call(calls, || recent(&mut *s, h, 5)));
        return Ok(());
    }
    show(
        "component last-iteration-num (the bare call)",
        per_call(calls, || drop(history.call_last_iteration_num(&mut *s, h).expect("no trap"))),
    );
    show("component load-recent(1), writer", per_call(calls, || recent(&mut *s, h, 1)));
    show("component load-recent(5), writer", per_call(calls, || recent(&mut *s, h, 5)));
    show(
        "component load-recent-json(5), writer",
        per_call(calls, || drop(history.call_load_recent_json(&mut *s, h, 5).expect("no trap"))),
    );
    let r = history.call_open_read_only(&mut *s, "h.jsonl")??;
    show("component load-recent(5), read-only", per_call(calls, || recent(&mut *s, r, 5)));
    Ok(())
}

/// `load-recent(5)` of several builds of the component, alternating.
fn compare(dir: &Path, wasms: &str, calls: u32) -> wasmtime::Result<()> {
    let (engine, linker) = engine()?;
    let read_only = std::env::var_os("READ_ONLY").is_some();
    let mut sides = Vec::new();
    for (i, wasm) in wasms.split(',').enumerate() {
        // Each its own copy of the history: no two share a writer lease.
        let sub = dir.join(format!("w{i}"));
        std::fs::create_dir_all(&sub)?;
        std::fs::copy(dir.join("h.jsonl"), sub.join("h.jsonl"))?;
        let (mut store, api) = instance(&engine, &linker, Path::new(wasm), &sub)?;
        let history = api.iteration_history_history_store().history();
        let h = if read_only {
            history.call_open_read_only(&mut store, "h.jsonl")??
        } else {
            history.call_open(&mut store, "h.jsonl")??
        };
        sides.push((wasm.to_string(), store, api, h, Vec::new()));
    }
    for _ in 0..40 {
        for (_, store, api, h, times) in &mut sides {
            let history = api.iteration_history_history_store().history();
            times.push(per_call(calls, || {
                let got = history.call_load_recent(&mut *store, *h, 5).expect("no trap").expect("load-recent");
                assert_eq!(got.len(), 5);
            }));
        }
    }
    for (wasm, _, _, _, times) in &mut sides {
        times.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{wasm}: min {:.2} p25 {:.2} median {:.2} µs",
            us(times[0]),
            us(times[times.len() / 4]),
            us(times[times.len() / 2])
        );
    }
    Ok(())
}

fn main() -> wasmtime::Result<()> {
    let calls: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let only = std::env::var("ONLY").unwrap_or_default();
    let dir = tempfile::tempdir()?;
    seed(dir.path())?;
    if let Ok(wasms) = std::env::var("WASMS") {
        return compare(dir.path(), &wasms, calls);
    }
    if only.is_empty() || only == "native" {
        native(dir.path(), calls)?;
    }
    if only != "native" {
        component(dir.path(), calls, only == "recent")?;
    }
    Ok(())
}
