//! The real-disk backend over a `cap_std::fs::Dir`.
//!
//! Every operation goes through the directory handle (`openat`,
//! `renameat`, `unlinkat` on Unix), so a name can never reach outside it,
//! even if the directory is renamed or a path component is swapped for a
//! symlink while the history is open.

use std::fs as stdfs;
use std::io;
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::{Dir as CapDir, OpenOptions};

use super::{Capabilities, Dir, FileName, LockGuard, ReadFile, WriteFile};

/// A directory on disk, opened as a capability.
#[derive(Debug)]
pub struct CapStdDir {
    dir: CapDir,
    display: String,
}

impl CapStdDir {
    /// Wraps an already opened capability directory. `display` is how the
    /// directory is named in error messages.
    pub fn new(dir: CapDir, display: impl Into<String>) -> Self {
        CapStdDir { dir, display: display.into() }
    }

    /// Opens the directory at `path` (an ambient-authority operation: the
    /// one place a path is resolved; everything after is relative to the
    /// handle).
    ///
    /// # Errors
    /// If the directory cannot be opened.
    pub fn open_ambient(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let dir = CapDir::open_ambient_dir(path, ambient_authority())?;
        Ok(CapStdDir::new(dir, path.display().to_string()))
    }

    /// Creates the directory at `path` and its parents if needed, then opens it.
    ///
    /// # Errors
    /// If the directory cannot be created or opened.
    pub fn create_ambient(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        CapDir::create_ambient_dir_all(path, ambient_authority())?;
        Self::open_ambient(path)
    }

    fn open(&self, name: &FileName, opts: &OpenOptions) -> io::Result<stdfs::File> {
        Ok(self.dir.open_with(name.as_str(), opts)?.into_std())
    }
}

/// A file of a [`CapStdDir`].
#[derive(Debug)]
struct DiskFile {
    file: stdfs::File,
}

#[cfg(unix)]
fn pread(f: &stdfs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, offset)
}

#[cfg(unix)]
fn pwrite_all(f: &stdfs::File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
}

#[cfg(windows)]
fn pread(f: &stdfs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, offset)
}

#[cfg(windows)]
fn pwrite_all(f: &stdfs::File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_write(f, buf, offset) {
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

impl ReadFile for DiskFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        pread(&self.file, buf, offset)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

impl WriteFile for DiskFile {
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        pwrite_all(&self.file, data, offset)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
}

#[derive(Debug)]
struct DiskLock {
    // Holding the open file holds the lock; closing it releases the lock.
    _file: stdfs::File,
}

impl LockGuard for DiskLock {}

impl Dir for CapStdDir {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        let file = self.open(name, OpenOptions::new().read(true))?;
        Ok(Box::new(DiskFile { file }))
    }

    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        let file = self.open(name, OpenOptions::new().read(true).write(true))?;
        Ok(Box::new(DiskFile { file }))
    }

    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        let file = self.open(name, OpenOptions::new().read(true).write(true).create_new(true))?;
        Ok(Box::new(DiskFile { file }))
    }

    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        self.dir.rename(from.as_str(), &self.dir, to.as_str())
    }

    fn remove(&self, name: &FileName) -> io::Result<()> {
        self.dir.remove_file(name.as_str())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in self.dir.entries()? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        match self.dir.metadata(name.as_str()) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the directory itself for reading (cap-std's own handle is an
    /// `O_PATH` descriptor on Linux, which cannot be synced) and `fsync`s it.
    #[cfg(not(windows))]
    fn sync_dir(&self) -> io::Result<()> {
        self.dir.open(".")?.into_std().sync_all()
    }

    /// Windows has no way to sync a directory; renames are atomic but their
    /// durability is left to NTFS's journal (see [`Capabilities::dir_sync`]).
    #[cfg(windows)]
    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }

    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        let file = self.open(name, OpenOptions::new().read(true).write(true).create(true))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(DiskLock { _file: file }))),
            Err(stdfs::TryLockError::WouldBlock) => Ok(None),
            Err(stdfs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(!cfg!(windows), true)
    }

    fn display_name(&self, name: &FileName) -> String {
        Path::new(&self.display).join(name.as_str()).display().to_string()
    }
}
