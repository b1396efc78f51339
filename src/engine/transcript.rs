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

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{SystemTime, UNIX_EPOCH};

use super::transcript_writer::{self, Sink};

use base64::Engine as _;
use serde_json::{Value, json};

/// Milliseconds since the Unix epoch, as written in transcripts and reports.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How many bytes of whole records are gathered before they are handed to the writer.
const BATCH: usize = 256 * 1024;
/// The first buffer of a transcript, and of a batch when no emptied one has come back.
const FIRST_BUFFER: usize = 16 * 1024;

/// An open transcript: whole records are gathered in a buffer and handed, a batch at a time,
/// to the transcript writer thread ([`super::transcript_writer`]), which writes them and
/// keeps the file whole when a write fails.
#[derive(Debug)]
pub struct Transcript {
    sink: Arc<Sink>,
    buf: Vec<u8>,
    /// Records in `buf`.
    records: u64,
    /// Emptied buffers come back from the writer on this channel.
    spare_tx: Sender<Vec<u8>>,
    spare_rx: Receiver<Vec<u8>>,
}

impl Transcript {
    /// Opens `path`: emptied when `fresh` is set, else appended to (a session added again
    /// under the same name, in the same sandmux, goes on in its file). Only a regular file
    /// is taken: the open never blocks (a FIFO there would hang sandmux) and never follows a
    /// symbolic link at `path`. The file is locked for as long as it is open: a second
    /// sandmux on the same file is refused, never allowed to write over the first.
    pub fn open(path: &Path, fresh: bool) -> io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        // Always O_APPEND: every write lands at the end, whoever else holds the file.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(path)
            .map_err(|err| match err.raw_os_error() {
                Some(libc::ELOOP) => {
                    io::Error::other("it is a symbolic link, which a transcript never follows")
                }
                Some(libc::ENXIO) => io::Error::other("it is a FIFO, not a regular file"),
                _ => err,
            })?;
        // SAFETY: flock on a descriptor we own; a non-blocking request that cannot fail
        // in any way that harms memory.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = io::Error::last_os_error();
            return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                io::Error::other(
                    "another sandmux is writing it (give each sandmux its own --transcript-dir)",
                )
            } else {
                err
            });
        }
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
        if fresh {
            file.set_len(0)?;
        }
        let meta = file.metadata()?;
        // Back to blocking writes for the regular file.
        // SAFETY: F_SETFL on a descriptor we own; it changes only its status flags.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
        let (spare_tx, spare_rx) = channel();
        Ok(Transcript {
            sink: Sink::new(path.to_path_buf(), file, meta.len()),
            buf: Vec::with_capacity(FIRST_BUFFER),
            records: 0,
            spare_tx,
            spare_rx,
        })
    }

    pub fn path(&self) -> &Path {
        self.sink.path()
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
            self.hand_off();
        }
    }

    /// Hands the gathered records to the writer thread without waiting for the write (it
    /// waits only while the writer's queue is full). The engine does this whenever it has
    /// caught up with its backends.
    pub fn hand_off(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let next = self
            .spare_rx
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(FIRST_BUFFER));
        let batch = std::mem::replace(&mut self.buf, next);
        transcript_writer::hand_over(&self.sink, batch, self.records, &self.spare_tx);
        self.records = 0;
    }

    /// Writes the gathered records and waits until they (and every batch handed over
    /// before) are on disk; a failure is remembered (see [`Transcript::take_failure`]).
    pub fn flush(&mut self) {
        self.hand_off();
        transcript_writer::sync();
    }

    /// The sentence about the first failed write, once (a write that failed on the writer
    /// thread is reported at the engine's next look).
    pub fn take_failure(&mut self) -> Option<String> {
        self.sink.take_failure()
    }

    /// Whether a write ever failed (some records are missing).
    pub fn incomplete(&self) -> bool {
        self.sink.incomplete()
    }
}

/// Waits until every batch handed to the writer thread so far is on disk.
pub fn wait_for_writes() {
    transcript_writer::sync();
}

impl Drop for Transcript {
    fn drop(&mut self) {
        self.flush();
    }
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
    use std::path::PathBuf;

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
    fn batches_from_many_transcripts_arrive_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..4)
            .map(|i| dir.path().join(format!("s{i}.jsonl")))
            .collect();
        let mut transcripts: Vec<Transcript> = paths
            .iter()
            .map(|p| Transcript::open(p, true).unwrap())
            .collect();
        for n in 0..20_000u32 {
            for t in &mut transcripts {
                t.data("stdout", format!("line {n}\n").as_bytes());
                if n % 97 == 0 {
                    t.hand_off();
                }
            }
        }
        wait_for_writes();
        drop(transcripts);
        for path in &paths {
            let text = std::fs::read_to_string(path).unwrap();
            let mut count = 0u32;
            for (n, line) in text.lines().enumerate() {
                let record: Value = serde_json::from_str(line).unwrap();
                assert_eq!(record["data"], format!("line {n}\n"), "{}", path.display());
                count += 1;
            }
            assert_eq!(count, 20_000);
        }
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
