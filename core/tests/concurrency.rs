//! Threads saving at once, the writer lock within and across processes,
//! readers during writes.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{backends, rec};
use iteration_history::storage::{CapStdDir, MemDir};
use iteration_history::{CommitStrategy, Error, History, LockKind, Options};

#[test]
fn threads_save_concurrently_without_a_user_lock() {
    for (label, dir, _tmp) in backends() {
        for strategy in [CommitStrategy::Append, CommitStrategy::Rewrite] {
            let name = format!("t-{strategy:?}.jsonl");
            let h = Arc::new(
                History::open_shared(dir.clone(), &name, Options::default().strategy(strategy)).expect("open"),
            );
            let threads = 8u64;
            let per = if strategy == CommitStrategy::Rewrite { 15 } else { 60 };
            std::thread::scope(|s| {
                for t in 0..threads {
                    let h = h.clone();
                    s.spawn(move || {
                        for i in 0..per {
                            let n = t * 1000 + i;
                            if i % 10 == 9 {
                                h.save_batch(&[rec(n), rec(n + 500)]).expect("batch");
                            } else {
                                h.save(&rec(n)).expect("save");
                            }
                        }
                    });
                }
            });
            let all = h.get_all().expect("all");
            let expected = threads * (per + per / 10);
            assert_eq!(all.len() as u64, expected, "{label} {strategy:?}");
            assert_eq!(h.count().expect("count"), expected);
            let unique: HashSet<u64> = all.iter().map(|r| r.iteration_num).collect();
            assert_eq!(unique.len() as u64, expected, "no record lost or duplicated");
            for r in &all {
                assert_eq!(*r, rec(r.iteration_num), "no interleaved or altered line");
            }
            // A batch's records are adjacent.
            for w in all.windows(2) {
                if w[0].iteration_num % 1000 % 10 == 9 && w[0].iteration_num % 1000 < 500 {
                    assert_eq!(w[1].iteration_num, w[0].iteration_num + 500);
                }
            }
            drop(h);
            let h = History::open_shared(
                dir.clone(),
                &name,
                Options::default().lock_timeout(Some(Duration::from_secs(10))),
            )
            .expect("reopen"); // a child another test forks may hold the released lock until its exec
            assert_eq!(h.verify().expect("verify").records, expected);
        }
    }
}

#[test]
fn a_second_writer_in_the_same_process_is_refused_or_waits() {
    for (_, dir, _tmp) in backends() {
        let first = History::open_shared(dir.clone(), "l.jsonl", Options::default()).expect("first");
        assert_eq!(first.lock_kind(), Some(LockKind::Os));
        let err = History::open_shared(dir.clone(), "l.jsonl", Options::default()).expect_err("locked");
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(err.to_string().contains("l.jsonl") && err.to_string().contains("read-only"), "{err}");
        // A reader is never blocked.
        assert_eq!(History::open_read_only_shared(dir.clone(), "l.jsonl").expect("reader").count().expect("count"), 0);
        // With a timeout, the second writer gets in once the first closes.
        let dir2 = dir.clone();
        let waiter = std::thread::spawn(move || {
            let t0 = Instant::now();
            let h =
                History::open_shared(dir2, "l.jsonl", Options::default().lock_timeout(Some(Duration::from_secs(10))))
                    .expect("waited for the lock");
            (t0.elapsed(), h.count().expect("count"))
        });
        std::thread::sleep(Duration::from_millis(200));
        first.save(&rec(1)).expect("save");
        drop(first);
        let (waited, count) = waiter.join().expect("thread");
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert_eq!(count, 1);
        // A timeout that expires gives Locked.
        let holder = History::open_shared(dir.clone(), "l.jsonl", Options::default()).expect("holder");
        let err = History::open_shared(
            dir.clone(),
            "l.jsonl",
            Options::default().lock_timeout(Some(Duration::from_millis(100))),
        )
        .expect_err("still locked");
        assert!(matches!(err, Error::Locked { .. }));
        drop(holder);
    }
}

/// Child-process entry: hold the writer lock for a while, or save records.
#[test]
fn child_process_role() {
    let Ok(role) = std::env::var("IH_CHILD_ROLE") else { return };
    let path = std::env::var("IH_CHILD_DIR").expect("dir");
    let dir = CapStdDir::open_ambient(&path).expect("dir");
    match role.as_str() {
        "hold" => {
            let h = History::open(dir, "p.jsonl", Options::default()).expect("child open");
            h.save(&rec(100)).expect("child save");
            println!("LOCKED");
            std::thread::sleep(Duration::from_millis(1500));
        }
        "save" => {
            let base: u64 = std::env::var("IH_CHILD_BASE").expect("base").parse().expect("num");
            let h = History::open(dir, "p.jsonl", Options::default().lock_timeout(Some(Duration::from_secs(60))))
                .expect("open");
            for i in 0..50 {
                h.save(&rec(base + i)).expect("save");
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn child(role: &str, dir: &std::path::Path, base: u64) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("exe"));
    c.args(["--exact", "child_process_role", "--nocapture", "--test-threads=1"])
        .env("IH_CHILD_ROLE", role)
        .env("IH_CHILD_DIR", dir)
        .env("IH_CHILD_BASE", base.to_string());
    c
}

#[test]
fn a_writer_in_another_process_locks_the_history() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut holder = child("hold", tmp.path(), 0).stdout(std::process::Stdio::piped()).spawn().expect("spawn");
    // Wait until the child holds the lock.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = History::open_read_only(CapStdDir::open_ambient(tmp.path()).expect("dir"), "p.jsonl").expect("reader");
        if r.count().unwrap_or(0) == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "child never saved");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = CapStdDir::open_ambient(tmp.path()).expect("dir");
    let err = History::open(dir, "p.jsonl", Options::default()).expect_err("held by the child");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    // Waiting works across processes too.
    let dir = CapStdDir::open_ambient(tmp.path()).expect("dir");
    let h =
        History::open(dir, "p.jsonl", Options::default().lock_timeout(Some(Duration::from_secs(30)))).expect("waited");
    assert_eq!(h.last_iteration_num().expect("last"), Some(100));
    assert!(holder.wait().expect("child").success());
}

#[test]
fn processes_queue_on_the_lock_and_lose_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let children: Vec<_> = (0..4).map(|i| child("save", tmp.path(), i * 1000).spawn().expect("spawn")).collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let h = History::open_read_only(CapStdDir::open_ambient(tmp.path()).expect("dir"), "p.jsonl").expect("reader");
    let all = h.get_all().expect("all");
    assert_eq!(all.len(), 200);
    let unique: HashSet<u64> = all.iter().map(|r| r.iteration_num).collect();
    assert_eq!(unique.len(), 200);
}

#[test]
fn readers_never_see_a_partial_record_while_a_writer_appends() {
    let dir = MemDir::new();
    let w = Arc::new(History::open(dir.clone(), "rw.jsonl", Options::default()).expect("open"));
    let writer = {
        let w = w.clone();
        std::thread::spawn(move || {
            for n in 0..300 {
                if n % 3 == 0 {
                    w.save_batch(&[rec(n), rec(n + 10_000)]).expect("batch");
                } else {
                    w.save(&rec(n)).expect("save");
                }
            }
        })
    };
    let r = History::open_read_only(dir.clone(), "rw.jsonl").expect("reader");
    let mut reads = 0;
    while !writer.is_finished() {
        let recent = r.load_recent(3).expect("recent");
        for rr in &recent {
            assert_eq!(*rr, rec(rr.iteration_num));
        }
        let all = r.get_all().expect("all");
        // A batch is visible whole or not at all.
        for w in all.windows(2) {
            if w[0].iteration_num < 10_000 && w[0].iteration_num % 3 == 0 {
                assert_eq!(w[1].iteration_num, w[0].iteration_num + 10_000);
            }
        }
        reads += 1;
    }
    writer.join().expect("writer");
    assert!(reads > 0);
    assert_eq!(r.count().expect("count"), 400);
}
