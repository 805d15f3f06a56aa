//! Power-loss test of iteration-history: replay the block-level write log
//! of a real kernel at every flush and check what survived.
//!
//! The method of xfstests (generic/455, generic/482) and CrashMonkey. A QEMU
//! guest runs a workload on ext4 over a `dm-log-writes` device, which
//! copies every write, FLUSH and FUA onto a log disk, in the order they
//! became durable. The writer marks the log after every operation that
//! returned `Ok` (see [`marks`]). On the host, [`check`] rebuilds the disk as
//! it was at every FLUSH, every FUA and every mark after `mkfs` (a power cut
//! at that instant, with the worst ordering of everything not yet flushed),
//! recovers the file system with `e2fsck`, extracts the history's directory
//! with `debugfs` and checks it with the library itself against [`model`]:
//! every acknowledged operation is there byte for byte, nothing is
//! duplicated, and the history opens and accepts a new save.
//!
//! Limits: the log has flush granularity. It models a power cut at a
//! barrier with everything not flushed lost, not torn sectors or reordered
//! writes within one flush epoch (the core's in-process crash simulator
//! covers those).
//!
//! * [`log_format`]: the dm-log-writes format and the replay.
//! * [`records`], [`model`], [`marks`]: what the history must hold.
//! * [`workloads`], [`mark_sink`]: the guest side (binary `plwriter`).
//! * [`check`]: the host side (binary `plcheck`).

pub mod check;
pub mod log_format;
pub mod mark_sink;
pub mod marks;
pub mod model;
pub mod records;
pub mod workloads;
