//! The line format, as constants shared by the writer ([`codec`](crate::codec)
//! encodes) and the readers ([`codec`](crate::codec) decodes and checks,
//! [`scan`](crate::scan) groups lines into commits). Nothing else here.
//!
//! # Line format
//!
//! A history is JSONL: one JSON object per line, each line ended by `\n`,
//! UTF-8, strict RFC 8259 JSON. The object holds the record's seven fields
//! in a fixed order, then any extra fields, then up to two fields of our own:
//!
//! ```text
//! {"iteration_num":7,"strategy_code":"…",…,"champion_updated":false,"_ih":"1c0f29ab"}
//! {"iteration_num":8,…,"_nonfinite":{"/metrics/sharpe_ratio":"NaN"},"_ih":"1/2+0 5d2e9f00"}
//! {"iteration_num":9,…,"_ih":"2/2+391 77a0b4c2"}
//! ```
//!
//! * `_nonfinite` (only when needed): strict JSON has no `NaN`/`Infinity`,
//!   so a non-finite number is written as `null` and listed here by its
//!   JSON Pointer (RFC 6901) with `"NaN"`, `"Infinity"` or `"-Infinity"`.
//!   Our reader turns it back into the same float; other readers (Python's
//!   `json`, `jq`, pandas) see `null`.
//! * `_ih` (always last): integrity. Its value ends with the CRC-32C, as 8
//!   lowercase hex digits, of every byte of the line before those digits. A
//!   record appended as part of a multi-record commit (a batch, or several
//!   threads' saves committed together) also carries `k/n+off`: it is record
//!   `k` of `n` of that commit, starting `off` bytes after the commit's first
//!   byte. Recovery uses this to treat a commit as all-or-nothing, and to
//!   tell lines removed by a tool from a write cut short (see
//!   [`crate::scan`]). Commits made atomic by a rename are written untagged
//!   ([`finish_untagged`](crate::codec::finish_untagged)).
//!
//! Lines without `_ih` (written by the original Python module or by hand)
//! are read as records if they are valid; they are reported as unchecked.
//!
//! # Commit tags
//! ```text
//! trailer = ',"_ih":"' [ tag ' ' ] crc '"}'   (the line's last bytes, before its line end)
//! tag     = k '/' n '+' off                    (decimal digits; 1 <= k <= n; off = 0 iff k = 1)
//! crc     = 8 lowercase hex digits             (CRC-32C of every byte of the line before them)
//! ```
//! A tag is at most [`MAX_TAG_LEN`] bytes.

/// Key of the integrity field, always the last of a line.
pub const INTEGRITY_KEY: &str = "_ih";
/// Key of the index of non-finite numbers.
pub const NONFINITE_KEY: &str = "_nonfinite";

/// The seven fields every record has, in the order they are written.
pub const FIELDS: [&str; 7] = [
    "iteration_num",
    "strategy_code",
    "execution_result",
    "metrics",
    "classification_level",
    "timestamp",
    "champion_updated",
];

/// Top-level keys this library writes for itself; a record may not use them.
pub const RESERVED_FIELDS: [&str; 2] = [INTEGRITY_KEY, NONFINITE_KEY];

/// A UTF-8 byte order mark, skipped at the start of a file by every reader.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `,"_ih":"` — the bytes that open the integrity field.
pub const TRAILER_OPEN: &[u8] = b",\"_ih\":\"";
/// The 8 hex digits of the CRC and the closing `"}`.
pub const CRC_TAIL: usize = 8 + 2;
/// The longest commit tag (`k/n+off`) a reader looks for before the CRC.
pub const MAX_TAG_LEN: usize = 50;
