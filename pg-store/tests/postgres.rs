//! PostgreSQL-specific behaviour: connection errors, the schema and its
//! versioning, `jsonb` queries, read-only stores, duplicate iterations,
//! several histories in one database. Runs when `IH_PG_URL` names a
//! database (`scripts/test-postgres` starts a throwaway server and sets it,
//! and `IH_PG_ADMIN_URL` for creating fresh databases). The tests are
//! `#[ignore]`d in a plain `cargo test` (no server there);
//! `scripts/test-postgres` runs them with `--include-ignored`, and run
//! without those variables they fail, never pass untried.

use std::sync::{Arc, Barrier};

use iteration_history::{AppendOutcome, IterationRecord, Store, Value};
use iteration_history_postgres::PgStore;
use postgres::{Client, NoTls};

/// A test that cannot run fails: these tests are `#[ignore]`d, and what runs
/// them (`scripts/test-postgres`) provides the server.
fn skip(why: &str) {
    panic!("this test cannot run: {why}");
}

fn base() -> Option<String> {
    let url = std::env::var("IH_PG_URL").ok();
    if url.is_none() {
        skip("set IH_PG_URL (scripts/test-postgres does) to run the PostgreSQL tests");
    }
    url
}

fn with_history(base: &str, name: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}history=pg-{name}")
}

fn rec(n: u64) -> IterationRecord {
    let mut r = IterationRecord::new(n, format!("def s(d): return {n}"));
    r.classification_level = format!("LEVEL_{}", n % 3);
    r.timestamp = format!("2025-01-01T00:00:{:02}", n % 60);
    r.set_metric("sharpe_ratio", n as f64 / 4.0);
    r.set_metric("total_return", if n == 2 { f64::NAN } else { 0.5 });
    r.champion_updated = n.is_multiple_of(2);
    r
}

/// `url` with the password replaced and everything else kept.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (auth, host) = rest.split_once('@').expect("user@host");
    let user = auth.split(':').next().expect("user");
    format!("{scheme}://{user}:{password}@{host}")
}

fn password_of(url: &str) -> String {
    let rest = url.split_once("://").expect("scheme").1;
    let auth = rest.split_once('@').expect("@").0;
    auth.split_once(':').map(|(_, p)| p.to_string()).unwrap_or_default()
}

/// `url` pointing at database `db`.
fn with_db(url: &str, db: &str) -> String {
    let (before, after) = url.rsplit_once('/').expect("/db");
    let query = after.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{before}/{db}{query}")
}

fn admin() -> Option<Client> {
    let Ok(url) = std::env::var("IH_PG_ADMIN_URL") else {
        skip("set IH_PG_ADMIN_URL (scripts/test-postgres does) for the tests that create databases");
        return None;
    };
    Some(Client::connect(&url, NoTls).expect("admin connection"))
}

/// A fresh, empty database; dropped again by the returned guard.
struct FreshDb {
    name: String,
    url: String,
}

impl FreshDb {
    fn new(base: &str, tag: &str) -> Option<FreshDb> {
        let mut admin = admin()?;
        let name = format!("ih_fresh_{tag}_{}", std::process::id());
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).expect("drop");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create");
        Some(FreshDb { url: with_db(base, &name), name })
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        if let Some(mut admin) = admin() {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_refused_connection_names_the_server_and_says_what_to_do() {
    // Needs no server: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("postgres://ih:hunter2@127.0.0.1:{port}/runs");
    let err = PgStore::open(&url).expect_err("nothing listens there");
    let msg = err.to_string();
    assert_eq!(err.code(), "unreachable", "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("connection refused"), "{msg}");
    assert!(msg.contains("is PostgreSQL running"), "{msg}");
    assert!(!msg.contains("hunter2"), "no password in messages: {msg}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_wrong_password_is_an_authentication_error_without_the_password() {
    let Some(base) = base() else { return };
    let url = with_password(&base, "not-the-password");
    let err = PgStore::open(&url).expect_err("wrong password");
    let msg = err.to_string();
    assert_eq!(err.code(), "auth-failed", "{msg}");
    assert!(msg.contains("wrong password") && msg.contains("127.0.0.1"), "{msg}");
    assert!(!msg.contains("not-the-password") && !msg.contains(&password_of(&base)), "{msg}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_missing_database_is_named() {
    let Some(base) = base() else { return };
    let url = with_db(&base, "no_such_database_here");
    let err = PgStore::open(&url).expect_err("no such database");
    let msg = err.to_string();
    assert_eq!(err.code(), "not-found", "{msg}");
    assert!(msg.contains("\"no_such_database_here\" does not exist") && msg.contains("createdb"), "{msg}");
    assert!(!msg.contains(&password_of(&base)), "{msg}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_conflict_names_the_store_and_both_iterations() {
    let Some(base) = base() else { return };
    let store = PgStore::open(&with_history(&base, "conflict")).expect("open");
    store.clear().expect("clear");
    store.append_if(None, &[rec(0), rec(1)]).expect("first");
    let err = store.append_if(Some(0), &[rec(5)]).expect_err("stale");
    let msg = err.to_string();
    assert_eq!(err.code(), "conflict");
    assert!(msg.starts_with("postgres://") && msg.contains("history=pg-conflict"), "{msg}");
    assert!(msg.contains("expected the last iteration to be 0, but it is 1"), "{msg}");
    assert!(!msg.contains(&password_of(&base)), "{msg}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn concurrent_first_openers_create_the_schema_once() {
    let Some(base) = base() else { return };
    let Some(db) = FreshDb::new(&base, "schema") else { return };
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (url, barrier) = (with_history(&db.url, &format!("h{}", i % 2)), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let store = PgStore::open(&url).expect("every opener succeeds");
                store.append(&[rec(i)]).expect("and can write");
                store.schema_version()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), 3);
    }
    let mut c = Client::connect(&db.url, NoTls).expect("connect");
    let versions: Vec<i32> =
        c.query("SELECT version FROM ih_schema_version", &[]).expect("versions").iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, vec![1, 2, 3], "each migration applied exactly once");
    let histories: i64 = c.query_one("SELECT count(*) FROM ih_histories", &[]).expect("count").get(0);
    assert_eq!(histories, 2);
    let records: i64 = c.query_one("SELECT count(*) FROM ih_records", &[]).expect("count").get(0);
    assert_eq!(records, 8);
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_newer_schema_is_refused_not_misread() {
    let Some(base) = base() else { return };
    let Some(db) = FreshDb::new(&base, "newer") else { return };
    PgStore::open(&db.url).expect("create the schema");
    let mut c = Client::connect(&db.url, NoTls).expect("connect");
    c.execute("INSERT INTO ih_schema_version (version, description) VALUES (99, 'from the future')", &[])
        .expect("insert");
    for err in [PgStore::open(&db.url).expect_err("newer"), PgStore::open_read_only(&db.url).expect_err("newer")] {
        assert!(err.to_string().contains("schema version 99, newer than this program's (3)"), "{err}");
    }
}

/// A database as a program of schema version `upto` left it: the
/// migrations up to `upto` and the history `default`, with `records`
/// appended through that version's `ih_append`.
fn old_database(url: &str, upto: i32, records: &[IterationRecord]) -> Client {
    let mut c = Client::connect(url, NoTls).expect("connect");
    c.batch_execute(
        "CREATE TABLE ih_schema_version (version integer PRIMARY KEY, description text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .expect("versions table");
    for v in 1..=upto {
        c.batch_execute(iteration_history_postgres::schema::migration_sql(v).expect("a migration")).expect("migrate");
        c.execute("INSERT INTO ih_schema_version (version, description) VALUES ($1, 'old')", &[&v]).expect("version");
    }
    c.execute("INSERT INTO ih_histories (name) VALUES ('default')", &[]).expect("history");
    let lines: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(iteration_history::codec::encode_line(r).expect("encode")).expect("utf8"))
        .collect();
    let nums: Vec<i64> = records.iter().map(|r| r.iteration_num as i64).collect();
    let jsons: Vec<Option<String>> = vec![None; records.len()];
    let appended: bool = c
        .query_one(
            "SELECT o_appended FROM ih_append((SELECT history_id FROM ih_histories WHERE name = 'default'), \
             false, NULL, $1, $2, $3)",
            &[&nums, &lines, &jsons],
        )
        .expect("old append")
        .get(0);
    assert!(appended);
    c
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_version_1_database_is_upgraded_and_then_numbers_appends() {
    let Some(base) = base() else { return };
    let Some(db) = FreshDb::new(&base, "upgrade") else { return };
    let c = old_database(&db.url, 1, &[rec(0), rec(1)]);
    let old = PgStore::open_read_only(&db.url).expect("a reader does not upgrade");
    assert_eq!((old.schema_version(), old.count().expect("count")), (1, 2));
    assert_eq!(old.last_iteration_num().expect("last"), Some(1));
    let store = PgStore::open(&db.url).expect("upgrade");
    assert_eq!(store.schema_version(), 3);
    assert_eq!((store.count().expect("count"), store.last_iteration_num().expect("last")), (2, Some(1)));
    assert_eq!(store.append_next(&[rec(9)]).expect("numbered"), 2..3);
    assert_eq!(store.load_recent(1).expect("recent")[0].iteration_num, 2);
    let mut nul = rec(0);
    nul.strategy_code = "a\0b".into();
    assert_eq!(store.append_next(&[nul]).expect("numbered"), 3..4);
    assert_eq!(store.append_if(Some(3), &[rec(4)]).expect("compare-and-append"), AppendOutcome::Appended);
    let mut c = c;
    let nums: Vec<String> = c
        .query("SELECT record->>'iteration_num' FROM ih_records ORDER BY seq", &[])
        .expect("jsonb")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(nums, ["0", "1", "2", "3", "4"], "the jsonb copy has the number the store gave");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_version_2_database_is_upgraded_and_numbered_rows_keep_their_jsonb_copy() {
    let Some(base) = base() else { return };
    let Some(db) = FreshDb::new(&base, "upgrade2") else { return };
    let mut c = old_database(&db.url, 2, &[rec(0)]);
    let store = PgStore::open(&db.url).expect("upgrade");
    assert_eq!(store.schema_version(), 3);
    let versions: Vec<i32> =
        c.query("SELECT version FROM ih_schema_version", &[]).expect("versions").iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, vec![1, 2, 3]);
    // One record, a batch, and numbers whose length changes (9 -> 10),
    // past the 4 saves after which a lone writer commits once.
    assert_eq!(store.append_next(&[rec(0)]).expect("one"), 1..2);
    assert_eq!(store.append_next(&[rec(0), rec(0), rec(0)]).expect("batch"), 2..5);
    for n in 5..12 {
        assert_eq!(store.append_next(&[rec(0)]).expect("one"), n..n + 1);
    }
    let mut nul = rec(0);
    nul.strategy_code = "a\0b".into();
    assert_eq!(store.append_next(&[nul.clone(), nul]).expect("with U+0000"), 12..14);
    // The jsonb copy is the line without `_ih` (U+0000 becomes U+FFFD).
    let rows = c
        .query(
            "SELECT iteration_num, record = (replace(line, '\\u0000', '\u{FFFD}')::jsonb - '_ih'), \
             (record->>'iteration_num')::bigint FROM ih_records ORDER BY seq",
            &[],
        )
        .expect("rows");
    assert_eq!(rows.len(), 14);
    for r in rows {
        let (num, same, in_jsonb): (i64, bool, i64) = (r.get(0), r.get(1), r.get(2));
        assert!(same && in_jsonb == num, "iteration {num}: the jsonb copy differs from the line");
    }
    let all = store.load_recent(100).expect("read back");
    assert_eq!(all.iter().map(|r| r.iteration_num).collect::<Vec<_>>(), (0..14).collect::<Vec<_>>());
    assert_eq!((store.count().expect("count"), store.last_iteration_num().expect("last")), (14, Some(13)));
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn read_only_stores_create_nothing_and_refuse_writes() {
    let Some(base) = base() else { return };
    let Some(db) = FreshDb::new(&base, "readonly") else { return };
    let r = PgStore::open_read_only(&db.url).expect("open read-only on an empty database");
    assert_eq!((r.count().expect("count"), r.last_iteration_num().expect("last")), (0, None));
    assert!(r.load_recent(3).expect("recent").is_empty());
    let mut out = Vec::new();
    assert_eq!(r.export_jsonl(&mut out).expect("export"), 0);
    let err = r.append(&[rec(0)]).expect_err("read-only");
    assert_eq!(err.code(), "read-only", "{err}");
    let mut c = Client::connect(&db.url, NoTls).expect("connect");
    let tables: i64 =
        c.query_one("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'ih\\_%'", &[]).expect("tables").get(0);
    assert_eq!(tables, 0, "a reader creates no tables");
    // Once a writer has saved, the same reader sees the records.
    let w = PgStore::open(&db.url).expect("writer");
    w.append(&[rec(0), rec(1)]).expect("append");
    assert_eq!(r.count().expect("count"), 2);
    assert_eq!(r.load_recent(1).expect("recent"), vec![rec(1)]);
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn records_are_queryable_as_jsonb_and_kept_as_their_exact_line() {
    let Some(base) = base() else { return };
    let url = with_history(&base, "jsonb");
    let store = PgStore::open(&url).expect("open");
    store.clear().expect("clear");
    let mut with_extra = rec(3);
    with_extra.extra.insert("note".into(), Value::String("a\0b".into()));
    store.append(&[rec(1), rec(2)]).expect("append");
    store.append(&[with_extra.clone()]).expect("append");
    let mut c = Client::connect(&base, NoTls).expect("connect");
    let rows = c
        .query(
            "SELECT r.iteration_num, (r.record->'metrics'->>'sharpe_ratio')::float8, r.record ? '_ih', \
             r.record->'_nonfinite'->>'/metrics/total_return', r.record->>'note', r.line \
             FROM ih_records r JOIN ih_histories h USING (history_id) WHERE h.name = 'pg-jsonb' ORDER BY r.seq",
            &[],
        )
        .expect("query");
    assert_eq!(rows.len(), 3);
    let n: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(n, vec![1, 2, 3]);
    assert_eq!(rows[0].get::<_, f64>(1), 0.25);
    assert!(!rows[0].get::<_, bool>(2), "the checksum field is left out of the jsonb copy");
    assert_eq!(rows[1].get::<_, Option<String>>(3).as_deref(), Some("NaN"));
    assert_eq!(rows[2].get::<_, Option<String>>(4).as_deref(), Some("a\u{FFFD}b"), "jsonb cannot hold U+0000");
    let mut export = Vec::new();
    store.export_jsonl(&mut export).expect("export");
    let lines: String = rows.iter().map(|r| r.get::<_, String>(5)).collect();
    assert_eq!(lines.as_bytes(), &export[..], "the line column is the export");
    assert_eq!(store.load_recent(1).expect("recent"), vec![with_extra], "the line keeps U+0000");
    let champions: i64 = c
        .query_one(
            "SELECT count(*) FROM ih_records r JOIN ih_histories h USING (history_id) \
             WHERE h.name = 'pg-jsonb' AND (r.record->>'champion_updated')::boolean",
            &[],
        )
        .expect("query")
        .get(0);
    assert_eq!(champions, 1);
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn iteration_numbers_are_unique_and_a_plain_retry_is_harmless() {
    let Some(base) = base() else { return };
    let store = PgStore::open(&with_history(&base, "unique")).expect("open");
    store.clear().expect("clear");
    store.append(&[rec(0), rec(1)]).expect("append");
    // A plain append retried after an unknown outcome: nothing is added.
    store.append(&[rec(0), rec(1)]).expect("retry of the same records");
    assert_eq!(store.count().expect("count"), 2);
    let err = store.append(&[rec(2), rec(0)]).expect_err("0 is stored");
    assert_eq!(err.code(), "duplicate", "{err}");
    assert!(err.to_string().contains("iteration 0 cannot be saved"), "{err}");
    let err = store.append(&[rec(5), rec(5)]).expect_err("twice in a batch");
    assert!(err.to_string().contains("the batch holds it twice"), "{err}");
    let mut changed = rec(1);
    changed.strategy_code.push('!');
    assert_eq!(store.append(&[changed]).expect_err("1 is stored").code(), "duplicate");
    assert_eq!(store.count().expect("count"), 2, "nothing written by refused appends");
    // Importing a file with a duplicate iteration names both lines.
    let mut input = Vec::new();
    store.export_jsonl(&mut input).expect("export");
    let first = input.clone();
    input.extend_from_slice(&first[..first.iter().position(|b| *b == b'\n').expect("line") + 1]);
    let err = store
        .import_jsonl(&mut &input[..], iteration_history::ImportMode::Replace, &mut |_| {})
        .expect_err("duplicate in the input");
    assert!(err.to_string().contains("input line 3: iteration 0 is already on line 1"), "{err}");
    assert_eq!(store.count().expect("count"), 2);
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn histories_in_one_database_are_independent() {
    let Some(base) = base() else { return };
    let a = PgStore::open(&with_history(&base, "indep-a")).expect("a");
    let b = PgStore::open(&with_history(&base, "indep-b")).expect("b");
    a.clear().expect("clear");
    b.clear().expect("clear");
    a.append_if(None, &[rec(0), rec(1)]).expect("a");
    assert_eq!(b.append_if(None, &[rec(0)]).expect("b starts empty"), AppendOutcome::Appended);
    b.clear().expect("clear b");
    assert_eq!(a.count().expect("count"), 2);
    assert_eq!(b.count().expect("count"), 0);
    assert_eq!(a.history_name(), "pg-indep-a");
    assert!(a.describe().ends_with("?history=pg-indep-a") && !a.describe().contains(&password_of(&base)));
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_broken_connection_is_retried_without_storing_twice() {
    let Some(base) = base() else { return };
    let url = format!("{}&application_name=ih-broken-test", with_history(&base, "broken"));
    let store = PgStore::open(&url).expect("open");
    store.clear().expect("clear");
    store.append_if(None, &[rec(0)]).expect("first");
    // Kill every connection of this store: the next calls meet closed
    // sockets, reconnect, and carry on.
    let mut admin = Client::connect(&base, NoTls).expect("connect");
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'ih-broken-test'",
            &[],
        )
        .expect("terminate")
        .get(0);
    assert!(killed >= 1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(store.append_if(Some(0), &[rec(1)]).expect("reconnects"), AppendOutcome::Appended);
    assert_eq!(store.count().expect("count"), 2);
    assert_eq!(store.load_recent(2).expect("recent"), vec![rec(0), rec(1)]);
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_database_user_who_may_only_read_can_open_a_reader() {
    let Some(base) = base() else { return };
    let Some(db) = FreshDb::new(&base, "reader") else { return };
    let w = PgStore::open(&db.url).expect("writer");
    w.append(&[rec(0), rec(1)]).expect("append");
    let mut owner = Client::connect(&db.url, NoTls).expect("connect");
    let role = format!("ih_reader_{}", std::process::id());
    owner
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD 'read-only-pw'; \
             GRANT SELECT ON ih_schema_version, ih_histories, ih_records TO {role}"
        ))
        .expect("role");
    let (_, rest) = db.url.split_once('@').expect("@");
    let reader_url = format!("postgres://{role}:read-only-pw@{rest}");
    let r = PgStore::open_read_only(&reader_url).expect("a reader needs only SELECT");
    assert_eq!(r.count().expect("count"), 2);
    assert_eq!(r.load_recent(1).expect("recent"), vec![rec(1)]);
    let mut out = Vec::new();
    r.export_jsonl(&mut out).expect("export");
    assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 2);
    let err = PgStore::open(&reader_url).and_then(|s| s.append(&[rec(2)])).expect_err("cannot write");
    assert!(err.to_string().contains("may read but not write"), "{err}");
    drop(r);
    drop(owner);
    drop(db);
    if let Some(mut a) = admin() {
        let _ = a.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
    }
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn compact_rewrites_every_line_as_the_file_store_does_in_one_transaction() {
    use iteration_history::storage::MemDir;
    use iteration_history::{History, ImportMode, Options};

    let Some(base) = base() else { return };
    let store = PgStore::open(&with_history(&base, "compact")).expect("open");
    store.clear().expect("clear");
    // Lines of another tool (no checksum, bare NaN, a BOM, CRLF, blank
    // lines), then a multi-record commit of ours (tagged lines).
    let python = |n: u64| {
        format!(
            "{{\"iteration_num\": {n}, \"strategy_code\": \"x\", \"execution_result\": {{}}, \"metrics\": {{\"s\": NaN}}, \"classification_level\": \"L\", \"timestamp\": \"t\", \"champion_updated\": false}}"
        )
    };
    let input = format!("\u{feff}{}\r\n\n{}\n  \n{}\n\n", python(0), python(1), python(2));
    store.import_jsonl(&mut input.as_bytes(), ImportMode::IntoEmpty, &mut |_| {}).expect("import");
    store.append(&[rec(3), rec(4)]).expect("append");
    let file = History::open(MemDir::new(), "h.jsonl", Options::default()).expect("file store");
    file.import_jsonl(&mut input.as_bytes(), ImportMode::IntoEmpty, &mut |_| {}).expect("import");
    file.save_batch(&[rec(3), rec(4)]).expect("append");
    let records = |s: &dyn Store| s.page(0, 100).expect("page").records;
    let before = records(&store);
    assert_eq!(before, records(&file));
    let mut old = Vec::new();
    store.export_jsonl(&mut old).expect("export");

    let report = store.compact().expect("compact");
    assert_eq!((report.records, report.rewritten), (5, Some(5)));
    assert_eq!(report.bytes_before, old.len() as u64);
    file.compact().expect("compact the file");
    let (mut pg, mut fs) = (Vec::new(), Vec::new());
    store.export_jsonl(&mut pg).expect("export");
    file.export_to_writer(&mut fs).expect("export");
    assert_eq!(pg, fs, "the same canonical lines as a compacted file");
    assert_eq!(report.bytes_after, pg.len() as u64);
    assert!(
        pg.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .all(|l| l.ends_with(b"\"}") && l.windows(6).any(|w| w == b"\"_ih\":"))
    );
    assert_eq!(records(&store), before, "the records do not change");
    assert_eq!((store.count().expect("count"), store.last_iteration_num().expect("last")), (5, Some(4)));
    // The jsonb copies are untouched: still queryable.
    let mut c = Client::connect(&base, NoTls).expect("connect");
    let nan: i64 = c
        .query_one(
            "SELECT count(*) FROM ih_records r JOIN ih_histories h USING (history_id) \
             WHERE h.name = 'pg-compact' AND r.record->'_nonfinite'->>'/metrics/s' = 'NaN'",
            &[],
        )
        .expect("query")
        .get(0);
    assert_eq!(nan, 3);
    // Appends go on as before; compacting again changes nothing.
    store.append_if(Some(4), &[rec(5)]).expect("append after compact");
    assert_eq!(store.compact().expect("again").rewritten, Some(0));
    // A reader cannot compact.
    let reader = PgStore::open_read_only(&with_history(&base, "compact")).expect("reader");
    assert_eq!(reader.compact().expect_err("read-only").code(), "read-only");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn compacting_while_writers_append_loses_nothing() {
    let Some(base) = base() else { return };
    let url = with_history(&base, "compact-busy");
    let store = Arc::new(PgStore::open(&url).expect("open"));
    store.clear().expect("clear");
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut saved = 0;
                while saved < 25 {
                    let last = store.last_iteration_num().expect("last");
                    let mut r = rec(last.map_or(0, |n| n + 1));
                    r.strategy_code = format!("writer {w}");
                    match store.append_if(last, &[r]) {
                        Ok(AppendOutcome::Appended) => saved += 1,
                        Ok(other) => panic!("{other:?}: records of different writers differ"),
                        Err(e) if e.code() == "conflict" => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let mut compactions = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        store.compact().expect("compact");
        compactions += 1;
    }
    for w in writers {
        w.join().expect("writer");
    }
    assert!(compactions > 0);
    let page = store.page(0, 1000).expect("page");
    let nums: Vec<u64> = page.records.iter().map(|r| r.iteration_num).collect();
    assert_eq!(nums, (0..100).collect::<Vec<_>>(), "every save kept, in order, after {compactions} compactions");
    assert_eq!(store.count().expect("count"), 100);
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn libpq_parameters_application_name_and_several_hosts() {
    let Some(base) = base() else { return };
    // A first host that refuses connections: the second one is used.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = free.local_addr().expect("addr").port();
    drop(free);
    let (head, tail) = base.split_once('@').expect("user@host");
    let (hostport, rest) = tail.split_once('/').expect("/db");
    let name = format!("ih-probe-{}", std::process::id());
    let url = format!(
        "{head}@127.0.0.1:{dead},{hostport}/{rest}?history=pg-hosts&application_name={name}&target_session_attrs=read-write&connect_timeout=3"
    );
    let store = PgStore::open(&url).expect("the second host");
    assert!(store.describe().contains(&format!("127.0.0.1:{dead},{hostport}")), "{}", store.describe());
    store.append_next(&[rec(0)]).expect("save");
    let mut c = Client::connect(&base, NoTls).expect("connect");
    let n: i64 = c
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&name])
        .expect("activity")
        .get(0);
    assert!(n >= 1, "the store's connection carries application_name={name}");
    // Only the refusing host: the error names it and says what to do.
    let only_dead = format!("{head}@127.0.0.1:{dead}/{rest}?history=pg-hosts");
    let e = PgStore::open(&only_dead).expect_err("refused").to_string();
    assert!(e.contains(&format!("connection refused by 127.0.0.1:{dead}")), "{e}");
}
