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
//! * **Lock files** ([`open_lock`]): opened with `openat(O_NOFOLLOW)` on the
//!   directory's descriptor, created 0600, and used only if they are a
//!   regular file owned by this process's effective user.

use std::fs::File;
use std::io;

use cap_std::fs::Dir as CapDir;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::retry::Policy;
use crate::storage::{FileName, ForeignLockFile};

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

/// Opens the writer lock file `name` for [`Dir::try_lock`](crate::storage::Dir::try_lock).
///
/// `openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)`:
/// `name` is a single component, so nothing but the directory's own entry
/// is looked up, and `O_NOFOLLOW` makes a symlink there (even a dangling
/// one, which `O_CREAT` would otherwise create the target of) fail rather
/// than be followed. The file is then checked on its descriptor (`fstat`):
/// a regular file owned by this process's effective user, else refused; one
/// left readable or writable by others (older versions created 0644 or
/// 0666 & ~umask) is tightened to 0600. A file this user cannot open
/// because someone else owns it is reported as [`ForeignLockFile`] too.
pub(super) fn open_lock(dir: &CapDir, name: &FileName) -> io::Result<File> {
    let user = rustix::process::geteuid().as_raw();
    let foreign = |owner: u32| io::Error::new(io::ErrorKind::PermissionDenied, ForeignLockFile { owner, user });
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let fd = match rustix::fs::openat(dir, name.as_str(), flags, Mode::RUSR | Mode::WUSR) {
        Ok(fd) => fd,
        Err(Errno::ACCESS) => {
            return Err(match rustix::fs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_uid != user => foreign(st.st_uid),
                _ => Errno::ACCESS.into(),
            });
        }
        Err(Errno::LOOP) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the lock file {name} is a symbolic link, which is never followed: remove it"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&fd)?;
    if st.st_uid != user {
        return Err(foreign(st.st_uid));
    }
    #[allow(clippy::unnecessary_cast)] // `st_mode` is u16 on some systems
    let mode = st.st_mode as u32;
    if FileType::from_raw_mode(mode as _) != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the lock file {name} is not a regular file: remove it"),
        ));
    }
    if mode & 0o077 != 0 {
        rustix::fs::fchmod(&fd, Mode::RUSR | Mode::WUSR)?;
    }
    // The descriptor stays non-blocking; only `flock(LOCK_NB)` is done on it.
    Ok(File::from(fd))
}
