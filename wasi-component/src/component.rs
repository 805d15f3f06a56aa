//! The exported `store` interface: each call converts its arguments, calls
//! the core, and converts the result. No storage logic here.

use std::sync::Arc;

use iteration_history::storage::Dir;
use iteration_history::{AppendOutcome, History as CoreHistory};

use crate::backend;
use crate::bindings::exports::iteration_history::history::store::{self as wit, Guest, GuestHistory};
use crate::convert::{self, error_to_wit};
use crate::text_page::{self, Dialect, TextWriter};
use iteration_history::Value;

/// The component.
pub(crate) struct Component;

impl Guest for Component {
    type History = HistoryHandle;

    fn default_options() -> wit::OpenOptions {
        convert::default_options()
    }

    fn verify_file(name: String) -> Res<wit::VerifyReport> {
        check_name(&name)?;
        let reader = CoreHistory::open_read_only_shared(dir()?, &name).map_err(|e| error_to_wit(e, || None))?;
        let report = reader.verify().map_err(|e| error_to_wit(e, || None))?;
        Ok(convert::verify_to_wit(&report))
    }
}

/// A history opened by the guest.
pub(crate) struct HistoryHandle {
    inner: CoreHistory,
    /// The preopened directory (shared with `inner`), for `export`.
    dir: Arc<dyn Dir>,
    dir_sync: bool,
}

type Res<T> = Result<T, wit::Error>;

/// Opens the preopened directory; names are checked by the core
/// (`FileName`) before any filesystem call.
fn dir() -> Res<Arc<dyn Dir>> {
    let dir = backend::open_dir().map_err(|e| wit::Error::Io(format!("opening the preopened directory: {e}")))?;
    Ok(Arc::new(dir))
}

/// Refuses a bad name before the preopened directory is even looked up.
fn check_name(name: &str) -> Res<()> {
    iteration_history::storage::FileName::new(name).map(|_| ()).map_err(|e| wit::Error::InvalidName(e.to_string()))
}

fn open_handle(name: &str, options: Option<&wit::OpenOptions>) -> Res<wit::History> {
    check_name(name)?;
    let dir = dir()?;
    let dir_sync = dir.capabilities().dir_sync;
    let inner = match options {
        Some(o) => CoreHistory::open_shared(dir.clone(), name, convert::options_from_wit(o)),
        None => CoreHistory::open_read_only_shared(dir.clone(), name),
    }
    .map_err(|e| error_to_wit(e, || None))?;
    Ok(wit::History::new(HistoryHandle { inner, dir, dir_sync }))
}

impl HistoryHandle {
    /// Maps a core error, looking up the actual last iteration for conflicts.
    fn err(&self, e: iteration_history::Error) -> wit::Error {
        error_to_wit(e, || self.inner.last_iteration_num().ok().flatten())
    }
}

fn dialect_of(d: wit::TextDialect) -> Dialect {
    match d {
        wit::TextDialect::Python => Dialect::Python,
        wit::TextDialect::Javascript => Dialect::Javascript,
    }
}

/// Checked records as one text page (see `text_page`).
fn text_page(
    records: &[iteration_history::IterationRecord],
    d: wit::TextDialect,
    next_cursor: Option<u64>,
) -> wit::TextPage {
    // A record's text is about as long as its strategy code plus ~250 bytes.
    let size: usize = records.iter().map(|r| r.strategy_code.len() + 256).sum();
    let mut w = TextWriter::new(dialect_of(d), size);
    for r in records {
        w.push_record(r);
    }
    let count = w.count() as u32;
    let (text, fixups) = w.finish();
    wit::TextPage { text, fixups, count, next_cursor }
}

fn limit(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl GuestHistory for HistoryHandle {
    fn open(name: String) -> Res<wit::History> {
        open_handle(&name, Some(&convert::default_options()))
    }

    fn open_with(name: String, options: wit::OpenOptions) -> Res<wit::History> {
        open_handle(&name, Some(&options))
    }

    fn open_read_only(name: String) -> Res<wit::History> {
        open_handle(&name, None)
    }

    fn open_report(&self) -> wit::OpenReport {
        convert::open_report(self.inner.file(), self.inner.recovery_report(), self.inner.lock_kind(), self.dir_sync)
    }

    fn save(&self, record: wit::IterationRecord) -> Res<()> {
        let rec = convert::record_from_wit(record, None)?;
        self.inner.save(&rec).map_err(|e| self.err(e))
    }

    fn save_batch(&self, records: Vec<wit::IterationRecord>) -> Res<()> {
        let recs = convert::records_from_wit(records)?;
        self.inner.save_batch(&recs).map_err(|e| self.err(e))
    }

    fn save_if_last(&self, expected_last: Option<u64>, records: Vec<wit::IterationRecord>) -> Res<wit::AppendOutcome> {
        let recs = convert::records_from_wit(records)?;
        match self.inner.save_if_last(expected_last, &recs).map_err(|e| self.err(e))? {
            AppendOutcome::AlreadyPresent => Ok(wit::AppendOutcome::AlreadyPresent),
            _ => Ok(wit::AppendOutcome::Appended),
        }
    }

    fn save_json(&self, line: String) -> Res<()> {
        let rec = convert::record_from_json(&line, None)?;
        self.inner.save(&rec).map_err(|e| self.err(e))
    }

    fn save_batch_json(&self, lines: Vec<String>) -> Res<()> {
        let batch = lines.len() > 1;
        let recs = lines
            .iter()
            .enumerate()
            .map(|(i, l)| convert::record_from_json(l, batch.then_some(i as u32)))
            .collect::<Res<Vec<_>>>()?;
        self.inner.save_batch(&recs).map_err(|e| self.err(e))
    }

    fn load_recent(&self, n: u32) -> Res<Vec<wit::IterationRecord>> {
        let recs = self.inner.load_recent(limit(n)).map_err(|e| self.err(e))?;
        Ok(recs.into_iter().map(convert::record_to_wit).collect())
    }

    fn load_recent_json(&self, n: u32) -> Res<Vec<String>> {
        let recs = self.inner.load_recent(limit(n)).map_err(|e| self.err(e))?;
        recs.iter().map(convert::record_to_json).collect()
    }

    fn get_all(&self, cursor: u64, limit_: u32) -> Res<wit::Page> {
        let page = self.inner.page(cursor, limit(limit_)).map_err(|e| self.err(e))?;
        Ok(wit::Page {
            records: page.records.into_iter().map(convert::record_to_wit).collect(),
            next_cursor: page.next_cursor,
        })
    }

    fn get_all_json(&self, cursor: u64, limit_: u32) -> Res<wit::JsonPage> {
        let page = self.inner.page(cursor, limit(limit_)).map_err(|e| self.err(e))?;
        Ok(wit::JsonPage {
            lines: page.records.iter().map(convert::record_to_json).collect::<Res<_>>()?,
            next_cursor: page.next_cursor,
        })
    }

    fn get_all_text(&self, cursor: u64, limit_: u32, dialect: wit::TextDialect) -> Res<wit::TextPage> {
        let page = self.inner.page(cursor, limit(limit_)).map_err(|e| self.err(e))?;
        Ok(text_page(&page.records, dialect, page.next_cursor))
    }

    fn load_recent_text(&self, n: u32, dialect: wit::TextDialect) -> Res<wit::TextPage> {
        let recs = self.inner.load_recent(limit(n)).map_err(|e| self.err(e))?;
        Ok(text_page(&recs, dialect, None))
    }

    fn columns(&self, fields: Vec<String>, dialect: wit::TextDialect) -> Res<wit::TextPage> {
        // Per column: its values, and whether they are top-level metrics
        // (then 64-bit integers cross as in a record's `metrics`).
        let mut cols: Vec<(Vec<Option<Value>>, bool)> = vec![(Vec::new(), false); fields.len()];
        for rec in self.inner.iter().map_err(|e| self.err(e))? {
            let rec = rec.map_err(|e| self.err(e))?;
            for ((col, metric), name) in cols.iter_mut().zip(&fields) {
                let mut scratch = Default::default();
                col.push(text_page::lookup(&rec, name, &mut scratch).cloned());
                *metric |= text_page::is_metric(&rec, name);
            }
        }
        let mut w = TextWriter::new(dialect_of(dialect), 16 * cols.first().map_or(0, |c| c.0.len()) * cols.len());
        for (col, metric) in &cols {
            w.push_column(col.iter().map(Option::as_ref), *metric);
        }
        let count = w.count() as u32;
        let (text, fixups) = w.finish();
        Ok(wit::TextPage { text, fixups, count, next_cursor: None })
    }

    fn count(&self) -> Res<u64> {
        self.inner.count().map_err(|e| self.err(e))
    }

    fn last_iteration_num(&self) -> Res<Option<u64>> {
        self.inner.last_iteration_num().map_err(|e| self.err(e))
    }

    fn clear(&self) -> Res<()> {
        self.inner.clear().map_err(|e| self.err(e))
    }

    fn verify(&self) -> Res<wit::VerifyReport> {
        let report = self.inner.verify().map_err(|e| self.err(e))?;
        Ok(convert::verify_to_wit(&report))
    }

    fn repair(&self) -> Res<wit::RepairReport> {
        let report = self.inner.repair().map_err(|e| self.err(e))?;
        Ok(convert::repair_to_wit(&report))
    }

    fn compact(&self) -> Res<u64> {
        self.inner.compact().map_err(|e| self.err(e))
    }

    fn export(&self, name: String) -> Res<u64> {
        self.inner.export_to(&*self.dir, &name).map_err(|e| self.err(e))
    }
}
