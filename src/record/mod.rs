//! `sandmux --record FILE.smx`: what the user does in the TUI, written as a script that
//! `sandmux run` plays back and checks.
//!
//! The recorder watches the commands the TUI applies and the events it reads (it is a
//! driver's observer, like a transcript is the engine's). Each line sent becomes a `send` (a
//! `turn` for stream-json sessions); the answer that followed becomes an `expect` on its last
//! line ([`generalize`]) or, for an agent, `expect-json` steps on the stable fields of what it
//! said; closing stdin, signals and exits become `close`, `kill` and `wait NAME exit CODE`.
//! Every step is written (and flushed) as soon as it is known, so a crash keeps what was
//! recorded; an answer is written when the next thing happens to its session.

pub mod declare;
pub mod generalize;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine::{
    Command, Engine, Event, LineEnd, Protocol, Session, SessionId, Stream, signal_name,
};
use crate::protocol::stream_json;
use generalize::pattern_for;

/// The least `within` a recorded expect gets, however fast the answer came.
const MIN_WITHIN: Duration = Duration::from_secs(5);
/// An answer with no output for this long is taken as complete when the user moves on.
const QUIET: Duration = Duration::from_millis(500);
/// A recorded expect waits this many times as long as the answer took.
const WITHIN_FACTOR: u32 = 5;

/// An answer being gathered: output of a session after an input.
struct Pending {
    /// The first scrollback line after the input.
    from: u64,
    sent: Instant,
    /// When output last came.
    last_output: Option<Instant>,
    /// A stream-json turn's text: the step is written when its `result` comes (a `turn`, or
    /// for a turn that ended in error, a `send` and the error's checks).
    turn: Option<String>,
    /// Lines before this were already looked at for the `result`.
    scanned: u64,
    /// The turn's message was written as a `say` (a permission request or an interrupt came
    /// in it, which a `turn` step cannot wait through).
    sent_as_send: bool,
}

/// Writes a script as the user works.
pub struct Recorder {
    path: PathBuf,
    file: File,
    pending: HashMap<SessionId, Pending>,
    /// Sessions the script knows: declared by it, or in the config.
    declared: HashSet<String>,
    /// The first error writing the file (reported once, then recording stops).
    failed: Option<String>,
}

impl Recorder {
    /// Creates `path` with a header and a `session` step for each ad-hoc session (`adhoc`);
    /// sessions of `config` come from the same `--config` when the script is run.
    pub fn create(
        path: &Path,
        config: Option<&Path>,
        engine: &Engine,
        adhoc: &[String],
    ) -> io::Result<Recorder> {
        let file = File::create(path)?;
        let mut recorder = Recorder {
            path: path.to_path_buf(),
            file,
            pending: HashMap::new(),
            declared: engine
                .sessions()
                .map(|(_, s)| s.spec.name.clone())
                .collect(),
            failed: None,
        };
        let run = match config {
            Some(config) => format!(
                "sandmux run {} --config {}",
                path.display(),
                config.display()
            ),
            None => format!("sandmux run {}", path.display()),
        };
        let stamp = crate::engine::transcript::now_ms();
        recorder.line(&format!(
            "# Recorded by sandmux {} (unix ms {stamp}). Play it back with: {run}",
            env!("CARGO_PKG_VERSION")
        ));
        for (_, session) in engine.sessions() {
            if adhoc.contains(&session.spec.name) {
                recorder.line(&declare::session_step(&session.spec));
            }
        }
        if let Some(err) = recorder.failed.take() {
            return Err(io::Error::other(err));
        }
        Ok(recorder)
    }

    /// The sentence about a failed write, once.
    pub fn take_failure(&mut self) -> Option<String> {
        self.failed.take()
    }

    /// A command the TUI applied with success (`Ok(None)` from the engine).
    pub fn command(&mut self, command: &Command, engine: &Engine) {
        let Some(id) = command.session() else { return };
        self.settle_quiet(engine);
        let Some(session) = engine.session(id) else {
            return;
        };
        let name = session.spec.name.clone();
        match command {
            Command::SendTurn { text, .. } | Command::SendLine { text, .. } => {
                self.settle(id, engine);
                let turn = session.spec.protocol == Protocol::StreamJson
                    && matches!(command, Command::SendTurn { .. });
                if !turn {
                    self.line(&format!("send {name} {}", send_text(text)));
                }
                self.expect_answer(id, session, turn.then(|| text.clone()));
            }
            Command::Write { bytes, .. } => {
                self.settle(id, engine);
                self.line(&format!("write {name} {}", crate::text::quote(bytes)));
                self.expect_answer(id, session, None);
            }
            Command::CloseStdin { .. } => {
                self.settle(id, engine);
                self.line(&format!("close {name}"));
            }
            Command::Signal { signal, .. } => {
                self.settle(id, engine);
                let word = signal_name(*signal);
                self.line(&format!("kill {name} {}", word.trim_start_matches("SIG")));
            }
            Command::Kill { .. } => {
                self.settle(id, engine);
                self.line(&format!("kill {name} TERM"));
            }
            Command::Restart { .. } => {
                self.settle(id, engine);
                self.line(&format!(
                    "# {name} was restarted here: a script cannot restart a session"
                ));
            }
            Command::Interrupt { .. } if session.spec.protocol == Protocol::StreamJson => {
                // What an interrupted turn said depends on when it was cut: not checked.
                self.send_turn(id, &name);
                self.pending.remove(&id);
                self.line(&format!("interrupt {name}"));
            }
            Command::Interrupt { .. } => {
                self.settle(id, engine);
                self.line(&format!("kill {name} INT"));
            }
            Command::Approve { pick, always, .. } => {
                self.send_turn(id, &name);
                let tool = pick.tool.as_deref().map(approve_tool).unwrap_or_default();
                let always = if *always { " always" } else { "" };
                self.line(&format!("approve {name}{tool}{always}"));
            }
            Command::Deny { message, .. } => {
                self.send_turn(id, &name);
                let message = message
                    .as_deref()
                    .map(|m| format!(" {}", crate::text::quote(m.as_bytes())))
                    .unwrap_or_default();
                self.line(&format!("deny {name}{message}"));
            }
            Command::Add { .. } | Command::Remove { .. } | Command::Clear { .. } => {}
        }
    }

    /// An event the TUI read: an agent's turn that ended, a session that exited.
    pub fn event(&mut self, event: &Event, engine: &Engine) {
        match event {
            // A session added while recording (through the control socket) is declared
            // where it came.
            Event::Added { session } => {
                if let Some(s) = engine.session(*session)
                    && self.declared.insert(s.spec.name.clone())
                {
                    self.settle_quiet(engine);
                    self.line(&declare::session_step(&s.spec));
                }
            }
            Event::Output { session, .. } => {
                let Some(pending) = self.pending.get_mut(session) else {
                    return;
                };
                pending.last_output = Some(Instant::now());
                if pending.turn.is_some()
                    && turn_ended(engine.session(*session), &mut pending.scanned)
                {
                    self.settle(*session, engine);
                }
            }
            Event::Exited { session, status } => {
                self.settle(*session, engine);
                if let Some(s) = engine.session(*session) {
                    let step = format!("wait {} exit {}", s.spec.name, status.shell_code());
                    self.line(&step);
                }
            }
            Event::Failed { session, reason } => {
                self.settle(*session, engine);
                if let Some(s) = engine.session(*session) {
                    let reason = crate::text::printable(reason.as_bytes());
                    self.line(&format!("# {} failed: {reason}", s.spec.name));
                }
            }
            _ => {}
        }
    }

    /// Writes every answer still being gathered (sandmux is stopping).
    pub fn finish(&mut self, engine: &Engine) {
        let ids: Vec<SessionId> = self.pending.keys().copied().collect();
        for id in ids {
            self.settle(id, engine);
        }
    }

    /// Writes the answers that have gone quiet before the next step, so the script reads in
    /// the order the user worked (an agent's turn waits for its `result`).
    fn settle_quiet(&mut self, engine: &Engine) {
        let quiet: Vec<SessionId> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                p.turn.is_none() && p.last_output.is_some_and(|t| t.elapsed() >= QUIET)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in quiet {
            self.settle(id, engine);
        }
    }

    fn expect_answer(&mut self, id: SessionId, session: &Session, turn: Option<String>) {
        self.pending.insert(
            id,
            Pending {
                from: session.scrollback.end_seq(),
                sent: Instant::now(),
                last_output: None,
                turn,
                scanned: session.scrollback.end_seq(),
                sent_as_send: false,
            },
        );
    }

    /// Writes the message of `id`'s turn still being gathered as a `say`, once: a step
    /// (`approve`, `deny`, `interrupt`) comes inside the turn, which a `turn` step would not
    /// wait through.
    fn send_turn(&mut self, id: SessionId, name: &str) {
        let Some(pending) = self.pending.get_mut(&id) else {
            return;
        };
        if pending.sent_as_send {
            return;
        }
        let Some(text) = pending.turn.clone() else {
            return;
        };
        pending.sent_as_send = true;
        self.line(&format!(
            "say {name} {}",
            crate::text::quote(text.as_bytes())
        ));
    }

    /// Writes the expect steps of the answer gathered for `id`, if any.
    fn settle(&mut self, id: SessionId, engine: &Engine) {
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        let Some(session) = engine.session(id) else {
            return;
        };
        let took = pending
            .last_output
            .map_or(Duration::ZERO, |t| t.duration_since(pending.sent));
        let within = within(took);
        let name = &session.spec.name;
        if let Some(text) = &pending.turn {
            let (steps, failed) = json_steps(session, pending.from);
            if pending.sent_as_send {
                if !failed {
                    self.line(&format!("wait {name} turn within {within}"));
                }
            } else if failed {
                // A `turn` step fails on an error: send the message and check the error.
                let framed = crate::protocol::frame_turn(Protocol::StreamJson, text);
                let line = String::from_utf8_lossy(&framed);
                self.line(&format!("send {name} {}", send_text(line.trim_end())));
            } else {
                self.line(&format!(
                    "turn {name} {}",
                    crate::text::quote(text.as_bytes())
                ));
            }
            for step in steps {
                self.line(&format!("expect-json {name} {step} within {within}"));
            }
            return;
        }
        if let Some((stream, bytes)) = last_line(session, pending.from) {
            let pattern = pattern_for(&bytes);
            let stream = stream.as_str();
            self.line(&format!(
                "expect {name} {stream} {} within {within}",
                pattern.as_str()
            ));
        }
    }

    fn line(&mut self, text: &str) {
        if self.failed.is_some() {
            return;
        }
        let result = self
            .file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.write_all(b"\n"))
            .and_then(|()| self.file.flush());
        if let Err(err) = result {
            self.failed = Some(format!(
                "the recording {} could not be written ({err}): it stops here",
                self.path.display()
            ));
        }
    }
}

/// A `send` step's text: as it is, or quoted when blanks at its ends, a leading quote or
/// control characters would not survive the step's rest-of-line form.
fn send_text(text: &str) -> String {
    let plain = !text.is_empty()
        && text.trim() == text
        && !text.starts_with('"')
        && !text.chars().any(char::is_control);
    if plain {
        text.to_string()
    } else {
        crate::text::quote(text.as_bytes())
    }
}

/// The tool an `approve` step names (a word; a tool name with other characters is left out).
fn approve_tool(tool: &str) -> String {
    let word = !tool.is_empty()
        && tool
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    if word {
        format!(" {tool}")
    } else {
        String::new()
    }
}

/// `within` for an answer that took `took`: a few times that, in whole seconds, at least
/// [`MIN_WITHIN`].
fn within(took: Duration) -> String {
    let wait = (took * WITHIN_FACTOR).max(MIN_WITHIN);
    format!("{}s", wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

/// The answer's last output line at or after `from`: the last finished line with text, or
/// else the last line with text at all (a prompt).
fn last_line(session: &Session, from: u64) -> Option<(Stream, Vec<u8>)> {
    let sb = &session.scrollback;
    let from = from.max(sb.first_seq());
    let lines: Vec<_> = (from..sb.end_seq())
        .filter_map(|seq| sb.get(seq))
        .filter(|l| l.stream.is_output() && !l.bytes.trim_ascii().is_empty())
        .collect();
    let finished = lines
        .iter()
        .rev()
        .find(|l| matches!(l.end, LineEnd::Newline | LineEnd::Eof));
    finished
        .or(lines.last())
        .map(|l| (l.stream, l.bytes.to_vec()))
}

/// Whether a `result` event came in the lines from `*scanned` on (which moves past the
/// finished lines looked at, so a long turn is read once).
fn turn_ended(session: Option<&Session>, scanned: &mut u64) -> bool {
    let Some(session) = session else { return false };
    let sb = &session.scrollback;
    let mut seq = (*scanned).max(sb.first_seq());
    while let Some(line) = sb.get(seq) {
        if line.is_open() {
            break;
        }
        if line.stream.is_output()
            && line.completes()
            && stream_json::parse_line(&sb.whole_line(&line))
                .is_some_and(|v| stream_json::event_type(&v) == Some("result"))
        {
            return true;
        }
        seq += 1;
    }
    *scanned = seq;
    false
}

fn json_lines(session: &Session, from: u64) -> Vec<Value> {
    let sb = &session.scrollback;
    (from.max(sb.first_seq())..sb.end_seq())
        .filter_map(|seq| sb.get(seq))
        .filter(|l| l.stream.is_output() && l.completes())
        .filter_map(|l| stream_json::parse_line(&sb.whole_line(&l)))
        .collect()
}

/// The `expect-json` predicates of an agent's turn: the text and tool names of what it said,
/// and how the turn ended (and whether it ended in error). Ids, durations and costs change
/// from run to run and are left out.
fn json_steps(session: &Session, from: u64) -> (Vec<String>, bool) {
    let mut steps = Vec::new();
    let mut failed = false;
    for value in json_lines(session, from) {
        match stream_json::event_type(&value) {
            Some("assistant") => {
                let content = value
                    .pointer("/message/content")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for (i, part) in content.iter().enumerate() {
                    match part.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            if let Some(text) = part.get("text").and_then(Value::as_str) {
                                steps.push(json_text(&format!("/message/content/{i}/text"), text));
                            }
                        }
                        Some("tool_use") => {
                            if let Some(tool) = part.get("name").and_then(Value::as_str) {
                                steps.push(format!(
                                    "/message/content/{i}/name == {}",
                                    Value::from(tool)
                                ));
                            }
                        }
                        _ => {}
                    }
                }
            }
            Some("result") => {
                if let Some(subtype) = value.get("subtype").and_then(Value::as_str) {
                    steps.push(format!("/subtype == {}", Value::from(subtype)));
                }
                // One step per line (a match moves past its line): an error's subtype says
                // it was one.
                failed = value.get("is_error").and_then(Value::as_bool) == Some(true);
                break;
            }
            _ => {}
        }
    }
    (steps, failed)
}

/// `POINTER == "text"`, or `POINTER ~ /regex/` when the text holds volatile parts or more
/// than one line.
fn json_text(pointer: &str, text: &str) -> String {
    let first_line = text.lines().next().unwrap_or("");
    match pattern_for(first_line.as_bytes()) {
        generalize::Recorded::Literal(_) if !text.contains('\n') => {
            format!("{pointer} == {}", Value::from(text))
        }
        generalize::Recorded::Literal(_) => {
            // A multi-line text: its first line, as a literal prefix.
            let source = regex::escape(first_line).replace('/', r"\/");
            format!("{pointer} ~ /^{source}/")
        }
        generalize::Recorded::Regex(source) if !text.contains('\n') => {
            format!("{pointer} ~ {source}")
        }
        generalize::Recorded::Regex(source) => {
            // The first line only: without the `$` (always the last character) that anchors it.
            let inner = &source[1..source.len() - 2];
            format!("{pointer} ~ /{inner}/")
        }
    }
}
