//! Histories cut or filtered line by line with the real `head`, `tail`,
//! `sed -n`, `grep` and `split` read as exactly the records they hold: `count`,
//! `verify` and the next save agree, and no record is moved to a torn-tail
//! sidecar. Histories written by single saves, `save_batch`, `import`
//! (large: committed by rename; small: one tagged commit) and `copy`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use iteration_history::storage::CapStdDir;
use iteration_history::{History, IterationRecord, Options};

fn run_tool(dir: &Path, cmd: &str, args: &[&str], out: &str) {
    let o = Command::new(cmd).args(args).current_dir(dir).output().expect("run the tool");
    // grep exits 1 when nothing matches; the tests always match something.
    assert!(o.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    if !out.is_empty() {
        std::fs::write(dir.join(out), &o.stdout).expect("write the tool's output");
    }
}

/// Records in a JSONL file by a plain line count (every line is a record).
fn lines_in(path: &Path) -> u64 {
    read(path).iter().filter(|&&b| b == b'\n').count() as u64
}

fn iteration_nums(path: &Path) -> Vec<u64> {
    String::from_utf8(read(path))
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["iteration_num"].as_u64().expect("num"))
        .collect()
}

/// `count`, `verify` and the next save on a cut file.
fn check_cut_file(dir: &Path, name: &str, what: &str) {
    let path = dir.join(name);
    let n = lines_in(&path);
    assert!(n > 0, "{what}: {name} is empty");
    let expected = iteration_nums(&path);
    assert_eq!(ok(ihist(dir, &["count", name])).trim(), n.to_string(), "{what}: count of {name}");
    let v = json(&ok(ihist(dir, &["--json", "verify", name])));
    assert_eq!((v["health"].as_str(), v["records"].as_u64()), (Some("healthy"), Some(n)), "{what}: verify {name}: {v}");
    // A read-only handle reads every record, in order.
    let h = History::open_read_only(CapStdDir::open_ambient(dir).expect("dir"), name).expect("reader");
    let got: Vec<u64> = h.get_all().expect("get_all").iter().map(|r| r.iteration_num).collect();
    assert_eq!(got, expected, "{what}: records of {name}");
    drop(h);
    // The next save keeps every record and moves nothing aside.
    // (--lock-timeout: a process another test thread forks just now shares
    // the just-released lock's open file until it execs; see the lock docs.)
    let o = ihist(dir, &["--lock-timeout", "10", "save", name, &record(900_000)]);
    let note = stderr(&o);
    assert!(o.status.success(), "{what}: save into {name}: {note}");
    assert!(!note.contains("torn"), "{what}: save into {name} claimed a torn tail: {note}");
    let sidecars: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.starts_with(&format!("{name}.torn")))
        .collect();
    assert!(sidecars.is_empty(), "{what}: {sidecars:?}");
    assert_eq!(ok(ihist(dir, &["count", name])).trim(), (n + 1).to_string(), "{what}: count after a save");
    let v = json(&ok(ihist(dir, &["--json", "verify", name])));
    assert_eq!(v["health"].as_str(), Some("healthy"), "{what}: verify after a save: {v}");
}

/// Cuts `h` (a history in `dir`) with head, tail, sed -n, grep and split, and checks
/// every piece.
fn cut_every_way(dir: &Path, h: &str, what: &str) {
    let total = lines_in(&dir.join(h));
    for k in [1, 7, 100, total / 2 + 3] {
        let head = format!("head{k}.{h}");
        run_tool(dir, "head", &["-n", &k.to_string(), h], &head);
        check_cut_file(dir, &head, &format!("{what}, head -n {k}"));
        let tail = format!("tail{k}.{h}");
        run_tool(dir, "tail", &["-n", &k.to_string(), h], &tail);
        check_cut_file(dir, &tail, &format!("{what}, tail -n {k}"));
    }
    // A range of lines from the middle (cuts through batches at both ends).
    let sed = format!("sed.{h}");
    let (from, to) = (total / 3, total / 3 + 9);
    run_tool(dir, "sed", &["-n", &format!("{from},{to}p"), h], &sed);
    check_cut_file(dir, &sed, &format!("{what}, sed -n {from},{to}p"));
    let grep = format!("grep.{h}");
    run_tool(dir, "grep", &["LEVEL_3", h], &grep);
    check_cut_file(dir, &grep, &format!("{what}, grep LEVEL_3"));
    let prefix = format!("split.{h}.");
    run_tool(dir, "split", &["-n", "l/5", h, &prefix], "");
    let mut parts: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.starts_with(&prefix) && !f.contains(".torn") && !f.ends_with(".lock") && !f.ends_with(".idx"))
        .collect();
    parts.sort();
    assert!(parts.len() >= 3, "{what}: split gave {parts:?}");
    for p in &parts {
        check_cut_file(dir, p, &format!("{what}, split -n l/5 ({p})"));
    }
}

fn rec(n: u64) -> IterationRecord {
    let (r, _) = iteration_history::codec::decode_line(record(n).as_bytes()).expect("record");
    r
}

#[test]
fn histories_of_single_saves_cut_by_line_tools_read_whole() {
    let tmp = tempdir();
    let d = tmp.path();
    let h = History::open(CapStdDir::open_ambient(d).expect("dir"), "s.jsonl", Options::default()).expect("open");
    for n in 0..300 {
        h.save(&rec(n)).expect("save");
    }
    drop(h);
    cut_every_way(d, "s.jsonl", "single saves");
}

#[test]
fn histories_of_batches_cut_by_line_tools_read_whole() {
    let tmp = tempdir();
    let d = tmp.path();
    let h = History::open(CapStdDir::open_ambient(d).expect("dir"), "b.jsonl", Options::default()).expect("open");
    for start in (0..300).step_by(6) {
        h.save_batch(&(start..start + 6).map(rec).collect::<Vec<_>>()).expect("batch");
    }
    drop(h);
    cut_every_way(d, "b.jsonl", "save_batch of 6");
    // `ihist copy` of it (byte for byte), cut the same ways.
    ok(ihist(d, &["copy", "b.jsonl", "c.jsonl"]));
    assert_eq!(read(&d.join("b.jsonl")), read(&d.join("c.jsonl")));
    cut_every_way(d, "c.jsonl", "copy of a history of batches");
}

#[test]
fn imported_histories_cut_by_line_tools_read_whole() {
    let tmp = tempdir();
    let d = tmp.path();
    // Large: over `rename_batches_over` (1000), committed by rename, untagged.
    std::fs::write(d.join("big.in.jsonl"), jsonl(0..2500)).expect("input");
    ok(ihist(d, &["import", "i.jsonl", "big.in.jsonl"]));
    let bytes = String::from_utf8(read(&d.join("i.jsonl"))).expect("utf8");
    assert!(bytes.lines().all(|l| !l.contains("/2500+")), "a large import carries no commit tags");
    cut_every_way(d, "i.jsonl", "import of 2500 records");
    // Small: streamed as canonical, untagged lines too (the import is atomic
    // by its rename, not by tags); head cuts anywhere in it.
    std::fs::write(d.join("small.in.jsonl"), jsonl(0..300)).expect("input");
    ok(ihist(d, &["import", "t.jsonl", "small.in.jsonl"]));
    let small = String::from_utf8(read(&d.join("t.jsonl"))).expect("utf8");
    assert!(small.lines().all(|l| !l.contains("/300+")), "an import carries no commit tags");
    cut_every_way(d, "t.jsonl", "import of 300 records");
    // `ihist copy` of the large import.
    ok(ihist(d, &["copy", "i.jsonl", "ic.jsonl"]));
    cut_every_way(d, "ic.jsonl", "copy of an import");
}
