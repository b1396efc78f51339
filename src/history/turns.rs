//! A transcript reduced to what two runs of the same script should have in common, turn by
//! turn: a turn is one input and the output that followed it (turn 0 is what came before the
//! first input).
//!
//! Output is compared per stream as a sequence of lines (the chunks a pipe happened to deliver
//! do not matter, nor how stdout and stderr interleaved); a line still open when input comes
//! is cut there, as the scrollback does. Timestamps, pids and `progress` events are ignored,
//! and so are the [`Ignore`]d fields and regexes.

use regex::Regex;
use serde_json::{Map, Value};

use super::{RecordKind, Transcript};
use crate::engine::Stream;

/// Fields of JSON output lines that change from run to run in stream-json agents, ignored
/// unless `--strict`: ids, durations and costs.
pub const VOLATILE_JSON_FIELDS: &[&str] = &[
    "session_id",
    "uuid",
    "request_id",
    "duration_ms",
    "duration_api_ms",
    "total_cost_usd",
    "cost_usd",
    "timestamp",
];

/// Fields of the records of stream-json agents (Claude Code's) that differ between two runs
/// against the same deterministic model: message and tool-use ids, per-request timings, the
/// socket path holding the pid, retry jitter, and costs the CLI computes per process.
/// Ignored in stream-json transcripts unless `--strict`.
pub const AGENT_VOLATILE_FIELDS: &[&str] = &[
    "id",
    "tool_use_id",
    "parent_tool_use_id",
    "api_message_id",
    "messaging_socket_path",
    "ttft_ms",
    "ttft_stream_ms",
    "time_to_request_ms",
    "first_content_frame_ms",
    "retry_delay_ms",
    "costUSD",
];

/// Record fields always ignored: the timestamp and the process id.
const RECORD_FIELDS: &[&str] = &["t", "pid"];

/// What a comparison leaves out: fields (of records and of JSON output lines, at any depth)
/// and regexes (their matches in inputs and output become `<ignored>`).
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    pub fields: Vec<String>,
    pub regexes: Vec<Regex>,
    /// Also leave out [`AGENT_VOLATILE_FIELDS`] in stream-json transcripts.
    pub agents: bool,
}

impl Ignore {
    /// From `--ignore` values: `/REGEX/` or a field name; with the volatile JSON fields unless
    /// `strict`.
    pub fn from_args(args: &[String], strict: bool) -> Result<Ignore, String> {
        let mut ignore = Ignore::default();
        if !strict {
            ignore.fields = VOLATILE_JSON_FIELDS.iter().map(|f| f.to_string()).collect();
            ignore.agents = true;
        }
        for arg in args {
            if let Some(source) = arg.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
                let regex = Regex::new(source).map_err(|e| {
                    format!(
                        "--ignore {arg}: invalid regex: {}",
                        crate::text::regex_error(&e)
                    )
                })?;
                ignore.regexes.push(regex);
            } else if !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                ignore.fields.push(arg.clone());
            } else {
                return Err(format!(
                    "--ignore {arg}: give a field name (session_id) or a /regex/ between slashes"
                ));
            }
        }
        Ok(ignore)
    }

    /// What is left out of `transcript`: for a stream-json one, the agents' fields too.
    pub fn for_transcript(&self, transcript: &Transcript) -> Ignore {
        let mut ignore = self.clone();
        if self.agents && transcript.is_stream_json() {
            ignore
                .fields
                .extend(AGENT_VOLATILE_FIELDS.iter().map(|f| f.to_string()));
        }
        ignore.agents = false;
        ignore
    }

    /// What `--explain` says about the fields left out.
    pub fn explain(&self) -> String {
        let mut out = String::from(
            "Compared turn by turn: the inputs, stdout and stderr lines, and lifecycle events; timestamps (t), pids and progress events are always left out.\n",
        );
        let given: Vec<&str> = self
            .fields
            .iter()
            .map(String::as_str)
            .filter(|f| !VOLATILE_JSON_FIELDS.contains(f))
            .collect();
        if self.agents {
            out.push_str(&format!(
                "Left out of JSON lines, at any depth: {}.\n",
                VOLATILE_JSON_FIELDS.join(", ")
            ));
            out.push_str(&format!(
                "Also left out of stream-json transcripts (agents): {}.\n",
                AGENT_VOLATILE_FIELDS.join(", ")
            ));
        } else {
            out.push_str("--strict: every field is compared.\n");
        }
        if !given.is_empty() {
            out.push_str(&format!("Left out with --ignore: {}.\n", given.join(", ")));
        }
        for regex in &self.regexes {
            out.push_str(&format!("Replaced by <ignored>: /{}/.\n", regex.as_str()));
        }
        out
    }

    fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for regex in &self.regexes {
            out = regex.replace_all(&out, "<ignored>").into_owned();
        }
        out
    }

    fn strip(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|k, _| !self.fields.iter().any(|f| f == k));
                map.values_mut().for_each(|v| self.strip(v));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.strip(v)),
            _ => {}
        }
    }
}

/// One line of output (or one event), with the turn it belongs to and its place among all
/// the items of the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub turn: usize,
    pub order: usize,
    pub text: String,
}

/// A transcript as it is compared.
#[derive(Debug, Clone, Default)]
pub struct Normal {
    /// The input of turn k is `inputs[k - 1]`.
    pub inputs: Vec<String>,
    pub stdout: Vec<Item>,
    pub stderr: Vec<Item>,
    pub events: Vec<Item>,
}

impl Normal {
    /// The output lines of `turn`, in the order they came: (stream, text).
    pub fn output_of(&self, turn: usize) -> Vec<(&'static str, &str)> {
        let mut items: Vec<(&'static str, &Item)> = Vec::new();
        items.extend(
            self.stdout
                .iter()
                .filter(|i| i.turn == turn)
                .map(|i| ("stdout", i)),
        );
        items.extend(
            self.stderr
                .iter()
                .filter(|i| i.turn == turn)
                .map(|i| ("stderr", i)),
        );
        items.extend(
            self.events
                .iter()
                .filter(|i| i.turn == turn)
                .map(|i| ("event", i)),
        );
        items.sort_by_key(|(_, i)| i.order);
        items
            .into_iter()
            .map(|(s, i)| (s, i.text.as_str()))
            .collect()
    }
}

/// Normalises a transcript for comparison.
pub fn normalise(transcript: &Transcript, ignore: &Ignore) -> Normal {
    let ignore = &ignore.for_transcript(transcript);
    let mut normal = Normal::default();
    let mut open: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut order = 0usize;
    let mut turn = 0usize;
    for record in &transcript.records {
        match &record.kind {
            RecordKind::Data {
                stream: Stream::Stdin,
                bytes,
            } => {
                for (index, pending) in open.iter_mut().enumerate() {
                    if !pending.is_empty() {
                        push(&mut normal, &mut order, index, pending, turn, ignore);
                        pending.clear();
                    }
                }
                let text = String::from_utf8_lossy(bytes);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                // An input that is JSON (a control response) loses its volatile fields too.
                normal.inputs.push(line_text(text.as_bytes(), ignore));
                turn += 1;
            }
            RecordKind::Data { stream, bytes } => {
                let index = usize::from(*stream == Stream::Stderr);
                let pending = &mut open[index];
                pending.extend_from_slice(bytes);
                let mut start = 0;
                while let Some(at) = memchr::memchr(b'\n', &pending[start..]) {
                    push(
                        &mut normal,
                        &mut order,
                        index,
                        &pending[start..start + at],
                        turn,
                        ignore,
                    );
                    start += at + 1;
                }
                pending.drain(..start);
            }
            RecordKind::Event { name, fields } => {
                if name == "progress" {
                    continue;
                }
                let mut fields = Value::Object(fields.clone());
                if let Value::Object(map) = &mut fields {
                    map.retain(|k, _| !RECORD_FIELDS.contains(&k.as_str()));
                }
                ignore.strip(&mut fields);
                let fields = canonical(&fields);
                let text = if fields == "{}" {
                    name.clone()
                } else {
                    format!("{name} {fields}")
                };
                normal.events.push(Item {
                    turn,
                    order,
                    text: ignore.text(&text),
                });
                order += 1;
            }
        }
    }
    for (index, pending) in open.iter().enumerate() {
        if !pending.is_empty() {
            push(&mut normal, &mut order, index, pending, turn, ignore);
        }
    }
    normal
}

/// Adds a line of stdout (`index` 0) or stderr (1).
fn push(
    normal: &mut Normal,
    order: &mut usize,
    index: usize,
    bytes: &[u8],
    turn: usize,
    ignore: &Ignore,
) {
    let item = Item {
        turn,
        order: *order,
        text: line_text(bytes, ignore),
    };
    *order += 1;
    if index == 0 {
        normal.stdout.push(item);
    } else {
        normal.stderr.push(item);
    }
}

/// A line as compared: JSON with the ignored fields left out and keys sorted, or the text.
fn line_text(bytes: &[u8], ignore: &Ignore) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    if (text.starts_with('{') || text.starts_with('['))
        && let Ok(mut value) = serde_json::from_str::<Value>(text)
    {
        ignore.strip(&mut value);
        return ignore.text(&canonical(&value));
    }
    ignore.text(text)
}

/// JSON with the keys of every object sorted.
fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&map[k]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Record;

    fn data(stream: Stream, text: &str) -> Record {
        Record {
            t: 0,
            kind: RecordKind::Data {
                stream,
                bytes: text.as_bytes().to_vec(),
            },
        }
    }

    #[test]
    fn chunks_and_stream_interleaving_do_not_matter() {
        let a = Transcript {
            name: "s".into(),
            path: "a".into(),
            records: vec![
                data(Stream::Stdout, "ban"),
                data(Stream::Stderr, "warn\n"),
                data(Stream::Stdout, "ner\n"),
                data(Stream::Stdin, "6*7\n"),
                data(
                    Stream::Stdout,
                    "42\n{\"b\":1,\"session_id\":\"x\",\"a\":2}\n",
                ),
                data(Stream::Stderr, ">>> "),
            ],
        };
        let n = normalise(&a, &Ignore::from_args(&[], false).unwrap());
        assert_eq!(n.inputs, vec!["6*7"]);
        let out: Vec<_> = n.stdout.iter().map(|i| (i.turn, i.text.as_str())).collect();
        assert_eq!(
            out,
            vec![(0, "banner"), (1, "42"), (1, "{\"a\":2,\"b\":1}")]
        );
        assert_eq!(n.stderr.last().unwrap().text, ">>> ");
        assert_eq!(
            n.output_of(0),
            vec![("stderr", "warn"), ("stdout", "banner")]
        );
        let strict = normalise(&a, &Ignore::from_args(&["/\\d+/".into()], true).unwrap());
        assert_eq!(strict.inputs, vec!["<ignored>*<ignored>"]);
        assert!(strict.stdout[2].text.contains("session_id"));
        assert!(Ignore::from_args(&["a b".into()], false).is_err());
        assert!(Ignore::from_args(&["/(/".into()], false).is_err());
    }
}
