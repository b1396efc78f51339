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

use super::{Record, RecordKind, Transcript};
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

/// The four things compared, each as its own sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Input,
    Stdout,
    Stderr,
    Event,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Input, Kind::Stdout, Kind::Stderr, Kind::Event];

    pub fn index(self) -> usize {
        self as usize
    }

    /// What a divergence in it is called: `input`, `stdout`, `stderr`, `event`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Input => "input",
            Kind::Stdout => "stdout",
            Kind::Stderr => "stderr",
            Kind::Event => "event",
        }
    }
}

/// Turns a transcript's records, in order, into the items it is compared by: each input
/// (its turn is its number), each line of stdout and stderr, each event. Holds only the
/// lines still waiting for their newline.
pub struct Normaliser {
    ignore: Ignore,
    open: [Vec<u8>; 2],
    order: usize,
    turn: usize,
}

impl Normaliser {
    /// A normaliser for `transcript` (an agent's volatile fields are left out of one that
    /// speaks stream-json).
    pub fn new(transcript: &Transcript, ignore: &Ignore) -> Normaliser {
        Normaliser {
            ignore: ignore.for_transcript(transcript),
            open: [Vec::new(), Vec::new()],
            order: 0,
            turn: 0,
        }
    }

    /// The items one record makes.
    pub fn record(&mut self, record: &Record, out: &mut Vec<(Kind, Item)>) {
        match &record.kind {
            RecordKind::Data {
                stream: Stream::Stdin,
                bytes,
            } => {
                self.flush_open(out);
                let text = String::from_utf8_lossy(bytes);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                self.turn += 1;
                // An input that is JSON (a control response) loses its volatile fields too.
                let item = self.item(line_text(text.as_bytes(), &self.ignore));
                out.push((Kind::Input, item));
            }
            RecordKind::Data { stream, bytes } => {
                let index = usize::from(*stream == Stream::Stderr);
                let kind = if index == 0 {
                    Kind::Stdout
                } else {
                    Kind::Stderr
                };
                self.open[index].extend_from_slice(bytes);
                let mut start = 0;
                while let Some(at) = memchr::memchr(b'\n', &self.open[index][start..]) {
                    let text = line_text(&self.open[index][start..start + at], &self.ignore);
                    let item = self.item(text);
                    out.push((kind, item));
                    start += at + 1;
                }
                self.open[index].drain(..start);
            }
            RecordKind::Event { name, fields } => {
                if name == "progress" {
                    return;
                }
                let mut fields = Value::Object(fields.clone());
                if let Value::Object(map) = &mut fields {
                    map.retain(|k, _| !RECORD_FIELDS.contains(&k.as_str()));
                }
                self.ignore.strip(&mut fields);
                let fields = canonical(&fields);
                let text = if fields == "{}" {
                    name.clone()
                } else {
                    format!("{name} {fields}")
                };
                let item = self.item(self.ignore.text(&text));
                out.push((Kind::Event, item));
            }
        }
    }

    /// The lines still open at the end.
    pub fn finish(&mut self, out: &mut Vec<(Kind, Item)>) {
        self.flush_open(out);
    }

    /// A line still open when input comes is cut there, as the scrollback does.
    fn flush_open(&mut self, out: &mut Vec<(Kind, Item)>) {
        for index in 0..2 {
            if !self.open[index].is_empty() {
                let bytes = std::mem::take(&mut self.open[index]);
                let kind = if index == 0 {
                    Kind::Stdout
                } else {
                    Kind::Stderr
                };
                let item = self.item(line_text(&bytes, &self.ignore));
                out.push((kind, item));
            }
        }
    }

    fn item(&mut self, text: String) -> Item {
        let item = Item {
            turn: self.turn,
            order: self.order,
            text,
        };
        self.order += 1;
        item
    }
}

/// A transcript's items, all in memory (for tests and small transcripts; comparisons
/// stream them, see [`super::diff`]).
#[derive(Debug, Clone, Default)]
pub struct Normal {
    /// The input of turn k is `inputs[k - 1]`.
    pub inputs: Vec<String>,
    pub stdout: Vec<Item>,
    pub stderr: Vec<Item>,
    pub events: Vec<Item>,
}

/// Normalises a whole transcript in memory.
pub fn normalise(transcript: &Transcript, ignore: &Ignore) -> Result<Normal, String> {
    let mut n = Normaliser::new(transcript, ignore);
    let mut normal = Normal::default();
    let mut items = Vec::new();
    for record in transcript.records()? {
        n.record(&record?, &mut items);
    }
    n.finish(&mut items);
    for (kind, item) in items {
        match kind {
            Kind::Input => normal.inputs.push(item.text),
            Kind::Stdout => normal.stdout.push(item),
            Kind::Stderr => normal.stderr.push(item),
            Kind::Event => normal.events.push(item),
        }
    }
    Ok(normal)
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

    /// A transcript file of `(stream, text)` records.
    fn transcript(dir: &std::path::Path, records: &[(&str, &str)]) -> Transcript {
        let path = dir.join("s.jsonl");
        let text: String = records
            .iter()
            .map(|(stream, data)| {
                format!(
                    "{}\n",
                    serde_json::json!({"t": 0, "stream": stream, "data": data})
                )
            })
            .collect();
        std::fs::write(&path, text).unwrap();
        Transcript::load(&path).unwrap()
    }

    #[test]
    fn chunks_and_stream_interleaving_do_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        let a = transcript(
            dir.path(),
            &[
                ("stdout", "ban"),
                ("stderr", "warn\n"),
                ("stdout", "ner\n"),
                ("stdin", "6*7\n"),
                ("stdout", "42\n{\"b\":1,\"session_id\":\"x\",\"a\":2}\n"),
                ("stderr", ">>> "),
            ],
        );
        let n = normalise(&a, &Ignore::from_args(&[], false).unwrap()).unwrap();
        assert_eq!(n.inputs, vec!["6*7"]);
        let out: Vec<_> = n.stdout.iter().map(|i| (i.turn, i.text.as_str())).collect();
        assert_eq!(
            out,
            vec![(0, "banner"), (1, "42"), (1, "{\"a\":2,\"b\":1}")]
        );
        assert_eq!(n.stderr.last().unwrap().text, ">>> ");
        assert_eq!((n.stderr[0].turn, n.stderr[0].text.as_str()), (0, "warn"));
        let strict = normalise(&a, &Ignore::from_args(&["/\\d+/".into()], true).unwrap()).unwrap();
        assert_eq!(strict.inputs, vec!["<ignored>*<ignored>"]);
        assert!(strict.stdout[2].text.contains("session_id"));
        assert!(Ignore::from_args(&["a b".into()], false).is_err());
        assert!(Ignore::from_args(&["/(/".into()], false).is_err());
    }
}
