//! The writer lock file on disk (Unix): created 0600, never followed when
//! it is a symlink, and refused, by name, when another user owns it.
//! (A second user holding or planting it through the real `ihist` binary:
//! cli/tests/lock_users.rs.)
#![cfg(unix)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use common::rec;
use iteration_history::storage::CapStdDir;
use iteration_history::{Error, History, Options};

fn open(dir: &Path) -> iteration_history::Result<History> {
    History::open(CapStdDir::open_ambient(dir).expect("dir"), "h.jsonl", Options::default())
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).expect("stat").permissions().mode() & 0o7777
}

/// The files of `dir`, with their bytes (a symlink as its target).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let e = e.expect("entry");
            let p = e.path();
            let body = match fs::read_link(&p) {
                Ok(target) => target.into_os_string().into_encoded_bytes(),
                Err(_) => fs::read(&p).expect("read"),
            };
            (e.file_name().to_string_lossy().into_owned(), body)
        })
        .collect();
    out.sort();
    out
}

fn skip(why: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true, but this test cannot run: {why}");
    eprintln!("SKIP {why}");
}

#[test]
fn the_lock_file_is_created_readable_and_writable_by_its_owner_only() {
    let tmp = tempfile::tempdir().expect("tmp");
    let h = open(tmp.path()).expect("open");
    h.save(&rec(1)).expect("save");
    let lock = tmp.path().join("h.jsonl.lock");
    assert_eq!(mode(&lock), 0o600);
    assert_eq!(fs::metadata(&lock).expect("stat").uid(), euid());
}

#[test]
fn a_lock_file_left_readable_by_others_is_tightened_to_0600() {
    // Older versions created it 0666 & ~umask (usually 0644): anyone could
    // open it read-only and hold `flock(LOCK_EX)` on it.
    let tmp = tempfile::tempdir().expect("tmp");
    let lock = tmp.path().join("h.jsonl.lock");
    fs::write(&lock, b"").expect("old lock file");
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o666)).expect("chmod");
    open(tmp.path()).expect("open").save(&rec(1)).expect("save");
    assert_eq!(mode(&lock), 0o600);
}

#[test]
fn a_dangling_symlink_in_place_of_the_lock_file_is_not_followed() {
    // O_CREAT without O_NOFOLLOW would create the link's target.
    let tmp = tempfile::tempdir().expect("tmp");
    let outside = tempfile::tempdir().expect("outside");
    let dir = tmp.path().join("d");
    fs::create_dir(&dir).expect("dir");
    let target = outside.path().join("created-by-the-lock");
    symlink(&target, dir.join("h.jsonl.lock")).expect("plant the link");
    let before = snapshot(&dir);
    let err = open(&dir).expect_err("a symlinked lock file is refused");
    assert!(matches!(err, Error::Io { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("h.jsonl.lock is a symbolic link") && msg.contains("never followed"), "{msg}");
    assert!(!target.exists(), "nothing was created outside the directory");
    assert_eq!(fs::read_dir(outside.path()).expect("list").count(), 0);
    assert_eq!(snapshot(&dir), before, "the directory is unchanged");
}

#[test]
fn a_symlink_to_a_file_inside_or_outside_is_not_followed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let outside = tempfile::tempdir().expect("outside");
    let victim = outside.path().join("victim");
    fs::write(&victim, b"keep").expect("victim");
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(tmp.path().join("other"), b"inside").expect("inside file");
    for target in [victim.clone(), tmp.path().join("other")] {
        let lock = tmp.path().join("h.jsonl.lock");
        let _ = fs::remove_file(&lock);
        symlink(&target, &lock).expect("plant the link");
        let before = fs::metadata(&target).expect("stat");
        let err = open(tmp.path()).expect_err("refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let after = fs::metadata(&target).expect("stat");
        assert_eq!(after.mode(), before.mode(), "the target's mode is not touched");
        assert_eq!(after.len(), before.len());
    }
    assert_eq!(fs::read(&victim).expect("read"), b"keep");
}

#[test]
fn a_lock_file_owned_by_another_user_is_refused_naming_the_file_and_owner() {
    if euid() != 0 {
        skip("a_lock_file_owned_by_another_user_is_refused_naming_the_file_and_owner: needs root to chown");
        return;
    }
    const OTHER: u32 = 65534; // nobody; no passwd entry is needed
    let tmp = tempfile::tempdir().expect("tmp");
    open(tmp.path()).expect("open").save(&rec(1)).expect("save");
    let lock = tmp.path().join("h.jsonl.lock");
    fs::remove_file(&lock).expect("remove our lock file");
    fs::write(&lock, b"").expect("planted lock file");
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).expect("chmod");
    std::os::unix::fs::chown(&lock, Some(OTHER), Some(OTHER)).expect("chown");
    let before = snapshot(tmp.path());
    let err = open(tmp.path()).expect_err("another user's lock file");
    match &err {
        Error::LockFileNotOwned { file, owner, user } => {
            assert_eq!(Path::new(file), lock.as_path());
            assert_eq!((*owner, *user), (OTHER, 0));
        }
        other => panic!("expected LockFileNotOwned, got {other:?}"),
    }
    assert_eq!(err.code(), "lock-not-owned");
    let msg = err.to_string();
    assert!(msg.contains(&lock.display().to_string()) && msg.contains("owned by uid 65534"), "{msg}");
    // Refused before anything is written: the history and the lock file
    // are left as they were (not tightened, not taken over).
    assert_eq!(snapshot(tmp.path()), before);
    assert_eq!(mode(&lock), 0o644);
    assert_eq!(fs::metadata(&lock).expect("stat").uid(), OTHER);
    // Readers take no lock and still work.
    let reader = History::open_read_only(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl").expect("reader");
    assert_eq!(reader.count().expect("count"), 1);
}

/// This process's effective user: the owner of the files it creates.
fn euid() -> u32 {
    let probe = tempfile::tempfile().expect("probe");
    probe.metadata().expect("stat").uid()
}
