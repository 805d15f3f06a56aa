//! The marks the guest writes into the log, as text.
//!
//! A dm-log-writes mark is one word (the kernel splits the message at
//! spaces) of at most 479 bytes. The guest writes:
//!
//! | mark | when |
//! |---|---|
//! | `mkfs` | after `mkfs.ext4`: checking starts here |
//! | `ready` | the history's directory exists and is synced |
//! | `op:save:<i>:len=<n>` | `save(record(i))` returned `Ok`; the writer's file then had `n` bytes |
//! | `op:batch:<i>+<k>:len=<n>` | `save_batch(records i..i+k)` returned `Ok` |
//! | `op:clear:len=0` | `clear()` returned `Ok` |
//! | `op:corrupt:<i>:len=<n>` | a damaged line then record `i` were appended with plain file I/O and synced |
//! | `op:repair:len=<n>` | `repair()` returned `Ok` |
//! | `end:<workload>:ops=<n>` | the workload finished after `n` operations |
//! | `unmounted` | the file system was unmounted |
//!
//! An operation mark may end with `:p=<k>`: the process that did it.

use std::fmt;

/// A history operation that the writer saw succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `save(record(i))`.
    Save(u64),
    /// `save_batch(records first..first+count)`.
    Batch {
        /// First iteration number.
        first: u64,
        /// Number of records.
        count: u64,
    },
    /// `save_batch(records first..first+count)` of more records than
    /// `Options::rename_batches_over`: committed by rename, lines untagged.
    RenamedBatch {
        /// First iteration number.
        first: u64,
        /// Number of records.
        count: u64,
    },
    /// `clear()`.
    Clear,
    /// A damaged line then record `i`, appended by plain file I/O.
    Corrupt(u64),
    /// `repair()`.
    Repair,
}

/// One mark of the log, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// The file system was made.
    Mkfs,
    /// The history's directory exists (durably).
    Ready,
    /// An acknowledged operation.
    Op {
        /// What was done.
        op: Op,
        /// Length of the history file as the writer saw it afterwards.
        len: u64,
        /// The process that did it (multi-process workloads).
        process: Option<u32>,
    },
    /// The workload ended after `ops` operations.
    End {
        /// Its name.
        workload: String,
        /// Number of operation marks it wrote.
        ops: u64,
    },
    /// Any other mark (`unmounted`, the kernel's `dm-log-writes-end`).
    Other(String),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Save(i) => write!(f, "save:{i}"),
            Op::Batch { first, count } => write!(f, "batch:{first}+{count}"),
            Op::RenamedBatch { first, count } => write!(f, "rbatch:{first}+{count}"),
            Op::Clear => write!(f, "clear"),
            Op::Corrupt(i) => write!(f, "corrupt:{i}"),
            Op::Repair => write!(f, "repair"),
        }
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mark::Mkfs => write!(f, "mkfs"),
            Mark::Ready => write!(f, "ready"),
            Mark::Op { op, len, process } => {
                write!(f, "op:{op}:len={len}")?;
                match process {
                    Some(p) => write!(f, ":p={p}"),
                    None => Ok(()),
                }
            }
            Mark::End { workload, ops } => write!(f, "end:{workload}:ops={ops}"),
            Mark::Other(s) => f.write_str(s),
        }
    }
}

fn num(s: &str, what: &str, text: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("mark `{text}`: {what} `{s}` is not a number"))
}

impl Mark {
    /// Parses a mark's text. Text that is not one of our operation or end
    /// marks is [`Mark::Other`].
    ///
    /// # Errors
    /// A mark that starts like ours (`op:`, `end:`) but is malformed.
    pub fn parse(text: &str) -> Result<Mark, String> {
        match text {
            "mkfs" => return Ok(Mark::Mkfs),
            "ready" => return Ok(Mark::Ready),
            _ => {}
        }
        if let Some(rest) = text.strip_prefix("end:") {
            let (workload, ops) =
                rest.split_once(":ops=").ok_or_else(|| format!("mark `{text}`: expected end:<workload>:ops=<n>"))?;
            return Ok(Mark::End { workload: workload.to_string(), ops: num(ops, "ops", text)? });
        }
        let Some(rest) = text.strip_prefix("op:") else { return Ok(Mark::Other(text.to_string())) };
        let mut parts: Vec<&str> = rest.split(':').collect();
        let mut process = None;
        if let Some(p) = parts.last().and_then(|s| s.strip_prefix("p=")) {
            process = Some(u32::try_from(num(p, "process", text)?).map_err(|_| format!("mark `{text}`: bad process"))?);
            parts.pop();
        }
        let len = parts
            .pop()
            .and_then(|s| s.strip_prefix("len="))
            .ok_or_else(|| format!("mark `{text}`: no len=<n>"))
            .and_then(|s| num(s, "len", text))?;
        let op = match parts.as_slice() {
            ["save", i] => Op::Save(num(i, "iteration", text)?),
            ["corrupt", i] => Op::Corrupt(num(i, "iteration", text)?),
            ["batch", range] => {
                let (first, count) =
                    range.split_once('+').ok_or_else(|| format!("mark `{text}`: expected batch:<first>+<count>"))?;
                Op::Batch { first: num(first, "first", text)?, count: num(count, "count", text)? }
            }
            ["rbatch", range] => {
                let (first, count) =
                    range.split_once('+').ok_or_else(|| format!("mark `{text}`: expected rbatch:<first>+<count>"))?;
                Op::RenamedBatch { first: num(first, "first", text)?, count: num(count, "count", text)? }
            }
            ["clear"] => Op::Clear,
            ["repair"] => Op::Repair,
            _ => return Err(format!("mark `{text}`: unknown operation")),
        };
        Ok(Mark::Op { op, len, process })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_through_their_text() {
        let marks = [
            Mark::Mkfs,
            Mark::Ready,
            Mark::Op { op: Op::Save(17), len: 1234, process: None },
            Mark::Op { op: Op::Save(100_003), len: 9, process: Some(2) },
            Mark::Op { op: Op::Batch { first: 20, count: 5 }, len: 77, process: None },
            Mark::Op { op: Op::RenamedBatch { first: 25, count: 6 }, len: 99, process: None },
            Mark::Op { op: Op::Clear, len: 0, process: None },
            Mark::Op { op: Op::Corrupt(9), len: 5000, process: None },
            Mark::Op { op: Op::Repair, len: 4000, process: None },
            Mark::End { workload: "append".into(), ops: 16 },
            Mark::Other("dm-log-writes-end".into()),
        ];
        for m in marks {
            let text = m.to_string();
            assert!(!text.contains(' '), "one word: {text}");
            assert_eq!(Mark::parse(&text), Ok(m), "{text}");
        }
    }

    #[test]
    fn malformed_marks_of_ours_are_errors() {
        for text in
            ["op:save:x:len=1", "op:save:1", "op:fly:len=1", "op:batch:3:len=1", "end:append", "op:save:1:len=1:p=x"]
        {
            let err = Mark::parse(text).expect_err(text);
            assert!(err.contains(text), "{err}");
        }
    }
}
