//! Where the writer sends its marks: into the dm-log-writes log (in the
//! guest), or to a text file (host self-tests, no device mapper needed).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;

/// Largest mark text the kernel keeps whole: a 512-byte sector less the
/// 32-byte entry header and a terminating NUL.
pub const MAX_MARK: usize = 512 - 32 - 1;

/// Receives marks. A mark must be sent only after the operation it
/// records has returned, and returns only once the mark is queued.
pub trait MarkSink: Send + Sync {
    /// Records `text` (one word, at most [`MAX_MARK`] bytes).
    ///
    /// # Errors
    /// The mark could not be recorded: the run is worthless and must stop.
    fn mark(&self, text: &str) -> io::Result<()>;
}

/// Where marks go, as given on the command line (`--dm NAME` or
/// `--marks-to FILE`); child processes get the same arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkTarget {
    /// A `log-writes` device-mapper device of this name.
    Dm(String),
    /// A text file, one mark per line (appended).
    File(PathBuf),
}

impl MarkTarget {
    /// Opens the sink.
    ///
    /// # Errors
    /// The control device or the file cannot be opened.
    pub fn open(&self) -> io::Result<Box<dyn MarkSink>> {
        Ok(match self {
            MarkTarget::Dm(name) => Box::new(DmMarks::open(name)?),
            MarkTarget::File(path) => {
                Box::new(FileMarks(Mutex::new(OpenOptions::new().create(true).append(true).open(path)?)))
            }
        })
    }

    /// The command-line arguments that select this target.
    pub fn to_args(&self) -> Vec<String> {
        match self {
            MarkTarget::Dm(name) => vec!["--dm".into(), name.clone()],
            MarkTarget::File(path) => vec!["--marks-to".into(), path.display().to_string()],
        }
    }
}

fn check_text(text: &str) -> io::Result<()> {
    if text.is_empty() || text.len() > MAX_MARK || text.bytes().any(|b| b.is_ascii_whitespace() || b == 0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("mark `{text}` must be one word of 1 to {MAX_MARK} bytes"),
        ));
    }
    Ok(())
}

/// Marks appended to a text file, one per line.
#[derive(Debug)]
struct FileMarks(Mutex<File>);

impl MarkSink for FileMarks {
    fn mark(&self, text: &str) -> io::Result<()> {
        check_text(text)?;
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // One write per line: lines of several processes do not interleave.
        f.write_all(format!("{text}\n").as_bytes())
    }
}

/// Marks sent to a `log-writes` device with the device-mapper ioctl
/// `DM_TARGET_MSG` (what `dmsetup message NAME 0 mark TEXT` does), without
/// starting a process per mark.
#[derive(Debug)]
struct DmMarks {
    control: File,
    name: String,
}

/// `struct dm_ioctl` (include/uapi/linux/dm-ioctl.h) is 312 bytes.
const DM_IOCTL_SIZE: usize = 312;
/// `_IOWR(0xfd, DM_TARGET_MSG_CMD = 14, struct dm_ioctl)`.
const DM_TARGET_MSG: u32 = (3 << 30) | ((DM_IOCTL_SIZE as u32) << 16) | (0xfd << 8) | 14;
/// Offsets of the fields of `struct dm_ioctl` that a message uses.
const OFF_DATA_SIZE: usize = 12;
const OFF_DATA_START: usize = 16;
const OFF_NAME: usize = 48;
const DM_NAME_LEN: usize = 128;

impl DmMarks {
    fn open(name: &str) -> io::Result<Self> {
        if name.is_empty() || name.len() >= DM_NAME_LEN {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("device name `{name}` is not valid")));
        }
        let control = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/mapper/control")
            .map_err(|e| io::Error::new(e.kind(), format!("opening /dev/mapper/control: {e}")))?;
        Ok(DmMarks { control, name: name.to_string() })
    }
}

impl MarkSink for DmMarks {
    fn mark(&self, text: &str) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        check_text(text)?;
        let message = format!("mark {text}\0");
        // struct dm_ioctl, then struct dm_target_msg { __u64 sector; char message[]; }.
        let size = (DM_IOCTL_SIZE + 8 + message.len()).next_multiple_of(8);
        let mut buf = vec![0u64; size / 8];
        {
            // SAFETY: a u64 buffer viewed as bytes: same memory, same length in bytes, u8 has no alignment needs.
            let bytes = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), size) };
            for (k, v) in [4u32, 0, 0].iter().enumerate() {
                bytes[4 * k..4 * k + 4].copy_from_slice(&v.to_ne_bytes());
            }
            bytes[OFF_DATA_SIZE..OFF_DATA_SIZE + 4].copy_from_slice(&(size as u32).to_ne_bytes());
            bytes[OFF_DATA_START..OFF_DATA_START + 4].copy_from_slice(&(DM_IOCTL_SIZE as u32).to_ne_bytes());
            bytes[OFF_NAME..OFF_NAME + self.name.len()].copy_from_slice(self.name.as_bytes());
            // sector 0: the target that covers the device's start (the only one).
            let msg = DM_IOCTL_SIZE + 8;
            bytes[msg..msg + message.len()].copy_from_slice(message.as_bytes());
        }
        // SAFETY: the buffer is a valid, writable `struct dm_ioctl` with its
        // payload, `data_size` bytes long; the kernel writes at most that much.
        let r = unsafe { libc::ioctl(self.control.as_raw_fd(), DM_TARGET_MSG as _, buf.as_mut_ptr()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("marking `{text}` on device-mapper device {}: {e}", self.name),
            ));
        }
        Ok(())
    }
}
