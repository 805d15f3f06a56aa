//! Transfer: importing another JSONL file and exporting the history.

use super::*;

impl History {
    /// Replaces the history with the JSONL read from `input` (or, with
    /// [`ImportMode::Append`], adds it after the history's records), kept
    /// byte for byte, as one atomic, durable commit (a temp file renamed over
    /// the history, streamed: memory is bounded by the longest line):
    /// afterwards [`export_to_writer`](Self::export_to_writer) writes
    /// exactly the bytes read (after the history's own for `Append`; plus a
    /// `\n` if the last line had none). Every line is checked first (see
    /// [`JsonlReader`](crate::JsonlReader)); on any error the history is
    /// unchanged. `progress` is called with the number of records read so
    /// far. The report counts the records read; its `bytes` are the
    /// history's after the import.
    ///
    /// # Errors
    /// [`Error::Conflict`] for [`ImportMode::IntoEmpty`] when the history
    /// has records; [`Error::InvalidJson`] naming the first bad line of the
    /// input; [`Error::ReadOnly`]; I/O errors.
    pub fn import_jsonl(
        &self,
        input: &mut dyn io::BufRead,
        mode: ImportMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport> {
        let w = self.writer("import")?;
        let mut st = lock(&w.state);
        if mode == ImportMode::IntoEmpty && st.count > 0 {
            return Err(Error::Conflict {
                file: self.display.clone(),
                expected: "none (empty history)".to_string(),
                actual: st.last.map_or_else(|| "none".to_string(), |n| n.to_string()),
            });
        }
        st.lock.check(&*self.dir)?;
        self.resync_dir(&mut st)?;
        // What an append keeps: the committed bytes, read through a handle
        // taken before the file is let go.
        let (kept_file, kept) = if mode == ImportMode::Append && st.len > 0 {
            let f = match &st.reader {
                Some(f) => f.clone(),
                None => Arc::<dyn ReadFile>::from(
                    self.dir.open_read(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?,
                ),
            };
            (Some(f), Some((st.len, st.count, st.last)))
        } else {
            (None, None)
        };
        st.set_file(None);
        st.dirty = true;
        let mut report = None;
        let replaced = commit::replace(self.target(), (), |_, f| {
            let mut pos = 0u64;
            let mut buf = Vec::with_capacity(1 << 20);
            if let (Some(src), Some((len, ..))) = (kept_file, &kept) {
                commit::copy_prefix(&*src, f, *len, &self.display)?;
                pos = *len;
                // A last line without its `\n` (written by another tool)
                // gets one, so that the input starts on a line of its own.
                let mut last = [0u8];
                crate::storage::read_exact_at(&*src, &mut last, len - 1)
                    .map_err(|e| Error::io(&self.display, "reading the history", e))?;
                if last[0] != b'\n' {
                    buf.push(b'\n');
                }
                // Closed before the rename: on Windows a file open here
                // cannot be replaced.
                drop(src);
            }
            let added = buf.len() as u64;
            let mut reader = JsonlReader::new(input, "input");
            // The input's BOM is dropped when it is not the file's start.
            let mut dropped = 0u64;
            let mut skip_bom = |bytes: &'_ [u8]| -> usize {
                if kept.is_some() && dropped == 0 && bytes.starts_with(crate::format::BOM) {
                    dropped = 3;
                    3
                } else {
                    0
                }
            };
            while let Some(rec) = reader.next_record()? {
                let from = if reader.records() == 1 { skip_bom(&rec.raw) } else { 0 };
                let raw = &rec.raw[from..];
                // Small records are gathered; a large one is written as it
                // is (not copied once more).
                let direct = raw.len() >= 1 << 20;
                if !direct {
                    buf.extend_from_slice(raw);
                }
                if direct || buf.len() >= 1 << 20 {
                    f.write_at(&buf, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
                    pos += buf.len() as u64;
                    buf.clear();
                }
                if direct {
                    f.write_at(raw, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
                    pos += raw.len() as u64;
                }
                progress(reader.records());
            }
            let from = if reader.records() == 0 { skip_bom(reader.trailer()) } else { 0 };
            buf.extend_from_slice(&reader.trailer()[from..]);
            f.write_at(&buf, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
            let mut r = reader.finish()?;
            r.bytes = r.bytes - dropped + added + kept.as_ref().map_or(0, |k| k.0);
            report = Some(r);
            Ok(())
        })?;
        let report = report.unwrap_or_default();
        let (count, last) = match &kept {
            Some((_, count, last)) => (count + report.records, report.last_iteration_num.or(*last)),
            None => (report.records, report.last_iteration_num),
        };
        self.adopt(&mut st, replaced, (report.bytes, count, last))?;
        Ok(report)
    }

    /// Writes a consistent copy of the committed history (byte for byte) to
    /// `name` in `dir`, atomically and durably, e.g. for a backup or the
    /// viewer. Returns the number of bytes.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; I/O errors (the destination is unchanged).
    pub fn export_to(&self, dir: &dyn Dir, name: &str) -> Result<u64> {
        let dest = FileName::new(name)?;
        let display = dir.display_name(&dest);
        let t = Target { dir, name: &dest, display: &display, durability: crate::Durability::Full };
        let view = self.view()?;
        let mut written = 0;
        let replaced = commit::replace(t, (), |_, f| {
            if let Some((src, end)) = &view {
                commit::copy_prefix(&**src, f, *end, &display)?;
                written = *end;
            }
            Ok(())
        })?;
        replaced.dir_synced?;
        Ok(written)
    }

    /// Writes the committed history (byte for byte) to `out`.
    ///
    /// # Errors
    /// I/O errors from reading the history or writing `out`.
    pub fn export_to_writer(&self, out: &mut dyn Write) -> Result<u64> {
        let Some((src, end)) = self.view()? else { return Ok(0) };
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0u64;
        while pos < end {
            let want = ((end - pos) as usize).min(buf.len());
            crate::storage::read_exact_at(&*src, &mut buf[..want], pos)
                .map_err(|e| Error::io(&self.display, "reading the history", e))?;
            out.write_all(&buf[..want]).map_err(|e| Error::io("output", "writing the export", e))?;
            pos += want as u64;
        }
        Ok(end)
    }
}
