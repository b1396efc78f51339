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
use std::io::{self, BufWriter, Write};
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

/// An open transcript file with a large write buffer.
#[derive(Debug)]
pub struct Transcript {
    path: PathBuf,
    out: BufWriter<File>,
    dirty: bool,
    failed: bool,
}

impl Transcript {
    /// Opens `path`, truncating it when `truncate` is set and appending otherwise.
    pub fn open(path: &Path, truncate: bool) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(truncate)
            .append(!truncate)
            .open(path)?;
        Ok(Transcript {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(256 * 1024, file),
            dirty: false,
            failed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records bytes that went in (`stdin`) or came out (`stdout`, `stderr`).
    pub fn data(&mut self, stream: &str, bytes: &[u8]) -> io::Result<()> {
        let t = now_ms();
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                write!(self.out, "{{\"t\":{t},\"stream\":\"{stream}\",\"data\":")?;
                write_json_string(&mut self.out, text)?;
                self.out.write_all(b"}\n")?;
            }
            Err(_) => {
                let lossy = String::from_utf8_lossy(bytes);
                let exact = base64::engine::general_purpose::STANDARD.encode(bytes);
                write!(self.out, "{{\"t\":{t},\"stream\":\"{stream}\",\"data\":")?;
                serde_json::to_writer(&mut self.out, &lossy)?;
                writeln!(self.out, ",\"data_b64\":\"{exact}\"}}")?;
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// Records a lifecycle event; `fields` must be a JSON object.
    pub fn event(&mut self, event: &str, fields: Value) -> io::Result<()> {
        let mut object = json!({ "t": now_ms(), "event": event });
        if let (Some(target), Value::Object(extra)) = (object.as_object_mut(), fields) {
            target.extend(extra);
        }
        serde_json::to_writer(&mut self.out, &object)?;
        self.out.write_all(b"\n")?;
        self.dirty = true;
        Ok(())
    }

    /// Writes buffered lines to the file if any are pending.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.dirty {
            self.out.flush()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Remembers that writing failed, returning true the first time (to warn once).
    pub fn mark_failed(&mut self) -> bool {
        !std::mem::replace(&mut self.failed, true)
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

    #[test]
    fn records_round_trip_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut t = Transcript::open(&path, true).unwrap();
        t.data("stdout", b"hello \"world\"\n").unwrap();
        t.data("stderr", b"\xff\x00bin").unwrap();
        t.event("exited", json!({"code": 0})).unwrap();
        t.flush().unwrap();
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
    fn reopening_without_truncate_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut t = Transcript::open(&path, true).unwrap();
        t.data("stdout", b"1").unwrap();
        drop(t);
        let mut t = Transcript::open(&path, false).unwrap();
        t.data("stdout", b"2").unwrap();
        drop(t);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }
}
