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
    let sample = sample();
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

fn sample() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/history.jsonl")).expect("sample")
}

#[test]
fn copy_between_file_stores_is_byte_identical() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mem = History::open(MemDir::new(), "m.jsonl", Options::default()).expect("open");
    ih_conformance::copy_round_trip(&mem, &on_disk(&tmp), &sample());
}

/// The file store behind only the required methods of `Store`: the
/// defaults of `append_next`, `verify` and `repair` (retrying `append_if`,
/// reading the export) are what a third store would get. With
/// `export_fails`, its export stops half-way (a connection lost while
/// reading).
#[derive(Debug)]
struct Minimal {
    inner: History,
    export_fails: bool,
}

impl Minimal {
    fn new(name: &str, export_fails: bool) -> Minimal {
        Minimal { inner: History::open(MemDir::new(), name, Options::default()).expect("open"), export_fails }
    }
}

impl Store for Minimal {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn append(&self, r: &[iteration_history::IterationRecord]) -> iteration_history::Result<()> {
        self.inner.append(r)
    }
    fn append_if(
        &self,
        e: Option<u64>,
        r: &[iteration_history::IterationRecord],
    ) -> iteration_history::Result<iteration_history::AppendOutcome> {
        Store::append_if(&self.inner, e, r)
    }
    fn load_recent(&self, n: usize) -> iteration_history::Result<Vec<iteration_history::IterationRecord>> {
        Store::load_recent(&self.inner, n)
    }
    fn last_iteration_num(&self) -> iteration_history::Result<Option<u64>> {
        Store::last_iteration_num(&self.inner)
    }
    fn count(&self) -> iteration_history::Result<u64> {
        Store::count(&self.inner)
    }
    fn page(&self, c: u64, l: usize) -> iteration_history::Result<iteration_history::Page> {
        Store::page(&self.inner, c, l)
    }
    fn clear(&self) -> iteration_history::Result<()> {
        Store::clear(&self.inner)
    }
    fn export_jsonl(&self, out: &mut dyn std::io::Write) -> iteration_history::Result<u64> {
        if !self.export_fails {
            return Store::export_jsonl(&self.inner, out);
        }
        let mut all = Vec::new();
        self.inner.export_to_writer(&mut all)?;
        // Whole lines only: the importer cannot tell from the bytes.
        let cut = all[..all.len() / 2].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        out.write_all(&all[..cut]).expect("write");
        Err(iteration_history::Error::Io {
            file: "failing".into(),
            op: "exporting",
            source: std::sync::Arc::new(std::io::Error::other("connection lost")),
        })
    }
    fn import_jsonl(
        &self,
        i: &mut dyn std::io::BufRead,
        m: iteration_history::ImportMode,
        p: &mut dyn FnMut(u64),
    ) -> iteration_history::Result<iteration_history::ImportReport> {
        Store::import_jsonl(&self.inner, i, m, p)
    }
    fn compact(&self) -> iteration_history::Result<iteration_history::CompactReport> {
        Store::compact(&self.inner)
    }
}

#[test]
fn a_copy_whose_export_fails_changes_nothing() {
    let src = Minimal::new("s.jsonl", true);
    src.import_jsonl(&mut &sample()[..], iteration_history::ImportMode::IntoEmpty, &mut |_| {}).expect("seed");
    let dst = History::open(MemDir::new(), "d.jsonl", Options::default()).expect("open");
    dst.save(&ih_conformance::record(0, 0, 0)).expect("one record");
    let err = iteration_history::copy(&src, &dst, iteration_history::ImportMode::Replace, &mut |_| {})
        .expect_err("the export failed");
    assert!(err.to_string().contains("connection lost"), "{err}");
    assert_eq!(dst.get_all().expect("all"), vec![ih_conformance::record(0, 0, 0)], "the destination is unchanged");
}

#[test]
fn threads_append_next_without_conflicts_or_gaps() {
    let mem = History::open(MemDir::new(), "history.jsonl", Options::default()).expect("open");
    ih_conformance::concurrent_threads_next(&mem, 8, 100);
    let tmp = tempfile::tempdir().expect("tmp");
    ih_conformance::concurrent_threads_next(&on_disk(&tmp), 8, 50);
}

#[test]
fn processes_append_next_without_conflicts_or_gaps() {
    let (writers, saves) = writers_and_saves();
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("history.jsonl");
    let run = ih_conformance::concurrent_processes_as(
        spec.to_str().expect("utf-8 path"),
        Path::new(env!("CARGO_BIN_EXE_ih-cas-writer")),
        writers,
        saves,
        ih_conformance::Mode::Next,
    );
    eprintln!("file store: {writers} processes x {saves} numbered saves in {:.2?}", run.elapsed);
}

#[test]
fn the_default_append_next_verify_and_repair_pass_too() {
    let s = Minimal::new("history.jsonl", false);
    ih_conformance::append_next_numbers_records(&s);
    ih_conformance::verify_repair_compact(&s);
    ih_conformance::concurrent_threads_next(&s, 8, 50);
}
