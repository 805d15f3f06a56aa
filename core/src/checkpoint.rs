//! An optional checkpoint, `<history>.idx`, so that opening a history costs
//! what its tail costs, not what the file costs.
//!
//! It records, for a prefix of the history that was whole when it was
//! written: the prefix's length (a commit boundary), its record count, the
//! last `iteration_num`, and CRC-32Cs of the prefix's first and last 64 KiB
//! (so a history replaced or rewritten since — `compact`, `clear`, another
//! program's rewrite — is recognised as not the one checkpointed). A
//! writer writes it when it closes the history, without a sync, and only
//! for a prefix its own syncs made durable (a writer that committed nothing
//! since it opened writes none); nothing depends on it being there or
//! being right:
//!
//! * missing, damaged (its own CRC fails), or stale (the history is shorter
//!   than its prefix, or the bytes at either end of the prefix differ): the
//!   history is scanned from the start, as without a checkpoint, and the
//!   writer writes a new one when it closes;
//! * valid: opening for writing scans only the bytes after the prefix, and
//!   `count()` on a read-only handle does the same.
//!
//! What a checkpoint changes: damage *inside* the checkpointed prefix (bit
//! rot, an edit in place that keeps both ends) is no longer found when a
//! writer opens the history. It is found by every read that reaches it
//! (`get_all`, `iter`, `page`, `load_recent`), by `verify()` (which reads
//! every line), by `repair()` and `compact()`, and by opening with
//! [`Options::repair_on_open`](crate::Options::repair_on_open), which
//! ignores the checkpoint and scans the whole file.

use std::io;

use crate::commit;
use crate::scan::Totals;
use crate::storage::{Dir, FileName, ReadFile};

/// Bytes hashed at each end of the checkpointed prefix.
const SPAN: u64 = 64 * 1024;

/// The checkpoint's file name: `<history>.idx`.
pub(crate) fn file_name(history: &FileName) -> Option<FileName> {
    history.with_suffix(".idx").ok()
}

fn crc_of(src: &dyn ReadFile, from: u64, to: u64) -> io::Result<u32> {
    let mut buf = vec![0u8; (to - from) as usize];
    crate::storage::read_exact_at(src, &mut buf, from)?;
    Ok(crc32c::crc32c(&buf))
}

/// The hashes of the prefix `[0, end)`: (first bytes, last bytes).
fn hashes(src: &dyn ReadFile, end: u64) -> io::Result<(u32, u32)> {
    Ok((crc_of(src, 0, end.min(SPAN))?, crc_of(src, end.saturating_sub(SPAN), end)?))
}

/// A one-line record ending with the CRC-32C of what precedes it:
/// `<body>crc=<8 hex>\n` (the checkpoint, and [`crate::intent`]'s record).
pub(crate) fn seal(body: &str) -> Vec<u8> {
    format!("{body}crc={:08x}\n", crc32c::crc32c(body.as_bytes())).into_bytes()
}

/// The body of a [`seal`]ed line, or `None` if it is not one (damaged,
/// torn, or another file).
pub(crate) fn unseal(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?.strip_suffix('\n')?;
    let (body, crc) = text.rsplit_once("crc=")?;
    (crc.len() == 8 && u32::from_str_radix(crc, 16).ok()? == crc32c::crc32c(body.as_bytes())).then_some(body)
}

fn encode(t: &Totals, head: u32, tail: u32) -> Vec<u8> {
    let last = t.last.map_or_else(|| "-".to_string(), |n| n.to_string());
    seal(&format!(
        "ihist-checkpoint v1 end={} records={} last={last} head={head:08x} tail={tail:08x} ",
        t.end, t.records
    ))
}

fn decode(bytes: &[u8]) -> Option<(Totals, u32, u32)> {
    let mut parts = unseal(bytes)?.strip_prefix("ihist-checkpoint v1 ")?.split(' ');
    let mut field = |key: &str| parts.next().and_then(|p| p.strip_prefix(key)).map(str::to_string);
    let end = field("end=")?.parse().ok()?;
    let records = field("records=")?.parse().ok()?;
    let last = match field("last=")?.as_str() {
        "-" => None,
        n => Some(n.parse().ok()?),
    };
    let head = u32::from_str_radix(&field("head=")?, 16).ok()?;
    let tail = u32::from_str_radix(&field("tail=")?, 16).ok()?;
    Some((Totals { end, records, last, unchecksummed: 0 }, head, tail))
}

/// The totals of a checkpointed prefix of `src` (whose length is `len`),
/// or `None` if there is no valid checkpoint for these bytes. Never fails:
/// any problem means "no checkpoint". `unchecksummed` is not kept (0): only
/// `verify` reports it, and it reads every line.
pub(crate) fn load(dir: &dyn Dir, history: &FileName, src: &dyn ReadFile, len: u64) -> Option<Totals> {
    let name = file_name(history)?;
    let f = dir.open_read(&name).ok()?;
    let n = f.len().ok()?;
    if n > 512 {
        return None;
    }
    let mut buf = vec![0u8; n as usize];
    crate::storage::read_exact_at(&*f, &mut buf, 0).ok()?;
    let (totals, head, tail) = decode(&buf)?;
    if totals.end > len {
        return None;
    }
    if totals.end > 0 {
        // The prefix must end a line.
        let mut b = [0u8; 1];
        crate::storage::read_exact_at(src, &mut b, totals.end - 1).ok()?;
        if b[0] != b'\n' {
            return None;
        }
    }
    (hashes(src, totals.end).ok()? == (head, tail)).then_some(totals)
}

/// Writes a checkpoint for the prefix `[0, totals.end)` of `src`, which
/// must be whole commits and durable (synced by the writer: a checkpoint
/// must never outlive, in a power loss, the bytes it describes). Best
/// effort and unsynced: a failure leaves an
/// old, missing or damaged checkpoint, which changes no result.
pub(crate) fn store(dir: &dyn Dir, history: &FileName, src: &dyn ReadFile, totals: &Totals) {
    let Some(name) = file_name(history) else { return };
    let Ok((head, tail)) = hashes(src, totals.end) else { return };
    let bytes = encode(totals, head, tail);
    commit::overwrite_unsynced(dir, &name, &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_and_damage_is_refused() {
        let t = Totals { end: 1234, records: 5, last: Some(9), unchecksummed: 0 };
        let bytes = encode(&t, 1, 2);
        assert_eq!(decode(&bytes), Some((t, 1, 2)));
        let none = Totals { last: None, ..t };
        assert_eq!(decode(&encode(&none, 3, 4)), Some((none, 3, 4)));
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x02;
            assert_eq!(decode(&bad), None, "byte {at}");
        }
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
    }
}
