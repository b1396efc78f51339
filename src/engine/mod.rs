//! The session engine: owns every session, applies [`Command`]s and turns what backends
//! report into [`Event`]s. It knows nothing of terminals; the TUI, the script runner and any
//! later front end drive it the same way:
//!
//! ```text
//! loop { select! { event = engine.next_event() => ..., input = ... => engine.apply(cmd) } }
//! ```
//!
//! The engine is the one place where session state changes. It keeps each session's
//! scrollback and transcript in step with the output, and flushes transcripts whenever it
//! catches up with its backends, on [`Engine::shutdown`] and when dropped.

pub mod scrollback;
pub mod session;
pub mod transcript;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use scrollback::{Line, LineEnd, Scrollback, ScrollbackLimits, Stream};
pub use session::{
    Activity, BackendSpec, ExitStatus, Program, Protocol, SandboxSpec, SessionSpec, SessionState,
    View, parse_signal, signal_name, valid_name,
};
pub use transcript::Transcript;

use crate::backend::{Backend, BackendEvent, Control, Envelope, EventSink, local::LocalBackend};

/// Identifies a session within one engine (its index, stable for the engine's life).
pub type SessionId = usize;

/// How many backend events may wait for the engine before backends have to wait.
const EVENT_QUEUE: usize = 32;

/// Everything a front end can ask of the engine. Keys, script steps and socket requests all
/// become one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Write `text` plus a newline to stdin.
    SendLine { session: SessionId, text: String },
    /// Send `text` as one user turn, framed for the session's protocol (a stream-json user
    /// message, or a plain line): what Enter in the TUI and the `turn` step send.
    SendTurn { session: SessionId, text: String },
    /// Write exactly these bytes to stdin.
    Write { session: SessionId, bytes: Vec<u8> },
    /// Close stdin (EOF).
    CloseStdin { session: SessionId },
    /// Send a signal (e.g. 2 for SIGINT) to the session.
    Signal { session: SessionId, signal: i32 },
    /// Stop the session: SIGTERM, then SIGKILL after the engine's grace period.
    Kill { session: SessionId },
    /// Stop the session if it is live and start it again with the same spec.
    Restart { session: SessionId },
    /// Forget the session's scrollback (the transcript keeps everything).
    Clear { session: SessionId },
}

/// What happened, as front ends see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The backend reports progress while starting.
    Progress { session: SessionId, message: String },
    /// The session's program is running.
    Started { session: SessionId },
    /// New output went into the session's scrollback (`bytes` of it).
    Output {
        session: SessionId,
        stream: Stream,
        bytes: usize,
    },
    /// Something the user should see that does not end the session.
    Warning { session: SessionId, message: String },
    /// The session ended with a status.
    Exited {
        session: SessionId,
        status: ExitStatus,
    },
    /// The session could not start or broke off.
    Failed { session: SessionId, reason: String },
}

impl Event {
    pub fn session(&self) -> SessionId {
        match self {
            Event::Progress { session, .. }
            | Event::Started { session }
            | Event::Output { session, .. }
            | Event::Warning { session, .. }
            | Event::Exited { session, .. }
            | Event::Failed { session, .. } => *session,
        }
    }
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub scrollback: ScrollbackLimits,
    /// Write `DIR/NAME.jsonl` for every session.
    pub transcript_dir: Option<PathBuf>,
    /// Time between SIGTERM and SIGKILL when a session is stopped.
    pub stop_grace: Duration,
}

impl EngineOptions {
    /// Options from a config's settings (defaults without one) and a transcript directory.
    pub fn from_config(
        config: Option<&crate::config::Config>,
        transcript_dir: Option<PathBuf>,
    ) -> Self {
        EngineOptions {
            scrollback: config.map_or(ScrollbackLimits::default(), |c| c.settings.scrollback),
            transcript_dir,
            ..EngineOptions::default()
        }
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            scrollback: ScrollbackLimits::default(),
            transcript_dir: None,
            stop_grace: Duration::from_secs(2),
        }
    }
}

/// Errors the engine reports to its driver.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("a session named `{0}` already exists")]
    DuplicateName(String),
    #[error("invalid session name `{0}`: use letters, digits, `_`, `.` and `-`")]
    InvalidName(String),
    #[error("no session with id {0}")]
    UnknownSession(SessionId),
    #[error("backend `{0}` is not available in this build of sandmux")]
    NoBackend(&'static str),
    #[error("invalid prompt regex: {0}")]
    InvalidPrompt(String),
    #[error("cannot write transcript {path}: {source}")]
    Transcript {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One session as the engine keeps it.
#[derive(Debug)]
pub struct Session {
    pub spec: SessionSpec,
    pub state: SessionState,
    pub scrollback: Scrollback,
    /// Warnings shown to the user, oldest first (bounded).
    pub warnings: Vec<String>,
    /// When the last output arrived.
    pub last_output: Option<Instant>,
    /// Whether stdin was closed (EOF sent).
    pub stdin_closed: bool,
    /// How many times it was started (1 after the first start).
    pub starts: u64,
    /// A stream-json turn ended or a prompt is showing, and no input came since.
    pub awaiting_input: bool,
    /// A stream-json turn was sent and its `result` has not come yet.
    pub turn_in_flight: bool,
    /// Lines before this were already looked at for `result` events and prompts.
    scan_seq: u64,
    prompt: Option<regex::bytes::Regex>,
    generation: u64,
    controls: Option<mpsc::UnboundedSender<Control>>,
    transcript: Option<Transcript>,
}

/// Output this recent counts as "working".
const WORKING_FOR: Duration = Duration::from_secs(3);

impl Session {
    /// What the session is doing now.
    pub fn activity(&self, now: Instant) -> Activity {
        match &self.state {
            SessionState::Starting { .. } => Activity::Starting,
            SessionState::Exited(_) => Activity::Exited,
            SessionState::Failed { .. } => Activity::Failed,
            SessionState::Running { .. } if self.awaiting_input => Activity::AwaitingInput,
            SessionState::Running { .. } if self.turn_in_flight => Activity::Working,
            SessionState::Running { .. }
                if self
                    .last_output
                    .is_some_and(|t| now.saturating_duration_since(t) < WORKING_FOR) =>
            {
                Activity::Working
            }
            SessionState::Running { .. } => Activity::Idle,
        }
    }

    /// Looks at the lines that arrived since the last look: a stream-json `result` ends a
    /// turn; a newest output line matching the prompt regex means input is awaited.
    fn notice_output(&mut self) {
        let sb = &self.scrollback;
        // Only stream-json sessions need every new line looked at.
        if self.spec.protocol == Protocol::StreamJson {
            let end = sb.end_seq();
            let mut seq = self.scan_seq.max(sb.first_seq());
            while seq < end {
                let Some(line) = sb.get(seq) else {
                    break;
                };
                if line.is_open() {
                    // The newest line: look again when it is complete.
                    break;
                }
                if line.stream.is_output()
                    && line.completes()
                    && crate::protocol::stream_json::is_result_line(&sb.whole_line(&line))
                {
                    self.turn_in_flight = false;
                    self.awaiting_input = true;
                }
                seq += 1;
            }
            self.scan_seq = seq;
        }
        if let Some(prompt) = &self.prompt
            && let Some(last) = self.scrollback.last_output()
        {
            self.awaiting_input = prompt.is_match(last.bytes);
        }
    }

    /// Bytes of output and input seen so far are in the transcript, if there is one.
    pub fn transcript_path(&self) -> Option<&std::path::Path> {
        self.transcript.as_ref().map(|t| t.path())
    }
}

/// The session engine.
pub struct Engine {
    sessions: Vec<Session>,
    by_name: HashMap<String, SessionId>,
    options: EngineOptions,
    backends: HashMap<&'static str, Arc<dyn Backend>>,
    tx: mpsc::Sender<Envelope>,
    rx: mpsc::Receiver<Envelope>,
}

impl Engine {
    /// An engine with the local backend (and others registered with [`Engine::register`]).
    pub fn new(options: EngineOptions) -> Self {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let mut backends: HashMap<&'static str, Arc<dyn Backend>> = HashMap::new();
        backends.insert("local", Arc::new(LocalBackend));
        #[cfg(feature = "microsandbox")]
        backends.insert(
            "microsandbox",
            Arc::new(crate::backend::microsandbox::MicrosandboxBackend::new()),
        );
        Engine {
            sessions: Vec::new(),
            by_name: HashMap::new(),
            options,
            backends,
            tx,
            rx,
        }
    }

    /// Makes a backend available under `kind` (as named in [`BackendSpec::kind`]).
    pub fn register(&mut self, kind: &'static str, backend: Arc<dyn Backend>) {
        self.backends.insert(kind, backend);
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Adds a session and starts it.
    pub fn add(&mut self, spec: SessionSpec) -> Result<SessionId, EngineError> {
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
                let opened =
                    std::fs::create_dir_all(dir).and_then(|_| Transcript::open(&path, true));
                Some(opened.map_err(|source| EngineError::Transcript { path, source })?)
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
        self.sessions.push(Session {
            awaiting_input: false,
            turn_in_flight: false,
            scan_seq: 0,
            prompt,
            spec,
            state: SessionState::Starting { progress: None },
            scrollback: Scrollback::new(self.options.scrollback),
            warnings: Vec::new(),
            last_output: None,
            stdin_closed: false,
            starts: 0,
            generation: 0,
            controls: None,
            transcript,
        });
        self.launch(id);
        Ok(id)
    }

    fn launch(&mut self, id: SessionId) {
        let session = &mut self.sessions[id];
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

    /// Looks a session up by name.
    pub fn find(&self, name: &str) -> Option<SessionId> {
        self.by_name.get(name).copied()
    }

    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// All sessions, in the order they were added.
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// Whether any session can still produce output.
    pub fn any_live(&self) -> bool {
        self.sessions.iter().any(|s| s.state.is_live())
    }

    /// Applies a command. Input to a session that has ended is dropped with a warning event
    /// returned to the caller.
    pub fn apply(&mut self, command: Command) -> Result<Option<Event>, EngineError> {
        match command {
            Command::SendLine { session, text } => {
                let mut bytes = text.into_bytes();
                bytes.push(b'\n');
                self.write(session, bytes)
            }
            Command::SendTurn { session, text } => {
                let protocol = self.get_mut(session)?.spec.protocol;
                self.write(session, crate::protocol::frame_turn(protocol, &text))
            }
            Command::Write { session, bytes } => self.write(session, bytes),
            Command::CloseStdin { session } => {
                let s = self.get_mut(session)?;
                if s.stdin_closed {
                    return Ok(None);
                }
                s.stdin_closed = true;
                record_event(s, "stdin_closed", json!({}));
                send_control(s, Control::CloseStdin);
                Ok(None)
            }
            Command::Signal { session, signal } => {
                let s = self.get_mut(session)?;
                if s.state.is_live() {
                    record_event(
                        s,
                        "signal",
                        json!({"signal": signal, "name": signal_name(signal)}),
                    );
                    send_control(s, Control::Signal(signal));
                }
                Ok(None)
            }
            Command::Kill { session } => {
                let grace = self.options.stop_grace;
                let s = self.get_mut(session)?;
                if s.state.is_live() {
                    record_event(s, "kill", json!({}));
                    send_control(s, Control::Stop { grace });
                }
                Ok(None)
            }
            Command::Restart { session } => {
                let s = self.get_mut(session)?;
                record_event(s, "restart", json!({}));
                // Dropping the controls of the old generation kills it; its late events
                // are recognised by their generation.
                s.controls = None;
                s.scrollback.close_streams();
                self.launch(session);
                Ok(None)
            }
            Command::Clear { session } => {
                self.get_mut(session)?.scrollback.clear();
                Ok(None)
            }
        }
    }

    fn write(&mut self, id: SessionId, bytes: Vec<u8>) -> Result<Option<Event>, EngineError> {
        let s = self.get_mut(id)?;
        let refused = if !s.state.is_live() {
            Some(format!("input not sent: the session has {}", s.state))
        } else if s.stdin_closed {
            Some("input not sent: stdin is closed".to_string())
        } else {
            None
        };
        if let Some(message) = refused {
            push_warning(s, message.clone());
            return Ok(Some(Event::Warning {
                session: id,
                message,
            }));
        }
        if let Some(t) = s.transcript.as_mut()
            && t.data("stdin", &bytes).is_err()
        {
            t.mark_failed();
        }
        // The input is part of the conversation: the pane shows it where it happened.
        s.scrollback.push(Stream::Stdin, &bytes);
        s.awaiting_input = false;
        if s.spec.protocol == Protocol::StreamJson {
            s.turn_in_flight = true;
        }
        send_control(s, Control::Write(bytes));
        Ok(None)
    }

    fn get_mut(&mut self, id: SessionId) -> Result<&mut Session, EngineError> {
        self.sessions
            .get_mut(id)
            .ok_or(EngineError::UnknownSession(id))
    }

    /// Waits for the next thing that happens in any session and applies it.
    pub async fn next_event(&mut self) -> Event {
        loop {
            // The engine holds a sender, so the channel never closes.
            let Some(envelope) = self.rx.recv().await else {
                std::future::pending::<()>().await;
                unreachable!();
            };
            if let Some(event) = self.handle(envelope) {
                if self.rx.is_empty() {
                    self.flush();
                }
                return event;
            }
        }
    }

    /// Applies a backend event that is already waiting, without blocking.
    pub fn try_next_event(&mut self) -> Option<Event> {
        while let Ok(envelope) = self.rx.try_recv() {
            if let Some(event) = self.handle(envelope) {
                return Some(event);
            }
        }
        self.flush();
        None
    }

    fn handle(&mut self, envelope: Envelope) -> Option<Event> {
        let Envelope {
            session: id,
            generation,
            event,
        } = envelope;
        let session = self.sessions.get_mut(id)?;
        let current = generation == session.generation;
        match event {
            BackendEvent::Output { stream, data } => {
                if let Some(t) = session.transcript.as_mut()
                    && let Err(err) = t.data(stream.as_str(), &data)
                    && t.mark_failed()
                {
                    let message = format!("transcript write failed: {err}");
                    push_warning(session, message);
                }
                if !current {
                    return None;
                }
                session.scrollback.push(stream, &data);
                session.last_output = Some(Instant::now());
                session.notice_output();
                Some(Event::Output {
                    session: id,
                    stream,
                    bytes: data.len(),
                })
            }
            BackendEvent::Progress(message) => {
                if !current {
                    return None;
                }
                record_event(session, "progress", json!({"message": message}));
                session.state = SessionState::Starting {
                    progress: Some(message.clone()),
                };
                Some(Event::Progress {
                    session: id,
                    message,
                })
            }
            BackendEvent::Started { pid } => {
                let command = session.spec.program.argv();
                record_event(session, "started", json!({"pid": pid, "command": command}));
                if !current {
                    return None;
                }
                session.state = SessionState::Running { pid };
                // An agent in stream-json mode waits for its first turn.
                session.awaiting_input = session.spec.protocol == Protocol::StreamJson;
                session.turn_in_flight = false;
                session.scan_seq = session.scrollback.end_seq();
                Some(Event::Started { session: id })
            }
            BackendEvent::Warning(message) => {
                record_event(session, "warning", json!({"message": message}));
                if !current {
                    return None;
                }
                push_warning(session, message.clone());
                Some(Event::Warning {
                    session: id,
                    message,
                })
            }
            BackendEvent::Exited(status) => {
                let mut fields = json!({"code": status.code});
                if let Some(signal) = status.signal {
                    fields = json!({"code": status.code, "signal": signal, "signal_name": signal_name(signal)});
                }
                record_event(session, "exited", fields);
                if !current {
                    return None;
                }
                session.scrollback.close_streams();
                session.state = SessionState::Exited(status);
                session.controls = None;
                Some(Event::Exited {
                    session: id,
                    status,
                })
            }
            BackendEvent::Failed(reason) => {
                record_event(session, "failed", json!({"reason": reason}));
                if !current {
                    return None;
                }
                session.scrollback.close_streams();
                session.state = SessionState::Failed {
                    reason: reason.clone(),
                };
                session.controls = None;
                Some(Event::Failed {
                    session: id,
                    reason,
                })
            }
        }
    }

    /// Writes every transcript's buffered lines to disk.
    pub fn flush(&mut self) {
        for session in &mut self.sessions {
            if let Some(t) = session.transcript.as_mut()
                && t.flush().is_err()
            {
                t.mark_failed();
            }
        }
    }

    /// Stops every live session (SIGTERM, SIGKILL after the grace period), waits until they
    /// have all ended or `limit` has passed, and flushes the transcripts. Events that arrive
    /// meanwhile are applied and returned, so a driver can still show them.
    pub async fn shutdown(&mut self, limit: Duration) -> Vec<Event> {
        let grace = self.options.stop_grace.min(limit);
        for session in &mut self.sessions {
            if session.state.is_live() {
                send_control(session, Control::Stop { grace });
            }
        }
        let mut seen = Vec::new();
        let deadline = Instant::now() + limit;
        while self.any_live() {
            match tokio::time::timeout_at(deadline, self.next_event()).await {
                Ok(event) => seen.push(event),
                Err(_) => break,
            }
        }
        // Anything still live is killed outright by dropping its controls.
        for session in &mut self.sessions {
            if session.state.is_live() {
                session.controls = None;
                let reason = "did not stop in time and was killed".to_string();
                record_event(session, "failed", json!({"reason": reason}));
                session.state = SessionState::Failed { reason };
            }
        }
        self.flush();
        let backends: Vec<Arc<dyn Backend>> = self.backends.values().cloned().collect();
        for backend in backends {
            let _ =
                tokio::time::timeout(limit.max(Duration::from_secs(5)), backend.shutdown()).await;
        }
        seen
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.flush();
    }
}

fn send_control(session: &mut Session, control: Control) {
    if let Some(controls) = &session.controls {
        let _ = controls.send(control);
    }
}

fn record_event(session: &mut Session, event: &str, fields: serde_json::Value) {
    if let Some(t) = session.transcript.as_mut()
        && t.event(event, fields).is_err()
    {
        t.mark_failed();
    }
}

const MAX_WARNINGS: usize = 100;

fn push_warning(session: &mut Session, message: String) {
    if session.warnings.len() == MAX_WARNINGS {
        session.warnings.remove(0);
    }
    session.warnings.push(message);
}
