//! Plain file names: the only kind of name a [`Dir`](super::Dir) accepts.

use std::fmt;

/// A file name directly inside a directory.
///
/// Refused: the empty name, `.` and `..`, anything containing `/`, `\`,
/// `:` (Windows drive prefixes and alternate streams) or NUL, and names
/// longer than 255 bytes. A name that passes cannot leave the directory.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileName(String);

/// Why a name is not a plain file name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid file name {name:?}: {reason}")]
pub struct NameError {
    /// The refused name.
    pub name: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl FileName {
    /// Checks `name` and wraps it.
    ///
    /// # Errors
    /// A [`NameError`] if the name could reach outside the directory or is
    /// not portable.
    pub fn new(name: &str) -> Result<Self, NameError> {
        let reason = if name.is_empty() {
            Some("the name is empty")
        } else if name == "." || name == ".." {
            Some("`.` and `..` are not file names")
        } else if name.contains('/') || name.contains('\\') {
            Some("a file name cannot contain a path separator; open the directory instead")
        } else if name.contains(':') {
            Some("`:` is not allowed (drive prefix or alternate stream on Windows)")
        } else if name.contains('\0') {
            Some("NUL is not allowed")
        } else if name.len() > 255 {
            Some("the name is longer than 255 bytes")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(NameError { name: name.to_string(), reason }),
            None => Ok(FileName(name.to_string())),
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A sibling name: this name with `suffix` appended (e.g. `.lock`).
    ///
    /// # Errors
    /// If the result is not a plain name (too long, or `suffix` has a separator).
    pub fn with_suffix(&self, suffix: &str) -> Result<FileName, NameError> {
        FileName::new(&format!("{}{}", self.0, suffix))
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for FileName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for FileName {
    type Error = NameError;
    fn try_from(s: &str) -> Result<Self, NameError> {
        FileName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "C:x", "C:\\x", "a\0b", "..\\x"] {
            assert!(FileName::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["history.jsonl", ".history.jsonl.abc.tmp", "..x", "x..", "run 1.jsonl", "é.jsonl"] {
            assert!(FileName::new(good).is_ok(), "{good:?} refused");
        }
        assert!(FileName::new(&"x".repeat(256)).is_err());
    }
}
