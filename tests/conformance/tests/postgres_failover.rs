//! Failover to a promoted standby: writers save (compare-and-append)
//! through a two-host URL with `target_session_attrs=read-write`; the
//! primary is killed (`pg_ctl stop -m immediate`) and its synchronous
//! standby promoted (`pg_ctl promote`); the writers carry on against the
//! new primary. Afterwards every acknowledged save is present exactly once
//! (a save whose outcome was unknown is retried, and stored once), and the
//! iteration numbers have no gap.
//!
//! Runs when `IH_PG_FAILOVER_URL`, `IH_PG_KILL_PRIMARY` and `IH_PG_PROMOTE`
//! are set (`scripts/test-postgres` sets them, after every other PostgreSQL
//! test: the primary stays down); skipped otherwise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iteration_history::{Error, IterationRecord, Store, Value};
use iteration_history_postgres::PgStore;

const WRITERS: u32 = 4;
const SAVES: u32 = 100;

fn transient(e: &Error) -> bool {
    matches!(e.code(), "unreachable" | "outcome-unknown")
}

/// Writer `w`'s k-th record, if it is stored (anywhere: other writers
/// may have appended many records after it meanwhile).
fn find(store: &PgStore, w: u32, k: u32) -> Result<Option<u64>, Error> {
    let mut cursor = 0;
    loop {
        let page = store.page(cursor, 1000)?;
        if let Some(r) = page.records.iter().find(|r| writer_and_k(r) == (u64::from(w), u64::from(k))) {
            return Ok(Some(r.iteration_num));
        }
        match page.next_cursor {
            Some(c) => cursor = c,
            None => return Ok(None),
        }
    }
}

fn writer_and_k(r: &IterationRecord) -> (u64, u64) {
    let get = |key: &str| r.extra.get(key).and_then(Value::as_u64).unwrap_or(u64::MAX);
    (get("writer"), get("k"))
}

struct Outcome {
    /// Iteration numbers acknowledged to this writer, by k.
    acked: Vec<u64>,
    transient: u64,
    /// Saves whose outcome was unknown and that a retry then found stored
    /// (by looking, after a conflict) or stored itself.
    unknown: u64,
}

fn writer(url: &str, w: u32, saved: &AtomicU64, deadline: Instant) -> Outcome {
    let nap = || std::thread::sleep(Duration::from_millis(100));
    let mut out = Outcome { acked: Vec::new(), transient: 0, unknown: 0 };
    let store = PgStore::open(url).expect("open");
    // The call being retried, and whether an attempt of it had an unknown
    // outcome (it may be stored although the retry reports a conflict).
    let mut pending: Option<(Option<u64>, IterationRecord)> = None;
    let mut unknown = false;
    while out.acked.len() < SAVES as usize {
        assert!(Instant::now() < deadline, "writer {w} made no progress");
        let k = out.acked.len() as u32;
        let (last, rec) = match pending.take() {
            Some(p) => p,
            None => match store.last_iteration_num() {
                Ok(last) => (last, ih_conformance::record(last.map_or(0, |n| n + 1), w, k)),
                Err(e) if transient(&e) => {
                    out.transient += 1;
                    nap();
                    continue;
                }
                Err(e) => panic!("writer {w}: {e}"),
            },
        };
        match store.append_if(last, std::slice::from_ref(&rec)) {
            Ok(_) => {
                out.acked.push(rec.iteration_num);
                out.unknown += u64::from(unknown);
                unknown = false;
                saved.fetch_add(1, Ordering::SeqCst);
            }
            Err(Error::Conflict { .. }) if unknown => match find(&store, w, k) {
                Ok(Some(n)) => {
                    out.acked.push(n);
                    out.unknown += 1;
                    unknown = false;
                    saved.fetch_add(1, Ordering::SeqCst);
                }
                Ok(None) => unknown = false,
                Err(e) if transient(&e) => {
                    out.transient += 1;
                    pending = Some((last, rec));
                    nap();
                }
                Err(e) => panic!("writer {w}: {e}"),
            },
            Err(Error::Conflict { .. }) => {}
            Err(e) if transient(&e) => {
                out.transient += 1;
                unknown |= e.code() == "outcome-unknown";
                pending = Some((last, rec));
                nap();
            }
            Err(e) => panic!("writer {w}: save of iteration {}: {e}", rec.iteration_num),
        }
    }
    out
}

fn run(cmd: &str) {
    let out = std::process::Command::new("sh").args(["-c", cmd]).output().expect("run a command");
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn writers_carry_on_after_the_standby_is_promoted() {
    let (Ok(base), Ok(kill), Ok(promote)) =
        (std::env::var("IH_PG_FAILOVER_URL"), std::env::var("IH_PG_KILL_PRIMARY"), std::env::var("IH_PG_PROMOTE"))
    else {
        eprintln!("skipped: needs IH_PG_FAILOVER_URL, IH_PG_KILL_PRIMARY and IH_PG_PROMOTE (scripts/test-postgres)");
        return;
    };
    let url = format!("{base}&history=failover");
    PgStore::open(&url).expect("open").clear().expect("clear");
    let saved = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(240);
    let total = u64::from(WRITERS * SAVES);
    let (outcomes, at_kill) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                scope.spawn({
                    let (url, saved) = (&url, &saved);
                    move || writer(url, w, saved, deadline)
                })
            })
            .collect();
        while saved.load(Ordering::SeqCst) < total / 4 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let at_kill = saved.load(Ordering::SeqCst);
        run(&kill);
        // The writers fail meanwhile: the primary is gone, the standby is
        // not writable yet.
        std::thread::sleep(Duration::from_millis(500));
        run(&promote);
        let outcomes: Vec<Outcome> = handles.into_iter().map(|h| h.join().expect("writer")).collect();
        (outcomes, at_kill)
    });
    let transient: u64 = outcomes.iter().map(|o| o.transient).sum();
    let unknown: u64 = outcomes.iter().map(|o| o.unknown).sum();
    eprintln!(
        "killed the primary after {at_kill} of {total} saves; {transient} transient errors retried; {unknown} saves with an unknown outcome settled by a retry"
    );
    assert!(at_kill < total, "the primary died while the writers were saving");
    assert!(transient > 0, "the writers saw the failover");

    let after = PgStore::open_read_only(&url).expect("the promoted standby");
    let all = after.load_recent(total as usize + 10).expect("records");
    let mut by_save = HashMap::new();
    for r in &all {
        let (w, k) = writer_and_k(r);
        if let Some(first) = by_save.insert((w, k), r.iteration_num) {
            panic!("writer {w}'s save {k} stored twice: iterations {first} and {}", r.iteration_num);
        }
        assert_eq!(r, &ih_conformance::record(r.iteration_num, w as u32, k as u32));
    }
    let nums: Vec<u64> = all.iter().map(|r| r.iteration_num).collect();
    assert_eq!(nums, (0..total).collect::<Vec<_>>(), "exactly {total} records, no gap, none twice");
    for (w, o) in outcomes.iter().enumerate() {
        for (k, n) in o.acked.iter().enumerate() {
            assert_eq!(
                by_save.get(&(w as u64, k as u64)),
                Some(n),
                "writer {w}'s acknowledged save {k} is iteration {n}"
            );
        }
    }
}
