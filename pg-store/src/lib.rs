//! A history of iteration records in PostgreSQL: the same
//! [`Store`] contract as the JSONL file store, for many writer processes on
//! many machines.
//!
//! ```no_run
//! use iteration_history::{IterationRecord, Store};
//! use iteration_history_postgres::PgStore;
//!
//! # fn main() -> Result<(), iteration_history::Error> {
//! let store = PgStore::open("postgres://ih:secret@db.example:5432/runs?history=exp-7")?;
//! // Compare-and-append: iteration N is appended only if the last is N-1.
//! let last = store.last_iteration_num()?;
//! let next = last.map_or(0, |n| n + 1);
//! let mut rec = IterationRecord::new(next, "def strategy(data): ...");
//! rec.classification_level = "LEVEL_1".into();
//! rec.timestamp = "2025-03-01T12:00:00".into();
//! store.append_if(last, &[rec])?; // Err(Conflict) if another writer got there first
//! # Ok(()) }
//! ```
//!
//! # Store URL
//! `postgres://USER[:PASSWORD]@HOST[:PORT][,HOST2[:PORT2]...]/DATABASE[?history=NAME&...]`:
//! one database holds any number of histories, named by `history` (default
//! `default`). Other parameters are libpq's:
//! * TLS: `sslmode` (`disable`, `prefer` (default), `require`, `verify-ca`,
//!   `verify-full`), `sslrootcert`, `sslcert`, `sslkey`; see the table in
//!   [`tls`](crate#tls) below.
//! * `connect_timeout` (seconds; default here: 10), `application_name`
//!   (default here: `iteration-history`), `options=-csearch_path%3Dmyschema`
//!   for another schema, keepalives.
//! * Several hosts (`postgres://h1:5432,h2:5433/db`) are tried in order;
//!   with `target_session_attrs=read-write` only a server that accepts
//!   writes (a primary, not a standby) is used: after a failover, the next
//!   connection finds the promoted standby.
//!
//! Without a password in the URL, `PGPASSWORD` is used. Messages name the
//! store as `postgres://USER@HOST:PORT/DATABASE?history=NAME`, never with
//! the password.
//!
//! # TLS
//! | `sslmode` | TLS | server certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it | no |
//! | `require` | always (refused without) | no; as `verify-ca` when `sslrootcert` is given (as libpq) |
//! | `verify-ca` | always | signed by a CA in `sslrootcert` |
//! | `verify-full` | always | as `verify-ca`, and valid for the host name in the URL |
//!
//! `sslrootcert=FILE`: the CA certificates (PEM) the server's certificate
//! must chain to (default, as libpq: `~/.postgresql/root.crt`);
//! `sslcert=FILE` and `sslkey=FILE`: a client certificate and its key
//! (PEM), for servers that authenticate clients by certificate. Errors say
//! what failed: `unknown CA`, `hostname mismatch`, a server that `does not
//! support TLS` under `require`, a file that cannot be read. TLS is
//! rustls with the *ring* provider.
//!
//! # Schema
//! Created and upgraded by the store itself when it is opened for writing,
//! safely when many writers start at once; see [`schema`] for the tables.
//! One row per record, unique `(history, iteration_num)`; the record is kept
//! as its exact line (for a byte-identical export) and as `jsonb` for
//! queries:
//! ```sql
//! SELECT r.iteration_num, r.record->'metrics'->>'sharpe_ratio'
//! FROM ih_records r JOIN ih_histories h USING (history_id)
//! WHERE h.name = 'exp-7' AND (r.record->>'champion_updated')::boolean
//! ORDER BY r.seq;
//! ```
//!
//! # Durability and concurrency
//! * Every write is one transaction. When [`Store::append`],
//!   [`Store::append_if`], [`Store::clear`] or [`Store::import_jsonl`]
//!   returns `Ok`, PostgreSQL has committed it: with the server's default
//!   `synchronous_commit = on` it is in the write-ahead log on disk and
//!   survives a crash of the server or of the machine. (A server run with
//!   `synchronous_commit = off` or `fsync = off` trades that away.)
//! * Each commit is all-or-nothing; readers never see part of one.
//! * Compare-and-append takes the history's write lock (a
//!   transaction-level advisory lock, see [`schema`]) and checks the last
//!   iteration in the same transaction, so any number of processes on any number of machines can
//!   append to one history: exactly one of two writers racing for iteration
//!   N wins; the other gets [`Error::Conflict`] with the actual last
//!   iteration.
//! * [`Store::append_next`] lets the store number the records: one
//!   statement (`ih_append_next`, one round trip and one commit) takes the
//!   history's write lock, gives the records the last iteration + 1, ...,
//!   and inserts them; many writers on one history never conflict and
//!   leave no gap. It is not retried after a broken connection (a retry
//!   could store the records twice, under other numbers): the error is
//!   then [`BackendErrorKind::OutcomeUnknown`].
//! * Iteration numbers are unique per history: a record whose
//!   `iteration_num` is already stored is refused
//!   ([`BackendErrorKind::Duplicate`]), so a retry never stores a record
//!   twice. If the connection breaks during a commit, `append_if` retries
//!   once on a new connection by itself (it is idempotent: a commit that
//!   did go through is found, at the end of the history or, if another
//!   writer appended after it meanwhile, under its iteration numbers, and
//!   reported as [`AppendOutcome::AlreadyPresent`]); if no connection can
//!   be made or the retry fails too, the error is
//!   [`BackendErrorKind::OutcomeUnknown`] and a later retry is just as safe,
//!   except that a later retry that meets a conflict cannot tell whether
//!   the first attempt was stored: look for the record before saving it
//!   again (the failover test does).
//! * Readers take no lock. `count` and `last_iteration_num` read one row;
//!   `load_recent(n)` reads `n` rows by index: none depends on the
//!   history's length.
//!
//! Differences from the file store: a duplicate `iteration_num` is refused
//! (the file store keeps it); blank lines of an imported file are kept for
//! the export but are not records anywhere.

mod errors;
mod lines;
mod pool;
pub mod schema;
mod tls;
mod url;

use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use iteration_history::verify_export;
use iteration_history::{AppendOutcome, BackendErrorKind, Error, IterationRecord, Page, Result, Store};
use iteration_history::{ImportMode, ImportReport, JsonlReader};
use postgres::error::SqlState;
use postgres::{Statement, Transaction};

use pool::{Conn, Pool};
use url::StoreUrl;
pub use url::{DEFAULT_HISTORY, is_postgres_url, redact};

const SQL_APPEND: &str = "SELECT o_appended, o_present, o_last FROM ih_append($1, $2, $3, $4, $5, $6)";
const SQL_APPEND_NEXT: &str = "CALL ih_append_next($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)";
const SQL_LOCK: &str = schema::SQL_WRITE_LOCK;
const SQL_ROW: &str = "SELECT record_count, last_iteration, trailer FROM ih_histories WHERE history_id = $1";
const SQL_INSERT: &str = "INSERT INTO ih_records (history_id, seq, iteration_num, line, record) \
     SELECT $1, t.seq, t.iteration_num, t.line, coalesce(t.json, t.line)::jsonb - '_ih' \
     FROM unnest($2::int8[], $3::int8[], $4::text[], $5::text[]) AS t(seq, iteration_num, line, json)";
const SQL_SET: &str =
    "UPDATE ih_histories SET record_count = $2, last_iteration = $3, trailer = $4 WHERE history_id = $1";
const SQL_HEAD: &str = "SELECT record_count, last_iteration FROM ih_histories WHERE history_id = $1";
const SQL_TAIL: &str = "SELECT seq, line FROM ih_records WHERE history_id = $1 ORDER BY seq DESC LIMIT $2";
const SQL_PAGE: &str = "SELECT h.record_count, r.seq, r.line FROM ih_histories h LEFT JOIN LATERAL \
     (SELECT seq, line FROM ih_records WHERE history_id = h.history_id AND seq > $2 ORDER BY seq LIMIT $3) r ON true \
     WHERE h.history_id = $1 ORDER BY r.seq";
const SQL_DELETE: &str = "DELETE FROM ih_records WHERE history_id = $1";
const SQL_EXPORT: &str = "SELECT line FROM ih_records WHERE history_id = $1 ORDER BY seq";
const SQL_TRAILER: &str = "SELECT trailer FROM ih_histories WHERE history_id = $1";
const SQL_LINES: &str = "SELECT seq, line FROM ih_records WHERE history_id = $1 ORDER BY seq";
const SQL_REWRITE: &str = "UPDATE ih_records r SET line = t.line \
     FROM unnest($2::int8[], $3::text[]) AS t(seq, line) WHERE r.history_id = $1 AND r.seq = t.seq";
const SQL_FIND_DUP: &str = "SELECT iteration_num FROM ih_records WHERE history_id = $1 AND iteration_num = ANY($2) \
     ORDER BY seq LIMIT 1";
const SQL_LINES_OF: &str =
    "SELECT iteration_num, line FROM ih_records WHERE history_id = $1 AND iteration_num = ANY($2)";
const SQL_FIND_HISTORY: &str = "SELECT history_id FROM ih_histories WHERE name = $1";
const SQL_CREATE_HISTORY: &str = "INSERT INTO ih_histories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";

/// Rows sent per statement by an import, and read per round trip by an
/// export.
const BATCH: usize = 1000;

/// A history stored in PostgreSQL (see the [crate docs](crate)).
///
/// `Send + Sync`: share it between threads; each operation uses a
/// connection of its own (up to 8 idle ones are kept for reuse).
pub struct PgStore {
    url: StoreUrl,
    pool: Pool,
    writable: bool,
    /// The history's row id, once it exists.
    history_id: OnceLock<i64>,
    schema_version: i32,
    /// [`Store::append_next`]'s guess of the next number (`u64::MAX`: none
    /// yet) and the width of its window of candidate numbers.
    next_guess: AtomicU64,
    next_window: AtomicU64,
    /// Attempts of `append_next` whose window missed the number (each a
    /// round trip that wrote nothing).
    next_misses: AtomicU64,
    /// Consecutive `append_next` saves of this store that found no other
    /// writer's save since its previous one.
    next_alone: AtomicU64,
    /// `append_next` calls of this store in progress (threads sharing it).
    next_in_flight: AtomicU64,
}

/// After this many consecutive saves that met no other writer,
/// `append_next` commits in one synchronous transaction (see [`schema`],
/// version 3) rather than two.
const ALONE_AFTER: u64 = 4;

/// Widest window of candidate numbers `append_next` sends.
const MAX_WINDOW: u64 = 256;

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("store", &self.url.display)
            .field("writable", &self.writable)
            .field("schema_version", &self.schema_version)
            .finish()
    }
}

/// What [`Store::compact`] did (the core's report, named here for the
/// callers of earlier versions).
pub use iteration_history::CompactReport;

/// What a write expects of the history.
#[derive(Clone, Copy)]
enum Expect {
    /// Plain append.
    Any,
    /// Compare-and-append.
    Last(Option<u64>),
}

/// How a failed write ended.
enum WriteError {
    /// Failed before COMMIT was sent: nothing was committed.
    Before(postgres::Error),
    /// COMMIT was sent and failed or its answer was lost.
    Commit(postgres::Error),
    /// Our own error (conflict, duplicate, ...).
    Store(Error),
}

impl From<postgres::Error> for WriteError {
    fn from(e: postgres::Error) -> Self {
        WriteError::Before(e)
    }
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Store(e)
    }
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "none (empty history)".to_string(), |n| n.to_string())
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|n| u64::try_from(n).ok())
}

impl PgStore {
    fn new(url: StoreUrl, pool: Pool, schema_version: i32) -> PgStore {
        PgStore {
            url,
            pool,
            writable: false,
            history_id: OnceLock::new(),
            schema_version,
            next_guess: AtomicU64::new(u64::MAX),
            next_window: AtomicU64::new(1),
            next_misses: AtomicU64::new(0),
            next_alone: AtomicU64::new(0),
            next_in_flight: AtomicU64::new(0),
        }
    }

    /// How many times [`Store::append_next`] sent a window of candidate
    /// numbers that missed the next number (because other writers appended
    /// meanwhile) and tried again: each such attempt is one round trip that
    /// wrote nothing. Not conflicts: the caller never sees them.
    pub fn append_next_retries(&self) -> u64 {
        self.next_misses.load(Ordering::Relaxed)
    }

    /// Connects to `url` for reading and writing: creates or upgrades the
    /// tables if needed (see [`schema`]) and the history if it does not
    /// exist.
    ///
    /// # Errors
    /// [`Error::Backend`] naming the server and database (never the
    /// password): [`BackendErrorKind::Unreachable`] (connection refused,
    /// unknown host, timeout), [`BackendErrorKind::Authentication`] (wrong
    /// password, unknown user, no password given), [`BackendErrorKind::NotFound`]
    /// (no such database), [`BackendErrorKind::Corrupt`] (a schema newer
    /// than this program), [`BackendErrorKind::Other`] (an invalid URL).
    pub fn open(url: &str) -> Result<PgStore> {
        let url = StoreUrl::parse(url)?;
        let pool = Pool::new(url.clone());
        let mut conn = pool.connect()?;
        check_encoding(&url, &mut conn)?;
        let version =
            schema::migrate(&mut conn.client).map_err(|e| errors::query(&url, "creating the tables", &e, false))?;
        check_version(&url, version)?;
        conn.client
            .execute(SQL_CREATE_HISTORY, &[&url.history])
            .map_err(|e| errors::query(&url, "creating the history", &e, false))?;
        let id: i64 = conn
            .client
            .query_one(SQL_FIND_HISTORY, &[&url.history])
            .map_err(|e| errors::query(&url, "looking up the history", &e, false))?
            .get(0);
        pool.put(conn);
        let history_id = OnceLock::new();
        let _ = history_id.set(id);
        Ok(PgStore { writable: true, history_id, ..PgStore::new(url, pool, version) })
    }

    /// Connects to `url` for reading only: creates nothing (a database
    /// without the tables, or without this history, reads as an empty
    /// history) and works for a user allowed only to read. Writes fail with
    /// [`Error::ReadOnly`].
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_read_only(url: &str) -> Result<PgStore> {
        let url = StoreUrl::parse(url)?;
        let pool = Pool::new(url.clone());
        let mut conn = pool.connect()?;
        let found =
            schema::current(&mut conn.client).map_err(|e| errors::query(&url, "reading the schema", &e, false))?;
        let version = match found {
            schema::Found::None => 0,
            schema::Found::Version(v) => v,
        };
        check_version(&url, version)?;
        pool.put(conn);
        let store = PgStore::new(url, pool, version);
        store.history_id()?;
        Ok(store)
    }

    /// The history's name within the database.
    pub fn history_name(&self) -> &str {
        &self.url.history
    }

    /// The schema version found (0: no tables yet, read-only stores only).
    pub fn schema_version(&self) -> i32 {
        self.schema_version
    }

    /// Whether this store can write.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The history's row id, if the history exists.
    fn history_id(&self) -> Result<Option<i64>> {
        if let Some(id) = self.history_id.get() {
            return Ok(Some(*id));
        }
        if self.schema_version == 0 && !self.tables_exist()? {
            return Ok(None);
        }
        let id = self.read("looking up the history", |c| {
            let st = c.prepare(SQL_FIND_HISTORY)?;
            Ok(c.client.query_opt(&st, &[&self.url.history])?.map(|r| r.get::<_, i64>(0)))
        })?;
        if let Some(id) = id {
            let _ = self.history_id.set(id);
        }
        Ok(id)
    }

    fn tables_exist(&self) -> Result<bool> {
        let found = self.read("reading the schema", |c| schema::current(&mut c.client))?;
        Ok(matches!(found, schema::Found::Version(_)))
    }

    fn writer(&self, op: &'static str) -> Result<i64> {
        if !self.writable {
            return Err(Error::ReadOnly { file: self.url.display.clone(), op });
        }
        self.history_id.get().copied().ok_or_else(|| Error::ReadOnly { file: self.url.display.clone(), op })
    }

    /// Runs a read, retrying once on a new connection if a reused one
    /// turned out to be broken (e.g. the server restarted).
    fn read<T>(&self, op: &str, mut f: impl FnMut(&mut Conn) -> Result<T, postgres::Error>) -> Result<T> {
        loop {
            let mut c = self.pool.get()?;
            match f(&mut c) {
                Ok(v) => {
                    self.pool.put(c);
                    return Ok(v);
                }
                Err(e) if c.reused && errors::is_connection_lost(&e) => continue,
                Err(e) => {
                    self.pool.put(c);
                    return Err(errors::query(&self.url, op, &e, false));
                }
            }
        }
    }

    /// A connection for another attempt; if none can be opened after an
    /// attempt that may have been committed (`uncertain`), the outcome is
    /// unknown, not merely "unreachable".
    fn reconnect(&self, op: &str, uncertain: bool) -> Result<Conn> {
        match self.pool.get() {
            Ok(c) => Ok(c),
            Err(Error::Backend { message, .. }) if uncertain => Err(Error::Backend {
                store: self.url.display.clone(),
                kind: BackendErrorKind::OutcomeUnknown,
                message: format!(
                    "the connection broke while {op}, and no new connection could be opened to find out whether the write was committed ({message}): it may or may not have been; a retry of a compare-and-append (append_if) is safe, it never stores a record twice"
                ),
            }),
            Err(e) => Err(e),
        }
    }

    /// Runs a write transaction with the statements `sqls` prepared. A
    /// connection that broke before COMMIT was sent is retried on a new
    /// connection (nothing was committed); one that broke during COMMIT is
    /// retried once only if `idempotent`.
    fn write<T, const N: usize>(
        &self,
        op: &str,
        idempotent: bool,
        sqls: [&'static str; N],
        mut f: impl FnMut(&mut Transaction<'_>, &[Statement; N]) -> Result<T, WriteError>,
    ) -> Result<T> {
        let mut retried = false;
        let mut uncertain = false;
        loop {
            let mut c = self.reconnect(op, uncertain)?;
            let result = (|| {
                let mut stmts = Vec::with_capacity(N);
                for sql in sqls {
                    stmts.push(c.prepare(sql)?);
                }
                let stmts: [Statement; N] = stmts.try_into().map_err(|_| {
                    WriteError::Store(Error::Backend {
                        store: self.url.display.clone(),
                        kind: BackendErrorKind::Other,
                        message: "internal error: statements not prepared".into(),
                    })
                })?;
                let mut tx = c.client.transaction()?;
                let v = f(&mut tx, &stmts)?;
                tx.commit().map_err(WriteError::Commit)?;
                Ok(v)
            })();
            let lost = |e: &postgres::Error| errors::is_connection_lost(e);
            match result {
                Ok(v) => {
                    self.pool.put(c);
                    return Ok(v);
                }
                Err(WriteError::Store(e)) => {
                    self.pool.put(c);
                    return Err(e);
                }
                Err(WriteError::Before(e)) if lost(&e) && (c.reused || !retried) => retried |= !c.reused,
                Err(WriteError::Before(e)) => {
                    self.pool.put(c);
                    return Err(errors::query(&self.url, op, &e, false));
                }
                Err(WriteError::Commit(e)) if lost(&e) && idempotent && !retried => {
                    retried = true;
                    uncertain = true;
                }
                Err(WriteError::Commit(e)) => return Err(errors::query(&self.url, op, &e, true)),
            }
        }
    }

    /// Runs one statement on its own (autocommit). If the connection
    /// breaks, the statement may or may not have been committed: it is run
    /// again once on a new connection, which is safe because every write run
    /// this way is idempotent (see [`append_records`](Self::append_records)).
    /// Returns the value and whether an earlier attempt broke after the
    /// statement was sent (it may have been committed).
    fn call<T>(&self, op: &str, mut f: impl FnMut(&mut Conn) -> Result<T, postgres::Error>) -> Result<(T, bool)> {
        let mut retried = false;
        // A statement was sent on a connection that broke: it may have
        // been committed.
        let mut uncertain = false;
        loop {
            let mut c = self.reconnect(op, uncertain)?;
            match f(&mut c) {
                Ok(v) => {
                    self.pool.put(c);
                    return Ok((v, uncertain));
                }
                Err(e) if errors::is_connection_lost(&e) && (c.reused || !retried) => {
                    retried |= !c.reused;
                    uncertain = true;
                }
                Err(e) => {
                    self.pool.put(c);
                    return Err(errors::query(&self.url, op, &e, true));
                }
            }
        }
    }

    /// Appends through `ih_append` (one round trip; see [`schema`]).
    ///
    /// Idempotent, so it is retried after a broken connection: a
    /// compare-and-append whose first attempt was committed finds its own
    /// records at the end ([`AppendOutcome::AlreadyPresent`]; the records
    /// are compared as the lines our encoder writes for them, which are the
    /// same for the same records); so does a plain append, whose records'
    /// iteration numbers are then already stored.
    fn append_records(&self, expect: Expect, records: &[IterationRecord]) -> Result<AppendOutcome> {
        let id = self.writer("save")?;
        let store = &self.url.display;
        let encoded = lines::encode_commit(store, records)?;
        let mut seen = HashSet::with_capacity(records.len());
        if let Some(r) = records.iter().find(|r| !seen.insert(r.iteration_num)) {
            return Err(duplicate(store, r.iteration_num, "the batch holds it twice"));
        }
        let nums: Vec<i64> = records.iter().map(|r| r.iteration_num as i64).collect();
        let jsons: Vec<Option<String>> =
            encoded.iter().zip(records).map(|(l, r)| lines::jsonb_text(l, r, true)).collect();
        let (check, expected) = match expect {
            Expect::Any => (false, None),
            Expect::Last(e) => (true, e.map(|n| n as i64)),
        };
        let mut unique_violation = false;
        let mut missing = false;
        let result = self.call("saving", |c| {
            let st = c.prepare(SQL_APPEND)?;
            match c.client.query_one(&st, &[&id, &check, &expected, &nums, &encoded, &jsons]) {
                Ok(row) => Ok(Some((row.get::<_, bool>(0), row.get::<_, bool>(1), to_u64(row.get(2))))),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    unique_violation = true;
                    Ok(None)
                }
                Err(e) if e.code() == Some(&SqlState::NO_DATA_FOUND) => {
                    missing = true;
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })?;
        let (result, uncertain) = result;
        let (appended, present, last) = match result {
            Some(r) => r,
            None if missing => return Err(self.missing_row()),
            None => {
                debug_assert!(unique_violation);
                return self.explain_duplicate(expect, id, records, &nums);
            }
        };
        if appended {
            return Ok(AppendOutcome::Appended);
        }
        if present {
            return Ok(AppendOutcome::AlreadyPresent);
        }
        // Our first attempt may have been committed, and another writer
        // appended after it: then our records are stored under their
        // numbers, just not at the end.
        if uncertain && self.stored_at_their_numbers(id, &nums, &encoded)? {
            return Ok(AppendOutcome::AlreadyPresent);
        }
        Err(Error::Conflict { file: store.clone(), expected: show(expected.map(|n| n as u64)), actual: show(last) })
    }

    /// [`Store::append_next`] through `ih_append_next` (one round trip and
    /// one commit; see [`schema`]). The window of candidate first numbers
    /// starts at the number after the last this store saw and adapts to
    /// how far other writers moved the history between two saves.
    fn append_numbered(&self, records: &[IterationRecord]) -> Result<std::ops::Range<u64>> {
        let id = self.writer("save")?;
        let store = &self.url.display;
        let n = records.len() as u64;
        let mut guess = match self.next_guess.load(Ordering::Relaxed) {
            u64::MAX => self.last_iteration_num()?.map_or(0, |l| l + 1),
            g => g,
        };
        let mut window = self.next_window.load(Ordering::Relaxed).clamp(1, MAX_WINDOW);
        // Another thread's save through this store would not show as a jump.
        struct InFlight<'a>(&'a AtomicU64);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let others = self.next_in_flight.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight(&self.next_in_flight);
        if others > 0 {
            self.next_alone.store(0, Ordering::Relaxed);
        }
        let alone = others == 0 && self.next_alone.load(Ordering::Relaxed) >= ALONE_AFTER;
        for _ in 0..1000 {
            let c = lines::encode_next(store, records, guess, window)?;
            let row = self.once(|conn| {
                let st = conn.prepare(SQL_APPEND_NEXT)?;
                conn.client.query_one(
                    &st,
                    &[&id, &(guess as i64), &(window as i32), &alone, &c.heads, &c.rests, &c.tails, &c.jsons],
                )
            })?;
            let row = match row {
                Ok(r) => r,
                Err(e) if e.code() == Some(&SqlState::NO_DATA_FOUND) => return Err(self.missing_row()),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Err(Error::Backend {
                        store: store.clone(),
                        kind: BackendErrorKind::Corrupt,
                        message: format!(
                            "the history's last iteration in ih_histories is behind its rows ({}); it was changed by another program: nothing was written",
                            errors::detail(&e)
                        ),
                    });
                }
                Err(e) => return Err(errors::query(&self.url, "saving", &e, true)),
            };
            let (first, last): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
            match to_u64(first) {
                Some(first) => {
                    // A window that misses costs a round trip and a call
                    // that writes nothing; a candidate costs a checksum and
                    // 23 bytes. So the window is kept at 4x the last jump
                    // (others' saves since ours) plus a margin, and
                    // shrinks slowly (by 1/8 per save) after a larger one.
                    let jump = first.saturating_sub(guess);
                    if jump == 0 {
                        self.next_alone.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.next_alone.store(0, Ordering::Relaxed);
                    }
                    let wanted = if jump == 0 { 1 } else { 4 * jump + 8 };
                    let next_window = (window - window / 8).max(wanted).clamp(1, MAX_WINDOW);
                    self.next_window.store(next_window, Ordering::Relaxed);
                    self.next_guess.store(first + n, Ordering::Relaxed);
                    return Ok(first..first + n);
                }
                None => {
                    self.next_misses.fetch_add(1, Ordering::Relaxed);
                    self.next_alone.store(0, Ordering::Relaxed);
                    guess = to_u64(last).map_or(0, |l| l + 1);
                    window = (window * 2).clamp(1, MAX_WINDOW);
                }
            }
        }
        Err(Error::Backend {
            store: store.clone(),
            kind: BackendErrorKind::Other,
            message: "1000 attempts of a numbered append each found that other writers had moved the history on by more than 256 iterations; nothing was written".into(),
        })
    }

    /// Runs one statement on its own (autocommit), without retrying: for a
    /// write that is not idempotent. The outer error: no connection could be
    /// opened (nothing was sent).
    fn once<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> Result<T, postgres::Error>,
    ) -> Result<Result<T, postgres::Error>> {
        let mut c = self.pool.get()?;
        let r = f(&mut c);
        self.pool.put(c);
        Ok(r)
    }

    /// Whether the rows with iteration numbers `nums` hold exactly `lines`
    /// (a line may follow blank lines kept before it).
    fn stored_at_their_numbers(&self, id: i64, nums: &[i64], lines: &[String]) -> Result<bool> {
        if nums.is_empty() {
            return Ok(false);
        }
        let rows = self.read("looking for a save whose outcome was unknown", |c| {
            let st = c.prepare(SQL_LINES_OF)?;
            c.client.query(&st, &[&id, &nums])
        })?;
        let found: std::collections::HashMap<i64, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(nums.iter().zip(lines).all(|(n, l)| found.get(n).is_some_and(|stored| stored.ends_with(l.as_str()))))
    }

    /// After a unique violation (the transaction is rolled back): a plain
    /// append whose records already end the history was a retry; otherwise
    /// name the iteration already stored.
    fn explain_duplicate(
        &self,
        expect: Expect,
        id: i64,
        records: &[IterationRecord],
        nums: &[i64],
    ) -> Result<AppendOutcome> {
        let store = &self.url.display;
        if matches!(expect, Expect::Any) && self.load_recent(records.len())? == records {
            return Ok(AppendOutcome::AlreadyPresent);
        }
        let dup = self.read("looking for the duplicate", |c| {
            let st = c.prepare(SQL_FIND_DUP)?;
            Ok(c.client.query_opt(&st, &[&id, &nums])?.map(|r| r.get::<_, i64>(0)))
        })?;
        let n = dup.map_or(records[0].iteration_num, |n| n as u64);
        Err(duplicate(store, n, "it is already stored"))
    }

    fn missing_row(&self) -> Error {
        Error::Backend {
            store: self.url.display.clone(),
            kind: BackendErrorKind::Corrupt,
            message: "the history's row in ih_histories is gone (deleted by another program): reopen the store to create the history again".into(),
        }
    }
}

fn duplicate(store: &str, n: u64, why: &str) -> Error {
    Error::Backend {
        store: store.to_string(),
        kind: BackendErrorKind::Duplicate,
        message: format!(
            "iteration {n} cannot be saved: {why}, and iteration numbers are unique in a PostgreSQL history; nothing was written"
        ),
    }
}

fn check_version(url: &StoreUrl, version: i32) -> Result<()> {
    if version > schema::LATEST {
        return Err(Error::Backend {
            store: url.display.clone(),
            kind: BackendErrorKind::Corrupt,
            message: format!(
                "the database's history tables have schema version {version}, newer than this program's ({}): use a newer iteration-history",
                schema::LATEST
            ),
        });
    }
    Ok(())
}

/// Text columns must hold any Unicode: refuse a database that cannot.
fn check_encoding(url: &StoreUrl, conn: &mut Conn) -> Result<()> {
    let enc: String = conn
        .client
        .query_one("SELECT current_setting('server_encoding')", &[])
        .map_err(|e| errors::query(url, "reading the server encoding", &e, false))?
        .get(0);
    if enc != "UTF8" && enc != "SQL_ASCII" {
        return Err(Error::Backend {
            store: url.display.clone(),
            kind: BackendErrorKind::Other,
            message: format!(
                "database {:?} uses the encoding {enc}, which cannot hold every record: create the database with ENCODING 'UTF8'",
                url.dbname
            ),
        });
    }
    Ok(())
}

impl Store for PgStore {
    fn describe(&self) -> String {
        self.url.display.clone()
    }

    fn append(&self, records: &[IterationRecord]) -> Result<()> {
        self.append_records(Expect::Any, records).map(|_| ())
    }

    fn append_if(&self, expected_last: Option<u64>, records: &[IterationRecord]) -> Result<AppendOutcome> {
        self.append_records(Expect::Last(expected_last), records)
    }

    fn append_next(&self, records: &[IterationRecord]) -> Result<std::ops::Range<u64>> {
        self.append_numbered(records)
    }

    fn load_recent(&self, n: usize) -> Result<Vec<IterationRecord>> {
        let Some(id) = self.history_id()? else { return Ok(Vec::new()) };
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        let rows = self.read("reading recent records", |c| {
            let st = c.prepare(SQL_TAIL)?;
            c.client.query(&st, &[&id, &limit])
        })?;
        let mut out = rows
            .iter()
            .map(|r| lines::decode_row(&self.url.display, r.get(0), r.get(1)))
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    fn last_iteration_num(&self) -> Result<Option<u64>> {
        let Some(id) = self.history_id()? else { return Ok(None) };
        let row = self.read("reading the last iteration", |c| {
            let st = c.prepare(SQL_HEAD)?;
            c.client.query_opt(&st, &[&id])
        })?;
        Ok(row.and_then(|r| to_u64(r.get(1))))
    }

    fn count(&self) -> Result<u64> {
        let Some(id) = self.history_id()? else { return Ok(0) };
        let row = self.read("counting records", |c| {
            let st = c.prepare(SQL_HEAD)?;
            c.client.query_opt(&st, &[&id])
        })?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    /// Cursors are record positions: 0 for the start, then the position of
    /// the last record of the previous page. Stable while the history only
    /// grows.
    fn page(&self, cursor: u64, limit: usize) -> Result<Page> {
        let invalid = || Error::InvalidCursor { file: self.url.display.clone(), cursor };
        let Some(id) = self.history_id()? else {
            return if cursor == 0 { Ok(Page::new(Vec::new(), None)) } else { Err(invalid()) };
        };
        let after = i64::try_from(cursor).map_err(|_| invalid())?;
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1).saturating_add(1);
        let rows = self.read("reading a page", |c| {
            let st = c.prepare(SQL_PAGE)?;
            c.client.query(&st, &[&id, &after, &fetch])
        })?;
        let count: i64 = rows.first().map_or(0, |r| r.get(0));
        if after > count {
            return Err(invalid());
        }
        let mut records = Vec::with_capacity(limit.min(rows.len()));
        let mut last_seq = after;
        let mut more = false;
        for r in &rows {
            let Some(seq) = r.get::<_, Option<i64>>(1) else { continue };
            if records.len() == limit {
                more = true;
                break;
            }
            let line: String = r.get(2);
            records.push(lines::decode_row(&self.url.display, seq, &line)?);
            last_seq = seq;
        }
        Ok(Page::new(records, more.then_some(last_seq as u64)))
    }

    fn clear(&self) -> Result<()> {
        let id = self.writer("clear")?;
        self.write("clearing", true, [SQL_LOCK, SQL_ROW, SQL_DELETE, SQL_SET], |tx, [lock, row, delete, set]| {
            tx.execute(lock, &[&id])?;
            tx.query_opt(row, &[&id])?.ok_or_else(|| self.missing_row())?;
            tx.execute(delete, &[&id])?;
            tx.execute(set, &[&id, &0i64, &None::<i64>, &""])?;
            Ok(())
        })
    }

    fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64> {
        let Some(id) = self.history_id()? else { return Ok(0) };
        let write_err = |e: std::io::Error| Error::Io {
            file: "output".into(),
            op: "writing the export",
            source: std::sync::Arc::new(e),
        };
        let mut c = self.pool.get()?;
        let result = (|| -> Result<u64, WriteError> {
            let mut tx = c
                .client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let trailer: String =
                tx.query_opt(SQL_TRAILER, &[&id])?.map_or_else(String::new, |r| r.get::<_, String>(0));
            let portal = tx.bind(SQL_EXPORT, &[&id])?;
            let mut written = 0u64;
            loop {
                let rows = tx.query_portal(&portal, BATCH as i32)?;
                for r in &rows {
                    let line: &str = r.get(0);
                    out.write_all(line.as_bytes()).map_err(write_err)?;
                    written += line.len() as u64;
                }
                if rows.len() < BATCH {
                    break;
                }
            }
            out.write_all(trailer.as_bytes()).map_err(write_err)?;
            written += trailer.len() as u64;
            tx.commit()?;
            Ok(written)
        })();
        match result {
            Ok(n) => {
                self.pool.put(c);
                Ok(n)
            }
            Err(WriteError::Store(e)) => Err(e),
            Err(WriteError::Before(e) | WriteError::Commit(e)) => Err(errors::query(&self.url, "exporting", &e, false)),
        }
    }

    /// Verifies through the export ([`verify_export`]): every row's line
    /// gets the file format's rules, and the counters in `ih_histories` are
    /// compared with the rows. Line numbers and byte offsets are those of
    /// the JSONL export. A PostgreSQL history has no torn tail (each commit
    /// is a transaction): any damage is a row changed by another program,
    /// which [`Store::repair`] reports rather than repairs (repair it
    /// through a file: export, repair the file, import it back).
    fn verify(&self) -> Result<iteration_history::VerifyReport> {
        verify_export(self)
    }

    /// Rewrites every record's line in the canonical form, as
    /// [`History::compact`](iteration_history::History::compact) does for a
    /// file (see [`Store::compact`]): lines written by other tools (imported from the original
    /// Python module) get a checksum; blank lines, a BOM, `\r` and the tags
    /// of multi-record commits are dropped. The records themselves (and
    /// their `jsonb` copies) do not change.
    ///
    /// One transaction under the history's write lock: writers wait for it,
    /// readers see the history as it was before or after, never in between;
    /// a crash leaves it as it was. Compacting a compact history changes
    /// nothing.
    ///
    /// A retried [`append_if`](Store::append_if) of several records whose
    /// first attempt was committed before a compaction no longer finds its
    /// lines as written (their batch tags are gone) and reports
    /// [`Error::Conflict`] naming its own last iteration, rather than
    /// [`AppendOutcome::AlreadyPresent`]; single-record saves are not
    /// affected (their lines are already canonical).
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`BackendErrorKind::Corrupt`] for a row that is
    /// not a valid record (changed by another program: nothing is
    /// rewritten); connection errors (nothing is rewritten).
    fn compact(&self) -> Result<CompactReport> {
        let id = self.writer("compact")?;
        let store = &self.url.display;
        self.write(
            "compacting",
            true,
            [SQL_LOCK, SQL_ROW, SQL_LINES, SQL_REWRITE, SQL_SET],
            |tx, [lock, row, read, rewrite, set]| {
                tx.execute(lock, &[&id])?;
                let head = tx.query_opt(row, &[&id])?.ok_or_else(|| self.missing_row())?;
                let (count, last, trailer): (i64, Option<i64>, String) = (head.get(0), head.get(1), head.get(2));
                let mut report = CompactReport::default();
                report.records = u64::try_from(count).unwrap_or(0);
                report.bytes_before = trailer.len() as u64;
                let mut rewritten = 0u64;
                let portal = tx.bind(read, &[&id])?;
                loop {
                    let rows = tx.query_portal(&portal, BATCH as i32)?;
                    let (mut seqs, mut texts) = (Vec::new(), Vec::new());
                    for r in &rows {
                        let (seq, line): (i64, &str) = (r.get(0), r.get(1));
                        report.bytes_before += line.len() as u64;
                        let rec = lines::decode_row(store, seq, line)?;
                        let canonical = lines::canonical_line(store, seq, &rec)?;
                        report.bytes_after += canonical.len() as u64;
                        if canonical != line {
                            seqs.push(seq);
                            texts.push(canonical);
                        }
                    }
                    if !seqs.is_empty() {
                        tx.execute(rewrite, &[&id, &seqs, &texts])?;
                        rewritten += seqs.len() as u64;
                    }
                    if rows.len() < BATCH {
                        break;
                    }
                }
                tx.execute(set, &[&id, &count, &last, &""])?;
                report.rewritten = Some(rewritten);
                Ok(report)
            },
        )
    }

    fn import_jsonl(
        &self,
        input: &mut dyn BufRead,
        mode: ImportMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport> {
        let id = self.writer("import")?;
        let store = &self.url.display;
        // The input can be read only once: no automatic retry.
        let mut input = Some(input);
        self.write("importing", false, [SQL_LOCK, SQL_ROW, SQL_DELETE, SQL_INSERT, SQL_SET], |tx, [lock, row, delete, insert, set]| {
            let Some(input) = input.take() else {
                return Err(WriteError::Store(Error::Backend {
                    store: store.clone(),
                    kind: BackendErrorKind::Unreachable,
                    message: "the connection broke during the import; nothing was imported: retry".into(),
                }));
            };
            tx.execute(lock, &[&id])?;
            let head = tx.query_opt(row, &[&id])?.ok_or_else(|| self.missing_row())?;
            let (count, last): (i64, Option<i64>) = (head.get(0), head.get(1));
            if mode == ImportMode::IntoEmpty && count > 0 {
                return Err(WriteError::Store(Error::Conflict {
                    file: store.clone(),
                    expected: show(None),
                    actual: show(to_u64(last)),
                }));
            }
            let (trailer_before, mut seq) = if mode == ImportMode::Append {
                (head.get::<_, String>(2), count)
            } else {
                tx.execute(delete, &[&id])?;
                (String::new(), 0i64)
            };
            // Appended after records or blank lines, the input's BOM is
            // dropped (it belongs only at the start of a file).
            let after = seq > 0 || !trailer_before.is_empty();
            // The bytes before the input's first record (or its trailer).
            let mut before = Some(trailer_before.clone());
            let mut lead = |text: &str| -> String {
                before.take().map_or_else(
                    || text.to_string(),
                    |b| b + if after { text.strip_prefix('\u{feff}').unwrap_or(text) } else { text },
                )
            };
            let mut reader = JsonlReader::new(input, "input");
            let mut first_line = std::collections::HashMap::new();
            let (mut seqs, mut nums, mut texts, mut jsons) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            loop {
                let next = reader.next_record()?;
                if let Some(rec) = &next {
                    let n = rec.record.iteration_num;
                    if let Some(prev) = first_line.insert(n, rec.line) {
                        return Err(WriteError::Store(Error::Backend {
                            store: store.clone(),
                            kind: BackendErrorKind::Duplicate,
                            message: format!(
                                "input line {}: iteration {n} is already on line {prev}; iteration numbers are unique in a PostgreSQL history; nothing was imported",
                                rec.line
                            ),
                        }));
                    }
                    let text = std::str::from_utf8(&rec.raw).map(&mut lead).map_err(|_| Error::Backend {
                        store: store.clone(),
                        kind: BackendErrorKind::Other,
                        message: format!("input line {} is not UTF-8; nothing was imported", rec.line),
                    })?;
                    seq += 1;
                    let line = std::str::from_utf8(rec.line_bytes()).unwrap_or("");
                    jsons.push(lines::jsonb_text(line, &rec.record, false));
                    seqs.push(seq);
                    nums.push(n as i64);
                    texts.push(text);
                }
                if seqs.len() >= BATCH || (next.is_none() && !seqs.is_empty()) {
                    tx.execute(insert, &[&id, &seqs, &nums, &texts, &jsons])?;
                    seqs.clear();
                    nums.clear();
                    texts.clear();
                    jsons.clear();
                    progress(reader.records());
                }
                if next.is_none() {
                    break;
                }
            }
            let trailer = lead(std::str::from_utf8(reader.trailer()).unwrap_or_default());
            let mut report = reader.finish()?;
            let last = report.last_iteration_num.map(|n| n as i64).or(if mode == ImportMode::Append { last } else { None });
            tx.execute(set, &[&id, &seq, &last, &trailer])?;
            if mode == ImportMode::Append {
                // What the history holds now, as the file store reports it.
                let held: i64 = tx.query_one(
                    "SELECT coalesce(sum(octet_length(line)), 0)::int8 FROM ih_records WHERE history_id = $1",
                    &[&id],
                )?.get(0);
                report.bytes = (held + trailer.len() as i64) as u64;
            }
            Ok(report)
        })
    }
}

/// The crate's README, compiled as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The PostgreSQL page of the docs, compiled as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../docs/postgres.md")]
pub struct PostgresDocDoctests;
