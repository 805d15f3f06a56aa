//! The counts a suite printed, written to a file so that
//! `scripts/check-counts` can compare them with the figures the docs quote
//! (a figure in the docs cannot go stale).
//!
//! With `IH_TEST_COUNTS` set to a directory (the scripts set it to
//! `target/test-counts`), [`Counts::write`] writes `<dir>/<suite>.txt`, one
//! `key value` line per count; without it, nothing is written (a plain
//! `cargo test`).

use std::fmt::Write as _;

/// The counts of one suite.
#[derive(Debug)]
pub struct Counts {
    suite: String,
    lines: Vec<(String, u64)>,
}

impl Counts {
    /// No counts yet for `suite` (the file's name, e.g. `io_faults.retried`).
    pub fn new(suite: &str) -> Self {
        Counts { suite: suite.to_string(), lines: Vec::new() }
    }

    /// Sets `key` (spaces become `_`) to `value`.
    pub fn set(&mut self, key: &str, value: u64) -> &mut Self {
        let key = key.replace(' ', "_");
        match self.lines.iter_mut().find(|(k, _)| *k == key) {
            Some(line) => line.1 = value,
            None => self.lines.push((key, value)),
        }
        self
    }

    /// Writes `$IH_TEST_COUNTS/<suite>.txt` (replacing it), if
    /// `IH_TEST_COUNTS` is set.
    ///
    /// # Panics
    /// If the file cannot be written: a count the check needs must not go
    /// missing silently.
    pub fn write(&self) {
        let Some(dir) = std::env::var_os("IH_TEST_COUNTS") else { return };
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut text = String::new();
        for (k, v) in &self.lines {
            let _ = writeln!(text, "{k} {v}");
        }
        let path = dir.join(format!("{}.txt", self.suite));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Totals over the tests of one process: several tests add to the same
/// suite's counts (e.g. every workload of the power-loss suite), and the
/// file is rewritten after each addition, so it holds the sum once they
/// have all run.
static TOTALS: std::sync::Mutex<Vec<(String, Counts)>> = std::sync::Mutex::new(Vec::new());

/// Adds `add`'s counts to the process-wide totals of its suite and writes
/// the totals (see [`Counts::write`]).
pub fn accumulate(add: &Counts) {
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    let i = match totals.iter().position(|(s, _)| *s == add.suite) {
        Some(i) => i,
        None => {
            totals.push((add.suite.clone(), Counts::new(&add.suite)));
            totals.len() - 1
        }
    };
    let total = &mut totals[i].1;
    for (k, v) in &add.lines {
        let now = total.lines.iter().find(|(tk, _)| tk == k).map_or(0, |l| l.1);
        total.set(k, now + v);
    }
    total.write();
}
