//! An in-memory directory.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Capabilities, Dir, FileName, LockGuard, ReadFile, WriteFile};

type Inode = Arc<Mutex<Vec<u8>>>;

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Inode>,
    locks: HashSet<String>,
    read_only: bool,
}

/// A directory held in memory.
///
/// Files behave like POSIX inodes: a handle opened before a rename or
/// remove keeps the file it opened. Clones share the same directory, so a
/// test can "reopen" a history. Nothing is ever lost (there is no crash);
/// syncs succeed at once. [`MemDir::set_read_only`] makes every change fail
/// with `PermissionDenied`, like a read-only directory.
#[derive(Clone, Debug, Default)]
pub struct MemDir {
    state: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the byte vectors in a
    // state worse than a crash would; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn denied() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "read-only directory")
}

impl MemDir {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every change (create, write, rename, remove, lock) fail with
    /// `PermissionDenied` while `read_only` is true.
    pub fn set_read_only(&self, read_only: bool) {
        lock(&self.state).read_only = read_only;
    }

    /// The current contents of a file, if it exists.
    pub fn contents(&self, name: &str) -> Option<Vec<u8>> {
        let st = lock(&self.state);
        st.entries.get(name).map(|i| lock(i).clone())
    }

    /// Replaces (or creates) a file with `data`, bypassing everything.
    pub fn put(&self, name: &str, data: &[u8]) {
        let mut st = lock(&self.state);
        st.entries.insert(name.to_string(), Arc::new(Mutex::new(data.to_vec())));
    }
}

#[derive(Debug)]
struct MemFile {
    data: Inode,
    dir: Arc<Mutex<State>>,
}

impl MemFile {
    fn check_writable(&self) -> io::Result<()> {
        if lock(&self.dir).read_only { Err(denied()) } else { Ok(()) }
    }
}

impl ReadFile for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let data = lock(&self.data);
        let Ok(start) = usize::try_from(offset) else { return Ok(0) };
        if start >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.data).len() as u64)
    }
}

impl WriteFile for MemFile {
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check_writable()?;
        let start = usize::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
        let mut data = lock(&self.data);
        if data.len() < start + buf.len() {
            data.resize(start + buf.len(), 0);
        }
        data[start..start + buf.len()].copy_from_slice(buf);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let len = usize::try_from(len).map_err(|_| io::Error::other("length too large"))?;
        lock(&self.data).resize(len, 0);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn sync_all(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct MemLock {
    name: String,
    dir: Arc<Mutex<State>>,
}

impl LockGuard for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        lock(&self.dir).locks.remove(&self.name);
    }
}

fn not_found(name: &FileName) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl Dir for MemDir {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        let st = lock(&self.state);
        let data = st.entries.get(name.as_str()).cloned().ok_or_else(|| not_found(name))?;
        Ok(Box::new(MemFile { data, dir: self.state.clone() }))
    }

    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        let st = lock(&self.state);
        if st.read_only {
            return Err(denied());
        }
        let data = st.entries.get(name.as_str()).cloned().ok_or_else(|| not_found(name))?;
        Ok(Box::new(MemFile { data, dir: self.state.clone() }))
    }

    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        let mut st = lock(&self.state);
        if st.read_only {
            return Err(denied());
        }
        if st.entries.contains_key(name.as_str()) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{name}: exists")));
        }
        let data: Inode = Arc::default();
        st.entries.insert(name.to_string(), data.clone());
        Ok(Box::new(MemFile { data, dir: self.state.clone() }))
    }

    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        let mut st = lock(&self.state);
        if st.read_only {
            return Err(denied());
        }
        let inode = st.entries.remove(from.as_str()).ok_or_else(|| not_found(from))?;
        st.entries.insert(to.to_string(), inode);
        Ok(())
    }

    fn remove(&self, name: &FileName) -> io::Result<()> {
        let mut st = lock(&self.state);
        if st.read_only {
            return Err(denied());
        }
        st.entries.remove(name.as_str()).map(|_| ()).ok_or_else(|| not_found(name))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(lock(&self.state).entries.keys().cloned().collect())
    }

    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        let st = lock(&self.state);
        Ok(st.entries.get(name.as_str()).map(|i| lock(i).len() as u64))
    }

    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }

    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        let mut st = lock(&self.state);
        if st.read_only {
            return Err(denied());
        }
        if !st.locks.insert(name.to_string()) {
            return Ok(None);
        }
        st.entries.entry(name.to_string()).or_default();
        Ok(Some(Box::new(MemLock { name: name.to_string(), dir: self.state.clone() })))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::FULL
    }
}
