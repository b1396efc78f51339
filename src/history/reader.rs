//! A transcript's records read one at a time from its file: memory in proportion to the
//! longest record, not to the file. Each bad line is one sentence naming the file, line and
//! column.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Record, record};

/// The longest record line read (a chunk of output and its base64 form fit many times).
pub const MAX_RECORD: usize = 64 << 20;

/// The records of one transcript file, in order.
pub struct Records {
    path: PathBuf,
    reader: BufReader<std::fs::File>,
    line: usize,
    buf: Vec<u8>,
    failed: bool,
}

impl Records {
    /// Opens `path` for reading: a regular file only (never a FIFO or `/dev/zero`).
    pub fn open(path: &Path) -> Result<Records, String> {
        let (file, _) = crate::input_file::open_regular(path, "the transcript")?;
        Ok(Records {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(256 * 1024, file),
            line: 0,
            buf: Vec::new(),
            failed: false,
        })
    }

    fn at(&self, col: usize, why: impl std::fmt::Display) -> String {
        format!("{}:{}:{col}: {why}", self.path.display(), self.line)
    }
}

impl Iterator for Records {
    type Item = Result<Record, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            self.buf.clear();
            self.line += 1;
            let read = (&mut self.reader)
                .take(MAX_RECORD as u64 + 1)
                .read_until(b'\n', &mut self.buf);
            match read {
                Ok(0) => return None,
                Ok(_) => {}
                Err(err) => {
                    self.failed = true;
                    return Some(Err(format!(
                        "cannot read the transcript {}: {err}",
                        self.path.display()
                    )));
                }
            }
            if self.buf.len() > MAX_RECORD {
                self.failed = true;
                return Some(Err(self.at(
                    1,
                    format!(
                        "a record longer than {}, which no transcript sandmux writes holds",
                        crate::units::format_bytes(MAX_RECORD as u64)
                    ),
                )));
            }
            let line = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            let text = String::from_utf8_lossy(line);
            if text.trim().is_empty() {
                continue;
            }
            let result = serde_json::from_str::<Value>(&text)
                .map_err(|e| self.at(e.column().max(1), format!("not a JSON record ({e})")))
                .and_then(|value| record(&value).map_err(|why| self.at(1, why)));
            if result.is_err() {
                self.failed = true;
            }
            return Some(result);
        }
    }
}
