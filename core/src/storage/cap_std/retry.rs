//! Bounded retry with back-off for errors another program causes for a
//! moment.
//!
//! On Windows, virus scanners, search indexers, backup and sync clients
//! (OneDrive, Dropbox) open files they see change, often without
//! `FILE_SHARE_DELETE`. While they hold the file, renaming over it, removing
//! it or opening it fails with `ERROR_ACCESS_DENIED` (5),
//! `ERROR_SHARING_VIOLATION` (32) or `ERROR_LOCK_VIOLATION` (33), and a
//! moment later it works. The same codes come back while a reader holds the
//! file on a system that cannot replace an open file (FAT, exFAT, many SMB
//! shares, Windows before 10 1607, Wine). So the Windows backend retries
//! those operations for up to [`Policy::WINDOWS`]'s budget and then fails
//! with an error that says what was tried and what usually causes it.
//!
//! The decision ([`is_windows_sharing_error`]) and the loop ([`retry`], with
//! the sleep passed in) are plain functions, so they are tested on every
//! platform; only the Windows backend uses them with real errors.

use std::fmt;
use std::io;
use std::time::Duration;

/// `ERROR_ACCESS_DENIED`: also what an open, a rename or a delete gets
/// while the file is delete-pending or held open without `FILE_SHARE_DELETE`.
pub(crate) const ERROR_ACCESS_DENIED: i32 = 5;
/// `ERROR_SHARING_VIOLATION`: another handle's share mode forbids the access.
pub(crate) const ERROR_SHARING_VIOLATION: i32 = 32;
/// `ERROR_LOCK_VIOLATION`: another process locked a region of the file.
pub(crate) const ERROR_LOCK_VIOLATION: i32 = 33;

/// Whether a raw Windows error code is one of the transient sharing errors
/// worth retrying. Only meaningful for Windows error codes (on Unix the same
/// numbers are `EIO`, `EPIPE` and `EDOM`).
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn is_windows_sharing_error(raw_os_error: Option<i32>) -> bool {
    matches!(raw_os_error, Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION))
}

/// How long to keep trying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// The first pause; each next pause doubles, up to `max_pause`.
    pub(crate) first_pause: Duration,
    /// The longest single pause.
    pub(crate) max_pause: Duration,
    /// The most time spent pausing in all; the last pause is shortened to
    /// fit, and no attempt is made after the budget is used up.
    pub(crate) budget: Duration,
}

impl Policy {
    /// One attempt, no retries (Unix).
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) const NONE: Policy =
        Policy { first_pause: Duration::ZERO, max_pause: Duration::ZERO, budget: Duration::ZERO };

    /// What the Windows backend uses: pauses of 5, 10, 20, … ms up to
    /// 400 ms, about 2 s in all (12 attempts). Long enough for a scanner to
    /// finish with a history file, short enough that a real permission
    /// problem is reported promptly. (Git for Windows waits about 1.3 s
    /// before it asks the user.)
    #[cfg_attr(not(windows), allow(dead_code))]
    pub(crate) const WINDOWS: Policy = Policy {
        first_pause: Duration::from_millis(5),
        max_pause: Duration::from_millis(400),
        budget: Duration::from_secs(2),
    };
}

/// The error after the last attempt: the last OS error, with how long we
/// tried and what usually causes it. Its [`io::ErrorKind`] is the OS
/// error's, and [`std::error::Error::source`] is the OS error itself.
#[derive(Debug)]
pub(crate) struct StillFailing {
    attempts: u32,
    waited: Duration,
    last: io::Error,
}

impl fmt::Display for StillFailing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (still failing after {} attempts over {} ms; the file is probably held open by another program, \
             such as a virus scanner, search indexer, backup or sync client, or a reader on a file system that \
             cannot replace an open file; if it persists, check the file's permissions)",
            self.last,
            self.attempts,
            self.waited.as_millis()
        )
    }
}

impl std::error::Error for StillFailing {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.last)
    }
}

/// Runs `op` until it succeeds, fails with an error `transient` does not
/// accept, or `policy`'s budget is used up; `sleep` pauses between attempts.
///
/// A non-transient error is returned as it is. If the budget runs out, the
/// last error is wrapped in [`StillFailing`] (same kind). An operation that
/// succeeds at once costs one call and no pause.
pub(crate) fn retry<T>(
    policy: Policy,
    transient: impl Fn(&io::Error) -> bool,
    mut sleep: impl FnMut(Duration),
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let mut attempts = 0u32;
    let mut waited = Duration::ZERO;
    let mut pause = policy.first_pause;
    loop {
        attempts += 1;
        let e = match op() {
            Ok(v) => return Ok(v),
            Err(e) if !transient(&e) => return Err(e),
            Err(e) => e,
        };
        let left = policy.budget.saturating_sub(waited);
        if left.is_zero() {
            if attempts == 1 {
                return Err(e);
            }
            return Err(io::Error::new(e.kind(), StillFailing { attempts, waited, last: e }));
        }
        let this = pause.min(left);
        sleep(this);
        waited += this;
        pause = (pause * 2).min(policy.max_pause);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn sharing() -> io::Error {
        // On Windows this is ERROR_SHARING_VIOLATION; the tests only look at the number.
        io::Error::from_raw_os_error(ERROR_SHARING_VIOLATION)
    }

    fn is_sharing(e: &io::Error) -> bool {
        is_windows_sharing_error(e.raw_os_error())
    }

    #[test]
    fn only_the_three_sharing_codes_are_transient() {
        for code in [ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION] {
            assert!(is_windows_sharing_error(Some(code)), "{code}");
        }
        // ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, ERROR_FILE_EXISTS,
        // ERROR_DISK_FULL, ERROR_ALREADY_EXISTS, ERROR_HANDLE_DISK_FULL.
        for code in [0, 2, 3, 80, 112, 183, 39, 6] {
            assert!(!is_windows_sharing_error(Some(code)), "{code}");
        }
        assert!(!is_windows_sharing_error(None), "errors without an OS code (ours, cap-std's) are final");
        assert!(!is_sharing(&io::Error::new(io::ErrorKind::PermissionDenied, "no os code")));
    }

    #[test]
    fn success_at_once_costs_one_call_and_no_pause() {
        let calls = Cell::new(0);
        let slept = Cell::new(Duration::ZERO);
        let v = retry(
            Policy::WINDOWS,
            is_sharing,
            |d| slept.set(slept.get() + d),
            || {
                calls.set(calls.get() + 1);
                Ok(7)
            },
        )
        .expect("ok");
        assert_eq!((v, calls.get(), slept.get()), (7, 1, Duration::ZERO));
    }

    #[test]
    fn a_transient_error_that_clears_is_retried_with_growing_pauses() {
        let calls = Cell::new(0);
        let mut pauses = Vec::new();
        let v = retry(
            Policy::WINDOWS,
            is_sharing,
            |d| pauses.push(d),
            || {
                calls.set(calls.get() + 1);
                if calls.get() < 4 { Err(sharing()) } else { Ok("renamed") }
            },
        )
        .expect("cleared");
        assert_eq!(v, "renamed");
        assert_eq!(calls.get(), 4);
        let ms: Vec<u128> = pauses.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![5, 10, 20]);
    }

    #[test]
    fn a_final_error_is_returned_at_once_unchanged() {
        let calls = Cell::new(0);
        let mut pauses = Vec::new();
        let e = retry(
            Policy::WINDOWS,
            is_sharing,
            |d| pauses.push(d),
            || -> io::Result<()> {
                calls.set(calls.get() + 1);
                Err(io::Error::from_raw_os_error(112)) // ERROR_DISK_FULL on Windows
            },
        )
        .expect_err("final");
        assert_eq!((calls.get(), pauses.len()), (1, 0));
        assert_eq!(e.raw_os_error(), Some(112), "not wrapped");
    }

    #[test]
    fn a_persistent_sharing_error_stops_at_the_budget_with_a_clear_error() {
        let calls = Cell::new(0);
        let mut pauses = Vec::new();
        let e = retry(
            Policy::WINDOWS,
            is_sharing,
            |d| pauses.push(d),
            || -> io::Result<()> {
                calls.set(calls.get() + 1);
                Err(sharing())
            },
        )
        .expect_err("still held");
        let total: Duration = pauses.iter().sum();
        assert_eq!(total, Policy::WINDOWS.budget, "pauses add up to the budget exactly");
        assert!(pauses.iter().all(|p| *p <= Policy::WINDOWS.max_pause));
        assert_eq!(calls.get() as usize, pauses.len() + 1, "one attempt after each pause");
        let ms: Vec<u128> = pauses.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![5, 10, 20, 40, 80, 160, 320, 400, 400, 400, 165]);
        assert_eq!(e.kind(), sharing().kind(), "the kind is kept for error mapping");
        let msg = e.to_string();
        assert!(msg.contains("still failing after 12 attempts over 2000 ms"), "{msg}");
        assert!(msg.contains("virus scanner") && msg.contains("held open"), "{msg}");
        let source = std::error::Error::source(e.get_ref().expect("wrapped")).expect("source");
        let os = source.downcast_ref::<io::Error>().expect("io error");
        assert_eq!(os.raw_os_error(), Some(ERROR_SHARING_VIOLATION), "the OS error is kept as the source");
    }

    #[test]
    fn a_zero_budget_means_one_attempt_and_the_plain_error() {
        let policy = Policy {
            first_pause: Duration::from_millis(1),
            max_pause: Duration::from_millis(1),
            budget: Duration::ZERO,
        };
        let calls = Cell::new(0);
        let e = retry(
            policy,
            is_sharing,
            |_| panic!("no pause"),
            || -> io::Result<()> {
                calls.set(calls.get() + 1);
                Err(sharing())
            },
        )
        .expect_err("fails");
        assert_eq!(calls.get(), 1);
        assert_eq!(e.raw_os_error(), Some(ERROR_SHARING_VIOLATION));
    }
}
