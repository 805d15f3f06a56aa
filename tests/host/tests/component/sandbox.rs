//! The sandbox: the component reaches nothing but the one directory the
//! host preopened, names that could leave it are refused before any call,
//! and links out of it are not followed.

use std::fs;
use std::path::Path;

use iteration_history_host_tests::Host;
use iteration_history_host_tests::records::sample;
use iteration_history_host_tests::wit::Error as E;
use wasmtime_wasi::FsPerms;

const ESCAPES: [&str; 10] = [
    "../escape.jsonl",
    "/etc/passwd",
    "/tmp/x.jsonl",
    "a/b.jsonl",
    "..",
    ".",
    "",
    "C:\\x.jsonl",
    "sub\\h.jsonl",
    "a\0b",
];

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).expect("ls").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn names_that_could_leave_the_preopen_are_refused_and_nothing_is_touched() {
    // parent/ holds the preopened dir `box/` and a sibling file that must stay unreached.
    let parent = tempfile::tempdir().expect("tmp");
    let boxed = parent.path().join("box");
    fs::create_dir(&boxed).expect("mkdir");
    fs::write(parent.path().join("escape.jsonl"), b"outside\n").expect("write");
    let before = listing(parent.path());

    let mut s = Host::shared().instantiate(Some(&boxed)).expect("instantiate");
    let h = s.open("h.jsonl").expect("a plain name works");
    for bad in ESCAPES {
        for result in [s.open(bad).map(|_| ()), s.open_read_only(bad).map(|_| ()), s.export(h, bad).map(|_| ())] {
            match result {
                Err(E::InvalidName(m)) => assert!(m.contains("invalid file name"), "{bad:?}: {m}"),
                other => panic!("{bad:?}: expected invalid-name, got {other:?}"),
            }
        }
        let opts = s.default_options();
        assert!(matches!(s.open_with(bad, &opts), Err(E::InvalidName(_))), "{bad:?}");
    }
    assert_eq!(listing(parent.path()), before, "nothing appeared or changed outside the preopen");
    assert_eq!(fs::read(parent.path().join("escape.jsonl")).expect("read"), b"outside\n");
    assert_eq!(listing(&boxed), vec!["h.jsonl", "h.jsonl.lease"]);
}

#[test]
fn names_are_refused_before_any_filesystem_call_even_with_no_preopen() {
    let mut s = Host::shared().instantiate(None).expect("instantiate with no preopen");
    for bad in ESCAPES {
        assert!(matches!(s.open(bad), Err(E::InvalidName(_))), "{bad:?} is refused by name, not by the filesystem");
    }
    match s.open("h.jsonl") {
        Err(E::Io(m)) => assert!(m.contains("preopened no directory") && m.contains("--dir"), "{m}"),
        other => panic!("expected io (no preopen), got {other:?}"),
    }
}

#[test]
fn a_symlink_inside_the_preopen_does_not_lead_outside() {
    let outside = tempfile::tempdir().expect("outside");
    let secret = outside.path().join("secret.jsonl");
    fs::write(&secret, b"secret\n").expect("write");
    let tmp = tempfile::tempdir().expect("tmp");
    std::os::unix::fs::symlink(&secret, tmp.path().join("link.jsonl")).expect("symlink");
    std::os::unix::fs::symlink(outside.path(), tmp.path().join("linkdir")).expect("symlink dir");

    let mut s = Host::shared().instantiate(Some(tmp.path())).expect("instantiate");
    let opened = s.open("link.jsonl");
    assert!(opened.is_err(), "a writer does not follow the link: {opened:?}");
    if let Ok(r) = s.open_read_only("link.jsonl") {
        assert!(s.count(r).is_err() && s.get_all(r, 0, 10).is_err(), "a reader does not follow the link");
    }
    assert!(s.open("linkdir").is_err(), "a link to a directory is not a history");
    // Exporting over the link replaces the link itself (rename), never the target.
    let h = s.open("h.jsonl").expect("open");
    s.save(h, &sample(0)).expect("save");
    s.export(h, "link.jsonl").expect("export over a link name");
    assert!(!fs::symlink_metadata(tmp.path().join("link.jsonl")).expect("meta").file_type().is_symlink());
    assert_eq!(fs::read(&secret).expect("read"), b"secret\n", "the target outside is untouched");
    assert_eq!(listing(outside.path()), vec!["secret.jsonl"]);
}

#[test]
fn only_the_preopen_at_dot_is_used_and_an_ambiguous_host_is_explained() {
    let a = tempfile::tempdir().expect("a");
    let b = tempfile::tempdir().expect("b");
    let mut s = Host::shared()
        .instantiate_with(&[(a.path(), "other", FsPerms::ReadWrite), (b.path(), ".", FsPerms::ReadWrite)])
        .expect("instantiate");
    let h = s.open("h.jsonl").expect("open");
    s.save(h, &sample(0)).expect("save");
    assert!(b.path().join("h.jsonl").exists() && listing(a.path()).is_empty(), "written to the `.` preopen only");

    let mut s = Host::shared()
        .instantiate_with(&[(a.path(), "x", FsPerms::ReadWrite), (b.path(), "y", FsPerms::ReadWrite)])
        .expect("instantiate");
    match s.open("h.jsonl") {
        Err(E::Io(m)) => assert!(m.contains("several directories") && m.contains("\"x\""), "{m}"),
        other => panic!("expected io, got {other:?}"),
    }
    assert!(listing(a.path()).is_empty());
}
