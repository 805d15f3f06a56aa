//! The real-disk backend over a `cap_std::fs::Dir`.
//!
//! Every operation goes through the directory handle (`openat`,
//! `renameat`, `unlinkat` on Unix), so a name can never reach outside it,
//! even if the directory is renamed or a path component is swapped for a
//! symlink while the history is open.
//!
//! What differs between systems lives in one module per platform, so the
//! commit and recovery code has no platform conditions:
//! * `unix.rs`: `pread`/`pwrite`, `fdatasync`/`fsync`, directory `fsync`;
//!   on Apple systems every sync is `F_FULLFSYNC` with an `fsync` fallback
//!   (`full_fsync.rs`).
//! * `windows.rs`: `seek_read`/`seek_write`, `FlushFileBuffers`, no
//!   directory sync, and bounded retries of transient sharing errors
//!   (`retry.rs`).

use std::fs as stdfs;
use std::io;
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::{Dir as CapDir, OpenOptions};

use super::{Capabilities, Dir, FileName, LockGuard, ReadFile, WriteFile};

#[cfg(unix)]
mod full_fsync;
mod retry;

#[cfg(unix)]
#[path = "unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "windows.rs"]
mod sys;
#[cfg(not(any(unix, windows)))]
compile_error!("the cap-std backend supports Unix and Windows targets");

/// A directory on disk, opened as a capability.
///
/// # What each system guarantees
/// The [`Dir`] contract holds on every system; where a system cannot keep
/// a part of it, [`capabilities`](Dir::capabilities) says so.
///
/// | | Linux and other Unix | macOS, iOS | Windows |
/// |---|---|---|---|
/// | [`sync_data`](WriteFile::sync_data) | `fdatasync` | `fcntl(F_FULLFSYNC)`, `fsync` if unsupported | `FlushFileBuffers` |
/// | [`sync_all`](WriteFile::sync_all) | `fsync` | `fcntl(F_FULLFSYNC)`, `fsync` if unsupported | `FlushFileBuffers` |
/// | [`sync_dir`](Dir::sync_dir) | `fsync` of the directory | `fcntl(F_FULLFSYNC)` of the directory | no-op; `dir_sync: false` |
/// | [`rename`](Dir::rename) over an existing file | `renameat` | `renameat` | `MoveFileExW(REPLACE_EXISTING)`, then POSIX-semantics rename if refused |
/// | [`try_lock`](Dir::try_lock) | `flock(LOCK_EX \| LOCK_NB)` | `flock(LOCK_EX \| LOCK_NB)` | `LockFileEx(EXCLUSIVE \| FAIL_IMMEDIATELY)` |
/// | lock file | `O_NOFOLLOW`, 0600, owner checked | `O_NOFOLLOW`, 0600, owner checked | inherited ACL, no owner check |
/// | transient sharing errors | none | none | retried about 2 s, then a clear error |
///
/// **macOS**: `fsync` there does not flush the drive's write cache, so
/// [`Durability::Full`](crate::Durability::Full) uses `F_FULLFSYNC` for
/// every sync, like SQLite and LevelDB, and falls back to `fsync` only on
/// file systems that answer "not supported" (SMB, some external devices);
/// any other failure is reported, never masked by the fallback. Rust's std
/// also uses `F_FULLFSYNC` for `sync_all`/`sync_data` on Apple targets,
/// but fails outright where it is unsupported.
///
/// **Windows**: there is no directory sync, so a create or rename is atomic
/// but only as durable as NTFS's journal makes it shortly after. Opens,
/// renames and removes that fail with `ERROR_ACCESS_DENIED`,
/// `ERROR_SHARING_VIOLATION` or `ERROR_LOCK_VIOLATION` (virus scanners,
/// indexers, sync clients holding the file for a moment) are retried with
/// back-off for about 2 s; then the error says the file is held by another
/// program. Our files are opened with `FILE_SHARE_DELETE`, so our readers
/// never keep a writer from replacing the history where the system allows
/// it (NTFS on Windows 10 1607 and later); elsewhere (FAT, many SMB shares,
/// Wine) a rename waits, within the retry budget, for readers to finish.
#[derive(Debug)]
pub struct CapStdDir {
    dir: CapDir,
    display: String,
}

impl CapStdDir {
    /// Wraps an already opened capability directory. `display` is how the
    /// directory is named in error messages.
    pub fn new(dir: CapDir, display: impl Into<String>) -> Self {
        CapStdDir { dir, display: display.into() }
    }

    /// Opens the directory at `path` (an ambient-authority operation: the
    /// one place a path is resolved; everything after is relative to the
    /// handle).
    ///
    /// # Errors
    /// If the directory cannot be opened.
    pub fn open_ambient(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let dir = CapDir::open_ambient_dir(path, ambient_authority())?;
        Ok(CapStdDir::new(dir, path.display().to_string()))
    }

    /// Creates the directory at `path` and its parents if needed, then opens it.
    ///
    /// # Errors
    /// If the directory cannot be created or opened.
    pub fn create_ambient(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        CapDir::create_ambient_dir_all(path, ambient_authority())?;
        Self::open_ambient(path)
    }

    /// Runs `op`, retrying the errors this system treats as transient
    /// (Windows sharing errors; nothing on Unix).
    fn again<T>(&self, op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        retry::retry(sys::RETRY, sys::is_transient, std::thread::sleep, op)
    }

    fn open(&self, name: &FileName, opts: &OpenOptions) -> io::Result<stdfs::File> {
        self.again(|| Ok(self.dir.open_with(name.as_str(), opts)?.into_std()))
    }
}

/// A file of a [`CapStdDir`].
#[derive(Debug)]
struct DiskFile {
    file: stdfs::File,
}

impl ReadFile for DiskFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        sys::read_at(&self.file, buf, offset)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

impl WriteFile for DiskFile {
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        sys::write_all_at(&self.file, data, offset)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        sys::sync_data(&self.file)
    }

    fn sync_all(&mut self) -> io::Result<()> {
        sys::sync_all(&self.file)
    }
}

#[derive(Debug)]
struct DiskLock {
    // Holding the open file holds the lock; closing it releases the lock.
    _file: stdfs::File,
}

impl LockGuard for DiskLock {}

impl Dir for CapStdDir {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        let file = self.open(name, OpenOptions::new().read(true))?;
        Ok(Box::new(DiskFile { file }))
    }

    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        let file = self.open(name, OpenOptions::new().read(true).write(true))?;
        Ok(Box::new(DiskFile { file }))
    }

    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        let file = self.open(name, OpenOptions::new().read(true).write(true).create_new(true))?;
        Ok(Box::new(DiskFile { file }))
    }

    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        self.again(|| self.dir.rename(from.as_str(), &self.dir, to.as_str()))
    }

    fn remove(&self, name: &FileName) -> io::Result<()> {
        self.again(|| self.dir.remove_file(name.as_str()))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in self.dir.entries()? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        match self.dir.metadata(name.as_str()) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Unix: `fsync` of the directory (Apple: `F_FULLFSYNC`). Windows: a
    /// no-op, as the system has no directory sync
    /// ([`Capabilities::dir_sync`] is `false`).
    fn sync_dir(&self) -> io::Result<()> {
        sys::sync_dir(&self.dir)
    }

    /// `flock` on Unix, `LockFileEx` on Windows (std's `File::try_lock`),
    /// on `name` opened (created if missing) for writing. Unix: opened with
    /// `O_NOFOLLOW`, created 0600 (an existing one loosened to 0600), and
    /// refused unless it is a regular file this user owns (see
    /// `unix.rs`, `open_lock`). Windows: created with the directory's
    /// inherited ACL, no owner check.
    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        let file = self.again(|| sys::open_lock(&self.dir, name))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(DiskLock { _file: file }))),
            Err(stdfs::TryLockError::WouldBlock) => Ok(None),
            Err(stdfs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(sys::DIR_SYNC, true)
    }

    fn display_name(&self, name: &FileName) -> String {
        Path::new(&self.display).join(name.as_str()).display().to_string()
    }
}
