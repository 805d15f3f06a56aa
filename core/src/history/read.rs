//! Reads: the committed view of the file, the last records, counts, pages and the streaming iterator.

use super::*;

impl History {
    /// A read handle and the end of the valid part to read up to.
    pub(super) fn view(&self) -> Result<Option<(Arc<dyn ReadFile>, u64)>> {
        let open = || match self.dir.open_read(&self.name) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&self.display, "opening the history", e)),
        };
        if let Some(w) = &self.writer {
            // Hold the state lock so the handle and the length match.
            let mut st = lock(&w.state);
            if let Some(f) = &st.reader {
                return Ok(Some((f.clone(), st.len)));
            }
            let f = open()?.map(Arc::<dyn ReadFile>::from);
            // Cache it only while the writer has the file open: then nothing
            // replaces the file without going through `set_file`.
            if st.file.is_some() {
                st.reader.clone_from(&f);
            }
            return Ok(f.map(|f| (f, st.len)));
        }
        // A read-only handle opens the file for each call; `LastBlock`
        // spares the call reading the tail block again for the records.
        let Some(f) = open()? else { return Ok(None) };
        let f: Arc<dyn ReadFile> = Arc::new(LastBlock::new(f));
        let len = f.len().map_err(|e| Error::io(&self.display, "reading the history's length", e))?;
        let mut t = scan::tail(&*f, len).map_err(|e| Error::io(&self.display, "reading the history", e))?;
        recovery::apply_intent(self.target(), &mut t)?;
        let end = match t.outcome {
            Outcome::Torn { from, .. } => from,
            _ => len,
        };
        Ok(Some((f, end)))
    }

    pub(super) fn corrupt(&self, src: &dyn ReadFile, bad: BadLine) -> Error {
        let line = if bad.number > 0 { bad.number } else { scan::line_number_at(src, bad.offset).unwrap_or(0) };
        Error::Corrupt { file: self.display.clone(), line, offset: bad.offset, reason: bad.error }
    }

    /// The last `n` records, oldest first. Reads backwards from the end of
    /// the file: the cost depends on `n`, not on the history's length.
    /// A writer's reads share one read handle, opened by the first read and
    /// closed whenever the writer replaces the file (rewrite commit,
    /// `compact`, `clear`, `repair`), so a call costs no open or close.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if a bad line lies among them; I/O errors.
    pub fn load_recent(&self, n: usize) -> Result<Vec<IterationRecord>> {
        let Some((src, end)) = self.view()? else { return Ok(Vec::new()) };
        match scan::recent(&*src, end, n).map_err(|e| Error::io(&self.display, "reading the history", e))? {
            Ok(records) => Ok(records),
            Err(bad) => Err(self.corrupt(&*src, bad)),
        }
    }

    /// `iteration_num` of the last record (`None` if empty): where a loop
    /// resumes. Constant time.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the last line is bad; I/O errors.
    pub fn last_iteration_num(&self) -> Result<Option<u64>> {
        if let Some(w) = &self.writer {
            return Ok(lock(&w.state).last);
        }
        let Some((src, end)) = self.view()? else { return Ok(None) };
        match scan::last_iteration(&*src, end).map_err(|e| Error::io(&self.display, "reading the history", e))? {
            Ok(last) => Ok(last),
            Err(bad) => Err(self.corrupt(&*src, bad)),
        }
    }

    /// Number of records. Constant time for a writer. A reader reads the
    /// bytes after the history's checkpoint (`<history>.idx`, see docs/durability.md),
    /// or the whole file (checksums only) if there is no valid checkpoint.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (in the part read); I/O errors.
    pub fn count(&self) -> Result<u64> {
        if let Some(w) = &self.writer {
            return Ok(lock(&w.state).count);
        }
        let Some((src, end)) = self.view()? else { return Ok(0) };
        let base = checkpoint::load(&*self.dir, &self.name, &*src, end);
        let mut s = scan::scan_after(&*src, base, end, false)
            .map_err(|e| Error::io(&self.display, "reading the history", e))?;
        // `end` already excludes a partial commit the in-flight record names.
        recovery::apply_intent(self.target(), &mut s)?;
        match s.outcome {
            Outcome::Corrupt { first_bad } | Outcome::Torn { first_bad, .. } => Err(self.corrupt(&*src, first_bad)),
            Outcome::Clean => Ok(s.totals.records),
        }
    }

    /// One page of records, oldest first: at most `limit` records starting
    /// at `cursor` (0 for the start; then the `next_cursor` of the previous
    /// page). A cursor is a byte offset of a line start, stable while the
    /// history only grows.
    ///
    /// # Errors
    /// [`Error::InvalidCursor`] for a cursor that is not a line start of
    /// this history; [`Error::Corrupt`]; I/O errors.
    pub fn page(&self, cursor: u64, limit: usize) -> Result<Page> {
        let Some((src, end)) = self.view()? else {
            return if cursor == 0 {
                Ok(Page { records: Vec::new(), next_cursor: None })
            } else {
                Err(Error::InvalidCursor { file: self.display.clone(), cursor })
            };
        };
        let io_err = |e| Error::io(&self.display, "reading the history", e);
        if cursor > end {
            return Err(Error::InvalidCursor { file: self.display.clone(), cursor });
        }
        if cursor > 0 {
            let mut b = [0u8; 1];
            crate::storage::read_exact_at(&*src, &mut b, cursor - 1).map_err(io_err)?;
            if b[0] != b'\n' {
                return Err(Error::InvalidCursor { file: self.display.clone(), cursor });
            }
        }
        let mut lines = Lines::new(cursor, end, 0);
        let mut records = Vec::with_capacity(limit.min(4096));
        let mut pos = cursor;
        while records.len() < limit {
            let Some(line) = lines.next_line(&*src).map_err(io_err)? else { break };
            pos = line.end;
            if codec::is_blank(line.bytes) {
                continue;
            }
            let (offset, result) = (line.offset, codec::decode_line(line.bytes));
            match result {
                Ok((rec, _)) => records.push(rec),
                Err(error) => return Err(self.corrupt(&*src, BadLine { offset, number: 0, error })),
            }
        }
        Ok(Page { records, next_cursor: (pos < end).then_some(pos) })
    }

    /// Every record, oldest first (see [`iter`](Self::iter) to stream).
    ///
    /// # Errors
    /// [`Error::Corrupt`] at the first bad line; I/O errors.
    pub fn get_all(&self) -> Result<Vec<IterationRecord>> {
        self.iter()?.collect()
    }

    /// Streams every record, oldest first, in constant memory. The records
    /// are those committed when the iterator was made.
    ///
    /// # Errors
    /// Opening fails on I/O errors; items are `Err(Error::Corrupt)` at a bad
    /// line (and the iteration ends).
    pub fn iter(&self) -> Result<Records> {
        let view = self.view()?;
        Ok(Records {
            view: view.map(|(src, end)| (src, Lines::new(0, end, 1))),
            display: self.display.clone(),
            failed: false,
        })
    }
}

/// Streaming iterator over a history's records (see [`History::iter`]).
pub struct Records {
    view: Option<(Arc<dyn ReadFile>, Lines)>,
    display: String,
    failed: bool,
}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records").field("file", &self.display).finish()
    }
}

impl Iterator for Records {
    type Item = Result<IterationRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let (src, lines) = self.view.as_mut()?;
        loop {
            let line = match lines.next_line(&**src) {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(Error::io(&self.display, "reading the history", e)));
                }
            };
            if codec::is_blank(line.bytes) {
                continue;
            }
            return Some(match codec::decode_line(line.bytes) {
                Ok((rec, _)) => Ok(rec),
                Err(reason) => {
                    self.failed = true;
                    Err(Error::Corrupt { file: self.display.clone(), line: line.number, offset: line.offset, reason })
                }
            });
        }
    }
}
