//! Maintenance: verify, repair, compact and clear.

use super::*;

impl History {
    /// Checks every line (full JSON parse, checksums) and reports. Changes
    /// nothing.
    ///
    /// # Errors
    /// I/O errors only; problems in the file are in the report.
    pub fn verify(&self) -> Result<VerifyReport> {
        let io_err = |e| Error::io(&self.display, "reading the history", e);
        let temp_files: Vec<String> = self
            .dir
            .list()
            .map_err(|e| Error::io(&self.display, "listing the directory", e))?
            .into_iter()
            .filter(|e| commit::is_temp_of(e, &self.name))
            .collect();
        let mut findings = Vec::new();
        if !temp_files.is_empty() {
            findings.push(Finding::StaleTempFiles(temp_files));
        }
        if !self.dir.capabilities().dir_sync {
            findings.push(Finding::NoDirSync);
        }
        let mut report = VerifyReport {
            file: self.display.clone(),
            health: Health::Healthy,
            records: 0,
            unchecksummed: 0,
            last_iteration_num: None,
            bytes: 0,
            torn_tail: None,
            corrupt_lines: Vec::new(),
            cut: None,
            bad_lines_total: 0,
            findings,
        };
        let src = match self.dir.open_read(&self.name) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
            Err(e) => return Err(Error::io(&self.display, "opening the history", e)),
        };
        // A writer verifies what it has committed; a reader the whole file.
        let len = match &self.writer {
            Some(w) => lock(&w.state).len,
            None => src.len().map_err(io_err)?,
        };
        let mut s = scan::scan_all(&*src, len, true).map_err(io_err)?;
        recovery::apply_intent(self.target(), &mut s)?;
        if let Some(c) = &s.cut {
            let line =
                if c.first_line > 0 { c.first_line } else { scan::line_number_at(&*src, c.first_offset).unwrap_or(0) };
            report.cut = Some(CutReport::new(c, line));
        }
        report.bytes = len;
        report.records = s.totals.records;
        report.unchecksummed = s.totals.unchecksummed;
        report.last_iteration_num = s.totals.last;
        report.bad_lines_total = s.bad_total;
        match s.outcome {
            Outcome::Clean => {}
            Outcome::Torn { from, first_bad } => {
                report.health = Health::TornTail;
                let line = if first_bad.offset == from {
                    first_bad.number
                } else {
                    scan::line_number_at(&*src, from).unwrap_or(0)
                };
                report.torn_tail = Some(TornTail {
                    offset: from,
                    line,
                    bytes: len - from,
                    reason: first_bad.error.to_string(),
                    sidecar: String::new(),
                });
            }
            Outcome::Corrupt { .. } => {
                report.health = Health::Corrupt;
                report.corrupt_lines = s.bad_lines.iter().map(BadLineReport::from).collect();
            }
        }
        Ok(report)
    }

    /// Moves every bad line (and a torn tail) to a sidecar file
    /// `<history>.bad.<n>` and atomically rewrites the rest. A healthy
    /// history is left as it is.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; I/O errors (the history is then unchanged).
    pub fn repair(&self) -> Result<RepairReport> {
        let w = self.writer("repair")?;
        let mut st = lock(&w.state);
        st.lock.check(&*self.dir)?;
        self.resync_dir(&mut st)?;
        let src = self.dir.open_read(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
        let file_len = src.len().map_err(|e| Error::io(&self.display, "reading the history's length", e))?;
        // Bytes after the committed length left by a failed attempt are not records.
        let len = if st.dirty { st.len.min(file_len) } else { file_len };
        let mut s = scan::scan_all(&*src, len, true).map_err(|e| Error::io(&self.display, "reading the history", e))?;
        recovery::apply_intent(self.target(), &mut s)?;
        if s.outcome == Outcome::Clean && s.totals.end == len && len == file_len && len == st.len {
            return Ok(RepairReport { kept: s.totals.records, ..RepairReport::default() });
        }
        st.set_file(None);
        let (replaced, report, totals) = recovery::repair(self.target(), src, len, st.len)?;
        self.adopt(&mut st, replaced, (totals.end, totals.records, totals.last))?;
        Ok(report)
    }

    /// Rewrites the history atomically with every record re-encoded in the
    /// canonical form (checksums added to lines written by other tools,
    /// blank lines and `\r` dropped).
    ///
    /// # Errors
    /// [`Error::Corrupt`] (repair first); I/O errors (history unchanged).
    pub fn compact(&self) -> Result<u64> {
        self.compact_sizes().map(|(count, _, _)| count)
    }

    /// [`compact`](Self::compact), returning (records, bytes before, bytes
    /// after).
    pub(crate) fn compact_sizes(&self) -> Result<(u64, u64, u64)> {
        let w = self.writer("compact")?;
        let mut st = lock(&w.state);
        st.lock.check(&*self.dir)?;
        self.resync_dir(&mut st)?;
        let src = self.dir.open_read(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
        let len = st.len;
        let mut count = 0u64;
        let mut last = None;
        let mut new_len = 0u64;
        st.set_file(None);
        let replaced = commit::replace(self.target(), src, |src, f| {
            let mut lines = Lines::new(0, len, 1);
            let mut out = Vec::with_capacity(1 << 20);
            let mut pos = 0u64;
            while let Some(line) =
                lines.next_line(&**src).map_err(|e| Error::io(&self.display, "reading the history", e))?
            {
                if codec::is_blank(line.bytes) {
                    continue;
                }
                let rec = codec::decode_line(line.bytes).map(|(r, _)| r).map_err(|reason| Error::Corrupt {
                    file: self.display.clone(),
                    line: line.number,
                    offset: line.offset,
                    reason,
                })?;
                let encoded = codec::encode_line(&rec).map_err(|source| Error::InvalidRecord {
                    file: self.display.clone(),
                    at: format!(" (line {})", line.number),
                    source,
                })?;
                out.extend_from_slice(&encoded);
                count += 1;
                last = Some(rec.iteration_num);
                if out.len() >= 1 << 20 {
                    f.write_at(&out, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
                    pos += out.len() as u64;
                    out.clear();
                }
            }
            f.write_at(&out, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
            new_len = pos + out.len() as u64;
            Ok(())
        });
        // No I/O between the rename and adopting the new state: an error
        // there would leave this writer appending at the old length.
        let replaced = replaced?;
        self.adopt(&mut st, replaced, (new_len, count, last))?;
        Ok((count, len, new_len))
    }

    /// Removes every record, atomically (an empty file is renamed over the
    /// history): after a crash the history is either as before or empty.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; I/O errors (history unchanged).
    pub fn clear(&self) -> Result<()> {
        let w = self.writer("clear")?;
        let mut st = lock(&w.state);
        st.lock.check(&*self.dir)?;
        self.resync_dir(&mut st)?;
        st.set_file(None);
        st.dirty = true;
        let replaced = commit::replace(self.target(), (), |_, _| Ok(()))?;
        self.adopt(&mut st, replaced, (0, 0, None))
    }
}
