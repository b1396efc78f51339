//! `sandmux demo-agent`: a stand-in agent CLI that speaks stream-json and the control
//! protocol the way Claude Code does, so the demo and examples need nothing installed. What
//! it says mirrors the tests' local model server (`tests/agents/model_api.py`), so an
//! example written against it runs unchanged with the real CLI pointed at that server.
//!
//! As strict as the real CLI:
//! - nothing is printed before the first user message; every turn starts with a
//!   `system`/`init` record (the same `session_id`), and ends with a `result` whose
//!   `total_cost_usd` is the running total of the session;
//! - a line that is not a user message or a control message gets a line on stderr and an
//!   error `result`, never an answer;
//! - `control_request`s: `interrupt` ends the turn in flight (`[Request interrupted by
//!   user]`, then an `error_during_execution` result) and keeps the conversation; an unknown
//!   subtype gets an error `control_response`;
//! - with `--permission-prompt-tool stdio`, running a command that is not read-only asks
//!   with a `can_use_tool` request and waits for the `control_response` (allow, or deny
//!   with a message); without it, such a command is refused, as `-p` does;
//! - with `--include-partial-messages`, each text is streamed as `stream_event` records
//!   before the whole `assistant` message;
//! - at the end of input it exits 1 when its last turn failed.
//!
//! What it answers: `run: CMD` runs CMD with `sh -c` as a Bash tool; `slow` streams for a
//! minute (to be interrupted); a message with `look` or `read` uses a Grep tool; one with
//! `fail` ends in error; `remember WORD` and `recall` show that the conversation is kept;
//! anything else gets `You said: TEXT`.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::protocol::{control, stream_json};

/// How the demo agent was started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra delay before each reply.
    pub delay: Duration,
    /// `--permission-prompt-tool stdio`: ask on stdout before running a command.
    pub ask_permission: bool,
    /// `--include-partial-messages`: stream texts as `stream_event` records first.
    pub partial: bool,
}

/// Commands that run without asking (read-only, as the real CLI judges `echo`).
const READ_ONLY: &[&str] = &["echo", "ls", "pwd", "cat", "true", "date"];
/// The most output of a command kept as its tool result.
const MAX_TOOL_OUTPUT: usize = 64 * 1024;

/// One line read from stdin.
enum Incoming {
    User(String),
    Control {
        id: String,
        subtype: String,
    },
    Response(control::ControlMessage),
    /// A line that is not a message (and why).
    Bad(String),
}

/// Why a turn stopped early.
enum Stop {
    Interrupted,
    /// stdin ended or stdout broke.
    Gone,
}

struct Agent {
    options: Options,
    session: String,
    rx: Receiver<Incoming>,
    /// User messages that came while a turn was running.
    queued: VecDeque<String>,
    total_cost: f64,
    remembered: Option<String>,
    next_id: u64,
    line: usize,
}

/// Runs the demo agent on stdin/stdout until EOF. Returns the exit status.
pub fn run(options: Options) -> i32 {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (index, line) in std::io::stdin().lock().lines().enumerate() {
            let Ok(line) = line else { break };
            if let Some(incoming) = read(&line, index + 1)
                && tx.send(incoming).is_err()
            {
                break;
            }
        }
    });
    let mut agent = Agent {
        options,
        session: format!("demo-{}", std::process::id()),
        rx,
        queued: VecDeque::new(),
        total_cost: 0.0,
        remembered: None,
        next_id: 0,
        line: 0,
    };
    agent.main_loop()
}

/// What one input line is; `None` for a blank line.
fn read(line: &str, number: usize) -> Option<Incoming> {
    if line.trim().is_empty() {
        return None;
    }
    let value: Value = match serde_json::from_str(line.trim()) {
        Ok(value) => value,
        Err(err) => {
            return Some(Incoming::Bad(format!(
                "line {number}: not JSON ({err}); expected {{\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":\"...\"}}}}"
            )));
        }
    };
    match control::parse(&value) {
        Some(control::ControlMessage::Request { id, subtype, .. }) => {
            return Some(Incoming::Control { id, subtype });
        }
        Some(message) => return Some(Incoming::Response(message)),
        None => {}
    }
    if stream_json::event_type(&value) != Some("user") {
        return Some(Incoming::Bad(format!(
            "line {number}: expected a message of type \"user\", got {}",
            value
                .get("type")
                .map_or("no type".to_string(), Value::to_string)
        )));
    }
    match value.pointer("/message/content") {
        Some(content @ (Value::String(_) | Value::Array(_))) => {
            Some(Incoming::User(stream_json::content_text(content)))
        }
        Some(_) => Some(Incoming::Bad(format!(
            "line {number}: message.content must be a string or a list of blocks"
        ))),
        None => Some(Incoming::Bad(format!(
            "line {number}: the user message has no message.content"
        ))),
    }
}

impl Agent {
    fn main_loop(&mut self) -> i32 {
        let mut last_failed = false;
        loop {
            let text = match self.queued.pop_front() {
                Some(text) => text,
                None => match self.rx.recv() {
                    Ok(Incoming::User(text)) => text,
                    Ok(Incoming::Control { id, subtype }) => {
                        if !self.control(&id, &subtype) {
                            return 0;
                        }
                        continue;
                    }
                    Ok(Incoming::Response(_)) => continue,
                    Ok(Incoming::Bad(why)) => {
                        last_failed = true;
                        if !self.bad_input(&why) {
                            return 0;
                        }
                        continue;
                    }
                    Err(_) => return i32::from(last_failed),
                },
            };
            self.line += 1;
            match self.turn(&text) {
                Ok(failed) => last_failed = failed,
                Err(Stop::Interrupted) => last_failed = true,
                Err(Stop::Gone) => return i32::from(last_failed),
            }
        }
    }

    fn emit(&self, value: Value) -> Result<(), Stop> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        writeln!(out, "{value}")
            .and_then(|_| out.flush())
            .map_err(|_| Stop::Gone)
    }

    /// Answers a control request that came between turns; false when stdout broke.
    fn control(&self, id: &str, subtype: &str) -> bool {
        let answer = if subtype == "interrupt" {
            json!({"type": "control_response", "response": {"subtype": "success", "request_id": id, "response": {}}})
        } else {
            let line = control::error_response(
                id,
                &format!("Unsupported control request subtype: {subtype}"),
            );
            serde_json::from_str(&line).unwrap_or(Value::Null)
        };
        self.emit(answer).is_ok()
    }

    /// What a real agent CLI in stream-json mode does with input it cannot read: a line on
    /// stderr and a failed turn.
    fn bad_input(&self, why: &str) -> bool {
        let _ = writeln!(std::io::stderr(), "Error: invalid stream-json input {why}");
        self.emit(json!({
            "type": "result", "subtype": "error_during_execution", "is_error": true,
            "num_turns": 0, "duration_ms": 0, "total_cost_usd": self.total_cost,
            "result": format!("invalid input: {why}"), "session_id": self.session,
        }))
        .is_ok()
    }

    /// Waits up to `time`, serving control requests; an interrupt stops the turn.
    fn pause(&mut self, time: Duration) -> Result<(), Stop> {
        let until = Instant::now() + time;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Incoming::Control { id, subtype }) => {
                    if !self.control(&id, &subtype) {
                        return Err(Stop::Gone);
                    }
                    if subtype == "interrupt" {
                        return Err(Stop::Interrupted);
                    }
                }
                Ok(Incoming::User(text)) => self.queued.push_back(text),
                Ok(Incoming::Response(_) | Incoming::Bad(_)) => {}
                Err(RecvTimeoutError::Timeout) => return Ok(()),
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(left);
                    return Ok(());
                }
            }
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{:04}", self.next_id)
    }

    /// One turn; `Ok(failed)` when it ran to its end.
    fn turn(&mut self, text: &str) -> Result<bool, Stop> {
        let started = Instant::now();
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        self.emit(json!({
            "type": "system", "subtype": "init", "session_id": self.session,
            "model": "demo-agent-1", "cwd": cwd, "tools": ["Bash", "Grep", "Read"],
            "mcp_servers": [], "permissionMode": "default",
        }))?;
        let outcome = self.answer(text);
        let (failed, reply, turns) = match outcome {
            Ok(answered) => answered,
            Err(Stop::Interrupted) => {
                self.emit(json!({"type": "user", "session_id": self.session, "message": {"role": "user", "content": [{"type": "text", "text": "[Request interrupted by user]"}]}}))?;
                self.finish(started, 1, true, None, "aborted_streaming")?;
                return Err(Stop::Interrupted);
            }
            Err(gone) => return Err(gone),
        };
        self.finish(started, turns, failed, Some(reply), "completed")?;
        Ok(failed)
    }

    /// The turn's work: `(failed, final text, model turns)`.
    fn answer(&mut self, text: &str) -> Result<(bool, String, u64), Stop> {
        self.pause(self.options.delay)?;
        if text == "slow" {
            let mut said = String::new();
            for i in 0..300 {
                let piece = format!("tick{i} ");
                said.push_str(&piece);
                if self.options.partial {
                    self.delta(&piece)?;
                }
                self.pause(Duration::from_millis(200))?;
            }
            self.say(&said)?;
            return Ok((false, said, 1));
        }
        if let Some(command) = text.strip_prefix("run: ") {
            let output = self.run_tool(command)?;
            let reply = format!("The tool said: {}", output.lines().next().unwrap_or(""));
            self.say(&reply)?;
            return Ok((false, reply, 2));
        }
        let looked = text.contains("look") || text.contains("read");
        if looked {
            let id = self.id("toolu");
            self.emit(json!({"type": "assistant", "session_id": self.session, "message": {"model": "demo-agent-1", "role": "assistant", "content": [
                {"type": "thinking", "thinking": "The user wants me to look something up."},
                {"type": "tool_use", "id": id, "name": "Grep", "input": {"pattern": text, "path": "."}},
            ]}}))?;
            self.emit(json!({"type": "user", "session_id": self.session, "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": id, "content": "README.md:1: found it\nsrc/lib.rs:3: also here", "is_error": false},
            ]}}))?;
        }
        let failed = text.contains("fail");
        let reply = if failed {
            "I could not do that.".to_string()
        } else if let Some(word) = text.strip_prefix("remember ") {
            self.remembered = Some(word.trim().to_string());
            format!("I will remember {}.", word.trim())
        } else if text == "recall" {
            match &self.remembered {
                Some(word) => format!("You asked me to remember {word}."),
                None => "Nothing to recall.".to_string(),
            }
        } else {
            format!("You said: {text}")
        };
        if self.options.partial {
            for piece in reply.as_bytes().chunks(8) {
                self.delta(&String::from_utf8_lossy(piece))?;
            }
        }
        self.say(&reply)?;
        Ok((failed, reply, if looked { 2 } else { 1 }))
    }

    /// Runs `command` as the Bash tool, asking first when it is not read-only and the
    /// prompts go to stdio; returns its output (or why it did not run).
    fn run_tool(&mut self, command: &str) -> Result<String, Stop> {
        let id = self.id("toolu");
        let input = json!({"command": command, "description": "Run the command asked for"});
        self.emit(json!({"type": "assistant", "session_id": self.session, "message": {"model": "demo-agent-1", "role": "assistant", "content": [
            {"type": "tool_use", "id": id, "name": "Bash", "input": input},
        ]}}))?;
        let program = command.split_whitespace().next().unwrap_or("");
        let allowed = if READ_ONLY.contains(&program) {
            Ok(())
        } else if self.options.ask_permission {
            self.ask(&id, &input)?
        } else {
            Err("This command requires approval".to_string())
        };
        let (content, is_error) = match allowed {
            Ok(()) => match std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .output()
            {
                Ok(out) => {
                    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                    text.push_str(&String::from_utf8_lossy(&out.stderr));
                    text.truncate(MAX_TOOL_OUTPUT);
                    let text = text.trim_end().to_string();
                    if text.is_empty() {
                        ("(Bash completed with no output)".to_string(), false)
                    } else {
                        (text, !out.status.success())
                    }
                }
                Err(err) => (format!("could not run sh: {err}"), true),
            },
            Err(why) => (why, true),
        };
        self.emit(json!({"type": "user", "session_id": self.session, "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error},
        ]}}))?;
        Ok(if is_error {
            format!("refused: {content}")
        } else {
            content
        })
    }

    /// Asks permission on stdout and waits for the answer (`Err(message)` when denied).
    fn ask(&mut self, tool_use: &str, input: &Value) -> Result<Result<(), String>, Stop> {
        let request = format!("demo-{}", self.id("perm"));
        self.emit(json!({
            "type": "control_request", "request_id": request,
            "request": {"subtype": "can_use_tool", "tool_name": "Bash", "display_name": "Bash",
                "input": input, "description": input["description"], "tool_use_id": tool_use},
        }))?;
        loop {
            match self.rx.recv() {
                Ok(Incoming::Response(control::ControlMessage::Response {
                    id,
                    behavior,
                    message,
                    error,
                    ..
                })) if id == request => {
                    return Ok(match (error, behavior.as_deref()) {
                        (None, Some("allow")) => Ok(()),
                        (Some(error), _) => Err(format!("Tool permission request failed: {error}")),
                        _ => Err(message.unwrap_or_else(|| "denied".into())),
                    });
                }
                Ok(Incoming::Control { id, subtype }) => {
                    if !self.control(&id, &subtype) {
                        return Err(Stop::Gone);
                    }
                    if subtype == "interrupt" {
                        self.emit(
                            json!({"type": "control_cancel_request", "request_id": request}),
                        )?;
                        return Err(Stop::Interrupted);
                    }
                }
                Ok(Incoming::User(text)) => self.queued.push_back(text),
                Ok(_) => {}
                Err(_) => {
                    return Ok(Err(
                        "Tool permission stream closed before response received".into(),
                    ));
                }
            }
        }
    }

    fn delta(&self, text: &str) -> Result<(), Stop> {
        self.emit(json!({"type": "stream_event", "session_id": self.session, "event": {
            "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}}))
    }

    fn say(&self, text: &str) -> Result<(), Stop> {
        self.emit(json!({"type": "assistant", "session_id": self.session, "message": {"model": "demo-agent-1", "role": "assistant",
            "content": [{"type": "text", "text": text}], "usage": {"input_tokens": 12 + text.len(), "output_tokens": 8}}}))?;
        if self.options.partial {
            self.emit(json!({"type": "stream_event", "session_id": self.session, "event": {"type": "message_stop"}}))?;
        }
        Ok(())
    }

    /// The turn's `result`: its cost is added to the running total it reports.
    fn finish(
        &mut self,
        started: Instant,
        turns: u64,
        failed: bool,
        reply: Option<String>,
        terminal: &str,
    ) -> Result<(), Stop> {
        let cost = 0.0001 * (1 + reply.as_deref().map_or(0, str::len) / 10) as f64;
        self.total_cost += cost;
        let duration_ms = started.elapsed().as_millis() as u64;
        let subtype = if failed {
            "error_during_execution"
        } else {
            "success"
        };
        self.emit(json!({
            "type": "result", "subtype": subtype, "is_error": failed, "num_turns": turns,
            "duration_ms": duration_ms, "duration_api_ms": duration_ms,
            "total_cost_usd": self.total_cost, "result": reply, "session_id": self.session,
            "terminal_reason": terminal, "model_usage_since_last_result": {"demo-agent-1": {"costUSD": cost}},
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_user_and_control_messages_are_read() {
        let ok = r#"{"type":"user","message":{"role":"user","content":"hi"}}"#;
        assert!(matches!(read(ok, 1), Some(Incoming::User(t)) if t == "hi"));
        assert!(read("   ", 1).is_none());
        assert!(
            matches!(read("hello", 3), Some(Incoming::Bad(w)) if w.starts_with("line 3: not JSON"))
        );
        assert!(
            matches!(read(r#"{"type":"assistant"}"#, 1), Some(Incoming::Bad(w)) if w.contains("\"assistant\""))
        );
        assert!(
            matches!(read(r#"{"type":"user"}"#, 1), Some(Incoming::Bad(w)) if w.contains("message.content"))
        );
        let interrupt = control::interrupt_request("i1");
        assert!(
            matches!(read(&interrupt, 1), Some(Incoming::Control { subtype, .. }) if subtype == "interrupt")
        );
        let allow = control::allow_response("p", &json!({}), None);
        assert!(matches!(read(&allow, 1), Some(Incoming::Response(_))));
    }
}
