//! Reading lines: forwards in large blocks ([`Lines`]) and backwards from
//! the committed end ([`BackLines`]), and the reads built on them (the last
//! records, the last iteration, the line number at an offset).

use super::*;

/// Forward reader of the lines in `[start, end)` of a byte source (passed
/// to each call, so an iterator can own both).
#[derive(Debug)]
pub(crate) struct Lines {
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    buf_len: usize,
    cursor: usize,
    number: u64,
}

impl Lines {
    /// Lines from `start` (a line start) to `end`; `first_number` is the
    /// line number of the line at `start` (0: do not count).
    pub(crate) fn new(start: u64, end: u64, first_number: u64) -> Self {
        Lines { pos: start, end, buf: Vec::new(), buf_start: start, buf_len: 0, cursor: 0, number: first_number }
    }

    /// The next line, or `None` at `end`.
    pub(crate) fn next_line(&mut self, src: &dyn ReadFile) -> io::Result<Option<RawLine<'_>>> {
        let line_start = self.buf_start + self.cursor as u64;
        if line_start >= self.end {
            return Ok(None);
        }
        // Find the newline, refilling (and growing) the buffer as needed.
        let mut searched = self.cursor;
        let nl = loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[searched..self.buf_len]) {
                break Some(searched + i);
            }
            searched = self.buf_len;
            if self.pos >= self.end {
                break None;
            }
            // Move the partial line to the front and read more.
            self.buf.copy_within(self.cursor..self.buf_len, 0);
            self.buf_len -= self.cursor;
            searched -= self.cursor;
            self.buf_start += self.cursor as u64;
            self.cursor = 0;
            let want = CHUNK.max(self.buf_len * 2).min((self.end - self.pos) as usize + self.buf_len);
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            let room = (self.buf.len() - self.buf_len).min((self.end - self.pos) as usize);
            let n = read_some(src, &mut self.buf[self.buf_len..self.buf_len + room], self.pos)?;
            if n == 0 {
                // The source is shorter than `end`: treat as the end.
                self.end = self.pos;
                break None;
            }
            self.buf_len += n;
            self.pos += n as u64;
        };
        let (stop, terminated) = match nl {
            Some(i) => (i + 1, true),
            None => (self.buf_len, false),
        };
        let mut bytes = &self.buf[self.cursor..stop];
        if line_start == 0 && bytes.starts_with(BOM) {
            bytes = &bytes[BOM.len()..];
        }
        self.cursor = stop;
        let number = self.number;
        if self.number != 0 {
            self.number += 1;
        }
        Ok(Some(RawLine { offset: line_start, number, bytes, terminated, end: self.buf_start + stop as u64 }))
    }
}

fn read_some(src: &dyn ReadFile, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        match src.read_at(buf, offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Backward reader of lines in `[0, end)`.
pub(crate) struct BackLines<'a> {
    src: &'a dyn ReadFile,
    /// Bytes `[buf_start, line_end)` are in `buf`.
    buf: Vec<u8>,
    buf_start: u64,
    /// End of the next line to return.
    line_end: u64,
    first: bool,
}

impl<'a> BackLines<'a> {
    pub(crate) fn new(src: &'a dyn ReadFile, end: u64) -> Self {
        BackLines { src, buf: Vec::new(), buf_start: end, line_end: end, first: true }
    }

    /// The previous line: (start offset, bytes incl. `\n`, terminated).
    /// The bytes are copied out; a leading BOM at offset 0 is removed.
    pub(crate) fn prev(&mut self) -> io::Result<Option<(u64, Vec<u8>, bool)>> {
        if self.line_end == 0 {
            return Ok(None);
        }
        let terminated;
        let content_end; // end of the line before its '\n' (search limit)
        self.ensure(self.line_end - 1)?;
        if self.first {
            self.first = false;
            // The last segment: terminated iff the byte before end is '\n'.
            terminated = self.byte(self.line_end - 1) == b'\n';
            content_end = if terminated { self.line_end - 1 } else { self.line_end };
        } else {
            terminated = true;
            content_end = self.line_end - 1;
        }
        // Search backward for the '\n' that ends the line before this one.
        let start = loop {
            let local_end = (content_end - self.buf_start) as usize;
            if let Some(i) = memchr::memrchr(b'\n', &self.buf[..local_end]) {
                break self.buf_start + i as u64 + 1;
            }
            if self.buf_start == 0 {
                break 0;
            }
            self.grow()?;
        };
        let mut bytes = self.buf[(start - self.buf_start) as usize..(self.line_end - self.buf_start) as usize].to_vec();
        if start == 0 && bytes.starts_with(BOM) {
            bytes.drain(..BOM.len());
        }
        self.line_end = start;
        // Keep the buffer bounded: drop what lies after the new line end.
        self.buf.truncate((start - self.buf_start) as usize);
        Ok(Some((start, bytes, terminated)))
    }

    fn byte(&self, offset: u64) -> u8 {
        self.buf[(offset - self.buf_start) as usize]
    }

    /// Makes sure `offset` is in the buffer.
    fn ensure(&mut self, offset: u64) -> io::Result<()> {
        while offset < self.buf_start {
            self.grow()?;
        }
        Ok(())
    }

    /// Reads one more chunk before `buf_start`: 16 KiB first (the last few
    /// records), then twice what is buffered, up to 1 MiB, so `load_recent(5)`
    /// reads kilobytes, not a megabyte.
    fn grow(&mut self) -> io::Result<()> {
        let want = self.buf.len().clamp(16 * 1024, CHUNK);
        let take = (want as u64).min(self.buf_start).max(1) as usize;
        let new_start = self.buf_start - take as u64;
        let mut chunk = vec![0u8; take];
        crate::storage::read_exact_at(self.src, &mut chunk, new_start)?;
        chunk.extend_from_slice(&self.buf);
        self.buf = chunk;
        self.buf_start = new_start;
        Ok(())
    }
}

/// The last `n` records of the valid part `[0, end)`, oldest first.
///
/// # Errors
/// I/O errors; an invalid line met on the way is returned as `Err(BadLine)`
/// (line number unknown: 0).
pub(crate) fn recent(src: &dyn ReadFile, end: u64, n: usize) -> io::Result<Result<Vec<IterationRecord>, BadLine>> {
    let mut out = Vec::with_capacity(n.min(4096));
    let mut back = BackLines::new(src, end);
    while out.len() < n {
        let Some((start, bytes, _)) = back.prev()? else { break };
        if codec::is_blank(&bytes) {
            continue;
        }
        match codec::decode_line(&bytes) {
            Ok((rec, _)) => out.push(rec),
            Err(error) => return Ok(Err(BadLine { offset: start, number: 0, error })),
        }
    }
    out.reverse();
    Ok(Ok(out))
}

/// `iteration_num` of the last record in the valid part `[0, end)`.
pub(crate) fn last_iteration(src: &dyn ReadFile, end: u64) -> io::Result<Result<Option<u64>, BadLine>> {
    let mut back = BackLines::new(src, end);
    while let Some((start, bytes, _)) = back.prev()? {
        if codec::is_blank(&bytes) {
            continue;
        }
        return Ok(match codec::check_line(&bytes, false) {
            Ok(info) => Ok(Some(info.iteration_num)),
            Err(error) => Err(BadLine { offset: start, number: 0, error }),
        });
    }
    Ok(Ok(None))
}

/// 1-based number of the line that starts at `offset` (counts `\n` before it).
pub(crate) fn line_number_at(src: &dyn ReadFile, offset: u64) -> io::Result<u64> {
    let mut count = 1u64;
    let mut pos = 0u64;
    let mut buf = vec![0u8; CHUNK];
    while pos < offset {
        let want = ((offset - pos) as usize).min(CHUNK);
        let n = read_some(src, &mut buf[..want], pos)?;
        if n == 0 {
            break;
        }
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        pos += n as u64;
    }
    Ok(count)
}
