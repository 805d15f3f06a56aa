//! A read handle that answers a read lying inside its previous read from
//! memory.
//!
//! A read-only history opens the file for each read call and first reads
//! the tail to find where the last commit starts and ends (16 KiB back from
//! the end, then the bytes after the last commit's start), then reads the
//! records from the same tail: without this, the same block is read two or
//! three times per call, each one a system call natively and a host call
//! plus a copy into the guest in the WASI component.
//!
//! It keeps only blocks of at most [`MAX_BLOCK`] bytes (streaming reads go
//! straight through), and it lives for one call: the handle is opened by
//! that call, so appends by other writers are seen by the next call, as
//! before. Within the call it returns bytes it read earlier in that call;
//! the history's bytes before its valid end are never rewritten in place
//! (files are replaced by a rename, which an open handle does not see), so
//! they are the bytes the file holds.

use std::fmt;
use std::io;
use std::sync::Mutex;

use super::ReadFile;

/// The largest read kept: the backwards reader's first block.
pub(crate) const MAX_BLOCK: usize = 16 * 1024;

/// See the module docs.
pub(crate) struct LastBlock {
    inner: Box<dyn ReadFile>,
    /// Offset and bytes of the last read of at most [`MAX_BLOCK`] bytes.
    last: Mutex<(u64, Vec<u8>)>,
}

impl LastBlock {
    pub(crate) fn new(inner: Box<dyn ReadFile>) -> LastBlock {
        LastBlock { inner, last: Mutex::new((0, Vec::new())) }
    }
}

impl fmt::Debug for LastBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastBlock").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl ReadFile for LastBlock {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (start, bytes) = &*last;
        if let Some(from) = offset.checked_sub(*start).and_then(|d| usize::try_from(d).ok())
            && from.checked_add(buf.len()).is_some_and(|to| to <= bytes.len())
            && !buf.is_empty()
        {
            buf.copy_from_slice(&bytes[from..from + buf.len()]);
            return Ok(buf.len());
        }
        let n = self.inner.read_at(buf, offset)?;
        if n > 0 && n <= MAX_BLOCK {
            last.0 = offset;
            last.1.clear();
            last.1.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A file of `data` that counts the reads that reach it.
    #[derive(Debug)]
    struct Counted {
        data: Vec<u8>,
        reads: Arc<AtomicUsize>,
    }

    impl ReadFile for Counted {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let start = (offset as usize).min(self.data.len());
            let n = buf.len().min(self.data.len() - start);
            buf[..n].copy_from_slice(&self.data[start..start + n]);
            Ok(n)
        }
        fn len(&self) -> io::Result<u64> {
            Ok(self.data.len() as u64)
        }
    }

    fn file(len: usize) -> (LastBlock, Arc<AtomicUsize>, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let reads = Arc::new(AtomicUsize::new(0));
        (LastBlock::new(Box::new(Counted { data: data.clone(), reads: reads.clone() })), reads, data)
    }

    #[test]
    fn a_read_inside_the_last_block_does_not_reach_the_file_and_returns_its_bytes() {
        let (f, reads, data) = file(40_000);
        let mut block = vec![0u8; MAX_BLOCK];
        assert_eq!(f.read_at(&mut block, 20_000).expect("read"), MAX_BLOCK);
        assert_eq!(block, data[20_000..20_000 + MAX_BLOCK]);
        for (offset, len) in [(20_000, 1), (20_000, MAX_BLOCK), (30_000, 408), (20_000 + MAX_BLOCK as u64 - 1, 1)] {
            let mut buf = vec![0u8; len];
            assert_eq!(f.read_at(&mut buf, offset).expect("read"), len);
            assert_eq!(buf, data[offset as usize..offset as usize + len], "{offset}+{len}");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1, "only the first read reached the file");
    }

    #[test]
    fn reads_outside_the_block_or_larger_than_a_block_go_to_the_file() {
        let (f, reads, data) = file(100_000);
        let mut block = vec![0u8; MAX_BLOCK];
        f.read_at(&mut block, 50_000).expect("read");
        // Overlapping the block's end, before it, after it: read from the file.
        for (offset, len) in [(50_000 + MAX_BLOCK as u64 - 1, 2), (49_999, 2), (70_000, 10)] {
            let mut buf = vec![0u8; len];
            assert_eq!(f.read_at(&mut buf, offset).expect("read"), len);
            assert_eq!(buf, data[offset as usize..offset as usize + len]);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 4);
        // A large read is not kept: the small one before it still is.
        let mut big = vec![0u8; MAX_BLOCK + 1];
        f.read_at(&mut big, 0).expect("read");
        let mut buf = [0u8; 4];
        f.read_at(&mut buf, 70_002).expect("read");
        assert_eq!(reads.load(Ordering::SeqCst), 5, "the large read reached the file, the small one did not");
        assert_eq!(buf, data[70_002..70_006]);
        // A short read at the end keeps only what was read.
        let mut tail = vec![0u8; 1000];
        assert_eq!(f.read_at(&mut tail, 99_500).expect("read"), 500);
        assert_eq!(f.read_at(&mut tail[..600], 99_500).expect("read"), 500, "past the end: from the file");
        assert_eq!(reads.load(Ordering::SeqCst), 7);
        assert_eq!(f.len().expect("len"), 100_000);
    }
}
