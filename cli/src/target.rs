//! The history a command works on: a file (a path split into a directory
//! capability and a file name, opened read-only with no lock, or for writing
//! with the writer lock) or a PostgreSQL store (`postgres://` URL; with the
//! `postgres` cargo feature).

use std::io;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir as CapDir;
use iteration_history::storage::CapStdDir;
use iteration_history::{History, IterationRecord, Options, Store};
#[cfg(feature = "postgres")]
use iteration_history_postgres::PgStore;

use crate::ctx::Ctx;
use crate::error::{CliError, Result};

/// The URL form shown in messages and help.
pub(crate) const PG_URL_FORM: &str = "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?history=NAME]";

/// A history given on the command line: a file or a store URL.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A JSONL history file.
    File(HistoryPath),
    /// A history in PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(PgUrl),
}

/// A PostgreSQL store URL. Its `Debug` and [`display`](Self::display)
/// never show the password.
#[cfg(feature = "postgres")]
#[derive(Clone)]
pub(crate) struct PgUrl {
    url: String,
}

#[cfg(feature = "postgres")]
impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

#[cfg(feature = "postgres")]
impl PgUrl {
    /// The URL without its password.
    pub(crate) fn display(&self) -> String {
        iteration_history_postgres::redact(&self.url)
    }

    /// Connects for reading and writing (creates the tables and the
    /// history if needed).
    pub(crate) fn open(&self) -> Result<PgStore> {
        Ok(PgStore::open(&self.url)?)
    }

    /// Connects for reading only (creates nothing).
    pub(crate) fn open_read_only(&self) -> Result<PgStore> {
        Ok(PgStore::open_read_only(&self.url)?)
    }
}

/// `s` starts with `scheme://` (letters, digits, `+`, `-`, `.`).
fn url_scheme(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once("://")?;
    let ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some(scheme)
}

impl Target {
    /// A file path, or a `postgres://` URL.
    pub(crate) fn parse(arg: &str) -> Result<Target> {
        match url_scheme(arg) {
            None => Ok(Target::File(HistoryPath::new(Path::new(arg))?)),
            Some("postgres" | "postgresql") => {
                #[cfg(feature = "postgres")]
                {
                    Ok(Target::Postgres(PgUrl { url: arg.to_string() }))
                }
                #[cfg(not(feature = "postgres"))]
                {
                    Err(CliError::usage(
                        "this ihist was built without PostgreSQL support: rebuild it with the `postgres` cargo feature (on by default)",
                    ))
                }
            }
            Some(scheme) => Err(CliError::usage(format!(
                "{scheme}:// stores are not supported: give a history file's path or a PostgreSQL URL, {PG_URL_FORM}"
            ))),
        }
    }

    /// How the history is named in messages (never with a password).
    pub(crate) fn display(&self) -> String {
        match self {
            Target::File(p) => p.display(),
            #[cfg(feature = "postgres")]
            Target::Postgres(u) => u.display(),
        }
    }

    /// Opens the history read-only: no lock, nothing created or changed.
    /// A file must exist; a PostgreSQL history that does not exist reads
    /// as empty.
    pub(crate) fn reader(&self) -> Result<Opened> {
        match self {
            Target::File(p) => Ok(Opened::File(Box::new(p.reader()?))),
            #[cfg(feature = "postgres")]
            Target::Postgres(u) => Ok(Opened::Postgres(Box::new(u.open_read_only()?))),
        }
    }

    /// Opens the history for writing. A file: takes the writer lock and
    /// recovers a torn tail; with `create`, a missing file and its
    /// directories are created, otherwise the file must exist. PostgreSQL:
    /// creates the tables and the history if needed.
    pub(crate) fn writer(&self, ctx: &Ctx, create: bool) -> Result<Opened> {
        self.writer_with(ctx, create, Options::default())
    }

    /// [`writer`](Self::writer) with the file store's `options` (other
    /// stores have none).
    pub(crate) fn writer_with(&self, ctx: &Ctx, create: bool, options: Options) -> Result<Opened> {
        match self {
            Target::File(p) => Ok(Opened::File(Box::new(p.writer(ctx, create, options)?))),
            #[cfg(feature = "postgres")]
            Target::Postgres(u) => Ok(Opened::Postgres(Box::new(u.open()?))),
        }
    }

    /// The history file, if it is one.
    pub(crate) fn as_file(&self) -> Option<&HistoryPath> {
        match self {
            Target::File(p) => Some(p),
            #[cfg(feature = "postgres")]
            Target::Postgres(_) => None,
        }
    }

    /// The file's path, for a history file.
    pub(crate) fn file_path(&self) -> Option<&Path> {
        self.as_file().map(HistoryPath::path)
    }

    /// Whether `self` and `other` are the same history file.
    pub(crate) fn same_file(&self, other: &Target) -> bool {
        match (self.file_path(), other.file_path()) {
            (Some(a), Some(b)) => match (a.canonicalize(), b.canonicalize()) {
                (Ok(x), Ok(y)) => x == y,
                _ => a == b,
            },
            _ => false,
        }
    }
}

/// An open history: the file store or a PostgreSQL store, both behind the
/// same [`Store`] contract.
#[derive(Debug)]
pub(crate) enum Opened {
    /// A history file.
    File(Box<History>),
    /// A history in PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(Box<PgStore>),
}

/// Records per page of a scan.
#[cfg(feature = "postgres")]
const PAGE: usize = 1000;

impl Opened {
    /// The store contract.
    pub(crate) fn store(&self) -> &dyn Store {
        match self {
            Opened::File(h) => &**h,
            #[cfg(feature = "postgres")]
            Opened::Postgres(s) => &**s,
        }
    }

    /// How the history is named in messages and in `--json` output (`file`):
    /// the file's path, or the URL without its password.
    pub(crate) fn name(&self) -> String {
        self.store().describe()
    }

    /// Whether the history is a file.
    pub(crate) fn is_file(&self) -> bool {
        matches!(self, Opened::File(_))
    }

    /// What opening a history file for writing found and did (a torn tail
    /// moved aside, ...); `None` for other stores.
    pub(crate) fn recovery_report(&self) -> Option<&iteration_history::RecoveryReport> {
        match self {
            Opened::File(h) => h.recovery_report(),
            #[cfg(feature = "postgres")]
            Opened::Postgres(_) => None,
        }
    }

    /// Every record, oldest first, in constant memory: a file is streamed
    /// from a snapshot; other stores are read page by page.
    pub(crate) fn records(&self) -> Result<Box<dyn Iterator<Item = iteration_history::Result<IterationRecord>> + '_>> {
        match self {
            Opened::File(h) => Ok(Box::new(h.iter()?)),
            #[cfg(feature = "postgres")]
            Opened::Postgres(s) => Ok(Box::new(PageScan { store: &**s, next: Some(0), page: Vec::new().into_iter() })),
        }
    }
}

/// A scan of any store through [`Store::page`].
#[cfg(feature = "postgres")]
struct PageScan<'a> {
    store: &'a dyn Store,
    /// The next page's cursor; `None` after the last page (or an error).
    next: Option<u64>,
    page: std::vec::IntoIter<IterationRecord>,
}

#[cfg(feature = "postgres")]
impl Iterator for PageScan<'_> {
    type Item = iteration_history::Result<IterationRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.page.next() {
                return Some(Ok(r));
            }
            let cursor = self.next.take()?;
            match self.store.page(cursor, PAGE) {
                Ok(page) => {
                    self.next = page.next_cursor;
                    self.page = page.records.into_iter();
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

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
                    "note: {}: moved a torn tail ({} bytes at line {}, byte {}: {}) to {}; it is not a complete commit, so no save that returned success is in it",
                    history.file(),
                    torn.bytes,
                    torn.line,
                    torn.offset,
                    torn.reason,
                    torn.sidecar
                ));
            }
            if let Some(cut) = &report.cut {
                ctx.note(format!("note: {}: {}", history.file(), cut.message));
            }
            if report.added_final_newline {
                ctx.note(format!("note: {}: added the missing newline after the last record", history.file()));
            }
        }
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls() {
        assert!(matches!(Target::parse("runs/h.jsonl"), Ok(Target::File(_))));
        assert!(matches!(Target::parse("c:/runs/h.jsonl"), Ok(Target::File(_))), "not a scheme");
        assert_eq!(url_scheme("s3://b/k"), Some("s3"));
        assert_eq!(url_scheme("postgresql://h/db"), Some("postgresql"));
        assert_eq!(url_scheme("runs/a://b"), None);
        let e = Target::parse("s3://bucket/h").expect_err("unsupported");
        assert!(e.message.contains("s3:// stores are not supported"), "{}", e.message);
        assert_eq!(e.exit, crate::error::EXIT_USAGE);
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_postgres_url_is_never_shown_with_its_password() {
        let t = Target::parse("postgres://ih:s3cret@db:5432/runs?history=a").expect("url");
        assert_eq!(t.display(), "postgres://ih:***@db:5432/runs?history=a");
        assert!(!format!("{t:?}").contains("s3cret"));
        assert!(t.file_path().is_none());
    }

    #[cfg(not(feature = "postgres"))]
    #[test]
    fn without_the_postgres_feature_a_url_is_a_clear_error() {
        let e = Target::parse("postgres://ih:s3cret@db:5432/runs").expect_err("no postgres");
        assert!(e.message.contains("built without PostgreSQL support"), "{}", e.message);
        assert!(!e.message.contains("s3cret"));
    }
}
