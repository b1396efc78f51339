//! Reading the files a user hands sandmux (scripts, configs, transcripts) without trusting
//! them: only regular files are read (never a FIFO, a device such as `/dev/zero`, or a
//! directory), never more than a documented limit, and text must be UTF-8 with the first
//! bad byte named by line and column. A leading byte-order mark is dropped.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest script `sandmux run` reads.
pub const MAX_SCRIPT: u64 = 16 << 20;
/// The largest config file read.
pub const MAX_CONFIG: u64 = 4 << 20;

/// Opens `path` for reading if it is a regular file; one sentence naming it otherwise.
/// `what` names the file in the sentence ("the script").
pub fn open_regular(path: &Path, what: &str) -> Result<(File, u64), String> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| format!("cannot read {what} {}: {err}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|err| format!("cannot read {what} {}: {err}", path.display()))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let is = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(format!(
            "{what} {} is {is}, not a regular file: give a file",
            path.display()
        ));
    }
    Ok((file, meta.len()))
}

/// The bytes of a regular file of at most `limit` bytes.
pub fn read_bounded(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>, String> {
    let (file, len) = open_regular(path, what)?;
    let too_big = |len: u64| {
        format!(
            "{what} {} is {}, over the {} sandmux reads",
            path.display(),
            crate::units::format_bytes(len),
            crate::units::format_bytes(limit)
        )
    };
    if len > limit {
        return Err(too_big(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // A file that grows while it is read is still cut at the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read {what} {}: {err}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Why a text file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    /// One sentence naming the file.
    Read(String),
    /// The first byte that is not UTF-8 is at this 1-based line and column.
    NotUtf8 { line: usize, col: usize },
}

impl TextError {
    /// The sentence, with `path:line:col:` for a UTF-8 error.
    pub fn sentence(&self, path: &Path, what: &str) -> String {
        match self {
            TextError::Read(sentence) => sentence.clone(),
            TextError::NotUtf8 { line, col } => format!(
                "{}:{line}:{col}: {what} is not valid UTF-8 text",
                path.display()
            ),
        }
    }
}

/// A bounded regular file as UTF-8 text (a leading byte-order mark dropped); the error
/// names the line and column of the first byte that is not UTF-8.
pub fn read_text(path: &Path, what: &str, limit: u64) -> Result<String, TextError> {
    let bytes = read_bounded(path, what, limit).map_err(TextError::Read)?;
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = err.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&err.as_bytes()[..valid]).into_owned();
        let (line, col) = line_col(&prefix);
        TextError::NotUtf8 { line, col }
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// The 1-based line and column just after `prefix`.
pub fn line_col(prefix: &str) -> (usize, usize) {
    let line = prefix.matches('\n').count() + 1;
    let col = prefix.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_regular_utf8_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.smx");
        std::fs::write(&ok, "\u{feff}send a b\n").unwrap();
        assert_eq!(read_text(&ok, "the script", 100).unwrap(), "send a b\n");
        let read = |p: &Path, what: &str| read_text(p, what, 100).unwrap_err().sentence(p, what);
        let err = read(Path::new("/dev/zero"), "the script");
        assert_eq!(
            err,
            "the script /dev/zero is a device, not a regular file: give a file"
        );
        assert!(read(dir.path(), "the config").contains("is a directory"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 200]).unwrap();
        assert_eq!(
            read(&big, "the config"),
            format!(
                "the config {} is 200B, over the 100B sandmux reads",
                big.display()
            )
        );
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"ok\nab\xffc").unwrap();
        assert_eq!(
            read(&bad, "the config"),
            format!("{}:2:3: the config is not valid UTF-8 text", bad.display())
        );
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read(&fifo, "the script").contains("is a FIFO"));
    }
}
