//! A second local user against a history's writer lock, through the real
//! `ihist` binary (Unix; needs root to run children as another user with
//! `setpriv`; under `CI=true` a test that cannot run fails).
//!
//! The attack (issue 23): a lock file others can open lets any local user
//! take `flock(LOCK_EX)` on it and block every writer. Lock files are now
//! created 0600, and one that another user owns is refused with an error
//! naming the file and its owner instead of "locked".
#![cfg(unix)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{IHIST, fails, ihist, ok, record, stderr};

/// The other user: `nobody`'s id (no passwd entry is needed by `setpriv`).
const OTHER: u32 = 65534;

/// Whether this process can run children as [`OTHER`]; else skips (and
/// fails under `CI=true`).
fn can_switch_users(test: &str) -> bool {
    let root = fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    if root && setpriv {
        return true;
    }
    let why = format!("{test}: needs root and util-linux's setpriv to run a child as uid {OTHER}");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true, but this test cannot run: {why}");
    eprintln!("SKIP {why}");
    false
}

/// A command run as [`OTHER`] (uid and gid, no supplementary groups).
fn as_other(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid", &OTHER.to_string(), "--regid", &OTHER.to_string(), "--clear-groups", "--"]).arg(program);
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// A shared place both users can reach: a temp directory with `mode`, and
/// a copy of `ihist` the other user can run (the build tree may be private).
struct Shared {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    ihist: PathBuf,
}

fn shared(mode: u32) -> Shared {
    let tmp = tempfile::tempdir().expect("tmp");
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let ihist = tmp.path().join("ihist");
    fs::copy(IHIST, &ihist).expect("copy ihist");
    fs::set_permissions(&ihist, fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = tmp.path().join("runs");
    fs::create_dir(&dir).expect("dir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
    Shared { _tmp: tmp, dir, ihist }
}

fn run(c: &mut Command) -> Output {
    c.output().expect("spawn")
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn another_user_cannot_open_the_lock_file_to_hold_it() {
    if !can_switch_users("another_user_cannot_open_the_lock_file_to_hold_it") {
        return;
    }
    // A history others may read (0755), as on a shared machine.
    let s = shared(0o755);
    let h = s.dir.join("h.jsonl");
    ok(ihist(&s.dir, &["save", "h.jsonl", &record(0)]));
    let lock = s.dir.join("h.jsonl.lock");
    assert_eq!(fs::metadata(&lock).expect("lock").mode() & 0o777, 0o600);
    // The other user can read the history ...
    let out = run(as_other(&s.ihist).args(["count"]).arg(&h));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "{}", stderr(&out));
    // ... but cannot open its lock file to take `flock(LOCK_EX)` on it.
    let out = run(as_other("flock").args(["--exclusive", "--nonblock"]).arg(&lock).arg("true"));
    assert!(!out.status.success(), "the other user took the lock");
    assert!(stderr(&out).contains("Permission denied"), "{}", stderr(&out));
    // The owner still writes.
    ok(ihist(&s.dir, &["save", "h.jsonl", &record(1)]));
    assert_eq!(ok(ihist(&s.dir, &["count", "h.jsonl"])).trim(), "2");
}

#[test]
fn a_lock_file_another_user_planted_and_holds_is_reported_by_name() {
    if !can_switch_users("a_lock_file_another_user_planted_and_holds_is_reported_by_name") {
        return;
    }
    // A directory everyone may create files in (like /tmp: 1777).
    let s = shared(0o1777);
    let lock = s.dir.join("h.jsonl.lock");
    // The other user creates the lock file first and holds its lock.
    let mut holder = as_other("flock").arg("--exclusive").arg(&lock).args(["sleep", "60"]).spawn().expect("holder");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lock.exists() {
        assert!(Instant::now() < deadline, "the other user's flock did not create {}", lock.display());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fs::metadata(&lock).expect("lock").uid(), OTHER);
    let err = fails(ihist(&s.dir, &["save", "h.jsonl", &record(0)]), 1);
    // Named as the history was (relative to the working directory).
    let expected = format!("h.jsonl.lock: the writer lock file is owned by uid {OTHER}, not by this user (uid 0)");
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("remove"), "says what to do: {err}");
    assert!(!err.contains("locked by another writer"), "{err}");
    // Nothing was written: no history, only the planted file.
    assert_eq!(files(&s.dir), vec!["h.jsonl.lock"]);
    holder.kill().expect("kill the holder");
    holder.wait().expect("wait");
}

#[test]
fn another_user_writing_is_told_whose_lock_file_it_cannot_open() {
    if !can_switch_users("another_user_writing_is_told_whose_lock_file_it_cannot_open") {
        return;
    }
    let s = shared(0o1777);
    ok(ihist(&s.dir, &["save", "h.jsonl", &record(0)]));
    let before: Vec<(String, Vec<u8>)> =
        files(&s.dir).into_iter().map(|f| (f.clone(), fs::read(s.dir.join(&f)).expect("read"))).collect();
    let out = run(as_other(&s.ihist).args(["save", "h.jsonl"]).arg(record(1)).current_dir(&s.dir));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = format!("h.jsonl.lock: the writer lock file is owned by uid 0, not by this user (uid {OTHER})");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    let after: Vec<(String, Vec<u8>)> =
        files(&s.dir).into_iter().map(|f| (f.clone(), fs::read(s.dir.join(&f)).expect("read"))).collect();
    assert_eq!(after, before, "nothing changed");
}
