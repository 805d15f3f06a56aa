//! A crash-safe history of iteration records, one JSON object per line.
//!
//! Built for long-running learning loops that save one record per
//! iteration and must resume where they stopped after any crash. The file is
//! plain JSONL that `grep`, `jq` and Python's `json` read as it is.
//!
//! # Guarantees
//! With the default options ([`CommitStrategy::Append`],
//! [`Durability::Full`]):
//! * When [`History::save`] or [`History::save_batch`] returns `Ok`, the
//!   records are on stable storage: they survive a process crash and a power
//!   loss (on a disk that honours flushes, with a local file system).
//! * Each save and each batch is all-or-nothing. A crash leaves at most a
//!   torn tail of the last, unacknowledged write; the next writer moves it to
//!   a sidecar file (`<history>.torn.<n>`) and reports it. Nothing is
//!   silently dropped.
//! * Damage in the middle of the file is reported as corruption with its
//!   line number and byte offset, never skipped, by every read that reaches
//!   it and by [`History::verify`]; [`History::repair`] moves bad lines to a
//!   sidecar and keeps the rest.
//! * A history cut or filtered line by line (`head`, `tail`, `grep`,
//!   `split`) reads as exactly the records it holds (see [`scan`]).
//! * Threads share one `History` and call `save` with no lock of their own;
//!   concurrent saves are committed together (group commit). One process
//!   writes at a time (an OS lock on `<history>.lock`); readers need no lock
//!   and never see a partial record.
//!
//! # How a commit reaches the disk
//! Appends are `pwrite` + `fdatasync`; everything else is replaced by a
//! temp file, `fsync`, rename and directory `fsync`. The sequences, and the
//! few others (create, truncate, the in-flight record, the lease), are
//! described once, in `docs/durability.md` ("How a commit reaches the
//! disk").
//! All of it goes through the [`storage::Dir`] trait: a capability handle to
//! one directory. The core never calls `std::fs` and builds no paths.
//!
//! # Example
//! ```
//! use iteration_history::{History, IterationRecord, Options, storage::MemDir};
//!
//! # fn main() -> Result<(), iteration_history::Error> {
//! let dir = MemDir::new(); // or CapStdDir::create_ambient("runs")?
//! let history = History::open(dir, "history.jsonl", Options::default())?;
//! let next = history.last_iteration_num()?.map_or(0, |n| n + 1);
//! for i in next..next + 3 {
//!     let mut rec = IterationRecord::new(i, "def strategy(): ...");
//!     rec.set_metric("sharpe_ratio", 1.2 + i as f64);
//!     rec.classification_level = "LEVEL_1".into();
//!     rec.timestamp = "2025-01-01T00:00:00".into();
//!     history.save(&rec)?;
//! }
//! assert_eq!(history.count()?, 3);
//! let recent = history.load_recent(2)?;
//! assert_eq!(recent[1].iteration_num, 2);
//! # Ok(()) }
//! ```
//!
//! # Limitations
//! * One writing process per history; the OS lock is not reliable on
//!   network file systems (NFS, SMB).
//! * Durability depends on the disk honouring flushes; a disk that lies
//!   loses acknowledged data on power loss, as every database does.
//! * Where directories cannot be synced (Windows, some WASI hosts; see
//!   [`storage::Capabilities`]), creates and renames are atomic but their
//!   durability after a power loss is up to the OS.
//! * Integers beyond 64 bits are read as floats; a lone UTF-16 surrogate
//!   escape (possible in Python output) is read as U+FFFD.

// The modules, in ARCHITECTURE.md's layer order (lowest first; checked by
// `core/tests/tidy.rs`). Private, except the few whose items other crates
// use as a module: the storage trait (to implement a `Dir`), the line format
// and codec (readers of lines: the viewer, the CLI), the scanner's rules
// (for bytes a caller holds) and the two JSON dialects.
mod checkpoint;
pub mod codec;
mod commit;
mod error;
pub mod format;
mod history;
mod import;
mod intent;
pub mod json;
mod lock;
mod options;
pub mod pyjson;
mod record;
mod recovery;
pub mod scan;
pub mod storage;
mod store;
mod value;

pub use error::{BackendErrorKind, Error, Result};
pub use history::{History, Records};
pub use import::{DEFAULT_MAX_LINE_BYTES, ImportMode, ImportReport, ImportedRecord, JsonlReader, record_line};
pub use lock::LockKind;
pub use options::{CommitStrategy, Durability, Options};
pub use record::{FieldError, IterationRecord, MAX_ITERATION_NUM};
pub use recovery::{BadLineReport, CutReport, RecoveryReport, RepairReport, TornTail};
#[cfg(not(target_family = "wasm"))]
pub use store::copy;
pub use store::{AppendOutcome, CompactReport, Finding, Health, Page, Store, VerifyReport, verify_export};
pub use value::{Map, Number, Value};

/// The crate's README, compiled and run as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The project's README, compiled as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ProjectReadmeDoctests;

/// The library's page of the docs, compiled as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../docs/library.md")]
pub struct LibraryDocDoctests;
