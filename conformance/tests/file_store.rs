//! The conformance suite against the JSONL file store, in memory and on
//! disk, with threads and with processes.

use std::path::Path;

use iteration_history::storage::{CapStdDir, MemDir};
use iteration_history::{History, Options, Store};

fn on_disk(tmp: &tempfile::TempDir) -> History {
    History::open(CapStdDir::open_ambient(tmp.path()).expect("dir"), "history.jsonl", Options::default()).expect("open")
}

/// Writers × saves of the many-processes check: `IH_WRITERS` × `IH_SAVES`,
/// default 8 × 50 (`scripts/test-postgres` runs 8 × 250).
fn writers_and_saves() -> (u32, u32) {
    let get = |k: &str, d: u32| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    (get("IH_WRITERS", 8), get("IH_SAVES", 50))
}

#[test]
fn every_check_passes_in_memory() {
    let h = History::open(MemDir::new(), "history.jsonl", Options::default()).expect("open");
    ih_conformance::run_all(&h);
}

#[test]
fn every_check_passes_on_disk() {
    let tmp = tempfile::tempdir().expect("tmp");
    ih_conformance::run_all(&on_disk(&tmp));
}

#[test]
fn the_python_sample_round_trips_byte_for_byte() {
    let sample = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/history.jsonl")).expect("sample");
    let tmp = tempfile::tempdir().expect("tmp");
    ih_conformance::sample_round_trip(&on_disk(&tmp), &sample);
    let mem = History::open(MemDir::new(), "s.jsonl", Options::default()).expect("open");
    ih_conformance::sample_round_trip(&mem, &sample);
}

#[test]
fn threads_compare_and_append_exactly_once() {
    let mem = History::open(MemDir::new(), "history.jsonl", Options::default()).expect("open");
    ih_conformance::concurrent_threads(&mem, 8, 100);
    let tmp = tempfile::tempdir().expect("tmp");
    let disk = on_disk(&tmp);
    let stats = ih_conformance::concurrent_threads(&disk as &dyn Store, 8, 50);
    assert_eq!(stats.len(), 8);
}

#[test]
fn processes_compare_and_append_exactly_once() {
    let (writers, saves) = writers_and_saves();
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("history.jsonl");
    let run = ih_conformance::concurrent_processes(
        spec.to_str().expect("utf-8 path"),
        Path::new(env!("CARGO_BIN_EXE_ih-cas-writer")),
        writers,
        saves,
    );
    eprintln!("file store: {writers} processes x {saves} saves in {:.2?}: {:?}", run.elapsed, run.writers);
}
