//! The commit analyzer: fed one classified line at a time, it groups tagged
//! lines into commits, tells cut records from damage and decides, at the
//! end, between valid records, a torn tail and corruption (the rules are in
//! [the module above](super)).

use super::*;

#[derive(Clone, Debug)]
struct Pending {
    start: u64,
    count: u32,
    next: u32,
    records: u64,
    last: u64,
    first_number: u64,
    /// End of its last line so far.
    end: u64,
    /// CRC-32C of its first line (with its `\n`).
    first_crc: u32,
}

/// The last commit of a range when only its first lines are there (see the
/// [rules](crate::scan)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialCommit {
    /// Offset of its first line.
    pub from: u64,
    /// 1-based line number of its first line (0 if unknown).
    pub line: u64,
    /// Lines present.
    pub present: u32,
    /// Lines the commit holds.
    pub count: u32,
    /// CRC-32C of its first line, `\n` included (what a writer's in-flight
    /// record names).
    pub first_line_crc: u32,
    /// The totals with its records.
    pub(super) with: Totals,
}

/// Records read although they were cut out of their multi-record commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CutRecords {
    /// How many.
    pub records: u64,
    /// Offset of the first one's line.
    pub first_offset: u64,
    /// 1-based line number of the first one (0 if unknown).
    pub first_line: u64,
}

#[derive(Clone, Debug)]
struct Damage {
    /// Where the damaged commit starts (the torn tail would start here).
    torn_from: u64,
    first_bad: BadLine,
    /// A complete commit, or a line of another commit, follows the damage.
    corrupt: bool,
    /// Commit start named by valid tagged lines after the damage.
    group_start: Option<u64>,
}

/// Totals of the valid part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// End offset of the last complete commit (blank lines after it included).
    pub end: u64,
    /// Records in complete commits.
    pub records: u64,
    /// `iteration_num` of the last record.
    pub last: Option<u64>,
    /// Valid lines without a checksum.
    pub unchecksummed: u64,
}

/// How a scanned range ends.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Everything is complete commits (and blank lines).
    Clean,
    /// The range ends with a torn tail starting at `from`.
    Torn {
        /// Offset where the tail starts (the start of its damaged commit).
        from: u64,
        /// The first invalid line in the tail.
        first_bad: BadLine,
    },
    /// Damage followed by complete commits.
    Corrupt {
        /// The first invalid line.
        first_bad: BadLine,
    },
}

/// The forward state machine that applies the rules of this module: feed
/// it every line of a range in order ([`Analyzer::push`]), then
/// [`Analyzer::finish`]. A clone can be finished to see how the lines
/// so far end, while the original goes on (the viewer's live follow).
#[derive(Clone, Debug)]
pub struct Analyzer {
    good: Totals,
    pending: Option<Pending>,
    damage: Option<Damage>,
    /// The last line is a valid record without its `\n` (foreign writer).
    missing_newline: bool,
    /// Every invalid line seen (for verify), up to a cap.
    bad_lines: Vec<BadLine>,
    bad_total: u64,
    cut: Option<CutRecords>,
}

/// How many bad lines [`Analyzer`] remembers for a report.
pub const MAX_REPORTED_BAD_LINES: usize = 1000;

impl Analyzer {
    /// A state machine for a range that starts at offset `start` (0 for a
    /// whole file).
    pub fn new(start: u64) -> Self {
        Analyzer {
            good: Totals { end: start, ..Totals::default() },
            pending: None,
            damage: None,
            missing_newline: false,
            bad_lines: Vec::new(),
            bad_total: 0,
            cut: None,
        }
    }

    fn start_damage(&mut self, torn_from: u64, first_bad: BadLine) {
        self.damage = Some(Damage { torn_from, first_bad, corrupt: false, group_start: None });
    }

    fn note_bad(&mut self, line: &RawLine<'_>, error: &LineError) {
        self.bad_total += 1;
        if self.bad_lines.len() < MAX_REPORTED_BAD_LINES {
            self.bad_lines.push(BadLine { offset: line.offset, number: line.number, error: error.clone() });
        }
    }

    /// The first damage seen so far, if any (an import stops there).
    pub(crate) fn first_damage(&self) -> Option<&BadLine> {
        self.damage.as_ref().map(|d| &d.first_bad)
    }

    /// Feeds the next line with its classification.
    pub fn push(&mut self, line: &RawLine<'_>, kind: &Kind) {
        if let Kind::Invalid(e) = kind {
            self.note_bad(line, e);
        }
        if let Some(d) = &mut self.damage {
            if let Kind::Valid(info) = kind {
                match info.tag {
                    None => d.corrupt = true,
                    Some(tag) => {
                        let start = line.offset.saturating_sub(tag.offset);
                        if start != d.torn_from || d.group_start.is_some_and(|g| g != start) {
                            d.corrupt = true;
                        }
                        d.group_start = Some(start);
                    }
                }
            }
            return;
        }
        match kind {
            Kind::Blank => {
                if self.pending.is_none() {
                    self.good.end = line.end;
                }
            }
            Kind::Invalid(e) => {
                let from = self.pending.take().map_or(line.offset, |p| p.start);
                let bad = BadLine { offset: line.offset, number: line.number, error: e.clone() };
                self.start_damage(from, bad);
            }
            Kind::Valid(info) => {
                if !line.terminated {
                    self.missing_newline = true;
                }
                match info.tag {
                    None => {
                        if let Some(p) = self.pending.take() {
                            self.cut_pending(&p);
                        }
                        self.commit_one(line.end, info);
                    }
                    Some(tag) => self.push_tagged(line, info, tag),
                }
            }
        }
    }

    fn push_tagged(&mut self, line: &RawLine<'_>, info: &LineInfo, tag: GroupTag) {
        let start = line.offset.saturating_sub(tag.offset);
        if let Some(mut p) = self.pending.take() {
            if p.start == start && p.next == tag.index && p.count == tag.count {
                p.records += 1;
                p.last = info.iteration_num;
                p.next += 1;
                p.end = line.end;
                if tag.index == tag.count {
                    self.commit_group(&p);
                } else {
                    self.pending = Some(p);
                }
                return;
            }
            // Interrupted by a valid line: a tool removed lines (a crash
            // garbles bytes in place, it never removes a line).
            self.cut_pending(&p);
        }
        if tag.index == 1 && tag.count > 1 {
            self.pending = Some(Pending {
                start: line.offset,
                count: tag.count,
                next: 2,
                records: 1,
                last: info.iteration_num,
                first_number: line.number,
                end: line.end,
                first_crc: crc32c::crc32c(line.bytes),
            });
        } else {
            // `1/1`, or a line whose commit's earlier lines are not here.
            if tag.index != tag.count || tag.offset != 0 {
                self.note_cut(line.offset, line.number, 1);
            }
            self.commit_one(line.end, info);
        }
    }

    fn note_cut(&mut self, offset: u64, number: u64, records: u64) {
        match &mut self.cut {
            Some(c) => c.records += records,
            None => self.cut = Some(CutRecords { records, first_offset: offset, first_line: number }),
        }
    }

    /// The lines of a pending commit are records cut out of it.
    fn cut_pending(&mut self, p: &Pending) {
        self.note_cut(p.start, p.first_number, p.records);
        self.commit_group(p);
    }

    fn commit_one(&mut self, end: u64, info: &LineInfo) {
        self.good.end = end;
        self.good.records += 1;
        self.good.last = Some(info.iteration_num);
        if !info.checksummed {
            self.good.unchecksummed += 1;
        }
    }

    fn commit_group(&mut self, p: &Pending) {
        self.good.end = p.end;
        self.good.records += p.records;
        self.good.last = Some(p.last);
    }

    /// Ends the scan. A partial last commit is a torn tail, described in
    /// [`Scanned::partial`] (see the [rules](crate::scan)).
    pub fn finish(mut self) -> Scanned {
        let mut partial = None;
        let outcome = match (self.damage.take(), self.pending.take()) {
            (Some(d), _) if d.corrupt => Outcome::Corrupt { first_bad: d.first_bad },
            (Some(d), _) => Outcome::Torn { from: d.torn_from, first_bad: d.first_bad },
            (None, Some(p)) => {
                let mut with = self.good;
                with.end = p.end;
                with.records += p.records;
                with.last = Some(p.last);
                partial = Some(PartialCommit {
                    from: p.start,
                    line: p.first_number,
                    present: p.records as u32,
                    count: p.count,
                    first_line_crc: p.first_crc,
                    with,
                });
                Outcome::Torn {
                    from: p.start,
                    first_bad: BadLine {
                        offset: p.start,
                        number: p.first_number,
                        error: LineError::IncompleteCommit { present: p.records as u32, count: p.count },
                    },
                }
            }
            (None, None) => Outcome::Clean,
        };
        let missing_newline = self.missing_newline && outcome == Outcome::Clean;
        Scanned {
            totals: self.good,
            outcome,
            missing_newline,
            bad_lines: self.bad_lines,
            bad_total: self.bad_total,
            cut: self.cut,
            partial,
        }
    }
}

/// The result of a scan.
#[derive(Debug)]
pub struct Scanned {
    /// Totals of the valid part (complete commits before any damage).
    pub totals: Totals,
    /// How the range ends.
    pub outcome: Outcome,
    /// The file is clean but its last record lacks `\n`.
    pub missing_newline: bool,
    /// Every invalid line, in order (at most [`MAX_REPORTED_BAD_LINES`]).
    pub bad_lines: Vec<BadLine>,
    /// Number of invalid lines in all.
    pub bad_total: u64,
    /// Records read although they were cut out of their commit (a partial
    /// last commit included once [`accept_partial`](Self::accept_partial)
    /// made it records).
    pub cut: Option<CutRecords>,
    /// The range ends with the first lines of a commit whose other lines
    /// are missing: `outcome` is then a torn tail from its first line, until
    /// [`accept_partial`](Self::accept_partial).
    pub partial: Option<PartialCommit>,
}

impl Scanned {
    /// Reads the partial last commit (if any) as records cut out of their
    /// commit, instead of a torn tail: what a history does when its
    /// writer's in-flight record does not name that commit. Returns whether
    /// there was one.
    pub fn accept_partial(&mut self) -> bool {
        let Some(p) = self.partial.take() else { return false };
        self.totals = p.with;
        let records = u64::from(p.present);
        match &mut self.cut {
            Some(c) => c.records += records,
            None => self.cut = Some(CutRecords { records, first_offset: p.from, first_line: p.line }),
        }
        self.outcome = Outcome::Clean;
        true
    }
}
