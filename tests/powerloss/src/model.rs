//! What the history must hold after a sequence of acknowledged operations:
//! its exact bytes, its records, and the damaged lines that must never be
//! lost.

use iteration_history::codec;

use crate::marks::Op;
use crate::records::{garbage_line, record};

/// A piece of the history file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// One commit: the records of a `save` (one) or a `save_batch` (several).
    Commit(Vec<u64>),
    /// The damaged line written by [`Op::Corrupt`].
    Garbage(u64),
}

/// The expected state of the history after some acknowledged operations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    segments: Vec<Segment>,
    /// Damaged lines acknowledged so far: each must stay somewhere in the
    /// directory (the history or a `.bad.`/`.torn.` sidecar).
    pub preserved_garbage: Vec<u64>,
}

impl State {
    /// The state after `op` succeeded.
    pub fn apply(&self, op: Op) -> State {
        let mut next = self.clone();
        match op {
            Op::Save(i) => next.segments.push(Segment::Commit(vec![i])),
            Op::Batch { first, count } => next.segments.push(Segment::Commit((first..first + count).collect())),
            Op::RenamedBatch { first, count } => {
                next.segments.extend((first..first + count).map(|i| Segment::Commit(vec![i])))
            }
            Op::Clear => next.segments.clear(),
            Op::Corrupt(i) => {
                next.segments.push(Segment::Garbage(i));
                next.segments.push(Segment::Commit(vec![i]));
                next.preserved_garbage.push(i);
            }
            Op::Repair => {
                // Repair keeps every valid line and drops the commit tags of
                // multi-record commits (they lose their meaning).
                next.segments = self.records().into_iter().map(|i| Segment::Commit(vec![i])).collect();
            }
        }
        next
    }

    /// Iteration numbers of the records, in file order.
    pub fn records(&self) -> Vec<u64> {
        self.segments
            .iter()
            .flat_map(|s| match s {
                Segment::Commit(v) => v.clone(),
                Segment::Garbage(_) => Vec::new(),
            })
            .collect()
    }

    /// Whether the history holds a damaged line followed by valid ones
    /// (opening it for writing must fail until it is repaired).
    pub fn corrupt(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Garbage(_)))
    }

    /// The exact bytes of the history file.
    ///
    /// # Panics
    /// If a generated record does not encode (a bug of the test itself).
    pub fn content(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &self.segments {
            match s {
                Segment::Garbage(i) => out.extend_from_slice(&garbage_line(*i)),
                Segment::Commit(v) => {
                    let bodies: Vec<_> = v
                        .iter()
                        .map(|i| codec::encode_body(&record(*i)).expect("generated records are valid"))
                        .collect();
                    codec::finish_commit(bodies.iter(), bodies.len(), &mut out);
                }
            }
        }
        out
    }
}
