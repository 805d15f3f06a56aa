//! Every subcommand, driven through the real binary on real files.

mod common;

use common::*;

#[test]
fn save_one_record_from_an_argument_then_read_it_back() {
    let tmp = tempdir();
    let d = tmp.path();
    let out = ok(ihist(d, &["save", "runs/h.jsonl", &record(0)]));
    assert!(out.contains("saved iteration 0 to runs/h.jsonl durably; 1 records in all"), "{out}");
    ok(ihist(d, &["save", "runs/h.jsonl", &record(1)]));
    assert_eq!(ok(ihist(d, &["count", "runs/h.jsonl"])).trim(), "2");
    assert_eq!(ok(ihist(d, &["last", "runs/h.jsonl"])).trim(), "1");
    let lines = String::from_utf8(read(&d.join("runs/h.jsonl"))).expect("utf8");
    assert_eq!(lines.lines().count(), 2);
    assert!(lines.lines().all(|l| l.contains("\"_ih\":\"")), "checksummed lines: {lines}");
}

#[test]
fn save_next_lets_the_history_number_the_records() {
    let tmp = tempdir();
    let d = tmp.path();
    let out = ok(ihist(d, &["save", "--next", "h.jsonl", &record(7)]));
    assert!(out.contains("saved iteration 0 to h.jsonl"), "an empty history starts at 0: {out}");
    let out = ok(ihist_stdin(d, &["save", "--next", "h.jsonl", "-"], jsonl(0..3).as_bytes()));
    assert!(out.contains("3 records (iterations 1..3)"), "{out}");
    let v = json(&ok(ihist(d, &["--json", "save", "--next", "h.jsonl", &record(0)])));
    assert_eq!((v["first_iteration_num"].as_u64(), v["last_iteration_num"].as_u64()), (Some(4), Some(4)));
    assert_eq!(ok(ihist(d, &["last", "h.jsonl"])).trim(), "4");
    assert_eq!(ok(ihist(d, &["count", "h.jsonl"])).trim(), "5");
    ok(ihist(d, &["verify", "h.jsonl"]));
}

#[test]
fn save_from_stdin_one_line_many_lines_and_pretty_json() {
    let tmp = tempdir();
    let d = tmp.path();
    ok(ihist_stdin(d, &["save", "h.jsonl"], record(0).as_bytes()));
    let out = ok(ihist_stdin(d, &["save", "h.jsonl", "-"], jsonl(1..4).as_bytes()));
    assert!(out.contains("3 records (iterations 1..3) as one all-or-nothing commit"), "{out}");
    // The batch is one commit: its lines carry k/n tags.
    let text = String::from_utf8(read(&d.join("h.jsonl"))).expect("utf8");
    assert!(text.lines().nth(1).is_some_and(|l| l.contains("\"_ih\":\"1/3+0 ")), "{text}");
    assert!(text.lines().nth(3).is_some_and(|l| l.contains("\"_ih\":\"3/3+")), "{text}");
    let pretty = serde_json::to_string_pretty(&json(&record(4).replace("NaN", "null"))).expect("pretty");
    ok(ihist_stdin(d, &["save", "h.jsonl"], pretty.as_bytes()));
    let out = ok(ihist(d, &["--json", "save", "h.jsonl", &record(5)]));
    let v = json(&out);
    assert_eq!(
        (v["saved"].as_u64(), v["records"].as_u64(), v["last_iteration_num"].as_u64()),
        (Some(1), Some(6), Some(5))
    );
}

#[test]
fn save_rejects_bad_input_naming_the_line_and_writes_nothing() {
    let tmp = tempdir();
    let d = tmp.path();
    ok(ihist(d, &["save", "h.jsonl", &record(0)]));
    let before = read(&d.join("h.jsonl"));
    let input = format!("{}\n{{\"iteration_num\": 2, oops\n{}\n", record(1), record(3));
    let err = fails(ihist_stdin(d, &["save", "h.jsonl"], input.as_bytes()), 1);
    let offset = record(1).len() + 1;
    assert!(err.contains(&format!("standard input: line 2 (byte {offset}): not valid JSON")), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    let err = fails(ihist(d, &["save", "h.jsonl", r#"{"iteration_num": 1, "strategy_code": "x"}"#]), 1);
    assert!(err.contains("field `execution_result`: is missing"), "{err}");
    let err = fails(ihist(d, &["save", "h.jsonl", "{\"iteration_num\": 1,"]), 1);
    assert!(err.contains("the record argument: not valid JSON"), "{err}");
    let err = fails(ihist_stdin(d, &["save", "h.jsonl"], b""), 1);
    assert!(err.contains("no record given"), "{err}");
    assert_eq!(read(&d.join("h.jsonl")), before, "the history is unchanged");
    let o = ihist(d, &["--json", "save", "h.jsonl", "[1]"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&stderr(&o));
    assert_eq!(v["error"]["code"], "invalid-input");
    assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("not a JSON object")), "{v}");
}

#[test]
fn json_errors_are_one_json_line_on_stderr() {
    let tmp = tempdir();
    let o = ihist(tmp.path(), &["--json", "count", "missing.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&stderr(&o));
    assert_eq!(v["error"]["code"], "not-found");
    assert_eq!(v["error"]["exit_code"], 1);
    assert!(v["error"]["message"].as_str().is_some_and(|m| m.starts_with("missing.jsonl: no such history file")));
}

#[test]
fn recent_last_count_show_in_text_and_json() {
    let tmp = tempdir();
    let d = tmp.path();
    ok(ihist_stdin(d, &["save", "h.jsonl"], jsonl(0..12).as_bytes()));
    let out = ok(ihist(d, &["recent", "h.jsonl", "-n", "3"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "header + 3 rows: {out}");
    assert!(lines[0].starts_with("iteration") && lines[0].contains("sharpe_ratio"), "{out}");
    assert!(lines[1].trim_start().starts_with("9 ") && lines[3].trim_start().starts_with("11 "), "{out}");
    assert!(lines[3].contains("1.1000"), "{out}");
    let rows = json_lines(&ok(ihist(d, &["--json", "recent", "h.jsonl", "--number", "4"])));
    assert_eq!(rows.iter().map(|r| r["iteration_num"].as_u64().expect("n")).collect::<Vec<_>>(), vec![8, 9, 10, 11]);
    // Non-finite numbers stay strict JSON: null plus the `_nonfinite` index.
    assert_eq!(rows[1]["metrics"]["sharpe_ratio"], serde_json::Value::Null);
    assert_eq!(rows[1]["_nonfinite"]["/metrics/sharpe_ratio"], "NaN");
    assert!(rows.iter().all(|r| r.get("_ih").is_none()));
    assert_eq!(json(&ok(ihist(d, &["--json", "last", "h.jsonl"])))["last_iteration_num"], 11);
    assert_eq!(json(&ok(ihist(d, &["--json", "count", "h.jsonl"])))["records"], 12);
    let out = ok(ihist(d, &["show", "h.jsonl", "7"]));
    assert!(out.starts_with("iteration_num         7\n"), "{out}");
    assert!(
        out.contains("  sharpe_ratio  0.7000") && out.contains("strategy_code\n  def s(d):\n      return d.close > 7"),
        "{out}"
    );
    let shown = json_lines(&ok(ihist(d, &["--json", "show", "h.jsonl", "4"])));
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0]["_nonfinite"]["/metrics/sharpe_ratio"], "NaN");
    // A JSON record printed by ihist saves back exactly.
    let line = serde_json::to_string(&shown[0]).expect("json");
    ok(ihist(d, &["save", "copy.jsonl", &line]));
    let copied = json_lines(&ok(ihist(d, &["--json", "recent", "copy.jsonl"])));
    assert_eq!(copied[0], shown[0]);
    let err = fails(ihist(d, &["show", "h.jsonl", "99"]), 1);
    assert!(err.contains("no record with iteration_num 99 (it holds 12 records, iterations 0..11)"), "{err}");
    // An empty history.
    ok(ihist(d, &["save", "e.jsonl", &record(0)]));
    std::fs::write(d.join("e.jsonl"), b"").expect("empty");
    assert_eq!(ok(ihist(d, &["last", "e.jsonl"])).trim(), "none (empty history)");
    assert_eq!(ok(ihist(d, &["recent", "e.jsonl"])).trim(), "e.jsonl: no records");
}

#[test]
fn read_commands_report_a_missing_file_or_directory() {
    let tmp = tempdir();
    let d = tmp.path();
    for cmd in [
        &["count", "nope.jsonl"][..],
        &["recent", "nope.jsonl"],
        &["last", "nope.jsonl"],
        &["show", "nope.jsonl", "1"],
        &["verify", "nope.jsonl"],
        &["export", "nope.jsonl"],
        &["stats", "nope.jsonl"],
        &["repair", "nope.jsonl"],
        &["compact", "nope.jsonl"],
    ] {
        let err = fails(ihist(d, cmd), 1);
        assert!(err.contains("nope.jsonl: no such history file; check the path"), "{cmd:?}: {err}");
    }
    assert!(!d.join("nope.jsonl").exists(), "nothing created");
    std::fs::create_dir(d.join("adir")).expect("dir");
    let err = fails(ihist(d, &["count", "adir"]), 1);
    assert!(err.contains("adir: is a directory"), "{err}");
    let err = fails(ihist(d, &["import", "h.jsonl", "missing-input.jsonl"]), 1);
    assert!(err.contains("missing-input.jsonl: cannot open the file to import"), "{err}");
    // Usage errors are clap's: exit code 2.
    assert_eq!(ihist(d, &["recent"]).status.code(), Some(2));
    assert_eq!(ihist(d, &["show", "h.jsonl", "minus-one"]).status.code(), Some(2));
}

#[test]
fn stats_summarises() {
    let tmp = tempdir();
    let d = tmp.path();
    ok(ihist_stdin(d, &["save", "h.jsonl"], jsonl(0..10).as_bytes()));
    let out = ok(ihist(d, &["stats", "h.jsonl"]));
    assert!(out.contains("records       10 (iterations 0..9)"), "{out}");
    assert!(out.contains("success rate  80.0% (8 of 10)"), "{out}");
    assert!(out.contains("best sharpe   0.8000 at iteration 8"), "{out}");
    assert!(out.contains("champion      iteration 6 (sharpe 0.6000)"), "{out}");
    assert!(out.contains("levels        LEVEL_0 3, LEVEL_1 3, LEVEL_2 2, LEVEL_3 2"), "{out}");
    let v = json(&ok(ihist(d, &["--json", "stats", "h.jsonl"])));
    assert_eq!(v["success_rate"], 0.8);
    assert_eq!(v["best_sharpe"]["iteration_num"], 8);
    assert_eq!(v["recent"].as_array().map(Vec::len), Some(5));
}

#[test]
fn export_jsonl_is_byte_for_byte_and_csv_is_flattened() {
    let tmp = tempdir();
    let d = tmp.path();
    ok(ihist_stdin(d, &["save", "h.jsonl"], jsonl(0..6).as_bytes()));
    ok(ihist(
        d,
        &["save", "h.jsonl", &record(6).replace("\"champion_updated\"", "\"notes\": [1, \"a\"], \"champion_updated\"")],
    ));
    let history = read(&d.join("h.jsonl"));
    let o = ihist(d, &["export", "h.jsonl"]);
    assert!(o.status.success());
    assert_eq!(o.stdout, history, "stdout export is the file");
    ok(ihist(d, &["export", "h.jsonl", "-o", "snap.jsonl"]));
    assert_eq!(read(&d.join("snap.jsonl")), history);
    let out = ok(ihist(d, &["--json", "export", "h.jsonl", "-o", "snap2.jsonl", "--format", "jsonl"]));
    assert_eq!(json(&out)["bytes"].as_u64(), Some(history.len() as u64));
    ok(ihist(d, &["export", "h.jsonl", "-o", "h.csv"]));
    let csv = String::from_utf8(read(&d.join("h.csv"))).expect("utf8");
    let header = csv.lines().next().expect("header");
    assert_eq!(
        header,
        "iteration_num,strategy_code,execution_result.success,execution_result.execution_time,metrics.sharpe_ratio,metrics.total_return,classification_level,timestamp,champion_updated,notes"
    );
    let mut rdr = csv_rows(&csv);
    assert_eq!(rdr.len(), 7);
    assert_eq!(rdr[4][4], "NaN", "non-finite numbers are named");
    assert_eq!(rdr[1][1], "def s(d):\n    return d.close > 1\n", "multi-line code is quoted");
    assert_eq!(rdr[6][9], r#"[1,"a"]"#);
    assert_eq!(rdr[0][9], "", "missing value is empty");
    rdr.clear();
    // CSV to stdout with --format.
    let out = ok(ihist(d, &["export", "h.jsonl", "--format", "csv"]));
    assert_eq!(out, csv);
    let err = fails(ihist(d, &["export", "h.jsonl", "-o", "no/such/dir/x.csv"]), 1);
    assert!(err.contains("no/such/dir/x.csv: cannot create the export file"), "{err}");
}

/// A tiny CSV reader for the tests (quotes, doubled quotes, newlines in quotes).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    rows.remove(0);
    rows
}

#[test]
fn import_appends_as_one_commit_and_rejects_a_bad_line() {
    let tmp = tempdir();
    let d = tmp.path();
    ok(ihist(d, &["save", "h.jsonl", &record(0)]));
    std::fs::write(d.join("more.jsonl"), format!("\u{feff}{}\r\n\n{}", jsonl(1..5).replace('\n', "\r\n"), record(5)))
        .expect("write");
    let out = ok(ihist(d, &["import", "h.jsonl", "more.jsonl"]));
    assert!(out.contains("imported 5 records from more.jsonl into h.jsonl as one commit"), "{out}");
    let text = String::from_utf8(read(&d.join("h.jsonl"))).expect("utf8");
    // One commit made atomic by a rename: canonical, checksummed lines
    // without a commit tag (a BOM, CRLF and blank lines dropped).
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.starts_with("{\"iteration_num\":") && l.contains(",\"_ih\":\"") && !l.contains("/5+")),
        "canonical lines: {text}"
    );
    assert!(!text.contains('\r') && !text.contains('\u{feff}'), "{text}");
    assert_eq!(ok(ihist(d, &["count", "h.jsonl"])).trim(), "6");
    // A bad line: named by line and byte offset; nothing written.
    let before = read(&d.join("h.jsonl"));
    let good = jsonl(6..9);
    let bad = format!("{good}{}\n{}\n", record(9).replace("\"timestamp\"", "\"timestamp\": 5, \"x\""), record(10));
    std::fs::write(d.join("bad.jsonl"), &bad).expect("write");
    let err = fails(ihist(d, &["import", "h.jsonl", "bad.jsonl"]), 1);
    assert!(err.contains(&format!("bad.jsonl: line 4 (byte {}): ", good.len())), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(read(&d.join("h.jsonl")), before);
    // Into a new history (created, with its directory).
    let v = json(&ok(ihist(d, &["--json", "import", "new/h2.jsonl", "more.jsonl"])));
    assert_eq!((v["imported"].as_u64(), v["records"].as_u64()), (Some(5), Some(5)));
    std::fs::write(d.join("empty.jsonl"), "\n\n").expect("write");
    let err = fails(ihist(d, &["import", "h.jsonl", "empty.jsonl"]), 1);
    assert!(err.contains("empty.jsonl: no records to import"), "{err}");
}

#[test]
fn demo_seeds_from_the_sample_then_resumes() {
    let tmp = tempdir();
    let d = tmp.path();
    let o = ihist(d, &["demo", "runs/h.jsonl", "-n", "25"]);
    let out = ok(o);
    assert!(out.contains("saved 25 iterations durably"), "{out}");
    assert!(out.contains("records       85 (iterations 0..84)"), "{out}");
    for want in ["success rate", "best sharpe", "champion      iteration", "levels        LEVEL_0", "recent 5:"] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // The first 60 lines are the sample as the Python module wrote them.
    let sample = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/history.jsonl")).expect("sample");
    assert!(read(&d.join("runs/h.jsonl")).starts_with(&sample));
    let v = json(&ok(ihist(d, &["--json", "demo", "runs/h.jsonl", "--iterations", "5"])));
    assert_eq!(v["records"], 90);
    assert_eq!(v["first_iteration_num"], 0);
    assert_eq!(v["last_iteration_num"], 89);
    assert_eq!(v["saved"], 5);
    assert_eq!(v["recent"][4]["iteration_num"], 89);
    let verify = ok(ihist(d, &["verify", "runs/h.jsonl"]));
    assert!(verify.contains("healthy — 90 records, last iteration 89"), "{verify}");
    // The default path is inside target/ (git-ignored).
    ok(ihist(d, &["demo", "-n", "1", "-q"]));
    assert!(d.join("target/demo/history.jsonl").is_file());
}

#[test]
fn copy_between_files_byte_for_byte_and_clear() {
    let tmp = tempdir();
    let d = tmp.path();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/history.jsonl");
    let sample = sample.to_str().expect("utf8 path");
    let out = ok(ihist(d, &["copy", sample, "runs/copy.jsonl"]));
    assert!(out.contains("copied 60 records (") && out.contains("last iteration 59"), "{out}");
    assert_eq!(read(&d.join("runs/copy.jsonl")), read(std::path::Path::new(sample)));
    // A destination with records is refused unless --replace.
    ok(ihist_stdin(d, &["save", "h.jsonl"], jsonl(0..3).as_bytes()));
    let err = fails(ihist(d, &["copy", "h.jsonl", "runs/copy.jsonl"]), 1);
    assert!(err.contains("runs/copy.jsonl: already holds records (last iteration 59)"), "{err}");
    let v = json(&ok(ihist(d, &["--json", "copy", "--replace", "h.jsonl", "runs/copy.jsonl"])));
    assert_eq!((v["records"].as_u64(), v["replaced"].as_bool()), (Some(3), Some(true)), "{v}");
    assert_eq!(read(&d.join("runs/copy.jsonl")), read(&d.join("h.jsonl")));
    let err = fails(ihist(d, &["copy", "h.jsonl", "./h.jsonl"]), 2);
    assert!(err.contains("the same history"), "{err}");
    // A source that is not a valid history creates nothing.
    std::fs::write(d.join("bad.jsonl"), format!("{{\"iteration_num\": 1,\n{}\n", record(2))).expect("write");
    let err = fails(ihist(d, &["copy", "bad.jsonl", "new.jsonl"]), 4);
    assert!(err.contains("bad.jsonl: corrupt at line 1"), "{err}");
    assert!(!d.join("new.jsonl").exists());
    // clear needs --yes.
    let err = fails(ihist(d, &["clear", "h.jsonl"]), 2);
    assert!(err.contains("clear removes every record of h.jsonl: pass --yes"), "{err}");
    assert_eq!(ok(ihist(d, &["count", "h.jsonl"])).trim(), "3");
    let out = ok(ihist(d, &["clear", "h.jsonl", "--yes"]));
    assert!(out.contains("h.jsonl: removed all 3 records"), "{out}");
    assert_eq!(read(&d.join("h.jsonl")), b"");
    let err = fails(ihist(d, &["clear", "missing.jsonl", "--yes"]), 1);
    assert!(err.contains("no such history file"), "{err}");
}

#[test]
fn the_history_can_be_given_with_store() {
    let tmp = tempdir();
    let d = tmp.path();
    std::fs::write(d.join("in.jsonl"), jsonl(0..2)).expect("write");
    ok(ihist(d, &["import", "--store", "h.jsonl", "in.jsonl"]));
    ok(ihist(d, &["--store", "h.jsonl", "save", &record(2)]));
    assert_eq!(ok(ihist(d, &["count", "--store", "h.jsonl"])).trim(), "3");
    assert!(ok(ihist(d, &["show", "--store", "h.jsonl", "1"])).contains("iteration_num         1"));
    let err = fails(ihist(d, &["count", "h.jsonl", "--store", "h.jsonl"]), 2);
    assert!(err.contains("the history is given twice"), "{err}");
    let err = fails(ihist(d, &["count"]), 2);
    assert!(err.contains("no history given"), "{err}");
    let err = fails(ihist(d, &["show", "h.jsonl"]), 2);
    assert!(err.contains("give the iteration_num to show"), "{err}");
    let err = fails(ihist(d, &["show", "--store", "h.jsonl", "x"]), 2);
    assert!(err.contains("ITERATION \"x\": must be a whole number"), "{err}");
    let err = fails(ihist(d, &["import", "h.jsonl"]), 2);
    assert!(err.contains("give the JSONL file to import"), "{err}");
}
