//! The conformance suite against PostgreSQL. Runs when `IH_PG_URL` names a
//! database (`scripts/test-postgres` starts a throwaway server and sets
//! it); `#[ignore]`d otherwise (`cargo test` lists them as ignored). Each test uses a history of its own, so the
//! tests can run in parallel on one database.

use std::path::Path;

use iteration_history::Store;
use iteration_history_postgres::PgStore;

/// The store URL for history `name`.
///
/// # Panics
/// Without `IH_PG_URL`: these tests are `#[ignore]`d, and what runs them
/// (`scripts/test-postgres`) sets it; run on their own they fail, never
/// pass untried.
fn url(name: &str) -> String {
    let base = std::env::var("IH_PG_URL")
        .expect("IH_PG_URL is not set: scripts/test-postgres starts a server and runs these tests");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}history=conformance-{name}")
}

/// Writers × saves of the many-processes check: `IH_WRITERS` × `IH_SAVES`,
/// default 8 × 50 (`scripts/test-postgres` runs 8 × 250).
fn writers_and_saves() -> (u32, u32) {
    let get = |k: &str, d: u32| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    (get("IH_WRITERS", 8), get("IH_SAVES", 50))
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn every_check_passes_on_postgres() {
    let url = url("all");
    let store = PgStore::open(&url).expect("open");
    ih_conformance::run_all(&store);
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn the_python_sample_round_trips_byte_for_byte() {
    let url = url("sample");
    let sample =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/history.jsonl")).expect("sample");
    ih_conformance::sample_round_trip(&PgStore::open(&url).expect("open"), &sample);
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn threads_compare_and_append_exactly_once() {
    let url = url("threads");
    let store = PgStore::open(&url).expect("open");
    let stats = ih_conformance::concurrent_threads(&store as &dyn Store, 8, 100);
    eprintln!("postgres threads: {stats:?}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn processes_compare_and_append_exactly_once() {
    let url = url("processes");
    let (writers, saves) = writers_and_saves();
    let run =
        ih_conformance::concurrent_processes(&url, Path::new(env!("CARGO_BIN_EXE_ih-cas-writer")), writers, saves);
    let conflicts: u64 = run.writers.iter().map(|w| w.conflicts).sum();
    eprintln!("postgres: {writers} processes x {saves} saves in {:.2?}, {conflicts} conflicts retried", run.elapsed);
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn copy_file_to_postgres_and_back_is_byte_identical() {
    let url = url("copy");
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
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn threads_append_next_without_conflicts_or_gaps() {
    let url = url("threads-next");
    let store = PgStore::open(&url).expect("open");
    ih_conformance::concurrent_threads_next(&store, 8, 100);
    eprintln!("postgres threads, numbered: {} window retries", store.append_next_retries());
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn processes_append_next_without_conflicts_or_gaps() {
    let url = url("processes-next");
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
