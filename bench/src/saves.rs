//! Durable saves, one method at a time, on a copy of a template history.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iteration_history::storage::CapStdDir;
use iteration_history::{CommitStrategy, Durability, History, IterationRecord, Options, codec};

use crate::data;

/// A way of saving one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// `History::save`, default options: append + `fdatasync`.
    Append,
    /// `CommitStrategy::Rewrite`: temp file, fsync, rename, fsync directory.
    Rewrite,
    /// The original module's algorithm in Rust: read the whole file, write it
    /// plus the new line to `<file>.tmp`, rename. No sync. Bytes are copied
    /// as they are (the most generous form).
    Original,
    /// The original module's algorithm as it really ran: load every record
    /// (parse each line), append the new one, serialize every record to
    /// `<file>.tmp`, rename. No sync.
    OriginalParsing,
    /// SQLite, WAL journal, `synchronous=FULL`, one commit per save.
    SqliteWal,
    /// SQLite, default rollback journal (DELETE), `synchronous=FULL`.
    SqliteDelete,
    /// The floor: the same bytes written at the end (`pwrite`) + one `sync_data`.
    Floor,
    /// `History::save` with `Durability::None` (no sync): the algorithm alone.
    AppendNoSync,
}

impl Method {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::Append => "Append (ours, default)",
            Method::Rewrite => "Rewrite (ours, durable)",
            Method::Original => "original algorithm, bytes copied (no sync)",
            Method::OriginalParsing => "original algorithm, records parsed + re-serialized (no sync)",
            Method::SqliteWal => "SQLite WAL",
            Method::SqliteDelete => "SQLite rollback journal",
            Method::Floor => "floor: pwrite + fdatasync",
            Method::AppendNoSync => "Append, Durability::None (no sync)",
        }
    }
}

/// The template files of one size.
#[derive(Debug)]
pub(crate) struct Templates {
    pub(crate) n: u64,
    pub(crate) jsonl: PathBuf,
    pub(crate) sqlite: PathBuf,
}

/// Builds the JSONL and SQLite templates of `n` records in `dir`.
pub(crate) fn templates(dir: &Path, n: u64) -> io::Result<Templates> {
    let (jsonl, _) = data::template(dir, n)?;
    let sqlite = dir.join(format!("template-{n}.db"));
    let _ = fs::remove_file(&sqlite);
    let mut db = rusqlite::Connection::open(&sqlite).map_err(io::Error::other)?;
    db.execute_batch(
        "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF;
         CREATE TABLE history (id INTEGER PRIMARY KEY, iteration_num INTEGER NOT NULL, line TEXT NOT NULL);",
    )
    .map_err(io::Error::other)?;
    let tx = db.transaction().map_err(io::Error::other)?;
    {
        let mut ins =
            tx.prepare("INSERT INTO history (iteration_num, line) VALUES (?1, ?2)").map_err(io::Error::other)?;
        for i in 0..n {
            let line = String::from_utf8(data::line(i)?).map_err(io::Error::other)?;
            ins.execute(rusqlite::params![i as i64, line]).map_err(io::Error::other)?;
        }
    }
    tx.commit().map_err(io::Error::other)?;
    drop(db);
    fs::File::open(&sqlite)?.sync_all()?;
    Ok(Templates { n, jsonl, sqlite })
}

fn sqlite_err(e: rusqlite::Error) -> io::Error {
    io::Error::other(e)
}

/// One method's history, open and ready to save into.
pub(crate) trait Saver {
    /// Saves `rec` durably (as the method defines it); `line` is the
    /// record already encoded, for the floor, which only writes bytes.
    fn save(&mut self, rec: &IterationRecord, line: &[u8]) -> io::Result<()>;
}

struct Ours(History);

impl Saver for Ours {
    fn save(&mut self, rec: &IterationRecord, _: &[u8]) -> io::Result<()> {
        self.0.save(rec).map_err(io::Error::other)
    }
}

struct OriginalAlgorithm {
    path: PathBuf,
    tmp: PathBuf,
    /// Parse and re-serialize every record, as the Python module did
    /// (`load all records; records.append(new); write all`).
    parse: bool,
}

impl Saver for OriginalAlgorithm {
    /// Read everything, write everything plus the new line to `<file>.tmp`,
    /// rename over the history; no sync.
    fn save(&mut self, rec: &IterationRecord, _: &[u8]) -> io::Result<()> {
        let line = codec::encode_line(rec).map_err(io::Error::other)?;
        let mut all = fs::read(&self.path)?;
        if self.parse {
            let mut records = Vec::new();
            for l in all.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                records.push(codec::decode_line(l).map_err(io::Error::other)?.0);
            }
            records.push(rec.clone());
            all.clear();
            for r in &records {
                all.extend_from_slice(&codec::encode_line(r).map_err(io::Error::other)?);
            }
        } else {
            all.extend_from_slice(&line);
        }
        fs::write(&self.tmp, &all)?;
        fs::rename(&self.tmp, &self.path)
    }
}

/// The same bytes at the end of the file (`pwrite`, as `Append` does), then
/// `fdatasync`: nothing else.
struct Floor {
    file: fs::File,
    end: u64,
}

impl Saver for Floor {
    fn save(&mut self, _: &IterationRecord, line: &[u8]) -> io::Result<()> {
        self.file.write_all_at(line, self.end)?;
        self.end += line.len() as u64;
        self.file.sync_data()
    }
}

struct Sqlite(rusqlite::Connection);

impl Saver for Sqlite {
    fn save(&mut self, rec: &IterationRecord, _: &[u8]) -> io::Result<()> {
        let line = String::from_utf8(codec::encode_line(rec).map_err(io::Error::other)?).map_err(io::Error::other)?;
        let mut ins =
            self.0.prepare_cached("INSERT INTO history (iteration_num, line) VALUES (?1, ?2)").map_err(sqlite_err)?;
        // Autocommit: each INSERT is its own transaction, committed durably.
        ins.execute(rusqlite::params![rec.iteration_num as i64, line]).map_err(sqlite_err)?;
        Ok(())
    }
}

/// Opens `method` on a fresh, synced copy of the template in `work`.
pub(crate) fn open(method: Method, t: &Templates, work: &Path) -> io::Result<Box<dyn Saver>> {
    let tag = format!("{method:?}").to_lowercase();
    match method {
        Method::Append | Method::Rewrite | Method::AppendNoSync => {
            let name = format!("{tag}.jsonl");
            data::copy_synced(&t.jsonl, &work.join(&name))?;
            let opts = match method {
                Method::Rewrite => Options::default().strategy(CommitStrategy::Rewrite),
                Method::AppendNoSync => Options::default().durability(Durability::None),
                _ => Options::default(),
            };
            let h = History::open(CapStdDir::open_ambient(work)?, &name, opts).map_err(io::Error::other)?;
            Ok(Box::new(Ours(h)))
        }
        Method::Original | Method::OriginalParsing => {
            let path = work.join(format!("{tag}.jsonl"));
            data::copy_synced(&t.jsonl, &path)?;
            let tmp = work.join(format!("{tag}.jsonl.tmp"));
            Ok(Box::new(OriginalAlgorithm { path, tmp, parse: method == Method::OriginalParsing }))
        }
        Method::Floor => {
            let path = work.join(format!("{tag}.jsonl"));
            data::copy_synced(&t.jsonl, &path)?;
            let file = OpenOptions::new().write(true).open(&path)?;
            let end = file.metadata()?.len();
            Ok(Box::new(Floor { file, end }))
        }
        Method::SqliteWal | Method::SqliteDelete => {
            let path = work.join(format!("{tag}.db"));
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = fs::remove_file(PathBuf::from(p));
            }
            data::copy_synced(&t.sqlite, &path)?;
            let db = rusqlite::Connection::open(&path).map_err(sqlite_err)?;
            let mode = if method == Method::SqliteWal { "WAL" } else { "DELETE" };
            db.execute_batch(&format!("PRAGMA journal_mode={mode}; PRAGMA synchronous=FULL;")).map_err(sqlite_err)?;
            Ok(Box::new(Sqlite(db)))
        }
    }
}

/// Flushes every dirty page of the system (not timed), so one method's
/// deferred writes do not slow the next one's syncs.
pub(crate) fn sync_all() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Times `saves` saves with each method, interleaved in blocks of `block`
/// saves (the order rotating from block to block), so every method meets
/// the same disk conditions. After a method that does not sync, every dirty
/// page is flushed (untimed), so its deferred writes do not slow the next
/// method's syncs. Returns each save's time, per method.
pub(crate) fn measure(
    methods: &[Method],
    t: &Templates,
    work: &Path,
    saves: u64,
    block: u64,
) -> io::Result<Vec<Vec<Duration>>> {
    let records: Vec<IterationRecord> = (t.n..t.n + saves).map(data::record).collect();
    let lines = records.iter().map(codec::encode_line).collect::<Result<Vec<_>, _>>().map_err(io::Error::other)?;
    let mut savers = methods.iter().map(|&m| open(m, t, work)).collect::<io::Result<Vec<_>>>()?;
    let mut times = vec![Vec::with_capacity(saves as usize); methods.len()];
    sync_all();
    let indices: Vec<usize> = (0..saves as usize).collect();
    for (b, chunk) in indices.chunks(block.max(1) as usize).enumerate() {
        for k in 0..methods.len() {
            let m = (k + b) % methods.len();
            for &i in chunk {
                let t0 = Instant::now();
                savers[m].save(&records[i], &lines[i])?;
                times[m].push(t0.elapsed());
            }
            if matches!(methods[m], Method::Original | Method::OriginalParsing | Method::AppendNoSync) {
                sync_all();
            }
        }
    }
    Ok(times)
}
