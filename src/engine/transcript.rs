//! The JSONL transcript of one session: every byte in and out and every lifecycle event,
//! one JSON object a line, each with a millisecond Unix timestamp `t`.
//!
//! Lines look like:
//! ```text
//! {"t":1764336000123,"event":"started","pid":4242,"command":["sed","-u","s/^/ack:/"]}
//! {"t":1764336000124,"stream":"stdin","data":"turn1\n"}
//! {"t":1764336000125,"stream":"stdout","data":"ack:turn1\n"}
//! {"t":1764336000126,"stream":"stdout","data":"\ufffd","data_b64":"/w=="}
//! {"t":1764336000130,"event":"exited","code":0}
//! ```
//! `data` is the chunk as text; when the chunk is not valid UTF-8, `data` is a lossy
//! rendering and `data_b64` holds the exact bytes, so nothing is ever lost.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};

/// Milliseconds since the Unix epoch, as written in transcripts and reports.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How many bytes of whole records are gathered before they are written.
const BATCH: usize = 256 * 1024;

/// An open transcript: whole records are gathered in a buffer and written together.
///
/// A write that fails (a full disk) never leaves a torn record: the file is cut back to
/// the end of the last record written, so it stays valid JSONL. Records from then on are
/// lost and counted, and sandmux is told once ([`Transcript::take_failure`]); when writing
/// works again, a `transcript_gap` record says where the gap began and what was lost.
#[derive(Debug)]
pub struct Transcript {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// Records in `buf`.
    records: u64,
    /// The file's length after the last successful write.
    committed: u64,
    gap: Option<Gap>,
    /// The first failure, not yet taken by the engine.
    failure: Option<String>,
    /// Ever failed (the transcript is incomplete).
    incomplete: bool,
}

/// What a failed write lost.
#[derive(Debug, Clone, Copy)]
struct Gap {
    from_t: u64,
    records: u64,
    bytes: u64,
}

impl Transcript {
    /// Opens `path`, truncating it when `truncate` is set and appending otherwise. Only a
    /// regular file is taken: the open never blocks (a FIFO there would hang sandmux) and
    /// never follows a symbolic link at `path`.
    pub fn open(path: &Path, truncate: bool) -> io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(truncate)
            .append(!truncate)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(path)
            .map_err(|err| match err.raw_os_error() {
                Some(libc::ELOOP) => {
                    io::Error::other("it is a symbolic link, which a transcript never follows")
                }
                Some(libc::ENXIO) => io::Error::other("it is a FIFO, not a regular file"),
                _ => err,
            })?;
        let meta = file.metadata()?;
        let kind = meta.file_type();
        if !kind.is_file() {
            let what = if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "a device or other special file"
            };
            return Err(io::Error::other(format!(
                "it is not a regular file ({what})"
            )));
        }
        // Back to blocking writes for the regular file.
        // SAFETY: F_SETFL on a descriptor we own; it changes only its status flags.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
        Ok(Transcript {
            path: path.to_path_buf(),
            file,
            buf: Vec::with_capacity(BATCH),
            records: 0,
            committed: meta.len(),
            gap: None,
            failure: None,
            incomplete: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records bytes that went in (`stdin`) or came out (`stdout`, `stderr`).
    pub fn data(&mut self, stream: &str, bytes: &[u8]) {
        let t = now_ms();
        let out = &mut self.buf;
        let _ = write!(out, "{{\"t\":{t},\"stream\":\"{stream}\",\"data\":");
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                let _ = write_json_string(out, text);
                out.extend_from_slice(b"}\n");
            }
            Err(_) => {
                let lossy = String::from_utf8_lossy(bytes);
                let exact = base64::engine::general_purpose::STANDARD.encode(bytes);
                let _ = serde_json::to_writer(&mut *out, &lossy);
                let _ = writeln!(out, ",\"data_b64\":\"{exact}\"}}");
            }
        }
        self.records += 1;
        self.flush_if_full();
    }

    /// Records a lifecycle event; `fields` must be a JSON object.
    pub fn event(&mut self, event: &str, fields: Value) {
        let mut object = json!({ "t": now_ms(), "event": event });
        if let (Some(target), Value::Object(extra)) = (object.as_object_mut(), fields) {
            target.extend(extra);
        }
        let _ = serde_json::to_writer(&mut self.buf, &object);
        self.buf.push(b'\n');
        self.records += 1;
        self.flush_if_full();
    }

    fn flush_if_full(&mut self) {
        if self.buf.len() >= BATCH {
            self.flush();
        }
    }

    /// Writes the gathered records; a failure is remembered (see the type's docs).
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let result = match self.gap {
            None => self.file.write_all(&self.buf).map(|()| self.buf.len()),
            Some(gap) => {
                let mut batch = Vec::with_capacity(self.buf.len() + 128);
                let record = json!({
                    "t": now_ms(), "event": "transcript_gap", "from_t": gap.from_t,
                    "records_lost": gap.records, "bytes_lost": gap.bytes,
                });
                let _ = serde_json::to_writer(&mut batch, &record);
                batch.push(b'\n');
                batch.extend_from_slice(&self.buf);
                self.file.write_all(&batch).map(|()| batch.len())
            }
        };
        match result {
            Ok(written) => {
                self.committed += written as u64;
                self.gap = None;
            }
            Err(err) => {
                // Cut a torn record off, so the file ends where its last whole record does.
                let _ = self.file.set_len(self.committed);
                let _ = self.file.seek(SeekFrom::Start(self.committed));
                let from_t = first_t(&self.buf).unwrap_or_else(now_ms);
                let gap = self.gap.get_or_insert(Gap {
                    from_t,
                    records: 0,
                    bytes: 0,
                });
                gap.records += self.records;
                gap.bytes += self.buf.len() as u64;
                if !self.incomplete {
                    self.failure = Some(format!(
                        "transcript {} could not be written ({err}): it is incomplete from {} on",
                        self.path.display(),
                        clock(gap.from_t)
                    ));
                }
                self.incomplete = true;
            }
        }
        self.buf.clear();
        self.records = 0;
    }

    /// The sentence about the first failed write, once.
    pub fn take_failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    /// Whether a write ever failed (some records are missing).
    pub fn incomplete(&self) -> bool {
        self.incomplete
    }
}

impl Drop for Transcript {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The `t` of the first record in `buf`.
fn first_t(buf: &[u8]) -> Option<u64> {
    let rest = buf.strip_prefix(b"{\"t\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// `HH:MM:SS.mmm` (UTC) of a millisecond timestamp, for messages.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03} UTC",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

/// Writes `text` as a JSON string. Output is mostly plain text: each 16-byte block is
/// reduced to a bit mask of the bytes that need escaping, and the runs between them are
/// copied whole.
pub fn write_json_string(out: &mut impl Write, text: &str) -> io::Result<()> {
    const BLOCK: usize = 16;
    let bytes = text.as_bytes();
    out.write_all(b"\"")?;
    let mut start = 0;
    let mut base = 0;
    while base < bytes.len() {
        let end = (base + BLOCK).min(bytes.len());
        let mut mask = escape_mask(&bytes[base..end]);
        while mask != 0 {
            let i = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            out.write_all(&bytes[start..i])?;
            match bytes[i] {
                b'"' => out.write_all(b"\\\"")?,
                b'\\' => out.write_all(b"\\\\")?,
                b'\n' => out.write_all(b"\\n")?,
                b'\r' => out.write_all(b"\\r")?,
                b'\t' => out.write_all(b"\\t")?,
                b => write!(out, "\\u{b:04x}")?,
            }
            start = i + 1;
        }
        base = end;
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}

/// Bit `j` is set when `block[j]` needs escaping in a JSON string (block: at most 16 bytes).
fn escape_mask(block: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if block.len() == 16 {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline, and the load reads exactly the 16
        // bytes of `block` (unaligned loads are allowed by _mm_loadu_si128).
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            let limit = _mm_set1_epi8(0x1f);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            let any = _mm_or_si128(control, _mm_or_si128(quote, backslash));
            return _mm_movemask_epi8(any) as u32;
        }
    }
    block.iter().enumerate().fold(0, |mask, (j, &b)| {
        let escape = b < 0x20 || b == b'"' || b == b'\\';
        mask | ((escape as u32) << j)
    })
}

/// Decodes the bytes of one transcript record (`data`, or `data_b64` when present).
pub fn record_bytes(record: &Value) -> Option<Vec<u8>> {
    if let Some(b64) = record.get("data_b64").and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD.decode(b64).ok();
    }
    record
        .get("data")
        .and_then(Value::as_str)
        .map(|s| s.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut t = Transcript::open(&path, true).unwrap();
        t.data("stdout", b"hello \"world\"\n");
        t.data("stderr", b"\xff\x00bin");
        t.event("exited", json!({"code": 0}));
        t.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let records: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 3);
        assert_eq!(record_bytes(&records[0]).unwrap(), b"hello \"world\"\n");
        assert_eq!(records[0]["stream"], "stdout");
        assert_eq!(record_bytes(&records[1]).unwrap(), b"\xff\x00bin");
        assert_eq!(records[2]["event"], "exited");
        assert_eq!(records[2]["code"], 0);
        assert!(records[2]["t"].as_u64().unwrap() > 1_600_000_000_000);
    }

    #[test]
    fn json_strings_match_serde_for_every_escape() {
        let mut samples: Vec<String> = vec![
            String::new(),
            "plain".into(),
            "quote\" back\\ nl\n cr\r tab\t bell\u{7} esc\u{1b} del\u{7f} é ☃".into(),
        ];
        // Escapes at every position around the 32-byte block boundaries.
        for at in 0..70 {
            let mut s = "a".repeat(70);
            s.replace_range(at..at + 1, "\n");
            samples.push(s);
        }
        let all: String = (0u8..0x80).map(char::from).collect();
        samples.push(all.repeat(3));
        for sample in samples {
            let mut ours = Vec::new();
            write_json_string(&mut ours, &sample).unwrap();
            let back: String = serde_json::from_slice(&ours).unwrap();
            assert_eq!(back, sample);
        }
    }

    #[test]
    fn only_a_regular_file_is_a_transcript() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f.jsonl");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = Transcript::open(&fifo, true).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("l.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = Transcript::open(&link, true).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "keep",
            "not truncated"
        );
    }

    #[test]
    fn reopening_without_truncate_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut t = Transcript::open(&path, true).unwrap();
        t.data("stdout", b"1");
        drop(t);
        let mut t = Transcript::open(&path, false).unwrap();
        t.data("stdout", b"2");
        drop(t);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }
}
