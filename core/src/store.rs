//! The backend-neutral history contract.
//!
//! [`Store`] is what every history store offers: the JSONL file store
//! ([`History`]) and stores on other engines (a PostgreSQL store, and later
//! object storage). Code written against `&dyn Store` runs unchanged on any
//! of them; one conformance suite checks them all.
//!
//! The key operation is [`Store::append_if`], compare-and-append: iteration
//! N is computed from iterations 1..N-1, so N is appended only if the last
//! stored iteration is still N-1. A retry after an unknown outcome is safe:
//! if the store already ends with exactly those records, nothing is written.

use std::fmt;
use std::io::Write;

use crate::error::Result;
use crate::history::{AppendOutcome, History, Page};
use crate::record::IterationRecord;

/// The operations every history store offers.
pub trait Store: Send + Sync + fmt::Debug {
    /// How the store is named in messages (a file path, a database URL
    /// without its password, ...).
    fn describe(&self) -> String;

    /// Appends `records` as one all-or-nothing, durable commit.
    ///
    /// # Errors
    /// Invalid records (nothing written) and storage errors.
    fn append(&self, records: &[IterationRecord]) -> Result<()>;

    /// Appends `records` as one commit only if the last stored
    /// `iteration_num` is `expected_last` (`None`: empty). Idempotent for a
    /// retry of the same records.
    ///
    /// # Errors
    /// [`Error::Conflict`](crate::Error::Conflict) naming the actual last
    /// iteration; as [`append`](Self::append).
    fn append_if(&self, expected_last: Option<u64>, records: &[IterationRecord]) -> Result<AppendOutcome>;

    /// The last `n` records, oldest first.
    ///
    /// # Errors
    /// Storage errors, corruption.
    fn load_recent(&self, n: usize) -> Result<Vec<IterationRecord>>;

    /// `iteration_num` of the last record.
    ///
    /// # Errors
    /// Storage errors, corruption.
    fn last_iteration_num(&self) -> Result<Option<u64>>;

    /// Number of records.
    ///
    /// # Errors
    /// Storage errors, corruption.
    fn count(&self) -> Result<u64>;

    /// A page of at most `limit` records from `cursor` (0: the start; then
    /// the previous page's `next_cursor`). Cursors are opaque to callers.
    ///
    /// # Errors
    /// An invalid cursor, storage errors, corruption.
    fn page(&self, cursor: u64, limit: usize) -> Result<Page>;

    /// Removes every record, atomically.
    ///
    /// # Errors
    /// Storage errors (then nothing was removed).
    fn clear(&self) -> Result<()>;

    /// Writes the history as JSONL to `out`; returns the bytes written.
    ///
    /// # Errors
    /// Storage errors, errors writing `out`.
    fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64>;
}

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
}
