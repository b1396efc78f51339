//! Commands applied to the engine: the only way front ends change sessions.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::backend::{Control, EventSink};
use super::state::{MAX_STDIN_QUEUED, Session};
use super::{
    Command, Engine, EngineError, Event, Protocol, Scrollback, SessionId, SessionSpec,
    SessionState, Stream, Transcript, signal_name, valid_name,
};
use crate::protocol::control::Answer;

/// How long a restart waits for the old program's end before it starts the new one anyway.
pub(super) const RESTART_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Engine {
    /// Applies a command. Input to a session that has ended is dropped with a warning event
    /// returned to the caller; `Add` and `Remove` return `Added` and `Removed`.
    pub fn apply(&mut self, command: Command) -> Result<Option<Event>, EngineError> {
        let event = match command {
            Command::Add { spec } => {
                let session = self.add_session(*spec)?;
                Some(Event::Added { session })
            }
            Command::Remove { session } => {
                self.remove(session)?;
                Some(Event::Removed { session })
            }
            Command::SendLine { session, text } => {
                let mut bytes = text.into_bytes();
                bytes.push(b'\n');
                return self.write(session, bytes);
            }
            Command::SendTurn { session, text } => {
                let protocol = self.get_mut(session)?.spec.protocol;
                let written = self.write(session, crate::protocol::frame_turn(protocol, &text));
                // A message the agent got starts a turn, or goes into the next one when a
                // turn is running (a refused one, `Ok(Some(Warning))`, does neither).
                if protocol == crate::protocol::Protocol::StreamJson && matches!(written, Ok(None))
                {
                    let agent = &mut self.get_mut(session)?.agent;
                    agent.queued |= agent.busy;
                    agent.busy = true;
                }
                return written;
            }
            Command::Write { session, bytes } => return self.write(session, bytes),
            Command::CloseStdin { session } => {
                let s = self.get_mut(session)?;
                if !s.stdin_closed {
                    s.stdin_closed = true;
                    s.record_event("stdin_closed", json!({}));
                    s.send_control(Control::CloseStdin);
                }
                None
            }
            Command::Signal { session, signal } => {
                let s = self.get_mut(session)?;
                if s.state.is_live() {
                    s.record_event(
                        "signal",
                        json!({"signal": signal, "name": signal_name(signal)}),
                    );
                    s.send_control(Control::Signal(signal));
                }
                None
            }
            Command::Kill { session } => {
                let grace = self.options.stop_grace;
                let s = self.get_mut(session)?;
                if s.state.is_live() {
                    s.record_event("kill", json!({}));
                    s.send_control(Control::Stop { grace });
                }
                None
            }
            Command::Restart { session } => {
                let s = self.get_mut(session)?;
                s.record_event("restart", json!({}));
                self.agent_ended(session);
                let s = &mut self.sessions[session];
                if s.state.is_live() && s.controls.is_some() {
                    // Dropping the controls kills the program; the new one starts when the
                    // old one's end has come (and is in the transcript before the start).
                    s.controls = None;
                    s.restart_at = Some(Instant::now() + RESTART_WAIT);
                    s.state = SessionState::Starting {
                        progress: Some("restarting".into()),
                    };
                } else {
                    s.controls = None;
                    s.scrollback.close_streams();
                    self.launch(session);
                }
                None
            }
            Command::Clear { session } => {
                self.get_mut(session)?.scrollback.clear();
                None
            }
            Command::Interrupt { session } => return self.interrupt(session),
            Command::Approve {
                session,
                pick,
                always,
            } => {
                let answer = if always {
                    Answer::AllowedAlways
                } else {
                    Answer::Allowed
                };
                return self.answer(session, &pick, answer);
            }
            Command::Deny {
                session,
                pick,
                message,
            } => {
                let message = message
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "The user denied this in sandmux.".to_string());
                return self.answer(session, &pick, Answer::Denied { message });
            }
        };
        if let Some(event) = &event {
            self.publish_event(event);
        }
        Ok(event)
    }

    fn add_session(&mut self, spec: SessionSpec) -> Result<SessionId, EngineError> {
        if !valid_name(&spec.name) {
            return Err(EngineError::InvalidName(spec.name));
        }
        if self.by_name.contains_key(&spec.name) {
            return Err(EngineError::DuplicateName(spec.name));
        }
        let kind = spec.backend.kind();
        if !self.backends.contains_key(kind) {
            return Err(EngineError::NoBackend(kind));
        }
        let transcript = match &self.options.transcript_dir {
            Some(dir) => {
                let path = dir.join(format!("{}.jsonl", spec.name));
                // A session added again under a name this engine used goes on in its file.
                let fresh = !self.transcripts.contains(&path);
                let opened =
                    std::fs::create_dir_all(dir).and_then(|_| Transcript::open(&path, fresh));
                let transcript = opened.map_err(|source| EngineError::Transcript {
                    path: path.clone(),
                    source,
                })?;
                self.transcripts.insert(path);
                Some(transcript)
            }
            None => None,
        };
        let prompt = match &spec.prompt {
            Some(pattern) => Some(
                regex::bytes::Regex::new(pattern)
                    .map_err(|e| EngineError::InvalidPrompt(crate::text::regex_error(&e)))?,
            ),
            None => None,
        };
        let id = self.sessions.len();
        self.by_name.insert(spec.name.clone(), id);
        let scrollback = Scrollback::new(self.options.scrollback);
        self.sessions
            .push(Session::new(spec, scrollback, prompt, transcript));
        self.launch(id);
        Ok(id)
    }

    pub(super) fn launch(&mut self, id: SessionId) {
        let session = &mut self.sessions[id];
        session.undeliverable("the session restarted before reading it");
        session.stdin_sent = 0;
        session.stdin_delivered = 0;
        session.restart_at = None;
        session.generation += 1;
        session.starts += 1;
        session.state = SessionState::Starting { progress: None };
        session.stdin_closed = false;
        let (controls_tx, controls_rx) = mpsc::unbounded_channel();
        session.controls = Some(controls_tx);
        let sink = EventSink::new(id, session.generation, self.tx.clone());
        let backend = Arc::clone(&self.backends[session.spec.backend.kind()]);
        backend.launch(&session.spec, controls_rx, sink);
    }

    /// Kills the session if it is live (its backend task ends when its controls close) and
    /// forgets it; the slot stays, so ids are never reused.
    fn remove(&mut self, id: SessionId) -> Result<(), EngineError> {
        let s = self.get_mut(id)?;
        if s.state.is_live() {
            s.record_event("kill", json!({}));
            s.state = SessionState::Failed {
                reason: "removed".into(),
            };
        }
        s.record_event("removed", json!({}));
        s.undeliverable("the session was removed before reading it");
        s.restart_at = None;
        s.controls = None;
        s.flush();
        s.transcript_lost = s.transcript_incomplete();
        s.transcript = None;
        s.scrollback = Scrollback::new(s.scrollback.limits());
        let name = s.spec.name.clone();
        s.removed = true;
        self.by_name.remove(&name);
        Ok(())
    }

    fn write(&mut self, id: SessionId, bytes: Vec<u8>) -> Result<Option<Event>, EngineError> {
        let s = self.get_mut(id)?;
        let refused = if s.restart_at.is_some() {
            Some("input not sent: the session is restarting".to_string())
        } else if !s.state.is_live() {
            Some(format!("input not sent: the session has {}", s.state))
        } else if s.stdin_closed {
            Some("input not sent: stdin is closed".to_string())
        } else if s.stdin_queued > 0 && s.stdin_queued + bytes.len() > MAX_STDIN_QUEUED {
            Some(format!(
                "input not sent: the session has not read the {} of input queued before it",
                crate::units::format_bytes(s.stdin_queued as u64)
            ))
        } else {
            None
        };
        if let Some(message) = refused {
            s.push_warning(message.clone());
            return Ok(Some(Event::Warning {
                session: id,
                message,
            }));
        }
        s.record_data("stdin", &bytes);
        // The input is part of the conversation: the pane shows it where it happened.
        let before = s.activity_key();
        let end = s.scrollback.end_seq();
        let start = match end.checked_sub(1).and_then(|last| s.scrollback.get(last)) {
            // The bytes go on the input line still waiting for its newline.
            Some(line) if line.is_open() && line.stream == Stream::Stdin => line.seq,
            _ => end,
        };
        s.scrollback.push(Stream::Stdin, &bytes);
        if !bytes.is_empty() {
            s.last_input_seq = Some(start);
        }
        s.awaiting_input = false;
        if s.spec.protocol == Protocol::StreamJson {
            s.turn_in_flight = true;
        }
        s.stdin_queued += bytes.len();
        s.stdin_sent += bytes.len() as u64;
        s.send_control(Control::Write(bytes));
        // An answer typed by hand closes the request it answers.
        let noticed = s.notice_output();
        let turn_ends = self.act_on(id, noticed);
        self.publish_output(id, before, &turn_ends);
        Ok(None)
    }
}
