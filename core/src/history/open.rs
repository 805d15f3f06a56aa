//! Opening a history (for writing: lock, then recovery; or read-only) and closing it (`Drop`: the last cut of a failed write, the checkpoint, the lock).

use super::*;

impl History {
    /// Opens (creating if needed) history `name` in `dir` for writing.
    ///
    /// Takes the writer lock, then recovers: removes our stale temp files,
    /// moves a torn tail to a sidecar file, and fails on corruption unless
    /// [`Options::repair_on_open`] is set. What it did is in
    /// [`recovery_report`](Self::recovery_report). Opening reads only what
    /// follows the history's checkpoint (`<history>.idx`, see docs/durability.md), or the
    /// whole file (checksums only) when there is no valid one; after that, saves, `count`,
    /// `last_iteration_num` and `load_recent` do not depend on the history's
    /// length. Damage inside a checkpointed prefix is found by reads,
    /// [`verify`](Self::verify) and [`Options::repair_on_open`], not here.
    ///
    /// # Errors
    /// [`Error::Locked`] if another writer holds it, [`Error::Corrupt`],
    /// [`Error::InvalidName`], and I/O errors (disk full, permission denied).
    pub fn open(dir: impl Dir + 'static, name: &str, options: Options) -> Result<History> {
        Self::open_shared(Arc::new(dir), name, options)
    }

    /// Like [`open`](Self::open), for a directory handle shared with others.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_shared(dir: Arc<dyn Dir>, name: &str, options: Options) -> Result<History> {
        let name = FileName::new(name)?;
        let display = dir.display_name(&name);
        let mut lock = lock::acquire(&*dir, &name, &display, &options)?;
        let t = Target { dir: &*dir, name: &name, display: &display, durability: options.durability };
        let opened = match recovery::open(t, options.repair_on_open) {
            Ok(opened) => opened,
            Err(e) => {
                // A failed open must not leave a lease behind (it would lock
                // the history until it expires).
                lock.release(&*dir);
                return Err(e);
            }
        };
        let lock_kind = lock.kind();
        let writer = Writer {
            state: Mutex::new(WriterState {
                file: Some(opened.file),
                reader: None,
                len: opened.totals.end,
                count: opened.totals.records,
                last: opened.totals.last,
                dirty: false,
                dir_unsynced: false,
                durable: opened.durable,
                intent: None,
                lock,
            }),
            queue: Mutex::new(Queue::default()),
            done: Condvar::new(),
            report: opened.report,
            lock_kind,
        };
        Ok(History { dir, name, display, options, writer: Some(writer) })
    }

    /// Opens history `name` in `dir` for reading only. Takes no lock and
    /// changes nothing: a torn tail is ignored, not moved. A missing file
    /// reads as an empty history.
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    pub fn open_read_only(dir: impl Dir + 'static, name: &str) -> Result<History> {
        Self::open_read_only_shared(Arc::new(dir), name)
    }

    /// Like [`open_read_only`](Self::open_read_only) for a shared directory handle.
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    pub fn open_read_only_shared(dir: Arc<dyn Dir>, name: &str) -> Result<History> {
        let name = FileName::new(name)?;
        let display = dir.display_name(&name);
        Ok(History { dir, name, display, options: Options::default(), writer: None })
    }
}

impl Drop for History {
    fn drop(&mut self) {
        if let Some(w) = &self.writer {
            let mut st = lock(&w.state);
            // A failed attempt may have left bytes after the committed length,
            // which a failed sync may even have made partly durable: cut them
            // durably now, as the next commit would have (best effort: the
            // next writer's first commit overwrites them anyway).
            if st.dirty && st.lock.check(&*self.dir).is_ok() {
                let len = st.len;
                if let Some(f) = st.file.as_mut()
                    && commit::truncate(self.target(), &mut **f, len).is_ok()
                {
                    st.dirty = false;
                }
            }
            // A checkpoint of what this writer made durable, so the next
            // open reads only what is appended after it.
            let durable = st.durable || self.options.durability == crate::Durability::None;
            if durable
                && !st.dirty
                && let Some(f) = &st.file
            {
                let totals = scan::Totals { end: st.len, records: st.count, last: st.last, unchecksummed: 0 };
                checkpoint::store(&*self.dir, &self.name, &**f as &dyn ReadFile, &totals);
            }
            st.lock.release(&*self.dir);
        }
    }
}
