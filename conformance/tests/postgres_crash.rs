//! Durability across a server crash: a writer saves with compare-and-append
//! while the PostgreSQL server is killed (`pg_ctl stop -m immediate`: no
//! shutdown checkpoint, as in a power cut of the server process) and
//! restarted. Every save that returned `Ok` must be there after recovery,
//! and retrying the saves whose outcome was unknown must store nothing
//! twice. Runs when `IH_PG_URL` and `IH_PG_RESTART` (the crash-and-restart
//! command, set by `scripts/test-postgres`) are set; skipped otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iteration_history::{Error, Store};
use iteration_history_postgres::PgStore;

const SAVES: u32 = 300;

#[test]
fn acknowledged_saves_survive_a_server_crash_and_retries_store_nothing_twice() {
    let (Ok(base), Ok(restart)) = (std::env::var("IH_PG_URL"), std::env::var("IH_PG_RESTART")) else {
        eprintln!("skipped: needs IH_PG_URL and IH_PG_RESTART (scripts/test-postgres sets both)");
        return;
    };
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
