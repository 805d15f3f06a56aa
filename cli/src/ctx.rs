//! What every command gets: the global flags and the output channels.

use std::io::Write;
use std::time::Duration;

use crate::error::{CliError, Result};

/// Global flags and output helpers.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// Machine-readable output (JSON) instead of text.
    pub(crate) json: bool,
    /// No progress bars and no notes on standard error.
    pub(crate) quiet: bool,
    /// How long a writer waits for another writer's lock.
    pub(crate) lock_timeout: Option<Duration>,
}

impl Ctx {
    /// Prints one line on standard output.
    pub(crate) fn out(&self, line: impl AsRef<str>) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_ref().as_bytes()).and_then(|()| out.write_all(b"\n")).map_err(CliError::stdout)
    }

    /// Prints a JSON value on one line of standard output.
    pub(crate) fn out_json(&self, value: &serde_json::Value) -> Result<()> {
        self.out(value.to_string())
    }

    /// A note for people on standard error (not with `--quiet`).
    pub(crate) fn note(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", line.as_ref());
        }
    }

    /// Whether progress bars are shown (they are also hidden when standard
    /// error is not a terminal).
    pub(crate) fn progress(&self) -> bool {
        !self.json && !self.quiet
    }
}
