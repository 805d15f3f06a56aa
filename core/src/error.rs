//! Errors. Each message names the file, says what happened and what to do.

use std::io;
use std::sync::Arc;

use crate::codec::LineError;
use crate::record::FieldError;
use crate::storage::NameError;

/// Everything a history operation can fail with.
///
/// Cheap to clone (I/O sources are shared), so one failed group commit can
/// be reported to every thread that took part in it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk (or quota) is full. Nothing was committed; free space and
    /// retry.
    #[error(
        "{file}: no space left on the device while {op}; nothing was committed and the history is unchanged: free some space and retry"
    )]
    DiskFull {
        /// The file concerned.
        file: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The OS refused access (permissions, read-only file system).
    #[error(
        "{file}: permission denied while {op}: {source}; check that the directory and file are writable by this user (or open the history read-only)"
    )]
    PermissionDenied {
        /// The file concerned.
        file: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// Any other I/O error.
    #[error("{file}: I/O error while {op}: {source}")]
    Io {
        /// The file concerned.
        file: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// Syncing to disk failed: what was written since the last successful
    /// sync may or may not be on disk. The operation was not committed; it is
    /// written again in full if retried.
    #[error(
        "{file}: syncing to disk failed while {op}: {source}; the operation was not committed (a retry writes it again in full)"
    )]
    SyncFailed {
        /// The file concerned.
        file: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// Another writer holds the history.
    #[error(
        "{file}: locked by another writer{holder}; only one process may write a history at a time: wait for it to finish, set a lock timeout, or open the history read-only"
    )]
    Locked {
        /// The history.
        file: String,
        /// Who holds it, when known (`": pid 123"`), else empty.
        holder: String,
    },
    /// The writer lock file `<history>.lock` belongs to another user, who
    /// could hold its lock and so block every writer; it is not used.
    #[error(
        "{file}: the writer lock file is owned by uid {owner}, not by this user (uid {user}); whoever owns it can hold the lock and block every writer of this history, so it is not used: if no one else should write this history, have its owner (or root) remove {file}, then retry"
    )]
    LockFileNotOwned {
        /// The lock file.
        file: String,
        /// The user id that owns it.
        owner: u32,
        /// This process's effective user id.
        user: u32,
    },
    /// A line that is not a valid record is followed by valid ones.
    #[error(
        "{file}: corrupt at line {line} (byte {offset}): {reason}; run `repair` to move the bad lines to a sidecar file and keep the rest"
    )]
    Corrupt {
        /// The history.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Byte offset of the line's first byte.
        offset: u64,
        /// What is wrong with the line.
        reason: LineError,
    },
    /// A record cannot be saved; nothing was written.
    #[error("{file}: invalid record{at}: {source}; nothing was written")]
    InvalidRecord {
        /// The history.
        file: String,
        /// `" (record 3 of the batch)"` for batches, else empty.
        at: String,
        /// The field and the problem.
        #[source]
        source: FieldError,
    },
    /// A record given as JSON text cannot be read.
    #[error("{file}: invalid record{at}: {reason}; nothing was written")]
    InvalidJson {
        /// The history.
        file: String,
        /// Where in the input, if known.
        at: String,
        /// What is wrong.
        reason: LineError,
    },
    /// A name that is not a plain file name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// A write was attempted through a read-only handle.
    #[error("{file}: opened read-only; open it with `History::open` to {op}")]
    ReadOnly {
        /// The history.
        file: String,
        /// The refused operation.
        op: &'static str,
    },
    /// A compare-and-append found a different last iteration.
    #[error(
        "{file}: conflict: expected the last iteration to be {expected}, but it is {actual}; another writer got there first: reload and decide again"
    )]
    Conflict {
        /// The history.
        file: String,
        /// What the caller expected (`none` for an empty history).
        expected: String,
        /// What it is.
        actual: String,
    },
    /// The file changed under an open writer: a program that does not take
    /// the writer lock wrote to it. Nothing was written.
    #[error(
        "{file}: changed by another program while this writer had it open (expected {expected} bytes, found {actual}); nothing was written: a process that ignores the writer lock (such as the original Python module) must not write this history: stop it, then reopen"
    )]
    ChangedExternally {
        /// The history.
        file: String,
        /// Length this writer committed.
        expected: u64,
        /// Length found.
        actual: u64,
    },
    /// A page cursor that is not a line start of this history.
    #[error("{file}: invalid cursor {cursor}: not the start of a line of this history; start again from 0")]
    InvalidCursor {
        /// The history.
        file: String,
        /// The cursor given.
        cursor: u64,
    },
    /// A database or other service behind a store (not a file) failed or
    /// refused: unreachable, wrong credentials, missing database, a
    /// duplicate key, a lost connection. The message names the store (never
    /// its password) and what to do.
    #[error("{store}: {message}")]
    Backend {
        /// The store, as named in messages (a URL without its password).
        store: String,
        /// What kind of failure.
        kind: BackendErrorKind,
        /// What happened and what to do.
        message: String,
    },
    /// The lease-based lock (systems without OS locks) was taken over.
    #[error("{file}: this writer's lease was taken over by another writer; nothing was committed: reopen the history")]
    LeaseLost {
        /// The history.
        file: String,
    },
}

impl Error {
    /// Maps an I/O error to the right variant.
    pub(crate) fn io(file: &str, op: &'static str, e: io::Error) -> Error {
        let file = file.to_string();
        let source = Arc::new(e);
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Error::DiskFull { file, op, source },
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                Error::PermissionDenied { file, op, source }
            }
            _ => Error::Io { file, op, source },
        }
    }

    /// A failed sync (the data's fate is unknown).
    pub(crate) fn sync(file: &str, op: &'static str, e: io::Error) -> Error {
        match Error::io(file, op, e) {
            Error::Io { file, op, source } => Error::SyncFailed { file, op, source },
            other => other,
        }
    }

    /// The underlying OS error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::DiskFull { source, .. }
            | Error::PermissionDenied { source, .. }
            | Error::Io { source, .. }
            | Error::SyncFailed { source, .. } => Some(source),
            _ => None,
        }
    }

    /// A short stable code for scripts and bindings (`disk-full`,
    /// `permission-denied`, `io`, `sync-failed`, `locked`, `lock-not-owned`, `corrupt`,
    /// `invalid-record`, `invalid-name`, `read-only`, `conflict`,
    /// `lease-lost`, `changed-externally`, `invalid-cursor`; for stores on
    /// a service: `unreachable`, `auth-failed`, `not-found`, `duplicate`,
    /// `outcome-unknown`, `backend`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::DiskFull { .. } => "disk-full",
            Error::PermissionDenied { .. } => "permission-denied",
            Error::Io { .. } => "io",
            Error::SyncFailed { .. } => "sync-failed",
            Error::Locked { .. } => "locked",
            Error::LockFileNotOwned { .. } => "lock-not-owned",
            Error::Corrupt { .. } => "corrupt",
            Error::InvalidRecord { .. } | Error::InvalidJson { .. } => "invalid-record",
            Error::InvalidName(_) => "invalid-name",
            Error::ReadOnly { .. } => "read-only",
            Error::Conflict { .. } => "conflict",
            Error::LeaseLost { .. } => "lease-lost",
            Error::ChangedExternally { .. } => "changed-externally",
            Error::InvalidCursor { .. } => "invalid-cursor",
            Error::Backend { kind, .. } => match kind {
                BackendErrorKind::Unreachable => "unreachable",
                BackendErrorKind::Authentication => "auth-failed",
                BackendErrorKind::NotFound => "not-found",
                BackendErrorKind::Duplicate => "duplicate",
                BackendErrorKind::OutcomeUnknown => "outcome-unknown",
                BackendErrorKind::Corrupt => "corrupt",
                BackendErrorKind::Other => "backend",
            },
        }
    }
}

/// What kind of failure an [`Error::Backend`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// The service could not be reached (connection refused, host unknown,
    /// timeout). Nothing was done.
    Unreachable,
    /// The service refused the credentials (wrong password, unknown user).
    Authentication,
    /// The database (or bucket, ...) named does not exist.
    NotFound,
    /// A record with this `iteration_num` is already stored (stores that
    /// key records by their iteration). Nothing was written.
    Duplicate,
    /// The connection broke while a commit was under way: it may or may not
    /// have been committed. A retry of a compare-and-append is safe (it is
    /// idempotent).
    OutcomeUnknown,
    /// What the service holds is not a valid history (changed by another
    /// program, or a newer schema).
    Corrupt,
    /// Any other error reported by the service.
    Other,
}

/// Result of history operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
