//! One writer per history.
//!
//! The rules are on [`LockKind`](crate::LockKind), where rustdoc shows them.

use std::io;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::commit::{self, random_token};
use crate::error::{Error, Result};
use crate::options::Options;
use crate::storage::{Dir, FileName, ForeignLockFile, LockGuard};

/// Which kind of lock a writer holds.
///
/// * **OS lock** (native): an exclusive advisory lock (`flock` on Unix,
///   `LockFileEx` on Windows, through `File::try_lock`) on the sidecar file
///   `<history>.lock`, held for as long as the writer is open. The OS drops
///   it when the process dies, so a crash never leaves a stale lock. The lock
///   file itself is left in place (removing it would race with the next
///   writer). Not reliable on network file systems. The lock file is
///   created readable and writable by its owner only (0600), a symlink in
///   its place is never followed, and on Unix a lock file another user owns
///   is refused with [`Error::LockFileNotOwned`](crate::Error#variant.LockFileNotOwned):
///   whoever can open it could hold the lock and block every writer.
/// * **Lease** (systems without file locks, such as WASI): the file
///   `<history>.lease`, created exclusively, holding an owner token and an
///   expiry time. The writer renews it as it commits; one whose lease expired
///   may be taken over, and then fails with
///   [`Error::LeaseLost`](crate::Error#variant.LeaseLost) on its next commit. This is
///   weaker than an OS lock: it depends on clocks, and a writer that stalls
///   longer than the lease can overlap with its successor for that commit.
///   Native writers also refuse to open while a live lease exists.
/// * **Host lock** ([`Options::host_lock`](crate::Options::host_lock)): the
///   process embedding a guest without OS locks takes the OS lock on
///   `<history>.lock` itself and says so; the writer then takes no lease
///   (but still refuses a live one), so hosts and native writers exclude
///   each other through the one OS lock.
///
/// Readers take no lock.
///
/// A child process started (`fork` + `exec`) by another thread while a
/// writer holds the OS lock shares the lock's open file until its `exec`
/// closes it, so for that moment a lock just released can still look held:
/// programs that start processes and reopen histories should set a
/// [`lock_timeout`](crate::Options::lock_timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockKind {
    /// An OS advisory lock on `<history>.lock`.
    Os,
    /// A lease file `<history>.lease` (no OS locks on this system).
    Lease,
    /// The OS lock on `<history>.lock`, held by the embedding host on this
    /// writer's behalf ([`Options::host_lock`](crate::Options::host_lock)).
    Host,
}

#[derive(Debug)]
pub(crate) enum WriterLock {
    Os(#[allow(dead_code)] Box<dyn LockGuard>),
    Lease(Lease),
    /// Held by the host (`Options::host_lock`): nothing to renew or release.
    Host,
}

impl WriterLock {
    pub(crate) fn kind(&self) -> LockKind {
        match self {
            WriterLock::Os(_) => LockKind::Os,
            WriterLock::Lease(_) => LockKind::Lease,
            WriterLock::Host => LockKind::Host,
        }
    }

    /// Before a commit: make sure the lock is still ours (renewing a lease).
    pub(crate) fn check(&mut self, dir: &dyn Dir) -> Result<()> {
        match self {
            WriterLock::Os(_) | WriterLock::Host => Ok(()),
            WriterLock::Lease(l) => l.renew(dir),
        }
    }

    /// Releases the lock now (also done on drop).
    pub(crate) fn release(&mut self, dir: &dyn Dir) {
        if let WriterLock::Lease(l) = self {
            l.release(dir);
        }
    }
}

/// Takes the writer lock of history `name` (or, with
/// [`Options::host_lock`], checks that no lease is live), waiting up to the
/// lock timeout.
pub(crate) fn acquire(dir: &dyn Dir, name: &FileName, display: &str, options: &Options) -> Result<WriterLock> {
    let lock_name = name.with_suffix(".lock")?;
    let lease_name = name.with_suffix(".lease")?;
    let deadline = options.lock_timeout.map(|t| Instant::now() + t);
    let mut pause = Duration::from_millis(2);
    loop {
        let holder: String = if options.host_lock {
            match live_lease(dir, &lease_name) {
                Ok(None) => return Ok(WriterLock::Host),
                Ok(Some(holder)) => holder,
                Err(e) => return Err(Error::io(display, "reading the lease file", e)),
            }
        } else {
            match dir.try_lock(&lock_name) {
                Ok(Some(guard)) => match live_lease(dir, &lease_name) {
                    Ok(None) => return Ok(WriterLock::Os(guard)),
                    Ok(Some(holder)) => holder,
                    Err(e) => return Err(Error::io(display, "reading the lease file", e)),
                },
                Ok(None) => String::new(),
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    match Lease::try_take(dir, &lease_name, options.lease) {
                        Ok(Ok(l)) => return Ok(WriterLock::Lease(l)),
                        Ok(Err(holder)) => holder,
                        Err(e) => return Err(Error::io(display, "taking the lease file", e)),
                    }
                }
                Err(e) => return Err(lock_error(dir, &lock_name, display, e)),
            }
        };
        match deadline {
            Some(d) if Instant::now() < d => {
                thread::sleep(pause.min(d.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            _ => return Err(Error::Locked { file: display.to_string(), holder }),
        }
    }
}

/// A lock file another user owns gets its own error, naming the file and
/// the owner; anything else is an I/O error of the history.
fn lock_error(dir: &dyn Dir, lock_name: &FileName, display: &str, e: io::Error) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<ForeignLockFile>()) {
        Some(f) => Error::LockFileNotOwned { file: dir.display_name(lock_name), owner: f.owner, user: f.user },
        None => Error::io(display, "taking the writer lock", e),
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Parses `<token> <expiry-ms>` from a lease file.
fn read_lease(dir: &dyn Dir, name: &FileName) -> io::Result<Option<(u64, u64)>> {
    let f = match dir.open_read(name) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = vec![0u8; 64];
    let n = f.read_at(&mut buf, 0)?;
    let text = String::from_utf8_lossy(&buf[..n]);
    let mut it = text.split_whitespace();
    let token = it.next().and_then(|t| u64::from_str_radix(t, 16).ok());
    let expiry = it.next().and_then(|t| t.parse::<u64>().ok());
    // An unreadable lease (torn write) counts as expired.
    Ok(Some((token.unwrap_or(0), expiry.unwrap_or(0))))
}

/// `Some(description)` if a lease file exists and has not expired.
fn live_lease(dir: &dyn Dir, name: &FileName) -> io::Result<Option<String>> {
    Ok(match read_lease(dir, name)? {
        Some((token, expiry)) if expiry > now_ms() => {
            Some(format!(": a lease-holding writer (token {token:016x}) until {expiry} ms since the epoch"))
        }
        _ => None,
    })
}

/// A lease file held by this writer.
#[derive(Debug)]
pub(crate) struct Lease {
    name: FileName,
    token: u64,
    length: Duration,
    expiry: u64,
    released: bool,
}

impl Lease {
    fn write(dir: &dyn Dir, name: &FileName, token: u64, expiry: u64) -> io::Result<()> {
        commit::create_synced(dir, name, format!("{token:016x} {expiry}\n").as_bytes())
    }

    fn try_take(dir: &dyn Dir, name: &FileName, length: Duration) -> io::Result<Result<Lease, String>> {
        let token = random_token();
        let expiry = now_ms() + length.as_millis() as u64;
        match Lease::write(dir, name, token, expiry) {
            Ok(()) => return Ok(Ok(Lease { name: name.clone(), token, length, expiry, released: false })),
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            Err(_) => {}
        }
        if let Some(holder) = live_lease(dir, name)? {
            return Ok(Err(holder));
        }
        // Expired: take it over. Two contenders may both remove it; only one
        // can then create it exclusively.
        match dir.remove(name) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match Lease::write(dir, name, token, expiry) {
            Ok(()) => Ok(Ok(Lease { name: name.clone(), token, length, expiry, released: false })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Ok(Err(": another writer took the expired lease".into()))
            }
            Err(e) => Err(e),
        }
    }

    /// Confirms the lease is still ours and renews it when half used.
    fn renew(&mut self, dir: &dyn Dir) -> Result<()> {
        let display = dir.display_name(&self.name);
        let current = read_lease(dir, &self.name).map_err(|e| Error::io(&display, "reading the lease file", e))?;
        if current.map(|(t, _)| t) != Some(self.token) {
            self.released = true;
            return Err(Error::LeaseLost { file: display });
        }
        let now = now_ms();
        if now + (self.length.as_millis() as u64) / 2 < self.expiry {
            return Ok(());
        }
        let expiry = now + self.length.as_millis() as u64;
        // Replace atomically: write a temp lease, rename it over ours.
        let tmp = commit::temp_name(&self.name)?;
        let res =
            Lease::write(dir, &tmp, self.token, expiry).and_then(|()| commit::rename_unsynced(dir, &tmp, &self.name));
        if let Err(e) = res {
            let _ = dir.remove(&tmp);
            return Err(Error::io(&display, "renewing the lease file", e));
        }
        self.expiry = expiry;
        Ok(())
    }

    fn release(&mut self, dir: &dyn Dir) {
        if self.released {
            return;
        }
        self.released = true;
        if let Ok(Some((token, _))) = read_lease(dir, &self.name)
            && token == self.token
        {
            let _ = dir.remove(&self.name);
        }
    }
}
