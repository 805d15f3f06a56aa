//! Clear errors for a read-only directory, disk full and bad names; names
//! never leave the directory.

mod common;

use std::io;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{nums, rec};
use iteration_history::storage::{CapStdDir, Capabilities, Dir, FileName, LockGuard, MemDir, ReadFile, WriteFile};
use iteration_history::{Error, History, Options};

/// A test that cannot run on this machine says why; under `CI=true` that is
/// a failure (CI must run every test).
fn skip(why: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true, but this test cannot run: {why}");
    eprintln!("SKIP {why}");
}

#[test]
fn names_that_leave_the_directory_are_refused_before_any_call() {
    let dir = MemDir::new();
    for bad in ["../escape.jsonl", "/etc/passwd", "a/b.jsonl", "..", "", "C:\\x.jsonl", "sub\\h.jsonl"] {
        let err = History::open(dir.clone(), bad, Options::default()).expect_err(bad);
        assert!(matches!(err, Error::InvalidName(_)), "{bad}: {err}");
        assert!(err.to_string().contains("invalid file name"), "{err}");
        assert!(matches!(History::open_read_only(dir.clone(), bad), Err(Error::InvalidName(_))));
    }
    assert!(dir.list().expect("list").is_empty(), "nothing was created");
}

#[test]
fn a_symlink_cannot_lead_outside_the_directory() {
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("secret.jsonl"), b"secret\n").expect("write");
    let tmp = tempfile::tempdir().expect("tmp");
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path().join("secret.jsonl"), tmp.path().join("link.jsonl")).expect("symlink");
    #[cfg(windows)]
    if let Err(e) =
        std::os::windows::fs::symlink_file(outside.path().join("secret.jsonl"), tmp.path().join("link.jsonl"))
    {
        // Creating symlinks needs a privilege (or developer mode) on Windows.
        eprintln!("SKIP on Windows a_symlink_cannot_lead_outside_the_directory: cannot create a symlink here: {e}");
        return;
    }
    #[cfg(windows)]
    if !std::fs::symlink_metadata(tmp.path().join("link.jsonl")).is_ok_and(|m| m.file_type().is_symlink()) {
        // Wine's CreateSymbolicLinkW reports success and creates nothing.
        eprintln!("SKIP on Windows a_symlink_cannot_lead_outside_the_directory: symlink creation made no link here");
        return;
    }
    let dir = CapStdDir::open_ambient(tmp.path()).expect("dir");
    let r = History::open_read_only(dir, "link.jsonl").expect("name is plain");
    assert!(r.get_all().is_err(), "cap-std refuses to follow a link out of the directory");
    assert_eq!(std::fs::read(outside.path().join("secret.jsonl")).expect("read"), b"secret\n");
}

#[test]
fn read_only_directory_gives_a_clear_error_and_loses_nothing() {
    let dir = MemDir::new();
    let h = History::open(dir.clone(), "ro.jsonl", Options::default()).expect("open");
    h.save(&rec(1)).expect("save");
    let before = dir.contents("ro.jsonl");
    dir.set_read_only(true);
    let err = h.save(&rec(2)).expect_err("read-only");
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("ro.jsonl") && msg.contains("permission denied") && msg.contains("writable"), "{msg}");
    assert!(matches!(h.clear(), Err(Error::PermissionDenied { .. })));
    assert_eq!(dir.contents("ro.jsonl"), before);
    assert_eq!(nums(&h.get_all().expect("reads still work")), vec![1]);
    dir.set_read_only(false);
    h.save(&rec(2)).expect("works again");
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2]);
}

/// On a real read-only file system (a tmpfs remounted read-only; needs root).
#[test]
fn read_only_file_system_on_disk() {
    if cfg!(windows) {
        eprintln!("SKIP on Windows read_only_file_system_on_disk: no tmpfs or mount; covered by MemDir above");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(tmp.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        skip("read_only_file_system_on_disk: cannot mount a tmpfs here (not root?); covered by MemDir above");
        return;
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _guard = Unmount(tmp.path());
    {
        let h = History::open(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl", Options::default())
            .expect("open");
        h.save_batch(&[rec(1), rec(2)]).expect("save");
    }
    assert!(Command::new("mount").args(["-o", "remount,ro"]).arg(tmp.path()).status().expect("remount").success());
    let err = History::open(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl", Options::default())
        .expect_err("read-only fs");
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    let r = History::open_read_only(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl").expect("reader");
    assert_eq!(nums(&r.get_all().expect("readable")), vec![1, 2]);
}

/// A directory whose writes fail with ENOSPC after a switch is thrown.
#[derive(Debug, Clone)]
struct FullDisk {
    inner: MemDir,
    full: Arc<AtomicBool>,
}

#[derive(Debug)]
struct FullFile {
    inner: Box<dyn WriteFile>,
    full: Arc<AtomicBool>,
}

fn enospc() -> io::Error {
    io::Error::new(io::ErrorKind::StorageFull, "No space left on device")
}

impl ReadFile for FullFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl WriteFile for FullFile {
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        if self.full.load(Ordering::SeqCst) { Err(enospc()) } else { self.inner.write_at(data, offset) }
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.inner.sync_all()
    }
}

impl Dir for FullDisk {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        self.inner.open_read(name)
    }
    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(FullFile { inner: self.inner.open_write(name)?, full: self.full.clone() }))
    }
    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(FullFile { inner: self.inner.create_new(name)?, full: self.full.clone() }))
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
        Ok(())
    }
    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock(name)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::FULL
    }
}

#[test]
fn disk_full_gives_a_clear_error_and_the_same_save_succeeds_later() {
    for strategy in [iteration_history::CommitStrategy::Append, iteration_history::CommitStrategy::Rewrite] {
        let disk = FullDisk { inner: MemDir::new(), full: Arc::new(AtomicBool::new(false)) };
        let h = History::open(disk.clone(), "f.jsonl", Options::default().strategy(strategy)).expect("open");
        h.save(&rec(1)).expect("save");
        let before = disk.inner.contents("f.jsonl");
        disk.full.store(true, Ordering::SeqCst);
        let err = h.save(&rec(2)).expect_err("disk full");
        assert!(matches!(err, Error::DiskFull { .. }), "{err}");
        assert_eq!(err.code(), "disk-full");
        let msg = err.to_string();
        assert!(msg.contains("f.jsonl") && msg.contains("no space left") && msg.contains("free some space"), "{msg}");
        assert_eq!(disk.inner.contents("f.jsonl"), before, "{strategy:?}: nothing changed");
        assert!(disk.inner.list().expect("list").iter().all(|n| !n.ends_with(".tmp")), "temp removed");
        disk.full.store(false, Ordering::SeqCst);
        h.save(&rec(2)).expect("same save succeeds");
        assert_eq!(nums(&h.get_all().expect("all")), vec![1, 2]);
    }
}

#[test]
fn a_program_that_ignores_the_lock_is_detected_and_nothing_is_overwritten() {
    let dir = MemDir::new();
    let h = History::open(dir.clone(), "x.jsonl", Options::default()).expect("open");
    h.save(&rec(1)).expect("save");
    // Another program appends behind the writer's back.
    let name = FileName::new("x.jsonl").expect("name");
    let mut other = dir.open_write(&name).expect("open");
    let end = other.len().expect("len");
    let foreign = iteration_history::codec::encode_line(&rec(99)).expect("line");
    other.write_at(&foreign, end).expect("write");
    let before = dir.contents("x.jsonl");
    let err = h.save(&rec(2)).expect_err("detected");
    assert!(matches!(err, Error::ChangedExternally { .. }), "{err}");
    assert!(err.to_string().contains("another program") && err.to_string().contains("reopen"), "{err}");
    assert_eq!(dir.contents("x.jsonl"), before, "the other program's record is not overwritten");
    drop(h);
    let h = History::open(dir, "x.jsonl", Options::default()).expect("reopen");
    h.save(&rec(2)).expect("save after reopen");
    assert_eq!(nums(&h.get_all().expect("all")), vec![1, 99, 2]);
}
