//! A numbered append (`append_next`) returns only once its commit is on
//! disk: the insert commits asynchronously (the history's lock is not held
//! during the flush) and a second, synchronous commit waits for the flush.
//! Shown with PostgreSQL's own count of WAL syncs (`pg_stat_wal.wal_sync`):
//! N saves one after another by one writer make at least N syncs. Alone in
//! its test binary, so that no other test's syncs are counted. Runs when
//! `IH_PG_URL` is set; `#[ignore]`d otherwise (a failure if run without it).

use std::time::Duration;

use iteration_history::{IterationRecord, Store};
use iteration_history_postgres::PgStore;
use postgres::{Client, NoTls};

fn wal_syncs(c: &mut Client) -> i64 {
    // A backend reports its counts when it exits (and when idle, at most
    // once a second): the saves' connections are closed before this.
    std::thread::sleep(Duration::from_millis(1500));
    c.query_one("SELECT wal_sync FROM pg_stat_wal", &[]).expect("pg_stat_wal").get(0)
}

fn rec() -> IterationRecord {
    let mut rec = IterationRecord::new(0, "x");
    rec.timestamp = "t".into();
    rec.classification_level = "L".into();
    rec
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn every_numbered_save_waits_for_its_own_wal_flush() {
    let base = std::env::var("IH_PG_URL").expect("set IH_PG_URL (scripts/test-postgres does)");
    let url = format!("{base}?history=flush");
    let mut admin = Client::connect(&base, NoTls).expect("connect");
    let fsync: String = admin.query_one("SHOW fsync", &[]).expect("fsync").get(0);
    assert_eq!(fsync, "on", "the test server syncs");
    PgStore::open(&url).expect("open").clear().expect("clear");
    const N: i64 = 40;
    let before = wal_syncs(&mut admin);
    {
        let store = PgStore::open(&url).expect("open");
        for _ in 0..N {
            store.append_next(&[rec()]).expect("save");
        }
    }
    let after = wal_syncs(&mut admin);
    eprintln!("{N} numbered saves: {} WAL syncs", after - before);
    assert!(after - before >= N, "{N} saves, only {} WAL syncs: a save returned before its flush", after - before);
}
