//! The history a command works on: a path split into a directory capability
//! and a file name, opened read-only (no lock) or for writing (writer lock).

use std::io;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir as CapDir;
use iteration_history::storage::CapStdDir;
use iteration_history::{History, Options};

use crate::ctx::Ctx;
use crate::error::{CliError, Result};

/// A history file given on the command line.
#[derive(Debug, Clone)]
pub(crate) struct HistoryPath {
    path: PathBuf,
    /// The directory to open ("." when the path has none).
    dir: PathBuf,
    /// How the directory is named in messages ("" when the path has none).
    dir_display: String,
    name: String,
}

impl HistoryPath {
    /// Splits `path` into its directory and file name.
    pub(crate) fn new(path: &Path) -> Result<Self> {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            CliError::new(
                "usage",
                format!(
                    "{}: a history must be a path ending in a UTF-8 file name (e.g. runs/history.jsonl)",
                    path.display()
                ),
            )
        })?;
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        Ok(HistoryPath {
            path: path.to_path_buf(),
            dir: parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            dir_display: parent.map(|p| p.display().to_string()).unwrap_or_default(),
            name: name.to_string(),
        })
    }

    /// The path as given.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The path as shown in messages.
    pub(crate) fn display(&self) -> String {
        self.path.display().to_string()
    }

    /// Whether the history file exists.
    pub(crate) fn exists(&self) -> bool {
        self.path.exists()
    }

    fn open_dir(&self) -> Result<CapStdDir> {
        let dir = CapDir::open_ambient_dir(&self.dir, ambient_authority()).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                CliError::new(
                    "not-found",
                    format!("{}: the directory {} does not exist; check the path", self.display(), self.dir.display()),
                )
            } else {
                CliError::io(&self.dir, "open the directory", &e)
            }
        })?;
        Ok(CapStdDir::new(dir, self.dir_display.clone()))
    }

    /// Fails unless the history file exists and is a file.
    pub(crate) fn require_file(&self) -> Result<()> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(CliError::new(
                "usage",
                format!("{}: is a directory, not a history file; give the file's path", self.display()),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CliError::new(
                "not-found",
                format!(
                    "{}: no such history file; check the path (`ihist save`, `ihist import` and `ihist demo` create one)",
                    self.display()
                ),
            )),
            Err(e) => Err(CliError::io(&self.path, "read the history", &e)),
        }
    }

    /// Opens the history read-only: no lock, nothing changed, works while
    /// a writer appends. The file must exist.
    pub(crate) fn reader(&self) -> Result<History> {
        self.require_file()?;
        Ok(History::open_read_only(self.open_dir()?, &self.name)?)
    }

    /// Opens the history for writing (takes the writer lock and recovers a
    /// torn tail). With `create`, a missing file and its directories are
    /// created; otherwise the file must exist.
    pub(crate) fn writer(&self, ctx: &Ctx, create: bool, options: Options) -> Result<History> {
        if create {
            if !self.dir.exists() {
                std::fs::create_dir_all(&self.dir)
                    .map_err(|e| CliError::io(&self.dir, "create the history's directory", &e))?;
            }
        } else {
            self.require_file()?;
        }
        let history = History::open(self.open_dir()?, &self.name, options.lock_timeout(ctx.lock_timeout))?;
        if let Some(report) = history.recovery_report() {
            for temp in &report.removed_temp_files {
                ctx.note(format!("note: removed a stale temp file {temp} left by an interrupted rewrite"));
            }
            if let Some(torn) = &report.torn_tail {
                ctx.note(format!(
                    "note: {}: moved a torn tail ({} bytes at line {}, byte {}: {}) to {}; it was the unfinished write of a crashed writer, never acknowledged",
                    history.file(),
                    torn.bytes,
                    torn.line,
                    torn.offset,
                    torn.reason,
                    torn.sidecar
                ));
            }
            if report.added_final_newline {
                ctx.note(format!("note: {}: added the missing newline after the last record", history.file()));
            }
        }
        Ok(history)
    }
}
