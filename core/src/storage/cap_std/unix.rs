//! Unix (Linux, the BSDs, macOS): positional I/O, `fsync` of files and
//! directories. Nothing is retried: on Unix a rename or unlink does not
//! fail because another process has the file open.
//!
//! * **Linux and other non-Apple Unix**: `sync_data` is `fdatasync`,
//!   `sync_all` and the directory sync are `fsync` (Rust's std).
//! * **Apple** (macOS, iOS): every sync (data, all, directory) is
//!   `fcntl(F_FULLFSYNC)`, which also flushes the drive's write cache, with a
//!   fallback to `fsync` only where the file system does not support it
//!   (see [`full_fsync`](super::full_fsync)).

use std::fs::File;
use std::io;

use cap_std::fs::Dir as CapDir;

use super::retry::Policy;

/// Directories can be synced.
pub(super) const DIR_SYNC: bool = true;

/// No retries: a single attempt.
pub(super) const RETRY: Policy = Policy::NONE;

/// Nothing is transient on Unix (std already repeats `EINTR`).
pub(super) fn is_transient(_: &io::Error) -> bool {
    false
}

pub(super) fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, offset)
}

pub(super) fn write_all_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
}

/// `fdatasync` (Apple: `F_FULLFSYNC`, falling back to `fsync`).
pub(super) fn sync_data(f: &File) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    return super::full_fsync::full_fsync(std::os::fd::AsFd::as_fd(f));
    #[cfg(not(target_vendor = "apple"))]
    return f.sync_data();
}

/// `fsync` (Apple: `F_FULLFSYNC`, falling back to `fsync`).
pub(super) fn sync_all(f: &File) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    return super::full_fsync::full_fsync(std::os::fd::AsFd::as_fd(f));
    #[cfg(not(target_vendor = "apple"))]
    return f.sync_all();
}

/// Opens the directory itself for reading (cap-std's own handle is an
/// `O_PATH` descriptor on Linux, which cannot be synced) and syncs it like a
/// file (`fsync`; Apple: `F_FULLFSYNC`).
pub(super) fn sync_dir(dir: &CapDir) -> io::Result<()> {
    sync_all(&dir.open(".")?.into_std())
}
