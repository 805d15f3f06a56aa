//! Options for opening a history, with documented defaults.

use std::time::Duration;

/// How a save reaches the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitStrategy {
    /// Append the new line(s) at the end and `fdatasync` the file. Cost grows
    /// with the size of the new records, not of the history. A crash leaves
    /// at most a torn tail, which the next writer moves aside. **Default.**
    #[default]
    Append,
    /// The original module's behaviour, made durable: write the whole
    /// history plus the new records to a uniquely named temp file in the same
    /// directory, sync it, rename it over the history, sync the directory.
    /// Cost grows with the history; readers always see a whole file.
    Rewrite,
}

/// What a successful commit survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Every commit is on stable storage before `save` returns: file data is
    /// synced (`fdatasync`), and every create, rename or remove is followed by
    /// a sync of the directory. Survives a process crash and a power loss
    /// (given a disk that honours flushes). **Default.**
    ///
    /// With the real-disk backend (`storage::CapStdDir`, whose docs have the
    /// per-system table): on macOS every sync is
    /// `fcntl(F_FULLFSYNC)`, which also flushes the drive's write cache
    /// (`fsync` there does not), with a fallback to `fsync` only where the
    /// file system does not support it; on Windows syncs are
    /// `FlushFileBuffers` and directories cannot be synced, so creates and
    /// renames are atomic but their durability is up to NTFS.
    #[default]
    Full,
    /// No syncs. Survives a process crash (the OS has the data) but **not** a
    /// power loss or kernel crash: recent saves may be lost, and on some file
    /// systems a rewrite may leave an empty file. For benchmarks and tests only.
    None,
}

/// How a history is opened. Build with [`Options::default`] and the
/// setter methods.
///
/// ```
/// use std::time::Duration;
/// use iteration_history::{CommitStrategy, Durability, Options};
/// let opts = Options::default()
///     .strategy(CommitStrategy::Append)
///     .durability(Durability::Full)
///     .lock_timeout(Some(Duration::from_secs(5)));
/// assert_eq!(opts.commit_strategy(), CommitStrategy::Append);
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) strategy: CommitStrategy,
    pub(crate) durability: Durability,
    pub(crate) lock_timeout: Option<Duration>,
    pub(crate) repair_on_open: bool,
    pub(crate) lease: Duration,
    pub(crate) host_lock: bool,
    pub(crate) rename_batches_over: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strategy: CommitStrategy::Append,
            durability: Durability::Full,
            lock_timeout: None,
            repair_on_open: false,
            lease: Duration::from_secs(30),
            host_lock: false,
            rename_batches_over: 1000,
        }
    }
}

impl Options {
    /// Commit strategy. Default: [`CommitStrategy::Append`].
    pub fn strategy(mut self, s: CommitStrategy) -> Self {
        self.strategy = s;
        self
    }

    /// Durability. Default: [`Durability::Full`].
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// How long to wait for another writer to close the history.
    /// Default: `None`, fail at once with [`Error::Locked`](crate::Error::Locked).
    pub fn lock_timeout(mut self, t: Option<Duration>) -> Self {
        self.lock_timeout = t;
        self
    }

    /// If the history is corrupt (a bad line followed by valid ones), repair
    /// it while opening — bad lines move to a sidecar file — instead of
    /// failing with [`Error::Corrupt`](crate::Error::Corrupt). Default: `false`.
    pub fn repair_on_open(mut self, yes: bool) -> Self {
        self.repair_on_open = yes;
        self
    }

    /// Lease length of the lock file used where the OS has no file locks
    /// (WASI). A writer that stops committing for longer may lose the lock to
    /// another writer. Default: 30 s.
    pub fn lease(mut self, d: Duration) -> Self {
        self.lease = d;
        self
    }

    /// States that the caller already holds the history's OS lock: the
    /// exclusive advisory lock on `<history>.lock` that native writers take
    /// (`flock` on Unix, `LockFileEx` on Windows), for as long as the
    /// history stays open. For hosts that lock on behalf of a guest without
    /// OS locks (the Python and Node packages of the WASI component): the
    /// writer then takes no lease file, so a crashed writer's successor
    /// opens at once (the OS dropped its lock) and native writers and these
    /// hosts exclude each other. It still refuses to open while another
    /// writer's lease is live (a host that cannot lock). Taking no lock of
    /// its own, it must only be set by a caller that really holds the lock.
    /// Default: `false`.
    pub fn host_lock(mut self, yes: bool) -> Self {
        self.host_lock = yes;
        self
    }

    /// A commit of more than `n` records (a large `save_batch`, such as
    /// `ihist import`) is made atomic by a rename instead of an append: the
    /// history's bytes plus the new lines are written to a temp file, synced
    /// and renamed over the history (then the directory is synced). Its lines
    /// carry no commit tag, so a history cut by a line tool (`head`, `grep`)
    /// holds only whole commits. Costs a copy of the history; smaller
    /// batches are appended as one tagged commit. Default: 1000.
    pub fn rename_batches_over(mut self, n: usize) -> Self {
        self.rename_batches_over = n;
        self
    }

    /// The commit strategy set.
    pub fn commit_strategy(&self) -> CommitStrategy {
        self.strategy
    }

    /// The durability set.
    pub fn durability_level(&self) -> Durability {
        self.durability
    }
}
