//! verify / repair / compact, damaged histories, and the writer lock.

mod common;

use std::time::{Duration, Instant};

use common::*;
use iteration_history::storage::CapStdDir;
use iteration_history::{History, Options};

fn history_of(d: &std::path::Path, n: u64) {
    ok(ihist_stdin(d, &["save", "h.jsonl"], jsonl(0..n).as_bytes()));
}

#[test]
fn verify_healthy_exits_zero() {
    let tmp = tempdir();
    let d = tmp.path();
    history_of(d, 5);
    let out = ok(ihist(d, &["verify", "h.jsonl"]));
    assert!(out.starts_with("h.jsonl: healthy — 5 records, last iteration 4, "), "{out}");
    let v = json(&ok(ihist(d, &["--json", "verify", "h.jsonl"])));
    assert_eq!(
        (v["health"].as_str(), v["exit_code"].as_u64(), v["records"].as_u64()),
        (Some("healthy"), Some(0), Some(5))
    );
}

#[test]
fn verify_torn_tail_exits_three_with_line_and_offset_and_the_next_writer_moves_it() {
    let tmp = tempdir();
    let d = tmp.path();
    history_of(d, 5);
    let len = read(&d.join("h.jsonl")).len();
    let torn = &record(5)[..40];
    std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("h.jsonl"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, torn.as_bytes()))
        .expect("append");
    let o = ihist(d, &["verify", "h.jsonl"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("torn-tail — 5 records"), "{out}");
    assert!(out.contains(&format!("torn tail at line 6 (byte {len}): 40 bytes")), "{out}");
    let o = ihist(d, &["--json", "verify", "h.jsonl"]);
    assert_eq!(o.status.code(), Some(3));
    let v = json(&stdout(&o));
    assert_eq!((v["torn_tail"]["line"].as_u64(), v["torn_tail"]["offset"].as_u64()), (Some(6), Some(len as u64)));
    // Readers ignore the torn tail.
    assert_eq!(ok(ihist(d, &["count", "h.jsonl"])).trim(), "5");
    // The next writer moves it to a sidecar and says so.
    let o = ihist(d, &["save", "h.jsonl", &record(5)]);
    let note = stderr(&o);
    assert!(o.status.success(), "{note}");
    assert!(note.contains("moved a torn tail (40 bytes at line 6") && note.contains("h.jsonl.torn.1"), "{note}");
    assert_eq!(read(&d.join("h.jsonl.torn.1")), torn.as_bytes());
    ok(ihist(d, &["verify", "h.jsonl"]));
}

/// Damages line `line` (1-based) of the history: a changed byte.
fn damage(d: &std::path::Path, line: usize) -> u64 {
    let bytes = read(&d.join("h.jsonl"));
    let text = String::from_utf8(bytes).expect("utf8");
    let offset: usize = text.lines().take(line - 1).map(|l| l.len() + 1).sum();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[line - 1] = lines[line - 1].replace("LEVEL_", "LEVEL-");
    std::fs::write(d.join("h.jsonl"), lines.join("\n") + "\n").expect("write");
    offset as u64
}

#[test]
fn corrupt_history_exits_four_everywhere_until_repaired() {
    let tmp = tempdir();
    let d = tmp.path();
    // Single saves: each line is its own commit.
    for n in 0..8 {
        ok(ihist(d, &["save", "h.jsonl", &record(n)]));
    }
    let offset = damage(d, 3);
    let o = ihist(d, &["verify", "h.jsonl"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("corrupt — "), "{out}");
    assert!(out.contains(&format!("line 3 (byte {offset}): checksum mismatch")), "{out}");
    assert!(out.contains("run `ihist repair h.jsonl`"), "{out}");
    let v = json(&stdout(&ihist(d, &["--json", "verify", "h.jsonl"])));
    assert_eq!(v["corrupt_lines"][0]["line"], 3);
    assert_eq!(v["corrupt_lines"][0]["offset"].as_u64(), Some(offset));
    // Writers refuse, readers that meet the bad line too: exit code 4.
    let err = fails(ihist(d, &["save", "h.jsonl", &record(8)]), 4);
    assert!(err.contains(&format!("h.jsonl: corrupt at line 3 (byte {offset})")), "{err}");
    assert!(err.contains("run `ihist repair h.jsonl`"), "{err}");
    fails(ihist(d, &["count", "h.jsonl"]), 4);
    fails(ihist(d, &["compact", "h.jsonl"]), 4);
    // Reading the last records does not reach line 3.
    ok(ihist(d, &["recent", "h.jsonl", "-n", "2"]));
    let out = ok(ihist(d, &["repair", "h.jsonl"]));
    assert!(out.contains("moved 1 bad lines") && out.contains("h.jsonl.bad.1"), "{out}");
    assert!(out.contains(&format!("line 3 (byte {offset}): checksum mismatch")), "{out}");
    assert!(out.contains("7 records kept"), "{out}");
    assert!(String::from_utf8(read(&d.join("h.jsonl.bad.1"))).is_ok_and(|s| s.contains("LEVEL-")));
    ok(ihist(d, &["verify", "h.jsonl"]));
    let out = ok(ihist(d, &["repair", "h.jsonl"]));
    assert!(out.contains("healthy, nothing to repair (7 records)"), "{out}");
    let v = json(&ok(ihist(d, &["--json", "repair", "h.jsonl"])));
    assert_eq!(v["moved"].as_array().map(Vec::len), Some(0));
    ok(ihist(d, &["save", "h.jsonl", &record(8)]));
}

#[test]
fn compact_adds_checksums_to_lines_written_by_other_tools() {
    let tmp = tempdir();
    let d = tmp.path();
    std::fs::write(d.join("h.jsonl"), jsonl(0..6) + "\n\n").expect("write");
    let out = ok(ihist(d, &["verify", "h.jsonl"]));
    assert!(out.contains("6 records have no checksum"), "{out}");
    let out = ok(ihist(d, &["compact", "h.jsonl"]));
    assert!(out.contains("h.jsonl: compacted 6 records"), "{out}");
    let out = ok(ihist(d, &["verify", "h.jsonl"]));
    assert!(!out.contains("no checksum"), "{out}");
    let text = String::from_utf8(read(&d.join("h.jsonl"))).expect("utf8");
    assert_eq!(text.lines().count(), 6);
    assert!(text.lines().all(|l| l.contains("\"_ih\":\"")));
    let v = json(&ok(ihist(d, &["--json", "compact", "h.jsonl"])));
    assert_eq!(v["records"], 6);
    assert_eq!(v["bytes_before"], v["bytes_after"]);
}

fn hold_writer(d: &std::path::Path) -> History {
    let dir = CapStdDir::open_ambient(d).expect("dir");
    History::open(dir, "h.jsonl", Options::default()).expect("writer")
}

#[test]
fn a_locked_history_refuses_writers_with_exit_five_but_serves_readers() {
    let tmp = tempdir();
    let d = tmp.path();
    history_of(d, 4);
    let writer = hold_writer(d);
    for cmd in [
        &["save", "h.jsonl", &record(4)][..],
        &["repair", "h.jsonl"],
        &["compact", "h.jsonl"],
        &["demo", "h.jsonl", "-n", "1"],
    ] {
        let err = fails(ihist(d, cmd), 5);
        assert!(err.contains("h.jsonl: locked by another writer"), "{cmd:?}: {err}");
        assert!(err.contains("--lock-timeout"), "{err}");
    }
    std::fs::write(d.join("in.jsonl"), record(4)).expect("write");
    fails(ihist(d, &["import", "h.jsonl", "in.jsonl"]), 5);
    // Read commands take no lock.
    writer.save_json(record(4).as_bytes()).expect("the writer goes on");
    assert_eq!(ok(ihist(d, &["count", "h.jsonl"])).trim(), "5");
    assert_eq!(ok(ihist(d, &["last", "h.jsonl"])).trim(), "4");
    ok(ihist(d, &["recent", "h.jsonl"]));
    ok(ihist(d, &["verify", "h.jsonl"]));
    ok(ihist(d, &["export", "h.jsonl", "-o", "copy.jsonl"]));
    ok(ihist(d, &["stats", "h.jsonl"]));
    drop(writer);
    // A process another test thread forks at this moment shares the lock's
    // open file until it execs (see the core's lock docs): wait for that.
    ok(ihist(d, &["--lock-timeout", "10", "save", "h.jsonl", &record(5)]));
}

#[test]
fn lock_timeout_waits_for_the_writer() {
    let tmp = tempdir();
    let d = tmp.path().to_path_buf();
    history_of(&d, 1);
    let writer = hold_writer(&d);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        drop(writer);
    });
    let t0 = Instant::now();
    ok(ihist(&d, &["--lock-timeout", "20", "save", "h.jsonl", &record(1)]));
    assert!(t0.elapsed() >= Duration::from_millis(300), "it waited");
    release.join().expect("join");
    let err = fails(ihist(&d, &["--lock-timeout=-1", "save", "h.jsonl", &record(2)]), 1);
    assert!(err.contains("--lock-timeout -1: must be a number of seconds"), "{err}");
}
