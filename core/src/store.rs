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
use std::io::{BufRead, Write};

use crate::error::Result;
use crate::history::{AppendOutcome, History, Page};
use crate::import::{ImportMode, ImportReport};
use crate::record::IterationRecord;

/// The operations every history store offers.
pub trait Store: Send + Sync + fmt::Debug {
    /// How the store is named in messages (a file path, a database URL
    /// without its password, ...).
    fn describe(&self) -> String;

    /// Appends `records` as one all-or-nothing, durable commit.
    ///
    /// Stores that key records by `iteration_num` (PostgreSQL) refuse an
    /// iteration that is already stored
    /// ([`BackendErrorKind::Duplicate`](crate::BackendErrorKind::Duplicate)),
    /// unless the history already ends with exactly these records (a retry),
    /// which is then a no-op; the file store keeps duplicates.
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

    /// Appends `records` as one all-or-nothing, durable commit numbered by
    /// the store: the first gets the last stored `iteration_num` + 1 (0 in
    /// an empty history), the next one more, and so on; the numbers the
    /// records carry are ignored. The store reads the last number and
    /// appends atomically, so any number of writers can append to one
    /// history this way without conflicts and without gaps. Returns the
    /// numbers given (an empty range at the next number for no records).
    ///
    /// Use it for records that do not depend on the one before; a learning
    /// loop that computes iteration N from N-1 uses
    /// [`append_if`](Self::append_if). Unlike `append_if`, a retry after
    /// [`BackendErrorKind::OutcomeUnknown`](crate::BackendErrorKind::OutcomeUnknown)
    /// may store the records a second time (under other numbers).
    ///
    /// The default implementation retries [`append_if`](Self::append_if)
    /// with the last number until no other writer came first; stores
    /// override it with one atomic operation (the file store under its
    /// writer lock, PostgreSQL in one statement).
    ///
    /// # Errors
    /// Invalid records (nothing written) and storage errors.
    fn append_next(&self, records: &[IterationRecord]) -> Result<std::ops::Range<u64>> {
        loop {
            let last = self.last_iteration_num()?;
            let first = last.map_or(0, |n| n + 1);
            let numbered: Vec<IterationRecord> = records
                .iter()
                .zip(first..)
                .map(|(r, n)| {
                    let mut r = r.clone();
                    r.iteration_num = n;
                    r
                })
                .collect();
            match self.append_if(last, &numbered) {
                Ok(AppendOutcome::Appended) => return Ok(first..first + records.len() as u64),
                // Another writer came first (or stored the same records).
                Ok(AppendOutcome::AlreadyPresent) | Err(crate::Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

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
    /// The bytes are exactly those saved or imported: a history imported
    /// with [`import_jsonl`](Self::import_jsonl) exports byte for byte as it
    /// was read, whatever the store.
    ///
    /// # Errors
    /// Storage errors, errors writing `out`.
    fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64>;

    /// Replaces (or fills, see [`ImportMode`]) the history with the JSONL
    /// read from `input`, as one atomic, durable commit, keeping every
    /// line byte for byte (see [`crate::import`]): a copy between two
    /// stores through [`export_jsonl`](Self::export_jsonl) and this
    /// method is byte-identical. `progress` is called with the number of
    /// records read so far.
    ///
    /// # Errors
    /// [`Error::InvalidJson`](crate::Error::InvalidJson) naming the first bad
    /// line (nothing imported); [`Error::Conflict`](crate::Error::Conflict)
    /// for [`ImportMode::IntoEmpty`] and a history with records; storage
    /// errors (nothing imported).
    fn import_jsonl(
        &self,
        input: &mut dyn BufRead,
        mode: ImportMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport>;
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
}

/// Copies the whole history of `src` into `dst`, byte for byte, as one
/// atomic commit in `dst` (see [`Store::import_jsonl`]): file store to
/// PostgreSQL and back gives the same bytes. The export and the import run
/// at the same time (the export in a second thread) in constant memory. An
/// export that fails half-way fails the import: `dst` is then unchanged.
/// `progress` is called with the number of records copied so far.
///
/// # Errors
/// Errors of the export (reading `src`) or of the import (writing `dst`,
/// including [`Error::Conflict`](crate::Error::Conflict) for
/// [`ImportMode::IntoEmpty`] and a destination with records).
#[cfg(not(target_family = "wasm"))]
pub fn copy(src: &dyn Store, dst: &dyn Store, mode: ImportMode, progress: &mut dyn FnMut(u64)) -> Result<ImportReport> {
    use std::sync::mpsc;

    let (tx, rx) = mpsc::sync_channel::<Chunk>(16);
    std::thread::scope(|scope| {
        let exporter = scope.spawn(move || {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, ChannelWriter { tx: tx.clone() });
            let result = src.export_jsonl(&mut out).and_then(|n| {
                out.flush().map_err(|e| crate::Error::io("output", "passing the export on", e))?;
                Ok(n)
            });
            drop(out);
            let _ = tx.send(match &result {
                Ok(_) => Chunk::Done,
                Err(e) => Chunk::Failed(e.to_string()),
            });
            result
        });
        let mut input =
            std::io::BufReader::with_capacity(1 << 16, ChannelReader { rx, buf: Vec::new(), pos: 0, done: false });
        let imported = dst.import_jsonl(&mut input, mode, progress);
        // If the import stopped early, unblock the exporter.
        drop(input);
        let exported = exporter.join().unwrap_or_else(|_| {
            Err(crate::Error::Io {
                file: src.describe(),
                op: "exporting (the export thread panicked)",
                source: std::sync::Arc::new(std::io::Error::other("panic")),
            })
        });
        match (exported, imported) {
            // The import failed reading its input because the export failed.
            (Err(ex), Err(crate::Error::Io { file, .. })) if file == "input" => Err(ex),
            // Otherwise the import's error says why (the exporter then only
            // saw the import stop).
            (_, Err(im)) => Err(im),
            (Err(ex), Ok(_)) => Err(ex),
            (Ok(n), Ok(report)) if report.bytes != n && !report.added_final_newline => Err(crate::Error::Io {
                file: dst.describe(),
                op: "copying",
                source: std::sync::Arc::new(std::io::Error::other(format!(
                    "the source exported {n} bytes but the destination holds {}",
                    report.bytes
                ))),
            }),
            (Ok(_), Ok(report)) => Ok(report),
        }
    })
}

#[cfg(not(target_family = "wasm"))]
enum Chunk {
    Data(Vec<u8>),
    Done,
    Failed(String),
}

#[cfg(not(target_family = "wasm"))]
struct ChannelWriter {
    tx: std::sync::mpsc::SyncSender<Chunk>,
}

#[cfg(not(target_family = "wasm"))]
impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .send(Chunk::Data(buf.to_vec()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the import stopped"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads what the exporter sends; the end of the input is reached only when
/// the export finished: a failed export is an error, never a short input.
#[cfg(not(target_family = "wasm"))]
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Chunk>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

#[cfg(not(target_family = "wasm"))]
impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Chunk::Data(d)) => {
                    self.buf = d;
                    self.pos = 0;
                }
                Ok(Chunk::Done) => self.done = true,
                Ok(Chunk::Failed(e)) => return Err(std::io::Error::other(format!("the export failed: {e}"))),
                Err(_) => return Err(std::io::Error::other("the export ended without finishing")),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
