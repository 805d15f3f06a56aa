//! The dm-log-writes log format, and replaying a log onto a fresh image.
//!
//! The kernel's `log-writes` target (`drivers/md/dm-log-writes.c`,
//! `Documentation/admin-guide/device-mapper/log-writes.rst`) copies every
//! write that reaches the data device onto a log device, in the order the
//! writes became durable: plain writes are logged only when a later FLUSH
//! completes, FLUSH and FUA writes when they complete, and marks (text sent
//! with `dmsetup message <dev> 0 mark <text>`) when they are received.
//!
//! ```text
//! byte 0       super: le64 magic, le64 version, le64 nr_entries, le32 sectorsize
//! sectorsize   entry 0: one sector  { le64 sector, le64 nr_sectors, le64 flags,
//!                                     le64 data_len, mark text (MARK only) }
//!              then nr_sectors * sectorsize bytes of data (none for DISCARD)
//!              entry 1: …
//! ```
//! `sector` and `nr_sectors` count sectors of `sectorsize` bytes (the data
//! device's logical block size). Replaying entries `0..=n` onto a zeroed
//! image of the data device gives the disk as it was just after entry `n`
//! became durable: a power cut at that point.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// `magic` of the super block.
pub const MAGIC: u64 = 0x006a_7366_7773_6872;
/// The only format version there is.
pub const VERSION: u64 = 1;
/// Entry flag: a FLUSH (everything logged before it is durable).
pub const FLUSH: u64 = 1;
/// Entry flag: a FUA write (durable when it completed).
pub const FUA: u64 = 2;
/// Entry flag: a DISCARD of `nr_sectors` sectors (no data logged).
pub const DISCARD: u64 = 4;
/// Entry flag: a mark from user space (its text follows the entry header).
pub const MARK: u64 = 8;
/// Entry flag: the write was tagged as file-system metadata.
pub const METADATA: u64 = 16;

/// Size of an entry header without the mark text.
const ENTRY_HEADER: usize = 32;
/// Largest data size copied in one piece while replaying.
const CHUNK: usize = 1 << 20;

/// One logged entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log, from 0.
    pub index: usize,
    /// First sector written (in sectors of the log's `sectorsize`).
    pub sector: u64,
    /// Number of sectors written or discarded.
    pub nr_sectors: u64,
    /// [`FLUSH`], [`FUA`], [`DISCARD`], [`MARK`], [`METADATA`].
    pub flags: u64,
    /// The text of a mark.
    pub mark: Option<String>,
    /// Byte offset in the log of the entry's header.
    pub offset: u64,
}

impl Entry {
    /// Whether the entry is a barrier: a FLUSH or a FUA write.
    pub fn is_barrier(&self) -> bool {
        self.flags & (FLUSH | FUA) != 0
    }

    /// Whether the entry carries data to write.
    pub fn has_data(&self) -> bool {
        self.flags & DISCARD == 0 && self.nr_sectors > 0
    }

    /// A short name of the entry's kind: `FLUSH`, `FUA`, `FLUSH|FUA`,
    /// `DISCARD`, `MARK` or `WRITE`.
    pub fn kind(&self) -> &'static str {
        match (self.flags & (FLUSH | FUA | DISCARD | MARK), self.has_data()) {
            (f, _) if f & MARK != 0 => "MARK",
            (f, _) if f & DISCARD != 0 => "DISCARD",
            (f, _) if f & (FLUSH | FUA) == FLUSH | FUA => "FLUSH|FUA",
            (f, _) if f & FLUSH != 0 => "FLUSH",
            (f, _) if f & FUA != 0 => "FUA",
            _ => "WRITE",
        }
    }
}

/// A log that cannot be read: which file, where, and why.
#[derive(Debug)]
pub enum LogError {
    /// Reading the log failed.
    Io {
        /// The log file.
        file: String,
        /// What was being read.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The log's bytes are not a valid dm-log-writes log.
    Format {
        /// The log file.
        file: String,
        /// Byte offset of the bad header.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io { file, what, source } => write!(f, "{file}: reading {what}: {source}"),
            LogError::Format { file, offset, reason } => {
                write!(f, "{file}: not a valid dm-log-writes log at byte {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io { source, .. } => Some(source),
            LogError::Format { .. } => None,
        }
    }
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// A parsed log: its entries, and the file to read their data from.
#[derive(Debug)]
pub struct Log {
    file: File,
    display: String,
    sectorsize: u64,
    entries: Vec<Entry>,
}

impl Log {
    /// Opens and parses the log at `path` (every entry header is checked;
    /// the data is read only when replaying).
    ///
    /// # Errors
    /// [`LogError`] if the file cannot be read or is not a complete log.
    pub fn open(path: &Path) -> Result<Log, LogError> {
        let display = path.display().to_string();
        let file = File::open(path).map_err(|source| LogError::Io {
            file: display.clone(),
            what: "the log (opening it)".into(),
            source,
        })?;
        Log::from_file(file, display)
    }

    /// Parses a log from an open file; `display` names it in errors.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_file(file: File, display: String) -> Result<Log, LogError> {
        let io_err = |what: String| {
            let file = display.clone();
            move |source| LogError::Io { file, what, source }
        };
        let format_err = |offset: u64, reason: String| LogError::Format { file: display.clone(), offset, reason };
        let file_len = file.metadata().map_err(io_err("its length".into()))?.len();
        let mut sup = [0u8; 28];
        if file_len < sup.len() as u64 {
            return Err(format_err(0, format!("the file has {file_len} bytes, less than a super block")));
        }
        file.read_exact_at(&mut sup, 0).map_err(io_err("the super block".into()))?;
        let magic = le64(&sup, 0);
        if magic != MAGIC {
            return Err(format_err(0, format!("magic is {magic:#x}, expected {MAGIC:#x}")));
        }
        let version = le64(&sup, 8);
        if version != VERSION {
            return Err(format_err(8, format!("version {version} (only version {VERSION} is known)")));
        }
        let nr_entries = le64(&sup, 16);
        let sectorsize = u64::from(u32::from_le_bytes([sup[24], sup[25], sup[26], sup[27]]));
        if !(512..=65536).contains(&sectorsize) || !sectorsize.is_power_of_two() {
            return Err(format_err(24, format!("sector size {sectorsize} is not a power of two in 512..=65536")));
        }
        let mut entries = Vec::with_capacity(nr_entries.min(1 << 20) as usize);
        let mut header = vec![0u8; sectorsize as usize];
        let mut pos = sectorsize;
        for index in 0..nr_entries as usize {
            if pos + sectorsize > file_len {
                return Err(format_err(
                    pos,
                    format!("entry {index} of {nr_entries} starts here, but the file ends at byte {file_len}"),
                ));
            }
            file.read_exact_at(&mut header, pos).map_err(io_err(format!("the header of entry {index}")))?;
            let sector = le64(&header, 0);
            let nr_sectors = le64(&header, 8);
            let flags = le64(&header, 16);
            let data_len = le64(&header, 24);
            let mark = if flags & MARK != 0 {
                if data_len > sectorsize - ENTRY_HEADER as u64 {
                    return Err(format_err(pos, format!("entry {index}: mark of {data_len} bytes")));
                }
                let text = &header[ENTRY_HEADER..ENTRY_HEADER + data_len as usize];
                Some(String::from_utf8_lossy(text).into_owned())
            } else {
                if data_len != 0 {
                    return Err(format_err(
                        pos,
                        format!("entry {index}: {data_len} bytes of inline data (not written by this kernel format)"),
                    ));
                }
                None
            };
            let data_bytes = if flags & DISCARD != 0 {
                0
            } else {
                nr_sectors.checked_mul(sectorsize).ok_or_else(|| {
                    format_err(pos, format!("entry {index}: {nr_sectors} sectors is more than any disk"))
                })?
            };
            let entry = Entry { index, sector, nr_sectors, flags, mark, offset: pos };
            pos += sectorsize;
            if data_bytes > file_len.saturating_sub(pos) {
                return Err(format_err(
                    entry.offset,
                    format!("entry {index}: {data_bytes} bytes of data run past the end of the file ({file_len})"),
                ));
            }
            pos += data_bytes;
            entries.push(entry);
        }
        Ok(Log { file, display, sectorsize, entries })
    }

    /// The entries, in log order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The data device's sector size recorded in the log.
    pub fn sectorsize(&self) -> u64 {
        self.sectorsize
    }

    /// Index of the first mark with text `name`.
    pub fn find_mark(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.mark.as_deref() == Some(name))
    }

    /// Writes entries `0..=last` onto `image`, a zeroed image of the data
    /// device (a DISCARD writes zeros). `image` must be as large as the data
    /// device.
    ///
    /// # Errors
    /// I/O errors, and `InvalidInput` if an entry lies beyond the image.
    pub fn replay(&self, last: usize, image: &File) -> io::Result<()> {
        let image_len = image.metadata()?.len();
        let mut buf = vec![0u8; CHUNK];
        for e in self.entries.iter().take(last.saturating_add(1)) {
            if e.nr_sectors == 0 {
                continue;
            }
            let start = e.sector.checked_mul(self.sectorsize);
            let len = e.nr_sectors * self.sectorsize;
            let Some(start) = start.filter(|s| s.checked_add(len).is_some_and(|end| end <= image_len)) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: entry {} writes sectors {}..{} beyond the image ({} bytes)",
                        self.display,
                        e.index,
                        e.sector,
                        e.sector.saturating_add(e.nr_sectors),
                        image_len
                    ),
                ));
            };
            let discard = e.flags & DISCARD != 0;
            if discard {
                buf[..CHUNK.min(len as usize)].fill(0);
            }
            let mut done = 0u64;
            while done < len {
                let n = ((len - done) as usize).min(CHUNK);
                if !discard {
                    self.file.read_exact_at(&mut buf[..n], e.offset + self.sectorsize + done)?;
                }
                image.write_all_at(&buf[..n], start + done)?;
                done += n as u64;
            }
        }
        Ok(())
    }
}

/// Builds logs in memory, for tests of the parser and the replay.
#[derive(Debug)]
pub struct LogBuilder {
    sectorsize: u64,
    entries: Vec<u8>,
    count: u64,
}

impl LogBuilder {
    /// An empty log for a device with `sectorsize`-byte sectors.
    pub fn new(sectorsize: u64) -> Self {
        LogBuilder { sectorsize, entries: Vec::new(), count: 0 }
    }

    fn header(&mut self, sector: u64, nr_sectors: u64, flags: u64, text: &[u8]) {
        let start = self.entries.len();
        for v in [sector, nr_sectors, flags, text.len() as u64] {
            self.entries.extend_from_slice(&v.to_le_bytes());
        }
        self.entries.extend_from_slice(text);
        self.entries.resize(start + self.sectorsize as usize, 0);
        self.count += 1;
    }

    /// A write of `data` (a whole number of sectors) at `sector`.
    pub fn write(&mut self, sector: u64, data: &[u8], flags: u64) -> &mut Self {
        assert_eq!(data.len() as u64 % self.sectorsize, 0, "whole sectors only");
        self.header(sector, data.len() as u64 / self.sectorsize, flags, b"");
        self.entries.extend_from_slice(data);
        self
    }

    /// An empty FLUSH.
    pub fn flush(&mut self) -> &mut Self {
        self.header(0, 0, FLUSH, b"");
        self
    }

    /// A DISCARD of `nr_sectors` sectors at `sector`.
    pub fn discard(&mut self, sector: u64, nr_sectors: u64) -> &mut Self {
        self.header(sector, nr_sectors, DISCARD, b"");
        self
    }

    /// A mark.
    pub fn mark(&mut self, text: &str) -> &mut Self {
        self.header(0, 0, MARK, text.as_bytes());
        self
    }

    /// The log's bytes.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.sectorsize as usize + self.entries.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&(self.sectorsize as u32).to_le_bytes());
        out.resize(self.sectorsize as usize, 0);
        out.extend_from_slice(&self.entries);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn log_file(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().expect("tempfile");
        f.write_all(bytes).expect("write");
        f
    }

    fn image(len: u64) -> File {
        let f = tempfile::tempfile().expect("tempfile");
        f.set_len(len).expect("set_len");
        f
    }

    fn read_all(f: &File) -> Vec<u8> {
        let mut buf = vec![0u8; f.metadata().expect("len").len() as usize];
        f.read_exact_at(&mut buf, 0).expect("read");
        buf
    }

    #[test]
    fn parses_entries_and_replays_up_to_each_one() {
        let mut b = LogBuilder::new(512);
        b.write(2, &[1u8; 1024], 0).mark("mkfs").flush().write(0, &[2u8; 512], FUA).discard(2, 1).write(
            7,
            &[3u8; 512],
            0,
        );
        let log = Log::from_file(log_file(&b.finish()), "test".into()).expect("parse");
        let kinds: Vec<&str> = log.entries().iter().map(Entry::kind).collect();
        assert_eq!(kinds, ["WRITE", "MARK", "FLUSH", "FUA", "DISCARD", "WRITE"]);
        assert_eq!(log.find_mark("mkfs"), Some(1));
        assert_eq!(log.entries()[1].mark.as_deref(), Some("mkfs"));
        assert!(log.entries()[2].is_barrier() && log.entries()[3].is_barrier() && !log.entries()[0].is_barrier());

        let img = image(4096);
        log.replay(0, &img).expect("replay");
        let got = read_all(&img);
        assert!(got[1024..2048].iter().all(|&x| x == 1));
        assert!(got[..1024].iter().all(|&x| x == 0));

        let img = image(4096);
        log.replay(3, &img).expect("replay");
        let got = read_all(&img);
        assert!(got[..512].iter().all(|&x| x == 2));
        assert!(got[1024..2048].iter().all(|&x| x == 1));

        // The discard zeroes sector 2 only; the last write lands at sector 7.
        let img = image(4096);
        log.replay(5, &img).expect("replay");
        let got = read_all(&img);
        assert!(got[1024..1536].iter().all(|&x| x == 0));
        assert!(got[1536..2048].iter().all(|&x| x == 1));
        assert!(got[3584..4096].iter().all(|&x| x == 3));
    }

    #[test]
    fn a_write_beyond_the_image_is_an_error() {
        let mut b = LogBuilder::new(512);
        b.write(8, &[1u8; 512], 0);
        let log = Log::from_file(log_file(&b.finish()), "test".into()).expect("parse");
        let err = log.replay(0, &image(4096)).expect_err("beyond the image");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("entry 0"), "{err}");
    }

    #[test]
    fn damaged_logs_are_rejected_with_the_place() {
        let mut b = LogBuilder::new(512);
        b.write(0, &[1u8; 1024], 0).flush();
        let good = b.finish();

        let mut bad_magic = good.clone();
        bad_magic[0] ^= 1;
        let err = Log::from_file(log_file(&bad_magic), "log.img".into()).expect_err("magic");
        assert!(err.to_string().contains("log.img") && err.to_string().contains("magic"), "{err}");

        // Cut inside the first entry's data.
        let err = Log::from_file(log_file(&good[..512 + 512 + 600]), "log.img".into()).expect_err("short");
        assert!(err.to_string().contains("entry 0") && err.to_string().contains("byte 512"), "{err}");

        // Cut before the second entry's header.
        let err = Log::from_file(log_file(&good[..512 + 512 + 1024]), "log.img".into()).expect_err("short");
        assert!(err.to_string().contains("entry 1 of 2"), "{err}");

        let mut bad_size = good.clone();
        bad_size[24..28].copy_from_slice(&1000u32.to_le_bytes());
        let err = Log::from_file(log_file(&bad_size), "log.img".into()).expect_err("sector size");
        assert!(err.to_string().contains("sector size 1000"), "{err}");

        let err = Log::from_file(log_file(&good[..20]), "log.img".into()).expect_err("tiny");
        assert!(err.to_string().contains("less than a super block"), "{err}");
    }
}
