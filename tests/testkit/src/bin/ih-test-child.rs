//! The child process of the multi-process tests (`tests/processes.rs`).
//!
//! ```text
//! ih-test-child writer <dir> <append|rewrite|mixed>
//!     saves rec(last+1), rec(last+2), … until killed; after each save that
//!     returned Ok prints `ack <n>` (a batch: one line per record) and flushes;
//!     `mixed` and `rewrite` save iterations 10k+5 … 10k+9 as one batch
//! ih-test-child queue <dir> <writer-id> <count> <wait|retry>
//!     saves tagged(writer-id, 0..count) in sessions of 1-10 saves, closing
//!     the history between sessions: `wait` queues on the lock with
//!     lock_timeout, `retry` is refused (Locked) and retries
//! ih-test-child reader <dir> <stop-file>
//!     reads (get_all, load_recent, count, last, verify) until <stop-file>
//!     exists; checks every record and that a batch is seen whole; prints
//!     `reads <n> max <records>`
//! ```
//! Exit status 0 on success; any failure panics (status 101).

use std::io::Write;
use std::time::Duration;

use iteration_history::storage::CapStdDir;
use iteration_history::{CommitStrategy, Error, History, Options};
use iteration_history_testkit::records::{rec, tagged};
use iteration_history_testkit::rng::SplitMix;

const NAME: &str = "h.jsonl";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| panic!("missing argument {i}: {args:?}"));
    let dir = || CapStdDir::open_ambient(arg(2)).expect("open the directory");
    match arg(1) {
        "writer" => writer(dir(), arg(3)),
        "queue" => queue(arg(2), arg(3).parse().expect("id"), arg(4).parse().expect("count"), arg(5)),
        "reader" => reader(arg(2), arg(3)),
        other => panic!("unknown role {other}"),
    }
}

/// In `mixed` and `rewrite` modes, iterations `10k+5 … 10k+9` are saved as
/// one batch.
pub fn is_batch_start(n: u64) -> bool {
    n % 10 == 5
}

fn writer(dir: CapStdDir, mode: &str) {
    let strategy = if mode == "rewrite" { CommitStrategy::Rewrite } else { CommitStrategy::Append };
    let h = History::open(dir, NAME, Options::default().strategy(strategy).lock_timeout(Some(Duration::from_secs(30))))
        .expect("writer open");
    let mut next = h.last_iteration_num().expect("last").map_or(0, |n| n + 1);
    let out = std::io::stdout();
    loop {
        let batch: Vec<u64> =
            if mode != "append" && is_batch_start(next) { (next..next + 5).collect() } else { vec![next] };
        if batch.len() == 1 {
            h.save(&rec(next)).expect("save");
        } else {
            h.save_batch(&batch.iter().map(|&n| rec(n)).collect::<Vec<_>>()).expect("batch");
        }
        let mut o = out.lock();
        for n in &batch {
            writeln!(o, "ack {n}").expect("report");
        }
        o.flush().expect("flush");
        next += batch.len() as u64;
    }
}

fn queue(path: &str, id: u64, count: u64, mode: &str) {
    let mut rng = SplitMix::new(id.wrapping_mul(7919) + 1);
    let mut seq = 0;
    let mut refused = 0u64;
    while seq < count {
        let dir = CapStdDir::open_ambient(path).expect("dir");
        let opts = if mode == "wait" {
            Options::default().lock_timeout(Some(Duration::from_secs(120)))
        } else {
            Options::default()
        };
        let h = match History::open(dir, NAME, opts) {
            Ok(h) => h,
            Err(Error::Locked { .. }) if mode == "retry" => {
                refused += 1;
                std::thread::sleep(Duration::from_micros(200 + rng.below(2000)));
                continue;
            }
            Err(e) => panic!("writer {id}: open: {e}"),
        };
        let session = 1 + rng.below(10);
        for _ in 0..session {
            if seq == count {
                break;
            }
            h.save(&tagged(id, seq)).expect("save");
            seq += 1;
        }
        drop(h);
        // Give the others a chance at the lock (flock is not fair).
        std::thread::sleep(Duration::from_micros(500 + rng.below(3000)));
    }
    println!("writer {id} done, refused {refused} times");
}

fn reader(path: &str, stop: &str) {
    let h = History::open_read_only(CapStdDir::open_ambient(path).expect("dir"), NAME).expect("reader");
    let mut reads = 0u64;
    let mut max = 0usize;
    let mut last_count = 0u64;
    while !std::path::Path::new(stop).exists() {
        let all = h.get_all().expect("get_all never sees a partial record");
        for (i, r) in all.iter().enumerate() {
            assert_eq!(r.iteration_num, i as u64, "records are 0, 1, 2, …");
            assert_eq!(*r, rec(i as u64), "record {i} is exactly what was saved");
        }
        let n = all.len() as u64;
        assert!(n % 10 <= 5, "a batch (10k+5 … 10k+9) is seen whole or not at all: {n} records");
        let recent = h.load_recent(3).expect("load_recent");
        for r in &recent {
            assert_eq!(*r, rec(r.iteration_num));
        }
        let c = h.count().expect("count");
        assert!(c >= last_count, "the count never goes back");
        last_count = c;
        let v = h.verify().expect("verify");
        assert!(v.corrupt_lines.is_empty(), "no corruption seen by a reader: {v:?}");
        max = max.max(all.len());
        reads += 1;
    }
    // The writer is gone: one last read sees every record it acknowledged.
    let last = h.get_all().expect("final get_all").len();
    println!("reads {reads} max {max} final {last}");
}
