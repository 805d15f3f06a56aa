//! Durability across a server crash: a writer saves with compare-and-append
//! (and, in the second test, two writers with numbered appends) while the
//! PostgreSQL server is killed (`pg_ctl stop -m immediate`: no
//! shutdown checkpoint, as in a power cut of the server process) and
//! restarted. Every save that returned `Ok` must be there after recovery,
//! and retrying the saves whose outcome was unknown must store nothing
//! twice. Runs when `IH_PG_URL` and `IH_PG_RESTART` (the crash-and-restart
//! command, set by `scripts/test-postgres`) are set; skipped otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iteration_history::{Error, IterationRecord, Store};
use iteration_history_postgres::PgStore;

const SAVES: u32 = 300;

/// The tests restart the one server: one at a time.
static SERVER: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn acknowledged_saves_survive_a_server_crash_and_retries_store_nothing_twice() {
    let (Ok(base), Ok(restart)) = (std::env::var("IH_PG_URL"), std::env::var("IH_PG_RESTART")) else {
        eprintln!("skipped: needs IH_PG_URL and IH_PG_RESTART (scripts/test-postgres sets both)");
        return;
    };
    let _server = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let sep = if base.contains('?') { '&' } else { '?' };
    let store = PgStore::open(&format!("{base}{sep}history=crash")).expect("open");
    store.clear().expect("clear");
    let saved = AtomicU64::new(0);
    let transient = AtomicU64::new(0);
    let (acked, crashed_at) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut acked = Vec::new();
            let mut pending = None;
            let deadline = Instant::now() + Duration::from_secs(300);
            while acked.len() < SAVES as usize {
                assert!(Instant::now() < deadline, "the writer made no progress");
                // After an unknown outcome, retry the very same call.
                let (last, rec) = match pending.take() {
                    Some(p) => p,
                    None => match store.last_iteration_num() {
                        Ok(last) => (last, ih_conformance::record(last.map_or(0, |n| n + 1), 0, acked.len() as u32)),
                        Err(e) => {
                            assert!(matches!(e.code(), "unreachable" | "outcome-unknown"), "{e}");
                            transient.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    },
                };
                match store.append_if(last, std::slice::from_ref(&rec)) {
                    Ok(_) => {
                        acked.push(rec.iteration_num);
                        saved.store(acked.len() as u64, Ordering::SeqCst);
                    }
                    Err(e @ Error::Backend { .. }) if matches!(e.code(), "unreachable" | "outcome-unknown") => {
                        transient.fetch_add(1, Ordering::Relaxed);
                        pending = Some((last, rec));
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => panic!("save of iteration {}: {e}", rec.iteration_num),
                }
            }
            acked
        });
        while saved.load(Ordering::SeqCst) < u64::from(SAVES) / 3 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let crashed_at = saved.load(Ordering::SeqCst);
        let status = std::process::Command::new("sh").args(["-c", &restart]).output().expect("run IH_PG_RESTART");
        assert!(status.status.success(), "restart failed: {}", String::from_utf8_lossy(&status.stderr));
        (writer.join().expect("writer"), crashed_at)
    });
    eprintln!(
        "crashed the server after {crashed_at} saves; {} transient errors retried",
        transient.load(Ordering::Relaxed)
    );
    assert!(crashed_at < u64::from(SAVES), "the crash came during the writes");
    assert!(transient.load(Ordering::Relaxed) > 0, "the writer saw the crash");
    let after = PgStore::open_read_only(&format!("{base}{sep}history=crash")).expect("reopen");
    let stored: Vec<u64> =
        after.load_recent(SAVES as usize + 10).expect("records").iter().map(|r| r.iteration_num).collect();
    assert_eq!(stored, acked, "every acknowledged save survived, nothing else was stored");
    ih_conformance::check_exactly_once(&after as &dyn Store, 1, SAVES);
}

/// Saves acknowledged by one writer: the number given, the record.
type Acked = Vec<(u64, IterationRecord)>;

/// The same for numbered appends (`append_next`) by two writers, which
/// commit in two transactions each (the insert asynchronously, then the
/// flush) or, when one meets no other writer for a while, in one: every
/// save that returned `Ok` is there after the crash, under the number it
/// was given, exactly once; the numbers have no gap (a save that failed
/// used none); a save whose outcome was unknown is there at most once.
#[test]
fn acknowledged_numbered_saves_survive_a_server_crash() {
    let (Ok(base), Ok(restart)) = (std::env::var("IH_PG_URL"), std::env::var("IH_PG_RESTART")) else {
        eprintln!("skipped: needs IH_PG_URL and IH_PG_RESTART (scripts/test-postgres sets both)");
        return;
    };
    let _server = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}history=crash-next");
    PgStore::open(&url).expect("open").clear().expect("clear");
    let saved = AtomicU64::new(0);
    let transient = AtomicU64::new(0);
    let per_writer = SAVES / 2;
    // Opened before the crash (a writer that opens after it would fail).
    let stores: Vec<PgStore> = (0..2).map(|_| PgStore::open(&url).expect("open")).collect();
    let results: Vec<(Acked, Vec<IterationRecord>)> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..2u32)
            .zip(&stores)
            .map(|(w, store)| {
                let (saved, transient) = (&saved, &transient);
                scope.spawn(move || {
                    let (mut acked, mut unknown) = (Vec::new(), Vec::new());
                    let deadline = Instant::now() + Duration::from_secs(300);
                    let mut k = 0u32;
                    while acked.len() < per_writer as usize {
                        assert!(Instant::now() < deadline, "writer {w} made no progress");
                        let rec = ih_conformance::next_record(w, k);
                        match store.append_next(std::slice::from_ref(&rec)) {
                            Ok(got) => {
                                acked.push((got.start, ih_conformance::numbered(rec, got.start)));
                                saved.fetch_add(1, Ordering::SeqCst);
                                k += 1;
                            }
                            // Nothing was sent: the same save again.
                            Err(e) if e.code() == "unreachable" => {
                                transient.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            // May be stored: not retried (it could be stored twice).
                            Err(e) if e.code() == "outcome-unknown" => {
                                transient.fetch_add(1, Ordering::Relaxed);
                                unknown.push(rec);
                                k += 1;
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            Err(e) => panic!("writer {w}: {e}"),
                        }
                    }
                    (acked, unknown)
                })
            })
            .collect();
        while saved.load(Ordering::SeqCst) < u64::from(SAVES) / 3 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = std::process::Command::new("sh").args(["-c", &restart]).output().expect("run IH_PG_RESTART");
        assert!(status.status.success(), "restart failed: {}", String::from_utf8_lossy(&status.stderr));
        writers.into_iter().map(|h| h.join().expect("writer")).collect()
    });
    assert!(transient.load(Ordering::Relaxed) > 0, "the writers saw the crash");
    let after = PgStore::open_read_only(&url).expect("reopen");
    let stored = after.load_recent(SAVES as usize * 2).expect("records");
    let nums: Vec<u64> = stored.iter().map(|r| r.iteration_num).collect();
    assert_eq!(nums, (0..stored.len() as u64).collect::<Vec<_>>(), "numbers 0, 1, ... without a gap");
    let mut expected = 0;
    for (acked, unknown) in &results {
        for (n, rec) in acked {
            assert_eq!(&stored[*n as usize], rec, "acknowledged save {n} is there");
        }
        expected += acked.len();
        for rec in unknown {
            let found = stored.iter().filter(|r| ih_conformance::numbered((*r).clone(), 0) == *rec).count();
            assert!(found <= 1, "a save whose outcome was unknown is stored at most once");
            expected += found;
        }
    }
    assert_eq!(stored.len(), expected, "nothing else was stored");
}
