//! File names: the only way a request refers to a file.

use std::fmt;

/// The longest name a file can have (Linux's `NAME_MAX`). A longer name of
/// valid characters is well-formed, but no file can carry it, so the
/// request decoder answers it with 202 itself and never stores it.
pub const MAX_FILE_NAME_LEN: usize = 255;

/// Whether `byte` may appear in a file name: `A–Z a–z 0–9 . _ -`.
///
/// Every other byte — `/`, `~`, `*`, `\`, a space — is what keeps a request
/// inside the served directory.
pub const fn is_file_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-')
}

/// A well-formed file name of at most [`MAX_FILE_NAME_LEN`] bytes.
///
/// Holding one proves the name has no path separator or other character
/// outside `A–Z a–z 0–9 . _ -`. It is stored inline, so parsing a request
/// never allocates.
///
/// ```
/// use hftp_proto::FileName;
///
/// let name = FileName::new("archivo.txt")?;
/// assert_eq!(name.as_str(), "archivo.txt");
/// assert!(!name.is_hidden());
/// assert!(FileName::new("../etc/passwd").is_err());
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
#[derive(Clone, Copy)]
pub struct FileName {
    len: u8,
    bytes: [u8; MAX_FILE_NAME_LEN],
}

/// Why a string is not a [`FileName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    /// The name is empty.
    #[error("a file name cannot be empty")]
    Empty,
    /// The name holds a character outside `A–Z a–z 0–9 . _ -`.
    #[error("a file name may only hold A-Z a-z 0-9 . _ - (found {found:?} at byte {at})")]
    InvalidCharacter {
        /// The first offending character (U+FFFD for a non-ASCII byte).
        found: char,
        /// Its byte position in the name.
        at: usize,
    },
    /// The name is longer than [`MAX_FILE_NAME_LEN`] bytes.
    #[error("a file name can be at most {max} bytes long (this one has {len})", max = MAX_FILE_NAME_LEN)]
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
}

impl FileName {
    /// Checks `name` against the file-name rules of HFTP.
    pub fn new(name: &str) -> Result<FileName, FileNameError> {
        FileName::from_bytes(name.as_bytes())
    }

    /// Checks raw bytes (a listing line, a directory entry) against the
    /// file-name rules of HFTP.
    pub fn from_bytes(name: &[u8]) -> Result<FileName, FileNameError> {
        if name.is_empty() {
            return Err(FileNameError::Empty);
        }
        if let Some(at) = name.iter().position(|&b| !is_file_name_byte(b)) {
            let found = match name[at] {
                byte if byte.is_ascii() => char::from(byte),
                _ => char::REPLACEMENT_CHARACTER,
            };
            return Err(FileNameError::InvalidCharacter { found, at });
        }
        if name.len() > MAX_FILE_NAME_LEN {
            return Err(FileNameError::TooLong { len: name.len() });
        }
        let mut file_name = FileName::empty();
        for &byte in name {
            file_name.push(byte);
        }
        Ok(file_name)
    }

    /// An empty name, only for the decoder to fill.
    pub(crate) const fn empty() -> FileName {
        FileName {
            len: 0,
            bytes: [0; MAX_FILE_NAME_LEN],
        }
    }

    /// Appends a byte the caller has checked with [`is_file_name_byte`];
    /// ignored once the name is full (the decoder counts the real length).
    pub(crate) fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(usize::from(self.len)) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Appends checked bytes; those past the capacity are dropped.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        let start = usize::from(self.len);
        let free = &mut self.bytes[start..];
        let stored = free.len().min(bytes.len());
        free[..stored].copy_from_slice(&bytes[..stored]);
        self.len += stored as u8;
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Only `is_file_name_byte` bytes (all ASCII) are ever pushed.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether the name is hidden (starts with `.`, as do `.` and `..`),
    /// which a server serves only when told to.
    pub fn is_hidden(&self) -> bool {
        self.as_bytes().first() == Some(&b'.')
    }
}

impl PartialEq for FileName {
    fn eq(&self, other: &FileName) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for FileName {}

impl PartialOrd for FileName {
    fn partial_cmp(&self, other: &FileName) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Byte-wise order, the order of a listing.
impl Ord for FileName {
    fn cmp(&self, other: &FileName) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for FileName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FileName {
    type Err = FileNameError;

    fn from_str(s: &str) -> Result<FileName, FileNameError> {
        FileName::new(s)
    }
}

impl AsRef<str> for FileName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_rules() {
        let long = "x".repeat(MAX_FILE_NAME_LEN);
        for ok in [
            "a",
            "archivo.txt",
            "A-Z_0.9",
            ".hidden",
            "..",
            long.as_str(),
        ] {
            assert_eq!(FileName::new(ok).map(|n| n.to_string()), Ok(ok.to_string()));
        }
        let too_long = "x".repeat(MAX_FILE_NAME_LEN + 1);
        let table = [
            ("", FileNameError::Empty),
            ("a/b", FileNameError::InvalidCharacter { found: '/', at: 1 }),
            ("~", FileNameError::InvalidCharacter { found: '~', at: 0 }),
            ("*", FileNameError::InvalidCharacter { found: '*', at: 0 }),
            (
                "a\\b",
                FileNameError::InvalidCharacter { found: '\\', at: 1 },
            ),
            ("a b", FileNameError::InvalidCharacter { found: ' ', at: 1 }),
            (
                "ñ",
                FileNameError::InvalidCharacter {
                    found: '\u{FFFD}',
                    at: 0,
                },
            ),
            (
                too_long.as_str(),
                FileNameError::TooLong {
                    len: too_long.len(),
                },
            ),
        ];
        for (name, error) in table {
            assert_eq!(FileName::new(name), Err(error), "{name:?}");
        }
    }

    #[test]
    fn hidden_names_start_with_a_dot() {
        for (name, hidden) in [(".a", true), (".", true), ("..", true), ("a.", false)] {
            assert_eq!(FileName::new(name).map(|n| n.is_hidden()), Ok(hidden));
        }
    }
}
