//! Test support for iteration-history: a crash-simulating directory, fault
//! injection, and the checks the crash, fault and load tests share.
//!
//! * [`CrashDir`] implements the core's [`Dir`](iteration_history::storage::Dir)
//!   trait and tracks, per file and per directory entry, what is durable and
//!   what is only in the page cache; a [`Snapshot`] taken after any
//!   operation enumerates what the disk may hold after a power loss then.
//! * [`Faults`] and [`FaultDir`] fail the N-th operation with disk full,
//!   permission denied or an I/O error.
//! * [`workload`] runs a scripted workload on a recording `CrashDir` and
//!   checks every post-crash state against a model of what was acknowledged.
//!
//! Used by this crate's tests and by other crates' tests (e.g. the WASI
//! host) as a dev-dependency.

pub mod crash;
pub mod fault;
pub mod fuzz;
pub mod records;
pub mod rng;
pub mod workload;

pub use crash::{CrashDir, CrashImages, CrashModel, Image, Snapshot};
pub use fault::{FaultDir, FaultKind, Faults, Op, OpFilter};
