//! Native tests of the column pass: the fast path against the core's
//! decoder, the scan rules, search, ranks and CSV.
#![cfg(not(target_arch = "wasm32"))]

use iteration_history::codec;
use iteration_history::storage::MemDir;
use iteration_history::{History, IterationRecord, Options, Value};
use iteration_history_viewer::extract::{self, Group, Row, State};
use iteration_history_viewer::load::{self, Loaded, Rows, WarningKind};
use iteration_history_viewer::text::{self, TextField};

const SAMPLE: &[u8] = include_bytes!("../../samples/history.jsonl");

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn record(i: u64, rng: &mut Rng) -> IterationRecord {
    let mut r = IterationRecord::new(
        i,
        format!("def strategy(data):\n    # variant {i} → \"q\"\t\\\n    return {}\n", rng.below(100)),
    );
    let ok = rng.below(5) != 0;
    r.execution_result.insert("success".into(), Value::Bool(ok));
    r.execution_result.insert("execution_time".into(), Value::from(rng.below(1000) as f64 / 100.0));
    if !ok {
        r.execution_result.insert("error".into(), Value::from("KeyError: 'close'"));
    }
    r.set_metric("sharpe_ratio", if ok { rng.below(400) as f64 / 100.0 - 1.0 } else { f64::NAN });
    r.set_metric("max_drawdown", if ok { -(rng.below(50) as f64) / 100.0 } else { f64::NEG_INFINITY });
    r.metrics.insert("trades".into(), Value::from(rng.below(500) as u64));
    r.metrics.insert("note".into(), Value::from("text, not a column"));
    r.metrics.insert("per_asset".into(), Value::Array(vec![Value::from(1.5), Value::from(-2.0 / 3.0)]));
    r.classification_level = format!("LEVEL_{}", rng.below(4));
    r.timestamp = format!("2025-03-01T{:02}:{:02}:00", rng.below(24), rng.below(60));
    r.champion_updated = rng.below(10) == 0;
    r.extra.insert("seed".into(), Value::from(i * 7));
    r
}

/// What the fast path reads, compared with the core's record.
fn assert_same(line: &[u8], row: &Row, rec: &IterationRecord) {
    let what = String::from_utf8_lossy(line);
    assert_eq!(row.iteration_num, rec.iteration_num, "{what}");
    assert_eq!(row.success, rec.success(), "{what}");
    assert_eq!(row.champion, rec.champion_updated, "{what}");
    assert_eq!(&line[row.level.clone()], rec.classification_level.as_bytes(), "{what}");
    let mut code = Vec::new();
    text::unescape_into(&line[row.code.clone()], &mut code);
    assert_eq!(code, rec.strategy_code.as_bytes(), "{what}");
    let mut time = Vec::new();
    text::unescape_into(&line[row.timestamp.clone()], &mut time);
    assert_eq!(time, rec.timestamp.as_bytes(), "{what}");
    let mut expected = Vec::new();
    for (group, map) in [(Group::Execution, &rec.execution_result), (Group::Metrics, &rec.metrics)] {
        for (name, v) in map {
            if group == Group::Execution && name == "success" {
                continue;
            }
            match v {
                Value::Number(n) => expected.push((group, name.clone(), n.as_f64(), State::Number)),
                Value::Null => expected.push((group, name.clone(), f64::NAN, State::Null)),
                _ => {}
            }
        }
    }
    assert_eq!(row.members.len(), expected.len(), "{what}");
    for (group, name, value, state) in expected {
        let m = row
            .members
            .iter()
            .find(|m| m.group == group && &line[m.name.clone()] == name.as_bytes())
            .unwrap_or_else(|| panic!("member {name} missing: {what}"));
        assert_eq!(m.state, state, "{name}: {what}");
        assert!(m.value == value || (m.value.is_nan() && value.is_nan()), "{name}: {} vs {value}: {what}", m.value);
    }
}

/// The fast path either leaves the line to the core, or agrees with it.
fn check_line(line: &[u8], row: &mut Row) -> bool {
    let core = codec::decode_line(line);
    // As the loader does: a line with `_ih` must also pass the core's checksum check.
    if extract::extract(line, row) && (!row.has_integrity || codec::check_line(line, false).is_ok()) {
        let (rec, _) = core.unwrap_or_else(|e| {
            panic!("fast path accepted what the core refuses ({e}): {:?}", String::from_utf8_lossy(line))
        });
        assert_same(line, row, &rec);
        true
    } else {
        false
    }
}

fn base_lines() -> Vec<Vec<u8>> {
    let mut rng = Rng(7);
    let mut lines: Vec<Vec<u8>> = SAMPLE.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    for i in 0..40 {
        let mut l = codec::encode_line(&record(i, &mut rng)).expect("valid");
        l.pop();
        lines.push(l);
    }
    let mut odd = record(99, &mut rng);
    odd.metrics.insert("per_asset".into(), Value::Array(vec![Value::from(f64::INFINITY)]));
    let mut l = codec::encode_line(&odd).expect("valid");
    l.pop();
    lines.push(l);
    lines.push(br#"{ "iteration_num" : 0 , "strategy_code" : "" , "execution_result" : { } , "metrics" : { "a" : 1e3, "b": -0, "c": 18446744073709551616, "a": 2 } , "classification_level" : "L" , "timestamp" : "t" , "champion_updated" : true , "x": [null, {"y": "\ud83d\ude00"}] } "#.to_vec());
    lines
}

#[test]
fn fast_path_reads_every_normal_line() {
    let mut row = Row::default();
    for line in base_lines().into_iter().filter(|l| !l.windows(11).any(|w| w == b"/per_asset/")) {
        assert!(check_line(&line, &mut row), "fast path refused {}", String::from_utf8_lossy(&line));
    }
}

#[test]
fn fast_path_never_disagrees_with_the_core_on_damaged_lines() {
    const BYTES: &[u8] = b"\"\\,:{}[] N0-e.1a\x01\xff\xc3tnfu/I";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut row = Row::default();
    let (mut fast, mut total) = (0, 0);
    for base in base_lines() {
        for _ in 0..400 {
            let mut l = base.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(l.len().max(1));
                let byte = BYTES[rng.below(BYTES.len())];
                let last = l.len() - 1;
                match rng.below(5) {
                    0 => {
                        l.remove(at.min(last));
                    }
                    1 => l.insert(at, byte),
                    2 => l[at.min(last)] = byte,
                    3 => l.truncate(at),
                    _ => {
                        let end = (at + rng.below(12)).min(l.len());
                        let chunk = l[at..end].to_vec();
                        l.splice(at..at, chunk);
                    }
                }
                if l.is_empty() {
                    l.push(b'{');
                }
            }
            total += 1;
            fast += usize::from(check_line(&l, &mut row));
        }
    }
    // Many mutations keep the line valid: the fast path must take them too.
    assert!(fast > total / 20, "fast path took {fast} of {total}");
}

fn loaded(bytes: &[u8]) -> Loaded {
    load::load(bytes).expect("fits")
}

#[test]
fn sample_history_loads_in_one_pass_without_the_slow_path() {
    let l = loaded(SAMPLE);
    let c = &l.columns;
    assert_eq!(c.len(), 60);
    assert_eq!((l.slow_rows, l.warnings_total, l.lines), (0, 0, 60));
    assert_eq!(c.iteration, (0..60).map(f64::from).collect::<Vec<_>>());
    let keys: Vec<String> = c.numeric.iter().map(|n| n.key()).collect();
    assert_eq!(
        keys,
        [
            "execution_result.execution_time",
            "metrics.sharpe_ratio",
            "metrics.total_return",
            "metrics.max_drawdown",
            "metrics.win_rate",
            "metrics.sortino_ratio"
        ]
    );
    // Every row agrees with the core's full decode.
    for row in 0..c.len() {
        let rec = l.record(row).expect("valid");
        assert_eq!(c.iteration[row], rec.iteration_num as f64);
        assert_eq!(c.champion[row] == 1, rec.champion_updated);
        assert_eq!(c.levels[c.level[row] as usize], rec.classification_level);
        for col in &c.numeric {
            let map = if col.group == Group::Metrics { &rec.metrics } else { &rec.execution_result };
            match map.get(&col.name).and_then(Value::as_f64) {
                Some(v) => assert!(col.values[row] == v || (v.is_nan() && col.values[row].is_nan())),
                None => assert_eq!(col.states[row], State::Missing as u8),
            }
        }
        let mut code = Vec::new();
        text::text_of(&l, row, TextField::Code, &mut code);
        assert_eq!(code, rec.strategy_code.as_bytes());
    }
    let failed = c.success.iter().filter(|&&s| s == 0).count();
    assert!(failed > 0 && c.champion.contains(&1));
}

#[test]
fn chunks_of_any_size_give_the_same_columns() {
    let whole = loaded(SAMPLE);
    for size in [1, 7, 100, 4096] {
        let mut loader = load::Loader::new(0).expect("no memory needed");
        for chunk in SAMPLE.chunks(size) {
            loader.push(chunk).expect("fits");
        }
        let l = loader.finish();
        // Debug text, because NaN != NaN.
        assert_eq!(format!("{:?}", l.columns), format!("{:?}", whole.columns), "chunk size {size}");
    }
}

#[test]
fn bom_crlf_blank_lines_and_bad_lines() {
    let lines: Vec<&[u8]> = SAMPLE.split(|&b| b == b'\n').take(4).collect();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(lines[0]);
    bytes.extend_from_slice(b"\r\n\n   \n");
    bytes.extend_from_slice(b"{\"iteration_num\": 1, oops}\n");
    bytes.extend_from_slice(lines[2]);
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(lines[3]);
    bytes.push(b'\n');
    let l = loaded(&bytes);
    assert_eq!(l.columns.iteration, [0.0, 2.0, 3.0]);
    assert_eq!(l.columns.line_no, [1, 5, 6]);
    assert_eq!(l.columns.line_start[0], 3, "after the BOM");
    assert!(l.line(0).starts_with(b"{") && l.line(0).ends_with(b"}"));
    assert!(l.line(1).ends_with(b"}"), "CR removed");
    assert!(l.corrupt, "damage followed by records");
    assert_eq!(l.warnings.len(), 1);
    let w = &l.warnings[0];
    assert_eq!((w.kind, w.line, w.offset), (WarningKind::BadLine, 4, (3 + lines[0].len() + 2 + 1 + 4) as u64));
    assert!(w.message.contains("not valid JSON"), "{}", w.message);
}

fn library_history(n: u64, batch_at: Option<u64>) -> Vec<u8> {
    let dir = MemDir::new();
    let h = History::open(dir.clone(), "h.jsonl", Options::default()).expect("open");
    let mut rng = Rng(3);
    let mut i = 0;
    while i < n {
        if Some(i) == batch_at {
            h.save_batch(&[record(i, &mut rng), record(i + 1, &mut rng), record(i + 2, &mut rng)]).expect("batch");
            i += 3;
        } else {
            h.save(&record(i, &mut rng)).expect("save");
            i += 1;
        }
    }
    drop(h);
    dir.contents("h.jsonl").expect("written")
}

#[test]
fn library_written_history_checksums_nonfinite_and_commits() {
    let bytes = library_history(20, Some(5));
    let l = loaded(&bytes);
    assert_eq!((l.columns.len(), l.slow_rows, l.warnings_total), (20, 0, 0));
    assert!(l.columns.checksummed.iter().all(|&c| c == 1));
    let sharpe = l.columns.numeric.iter().find(|c| c.name == "sharpe_ratio").expect("column");
    let failed: Vec<usize> = (0..20).filter(|&r| l.columns.success[r] == 0).collect();
    assert!(!failed.is_empty());
    assert!(failed.iter().all(|&r| sharpe.values[r].is_nan() && sharpe.states[r] == State::Number as u8));
}

#[test]
fn a_damaged_checksum_is_a_bad_line() {
    let mut bytes = library_history(4, None);
    let second = bytes.iter().position(|&b| b == b'\n').expect("line") + 1;
    let at = second + 40;
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    let l = loaded(&bytes);
    assert_eq!(l.columns.iteration, [0.0, 2.0, 3.0]);
    assert_eq!(l.warnings[0].line, 2);
    assert!(l.warnings[0].message.contains("checksum mismatch"), "{}", l.warnings[0].message);
}

#[test]
fn torn_tail_is_reported_and_ignored() {
    let bytes = library_history(6, Some(3));
    let lines: Vec<usize> = bytes.iter().enumerate().filter(|&(_, b)| *b == b'\n').map(|(i, _)| i + 1).collect();
    // Cut inside the batch's last line: its first two records are valid
    // lines of an unfinished commit, and are not shown.
    let cut = &bytes[..lines[4] + 10];
    let l = loaded(cut);
    assert_eq!(l.columns.iteration, [0.0, 1.0, 2.0]);
    assert!(!l.corrupt);
    assert_eq!(l.warnings.len(), 1);
    let w = &l.warnings[0];
    assert_eq!((w.kind, w.line, w.offset), (WarningKind::TornTail, 4, lines[2] as u64));
    assert!(w.message.contains("2 valid record(s)"), "{}", w.message);
    // A foreign file whose last line is cut.
    let sample_cut = &SAMPLE[..SAMPLE.len() - 30];
    let l = loaded(sample_cut);
    assert_eq!(l.columns.len(), 59);
    assert_eq!((l.warnings[0].kind, l.warnings[0].line), (WarningKind::TornTail, 60));
    // A foreign file whose last line is complete but lacks its newline.
    let l = loaded(&SAMPLE[..SAMPLE.len() - 1]);
    assert_eq!(l.columns.len(), 60);
    assert_eq!(l.warnings[0].kind, WarningKind::MissingNewline);
}

#[test]
fn group_tags_come_from_the_core() {
    // A tagged line copied out of its commit is a record cut out of it by a
    // tool (a crash cannot remove lines; see the core's `scan` rules): it
    // is shown, and it is not corruption.
    let mut rng = Rng(1);
    let bodies: Vec<_> = (0..2).map(|i| codec::encode_body(&record(i, &mut rng)).expect("valid")).collect();
    let mut out = Vec::new();
    codec::finish_commit(&bodies, 2, &mut out);
    let second = out.iter().position(|&b| b == b'\n').expect("line") + 1;
    let mut bytes = out[second..].to_vec();
    bytes.extend_from_slice(&codec::encode_line(&record(9, &mut rng)).expect("valid"));
    let l = loaded(&bytes);
    assert_eq!(l.columns.iteration, [1.0, 9.0]);
    assert!(!l.corrupt);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings.iter().map(|w| &w.message).collect::<Vec<_>>());
}

#[test]
fn files_beyond_32_bit_offsets_are_refused_up_front() {
    let e = load::Loader::new(5 << 30).map(drop).expect_err("too large");
    assert!(e.to_string().contains("larger than 4 GiB"), "{e}");
}

#[test]
fn search_and_ranks() {
    let l = loaded(SAMPLE);
    let mask = text::search_code(&l, "RSI CROSSOVER");
    let want: Vec<u8> = (0..60)
        .map(|r| u8::from(l.record(r).expect("valid").strategy_code.to_lowercase().contains("rsi crossover")))
        .collect();
    assert_eq!(mask, want);
    assert!(mask.contains(&1) && mask.contains(&0));
    // Non-ASCII is searched after decoding `\u2192`.
    assert!(text::search_code(&l, "tuned → fast").iter().all(|&m| m == 1));
    let ranks = text::rank(&l, TextField::Timestamp);
    let mut by_rank: Vec<usize> = (0..60).collect();
    by_rank.sort_by_key(|&r| ranks[r]);
    let stamps: Vec<String> = by_rank.iter().map(|&r| l.record(r).expect("valid").timestamp).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn csv_export_of_chosen_rows() {
    let l = loaded(SAMPLE);
    let csv = iteration_history_viewer::export::to_csv(&l, &[3, 1]).expect("csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().expect("header").iter().map(String::from).collect();
    assert_eq!(&header[..5], ["iteration_num", "timestamp", "classification_level", "success", "champion_updated"]);
    assert_eq!(header.last().map(String::as_str), Some("strategy_code"));
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], "3");
    assert_eq!(&rows[1][0], "1");
    let rec = l.record(3).expect("valid");
    assert_eq!(&rows[0][header.len() - 1], rec.strategy_code, "multi-line code survives quoting");
    let sharpe = header.iter().position(|h| h == "metrics.sharpe_ratio").expect("column");
    assert_eq!(rows[0][sharpe].parse::<f64>().ok(), rec.metric("sharpe_ratio"));
    // A failed iteration: NaN written as Python reads it.
    let failed = (0..60).find(|&r| l.columns.success[r] == 0).expect("a failure") as u32;
    let csv = iteration_history_viewer::export::to_csv(&l, &[failed]).expect("csv");
    assert!(csv.contains(",NaN,"), "{csv}");
    assert!(iteration_history_viewer::export::to_csv(&l, &[60]).is_err());
}

#[test]
fn live_follow_counts_only_complete_commits_and_reports_a_torn_tail() {
    // Byte by byte, a growing history: at every point the rows counted are
    // those a full load of the same prefix shows, except a complete last
    // record without its newline (a write still in progress).
    let bytes = library_history(8, Some(3));
    let mut loader = load::Loader::new(0).expect("loader");
    let mut last = 0;
    for (i, b) in bytes.iter().enumerate() {
        loader.push(&[*b]).expect("push");
        let live = loader.live();
        let full = loaded(&bytes[..=i]);
        let expect_rows = if full.warnings.iter().any(|w| w.kind == WarningKind::MissingNewline) {
            full.columns.len() - 1
        } else {
            full.columns.len()
        };
        assert_eq!(live.rows, expect_rows, "at byte {i}");
        assert!(live.rows >= last, "rows never go back");
        last = live.rows;
        assert_eq!(live.torn, full.warnings.iter().any(|w| w.kind == WarningKind::TornTail), "at byte {i}");
        assert_eq!(live.pending as usize, i + 1 - bytes[..=i].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1));
    }
    assert_eq!((last, loader.live().warnings_total), (8, 0));
    // A writer that crashed mid-line: the torn tail is reported, with the
    // core's reason, and the rows before it stay.
    loader.push(b"{\"iteration_num\": 8, \"strat").expect("push");
    let live = loader.live();
    assert!(live.torn);
    assert_eq!(live.rows, 8);
    assert_eq!(live.warnings.last().map(|w| w.kind), Some(WarningKind::TornTail));
    // CSV, search and ranks work on the growing rows too.
    let keys = iteration_history_viewer::export::keys(&loader);
    let csv = iteration_history_viewer::export::to_csv_with(&loader, &[0, 7], &keys, Some("run A"), true).expect("csv");
    assert!(csv.starts_with("run,iteration_num,"), "{csv}");
    assert!(csv.lines().nth(1).is_some_and(|l| l.starts_with("run A,0,")), "{csv}");
    assert_eq!(text::search_code(&loader, "variant 7").len(), 8);
}
