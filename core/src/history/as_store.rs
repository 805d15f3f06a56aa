//! The file store: [`History`] as a [`Store`], each method the `History` method of the same meaning.

use std::io::{BufRead, Write};

use super::*;
use crate::store::{CompactReport, Store};

impl Store for History {
    fn describe(&self) -> String {
        self.file().to_string()
    }
    fn append(&self, records: &[IterationRecord]) -> Result<()> {
        self.save_batch(records)
    }
    fn append_if(&self, expected_last: Option<u64>, records: &[IterationRecord]) -> Result<AppendOutcome> {
        self.save_if_last(expected_last, records)
    }
    fn append_next(&self, records: &[IterationRecord]) -> Result<std::ops::Range<u64>> {
        self.save_next(records)
    }
    fn load_recent(&self, n: usize) -> Result<Vec<IterationRecord>> {
        History::load_recent(self, n)
    }
    fn last_iteration_num(&self) -> Result<Option<u64>> {
        History::last_iteration_num(self)
    }
    fn count(&self) -> Result<u64> {
        History::count(self)
    }
    fn page(&self, cursor: u64, limit: usize) -> Result<Page> {
        History::page(self, cursor, limit)
    }
    fn clear(&self) -> Result<()> {
        History::clear(self)
    }
    fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64> {
        self.export_to_writer(out)
    }
    fn import_jsonl(
        &self,
        input: &mut dyn BufRead,
        mode: ImportMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport> {
        History::import_jsonl(self, input, mode, progress)
    }
    fn verify(&self) -> Result<VerifyReport> {
        History::verify(self)
    }
    fn repair(&self) -> Result<RepairReport> {
        History::repair(self)
    }
    fn compact(&self) -> Result<CompactReport> {
        let (records, bytes_before, bytes_after) = self.compact_sizes()?;
        Ok(CompactReport { records, bytes_before, bytes_after, rewritten: None })
    }
}
