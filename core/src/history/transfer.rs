//! Transfer: importing another JSONL file and exporting the history.

use super::*;

impl History {
    /// Replaces the history with the JSONL read from `input`, kept byte for
    /// byte, as one atomic, durable commit (a temp file renamed over the
    /// history): afterwards [`export_to_writer`](Self::export_to_writer)
    /// writes exactly the bytes read (plus a `\n` if the last line had
    /// none). Every line is checked first (see [`JsonlReader`](crate::JsonlReader)); on any
    /// error the history is unchanged. `progress` is called with the number
    /// of records read so far.
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
        st.set_file(None);
        st.dirty = true;
        let mut report = None;
        let replaced = commit::replace(self.target(), (), |_, f| {
            let mut reader = JsonlReader::new(input, "input");
            let mut pos = 0u64;
            let mut buf = Vec::with_capacity(1 << 20);
            while let Some(rec) = reader.next_record()? {
                buf.extend_from_slice(&rec.raw);
                if buf.len() >= 1 << 20 {
                    f.write_at(&buf, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
                    pos += buf.len() as u64;
                    buf.clear();
                }
                progress(reader.records());
            }
            buf.extend_from_slice(reader.trailer());
            f.write_at(&buf, pos).map_err(|e| Error::io(&self.display, "writing a temp file", e))?;
            report = Some(reader.finish()?);
            Ok(())
        })?;
        let report = report.unwrap_or_default();
        self.adopt(&mut st, replaced, (report.bytes, report.records, report.last_iteration_num))?;
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
