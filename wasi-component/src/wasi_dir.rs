//! The core's [`Dir`] over WASI 0.2's own capability handles: the
//! preopened directory descriptor of `wasi:filesystem`, through the `wasip2`
//! crate.
//!
//! Every operation is a call on that descriptor (`open-at`, `rename-at`,
//! `unlink-file-at`, `stat-at`, `read-directory`) or on a file descriptor it
//! opened (`read`/`write` at offsets, `set-size`, `sync-data`, `sync`). The
//! host carries them out inside the directory it preopened (wasmtime-wasi
//! through cap-std's sandbox), so the rename is the host's atomic rename.
//! Symbolic links are never followed (`path-flags` empty).
//!
//! Files are opened with `read`/`write` descriptor flags only, never
//! `mutate-directory`: hosts such as jco's preview2-shim refuse that flag on
//! files, and the core never needs it (creating, renaming and removing go
//! through the directory's own descriptor, which the host opened).

use std::fmt;
use std::io;

use iteration_history::storage::{Capabilities, Dir, FileName, LockGuard, ReadFile, WriteFile};
use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};

/// How this host lets the guest sync the directory (found out when the
/// directory is opened).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DirSync {
    /// `sync` on the preopened descriptor itself (wasmtime).
    Preopen,
    /// `sync` on a descriptor for `.` opened from it (hosts that refuse
    /// `sync` on the preopen, e.g. jco).
    Reopen,
    /// The host cannot sync the directory: reported through
    /// [`Capabilities::dir_sync`], never silently.
    Unavailable,
}

/// The preopened directory.
pub(crate) struct WasiDir {
    root: Descriptor,
    guest_path: String,
    dir_sync: DirSync,
}

impl fmt::Debug for WasiDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasiDir").field("guest_path", &self.guest_path).field("dir_sync", &self.dir_sync).finish()
    }
}

/// Maps a WASI error code to the `io::ErrorKind` the core branches on.
fn kind(code: ErrorCode) -> io::ErrorKind {
    use io::ErrorKind as K;
    match code {
        ErrorCode::Access | ErrorCode::NotPermitted => K::PermissionDenied,
        ErrorCode::ReadOnly => K::ReadOnlyFilesystem,
        ErrorCode::Exist => K::AlreadyExists,
        ErrorCode::NoEntry => K::NotFound,
        ErrorCode::InsufficientSpace => K::StorageFull,
        ErrorCode::Quota => K::QuotaExceeded,
        ErrorCode::Unsupported => K::Unsupported,
        ErrorCode::Interrupted => K::Interrupted,
        ErrorCode::Invalid => K::InvalidInput,
        ErrorCode::IsDirectory => K::IsADirectory,
        ErrorCode::NotDirectory => K::NotADirectory,
        ErrorCode::NotEmpty => K::DirectoryNotEmpty,
        ErrorCode::WouldBlock => K::WouldBlock,
        ErrorCode::FileTooLarge => K::FileTooLarge,
        ErrorCode::NameTooLong => K::InvalidFilename,
        ErrorCode::Busy | ErrorCode::TextFileBusy => K::ResourceBusy,
        ErrorCode::CrossDevice => K::CrossesDevices,
        ErrorCode::InsufficientMemory => K::OutOfMemory,
        _ => K::Other,
    }
}

/// An `io::Error` naming the WASI error code and what was done.
fn err(code: ErrorCode, op: &str) -> io::Error {
    io::Error::new(kind(code), format!("{op}: WASI error-code `{}` ({})", code.name(), code.message()))
}

/// Error codes by which a host says "I cannot do this on this descriptor"
/// (e.g. sync or list the preopen itself) rather than "the call failed".
fn refuses_on_descriptor(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::Unsupported
            | ErrorCode::Invalid
            | ErrorCode::BadDescriptor
            | ErrorCode::NotPermitted
            | ErrorCode::Access
            | ErrorCode::IsDirectory
    )
}

impl WasiDir {
    /// Opens the directory the host preopened: the one mapped at `.`, else
    /// at `/`, else the only one.
    ///
    /// Finds out once whether the host can sync it, trying the preopened
    /// descriptor and then a descriptor for `.`; a host that refuses both
    /// gets [`Capabilities::dir_sync`] `false`.
    pub(crate) fn from_preopens() -> io::Result<WasiDir> {
        let mut dirs = get_directories();
        let pick = dirs
            .iter()
            .position(|(_, p)| p == ".")
            .or_else(|| dirs.iter().position(|(_, p)| p == "/"))
            .or(if dirs.len() == 1 { Some(0) } else { None });
        let Some(i) = pick else {
            let msg = if dirs.is_empty() {
                "the host preopened no directory: preopen the directory of the histories at guest path `.` (e.g. `wasmtime run --dir DIR::.`)".to_string()
            } else {
                let names: Vec<&str> = dirs.iter().map(|(_, p)| p.as_str()).collect();
                format!(
                    "the host preopened several directories ({names:?}) and none at `.` or `/`: map the histories' directory at `.`"
                )
            };
            return Err(io::Error::new(io::ErrorKind::NotFound, msg));
        };
        let (root, guest_path) = dirs.swap_remove(i);
        let mut dir = WasiDir { root, guest_path, dir_sync: DirSync::Unavailable };
        dir.dir_sync = dir.probe_dir_sync()?;
        Ok(dir)
    }

    fn probe_dir_sync(&self) -> io::Result<DirSync> {
        match self.root.sync() {
            Ok(()) => return Ok(DirSync::Preopen),
            Err(code) if refuses_on_descriptor(code) => {}
            Err(code) => return Err(err(code, "syncing the preopened directory")),
        }
        match self.reopen_and_sync() {
            Ok(()) => Ok(DirSync::Reopen),
            Err(code) if refuses_on_descriptor(code) => Ok(DirSync::Unavailable),
            Err(code) => Err(err(code, "syncing the preopened directory")),
        }
    }

    fn reopen_and_sync(&self) -> Result<(), ErrorCode> {
        let this = self.root.open_at(PathFlags::empty(), ".", OpenFlags::DIRECTORY, DescriptorFlags::READ)?;
        this.sync()
    }

    /// Opens `name` with descriptor flags `flags` (never `mutate-directory`).
    fn open(&self, name: &FileName, open: OpenFlags, flags: DescriptorFlags, op: &str) -> io::Result<WasiFile> {
        let fd = self.root.open_at(PathFlags::empty(), name.as_str(), open, flags).map_err(|c| err(c, op))?;
        Ok(WasiFile { fd, name: name.to_string() })
    }
}

/// A file opened through the preopened directory.
#[derive(Debug)]
struct WasiFile {
    fd: Descriptor,
    name: String,
}

impl ReadFile for WasiFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let (data, _eof) =
            self.fd.read(buf.len() as u64, offset).map_err(|c| err(c, &format!("reading {}", self.name)))?;
        // A host returning more than asked would be a host bug; never overrun.
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.fd.stat().map_err(|c| err(c, &format!("reading the length of {}", self.name)))?.size)
    }
}

impl WriteFile for WasiFile {
    fn write_at(&mut self, mut data: &[u8], mut offset: u64) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.fd.write(data, offset).map_err(|c| err(c, &format!("writing {}", self.name)))?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("writing {}: the host wrote 0 bytes", self.name),
                ));
            }
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(data.len());
            data = &data[n..];
            offset += n as u64;
        }
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.fd.set_size(len).map_err(|c| err(c, &format!("setting the length of {}", self.name)))
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.fd.sync_data().map_err(|c| err(c, &format!("syncing the data of {}", self.name)))
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.fd.sync().map_err(|c| err(c, &format!("syncing {}", self.name)))
    }
}

impl Dir for WasiDir {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        Ok(Box::new(self.open(name, OpenFlags::empty(), DescriptorFlags::READ, "opening for reading")?))
    }

    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        let flags = DescriptorFlags::READ | DescriptorFlags::WRITE;
        Ok(Box::new(self.open(name, OpenFlags::empty(), flags, "opening for writing")?))
    }

    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        let flags = DescriptorFlags::READ | DescriptorFlags::WRITE;
        let open = OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
        Ok(Box::new(self.open(name, open, flags, "creating")?))
    }

    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        self.root
            .rename_at(from.as_str(), &self.root, to.as_str())
            .map_err(|c| err(c, &format!("renaming {from} to {to}")))
    }

    fn remove(&self, name: &FileName) -> io::Result<()> {
        self.root.unlink_file_at(name.as_str()).map_err(|c| err(c, &format!("removing {name}")))
    }

    /// Reads the preopened descriptor's entries; on hosts that cannot list
    /// the preopen itself (jco: `bad-descriptor`), those of `.` opened from it.
    fn list(&self) -> io::Result<Vec<String>> {
        let op = "listing the preopened directory";
        let stream = match self.root.read_directory() {
            Ok(stream) => stream,
            Err(code) if refuses_on_descriptor(code) => {
                let dot = self
                    .root
                    .open_at(PathFlags::empty(), ".", OpenFlags::DIRECTORY, DescriptorFlags::READ)
                    .map_err(|c| err(c, op))?;
                dot.read_directory().map_err(|c| err(c, op))?
            }
            Err(code) => return Err(err(code, op)),
        };
        let mut names = Vec::new();
        while let Some(entry) = stream.read_directory_entry().map_err(|c| err(c, op))? {
            names.push(entry.name);
        }
        Ok(names)
    }

    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        match self.root.stat_at(PathFlags::empty(), name.as_str()) {
            Ok(stat) => Ok(Some(stat.size)),
            Err(ErrorCode::NoEntry) => Ok(None),
            Err(c) => Err(err(c, &format!("reading the metadata of {name}"))),
        }
    }

    fn sync_dir(&self) -> io::Result<()> {
        let op = "syncing the directory";
        match self.dir_sync {
            DirSync::Preopen => self.root.sync().map_err(|c| err(c, op)),
            DirSync::Reopen => self.reopen_and_sync().map_err(|c| err(c, op)),
            DirSync::Unavailable => Ok(()),
        }
    }

    /// WASI 0.2 has no file locks: the core falls back to its lease file.
    fn try_lock(&self, _name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "WASI 0.2 has no file locks"))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(self.dir_sync != DirSync::Unavailable, false)
    }
}
