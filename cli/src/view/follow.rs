//! Following histories while they grow, for `ihist view`.
//!
//! The page keeps, per history ("run"), a generation and a byte offset.
//! `GET /follow?runs=GEN.OFFSET,...&wait=1` answers, in one response for
//! every run, the bytes appended after each offset; when a history was
//! replaced (`clear`, `compact`, `repair`: another file at the path, or a
//! shorter one) its generation changes and its whole content is sent
//! again. With `wait=1` the request waits up to [`WAIT`] for a change, so
//! a page that follows unchanged histories keeps one pending request and
//! does no work.
//!
//! A file is read as it is on disk, torn tail included (the page's loader
//! reports it, as the library's readers do); another store (PostgreSQL) is
//! polled through the `Store` contract (`count`, `last_iteration_num`)
//! and exported when it changed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::target::Opened;

use super::server::Body;

/// How long a follow request waits for a change before it answers "no change".
pub(crate) const WAIT: Duration = Duration::from_secs(25);
/// How often a waiting request looks at a file (one `stat`).
const FILE_POLL: Duration = Duration::from_millis(40);
/// How often a waiting request asks another store for its count.
const STORE_POLL: Duration = Duration::from_millis(250);

/// Where a run's bytes come from.
pub(crate) enum Source {
    /// A history file, read as it is on disk.
    File(PathBuf),
    /// Any store, exported through the `Store` contract.
    Store(Arc<Opened>),
}

/// One followed history.
pub(crate) struct Run {
    /// How it is named on the page.
    pub(crate) name: String,
    source: Source,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped whenever the content is replaced rather than appended to.
    generation: u64,
    /// Bytes known.
    len: u64,
    /// The file's identity (device, inode) when last seen.
    identity: Option<(u64, u64)>,
    /// Another store: its export (shared by the answers that send it), and
    /// the (count, last) it was made at.
    export: Arc<Vec<u8>>,
    mark: Option<(u64, Option<u64>)>,
    /// The last error, reported to the page.
    error: Option<String>,
    /// When the store was last asked.
    polled: Option<Instant>,
}

/// The bytes of a change, read only when they are sent (streamed: the
/// memory an answer takes does not grow with them).
#[derive(Debug)]
pub(crate) enum Data {
    None,
    /// This many bytes from a file, opened and positioned at `from`.
    File(File, u64),
    /// A range of a store's export.
    Export(Arc<Vec<u8>>, std::ops::Range<usize>),
}

impl Data {
    fn len(&self) -> u64 {
        match self {
            Data::None => 0,
            Data::File(_, n) => *n,
            Data::Export(_, r) => r.len() as u64,
        }
    }

    /// Writes the bytes to `out`.
    fn send(self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Data::None => Ok(()),
            Data::File(f, n) => {
                if io::copy(&mut f.take(n), out)? == n {
                    Ok(())
                } else {
                    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the history shrank while it was sent"))
                }
            }
            Data::Export(export, range) => out.write_all(export.get(range).unwrap_or_default()),
        }
    }
}

/// A run's change, as sent to the page.
#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) generation: u64,
    /// Offset of the first byte sent.
    pub(crate) from: u64,
    /// The bytes after `from`.
    pub(crate) bytes: Data,
    /// The content was replaced: `bytes` is all of it.
    pub(crate) reset: bool,
    pub(crate) error: Option<String>,
}

#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

impl Run {
    /// A run named `name` over `source`.
    pub(crate) fn new(name: String, source: Source) -> Run {
        Run { name, source, state: Mutex::new(State { generation: 1, ..State::default() }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Looks at the source; returns (generation, length).
    fn refresh(&self) -> (u64, u64) {
        let mut s = self.state();
        match &self.source {
            Source::File(path) => match std::fs::metadata(path) {
                Ok(m) => {
                    let id = identity(&m);
                    // Another file, a shorter one, or one that was missing: replaced.
                    if (s.identity.is_some() && id != s.identity) || m.len() < s.len || s.error.is_some() {
                        s.generation += 1;
                    }
                    s.identity = id;
                    s.len = m.len();
                    s.error = None;
                }
                Err(e) => {
                    // Between a rewrite's remove and rename, or deleted.
                    s.error = Some(format!("{}: {e}", path.display()));
                }
            },
            Source::Store(opened) => {
                let store = opened.store();
                if s.polled.is_some_and(|t| t.elapsed() < STORE_POLL) {
                    return (s.generation, s.len);
                }
                s.polled = Some(Instant::now());
                let mark = store.count().and_then(|c| Ok((c, store.last_iteration_num()?)));
                match mark {
                    Ok(mark) if Some(mark) == s.mark => {}
                    Ok(mark) => {
                        let mut out = Vec::new();
                        match store.export_jsonl(&mut out) {
                            Ok(_) => {
                                if !out.starts_with(&s.export) {
                                    s.generation += 1;
                                }
                                s.len = out.len() as u64;
                                s.export = Arc::new(out);
                                s.mark = Some(mark);
                                s.error = None;
                            }
                            Err(e) => s.error = Some(e.to_string()),
                        }
                    }
                    Err(e) => s.error = Some(e.to_string()),
                }
            }
        }
        (s.generation, s.len)
    }

    /// The change since (`generation`, `from`, whether the page shows an
    /// error for this run), if any.
    fn part(&self, mark: Mark) -> Option<Part> {
        let Mark { generation, from, error: shown } = mark;
        let (current, len) = self.refresh();
        let error = self.state().error.clone();
        if error.is_some() {
            // Unreadable (deleted, or between a rewrite's steps): say so once.
            return (!shown).then_some(Part { generation, from, bytes: Data::None, reset: false, error });
        }
        let reset = current != generation || from > len;
        if !reset && from == len {
            // Readable again: the page clears its note.
            return shown.then_some(Part { generation, from, bytes: Data::None, reset: false, error: None });
        }
        let from = if reset { 0 } else { from };
        let bytes = match &self.source {
            Source::File(path) => match read_file(path, from, len, self.state().identity) {
                Ok(Some(b)) => b,
                // Replaced since the stat: look again next time.
                Ok(None) => return None,
                Err(e) => {
                    return Some(Part { generation: current, from, bytes: Data::None, reset, error: Some(e) });
                }
            },
            Source::Store(_) => {
                let s = self.state();
                let range = usize::try_from(from).unwrap_or(usize::MAX)..usize::try_from(len).unwrap_or(usize::MAX);
                Data::Export(Arc::clone(&s.export), range)
            }
        };
        Some(Part { generation: current, from, bytes, reset, error })
    }
}

/// Bytes `from..len` of `path` (opened, positioned, not read yet), if the
/// file is still the one with `identity`.
fn read_file(path: &PathBuf, from: u64, len: u64, identity_then: Option<(u64, u64)>) -> Result<Option<Data>, String> {
    let mut f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let m = f.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
    if identity(&m) != identity_then || m.len() < len {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(from)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(Data::File(f, len - from)))
}

/// What the page has of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    /// The generation its bytes are from.
    pub(crate) generation: u64,
    /// How many bytes it has.
    pub(crate) from: u64,
    /// It shows an error for this run.
    pub(crate) error: bool,
}

/// Parses `GEN.OFFSET,GEN.OFFSET,...` (one per run, `!` appended when the
/// page shows an error for it; missing or bad: `0.0`, which asks for
/// everything).
pub(crate) fn parse_marks(q: Option<&str>, runs: usize) -> Vec<Mark> {
    let given: Vec<&str> = q.map(|q| q.split(',').collect()).unwrap_or_default();
    (0..runs)
        .map(|i| {
            let Some(m) = given.get(i) else { return Mark::default() };
            let (m, error) = m.strip_suffix('!').map_or((*m, false), |m| (m, true));
            m.split_once('.')
                .and_then(|(g, o)| Some(Mark { generation: g.parse().ok()?, from: o.parse().ok()?, error }))
                .unwrap_or_default()
        })
        .collect()
}

/// Answers a follow request: a first line of JSON
/// `{"runs":[{"generation","from","length","reset","error"}]}` (`length`:
/// bytes that follow for this run), then each run's bytes in order,
/// streamed. With `wait`, waits up to [`WAIT`] for a change (hyper drops
/// this future when the client goes away).
pub(crate) async fn answer(runs: Arc<Vec<Run>>, marks: Vec<Mark>, wait: bool) -> Body {
    let deadline = Instant::now() + WAIT;
    let poll = if runs.iter().any(|r| matches!(r.source, Source::Store(_))) { STORE_POLL } else { FILE_POLL };
    let marks = Arc::new(marks);
    loop {
        let (r, m) = (Arc::clone(&runs), Arc::clone(&marks));
        // stat, open and store queries block: not on the server's threads.
        let parts = tokio::task::spawn_blocking(move || r.iter().zip(m.iter()).map(|(r, &m)| r.part(m)).collect());
        let parts: Vec<Option<Part>> = parts.await.unwrap_or_else(|_| marks.iter().map(|_| None).collect());
        let changed = parts.iter().any(Option::is_some);
        if changed || !wait || Instant::now() >= deadline {
            return encode(parts, &marks);
        }
        tokio::time::sleep(poll).await;
    }
}

/// A changed run has `error` (null when readable); an unchanged one has none.
fn encode(parts: Vec<Option<Part>>, marks: &[Mark]) -> Body {
    let head: Vec<serde_json::Value> = parts
        .iter()
        .zip(marks)
        .map(|(p, m)| match p {
            Some(p) => serde_json::json!({
                "generation": p.generation, "from": p.from, "length": p.bytes.len(),
                "reset": p.reset, "error": p.error,
            }),
            None => serde_json::json!({ "generation": m.generation, "from": m.from, "length": 0, "reset": false }),
        })
        .collect();
    let mut head = serde_json::to_vec(&serde_json::json!({ "runs": head })).unwrap_or_default();
    head.push(b'\n');
    let len = head.len() as u64 + parts.iter().flatten().map(|p| p.bytes.len()).sum::<u64>();
    Body::produce(Some(len), move |out| {
        out.write_all(&head)?;
        for p in parts.into_iter().flatten() {
            p.bytes.send(out)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_parsed_per_run() {
        let m = |generation, from, error| Mark { generation, from, error };
        assert_eq!(parse_marks(Some("3.120,1.0!"), 2), vec![m(3, 120, false), m(1, 0, true)]);
        assert_eq!(parse_marks(Some("x,2.5"), 3), vec![m(0, 0, false), m(2, 5, false), m(0, 0, false)]);
        assert_eq!(parse_marks(None, 1), vec![m(0, 0, false)]);
    }

    /// The bytes a part would send.
    fn bytes(p: Part) -> Vec<u8> {
        let mut out = Vec::new();
        p.bytes.send(&mut out).expect("send");
        out
    }

    fn mark(generation: u64, from: u64) -> Mark {
        Mark { generation, from, error: false }
    }

    #[test]
    fn a_file_is_followed_and_a_replacement_is_noticed() {
        let dir = std::env::temp_dir().join(format!("ihist-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("h.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n").expect("write");
        let run = Run::new("h".into(), Source::File(path.clone()));
        let p = run.part(mark(0, 0)).expect("first");
        assert!(p.reset);
        let g = p.generation;
        assert_eq!(bytes(p), b"{\"a\":1}\n");
        assert!(run.part(mark(g, 8)).is_none(), "no change");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
        std::io::Write::write_all(&mut f, b"{\"a\":2}\n{\"a\":").expect("append");
        let p = run.part(mark(g, 8)).expect("appended");
        assert!(!p.reset);
        assert_eq!(p.from, 8);
        assert_eq!(bytes(p), b"{\"a\":2}\n{\"a\":");
        // Replaced by a rename (what compact, repair and clear do).
        let tmp = dir.join("h.jsonl.tmp");
        std::fs::write(&tmp, b"{\"a\":9}\n").expect("tmp");
        std::fs::rename(&tmp, &path).expect("rename");
        let p = run.part(mark(g, 21)).expect("replaced");
        assert!(p.reset);
        assert_ne!(p.generation, g);
        let g = p.generation;
        assert_eq!(bytes(p), b"{\"a\":9}\n");
        // Shrunk in place.
        std::fs::write(&path, b"").expect("truncate");
        let p = run.part(mark(g, 8)).expect("shrunk");
        assert!(p.reset && p.bytes.len() == 0 && p.generation != g);
        // Deleted: said once; back: all of it again, and the note cleared.
        let g = p.generation;
        std::fs::remove_file(&path).expect("remove");
        let p = run.part(mark(g, 0)).expect("gone");
        assert!(p.error.as_ref().is_some_and(|e| e.contains("h.jsonl")), "{p:?}");
        assert!(run.part(Mark { generation: g, from: 0, error: true }).is_none(), "said once");
        std::fs::write(&path, b"{\"a\":3}\n").expect("back");
        let p = run.part(Mark { generation: g, from: 0, error: true }).expect("back");
        assert!(p.reset && p.error.is_none(), "{p:?}");
        assert_eq!(bytes(p), b"{\"a\":3}\n");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
