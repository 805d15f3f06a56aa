//! Fault injection: fail the N-th storage operation with disk full,
//! permission denied or an I/O error.
//!
//! A [`Faults`] plan is shared by the code under test's directory and the
//! test: [`FaultDir`] wraps any [`Dir`] (the real disk too), and
//! [`CrashDir::with_faults`](crate::CrashDir::with_faults) consults the same
//! plan so that a failed sync also has its crash semantics there.
//!
//! A failing write first writes half of its data (a short write, as a full
//! disk does), then fails.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use iteration_history::storage::{Capabilities, Dir, FileName, LockGuard, ReadFile, WriteFile};

/// The kind of a storage operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// `open_read` / `open_write`.
    Open,
    /// `create_new`.
    Create,
    /// `read_at`.
    Read,
    /// A length query.
    Stat,
    /// `write_at`.
    Write,
    /// `set_len`.
    SetLen,
    /// `sync_data` / `sync_all`.
    Sync,
    /// `sync_dir`.
    SyncDir,
    /// `rename`.
    Rename,
    /// `remove`.
    Remove,
    /// `list`.
    List,
    /// `try_lock`.
    Lock,
}

/// What a fault looks like to the code under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `ENOSPC` (`ErrorKind::StorageFull`).
    DiskFull,
    /// `EACCES` (`ErrorKind::PermissionDenied`).
    PermissionDenied,
    /// `EIO`: the device failed.
    Eio,
}

impl FaultKind {
    /// The three kinds.
    pub const ALL: [FaultKind; 3] = [FaultKind::DiskFull, FaultKind::PermissionDenied, FaultKind::Eio];

    /// The error an operation fails with.
    pub fn error(self) -> io::Error {
        match self {
            FaultKind::DiskFull => io::Error::new(io::ErrorKind::StorageFull, "No space left on device (injected)"),
            FaultKind::PermissionDenied => {
                io::Error::new(io::ErrorKind::PermissionDenied, "Permission denied (injected)")
            }
            #[cfg(unix)]
            FaultKind::Eio => io::Error::from_raw_os_error(5),
            #[cfg(not(unix))]
            FaultKind::Eio => io::Error::other("Input/output error (injected)"),
        }
    }

    /// Whether an operation can fail this way on a real system.
    pub fn applies_to(self, op: Op) -> bool {
        match self {
            // Allocation: new files and blocks, renames that grow the
            // directory, and syncs that allocate delayed blocks.
            FaultKind::DiskFull => {
                matches!(op, Op::Create | Op::Write | Op::SetLen | Op::Sync | Op::SyncDir | Op::Rename | Op::Lock)
            }
            FaultKind::PermissionDenied => {
                matches!(op, Op::Open | Op::Create | Op::Write | Op::SetLen | Op::Rename | Op::Remove | Op::Lock)
            }
            FaultKind::Eio => true,
        }
    }
}

/// Which operations a plan counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpFilter {
    /// Every operation the fault kind applies to.
    Applicable,
    /// Only `sync_data`, `sync_all` and `sync_dir`.
    Syncs,
    /// Only file syncs (`sync_data`, `sync_all`).
    FileSyncs,
}

impl OpFilter {
    fn matches(self, kind: FaultKind, op: Op) -> bool {
        kind.applies_to(op)
            && match self {
                OpFilter::Applicable => true,
                OpFilter::Syncs => matches!(op, Op::Sync | Op::SyncDir),
                OpFilter::FileSyncs => op == Op::Sync,
            }
    }
}

#[derive(Debug)]
struct Plan {
    kind: FaultKind,
    filter: OpFilter,
    at: u64,
    sticky: bool,
}

#[derive(Debug, Default)]
struct FaultState {
    plan: Option<Plan>,
    paused: bool,
    matched: u64,
    ops: u64,
    injected: Vec<String>,
}

/// A shared fault plan (clones share it).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

impl Faults {
    /// No faults planned.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on, the `n`-th (1-based) operation matching `filter` for
    /// `kind` fails; with `sticky`, every matching one after it too, until
    /// [`lift`](Self::lift).
    pub fn fail_at(&self, kind: FaultKind, filter: OpFilter, n: u64, sticky: bool) {
        let mut s = self.lock();
        s.plan = Some(Plan { kind, filter, at: n, sticky });
        s.matched = 0;
    }

    /// The next matching operation fails (once).
    pub fn fail_next(&self, kind: FaultKind, filter: OpFilter) {
        self.fail_at(kind, filter, 1, false);
    }

    /// Counts matching operations without failing any (see
    /// [`matched`](Self::matched)): a dry run to learn how many N to try.
    pub fn count(&self, kind: FaultKind, filter: OpFilter) {
        self.fail_at(kind, filter, u64::MAX, false);
    }

    /// No more faults.
    pub fn lift(&self) {
        self.lock().plan = None;
    }

    /// While paused, operations are neither counted nor failed (for a
    /// test's own inspection or set-up).
    pub fn pause(&self, paused: bool) {
        self.lock().paused = paused;
    }

    /// Matching operations seen since the plan was set.
    pub fn matched(&self) -> u64 {
        self.lock().matched
    }

    /// Every operation seen.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// The faults injected so far, described (`EIO on sync h.jsonl`).
    pub fn injected(&self) -> Vec<String> {
        self.lock().injected.clone()
    }

    /// Called by a directory before every operation.
    ///
    /// # Errors
    /// The planned fault.
    pub fn check(&self, op: Op, name: &str) -> io::Result<()> {
        let mut s = self.lock();
        if s.paused {
            return Ok(());
        }
        s.ops += 1;
        let Some(plan) = &s.plan else { return Ok(()) };
        if !plan.filter.matches(plan.kind, op) {
            return Ok(());
        }
        let (kind, at, sticky) = (plan.kind, plan.at, plan.sticky);
        s.matched += 1;
        if s.matched == at || (sticky && s.matched > at) {
            s.injected.push(format!("{kind:?} on {op:?} {name}"));
            return Err(kind.error());
        }
        Ok(())
    }
}

/// Wraps any [`Dir`] and fails operations as a [`Faults`] plan says.
pub struct FaultDir<D> {
    inner: D,
    faults: Faults,
}

impl<D: fmt::Debug> fmt::Debug for FaultDir<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultDir").field("inner", &self.inner).finish()
    }
}

impl<D: Dir> FaultDir<D> {
    /// Wraps `inner`.
    pub fn new(inner: D, faults: Faults) -> Self {
        FaultDir { inner, faults }
    }
}

struct FaultFile<F: ?Sized> {
    inner: Box<F>,
    name: String,
    faults: Faults,
}

impl<F: ?Sized> fmt::Debug for FaultFile<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultFile").field("name", &self.name).finish()
    }
}

impl ReadFile for FaultFile<dyn ReadFile> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.faults.check(Op::Read, &self.name)?;
        self.inner.read_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        self.faults.check(Op::Stat, &self.name)?;
        self.inner.len()
    }
}

impl ReadFile for FaultFile<dyn WriteFile> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.faults.check(Op::Read, &self.name)?;
        self.inner.read_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        self.faults.check(Op::Stat, &self.name)?;
        self.inner.len()
    }
}

impl WriteFile for FaultFile<dyn WriteFile> {
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        if let Err(e) = self.faults.check(Op::Write, &self.name) {
            let _ = self.inner.write_at(&data[..data.len() / 2], offset);
            return Err(e);
        }
        self.inner.write_at(data, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.faults.check(Op::SetLen, &self.name)?;
        self.inner.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.faults.check(Op::Sync, &self.name)?;
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.faults.check(Op::Sync, &self.name)?;
        self.inner.sync_all()
    }
}

impl<D: Dir> Dir for FaultDir<D> {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        self.faults.check(Op::Open, name.as_str())?;
        let inner = self.inner.open_read(name)?;
        Ok(Box::new(FaultFile { inner, name: name.to_string(), faults: self.faults.clone() }))
    }
    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        self.faults.check(Op::Open, name.as_str())?;
        let inner = self.inner.open_write(name)?;
        Ok(Box::new(FaultFile { inner, name: name.to_string(), faults: self.faults.clone() }))
    }
    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        self.faults.check(Op::Create, name.as_str())?;
        let inner = self.inner.create_new(name)?;
        Ok(Box::new(FaultFile { inner, name: name.to_string(), faults: self.faults.clone() }))
    }
    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        self.faults.check(Op::Rename, from.as_str())?;
        self.inner.rename(from, to)
    }
    fn remove(&self, name: &FileName) -> io::Result<()> {
        self.faults.check(Op::Remove, name.as_str())?;
        self.inner.remove(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.faults.check(Op::List, "")?;
        self.inner.list()
    }
    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        self.faults.check(Op::Stat, name.as_str())?;
        self.inner.len(name)
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.faults.check(Op::SyncDir, "")?;
        self.inner.sync_dir()
    }
    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.faults.check(Op::Lock, name.as_str())?;
        self.inner.try_lock(name)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn display_name(&self, name: &FileName) -> String {
        self.inner.display_name(name)
    }
}
