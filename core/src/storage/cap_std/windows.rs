//! Windows: positional I/O with `seek_read`/`seek_write`, `FlushFileBuffers`,
//! no directory sync, and retries of the sharing errors other programs
//! cause.
//!
//! * **Syncs**: `File::sync_data` and `File::sync_all` are both
//!   `FlushFileBuffers` in Rust's std, which writes the file's data and
//!   metadata and asks the drive to flush its cache.
//! * **Directory sync**: Windows has no way to sync a directory
//!   (`FlushFileBuffers` works on file and volume handles only), so
//!   [`sync_dir`] does nothing and [`Capabilities::dir_sync`] is `false`:
//!   creates and renames are atomic, and NTFS's journal makes them durable
//!   soon after, but not necessarily before the call returns.
//! * **Rename over an existing file**: cap-std resolves both names against
//!   the directory handle and calls std's `fs::rename`, which is
//!   `MoveFileExW(MOVEFILE_REPLACE_EXISTING)`; if that is refused with
//!   `ERROR_ACCESS_DENIED` (e.g. the target is open elsewhere), std retries
//!   with `SetFileInformationByHandle(FileRenameInfoEx,
//!   FILE_RENAME_FLAG_POSIX_SEMANTICS | FILE_RENAME_FLAG_REPLACE_IF_EXISTS)`
//!   (checked in std 1.95, `library/std/src/sys/fs/windows.rs`, `rename`),
//!   which on NTFS since Windows 10 1607 replaces a file that others hold
//!   open with `FILE_SHARE_DELETE`, as a Unix rename does.
//! * **Our own handles** are opened with `FILE_SHARE_READ | FILE_SHARE_WRITE
//!   | FILE_SHARE_DELETE` (the default of both std's and cap-std's
//!   `OpenOptions`; cap-primitives 4.0.3 `windows/fs/open_options_ext.rs`),
//!   so a reader never stops a writer from renaming over or removing the
//!   history where the system allows it. The writer closes its own handles
//!   to the history before it renames over it.
//! * **Transient sharing errors** (`ERROR_ACCESS_DENIED`,
//!   `ERROR_SHARING_VIOLATION`, `ERROR_LOCK_VIOLATION`) from opens, renames
//!   and removes are retried for about 2 s (see [`super::retry`]): virus
//!   scanners and indexers hold new files for a moment, and where an open
//!   file cannot be replaced (FAT, many SMB shares, older Windows, Wine), a
//!   reader's short read holds up a rename only until it ends.
//! * **Writer lock**: `File::try_lock` is `LockFileEx(LOCKFILE_EXCLUSIVE_LOCK
//!   | LOCKFILE_FAIL_IMMEDIATELY)` in std; the OS releases it when the
//!   handle is closed or the process dies. The lock file is opened beneath
//!   the directory handle by cap-std and created with the directory's
//!   inherited ACL (per-user under the user's profile); its owner is not
//!   checked, unlike on Unix.
//!
//! [`Capabilities::dir_sync`]: crate::storage::Capabilities::dir_sync

use std::fs::File;
use std::io;
use std::os::windows::fs::FileExt;

use cap_std::fs::Dir as CapDir;

use super::retry::{self, Policy};
use crate::storage::FileName;

/// Windows cannot sync a directory.
pub(super) const DIR_SYNC: bool = false;

/// About 2 s of retries for sharing errors.
pub(super) const RETRY: Policy = Policy::WINDOWS;

/// The sharing errors other programs cause for a moment.
pub(super) fn is_transient(e: &io::Error) -> bool {
    retry::is_windows_sharing_error(e.raw_os_error())
}

pub(super) fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    f.seek_read(buf, offset)
}

pub(super) fn write_all_at(f: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match f.seek_write(buf, offset) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write whole buffer")),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `FlushFileBuffers`.
pub(super) fn sync_data(f: &File) -> io::Result<()> {
    f.sync_data()
}

/// `FlushFileBuffers`.
pub(super) fn sync_all(f: &File) -> io::Result<()> {
    f.sync_all()
}

/// A documented no-op: Windows has no directory sync.
pub(super) fn sync_dir(_dir: &CapDir) -> io::Result<()> {
    Ok(())
}

/// Opens (creating if missing) the writer lock file `name` beneath the
/// directory handle, for [`Dir::try_lock`](crate::storage::Dir::try_lock).
pub(super) fn open_lock(dir: &CapDir, name: &FileName) -> io::Result<File> {
    let mut opts = cap_std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true);
    Ok(dir.open_with(name.as_str(), &opts)?.into_std())
}
