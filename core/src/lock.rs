//! One writer per history.
//!
//! * **OS lock** (native): an exclusive advisory lock (`flock` on Unix,
//!   `LockFileEx` on Windows, through `File::try_lock`) on the sidecar file
//!   `<history>.lock`, held for as long as the writer is open. The OS drops
//!   it when the process dies, so a crash never leaves a stale lock. The lock
//!   file itself is left in place (removing it would race with the next
//!   writer). Not reliable on network file systems.
//! * **Lease** (systems without file locks, such as WASI): the file
//!   `<history>.lease`, created exclusively, holding an owner token and an
//!   expiry time. The writer renews it as it commits; one whose lease expired
//!   may be taken over, and then fails with
//!   [`Error::LeaseLost`](crate::Error#variant.LeaseLost) on its next commit. This is
//!   weaker than an OS lock: it depends on clocks, and a writer that stalls
//!   longer than the lease can overlap with its successor for that commit.
//!   Native writers also refuse to open while a live lease exists.
//! * **Both, natively**: a native writer holding the OS lock also holds a
//!   lease file marked `os` and renews it as it commits, so that a writer
//!   without OS locks on the same directory (a WASI guest of our component,
//!   say) sees it and waits. Another native writer that gets the OS lock
//!   knows an `os` lease is left over from a writer that is gone (the OS
//!   dropped its lock) and takes it over at once; a lease-only writer waits
//!   for it to expire. A native writer idle for longer than the lease can be
//!   overtaken by a lease-only writer; its next commit then fails with
//!   [`Error::LeaseLost`](crate::Error#variant.LeaseLost), as a lease
//!   holder's would.
//!
//! Readers take no lock.
//!
//! A child process started (`fork` + `exec`) by another thread while a
//! writer holds the OS lock shares the lock's open file until its `exec`
//! closes it, so for that moment a lock just released can still look held:
//! programs that start processes and reopen histories should set a
//! [`lock_timeout`](crate::Options::lock_timeout).

use std::io;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::storage::{Dir, FileName, LockGuard, WriteFile};

/// Which kind of lock a writer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockKind {
    /// An OS advisory lock on `<history>.lock`, with a lease file marked
    /// `os` beside it for writers that have no OS locks.
    Os,
    /// A lease file `<history>.lease` (no OS locks on this system).
    Lease,
}

#[derive(Debug)]
pub(crate) enum WriterLock {
    /// The OS lock, and the `os` lease that shows it to lease-only writers.
    Os(#[allow(dead_code)] Box<dyn LockGuard>, Lease),
    Lease(Lease),
}

impl WriterLock {
    pub(crate) fn kind(&self) -> LockKind {
        match self {
            WriterLock::Os(..) => LockKind::Os,
            WriterLock::Lease(_) => LockKind::Lease,
        }
    }

    /// Before a commit: make sure the lock is still ours (renewing a lease).
    pub(crate) fn check(&mut self, dir: &dyn Dir) -> Result<()> {
        match self {
            WriterLock::Os(_, l) | WriterLock::Lease(l) => l.renew(dir),
        }
    }

    /// Releases the lock now (also done on drop).
    pub(crate) fn release(&mut self, dir: &dyn Dir) {
        match self {
            WriterLock::Os(_, l) | WriterLock::Lease(l) => l.release(dir),
        }
    }
}

/// Takes the writer lock of history `name`, waiting up to `timeout`.
pub(crate) fn acquire(
    dir: &dyn Dir,
    name: &FileName,
    display: &str,
    timeout: Option<Duration>,
    lease: Duration,
) -> Result<WriterLock> {
    let lock_name = name.with_suffix(".lock")?;
    let lease_name = name.with_suffix(".lease")?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut pause = Duration::from_millis(2);
    loop {
        let holder: String = match dir.try_lock(&lock_name) {
            // Under the OS lock, an `os` lease is a gone writer's: stale.
            Ok(Some(guard)) => match Lease::try_take(dir, &lease_name, lease, true) {
                Ok(Ok(l)) => return Ok(WriterLock::Os(guard, l)),
                Ok(Err(holder)) => holder,
                Err(e) => return Err(Error::io(display, "taking the lease file", e)),
            },
            Ok(None) => String::new(),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => match Lease::try_take(dir, &lease_name, lease, false) {
                Ok(Ok(l)) => return Ok(WriterLock::Lease(l)),
                Ok(Err(holder)) => holder,
                Err(e) => return Err(Error::io(display, "taking the lease file", e)),
            },
            Err(e) => return Err(Error::io(display, "taking the writer lock", e)),
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

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A unique token for this writer.
pub(crate) fn random_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let local = 0u8;
    h.write_usize(&local as *const u8 as usize);
    // `std::process::id()` panics on WASI ("unsupported") and the clock
    // panics on wasm32-unknown-unknown; `RandomState` is seeded from the
    // system's randomness everywhere.
    #[cfg(not(target_arch = "wasm32"))]
    h.write_u32(std::process::id());
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    h.write_u64(now_ms());
    h.finish()
}

/// What a lease file says.
struct LeaseInfo {
    token: u64,
    /// Milliseconds since the epoch.
    expiry: u64,
    /// Written by a native writer that also holds the OS lock.
    os: bool,
}

/// Parses `<token> <expiry-ms>[ os]` from a lease file.
fn read_lease(dir: &dyn Dir, name: &FileName) -> io::Result<Option<LeaseInfo>> {
    let f = match dir.open_read(name) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = vec![0u8; 64];
    let n = f.read_at(&mut buf, 0)?;
    Ok(Some(parse_lease(&buf[..n]).unwrap_or(LeaseInfo { token: 0, expiry: 0, os: false })))
}

/// A lease file's content; `None` unless complete. A lease is written with
/// one `write_at` and, beside an OS lock, not synced: a crash can leave a
/// prefix of it, which must not read as a live lease (a prefix without
/// ` os` would look like a lease-only writer's), so anything but a whole
/// `\n`-terminated line counts as expired.
fn parse_lease(bytes: &[u8]) -> Option<LeaseInfo> {
    let line = std::str::from_utf8(bytes).ok()?.strip_suffix('\n')?;
    let mut it = line.split(' ');
    let token = u64::from_str_radix(it.next()?, 16).ok()?;
    let expiry = it.next()?.parse::<u64>().ok()?;
    let os = match it.next() {
        None => false,
        Some("os") => true,
        Some(_) => return None,
    };
    it.next().is_none().then_some(LeaseInfo { token, expiry, os })
}

/// `Some(description)` if a lease file exists and has not expired. A
/// writer holding the OS lock (`under_os_lock`) counts an `os` lease as
/// expired: the writer that wrote it no longer holds the OS lock.
fn live_lease(dir: &dyn Dir, name: &FileName, under_os_lock: bool) -> io::Result<Option<String>> {
    Ok(match read_lease(dir, name)? {
        Some(l) if l.expiry > now_ms() && !(under_os_lock && l.os) => {
            let who = if l.os { "a writer in another process" } else { "a lease-holding writer" };
            Some(format!(": {who} (token {:016x}) until {} ms since the epoch", l.token, l.expiry))
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
    /// Held beside an OS lock (written as `os`; not synced: it only has to
    /// be seen by live processes).
    os: bool,
    released: bool,
}

impl Lease {
    fn write(dir: &dyn Dir, name: &FileName, token: u64, expiry: u64, os: bool) -> io::Result<()> {
        let mut f: Box<dyn WriteFile> = dir.create_new(name)?;
        let mark = if os { " os" } else { "" };
        f.write_at(format!("{token:016x} {expiry}{mark}\n").as_bytes(), 0)?;
        if os {
            return Ok(());
        }
        f.sync_data()?;
        dir.sync_dir()
    }

    fn try_take(dir: &dyn Dir, name: &FileName, length: Duration, os: bool) -> io::Result<Result<Lease, String>> {
        let token = random_token();
        let expiry = now_ms() + length.as_millis() as u64;
        let lease = || Lease { name: name.clone(), token, length, expiry, os, released: false };
        match Lease::write(dir, name, token, expiry, os) {
            Ok(()) => return Ok(Ok(lease())),
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            Err(_) => {}
        }
        if let Some(holder) = live_lease(dir, name, os)? {
            return Ok(Err(holder));
        }
        // Expired: take it over. Two contenders may both remove it; only one
        // can then create it exclusively.
        match dir.remove(name) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match Lease::write(dir, name, token, expiry, os) {
            Ok(()) => Ok(Ok(lease())),
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
        if current.map(|l| l.token) != Some(self.token) {
            self.released = true;
            return Err(Error::LeaseLost { file: display });
        }
        let now = now_ms();
        if now + (self.length.as_millis() as u64) / 2 < self.expiry {
            return Ok(());
        }
        let expiry = now + self.length.as_millis() as u64;
        // Replace atomically: write a temp lease, rename it over ours.
        let tmp = FileName::new(&format!(".{}.{:016x}.tmp", self.name, random_token()))?;
        let res = Lease::write(dir, &tmp, self.token, expiry, self.os).and_then(|()| dir.rename(&tmp, &self.name));
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
        if let Ok(Some(l)) = read_lease(dir, &self.name)
            && l.token == self.token
        {
            let _ = dir.remove(&self.name);
        }
    }
}
