//! Transcripts read back: `sandmux diff` and `--golden` compare them turn by turn, and
//! `sandmux replay` plays them in the TUI.
//!
//! A transcript (`DIR/NAME.jsonl`, see [`crate::engine::transcript`]) is read into
//! [`Record`]s. Bad input is one sentence naming the file, line and column.

pub mod compare;
pub mod diff;
pub mod golden;
pub mod reader;
pub mod turns;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::engine::Stream;
use crate::engine::transcript::record_bytes;

/// One record of a transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Milliseconds since the Unix epoch.
    pub t: u64,
    pub kind: RecordKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecordKind {
    /// Bytes that went in (`Stdin`) or came out.
    Data { stream: Stream, bytes: Vec<u8> },
    /// A lifecycle event (`started`, `exited`, ...) and its other fields.
    Event {
        name: String,
        fields: Map<String, Value>,
    },
}

/// A transcript file: the session's name is the file's stem. Its records are read as they
/// are needed ([`Transcript::records`]), never all at once, so a transcript of any size
/// costs memory in proportion to one record; what the rest of sandmux asks of its start
/// (the `started` record, the protocol) is read once, from its first records.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub name: String,
    pub path: PathBuf,
    /// How messages name it (its path, unless told otherwise).
    pub label: String,
    head: Head,
}

/// What the first records of a transcript say.
#[derive(Debug, Clone, Default)]
struct Head {
    first_t: Option<u64>,
    started: Option<Map<String, Value>>,
    stream_json: bool,
}

/// Records looked at for the [`Head`] of a transcript, at most.
const HEAD_RECORDS: usize = 64;

impl Transcript {
    /// Opens `path` (a regular file) and reads its first records; every record is checked
    /// when it is read.
    pub fn load(path: &Path) -> Result<Transcript, String> {
        reader::Records::open(path)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut transcript = Transcript {
            name,
            path: path.to_path_buf(),
            label: path.display().to_string(),
            head: Head::default(),
        };
        let mut first_stdout: Option<Vec<u8>> = None;
        for record in transcript.records()?.take(HEAD_RECORDS) {
            let record = record?;
            transcript.head.first_t.get_or_insert(record.t);
            match record.kind {
                RecordKind::Event { name, fields } if name == "started" => {
                    transcript.head.started.get_or_insert(fields);
                }
                RecordKind::Data {
                    stream: Stream::Stdout,
                    bytes,
                } if first_stdout.is_none() => first_stdout = Some(bytes),
                _ => {}
            }
        }
        transcript.head.stream_json = match transcript
            .head
            .started
            .as_ref()
            .and_then(|f| f.get("protocol"))
        {
            Some(protocol) => protocol.as_str() == Some("stream-json"),
            // Older transcripts: the first stdout chunk starts with a JSON object with a `type`.
            None => first_stdout.is_some_and(|bytes| {
                let first = bytes.split(|b| *b == b'\n').next().unwrap_or(&[]);
                serde_json::from_slice::<Value>(first)
                    .is_ok_and(|v| v.get("type").is_some_and(Value::is_string))
            }),
        };
        Ok(transcript)
    }

    /// Its records from the first, read as they are taken.
    pub fn records(&self) -> Result<reader::Records, String> {
        reader::Records::open(&self.path)
    }

    /// Every `.jsonl` file of the paths given, in name order for a directory.
    pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Transcript>, String> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| format!("cannot read the directory {}: {e}", path.display()))?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p.is_file())
                    .collect();
                if found.is_empty() {
                    return Err(format!("{} holds no .jsonl transcript", path.display()));
                }
                found.sort();
                files.extend(found);
            } else {
                files.push(path.clone());
            }
        }
        let transcripts: Vec<Transcript> = files
            .iter()
            .map(|p| Transcript::load(p))
            .collect::<Result<_, _>>()?;
        for (i, t) in transcripts.iter().enumerate() {
            if let Some(other) = transcripts[..i].iter().find(|o| o.name == t.name) {
                return Err(format!(
                    "{} and {} are both session `{}`: give transcripts of different sessions",
                    other.path.display(),
                    t.path.display(),
                    t.name
                ));
            }
        }
        Ok(transcripts)
    }

    /// The time of the first record, if any.
    pub fn first_t(&self) -> Option<u64> {
        self.head.first_t
    }

    /// The fields of the first `started` record, if any.
    pub fn started(&self) -> Option<&Map<String, Value>> {
        self.head.started.as_ref()
    }

    /// The command of the `started` record, if any.
    pub fn command(&self) -> Option<Vec<String>> {
        let argv = self.started()?.get("command")?.as_array()?;
        Some(
            argv.iter()
                .map(|a| a.as_str().unwrap_or("").to_string())
                .collect(),
        )
    }

    /// The pid of the `started` record, if any.
    pub fn pid(&self) -> Option<u64> {
        self.started()?.get("pid")?.as_u64()
    }

    /// Whether the session spoke stream-json: its `started` record says so, or (for older
    /// transcripts) its first stdout chunk starts with a JSON object with a `type`.
    pub fn is_stream_json(&self) -> bool {
        self.head.stream_json
    }
}

/// One record from its JSON value.
pub(crate) fn record(value: &Value) -> Result<Record, String> {
    let object = value
        .as_object()
        .ok_or("a transcript record is a JSON object")?;
    let t = object
        .get("t")
        .and_then(Value::as_u64)
        .ok_or("the record has no timestamp `t`")?;
    if let Some(stream) = object.get("stream") {
        let stream = match stream.as_str() {
            Some("stdin") => Stream::Stdin,
            Some("stdout") => Stream::Stdout,
            Some("stderr") => Stream::Stderr,
            _ => return Err(format!("unknown stream {stream} (stdin, stdout, stderr)")),
        };
        let bytes = record_bytes(value).ok_or("the record has no `data` (or bad `data_b64`)")?;
        return Ok(Record {
            t,
            kind: RecordKind::Data { stream, bytes },
        });
    }
    let name = object
        .get("event")
        .and_then(Value::as_str)
        .ok_or("the record has neither `stream` nor `event`")?
        .to_string();
    let mut fields = object.clone();
    fields.remove("t");
    fields.remove("event");
    Ok(Record {
        t,
        kind: RecordKind::Event { name, fields },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_records_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(
            &path,
            "{\"t\":1,\"stream\":\"stdout\",\"data\":\"a\"}\n{\"t\":2,\"stream\":\"x\"}\n",
        )
        .unwrap();
        let err = Transcript::load(&path).unwrap_err();
        assert!(
            err.ends_with("s.jsonl:2:1: unknown stream \"x\" (stdin, stdout, stderr)"),
            "{err}"
        );
        std::fs::write(&path, "{\"t\":1,\n").unwrap();
        let err = Transcript::load(&path).unwrap_err();
        assert!(err.contains("s.jsonl:1:7: not a JSON record"), "{err}");
        std::fs::write(
            &path,
            "{\"t\":1,\"stream\":\"stdout\",\"data\":\"\\ufffd\",\"data_b64\":\"/w==\"}\n",
        )
        .unwrap();
        let t = Transcript::load(&path).unwrap();
        assert_eq!(t.name, "s");
        assert_eq!(
            t.records().unwrap().next().unwrap().unwrap().kind,
            RecordKind::Data {
                stream: Stream::Stdout,
                bytes: vec![0xff]
            }
        );
    }
}
