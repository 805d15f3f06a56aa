//! What the host refuses reaches the caller as a clear error, and nothing
//! stored is lost: a read-only preopen, a full disk, and a host that cannot
//! sync directories (reported, not hidden).

use std::fs;
use std::process::Command;

use iteration_history::storage::CapStdDir;
use iteration_history::{History, Options};
use iteration_history_host_tests::records::{sample, to_core};
use iteration_history_host_tests::wit::Error as E;
use iteration_history_host_tests::{Host, HostState};
use wasmtime::StoreContextMut;
use wasmtime::component::Resource;
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::sync::filesystem::types::{self as fs_types, ErrorCode, HostDescriptor};

/// A test that cannot run on this machine says why; under `CI=true` that is
/// a failure (CI must run every test).
fn skip(why: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true, but this test cannot run: {why}");
    eprintln!("SKIP {why}");
}

#[test]
fn a_read_only_preopen_gives_permission_denied_and_reads_still_work() {
    let tmp = tempfile::tempdir().expect("tmp");
    {
        let h = History::open(CapStdDir::open_ambient(tmp.path()).expect("dir"), "h.jsonl", Options::default())
            .expect("native open");
        h.save_batch(&[to_core(&sample(0)), to_core(&sample(1))]).expect("save");
    }
    let before = fs::read(tmp.path().join("h.jsonl")).expect("read");
    let mut s = Host::shared().instantiate_with(&[(tmp.path(), ".", FsPerms::ReadOnly)]).expect("instantiate");
    for name in ["h.jsonl", "new.jsonl"] {
        match s.open(name) {
            Err(E::PermissionDenied(m)) => {
                assert!(m.contains(name) && m.contains("permission denied") && m.contains("read-only"), "{m}")
            }
            other => panic!("{name}: expected permission-denied, got {other:?}"),
        }
    }
    let r = s.open_read_only("h.jsonl").expect("a reader needs no write access");
    assert_eq!(s.count(r), Ok(2));
    assert_eq!(s.load_recent(r, 1).expect("recent")[0].iteration_num, 1);
    assert!(matches!(s.verify(r).expect("verify").health, iteration_history_host_tests::wit::Health::Healthy));
    assert_eq!(fs::read(tmp.path().join("h.jsonl")).expect("read"), before);
    assert!(!tmp.path().join("new.jsonl").exists());
}

/// Mounts a small tmpfs at `dir` (needs root); `None` where that is not possible.
fn small_tmpfs(dir: &std::path::Path, size: &str) -> Option<impl Drop> {
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Unmount(dir.to_path_buf()))
}

#[test]
fn a_full_disk_gives_disk_full_keeps_every_saved_record_and_the_save_succeeds_later() {
    let tmp = tempfile::tempdir().expect("tmp");
    let Some(_mount) = small_tmpfs(tmp.path(), "192k") else {
        skip("a_full_disk_gives_disk_full: cannot mount a tmpfs here (not root?)");
        return;
    };
    fs::write(tmp.path().join("filler"), vec![7u8; 64 * 1024]).expect("filler");
    let mut s = Host::shared().instantiate(Some(tmp.path())).expect("instantiate");
    let h = s.open("h.jsonl").expect("open");
    let big = |n: u64| {
        let mut r = sample(n);
        r.strategy_code = format!("# {n}\n{}", "x = 1\n".repeat(2000));
        r
    };
    let mut saved = 0;
    let err = loop {
        match s.save(h, &big(saved)) {
            Ok(()) => saved += 1,
            Err(e) => break e,
        }
        assert!(saved < 1000, "the disk never filled");
    };
    match &err {
        E::DiskFull(m) => {
            assert!(m.contains("h.jsonl") && m.contains("no space") && m.contains("free some space"), "{m}")
        }
        other => panic!("expected disk-full, got {other:?}"),
    }
    assert!(saved > 0);
    assert_eq!(s.count(h), Ok(saved));
    let v = s.verify(h).expect("verify");
    assert!(matches!(v.health, iteration_history_host_tests::wit::Health::Healthy) && v.records == saved, "{v:?}");
    assert_eq!(v.bytes, fs::metadata(tmp.path().join("h.jsonl")).expect("len").len(), "the failed append was cut off");

    fs::remove_file(tmp.path().join("filler")).expect("free space");
    s.save(h, &big(saved)).expect("the same save succeeds once there is room");
    assert_eq!(s.count(h), Ok(saved + 1));
    assert_eq!(s.last_iteration_num(h), Ok(Some(saved)));
}

/// A host like jco's, which refuses `sync` on directories.
fn host_without_dir_sync() -> Host {
    Host::built(|linker| {
        linker.allow_shadowing(true);
        let mut types = linker.instance("wasi:filesystem/types@0.2.12")?;
        types.func_wrap(
            "[method]descriptor.sync",
            |mut cx: StoreContextMut<'_, HostState>, (fd,): (Resource<Descriptor>,)| {
                let state = cx.data_mut();
                if matches!(state.table().get(&fd)?, Descriptor::Dir(_)) {
                    return Ok((Err(ErrorCode::Invalid),));
                }
                let mut view = state.filesystem();
                let result = match HostDescriptor::sync(&mut view, fd) {
                    Ok(()) => Ok(()),
                    Err(e) => Err(fs_types::Host::convert_error_code(&mut view, e)?),
                };
                Ok((result,))
            },
        )?;
        Ok(())
    })
}

#[test]
fn a_host_that_cannot_sync_directories_is_reported_not_hidden() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut s = host_without_dir_sync().instantiate(Some(tmp.path())).expect("instantiate");
    let h = s.open("h.jsonl").expect("open works without directory sync");
    let report = s.open_report(h);
    assert!(!report.dir_sync && report.created, "{report:?}");
    for n in 0..3 {
        s.save(h, &sample(n)).expect("save");
    }
    s.clear(h).expect("clear (a rename) still works");
    s.save(h, &sample(3)).expect("save");
    let v = s.verify(h).expect("verify");
    assert!(!v.dir_sync, "{v:?}");
    assert_eq!(v.records, 1);

    // The same component on a host that can: reported as such.
    let mut s = Host::shared().instantiate(Some(tmp.path())).expect("instantiate");
    let r = s.open_read_only("h.jsonl").expect("reader");
    assert!(s.open_report(r).dir_sync && s.verify(r).expect("verify").dir_sync);
}
