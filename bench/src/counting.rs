//! A `Dir` wrapper that counts file syncs: shows group commit at work
//! (several threads' saves made durable by one `fdatasync`).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use iteration_history::storage::{CapStdDir, Capabilities, Dir, FileName, LockGuard, ReadFile, WriteFile};

/// Counts `sync_data`/`sync_all` calls on files opened through it.
#[derive(Debug)]
pub(crate) struct CountingDir {
    inner: CapStdDir,
    syncs: Arc<AtomicU64>,
}

impl CountingDir {
    pub(crate) fn new(inner: CapStdDir) -> (Self, Arc<AtomicU64>) {
        let syncs = Arc::new(AtomicU64::new(0));
        (CountingDir { inner, syncs: syncs.clone() }, syncs)
    }
}

struct CountingFile {
    inner: Box<dyn WriteFile>,
    syncs: Arc<AtomicU64>,
}

impl fmt::Debug for CountingFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingFile").finish()
    }
}

impl ReadFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl WriteFile for CountingFile {
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_at(data, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync_all()
    }
}

impl CountingDir {
    fn wrap(&self, f: Box<dyn WriteFile>) -> Box<dyn WriteFile> {
        Box::new(CountingFile { inner: f, syncs: self.syncs.clone() })
    }
}

impl Dir for CountingDir {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        self.inner.open_read(name)
    }
    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        Ok(self.wrap(self.inner.open_write(name)?))
    }
    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        Ok(self.wrap(self.inner.create_new(name)?))
    }
    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, name: &FileName) -> io::Result<()> {
        self.inner.remove(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        self.inner.len(name)
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.inner.sync_dir()
    }
    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock(name)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn display_name(&self, name: &FileName) -> String {
        self.inner.display_name(name)
    }
}
