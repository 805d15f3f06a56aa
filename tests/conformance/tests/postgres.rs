//! The conformance suite against PostgreSQL. Runs when `IH_PG_URL` names a
//! database (`scripts/test-postgres` starts a throwaway server and sets
//! it); skipped otherwise. Each test uses a history of its own, so the
//! tests can run in parallel on one database.

use std::path::Path;

use iteration_history::Store;
use iteration_history_postgres::PgStore;

/// The store URL for history `name`, or `None` (test skipped) without a server.
fn url(name: &str) -> Option<String> {
    let Ok(base) = std::env::var("IH_PG_URL") else {
        eprintln!("skipped: set IH_PG_URL (scripts/test-postgres does) to run the PostgreSQL tests");
        return None;
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}history=conformance-{name}"))
}

/// Writers × saves of the many-processes check: `IH_WRITERS` × `IH_SAVES`,
/// default 8 × 50 (`scripts/test-postgres` runs 8 × 250).
fn writers_and_saves() -> (u32, u32) {
    let get = |k: &str, d: u32| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    (get("IH_WRITERS", 8), get("IH_SAVES", 50))
}

#[test]
fn every_check_passes_on_postgres() {
    let Some(url) = url("all") else { return };
    let store = PgStore::open(&url).expect("open");
    ih_conformance::run_all(&store);
}

#[test]
fn the_python_sample_round_trips_byte_for_byte() {
    let Some(url) = url("sample") else { return };
    let sample =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/history.jsonl")).expect("sample");
    ih_conformance::sample_round_trip(&PgStore::open(&url).expect("open"), &sample);
}

#[test]
fn threads_compare_and_append_exactly_once() {
    let Some(url) = url("threads") else { return };
    let store = PgStore::open(&url).expect("open");
    let stats = ih_conformance::concurrent_threads(&store as &dyn Store, 8, 100);
    eprintln!("postgres threads: {stats:?}");
}

#[test]
fn processes_compare_and_append_exactly_once() {
    let Some(url) = url("processes") else { return };
    let (writers, saves) = writers_and_saves();
    let run =
        ih_conformance::concurrent_processes(&url, Path::new(env!("CARGO_BIN_EXE_ih-cas-writer")), writers, saves);
    let conflicts: u64 = run.writers.iter().map(|w| w.conflicts).sum();
    eprintln!("postgres: {writers} processes x {saves} saves in {:.2?}, {conflicts} conflicts retried", run.elapsed);
}

#[test]
fn copy_file_to_postgres_and_back_is_byte_identical() {
    let Some(url) = url("copy") else { return };
    let sample =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/history.jsonl")).expect("sample");
    let tmp = tempfile::tempdir().expect("tmp");
    let file = iteration_history::History::open(
        iteration_history::storage::CapStdDir::open_ambient(tmp.path()).expect("dir"),
        "history.jsonl",
        iteration_history::Options::default(),
    )
    .expect("open");
    let pg = PgStore::open(&url).expect("open");
    ih_conformance::copy_round_trip(&file, &pg, &sample);
    ih_conformance::copy_round_trip(&pg, &file, ih_conformance::FOREIGN_JSONL);
}

#[test]
fn threads_append_next_without_conflicts_or_gaps() {
    let Some(url) = url("threads-next") else { return };
    let store = PgStore::open(&url).expect("open");
    ih_conformance::concurrent_threads_next(&store, 8, 100);
    eprintln!("postgres threads, numbered: {} window retries", store.append_next_retries());
}

#[test]
fn processes_append_next_without_conflicts_or_gaps() {
    let Some(url) = url("processes-next") else { return };
    let (writers, saves) = writers_and_saves();
    let run = ih_conformance::concurrent_processes_as(
        &url,
        Path::new(env!("CARGO_BIN_EXE_ih-cas-writer")),
        writers,
        saves,
        ih_conformance::Mode::Next,
    );
    eprintln!("postgres: {writers} processes x {saves} numbered saves in {:.2?}", run.elapsed);
}
