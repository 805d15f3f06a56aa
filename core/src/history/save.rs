//! Saving: encoding, group commit (the first thread to arrive leads and commits everything queued) and the commit under the writer lock.

use super::*;

/// Resets the queue's leader flag even if a commit panics.
struct LeaderGuard<'a> {
    writer: &'a Writer,
    tickets: Vec<u64>,
    result: Option<Result<()>>,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        let mut q = lock(&self.writer.queue);
        q.leader = false;
        let result = self.result.take().unwrap_or_else(|| {
            Err(Error::Io {
                file: String::new(),
                op: "committing (the committing thread panicked)",
                source: Arc::new(io::Error::other("panic during commit")),
            })
        });
        for t in &self.tickets {
            q.results.insert(*t, result.clone());
        }
        self.writer.done.notify_all();
    }
}

impl History {
    pub(super) fn encode(&self, records: &[IterationRecord]) -> Result<Vec<EncodedBody>> {
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                codec::encode_body(r).map_err(|source| Error::InvalidRecord {
                    file: self.display.clone(),
                    at: if records.len() > 1 {
                        format!(" (record {} of the batch, iteration {})", i + 1, r.iteration_num)
                    } else {
                        String::new()
                    },
                    source,
                })
            })
            .collect()
    }

    /// Saves one record durably (see [Durability](Self#durability)).
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] (nothing written), [`Error::ReadOnly`], and
    /// I/O errors; on any error nothing of the record is committed.
    pub fn save(&self, record: &IterationRecord) -> Result<()> {
        let w = self.writer("save")?;
        let bodies = self.encode(std::slice::from_ref(record))?;
        self.commit(w, bodies)
    }

    /// Saves several records as one all-or-nothing commit: after a crash
    /// either all of them are in the history or none is. Up to
    /// [`Options::rename_batches_over`] records are appended as one tagged
    /// commit (announced first in `<history>.commit`, see docs/durability.md);
    /// more are committed by a rename of a new file holding the history and
    /// the new untagged lines (cost: a copy of the history).
    ///
    /// # Errors
    /// As [`save`](Self::save); an invalid record names its place in the batch.
    pub fn save_batch(&self, records: &[IterationRecord]) -> Result<()> {
        let w = self.writer("save")?;
        if records.is_empty() {
            return Ok(());
        }
        let bodies = self.encode(records)?;
        self.commit(w, bodies)
    }

    /// Saves one record given as a JSON object (one line of JSONL, in any
    /// form the reader accepts, e.g. written by Python's `json.dumps`).
    ///
    /// # Errors
    /// [`Error::InvalidJson`] naming the problem, or as [`save`](Self::save).
    pub fn save_json(&self, json: &[u8]) -> Result<()> {
        let record = self.parse_json(json, "")?;
        self.save(&record)
    }

    /// Parses one JSON record for saving, with errors naming this history.
    pub(super) fn parse_json(&self, json: &[u8], at: &str) -> Result<IterationRecord> {
        codec::decode_line(json).map(|(r, _)| r).map_err(|reason| Error::InvalidJson {
            file: self.display.clone(),
            at: at.to_string(),
            reason,
        })
    }

    /// Saves `records` only if the history's last `iteration_num` is
    /// `expected_last` (`None`: the history is empty), as one commit.
    /// Two writers computing iteration N from N-1 cannot both append N.
    ///
    /// Idempotent: if the history already ends with exactly these records
    /// (a retry after an unknown outcome, e.g. a crash or timeout during the
    /// first attempt), nothing is written and
    /// [`AppendOutcome::AlreadyPresent`] is returned.
    ///
    /// # Errors
    /// [`Error::Conflict`] with the actual last iteration, or as
    /// [`save_batch`](Self::save_batch).
    pub fn save_if_last(&self, expected_last: Option<u64>, records: &[IterationRecord]) -> Result<AppendOutcome> {
        let w = self.writer("save")?;
        let bodies = self.encode(records)?;
        let mut st = lock(&w.state);
        if st.last != expected_last {
            if !records.is_empty() && st.last == records.last().map(|r| r.iteration_num) {
                let src =
                    self.dir.open_read(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
                let tail = scan::recent(&*src, st.len, records.len())
                    .map_err(|e| Error::io(&self.display, "reading the history", e))?;
                if tail.as_deref() == Ok(records) {
                    return Ok(AppendOutcome::AlreadyPresent);
                }
            }
            let show = |v: Option<u64>| v.map_or_else(|| "none (empty history)".to_string(), |n| n.to_string());
            return Err(Error::Conflict {
                file: self.display.clone(),
                expected: show(expected_last),
                actual: show(st.last),
            });
        }
        if !bodies.is_empty() {
            let refs: Vec<&EncodedBody> = bodies.iter().collect();
            self.commit_locked(&mut st, &refs, refs.len() > 1)?;
        }
        Ok(AppendOutcome::Appended)
    }

    /// Saves `records` as one commit numbered by the history: the first
    /// gets the last stored `iteration_num` + 1 (0 in an empty history),
    /// the next one more, and so on; the numbers the records carry are
    /// ignored. Reading the last number and appending happen under the
    /// writer's lock, so writer threads sharing this history never conflict
    /// and never leave a gap. Returns the numbers given (an empty range at
    /// the next number for no records).
    ///
    /// For a loop whose next record is computed from the last one, use
    /// [`save_if_last`](Self::save_if_last) instead.
    ///
    /// # Errors
    /// As [`save_batch`](Self::save_batch); nothing is written on error.
    pub fn save_next(&self, records: &[IterationRecord]) -> Result<std::ops::Range<u64>> {
        let w = self.writer("save")?;
        let mut st = lock(&w.state);
        let first = st.last.map_or(0, |n| n + 1);
        let numbered: Vec<IterationRecord> = IterationRecord::renumbered(records, first);
        let bodies = self.encode(&numbered)?;
        if !bodies.is_empty() {
            let refs: Vec<&EncodedBody> = bodies.iter().collect();
            self.commit_locked(&mut st, &refs, refs.len() > 1)?;
        }
        Ok(first..first + records.len() as u64)
    }

    /// Group commit: queue our records; one thread at a time commits
    /// everything queued so far in one write and one sync.
    pub(super) fn commit(&self, w: &Writer, bodies: Vec<EncodedBody>) -> Result<()> {
        let mut q = lock(&w.queue);
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push((ticket, bodies));
        loop {
            if let Some(result) = q.results.remove(&ticket) {
                return result;
            }
            if !q.leader {
                q.leader = true;
                let batch = std::mem::take(&mut q.pending);
                drop(q);
                let mut guard =
                    LeaderGuard { writer: w, tickets: batch.iter().map(|(t, _)| *t).collect(), result: None };
                let refs: Vec<&EncodedBody> = batch.iter().flat_map(|(_, b)| b).collect();
                // A commit holding a multi-record batch must be all-or-nothing;
                // one of single saves only (each its own commit) need not.
                let multi = batch.iter().any(|(_, b)| b.len() > 1);
                let result = {
                    let mut st = lock(&w.state);
                    self.commit_locked(&mut st, &refs, multi)
                };
                guard.result = Some(result);
                drop(guard);
                q = lock(&w.queue);
                continue;
            }
            q = w.done.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// One commit of `bodies` under the state lock. `multi`: the commit holds
    /// a multi-record batch, which must stay all-or-nothing after a crash.
    ///
    /// Appended commits of several records carry `k/n+offset` tags; if one
    /// holds a batch, the in-flight record ([`crate::intent`]) is written
    /// and synced first. Commits by rename (the `Rewrite` strategy, and
    /// batches over [`Options::rename_batches_over`]) are untagged.
    pub(super) fn commit_locked(&self, st: &mut WriterState, bodies: &[&EncodedBody], multi: bool) -> Result<()> {
        st.lock.check(&*self.dir)?;
        self.resync_dir(st)?;
        let by_rename =
            self.options.strategy == CommitStrategy::Rewrite || bodies.len() > self.options.rename_batches_over;
        let mut bytes = Vec::with_capacity(bodies.iter().map(|b| b.approx_line_len() + 24).sum());
        if by_rename {
            codec::finish_untagged(bodies.iter().copied(), &mut bytes);
        } else {
            codec::finish_commit(bodies.iter().copied(), bodies.len(), &mut bytes);
        }
        let t = self.target();
        if by_rename {
            let len = st.len;
            let src = self.dir.open_read(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
            st.set_file(None);
            st.dirty = true;
            st.durable = false;
            let replaced = commit::replace(t, src, |src, f| {
                commit::copy_prefix(&**src, f, len, &self.display)?;
                f.write_at(&bytes, len).map_err(|e| Error::io(&self.display, "writing a temp file", e))
            })?;
            st.set_file(Some(replaced.file));
            // If the directory sync failed the new file is visible but not
            // counted: the next rewrite copies only the committed prefix.
            replaced.dir_synced?;
            st.dirty = false;
        } else {
            self.ensure_file(st)?;
            let heal = st.dirty;
            st.dirty = true;
            let at = st.len;
            let not_open = || Error::io(&self.display, "appending", io::Error::other("the history is not open"));
            if !heal {
                // One fstat: catch a program that ignores the lock.
                let file = st.file.as_ref().ok_or_else(not_open)?;
                let actual = file.len().map_err(|e| Error::io(&self.display, "reading the history's length", e))?;
                if actual != at {
                    st.dirty = false;
                    return Err(Error::ChangedExternally { file: self.display.clone(), expected: at, actual });
                }
            }
            if multi && bodies.len() > 1 {
                // The batch's record in flight, durable before the batch.
                let first = memchr::memchr(b'\n', &bytes).map_or(bytes.len(), |i| i + 1);
                let record = intent::Intent {
                    from: at,
                    count: bodies.len() as u32,
                    first_line_crc: crc32c::crc32c(&bytes[..first]),
                };
                let written = intent::write(
                    &*self.dir,
                    &self.name,
                    &self.display,
                    self.options.durability,
                    &mut st.intent,
                    record,
                );
                if let Err(e) = written {
                    st.dirty = heal;
                    return Err(e);
                }
            }
            let file = st.file.as_mut().ok_or_else(not_open)?;
            commit::append(t, &mut **file, at, &bytes, heal)?;
            st.dirty = false;
        }
        st.durable = true;
        st.len += bytes.len() as u64;
        st.count += bodies.len() as u64;
        st.last = bodies.last().map(|b| b.iteration_num());
        Ok(())
    }

    /// After a rename whose directory sync failed, sync the directory again
    /// (a fresh attempt) before anything else is committed.
    pub(super) fn resync_dir(&self, st: &mut WriterState) -> Result<()> {
        if st.dir_unsynced {
            commit::sync_dir(self.target(), "syncing the directory after an earlier failure")?;
            st.dir_unsynced = false;
        }
        Ok(())
    }

    /// Takes the new file of a replace (clear, repair, compact) as the
    /// current state; a failed directory sync is reported and retried later.
    pub(super) fn adopt(
        &self,
        st: &mut WriterState,
        replaced: commit::Replaced,
        totals: (u64, u64, Option<u64>),
    ) -> Result<()> {
        st.set_file(Some(replaced.file));
        (st.len, st.count, st.last) = totals;
        st.dirty = false;
        st.durable = replaced.dir_synced.is_ok();
        if let Err(e) = replaced.dir_synced {
            st.dir_unsynced = true;
            return Err(e);
        }
        Ok(())
    }

    pub(super) fn ensure_file(&self, st: &mut WriterState) -> Result<()> {
        if st.file.is_none() {
            let f = self.dir.open_write(&self.name).map_err(|e| Error::io(&self.display, "opening the history", e))?;
            st.set_file(Some(f));
        }
        Ok(())
    }
}
