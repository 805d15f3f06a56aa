//! The journal's writer: the durable write sequences. This module is the
//! only caller of the storage methods that sync, create exclusively,
//! truncate or rename (`core/tests/tidy.rs` checks it); the history, the
//! in-flight record ([`intent`](crate::intent)), the lease
//! ([`lock`](crate::lock)) and the checkpoint call it.
//!
//! The sequences (append, replace by rename, create, truncate, sidecar, the
//! in-flight record, the lease, the checkpoint) are described once, in
//! `docs/durability.md`, section "How a commit reaches the disk".

use std::io;

use crate::error::{Error, Result};
use crate::options::Durability;
use crate::storage::{Dir, FileName, ReadFile, WriteFile};

/// Where a commit goes.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) dir: &'a dyn Dir,
    pub(crate) name: &'a FileName,
    pub(crate) display: &'a str,
    pub(crate) durability: Durability,
}

impl Target<'_> {
    fn full(&self) -> bool {
        self.durability == Durability::Full
    }

    fn io(&self, op: &'static str, e: io::Error) -> Error {
        Error::io(self.display, op, e)
    }

    fn sync_dir(&self, op: &'static str) -> Result<()> {
        if self.full() {
            self.dir.sync_dir().map_err(|e| Error::sync(self.display, op, e))?;
        }
        Ok(())
    }
}

/// Appends `bytes` at `at` (the committed length) and syncs.
///
/// `heal`: an earlier attempt may have left bytes after `at`; cut them first.
/// On error the file is cut back to `at` (best effort) and the caller must
/// pass `heal = true` next time.
pub(crate) fn append(t: Target<'_>, file: &mut dyn WriteFile, at: u64, bytes: &[u8], heal: bool) -> Result<()> {
    if heal {
        file.set_len(at).map_err(|e| t.io("cutting off a failed write", e))?;
    }
    if let Err(e) = file.write_at(bytes, at) {
        let _ = file.set_len(at);
        return Err(t.io("appending", e));
    }
    if t.full()
        && let Err(e) = file.sync_data()
    {
        let _ = file.set_len(at);
        return Err(Error::sync(t.display, "syncing an append", e));
    }
    Ok(())
}

/// Truncates a file to `len` and syncs (moving a torn tail aside).
pub(crate) fn truncate(t: Target<'_>, file: &mut dyn WriteFile, len: u64) -> Result<()> {
    file.set_len(len).map_err(|e| t.io("truncating a torn tail", e))?;
    if t.full() {
        file.sync_data().map_err(|e| Error::sync(t.display, "syncing a truncation", e))?;
    }
    Ok(())
}

/// What a durable create is doing, for its error messages.
#[derive(Clone, Copy)]
pub(crate) struct CreateOps {
    /// Creating the file.
    pub(crate) create: &'static str,
    /// Syncing the new file.
    pub(crate) sync: &'static str,
    /// Syncing the directory after creating it.
    pub(crate) sync_dir: &'static str,
}

/// Creates the history file, durably (file and directory entry).
pub(crate) fn create(t: Target<'_>) -> Result<Box<dyn WriteFile>> {
    create_with(
        t,
        CreateOps {
            create: "creating the history file",
            sync: "syncing a new history file",
            sync_dir: "syncing the directory after creating the history file",
        },
    )
}

/// Creates `t.name`, durably (file and directory entry) under
/// [`Durability::Full`].
pub(crate) fn create_with(t: Target<'_>, ops: CreateOps) -> Result<Box<dyn WriteFile>> {
    let mut f = t.dir.create_new(t.name).map_err(|e| t.io(ops.create, e))?;
    if t.full() {
        f.sync_all().map_err(|e| Error::sync(t.display, ops.sync, e))?;
    }
    t.sync_dir(ops.sync_dir)?;
    Ok(f)
}

/// Opens `t.name` for writing, or creates it durably ([`create_with`]) if
/// it does not exist.
pub(crate) fn open_or_create(t: Target<'_>, ops: CreateOps) -> Result<Box<dyn WriteFile>> {
    match t.dir.open_write(t.name) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_with(t, ops),
        Err(e) => Err(t.io(ops.create, e)),
    }
}

/// Replaces the whole content of `file` with `bytes` in place and syncs it
/// under [`Durability::Full`] (a small record rewritten before each commit:
/// the in-flight commit record of [`intent`](crate::intent)).
pub(crate) fn overwrite(
    display: &str,
    durability: Durability,
    file: &mut dyn WriteFile,
    bytes: &[u8],
    write_op: &'static str,
    sync_op: &'static str,
) -> Result<()> {
    file.write_at(bytes, 0)
        .and_then(|()| file.set_len(bytes.len() as u64))
        .map_err(|e| Error::io(display, write_op, e))
        .and_then(|()| {
            if durability == Durability::Full {
                file.sync_data().map_err(|e| Error::sync(display, sync_op, e))
            } else {
                Ok(())
            }
        })
}

/// Writes `bytes` as the whole content of `name` (opened, or created),
/// unsynced and best effort: for a file whose loss or damage changes no
/// result (the [`checkpoint`](crate::checkpoint)).
pub(crate) fn overwrite_unsynced(dir: &dyn Dir, name: &FileName, bytes: &[u8]) {
    let f = match dir.open_write(name) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => dir.create_new(name),
        Err(e) => Err(e),
    };
    if let Ok(mut f) = f {
        let _ = f.write_at(bytes, 0).and_then(|()| f.set_len(bytes.len() as u64));
    }
}

/// Creates `name` exclusively holding `bytes`, and syncs the file and the
/// directory whatever the durability option (the lease file of
/// [`lock`](crate::lock), whose existence is the lock).
pub(crate) fn create_synced(dir: &dyn Dir, name: &FileName, bytes: &[u8]) -> io::Result<()> {
    let mut f: Box<dyn WriteFile> = dir.create_new(name)?;
    f.write_at(bytes, 0)?;
    f.sync_data()?;
    dir.sync_dir()
}

/// Atomically renames `from` over `to`, without a directory sync (the
/// lease's renewal: a renewal lost in a power loss leaves the older,
/// shorter lease, which is the safe side).
pub(crate) fn rename_unsynced(dir: &dyn Dir, from: &FileName, to: &FileName) -> io::Result<()> {
    dir.rename(from, to)
}

/// A unique token for this writer (lease owner, temp file names).
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
    h.write_u64(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64));
    h.finish()
}

/// The temp-file name for `name`: `.<name>.<16 hex>.tmp`.
pub(crate) fn temp_name(name: &FileName) -> Result<FileName> {
    Ok(FileName::new(&format!(".{}.{:016x}.tmp", name, random_token()))?)
}

/// Whether `entry` is one of our temp files for `name`.
pub(crate) fn is_temp_of(entry: &str, name: &FileName) -> bool {
    let Some(rest) = entry.strip_prefix('.').and_then(|r| r.strip_prefix(name.as_str())) else {
        return false;
    };
    let Some(mid) = rest.strip_prefix('.').and_then(|r| r.strip_suffix(".tmp")) else {
        return false;
    };
    mid.len() == 16 && mid.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A replace whose rename happened: the new content is visible.
pub(crate) struct Replaced {
    /// The new file, open for writing.
    pub(crate) file: Box<dyn WriteFile>,
    /// The directory sync after the rename. If it failed, the new content is
    /// visible but its durability is unknown: the caller must count the new
    /// content as the current state, report the error, and sync the
    /// directory again before its next commit.
    pub(crate) dir_synced: Result<()>,
}

/// Syncs the directory (a fresh attempt, e.g. after an earlier failure).
pub(crate) fn sync_dir(t: Target<'_>, op: &'static str) -> Result<()> {
    t.sync_dir(op)
}

/// Atomically replaces `t.name` with what `fill` writes into a fresh temp
/// file. `Err` means nothing visible changed (the temp file is removed).
///
/// `source` is whatever `fill` reads from (typically a read handle of the
/// history, or `()`); it is dropped, closing its handles, after `fill` and
/// before the rename. Some systems cannot rename over a file that is open
/// (Windows on FAT and many SMB shares, Windows before 10 1607, Wine): there
/// the writer's own handles would block its rename for good.
pub(crate) fn replace<S>(
    t: Target<'_>,
    source: S,
    fill: impl FnOnce(&S, &mut dyn WriteFile) -> Result<()>,
) -> Result<Replaced> {
    let mut attempts = 0;
    let (tmp, mut file) = loop {
        let tmp = temp_name(t.name)?;
        match t.dir.create_new(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
            Err(e) => return Err(t.io("creating a temp file", e)),
        }
    };
    let result = (|| {
        let filled = fill(&source, &mut *file);
        drop(source);
        filled?;
        if t.full() {
            file.sync_all().map_err(|e| Error::sync(t.display, "syncing the temp file", e))?;
        }
        t.dir.rename(&tmp, t.name).map_err(|e| t.io("renaming the temp file over the history", e))
    })();
    if let Err(e) = result {
        drop(file);
        let _ = t.dir.remove(&tmp);
        return Err(e);
    }
    // The rename happened: the new content is visible. Its durability needs
    // the directory sync.
    let dir_synced = t.sync_dir("syncing the directory after a rename");
    Ok(Replaced { file, dir_synced })
}

/// Copies `[0, len)` of `src` into `dst` at offset 0.
pub(crate) fn copy_prefix(src: &dyn ReadFile, dst: &mut dyn WriteFile, len: u64, display: &str) -> Result<()> {
    let mut buf = vec![0u8; (1 << 20).min(len as usize).max(1)];
    let mut pos = 0u64;
    while pos < len {
        let want = ((len - pos) as usize).min(buf.len());
        crate::storage::read_exact_at(src, &mut buf[..want], pos)
            .map_err(|e| Error::io(display, "reading the history", e))?;
        dst.write_at(&buf[..want], pos).map_err(|e| Error::io(display, "writing a temp file", e))?;
        pos += want as u64;
    }
    Ok(())
}

/// Writes `bytes` to a new sidecar `<name>.<kind>.<n>` (first free `n`),
/// durably. Returns the sidecar's name.
pub(crate) fn write_sidecar(t: Target<'_>, kind: &str, bytes: &[u8]) -> Result<String> {
    let prefix = format!("{}.{}.", t.name, kind);
    let entries = t.dir.list().map_err(|e| t.io("listing the directory", e))?;
    let mut n =
        entries.iter().filter_map(|e| e.strip_prefix(&prefix).and_then(|s| s.parse::<u64>().ok())).max().unwrap_or(0);
    loop {
        n += 1;
        let side = FileName::new(&format!("{prefix}{n}"))?;
        let mut f = match t.dir.create_new(&side) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(t.io("creating a sidecar file", e)),
        };
        let res = f
            .write_at(bytes, 0)
            .map_err(|e| t.io("writing a sidecar file", e))
            .and_then(|()| {
                if t.full() {
                    f.sync_all().map_err(|e| Error::sync(t.display, "syncing a sidecar file", e))
                } else {
                    Ok(())
                }
            })
            .and_then(|()| t.sync_dir("syncing the directory after writing a sidecar file"));
        if let Err(e) = res {
            drop(f);
            let _ = t.dir.remove(&side);
            return Err(e);
        }
        return Ok(side.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised() {
        let name = FileName::new("h.jsonl").expect("name");
        let tmp = temp_name(&name).expect("tmp");
        assert!(is_temp_of(tmp.as_str(), &name));
        assert!(!is_temp_of("h.jsonl.tmp", &name), "the original module's temp name is not ours");
        assert!(!is_temp_of(".h.jsonl.lock", &name));
        assert!(!is_temp_of(".other.jsonl.0123456789abcdef.tmp", &name));
    }
}
