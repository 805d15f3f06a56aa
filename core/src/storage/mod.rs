//! The capability-style filesystem seam: one directory handle and the few
//! operations the commit and recovery logic need.
//!
//! A [`Dir`] grants access to the files directly inside one directory and
//! nothing else: every operation takes a [`FileName`], which can only hold a
//! plain name (no `/`, `\`, `..`, absolute path, drive prefix or NUL). The
//! history code never builds paths and never calls `std::fs`.
//!
//! Backends carry no policy about *when* to sync; the `commit` module
//! module is the only caller of the sync methods. Each method's docs say what
//! it guarantees; a backend that cannot keep a guarantee says so through
//! [`Capabilities`].
//!
//! Backends: [`MemDir`] (in memory, for tests and the browser), and, with
//! the `cap-std` feature on native targets, [`CapStdDir`] (real disk).

use std::fmt;
use std::io;

mod last_block;
mod memory;
mod name;

#[cfg(feature = "cap-std")]
mod cap_std;

#[cfg(feature = "cap-std")]
pub use self::cap_std::CapStdDir;
pub(crate) use last_block::LastBlock;
pub use memory::MemDir;
pub use name::{FileName, NameError};

/// Why [`Dir::try_lock`] refused a lock file that another user owns: the
/// error inside the [`io::Error`] (of kind `PermissionDenied`) it returns.
///
/// Anyone who can open a lock file can hold its lock, and so block every
/// writer of the history; a lock file this user does not own is therefore
/// never used. Backends that know file owners (the disk backend on Unix)
/// report it; others never do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the lock file is owned by uid {owner}, not by this user (uid {user})")]
pub struct ForeignLockFile {
    /// The user id that owns the lock file.
    pub owner: u32,
    /// This process's effective user id.
    pub user: u32,
}

/// What a backend can and cannot guarantee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`Dir::sync_dir`] really makes creates, renames and removes durable.
    /// `false` where the system has no directory sync (Windows, some WASI
    /// hosts): a rename is then atomic but its durability is up to the OS.
    pub dir_sync: bool,
    /// [`Dir::try_lock`] gives an advisory lock that other processes honour.
    /// `false` means the history falls back to a lease file (see
    /// [`LockKind`](crate::LockKind)).
    pub os_locks: bool,
}

impl Capabilities {
    /// Everything supported.
    pub const FULL: Capabilities = Capabilities { dir_sync: true, os_locks: true };

    /// Builds a capability set.
    pub const fn new(dir_sync: bool, os_locks: bool) -> Self {
        Capabilities { dir_sync, os_locks }
    }
}

/// A file opened for reading.
pub trait ReadFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (0 at end of file). Does not move any shared cursor.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// The current length of the file in bytes.
    fn len(&self) -> io::Result<u64>;

    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// A file opened for writing (it can also be read).
pub trait WriteFile: ReadFile {
    /// Writes all of `data` at `offset`, extending the file if needed. A
    /// write at the current length is an append. Nothing is durable until
    /// [`sync_data`](Self::sync_data) or [`sync_all`](Self::sync_all)
    /// returns `Ok`.
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()>;

    /// Truncates or extends the file to `len` bytes (not durable until synced).
    fn set_len(&mut self, len: u64) -> io::Result<()>;

    /// Makes the file's data, and its length, durable (`fdatasync`).
    /// An error means the state on disk is unknown: callers must not assume
    /// any data written since the last successful sync is durable, and must
    /// not retry the sync as if it had succeeded.
    fn sync_data(&mut self) -> io::Result<()>;

    /// Like [`sync_data`](Self::sync_data) but also all metadata (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;
}

/// A held advisory lock; dropping it releases the lock.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// A handle to one directory.
pub trait Dir: Send + Sync + fmt::Debug {
    /// Opens an existing file for reading (`NotFound` if missing).
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>>;

    /// Opens an existing file for reading and writing (`NotFound` if missing).
    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>>;

    /// Creates a new, empty file for reading and writing; fails with
    /// `AlreadyExists` if the name is taken (`O_CREAT|O_EXCL`). The new
    /// directory entry is durable only after [`sync_dir`](Self::sync_dir).
    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>>;

    /// Atomically renames `from` to `to` within this directory, replacing
    /// `to` if it exists: other openers see either the old or the new file,
    /// never a mix. Durable only after [`sync_dir`](Self::sync_dir).
    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()>;

    /// Removes a file (durable only after [`sync_dir`](Self::sync_dir)).
    fn remove(&self, name: &FileName) -> io::Result<()>;

    /// Names of the entries in the directory, in no particular order.
    fn list(&self) -> io::Result<Vec<String>>;

    /// The length of a file, or `None` if it does not exist.
    fn len(&self, name: &FileName) -> io::Result<Option<u64>>;

    /// Makes the directory's entries durable (`fsync` of the directory).
    /// Where the system cannot do this, returns `Ok(())` and
    /// [`Capabilities::dir_sync`] is `false`.
    fn sync_dir(&self) -> io::Result<()>;

    /// Tries to take an exclusive advisory lock on `name` (created if
    /// missing, readable and writable by this user only), without waiting:
    /// `Ok(None)` if someone else holds it, `Err(Unsupported)` if the system
    /// has no locks. A symlink named `name` is never followed (an error), and
    /// a lock file another user owns is refused with an error of kind
    /// `PermissionDenied` wrapping a [`ForeignLockFile`].
    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>>;

    /// What this backend guarantees.
    fn capabilities(&self) -> Capabilities;

    /// How to name `name` in messages (e.g. `runs/history.jsonl`).
    fn display_name(&self, name: &FileName) -> String {
        name.to_string()
    }
}

impl<D: Dir + ?Sized> Dir for std::sync::Arc<D> {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        (**self).open_read(name)
    }
    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        (**self).open_write(name)
    }
    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        (**self).create_new(name)
    }
    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        (**self).rename(from, to)
    }
    fn remove(&self, name: &FileName) -> io::Result<()> {
        (**self).remove(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        (**self).list()
    }
    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        (**self).len(name)
    }
    fn sync_dir(&self) -> io::Result<()> {
        (**self).sync_dir()
    }
    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        (**self).try_lock(name)
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn display_name(&self, name: &FileName) -> String {
        (**self).display_name(name)
    }
}

/// Reads exactly `buf.len()` bytes at `offset`, failing with
/// `UnexpectedEof` if the file is shorter.
pub fn read_exact_at(file: &dyn ReadFile, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file is shorter than expected")),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
