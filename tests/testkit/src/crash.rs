//! A directory that can lose power: [`CrashDir`].
//!
//! It implements the core's own [`Dir`] trait, so the real commit and
//! recovery code runs on it. For every file it keeps two images, as a
//! kernel does: the **live** one (the page cache: what reads see) and the
//! **durable** one (the disk), plus the list of writes and truncations made
//! since the last successful `sync_data`/`sync_all` of that file. For the
//! directory it keeps the live and the durable name → file maps, plus the
//! creates, renames and removes made since the last `sync_dir`.
//!
//! After any operation a [`Snapshot`] can enumerate what the disk may hold
//! after a power loss at that moment, following the abstract persistence
//! model of ALICE (Pillai et al., OSDI'14) and SQLite's crash VFS:
//!
//! * **file data**: any subset of the unsynced operations of a file, applied
//!   in order (so a later write may persist without an earlier one): every
//!   subset up to 6 operations, beyond that every prefix, every "all but
//!   one" and [`CrashModel::op_subset_samples`] seeded random subsets; and
//!   an unsynced write may persist *in part*: cut at any byte (writes up to
//!   [`CrashModel::byte_cut_limit`] bytes, else a seeded sample of cuts) or
//!   sector boundary, with the rest lost, or with the file size persisted
//!   and the rest **zeros** or **garbage**, or any subset of its sectors
//!   persisted with the others zero or garbage. A torn write sits on every
//!   earlier operation with every later one lost, or with every later one
//!   kept, or on none of the earlier ones (they were lost);
//! * **directory**: any subset of the creates, renames and removes made since
//!   the last `sync_dir`, applied in order (so they may be undone, kept, or
//!   kept out of order), each rename atomic; every subset up to
//!   [`CrashModel::dir_ops_exhaustive_max`] operations, else 64 seeded
//!   random subsets plus none and all. Per directory subset the files'
//!   variants are combined exhaustively when there are at most
//!   `max_images / subsets` combinations, else sampled: nothing unsynced,
//!   every whole operation kept, for each file one image with a torn write,
//!   and seeded random combinations;
//! * a file's `sync_data` makes all its operations durable; `sync_dir` makes
//!   every directory operation durable;
//! * a **failed** file sync (injected with [`Faults`]) is the worst case
//!   documented for Linux (the "fsyncgate" behaviour): the pages are marked
//!   clean, so the operations since the last good sync are *never* made
//!   durable by a later sync, while reads keep showing them; but any of them
//!   may already be on the disk whole or in part (a prefix, a suffix, every
//!   other sector), under everything synced after it
//!   ([`Snapshot::durable_images`], and the base of the crash images). A
//!   failed `sync_dir` leaves the directory operations pending (unknown
//!   fate).
//!
//! A process crash (the page cache survives) is [`Snapshot::process_crash`]:
//! a new directory with the live state, unsynced operations still pending,
//! so a test can go on writing and then lose power.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use iteration_history::storage::{Capabilities, Dir, FileName, LockGuard, ReadFile, WriteFile};

use crate::fault::{Faults, Op};
use crate::rng::SplitMix;

/// The files of a directory after a crash: name → contents.
pub type Image = BTreeMap<String, Vec<u8>>;

type Bytes = Arc<Vec<u8>>;

#[derive(Clone, Debug)]
enum FileOp {
    Write { offset: u64, data: Bytes },
    SetLen(u64),
}

#[derive(Clone, Debug)]
enum DirOp {
    Link { name: String, ino: u64 },
    Rename { from: String, to: String, ino: u64 },
    Unlink { name: String, ino: u64 },
}

impl DirOp {
    fn apply(&self, map: &mut BTreeMap<String, u64>) {
        match self {
            DirOp::Link { name, ino } => {
                map.insert(name.clone(), *ino);
            }
            DirOp::Rename { from, to, ino } => {
                if map.get(from) == Some(ino) {
                    map.remove(from);
                }
                map.insert(to.clone(), *ino);
            }
            DirOp::Unlink { name, ino } => {
                if map.get(name) == Some(ino) {
                    map.remove(name);
                }
            }
        }
    }

    fn ino(&self) -> u64 {
        match self {
            DirOp::Link { ino, .. } | DirOp::Rename { ino, .. } | DirOp::Unlink { ino, .. } => *ino,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Inode {
    live: Bytes,
    /// The disk, with none of the data of failed syncs on it.
    durable: Bytes,
    pending: Vec<FileOp>,
    /// Since the first failed sync of this file: the durable content before
    /// it, and every operation that reached the disk after it in order,
    /// each marked `true` if it came from a failed sync (any part of it may
    /// be on the disk, or none).
    uncertain: Option<(Bytes, Vec<(FileOp, bool)>)>,
}

fn apply_file_op(data: &mut Vec<u8>, op: &FileOp) {
    match op {
        FileOp::Write { offset, data: d } => {
            let start = *offset as usize;
            if data.len() < start + d.len() {
                data.resize(start + d.len(), 0);
            }
            data[start..start + d.len()].copy_from_slice(d);
        }
        FileOp::SetLen(len) => data.resize(*len as usize, 0),
    }
}

#[derive(Clone, Debug, Default)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    live: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
    pending_dir: Vec<DirOp>,
    /// Open handles per inode (an unlinked file stays readable while open).
    handles: BTreeMap<u64, usize>,
    /// Operations that changed something (the crash points).
    mutations: u64,
}

impl State {
    /// Drops inodes nothing refers to any more.
    fn gc(&mut self) {
        let mut used: BTreeSet<u64> = self.live.values().chain(self.durable.values()).copied().collect();
        used.extend(self.pending_dir.iter().map(DirOp::ino));
        used.extend(self.handles.keys().copied());
        self.inodes.retain(|ino, _| used.contains(ino));
    }

    fn new_inode(&mut self) -> u64 {
        self.next_ino += 1;
        self.inodes.insert(self.next_ino, Inode::default());
        self.next_ino
    }

    fn inode(&mut self, ino: u64) -> io::Result<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or_else(|| io::Error::other("crash sim: inode vanished"))
    }
}

/// A recorded state of a [`CrashDir`], taken after an operation that
/// changed something.
#[derive(Clone)]
pub struct Snapshot {
    /// How many changing operations had been done (1-based; 0 = initial).
    pub index: u64,
    /// The last operation, e.g. `sync_data h.jsonl`.
    pub op: String,
    state: State,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("index", &self.index)
            .field("op", &self.op)
            .field("pending_dir_ops", &self.state.pending_dir.len())
            .field("pending_file_ops", &self.state.inodes.values().map(|i| i.pending.len()).sum::<usize>())
            .finish()
    }
}

/// How hard the crash enumeration tries. The defaults enumerate everything
/// for writes up to 4 KiB.
#[derive(Clone, Debug)]
pub struct CrashModel {
    /// Sector size for torn writes (512).
    pub sector: u64,
    /// Writes up to this many bytes are cut at every byte; longer ones at a
    /// seeded sample of `large_write_samples` bytes.
    pub byte_cut_limit: usize,
    /// Writes of at most this many sectors are cut at every sector boundary
    /// (the rest zeros or garbage) and get every subset of their sectors
    /// persisted (2^n states, zero-filled; garbage-filled too up to 4
    /// sectors); longer ones a seeded sample of `large_write_samples` of
    /// each.
    pub sector_subsets_max: u32,
    /// Samples of each kind for writes beyond the limits above.
    pub large_write_samples: usize,
    /// Directory-operation subsets are all tried up to this many pending
    /// operations (2^n), else sampled.
    pub dir_ops_exhaustive_max: usize,
    /// At most this many distinct images per snapshot (seeded sample beyond).
    pub max_images: usize,
    /// Subsets of a file's unsynced operations are all tried up to 6
    /// operations (2^n); beyond, every prefix, every "all but one", and this
    /// many seeded random subsets.
    pub op_subset_samples: usize,
    /// Seed of every random choice (garbage bytes, samples).
    pub seed: u64,
}

impl Default for CrashModel {
    fn default() -> Self {
        CrashModel {
            sector: 512,
            byte_cut_limit: 4096,
            sector_subsets_max: 6,
            large_write_samples: 8,
            dir_ops_exhaustive_max: 10,
            max_images: 4_000,
            op_subset_samples: 64,
            seed: 0x1f2e_3d4c_5b6a_7988,
        }
    }
}

/// The distinct post-crash images of a snapshot.
#[derive(Debug, Default)]
pub struct CrashImages {
    /// Distinct images (deduplicated).
    pub images: Vec<Image>,
    /// Combinations generated before deduplication.
    pub generated: u64,
    /// Whether the set was cut to [`CrashModel::max_images`] by sampling.
    pub sampled: bool,
}

impl Snapshot {
    /// The disk if nothing unsynced reached it.
    pub fn durable_image(&self) -> Image {
        let st = &self.state;
        st.durable.iter().map(|(n, ino)| (n.clone(), st.inodes[ino].durable.to_vec())).collect()
    }

    /// The disks a power loss may leave if nothing unsynced reached the
    /// disk: [`durable_image`](Self::durable_image), and for each file whose
    /// sync failed, that image with the failed sync's data on the disk in
    /// whole or in part (a prefix, a suffix, every other sector).
    pub fn durable_images(&self, model: &CrashModel) -> Vec<Image> {
        let st = &self.state;
        let first = self.durable_image();
        let mut out = vec![first.clone()];
        for (name, ino) in &st.durable {
            for v in durable_variants(&st.inodes[ino], model).into_iter().skip(1) {
                let mut img = first.clone();
                img.insert(name.clone(), v);
                if !out.contains(&img) {
                    out.push(img);
                }
            }
        }
        out
    }

    /// The page cache: what a process sees (also the disk after a crash
    /// where everything unsynced happened to be written).
    pub fn live_image(&self) -> Image {
        let st = &self.state;
        st.live.iter().map(|(n, ino)| (n.clone(), st.inodes[ino].live.to_vec())).collect()
    }

    /// Unsynced directory operations and unsynced file operations.
    pub fn pending(&self) -> (usize, usize) {
        (self.state.pending_dir.len(), self.state.inodes.values().map(|i| i.pending.len()).sum())
    }

    /// The process died but the machine did not: the page cache survives,
    /// and what was unsynced is still unsynced. Locks and handles are gone.
    pub fn process_crash(&self) -> CrashDir {
        let mut state = self.state.clone();
        state.handles.clear();
        state.gc();
        CrashDir::from_state(state)
    }

    /// Every distinct disk image a power loss at this moment may leave.
    pub fn crash_images(&self, model: &CrashModel) -> CrashImages {
        let st = &self.state;
        let mut rng = SplitMix::new(model.seed ^ self.index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let d = st.pending_dir.len();
        let masks: Vec<u64> = if d <= model.dir_ops_exhaustive_max {
            (0..1u64 << d).collect()
        } else {
            let mut m: Vec<u64> = (0..64).map(|_| rng.next() & ((1u64 << d.min(63)) - 1)).collect();
            m.push(0);
            m.push(u64::MAX);
            m
        };
        let n_masks = masks.len();
        let mut variants: BTreeMap<u64, Vec<Bytes>> = BTreeMap::new();
        // Per inode: how many of its variants hold whole operations only.
        let mut whole: BTreeMap<u64, usize> = BTreeMap::new();
        let mut seen: HashSet<Image> = HashSet::new();
        let mut out = CrashImages::default();
        let mut kept_torn: Vec<Image> = Vec::new();
        for mask in masks {
            let mut entries = st.durable.clone();
            for (i, op) in st.pending_dir.iter().enumerate() {
                if mask & (1 << i.min(63)) != 0 {
                    op.apply(&mut entries);
                }
            }
            let inos: Vec<u64> = entries.values().copied().collect::<BTreeSet<_>>().into_iter().collect();
            for ino in &inos {
                if !variants.contains_key(ino) {
                    let (v, w) = file_variants(&st.inodes[ino], model, &mut rng);
                    variants.insert(*ino, v);
                    whole.insert(*ino, w);
                }
            }
            // Cartesian product over the files' variants (sampled if huge).
            let sizes: Vec<usize> = inos.iter().map(|i| variants[i].len()).collect();
            let total: u128 = sizes.iter().map(|&s| s as u128).product();
            let budget = (model.max_images / n_masks).max(2 + inos.len());
            let combos: Vec<Vec<usize>> = if total <= budget as u128 {
                let mut all = vec![vec![]];
                for &s in &sizes {
                    all = all.into_iter().flat_map(|c| (0..s).map(move |k| [c.clone(), vec![k]].concat())).collect();
                }
                all
            } else {
                out.sampled = true;
                // Always the two extremes (nothing unsynced / every whole
                // operation kept); for each file with a torn write, one
                // image with it torn (so every directory subset meets a
                // torn write); then random combinations.
                let all_kept = variants_all_kept(&inos, &variants, &st.inodes);
                let mut c = vec![vec![0; sizes.len()], all_kept.clone()];
                for (k, ino) in inos.iter().enumerate() {
                    let w = whole[ino];
                    if sizes[k] > w {
                        let mut combo = all_kept.clone();
                        combo[k] = w + rng.below((sizes[k] - w) as u64) as usize;
                        c.push(combo);
                    }
                }
                while c.len() < budget {
                    c.push(sizes.iter().map(|&s| rng.below(s as u64) as usize).collect());
                }
                c
            };
            // Kept through the final cut to `max_images`: for each file, the
            // first image of this directory subset where its write is torn.
            let mut must: Vec<bool> = vec![false; combos.len()];
            for (k, ino) in inos.iter().enumerate() {
                if let Some(c) = combos.iter().position(|c| c[k] >= whole[ino]) {
                    must[c] = true;
                }
            }
            for (combo, must) in combos.into_iter().zip(must) {
                out.generated += 1;
                let image: Image = entries
                    .iter()
                    .map(|(name, ino)| {
                        let k = inos.iter().position(|i| i == ino).map_or(0, |p| combo[p]);
                        (name.clone(), variants[ino][k].to_vec())
                    })
                    .collect();
                if seen.insert(image.clone()) {
                    if must {
                        kept_torn.push(image);
                    } else {
                        out.images.push(image);
                    }
                }
            }
        }
        let room = model.max_images.saturating_sub(kept_torn.len());
        if out.images.len() > room {
            out.sampled = true;
            let mut kept = Vec::with_capacity(room);
            for (i, img) in out.images.into_iter().enumerate() {
                if kept.len() < room {
                    kept.push(img);
                } else {
                    let j = rng.below(i as u64 + 1) as usize;
                    if j < room {
                        kept[j] = img;
                    }
                }
            }
            out.images = kept;
        }
        kept_torn.append(&mut out.images);
        out.images = kept_torn;
        out
    }
}

/// For each inode, the index of its variant with every operation applied.
fn variants_all_kept(inos: &[u64], variants: &BTreeMap<u64, Vec<Bytes>>, inodes: &BTreeMap<u64, Inode>) -> Vec<usize> {
    inos.iter().map(|ino| variants[ino].iter().position(|v| **v == *inodes[ino].live).unwrap_or(0)).collect()
}

/// Which of `n` unsynced operations persist: every subset up to 6
/// operations; beyond, every prefix, every "all but one" and
/// [`CrashModel::op_subset_samples`] seeded random subsets.
fn op_subsets(n: usize, model: &CrashModel, rng: &mut SplitMix) -> Vec<Vec<bool>> {
    if n <= 6 {
        return (0..1u32 << n).map(|m| (0..n).map(|i| m & (1 << i) != 0).collect()).collect();
    }
    let mut out: Vec<Vec<bool>> = (0..=n).map(|k| (0..n).map(|i| i < k).collect()).collect();
    out.extend((0..n).map(|j| (0..n).map(|i| i != j).collect()));
    out.extend((0..model.op_subset_samples).map(|_| (0..n).map(|_| rng.next() & 1 == 1).collect()));
    out
}

fn apply_some(base: &[u8], ops: &[FileOp], keep: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut data = base.to_vec();
    for (i, op) in ops.iter().enumerate() {
        if keep(i) {
            apply_file_op(&mut data, op);
        }
    }
    data
}

/// The parts of an operation of a failed sync that may have reached the
/// disk: all of it, a prefix, a suffix, or every other sector.
fn failed_sync_parts(op: &FileOp, sector: u64) -> Vec<Vec<FileOp>> {
    let FileOp::Write { offset, data } = op else { return vec![vec![op.clone()]] };
    let len = data.len();
    if len == 0 {
        return Vec::new();
    }
    let part = |a: usize, z: usize| FileOp::Write { offset: offset + a as u64, data: Arc::new(data[a..z].to_vec()) };
    let bounds = sector_bounds(*offset as usize, len, sector);
    let k = bounds.len() - 1;
    let mut parts = vec![vec![op.clone()]];
    if k > 1 {
        let half = bounds[k / 2];
        parts.push(vec![part(0, bounds[1])]);
        parts.push(vec![part(0, half)]);
        parts.push(vec![part(bounds[k - 1], len)]);
        parts.push(vec![part(half, len)]);
        parts.push((0..k).step_by(2).map(|j| part(bounds[j], bounds[j + 1])).collect());
        parts.push((1..k).step_by(2).map(|j| part(bounds[j], bounds[j + 1])).collect());
    } else if len > 1 {
        parts.push(vec![part(0, len / 2)]);
        parts.push(vec![part(len / 2, len)]);
    }
    parts
}

/// What the disk may hold of a file with nothing unsynced on it: the
/// durable content first, then (after failed syncs) that content with any
/// one failed sync's operation persisted whole or in part.
fn durable_variants(inode: &Inode, model: &CrashModel) -> Vec<Vec<u8>> {
    let mut out = vec![inode.durable.to_vec()];
    let Some((base, hist)) = &inode.uncertain else { return out };
    for (g, (op, failed)) in hist.iter().enumerate() {
        if !failed {
            continue;
        }
        for part in failed_sync_parts(op, model.sector) {
            let mut data = base.to_vec();
            for (j, (o, f)) in hist.iter().enumerate() {
                if j == g {
                    part.iter().for_each(|p| apply_file_op(&mut data, p));
                } else if !f {
                    apply_file_op(&mut data, o);
                }
            }
            if !out.contains(&data) {
                out.push(data);
            }
        }
    }
    out
}

/// Every distinct content an inode may have after a power loss (the first
/// is the durable content), and how many of them, from the start, hold
/// whole operations only (the rest hold a torn write).
fn file_variants(inode: &Inode, model: &CrashModel, rng: &mut SplitMix) -> (Vec<Bytes>, usize) {
    let mut out: Vec<Bytes> = Vec::new();
    let mut seen: HashSet<Bytes> = HashSet::new();
    let mut add = |v: Vec<u8>, out: &mut Vec<Bytes>| {
        let v = Arc::new(v);
        if seen.insert(v.clone()) {
            out.push(v);
        }
    };
    let p = &inode.pending;
    let n = p.len();
    let bases = durable_variants(inode, model);
    // Whole operations: subsets, applied in order (so a later operation
    // may persist without an earlier one).
    for keep in op_subsets(n, model, rng) {
        add(apply_some(&bases[0], p, |i| keep[i]), &mut out);
    }
    // Part of a failed sync on the disk, with none, some or all of the
    // operations since.
    for alt in &bases[1..] {
        for k in 0..=n {
            add(apply_some(alt, p, |i| i < k), &mut out);
        }
    }
    let whole = out.len();
    // One write torn: over every earlier operation, with every later one
    // lost or every later one kept; and over none of the earlier ones
    // (they were lost), the later ones lost.
    for (i, op) in p.iter().enumerate() {
        let FileOp::Write { offset, data } = op else { continue };
        let over_earlier = apply_some(&bases[0], p, |j| j < i);
        let torn = torn_writes(&over_earlier, *offset, data, model, rng);
        if i + 1 < n {
            for v in &torn {
                add(apply_some(v, &p[i + 1..], |_| true), &mut out);
            }
        }
        for v in torn {
            add(v, &mut out);
        }
        if i > 0 {
            for v in torn_writes(&bases[0], *offset, data, model, rng) {
                add(v, &mut out);
            }
        }
    }
    (out, whole)
}

/// Sector boundaries of a write of `len` bytes at `start`, relative to its
/// start (first 0, last `len`).
fn sector_bounds(start: usize, len: usize, sector: u64) -> Vec<usize> {
    let sector = sector.max(1) as usize;
    let mut bounds = vec![0];
    let mut b = (start / sector + 1) * sector;
    while b < start + len {
        bounds.push(b - start);
        b += sector;
    }
    bounds.push(len);
    bounds
}

/// The ways one write of `data` at `offset` over `base` may be torn.
fn torn_writes(base: &[u8], offset: u64, data: &[u8], model: &CrashModel, rng: &mut SplitMix) -> Vec<Vec<u8>> {
    let len = data.len();
    let mut out = Vec::new();
    if len == 0 {
        return out;
    }
    let start = offset as usize;
    let full_len = base.len().max(start + len);
    // The first `c` bytes written over `base`; with `sized`, the file is
    // as long as after the whole write.
    let cut = |c: usize, sized: bool| -> Vec<u8> {
        let mut v = base.to_vec();
        let need = if sized { full_len } else { base.len().max(start + c) };
        v.resize(need, 0);
        v[start..start + c].copy_from_slice(&data[..c]);
        v
    };
    // Sector boundaries inside the write (relative to its start).
    let bounds = sector_bounds(start, len, model.sector);
    // 1. Cut: the first `c` bytes reached the disk, nothing after.
    let n = bounds.len() - 1;
    let small = n as u32 <= model.sector_subsets_max;
    let cuts: Vec<usize> = if len <= model.byte_cut_limit {
        (1..len).collect()
    } else {
        let mut c: BTreeSet<usize> = BTreeSet::new();
        for _ in 0..model.large_write_samples {
            c.insert(1 + rng.below(len as u64 - 1) as usize);
            c.insert(bounds[1 + rng.below(n as u64) as usize]);
        }
        c.remove(&len);
        c.into_iter().collect()
    };
    for c in cuts {
        out.push(cut(c, false));
    }
    // 2. The size reached the disk; the bytes after a sector-aligned cut are
    //    zeros or garbage.
    let garbage = garbage_bytes(len, rng);
    let aligned: Vec<usize> = if small {
        bounds[..n].to_vec()
    } else {
        let mut a: BTreeSet<usize> =
            (0..model.large_write_samples).map(|_| bounds[rng.below(n as u64) as usize]).collect();
        a.insert(0);
        a.into_iter().collect()
    };
    for &c in &aligned {
        let mut zeros = cut(c, true);
        zeros[start + c..start + len].fill(0);
        out.push(zeros);
        let mut junk = cut(c, true);
        junk[start + c..start + len].copy_from_slice(&garbage[c..]);
        out.push(junk);
    }
    // 3. Any subset of sectors persisted (out of order), the rest zeros or
    //    garbage.
    let masks: Vec<u64> =
        if small { (0..1u64 << n).collect() } else { (0..model.large_write_samples).map(|_| rng.next()).collect() };
    for mask in masks {
        for fill_garbage in [false, true] {
            if fill_garbage && n > 4 {
                continue;
            }
            let mut v = cut(len, true);
            for j in 0..n {
                if mask & (1 << (j % 64)) == 0 {
                    let (a, z) = (bounds[j], bounds[j + 1]);
                    if fill_garbage {
                        v[start + a..start + z].copy_from_slice(&garbage[a..z]);
                    } else {
                        v[start + a..start + z].fill(0);
                    }
                }
            }
            out.push(v);
        }
    }
    out
}

/// Garbage as a disk may return it: random bytes, with a newline now and
/// then so that line splitting is exercised.
fn garbage_bytes(len: usize, rng: &mut SplitMix) -> Vec<u8> {
    (0..len)
        .map(|_| {
            let r = rng.next();
            if r.is_multiple_of(29) { b'\n' } else { (r >> 8) as u8 }
        })
        .collect()
}

#[derive(Clone, Default)]
struct Config {
    faults: Option<Faults>,
    no_os_locks: bool,
    sync_delay: Option<std::time::Duration>,
}

struct Shared {
    state: Mutex<State>,
    locks: Mutex<BTreeSet<String>>,
    trace: Mutex<Option<Vec<Snapshot>>>,
    config: Config,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A directory held in memory that tracks what is durable and can produce
/// every post-crash state (see the [module docs](self)).
///
/// Clones share the same directory.
#[derive(Clone)]
pub struct CrashDir {
    shared: Arc<Shared>,
}

impl fmt::Debug for CrashDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.shared.state);
        f.debug_struct("CrashDir").field("files", &st.live.keys().collect::<Vec<_>>()).finish()
    }
}

impl Default for CrashDir {
    fn default() -> Self {
        CrashDir::new()
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl CrashDir {
    /// An empty directory.
    pub fn new() -> Self {
        Self::from_state(State::default())
    }

    fn from_state(state: State) -> Self {
        Self::with_config(state, Config::default())
    }

    fn with_config(state: State, config: Config) -> Self {
        CrashDir {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                locks: Mutex::default(),
                trace: Mutex::new(None),
                config,
            }),
        }
    }

    fn reconfigure(self, f: impl FnOnce(&mut Config)) -> Self {
        let state = lock(&self.shared.state).clone();
        let mut config = self.shared.config.clone();
        f(&mut config);
        Self::with_config(state, config)
    }

    /// A directory whose files are `image`, all durable (the disk after a
    /// crash, or a prepared starting point).
    pub fn from_image(image: &Image) -> Self {
        let mut st = State::default();
        for (name, data) in image {
            let ino = st.new_inode();
            let bytes = Arc::new(data.clone());
            st.inodes.insert(ino, Inode { live: bytes.clone(), durable: bytes, pending: Vec::new(), uncertain: None });
            st.live.insert(name.clone(), ino);
            st.durable.insert(name.clone(), ino);
        }
        Self::from_state(st)
    }

    /// The same directory state, with faults injected by `faults` (every
    /// operation first asks it whether to fail). Call before use.
    pub fn with_faults(self, faults: Faults) -> Self {
        self.reconfigure(|c| c.faults = Some(faults))
    }

    /// The same directory state, without OS locks (`try_lock` is
    /// `Unsupported`, as under WASI): the history falls back to a lease file.
    pub fn without_os_locks(self) -> Self {
        self.reconfigure(|c| c.no_os_locks = true)
    }

    /// The same directory state, with every file sync taking `delay` (so
    /// that threads pile up behind a sync and are committed as a group).
    pub fn with_sync_delay(self, delay: std::time::Duration) -> Self {
        self.reconfigure(|c| c.sync_delay = Some(delay))
    }

    /// Starts recording a [`Snapshot`] after every changing operation
    /// (snapshot 0 is the state now).
    pub fn record(&self) {
        let snap = self.snapshot();
        *lock(&self.shared.trace) = Some(vec![snap]);
    }

    /// Stops recording and returns the snapshots.
    pub fn take_trace(&self) -> Vec<Snapshot> {
        lock(&self.shared.trace).take().unwrap_or_default()
    }

    /// The state now.
    pub fn snapshot(&self) -> Snapshot {
        let st = lock(&self.shared.state);
        let mut state = st.clone();
        state.handles.clear();
        Snapshot { index: st.mutations, op: "now".into(), state }
    }

    /// Number of changing operations so far.
    pub fn mutations(&self) -> u64 {
        lock(&self.shared.state).mutations
    }

    /// Live contents of a file (what a process reads).
    pub fn contents(&self, name: &str) -> Option<Vec<u8>> {
        let st = lock(&self.shared.state);
        st.live.get(name).map(|ino| st.inodes[ino].live.to_vec())
    }

    /// Names in the directory (live).
    pub fn names(&self) -> Vec<String> {
        lock(&self.shared.state).live.keys().cloned().collect()
    }

    fn fault(&self, op: Op, name: &str) -> io::Result<()> {
        match &self.shared.config.faults {
            Some(f) => f.check(op, name),
            None => Ok(()),
        }
    }

    /// Runs a changing operation: bump the counter, gc, record.
    fn mutate<T>(&self, what: String, f: impl FnOnce(&mut State) -> io::Result<T>) -> io::Result<T> {
        let mut st = lock(&self.shared.state);
        let r = f(&mut st)?;
        st.mutations += 1;
        st.gc();
        if let Some(trace) = lock(&self.shared.trace).as_mut() {
            let mut state = st.clone();
            state.handles.clear();
            trace.push(Snapshot { index: st.mutations, op: what, state });
        }
        Ok(r)
    }

    fn open_handle(&self, ino: u64, name: &str, writable: bool) -> CrashFile {
        let mut st = lock(&self.shared.state);
        *st.handles.entry(ino).or_default() += 1;
        CrashFile { dir: self.clone(), ino, name: name.to_string(), writable }
    }
}

/// An open file of a [`CrashDir`].
struct CrashFile {
    dir: CrashDir,
    ino: u64,
    name: String,
    writable: bool,
}

impl fmt::Debug for CrashFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashFile").field("name", &self.name).field("ino", &self.ino).finish()
    }
}

impl Drop for CrashFile {
    fn drop(&mut self) {
        let mut st = lock(&self.dir.shared.state);
        if let Some(n) = st.handles.get_mut(&self.ino) {
            *n -= 1;
            if *n == 0 {
                st.handles.remove(&self.ino);
            }
        }
        st.gc();
    }
}

impl ReadFile for CrashFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.dir.fault(Op::Read, &self.name)?;
        let st = lock(&self.dir.shared.state);
        let data = &st.inodes.get(&self.ino).ok_or_else(|| io::Error::other("crash sim: inode vanished"))?.live;
        let Ok(start) = usize::try_from(offset) else { return Ok(0) };
        if start >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        self.dir.fault(Op::Stat, &self.name)?;
        let st = lock(&self.dir.shared.state);
        Ok(st.inodes.get(&self.ino).map_or(0, |i| i.live.len() as u64))
    }
}

impl WriteFile for CrashFile {
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "opened read-only"));
        }
        let ino = self.ino;
        let write = |st: &mut State, data: &[u8]| -> io::Result<()> {
            let op = FileOp::Write { offset, data: Arc::new(data.to_vec()) };
            let inode = st.inode(ino)?;
            apply_file_op(Arc::make_mut(&mut inode.live), &op);
            inode.pending.push(op);
            Ok(())
        };
        if let Err(e) = self.dir.fault(Op::Write, &self.name) {
            // A failed write may have written a part first (a short write).
            let part = &data[..data.len() / 2];
            if !part.is_empty() {
                self.dir.mutate(format!("write_at {} (part, then failed)", self.name), |st| write(st, part))?;
            }
            return Err(e);
        }
        self.dir.mutate(format!("write_at {} @{offset} +{}", self.name, data.len()), |st| write(st, data))
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.dir.fault(Op::SetLen, &self.name)?;
        let ino = self.ino;
        self.dir.mutate(format!("set_len {} {len}", self.name), |st| {
            let op = FileOp::SetLen(len);
            let inode = st.inode(ino)?;
            apply_file_op(Arc::make_mut(&mut inode.live), &op);
            inode.pending.push(op);
            Ok(())
        })
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.sync("sync_data")
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync("sync_all")
    }
}

impl CrashFile {
    fn sync(&mut self, what: &str) -> io::Result<()> {
        let ino = self.ino;
        if let Some(d) = self.dir.shared.config.sync_delay {
            std::thread::sleep(d);
        }
        if let Err(e) = self.dir.fault(Op::Sync, &self.name) {
            // fsyncgate: the dirty pages are dropped as if written; a later
            // sync will not write them.
            // What the failed sync had written may be on the disk in
            // part (see `durable_variants`).
            self.dir.mutate(format!("{what} {} (failed: pending writes forgotten)", self.name), |st| {
                let inode = st.inode(ino)?;
                let ops = std::mem::take(&mut inode.pending);
                let durable = inode.durable.clone();
                let (_, hist) = inode.uncertain.get_or_insert_with(|| (durable, Vec::new()));
                hist.extend(ops.into_iter().map(|op| (op, true)));
                Ok(())
            })?;
            return Err(e);
        }
        self.dir.mutate(format!("{what} {}", self.name), |st| {
            let inode = st.inode(ino)?;
            let mut durable = inode.durable.to_vec();
            for op in inode.pending.drain(..) {
                apply_file_op(&mut durable, &op);
                if let Some((_, hist)) = &mut inode.uncertain {
                    hist.push((op, false));
                }
            }
            inode.durable = Arc::new(durable);
            Ok(())
        })
    }
}

#[derive(Debug)]
struct CrashLock {
    name: String,
    dir: CrashDir,
}

impl LockGuard for CrashLock {}

impl Drop for CrashLock {
    fn drop(&mut self) {
        lock(&self.dir.shared.locks).remove(&self.name);
    }
}

impl Dir for CrashDir {
    fn open_read(&self, name: &FileName) -> io::Result<Box<dyn ReadFile>> {
        self.fault(Op::Open, name.as_str())?;
        let ino = lock(&self.shared.state).live.get(name.as_str()).copied().ok_or_else(|| not_found(name.as_str()))?;
        Ok(Box::new(self.open_handle(ino, name.as_str(), false)))
    }

    fn open_write(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        self.fault(Op::Open, name.as_str())?;
        let ino = lock(&self.shared.state).live.get(name.as_str()).copied().ok_or_else(|| not_found(name.as_str()))?;
        Ok(Box::new(self.open_handle(ino, name.as_str(), true)))
    }

    fn create_new(&self, name: &FileName) -> io::Result<Box<dyn WriteFile>> {
        self.fault(Op::Create, name.as_str())?;
        let n = name.to_string();
        let ino = self.mutate(format!("create {n}"), |st| {
            if st.live.contains_key(&n) {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{n}: exists")));
            }
            let ino = st.new_inode();
            st.live.insert(n.clone(), ino);
            st.pending_dir.push(DirOp::Link { name: n.clone(), ino });
            Ok(ino)
        })?;
        Ok(Box::new(self.open_handle(ino, name.as_str(), true)))
    }

    fn rename(&self, from: &FileName, to: &FileName) -> io::Result<()> {
        self.fault(Op::Rename, from.as_str())?;
        let (f, t) = (from.to_string(), to.to_string());
        self.mutate(format!("rename {f} -> {t}"), |st| {
            let ino = st.live.remove(&f).ok_or_else(|| not_found(&f))?;
            st.live.insert(t.clone(), ino);
            st.pending_dir.push(DirOp::Rename { from: f.clone(), to: t.clone(), ino });
            Ok(())
        })
    }

    fn remove(&self, name: &FileName) -> io::Result<()> {
        self.fault(Op::Remove, name.as_str())?;
        let n = name.to_string();
        self.mutate(format!("remove {n}"), |st| {
            let ino = st.live.remove(&n).ok_or_else(|| not_found(&n))?;
            st.pending_dir.push(DirOp::Unlink { name: n.clone(), ino });
            Ok(())
        })
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.fault(Op::List, "")?;
        Ok(self.names())
    }

    fn len(&self, name: &FileName) -> io::Result<Option<u64>> {
        self.fault(Op::Stat, name.as_str())?;
        let st = lock(&self.shared.state);
        Ok(st.live.get(name.as_str()).map(|ino| st.inodes[ino].live.len() as u64))
    }

    fn sync_dir(&self) -> io::Result<()> {
        // A failed directory sync leaves the operations pending: their fate
        // is unknown, and a later successful sync makes them durable.
        self.fault(Op::SyncDir, "")?;
        self.mutate("sync_dir".into(), |st| {
            for op in std::mem::take(&mut st.pending_dir) {
                op.apply(&mut st.durable);
            }
            Ok(())
        })
    }

    fn try_lock(&self, name: &FileName) -> io::Result<Option<Box<dyn LockGuard>>> {
        if self.shared.config.no_os_locks {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "no file locks (simulated WASI)"));
        }
        self.fault(Op::Lock, name.as_str())?;
        let n = name.to_string();
        if !lock(&self.shared.locks).insert(n.clone()) {
            return Ok(None);
        }
        let exists = lock(&self.shared.state).live.contains_key(&n);
        if !exists {
            let created = self.mutate(format!("create {n} (lock file)"), |st| {
                let ino = st.new_inode();
                st.live.insert(n.clone(), ino);
                st.pending_dir.push(DirOp::Link { name: n.clone(), ino });
                Ok(())
            });
            if let Err(e) = created {
                lock(&self.shared.locks).remove(&n);
                return Err(e);
            }
        }
        Ok(Some(Box::new(CrashLock { name: n, dir: self.clone() })))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(true, !self.shared.config.no_os_locks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> FileName {
        FileName::new(s).expect("name")
    }

    #[test]
    fn unsynced_data_may_be_lost_synced_data_is_not() {
        let d = CrashDir::new();
        let mut f = d.create_new(&name("f")).expect("create");
        d.sync_dir().expect("sync dir");
        f.write_at(b"hello\n", 0).expect("write");
        let images = d.snapshot().crash_images(&CrashModel::default()).images;
        let contents: BTreeSet<Vec<u8>> = images.iter().map(|i| i["f"].clone()).collect();
        assert!(contents.contains(b"".as_slice()), "lost");
        assert!(contents.contains(b"hello\n".as_slice()), "kept");
        assert!(contents.contains(b"hel".as_slice()), "kept in part");
        assert!(contents.contains(&vec![0u8; 6]), "zeros");
        f.sync_data().expect("sync");
        let images = d.snapshot().crash_images(&CrashModel::default()).images;
        assert_eq!(images.len(), 1);
        assert_eq!(images[0]["f"], b"hello\n");
    }

    #[test]
    fn creates_and_renames_need_a_directory_sync() {
        let d = CrashDir::new();
        let mut f = d.create_new(&name("a")).expect("create");
        f.write_at(b"x", 0).expect("write");
        f.sync_all().expect("sync");
        d.rename(&name("a"), &name("b")).expect("rename");
        let images = d.snapshot().crash_images(&CrashModel::default()).images;
        let names: BTreeSet<Vec<String>> = images.iter().map(|i| i.keys().cloned().collect()).collect();
        assert!(names.contains(&vec![]), "create undone");
        assert!(names.contains(&vec!["a".to_string()]), "rename undone");
        assert!(names.contains(&vec!["b".to_string()]), "both kept");
        d.sync_dir().expect("sync dir");
        let images = d.snapshot().crash_images(&CrashModel::default()).images;
        assert_eq!(images, vec![BTreeMap::from([("b".to_string(), b"x".to_vec())])]);
    }

    #[test]
    fn a_failed_sync_never_makes_its_writes_durable() {
        let faults = Faults::new();
        let d = CrashDir::new().with_faults(faults.clone());
        let mut f = d.create_new(&name("f")).expect("create");
        d.sync_dir().expect("sync dir");
        f.write_at(b"lost\n", 0).expect("write");
        faults.fail_next(crate::fault::FaultKind::Eio, crate::fault::OpFilter::Syncs);
        assert!(f.sync_data().is_err());
        faults.lift();
        f.sync_data().expect("later sync succeeds");
        assert_eq!(d.snapshot().durable_image()["f"], b"", "but did not write the forgotten pages");
        assert_eq!(d.contents("f").expect("live"), b"lost\n", "reads still see them");
    }

    #[test]
    fn a_failed_sync_may_leave_a_prefix_a_suffix_or_some_sectors_on_disk() {
        let faults = Faults::new();
        let d = CrashDir::new().with_faults(faults.clone());
        let mut f = d.create_new(&name("f")).expect("create");
        d.sync_dir().expect("sync dir");
        let data: Vec<u8> = (0..1536u32).map(|i| b'a' + (i / 512) as u8).collect();
        f.write_at(&data, 0).expect("write");
        faults.fail_next(crate::fault::FaultKind::Eio, crate::fault::OpFilter::Syncs);
        assert!(f.sync_data().is_err());
        faults.lift();
        let files: Vec<Vec<u8>> =
            d.snapshot().durable_images(&CrashModel::default()).iter().map(|i| i["f"].clone()).collect();
        assert!(files.contains(&Vec::new()), "none of it");
        assert!(files.contains(&data), "all of it");
        assert!(files.contains(&data[..512].to_vec()), "a prefix");
        let mut suffix = vec![0u8; 1024];
        suffix.extend_from_slice(&data[1024..]);
        assert!(files.contains(&suffix), "a suffix (the size with it)");
        let mut every_other = data.clone();
        every_other[512..1024].fill(0);
        assert!(files.contains(&every_other), "some sectors");
        // A later good sync writes what came after, over the same part.
        f.write_at(b"z", 1536).expect("write");
        f.sync_data().expect("sync");
        let files: Vec<Vec<u8>> =
            d.snapshot().durable_images(&CrashModel::default()).iter().map(|i| i["f"].clone()).collect();
        let mut prefix_then_z = data[..512].to_vec();
        prefix_then_z.resize(1536, 0);
        prefix_then_z.push(b'z');
        assert!(files.contains(&prefix_then_z), "{files:?}");
    }

    fn file_contents(d: &CrashDir, model: &CrashModel) -> BTreeSet<Vec<u8>> {
        d.snapshot().crash_images(model).images.iter().filter_map(|i| i.get("f").cloned()).collect()
    }

    #[test]
    fn beyond_six_unsynced_writes_later_ones_persist_without_earlier_ones() {
        let d = CrashDir::new();
        let mut f = d.create_new(&name("f")).expect("create");
        d.sync_dir().expect("sync dir");
        for i in 0..8u8 {
            f.write_at(&[b'a' + i], u64::from(i)).expect("write");
        }
        let files = file_contents(&d, &CrashModel::default());
        assert!(files.contains(b"\0bcdefgh".as_slice()), "only the first lost");
        assert!(files.contains(b"abcdefg".as_slice()), "only the last lost");
        // Some subset that is neither a prefix nor all but one.
        let odd = files.iter().filter(|v| v.len() == 8 && v.iter().filter(|&&b| b == 0).count() >= 2).count();
        assert!(odd > 0, "sampled subsets");
    }

    #[test]
    fn an_earlier_write_tears_while_a_later_one_persists() {
        let d = CrashDir::new();
        let mut f = d.create_new(&name("f")).expect("create");
        d.sync_dir().expect("sync dir");
        f.write_at(b"first\n", 0).expect("write");
        f.write_at(b"second\n", 6).expect("write");
        let files = file_contents(&d, &CrashModel::default());
        assert!(files.contains(b"fir\0\0\0second\n".as_slice()), "the first cut, the second kept");
        assert!(files.contains(b"\0\0\0\0\0\0sec".as_slice()), "the first lost, the second cut");
    }

    #[test]
    fn every_directory_subset_meets_a_torn_write() {
        let d = CrashDir::new();
        let mut f = d.create_new(&name("f")).expect("create");
        f.write_at(&[b'x'; 3000], 0).expect("write");
        let mut g = d.create_new(&name("g")).expect("create");
        g.write_at(&[b'y'; 3000], 0).expect("write");
        d.rename(&name("g"), &name("h")).expect("rename");
        // 8 directory subsets, thousands of file combinations: sampled.
        let model = CrashModel { max_images: 64, ..CrashModel::default() };
        let images = d.snapshot().crash_images(&model);
        assert!(images.sampled);
        for names in [vec!["f"], vec!["g"], vec!["h"], vec!["f", "g"], vec!["f", "h"]] {
            let torn = images.images.iter().any(|i| {
                i.keys().map(String::as_str).eq(names.iter().copied())
                    && i.values().any(|v| !v.is_empty() && v.len() < 3000 || v.contains(&0))
            });
            assert!(torn, "directory state {names:?} meets a torn write");
        }
    }

    #[test]
    fn process_crash_keeps_the_page_cache_and_what_is_pending() {
        let d = CrashDir::new();
        let mut f = d.create_new(&name("f")).expect("create");
        f.write_at(b"abc", 0).expect("write");
        let after = d.snapshot().process_crash();
        assert_eq!(after.contents("f").expect("live"), b"abc");
        let images = after.snapshot().crash_images(&CrashModel::default()).images;
        assert!(images.iter().any(|i| i.is_empty()), "the create is still not durable");
    }
}
