//! `F_FULLFSYNC` with a fallback to `fsync`, for Apple systems.
//!
//! On macOS and iOS `fsync` hands the data to the drive but does not ask
//! the drive to write its cache to permanent storage, so a power loss can
//! still lose data that `fsync` returned for (see `man 2 fsync` on macOS).
//! `fcntl(fd, F_FULLFSYNC)` also flushes the drive's cache. Rust's std
//! (checked in 1.95, `library/std/src/sys/fs/unix.rs`, `fsync`/`datasync`)
//! already uses `F_FULLFSYNC` for both `File::sync_all` and
//! `File::sync_data` on Apple targets, but with **no fallback**: on file
//! systems that do not implement it (SMB shares, some FUSE and external
//! block devices) it fails with `ENOTSUP`/`ENOTTY` although a plain `fsync`
//! would work (golang/go#64215, libuv/libuv#1579, vim/vim#4016).
//!
//! So the backend does what SQLite, LevelDB, libuv and Go do: `F_FULLFSYNC`
//! first, and `fsync` if the file system says it does not support it.
//! Unlike SQLite and libuv, which fall back on *any* error, only "not
//! supported" errors fall back: a real failure (`EIO`, `ENOSPC`) of the full
//! sync is reported, because a following `fsync` could succeed without the
//! data being on disk (a failed sync may already have dropped the dirty
//! pages), and a failed sync must never look like a successful one.
//!
//! The logic is a plain function over two closures so it is tested on every
//! Unix; only Apple targets call it with the real system calls.

#![cfg_attr(not(target_vendor = "apple"), allow(dead_code))]

use rustix::io::Errno;

/// Whether a failed `F_FULLFSYNC` means "not supported here", so a plain
/// `fsync` is the best this file system offers.
pub(crate) fn is_unsupported(e: Errno) -> bool {
    e == Errno::NOTSUP || e == Errno::OPNOTSUPP || e == Errno::NOTTY || e == Errno::INVAL
}

/// Runs `full` (`F_FULLFSYNC`); if the file system does not support it,
/// runs `fsync` instead. `EINTR` from either is retried. Any other error is
/// returned as it is.
pub(crate) fn full_fsync_with(
    mut full: impl FnMut() -> rustix::io::Result<()>,
    mut fsync: impl FnMut() -> rustix::io::Result<()>,
) -> rustix::io::Result<()> {
    loop {
        match full() {
            Ok(()) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) if is_unsupported(e) => break,
            Err(e) => return Err(e),
        }
    }
    loop {
        match fsync() {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// `F_FULLFSYNC` on `fd`, falling back to `fsync` where unsupported.
#[cfg(target_vendor = "apple")]
pub(crate) fn full_fsync(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    full_fsync_with(|| rustix::fs::fcntl_fullfsync(fd), || rustix::fs::fsync(fd)).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn run(
        full: &[rustix::io::Result<()>],
        fsync: &[rustix::io::Result<()>],
    ) -> (rustix::io::Result<()>, usize, usize) {
        let (nf, ns) = (Cell::new(0), Cell::new(0));
        let r = full_fsync_with(
            || {
                nf.set(nf.get() + 1);
                full[nf.get() - 1]
            },
            || {
                ns.set(ns.get() + 1);
                fsync[ns.get() - 1]
            },
        );
        (r, nf.get(), ns.get())
    }

    #[test]
    fn full_sync_that_works_is_all_that_runs() {
        assert_eq!(run(&[Ok(())], &[]), (Ok(()), 1, 0));
    }

    #[test]
    fn unsupported_full_sync_falls_back_to_fsync() {
        for e in [Errno::NOTSUP, Errno::OPNOTSUPP, Errno::NOTTY, Errno::INVAL] {
            assert_eq!(run(&[Err(e)], &[Ok(())]), (Ok(()), 1, 1), "{e:?}");
            // The fallback's own failure is reported.
            assert_eq!(run(&[Err(e)], &[Err(Errno::IO)]), (Err(Errno::IO), 1, 1), "{e:?}");
        }
    }

    #[test]
    fn a_real_failure_is_reported_and_never_masked_by_fsync() {
        for e in [Errno::IO, Errno::NOSPC, Errno::BADF, Errno::ROFS] {
            assert_eq!(run(&[Err(e)], &[]), (Err(e), 1, 0), "{e:?}: fsync must not run");
        }
    }

    #[test]
    fn interrupted_calls_are_repeated() {
        assert_eq!(run(&[Err(Errno::INTR), Err(Errno::INTR), Ok(())], &[]), (Ok(()), 3, 0));
        assert_eq!(run(&[Err(Errno::NOTSUP)], &[Err(Errno::INTR), Ok(())]), (Ok(()), 1, 2));
    }
}
