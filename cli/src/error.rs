//! Errors of the command-line tool: one line naming the file and what to do,
//! a stable code for scripts, and the process exit code.

use std::fmt;
use std::io;
use std::path::Path;

/// Exit code: success (for `verify`: the history is healthy).
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: an error (bad input, missing file, I/O error, ...).
pub(crate) const EXIT_ERROR: u8 = 1;
/// Exit code: a usage error (bad arguments).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: `verify` found a torn tail (an unfinished last write, not a complete commit).
pub(crate) const EXIT_TORN: u8 = 3;
/// Exit code: the history is corrupt (a bad line followed by valid ones).
pub(crate) const EXIT_CORRUPT: u8 = 4;
/// Exit code: another process holds the history's writer lock.
pub(crate) const EXIT_LOCKED: u8 = 5;

/// A failed command.
#[derive(Debug)]
pub(crate) struct CliError {
    /// One line: the file, what happened, what to do.
    pub(crate) message: String,
    /// A stable code for scripts (the core's codes plus `not-found`,
    /// `invalid-input`, `usage`, `output`, `viewer-missing`, `port`,
    /// `not-empty`).
    pub(crate) code: &'static str,
    /// The process exit code.
    pub(crate) exit: u8,
}

/// Result of a command: the exit code on success.
pub(crate) type Result<T = u8, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// An error with exit code 1.
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        CliError { message: one_line(message.into()), code, exit: EXIT_ERROR }
    }

    /// A usage error (exit code 2, as for arguments clap refuses).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CliError { message: one_line(message.into()), code: "usage", exit: EXIT_USAGE }
    }

    /// Writing to standard output failed (`BrokenPipe` means the reader
    /// went away, e.g. `ihist export h.jsonl | head`: not an error).
    pub(crate) fn stdout(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return CliError { message: String::new(), code: "broken-pipe", exit: EXIT_OK };
        }
        CliError::new("output", format!("standard output: cannot write: {e}"))
    }

    /// An I/O error on `path` while doing `what`, with advice.
    pub(crate) fn io(path: &Path, what: &str, e: &io::Error) -> Self {
        let advice = match e.kind() {
            io::ErrorKind::NotFound => "; check the path",
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                "; check the permissions (or choose another location)"
            }
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => "; free some space and retry",
            _ => "",
        };
        let code = match e.kind() {
            io::ErrorKind::NotFound => "not-found",
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => "permission-denied",
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => "disk-full",
            _ => "io",
        };
        CliError::new(code, format!("{}: cannot {what}: {e}{advice}", path.display()))
    }
}

impl From<iteration_history::Error> for CliError {
    /// The core's message, with its advice phrased as `ihist` commands.
    fn from(e: iteration_history::Error) -> Self {
        use iteration_history::Error;
        let (exit, message) = match &e {
            Error::Corrupt { file, line, offset, reason, .. } => (
                EXIT_CORRUPT,
                format!(
                    "{file}: corrupt at line {line} (byte {offset}): {reason}; run `ihist repair {file}` to move the bad lines to a sidecar file and keep the rest"
                ),
            ),
            Error::Locked { file, holder, .. } => (
                EXIT_LOCKED,
                format!(
                    "{file}: locked by another writer{holder}; only one process may write a history at a time: wait for it to finish or pass --lock-timeout SECONDS (read commands work meanwhile)"
                ),
            ),
            Error::Backend { kind: iteration_history::BackendErrorKind::Corrupt, .. } => (EXIT_CORRUPT, e.to_string()),
            _ => (EXIT_ERROR, e.to_string()),
        };
        CliError { message: one_line(message), code: e.code(), exit }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Errors are printed on one line: any line break becomes a space.
fn one_line(s: String) -> String {
    if s.contains(['\n', '\r']) { s.replace("\r\n", " ").replace(['\n', '\r'], " ") } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        let e = CliError::new("io", "a\nb\r\nc");
        assert_eq!(e.message, "a b c");
    }

    #[test]
    fn broken_pipe_is_a_quiet_success() {
        let e = CliError::stdout(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!((e.exit, e.code), (EXIT_OK, "broken-pipe"));
        let e = CliError::stdout(io::Error::from(io::ErrorKind::Other));
        assert_eq!(e.exit, EXIT_ERROR);
    }
}
