//! The history: open, save, read, verify, repair, clear, export.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::codec::{self, EncodedBody};
use crate::commit::{self, Target};
use crate::error::{Error, Result};
use crate::import::{ImportMode, ImportReport, JsonlReader};
use crate::lock::{self, LockKind, WriterLock};
use crate::options::{CommitStrategy, Options};
use crate::record::IterationRecord;
use crate::recovery::{self, BadLineReport, CutReport, RecoveryReport, RepairReport, TornTail};
use crate::scan::{self, BadLine, Lines, Outcome};
use crate::storage::{Dir, FileName, LastBlock, ReadFile, WriteFile};
use crate::{checkpoint, intent};

mod as_store;
mod maintenance;
mod open;
mod read;
mod save;
mod transfer;

pub use read::Records;

use crate::store::{AppendOutcome, Finding, Health, Page, VerifyReport};

struct WriterState {
    /// The history's file, open for appending (`None` while a replace is
    /// under way or after one failed). Change it only through
    /// [`set_file`](WriterState::set_file).
    file: Option<Box<dyn WriteFile>>,
    /// A read handle on the same file, opened by the first read after `file`
    /// was set and shared by the reads that follow (saves the open and close
    /// of each `load_recent`). The file only grows while it is cached, and
    /// reads stop at `len`; [`set_file`](WriterState::set_file) drops it
    /// whenever the writer renames another file into place (rewrite commit,
    /// compact, clear, repair), so a read never sees a replaced file.
    reader: Option<Arc<dyn ReadFile>>,
    /// Length of the committed (acknowledged) prefix.
    len: u64,
    count: u64,
    last: Option<u64>,
    /// An attempt failed: bytes after `len` must be cut before the next append.
    dirty: bool,
    /// A rename's directory sync failed: sync the directory before committing.
    dir_unsynced: bool,
    /// `[0, len)` is known durable (our own sync): a checkpoint may describe it.
    durable: bool,
    /// The open in-flight commit record (see [`crate::intent`]).
    intent: Option<Box<dyn WriteFile>>,
    lock: WriterLock,
}

impl WriterState {
    /// Sets the history's file handle (`None`: closed) and drops the cached
    /// read handle, which may be on the file being replaced.
    fn set_file(&mut self, file: Option<Box<dyn WriteFile>>) {
        self.file = file;
        self.reader = None;
    }
}

#[derive(Default)]
struct Queue {
    next_ticket: u64,
    pending: Vec<(u64, Vec<EncodedBody>)>,
    leader: bool,
    results: HashMap<u64, Result<()>>,
}

struct Writer {
    state: Mutex<WriterState>,
    queue: Mutex<Queue>,
    done: Condvar,
    report: RecoveryReport,
    lock_kind: LockKind,
}

/// A crash-safe history of iteration records in one JSONL file.
///
/// Open it for writing with [`History::open`] (one writer process at a
/// time; see [`LockKind`](crate::LockKind)) or for reading with [`History::open_read_only`]
/// (no lock; any number of readers, also while a writer appends).
///
/// `History` is `Send + Sync`: share it between threads (e.g. in an `Arc`)
/// and call [`save`](Self::save) from all of them with no lock of your own.
/// Saves that arrive while another is being synced are committed together
/// (group commit): one write and one sync for all of them. Lines never
/// interleave.
///
/// # Durability
/// With the default [`Durability::Full`](crate::Durability::Full), when
/// `save` or `save_batch` returns `Ok` the records are on stable storage and
/// survive a process crash or power loss. Each call is all-or-nothing: after
/// a crash a batch is either entirely there or entirely absent. If it returns
/// `Err`, nothing of it is committed (a retry writes it again in full).
/// A reader sees a record once it is written, possibly a moment before its
/// sync returns; a writer's own reads show only committed records.
pub struct History {
    dir: Arc<dyn Dir>,
    name: FileName,
    display: String,
    options: Options,
    writer: Option<Writer>,
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("file", &self.display)
            .field("writable", &self.writer.is_some())
            .field("options", &self.options)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl History {
    /// The history's file as named in messages (e.g. `runs/history.jsonl`).
    pub fn file(&self) -> &str {
        &self.display
    }

    /// Whether this handle can write.
    pub fn is_writable(&self) -> bool {
        self.writer.is_some()
    }

    /// What opening for writing found and did (`None` for read-only handles).
    pub fn recovery_report(&self) -> Option<&RecoveryReport> {
        self.writer.as_ref().map(|w| &w.report)
    }

    /// The kind of writer lock held (`None` for read-only handles).
    pub fn lock_kind(&self) -> Option<LockKind> {
        self.writer.as_ref().map(|w| w.lock_kind)
    }

    fn target(&self) -> Target<'_> {
        Target { dir: &*self.dir, name: &self.name, display: &self.display, durability: self.options.durability }
    }

    fn writer(&self, op: &'static str) -> Result<&Writer> {
        self.writer.as_ref().ok_or_else(|| Error::ReadOnly { file: self.display.clone(), op })
    }
}
