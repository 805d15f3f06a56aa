//! The writer's record of its multi-record commit in flight:
//! `<history>.commit`.
//!
//! A file that ends after the first `k < n` lines of an `n`-line commit is
//! what a writer leaves when it stops during that commit, and also what a
//! line tool leaves when it cuts the file there (`head -n`). The lines
//! cannot tell which (see [`crate::scan`]), so before it appends a commit
//! holding a multi-record `save_batch` (or `save_if_last`), the writer
//! durably records the commit here: where it starts, how many lines it
//! has, and the CRC-32C of its first line. It writes this record first
//! and syncs it before it writes the commit, and never clears it (a reader
//! that saw the commit half-written must still find it here).
//!
//! The rule: a history that ends with a partial commit is a torn tail
//! (moved aside by the next writer, ignored by readers) exactly when this
//! file names that commit; otherwise its lines are records cut out of their
//! commit by a tool, and are read. A file cut with `head` has another name,
//! hence no record here. The one case decided wrongly: a history cut by a
//! tool right inside the last multi-record commit its writer made, and put
//! back under its own name (`head -n 7 h.jsonl > x; mv x h.jsonl`): its
//! lines are then moved to `<history>.torn.<n>`, where nothing is lost.
//!
//! Commits made atomic by a rename (the `Rewrite` strategy, large batches,
//! `import`, `compact`, `repair`, `clear`) and group commits of single
//! saves (each a commit of its own) need no record: a prefix of them holds
//! only whole commits.
//!
//! The record is one fixed-width line, checksummed: a record that does not
//! check (damaged, or torn by a crash while it was being written, before the
//! commit it announces was started) names no commit.

use std::io;

use crate::checkpoint;
use crate::commit::{self, CreateOps, Target};
use crate::error::{Error, Result};
use crate::options::Durability;
use crate::scan::PartialCommit;
use crate::storage::{Dir, FileName, WriteFile};

/// The commit a writer had in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Intent {
    /// Offset of the commit's first line.
    pub(crate) from: u64,
    /// Lines in the commit.
    pub(crate) count: u32,
    /// CRC-32C of its first line, `\n` included.
    pub(crate) first_line_crc: u32,
}

impl Intent {
    fn encode(&self) -> Vec<u8> {
        checkpoint::seal(&format!(
            "ihist-commit v1 from={:020} count={:010} first={:08x} ",
            self.from, self.count, self.first_line_crc
        ))
    }

    fn decode(bytes: &[u8]) -> Option<Intent> {
        let mut parts = checkpoint::unseal(bytes)?.strip_prefix("ihist-commit v1 ")?.split(' ');
        let from = parts.next()?.strip_prefix("from=")?.parse().ok()?;
        let count = parts.next()?.strip_prefix("count=")?.parse().ok()?;
        let first_line_crc = u32::from_str_radix(parts.next()?.strip_prefix("first=")?, 16).ok()?;
        Some(Intent { from, count, first_line_crc })
    }

    /// Whether this record names `p`.
    pub(crate) fn names(&self, p: &PartialCommit) -> bool {
        self.from == p.from && self.count == p.count && self.first_line_crc == p.first_line_crc
    }
}

/// The record's file name: `<history>.commit`.
pub(crate) fn file_name(history: &FileName) -> Result<FileName> {
    Ok(history.with_suffix(".commit")?)
}

/// Reads the record (`None` if absent or not valid).
///
/// # Errors
/// I/O errors other than a missing file.
pub(crate) fn read(dir: &dyn Dir, history: &FileName, display: &str) -> Result<Option<Intent>> {
    let name = file_name(history)?;
    let f = match dir.open_read(&name) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(display, "reading the writer's in-flight commit record", e)),
    };
    let mut buf = [0u8; 128];
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(display, "reading the writer's in-flight commit record", e)),
        }
    }
    Ok(Intent::decode(&buf[..n]))
}

/// Whether the writer's record names `partial` (the partial last commit of
/// the history): then it is a torn tail.
///
/// # Errors
/// As [`read`].
pub(crate) fn names(dir: &dyn Dir, history: &FileName, display: &str, partial: &PartialCommit) -> Result<bool> {
    Ok(read(dir, history, display)?.is_some_and(|i| i.names(partial)))
}

/// Writes the record durably before the commit it names is written.
/// `file` caches the open record file between commits.
///
/// # Errors
/// I/O and sync errors (the commit must then not be written).
pub(crate) fn write(
    dir: &dyn Dir,
    history: &FileName,
    display: &str,
    durability: Durability,
    file: &mut Option<Box<dyn WriteFile>>,
    intent: Intent,
) -> Result<()> {
    if file.is_none() {
        let name = file_name(history)?;
        let t = Target { dir, name: &name, display, durability };
        let f = commit::open_or_create(
            t,
            CreateOps {
                create: "writing the in-flight commit record",
                sync: "syncing the in-flight commit record",
                sync_dir: "syncing the directory after creating the in-flight commit record",
            },
        )?;
        *file = Some(f);
    }
    let Some(f) = file.as_mut() else { return Ok(()) };
    let bytes = intent.encode();
    let res = commit::overwrite(
        display,
        durability,
        &mut **f,
        &bytes,
        "writing the in-flight commit record",
        "syncing the in-flight commit record",
    );
    if res.is_err() {
        // Reopen next time: the handle's state is unknown.
        *file = None;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_names_nothing() {
        let i = Intent { from: 12345, count: 7, first_line_crc: 0xdead_beef };
        let bytes = i.encode();
        assert_eq!(Intent::decode(&bytes), Some(i));
        assert_eq!(bytes.len(), Intent { from: u64::MAX, count: u32::MAX, first_line_crc: 0 }.encode().len());
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x04;
            assert_eq!(Intent::decode(&bad), None, "byte {at}");
        }
        assert_eq!(Intent::decode(&bytes[..bytes.len() - 3]), None);
        assert_eq!(Intent::decode(&[0u8; 80]), None);
    }
}
