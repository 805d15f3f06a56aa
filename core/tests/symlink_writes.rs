//! A writer never writes through a symlink that leaves the directory: the
//! history, its lock, checkpoint (`.idx`), in-flight commit record
//! (`.commit`) or a temp name planted as a link to a file outside (existing
//! or not yet existing) is refused, or replaced/removed as a name, and
//! nothing outside the directory changes (every file there compared byte for
//! byte, with its mode, before and after).
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use common::rec;
use iteration_history::storage::{CapStdDir, Dir, FileName};
use iteration_history::{CommitStrategy, History, Options};

const NAME: &str = "h.jsonl";

/// Every entry under `root`: path -> (mode, contents or link target).
fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let m = std::fs::symlink_metadata(&p).expect("metadata");
            let rel = p.strip_prefix(root).expect("under root").to_path_buf();
            if m.is_dir() {
                todo.push(p.clone());
                out.insert(rel, (m.permissions().mode(), Vec::new()));
            } else if m.file_type().is_symlink() {
                let t = std::fs::read_link(&p).expect("link");
                out.insert(rel, (m.permissions().mode(), t.into_os_string().into_encoded_bytes()));
            } else {
                out.insert(rel, (m.permissions().mode(), std::fs::read(&p).expect("read")));
            }
        }
    }
    out
}

/// What a writer does with every one of its files: open (lock, stale temp
/// removal), save, a batch (in-flight commit record), close (checkpoint),
/// reopen (reads the checkpoint), compact and clear (temp + rename).
/// Returns the first error, if any, as text.
fn workload(dir: &Path, strategy: CommitStrategy) -> Result<(), String> {
    let o = Options::default().strategy(strategy);
    let open = || {
        let d = CapStdDir::open_ambient(dir).map_err(|e| e.to_string())?;
        History::open(d, NAME, o.clone()).map_err(|e| e.to_string())
    };
    let h = open()?;
    h.save(&rec(1)).map_err(|e| e.to_string())?;
    h.save_batch(&[rec(2), rec(3), rec(4)]).map_err(|e| e.to_string())?;
    drop(h);
    let h = open()?;
    h.save(&rec(5)).map_err(|e| e.to_string())?;
    h.compact().map_err(|e| e.to_string())?;
    h.clear().map_err(|e| e.to_string())?;
    h.save(&rec(6)).map_err(|e| e.to_string())?;
    Ok(())
}

struct Case {
    /// The name planted as a link.
    link: String,
    /// Whether the link's target exists outside.
    target_exists: bool,
}

fn run(case: &Case, strategy: CommitStrategy) -> Result<(), String> {
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("victim"), b"outside, must not change\n").expect("write");
    std::fs::create_dir(outside.path().join("sub")).expect("mkdir");
    std::fs::write(outside.path().join("sub/other"), b"also outside\n").expect("write");
    let target =
        if case.target_exists { outside.path().join("victim") } else { outside.path().join("created-through-a-link") };
    let before = tree(outside.path());
    let inside = tempfile::tempdir().expect("inside");
    symlink(&target, inside.path().join(&case.link)).expect("symlink");
    let result = workload(inside.path(), strategy);
    let after = tree(outside.path());
    let label = format!("{} -> {} ({strategy:?})", case.link, target.display());
    assert_eq!(before, after, "{label}: the directory outside changed (result: {result:?})");
    result
}

#[test]
fn a_history_lock_checkpoint_or_commit_record_linked_outside_is_never_written_through() {
    let mut refused = Vec::new();
    for link in [NAME.to_string(), format!("{NAME}.lock"), format!("{NAME}.idx"), format!("{NAME}.commit")] {
        for target_exists in [true, false] {
            for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
                let case = Case { link: link.clone(), target_exists };
                let r = run(&case, strategy);
                // The history, its lock and (when a batch is appended) the
                // in-flight commit record must be refused outright; the
                // checkpoint's errors are ignored by design (a closing
                // writer), so there only the outside is checked.
                match (&r, link.as_str()) {
                    (Ok(()), NAME) => panic!("{link} ({strategy:?}): a history linked outside was written"),
                    (Ok(()), l) if l.ends_with(".lock") => {
                        panic!("{link} ({strategy:?}): a lock file linked outside was used")
                    }
                    // Append writes the in-flight record of the batch.
                    (Ok(()), l) if l.ends_with(".commit") && strategy == CommitStrategy::Append => {
                        panic!("{link} ({strategy:?}): an in-flight commit record linked outside was written")
                    }
                    _ => {}
                }
                if let Err(e) = &r {
                    assert!(!e.is_empty());
                    refused.push(format!("{link} ({strategy:?}, target exists: {target_exists}): {e}"));
                }
            }
        }
    }
    println!("{} refusals:\n{}", refused.len(), refused.join("\n"));
}

#[test]
fn a_temp_name_linked_outside_is_refused_and_a_stale_one_removed_as_a_name() {
    for target_exists in [true, false] {
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("victim"), b"outside\n").expect("write");
        let target = if target_exists { outside.path().join("victim") } else { outside.path().join("new") };
        let before = tree(outside.path());
        let inside = tempfile::tempdir().expect("inside");
        // A name of our temp-file pattern: the next open removes it as
        // stale; a create of that name is refused (O_EXCL).
        let tmp = format!(".{NAME}.0123456789abcdef.tmp");
        symlink(&target, inside.path().join(&tmp)).expect("symlink");
        let d = CapStdDir::open_ambient(inside.path()).expect("dir");
        let err = d.create_new(&FileName::new(&tmp).expect("name")).map(|_| ()).expect_err("create through a link");
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{err}");
        let h = History::open(d, NAME, Options::default().strategy(CommitStrategy::Rewrite)).expect("open");
        h.save(&rec(1)).expect("save");
        drop(h);
        assert!(!inside.path().join(&tmp).exists() && std::fs::symlink_metadata(inside.path().join(&tmp)).is_err());
        assert_eq!(tree(outside.path()), before, "target exists: {target_exists}: outside changed");
    }
}
