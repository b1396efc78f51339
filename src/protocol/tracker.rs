//! What a stream-json session's lines mean in context, read once each, in order: which turn
//! a `result` ends and what that turn cost, which `system/init` only repeats the one before,
//! which partial-message events build the text being streamed, and which permission
//! requests are waiting for an answer.
//!
//! A long-lived agent CLI (Claude Code) repeats its `init` at every turn, reports a running
//! total as `total_cost_usd`, and with `--include-partial-messages` streams a text as many
//! small events before the whole message. Read line by line, that is noise and wrong
//! numbers; the tracker turns it into [`Note`]s on lines (for the chat view) and
//! [`Noticed`] facts (for the engine, the socket and reports). It is pure: the engine feeds
//! it lines and acts on what it returns.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::control::{self, Answer, Approval, ControlMessage};
use super::stream_json::{self, event_type};

/// Pending permission requests kept per session; one more is refused (denied) at once, so
/// a runaway agent cannot grow memory.
pub const MAX_PENDING: usize = 64;
/// The most text a streamed message builds up for display; the rest comes with the whole
/// message.
pub const MAX_PARTIAL_BYTES: usize = 256 * 1024;

/// How the chat view should treat one line, when it is not shown on its own terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// A later `init` of the same session that changed nothing: folded away.
    InitRepeated,
    /// A later `init` of the same session that changed something: what changed.
    InitChanged(Vec<String>),
    /// Not part of the conversation as the chat view tells it: partial-message lifecycle
    /// events, `status` records, partial text a whole message replaced.
    Hidden,
    /// The newest partial-message event of the text still streaming: shows the text so far
    /// ([`Tracker::streaming_text`]).
    Streaming,
    /// Streamed text that no whole message replaced (the stream moved on to another block).
    Streamed(String),
    /// A permission request, and its answer once it has one.
    Approval(Option<Answer>),
    /// A `result`: the turn's own numbers.
    Turn(TurnSummary),
}

/// A turn as its `result` and the turns before it say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnSummary {
    /// What this turn cost: the growth of the running total (`total_cost_usd`).
    pub cost_usd: Option<f64>,
    /// What the session has cost so far.
    pub total_cost_usd: Option<f64>,
    /// Why the turn failed, named (`interrupted`, `API error 500`, ...); `None` on success.
    pub failure: Option<String>,
}

/// A fact the engine acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Noticed {
    /// A `result` ended a turn.
    TurnEnded { seq: u64, summary: TurnSummary },
    /// The agent asks permission to use a tool.
    ApprovalAsked(Approval),
    /// A pending permission request was answered or withdrawn.
    ApprovalClosed { request_id: String, answer: Answer },
    /// A request sandmux does not serve (answer it with an error so the CLI never waits).
    Unserved { request_id: String, subtype: String },
    /// More permission requests than [`MAX_PENDING`]: deny it at once.
    Overflow { request_id: String },
    /// The CLI answered a request of ours (`error` when it refused it).
    Answered {
        request_id: String,
        error: Option<String>,
    },
}

/// The facts of an `init` that are worth telling when they change.
#[derive(Debug, Clone, PartialEq, Default)]
struct InitFacts {
    session: Option<String>,
    model: Option<String>,
    cwd: Option<String>,
    mode: Option<String>,
    tools: Vec<String>,
    mcp: Vec<String>,
}

impl InitFacts {
    fn of(value: &Value) -> InitFacts {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        let names = |key: &str, field: Option<&str>| -> Vec<String> {
            value
                .get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| match field {
                            Some(f) => item.get(f).and_then(Value::as_str),
                            None => item.as_str(),
                        })
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        InitFacts {
            session: stream_json::session_id(value).map(str::to_string),
            model: text("model"),
            cwd: text("cwd"),
            mode: text("permissionMode"),
            tools: names("tools", None),
            mcp: names("mcp_servers", Some("name")),
        }
    }

    /// What changed from `before`, one phrase each.
    fn changes(&self, before: &InitFacts) -> Vec<String> {
        let mut out = Vec::new();
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        for (what, a, b) in [
            ("model", &before.model, &self.model),
            ("cwd", &before.cwd, &self.cwd),
            ("permissions", &before.mode, &self.mode),
        ] {
            if a != b {
                out.push(format!("{what} {} → {}", show(a), show(b)));
            }
        }
        for (what, a, b) in [
            ("tools", &before.tools, &self.tools),
            ("MCP servers", &before.mcp, &self.mcp),
        ] {
            let added: Vec<&str> = b
                .iter()
                .filter(|t| !a.contains(t))
                .map(String::as_str)
                .collect();
            let removed: Vec<&str> = a
                .iter()
                .filter(|t| !b.contains(t))
                .map(String::as_str)
                .collect();
            if !added.is_empty() || !removed.is_empty() {
                let mut phrase = what.to_string();
                if !added.is_empty() {
                    phrase.push_str(&format!(" +{}", added.join(" +")));
                }
                if !removed.is_empty() {
                    phrase.push_str(&format!(" −{}", removed.join(" −")));
                }
                out.push(phrase);
            }
        }
        out
    }
}

/// The reader of one stream-json session's lines.
#[derive(Debug, Default)]
pub struct Tracker {
    notes: BTreeMap<u64, Note>,
    init: Option<InitFacts>,
    /// The line showing the text still streaming, and the text so far.
    streaming: Option<(u64, String)>,
    /// The running total after the last turn of this process.
    total_cost: Option<f64>,
    /// An interrupt was asked for and the turn has not ended yet.
    interrupting: bool,
    pending: Vec<Approval>,
}

impl Tracker {
    /// The note on line `seq`, if it has one.
    pub fn note(&self, seq: u64) -> Option<&Note> {
        self.notes.get(&seq)
    }

    /// The text streamed so far, for the line noted [`Note::Streaming`].
    pub fn streaming_text(&self) -> Option<&str> {
        self.streaming.as_ref().map(|(_, text)| text.as_str())
    }

    /// The permission requests waiting for an answer, oldest first.
    pub fn pending(&self) -> &[Approval] {
        &self.pending
    }

    /// Says that an interrupt was sent: the turn's `result` reads as interrupted.
    pub fn interrupting(&mut self) {
        self.interrupting = true;
    }

    /// Whether an interrupt was sent and the turn has not ended yet.
    pub fn is_interrupting(&self) -> bool {
        self.interrupting
    }

    /// Forgets notes of lines before `first` (gone from the scrollback).
    pub fn prune(&mut self, first: u64) {
        if self
            .notes
            .first_key_value()
            .is_some_and(|(k, _)| *k < first)
        {
            self.notes = self.notes.split_off(&first);
        }
    }

    /// The program (re)started: a new process starts its own running total, and whatever
    /// it asked before is abandoned.
    pub fn restarted(&mut self) -> Vec<Noticed> {
        self.total_cost = None;
        self.interrupting = false;
        self.init = None;
        self.finish_streaming();
        self.abandon_all()
    }

    /// Closes every pending request as abandoned (the session ended).
    pub fn abandon_all(&mut self) -> Vec<Noticed> {
        let ids: Vec<String> = self.pending.iter().map(|a| a.request_id.clone()).collect();
        ids.into_iter()
            .filter_map(|id| self.close(&id, Answer::Abandoned))
            .collect()
    }

    /// Records the answer to pending request `request_id`; the closing fact, or `None` when
    /// nothing was pending under that id.
    pub fn close(&mut self, request_id: &str, answer: Answer) -> Option<Noticed> {
        let at = self
            .pending
            .iter()
            .position(|a| a.request_id == request_id)?;
        let approval = self.pending.remove(at);
        if let Some(Note::Approval(slot)) = self.notes.get_mut(&approval.seq) {
            *slot = Some(answer.clone());
        }
        Some(Noticed::ApprovalClosed {
            request_id: request_id.to_string(),
            answer,
        })
    }

    /// Reads one complete line that went in (stdin): a permission answer closes its request.
    pub fn observe_input(&mut self, bytes: &[u8]) -> Vec<Noticed> {
        if !control::may_be_control(bytes) {
            return Vec::new();
        }
        match stream_json::parse_line(bytes) {
            Some(value) => self.input(&value),
            None => Vec::new(),
        }
    }

    /// Reads one complete line of stdout; returns what it says that matters.
    pub fn observe_output(&mut self, seq: u64, bytes: &[u8]) -> Vec<Noticed> {
        if !self.worth_parsing(bytes) {
            return Vec::new();
        }
        let Some(value) = stream_json::parse_line(bytes) else {
            return Vec::new();
        };
        match event_type(&value) {
            Some("result") => self.result(seq, &value),
            Some("system") => {
                self.system(seq, &value);
                Vec::new()
            }
            Some("stream_event") => {
                self.stream_event(seq, &value);
                Vec::new()
            }
            Some("assistant") => {
                // The whole message replaces the text streamed for it.
                if let Some((line, _)) = self.streaming.take() {
                    self.notes.insert(line, Note::Hidden);
                }
                Vec::new()
            }
            Some(_) => self.control(seq, &value),
            None => Vec::new(),
        }
    }

    /// A cheap test: lines without any of the words the tracker reads are not parsed.
    fn worth_parsing(&self, bytes: &[u8]) -> bool {
        let has = |word: &[u8]| memchr::memmem::find(bytes, word).is_some();
        has(b"\"result\"")
            || has(b"\"system\"")
            || has(b"\"stream_event\"")
            || control::may_be_control(bytes)
            || (self.streaming.is_some() && has(b"\"assistant\""))
    }

    fn input(&mut self, value: &Value) -> Vec<Noticed> {
        let Some(ControlMessage::Response {
            id,
            behavior,
            message,
            always,
            ..
        }) = control::parse(value)
        else {
            return Vec::new();
        };
        let answer = match behavior.as_deref() {
            Some("allow") if always => Answer::AllowedAlways,
            Some("allow") => Answer::Allowed,
            Some(_) => Answer::Denied {
                message: message.unwrap_or_default(),
            },
            None => return Vec::new(),
        };
        self.close(&id, answer).into_iter().collect()
    }

    fn control(&mut self, seq: u64, value: &Value) -> Vec<Noticed> {
        match control::parse(value) {
            Some(ControlMessage::Request {
                id,
                subtype,
                request,
            }) if subtype == "can_use_tool" => {
                if self.pending.len() >= MAX_PENDING {
                    return vec![Noticed::Overflow { request_id: id }];
                }
                let approval = Approval::from_request(&id, &request, seq);
                self.notes.insert(seq, Note::Approval(None));
                self.pending.push(approval.clone());
                vec![Noticed::ApprovalAsked(approval)]
            }
            Some(ControlMessage::Request { id, subtype, .. }) => vec![Noticed::Unserved {
                request_id: id,
                subtype,
            }],
            Some(ControlMessage::Cancel { id }) => {
                self.close(&id, Answer::Cancelled).into_iter().collect()
            }
            Some(ControlMessage::Response { id, error, .. }) => {
                self.notes.insert(seq, Note::Hidden);
                vec![Noticed::Answered {
                    request_id: id,
                    error,
                }]
            }
            None => Vec::new(),
        }
    }

    fn result(&mut self, seq: u64, value: &Value) -> Vec<Noticed> {
        self.finish_streaming();
        let total = value
            .get("total_cost_usd")
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite() && *c >= 0.0);
        let cost = match (total, self.total_cost) {
            (Some(total), Some(before)) if total >= before => Some(total - before),
            (Some(total), _) => Some(total),
            (None, _) => value
                .get("cost_usd")
                .and_then(Value::as_f64)
                .filter(|c| c.is_finite() && *c >= 0.0),
        };
        if total.is_some() {
            self.total_cost = total;
        }
        let summary = TurnSummary {
            cost_usd: cost,
            total_cost_usd: total,
            failure: stream_json::failure(value, self.interrupting),
        };
        self.interrupting = false;
        self.notes.insert(seq, Note::Turn(summary.clone()));
        let mut noticed = vec![Noticed::TurnEnded { seq, summary }];
        // A turn that ended has no question left open.
        noticed.extend(self.abandon_all());
        noticed
    }

    fn system(&mut self, seq: u64, value: &Value) {
        match value.get("subtype").and_then(Value::as_str) {
            Some("init") => {
                let facts = InitFacts::of(value);
                let note = match &self.init {
                    Some(before) if before.session == facts.session => {
                        let changes = facts.changes(before);
                        Some(if changes.is_empty() {
                            Note::InitRepeated
                        } else {
                            Note::InitChanged(changes)
                        })
                    }
                    _ => None,
                };
                if let Some(note) = note {
                    self.notes.insert(seq, note);
                }
                self.init = Some(facts);
            }
            Some("status") => {
                let status = value.get("status").and_then(Value::as_str);
                if matches!(status, None | Some("requesting")) {
                    self.notes.insert(seq, Note::Hidden);
                }
            }
            _ => {}
        }
    }

    fn stream_event(&mut self, seq: u64, value: &Value) {
        let event = value.get("event").unwrap_or(&Value::Null);
        let delta = (event_type(event) == Some("content_block_delta"))
            .then(|| event.pointer("/delta/text").and_then(Value::as_str))
            .flatten();
        let Some(delta) = delta else {
            if event_type(event) == Some("content_block_start") {
                self.finish_streaming();
            }
            self.notes.insert(seq, Note::Hidden);
            return;
        };
        let (before, mut text) = self.streaming.take().unwrap_or_default();
        if text.len() < MAX_PARTIAL_BYTES {
            text.push_str(delta);
            if text.len() >= MAX_PARTIAL_BYTES {
                let mut cut = MAX_PARTIAL_BYTES;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push_str(" …");
            }
        }
        if self.notes.get(&before) == Some(&Note::Streaming) {
            self.notes.insert(before, Note::Hidden);
        }
        self.notes.insert(seq, Note::Streaming);
        self.streaming = Some((seq, text));
    }

    /// The text streaming so far stays on its line as it is (nothing replaced it).
    fn finish_streaming(&mut self) {
        if let Some((line, text)) = self.streaming.take() {
            self.notes.insert(line, Note::Streamed(text));
        }
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
