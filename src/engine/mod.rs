//! The session engine: the core the rest of sandmux plugs into. It owns every session,
//! applies [`Command`]s and turns what backends report into [`Event`]s. It owns the
//! vocabulary (session specs, commands, events, the [`Backend`] trait) and imports no
//! backend, no config loader and no front end: `crate::startup` registers the backends, and
//! the TUI, `sandmux run` and `sandmux serve` drive it the same way:
//!
//! ```text
//! loop { select! { event = engine.next_event() => ..., input = ... => engine.apply(cmd) } }
//! ```
//!
//! Requests from the control socket arrive through an [`EngineHandle`] and are answered
//! inside [`Engine::next_event`], by whichever front end drives the engine.
//!
//! The engine is the one place where session state changes. It keeps each session's
//! scrollback and transcript in step with the output, and flushes transcripts whenever it
//! catches up with its backends, on [`Engine::shutdown`] and when dropped.

pub mod agent;
mod apply;
pub mod backend;
pub mod command;
pub mod feed;
mod ingest;
pub mod requests;
pub mod scrollback;
pub mod session;
pub mod state;
pub mod transcript;
mod transcript_writer;
pub mod waits;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use agent::{AgentState, Pick};
pub use backend::{Backend, BackendEvent, Control, Envelope, EventSink};
pub use command::{Command, EngineError, Event, SessionId};
pub use feed::FeedItem;
pub use requests::{EngineHandle, Op, Reply, SessionOp};
pub use scrollback::{Line, LineEnd, Scrollback, ScrollbackLimits, Stream};
pub use session::{
    Activity, BackendSpec, ExitStatus, Permissions, Program, Protocol, SandboxSpec, SessionSpec,
    SessionState, View, parse_signal, signal_name, valid_name,
};
pub use state::Session;
pub use transcript::Transcript;

/// How many backend events may wait for the engine before backends have to wait.
const EVENT_QUEUE: usize = 32;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub scrollback: ScrollbackLimits,
    /// Write `DIR/NAME.jsonl` for every session.
    pub transcript_dir: Option<PathBuf>,
    /// Time between SIGTERM and SIGKILL when a session is stopped.
    pub stop_grace: Duration,
    /// Answer agents' control requests (interrupts, permissions, unknown requests) on
    /// their stdin. Off for a replay, which only shows what was answered then.
    pub answer_agents: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            scrollback: ScrollbackLimits::default(),
            transcript_dir: None,
            stop_grace: Duration::from_secs(2),
            answer_agents: true,
        }
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
    handle: EngineHandle,
    requests: mpsc::Receiver<requests::Request>,
    feed: feed::Feed,
    /// Events found outside the event loop (a transcript that failed during a flush, an
    /// approval asked while output was applied).
    pending: std::collections::VecDeque<Event>,
    /// Sessions with an interrupt in flight (whose deadline the event loop watches).
    interrupting: std::collections::BTreeSet<SessionId>,
    /// The transcript files this engine has opened (a session added again appends).
    transcripts: std::collections::HashSet<PathBuf>,
    /// The socket's pending waits (the first is looked at first).
    waiters: Vec<waits::Waiter>,
}

impl Engine {
    /// An engine without backends: register them with [`Engine::register`] (or build it with
    /// `crate::startup::engine`, which registers every backend of this build).
    pub fn new(options: EngineOptions) -> Self {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let (handle, requests) = EngineHandle::new();
        Engine {
            sessions: Vec::new(),
            by_name: HashMap::new(),
            options,
            backends: HashMap::new(),
            tx,
            rx,
            handle,
            requests,
            feed: feed::Feed::default(),
            pending: std::collections::VecDeque::new(),
            interrupting: std::collections::BTreeSet::new(),
            transcripts: std::collections::HashSet::new(),
            waiters: Vec::new(),
        }
    }

    /// Makes a backend available under `kind` (as named in [`BackendSpec::kind`]).
    pub fn register(&mut self, kind: &'static str, backend: Arc<dyn Backend>) {
        self.backends.insert(kind, backend);
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// A handle through which other tasks (the control socket) make requests.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Adds a session and starts it (the same as applying [`Command::Add`]).
    pub fn add(&mut self, spec: SessionSpec) -> Result<SessionId, EngineError> {
        match self.apply(Command::Add {
            spec: Box::new(spec),
        })? {
            Some(Event::Added { session }) => Ok(session),
            _ => unreachable!("adding a session reports Added"),
        }
    }

    /// Looks a session up by name.
    pub fn find(&self, name: &str) -> Option<SessionId> {
        self.by_name.get(name).copied()
    }

    /// A session that was added and not removed.
    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(id).filter(|s| !s.removed)
    }

    /// The sessions, in the order they were added (removed ones left out).
    pub fn sessions(&self) -> impl Iterator<Item = (SessionId, &Session)> {
        self.sessions.iter().enumerate().filter(|(_, s)| !s.removed)
    }

    /// Whether any session can still produce output.
    pub fn any_live(&self) -> bool {
        self.sessions().any(|(_, s)| s.state.is_live())
    }

    fn get_mut(&mut self, id: SessionId) -> Result<&mut Session, EngineError> {
        self.sessions
            .get_mut(id)
            .filter(|s| !s.removed)
            .ok_or(EngineError::UnknownSession(id))
    }

    /// Waits for the next thing that happens in any session (or a request from outside) and
    /// applies it.
    pub async fn next_event(&mut self) -> Event {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            let deadline = self.next_deadline();
            // The engine holds a sender of each channel, so neither closes.
            let event = tokio::select! {
                Some(envelope) = self.rx.recv() => self.ingest(envelope),
                Some(request) = self.requests.recv() => self.serve(request),
                _ = sleep_until(deadline), if deadline.is_some() => {
                    self.expire_deadlines();
                    None
                }
            };
            if let Some(event) = event {
                if self.rx.is_empty() {
                    self.hand_off_transcripts();
                }
                return event;
            }
        }
    }

    /// Applies a backend event or a request that is already waiting, without blocking.
    pub fn try_next_event(&mut self) -> Option<Event> {
        if self.next_deadline().is_some_and(|d| d <= Instant::now()) {
            self.expire_deadlines();
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let event = if let Ok(envelope) = self.rx.try_recv() {
                self.ingest(envelope)
            } else if let Ok(request) = self.requests.try_recv() {
                self.serve(request)
            } else {
                break;
            };
            if event.is_some() {
                return event;
            }
        }
        self.hand_off_transcripts();
        None
    }

    /// Hands every transcript's gathered records to the writer thread (without waiting for
    /// the disk), and reports transcripts whose writes failed since the last look.
    fn hand_off_transcripts(&mut self) {
        for session in &mut self.sessions {
            session.hand_off();
        }
        self.report_transcript_failures();
    }

    fn report_transcript_failures(&mut self) {
        for (id, session) in self.sessions.iter_mut().enumerate() {
            if let Some(message) = session.take_transcript_failure() {
                session.push_warning(message.clone());
                self.pending.push_back(Event::TranscriptFailed {
                    session: id,
                    message,
                });
            }
        }
    }

    /// Writes every transcript's buffered lines to disk and waits for the disk. A transcript
    /// that fails for the first time becomes a [`Event::TranscriptFailed`] (and a warning of
    /// its session).
    pub fn flush(&mut self) {
        for session in &mut self.sessions {
            session.hand_off();
        }
        transcript::wait_for_writes();
        self.report_transcript_failures();
    }

    /// Stops every live session (SIGTERM, SIGKILL after the grace period), waits until they
    /// have all ended or `limit` has passed, and flushes the transcripts. Events that arrive
    /// meanwhile are applied and returned, so a driver can still show them.
    pub async fn shutdown(&mut self, limit: Duration) -> Vec<Event> {
        let grace = self.options.stop_grace.min(limit);
        for session in &mut self.sessions {
            // A restart still waiting for its old program ends with it.
            session.restart_at = None;
            if session.state.is_live() {
                session.send_control(Control::Stop { grace });
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
                session.record_event("failed", json!({"reason": reason}));
                session.state = SessionState::Failed { reason };
            }
        }
        self.flush();
        seen.extend(self.pending.drain(..));
        let backends: Vec<Arc<dyn Backend>> = self.backends.values().cloned().collect();
        for backend in backends {
            let _ =
                tokio::time::timeout(limit.max(Duration::from_secs(5)), backend.shutdown()).await;
        }
        seen
    }
}

impl Engine {
    /// The next moment something is due: an unanswered interrupt's SIGINT, or a restart
    /// whose old program never reported its end.
    fn next_deadline(&self) -> Option<Instant> {
        let restart = self.sessions.iter().filter_map(|s| s.restart_at).min();
        // An activity changes with time alone: a wait for one looks again now and then.
        let activity = self
            .activity_waits()
            .then(|| Instant::now() + Duration::from_millis(200));
        [self.interrupt_deadline(), restart, activity]
            .into_iter()
            .flatten()
            .min()
    }

    fn expire_deadlines(&mut self) {
        self.expire_interrupts();
        self.check_activity_waits();
        let now = Instant::now();
        for id in 0..self.sessions.len() {
            if self.sessions[id].restart_at.is_some_and(|at| at <= now) {
                let s = &mut self.sessions[id];
                let message = "the old program did not report its end in time: started the new one"
                    .to_string();
                s.record_event("warning", json!({"message": message}));
                s.scrollback.close_streams();
                self.launch(id);
            }
        }
    }
}

/// Sleeps until `deadline` (forever without one).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.flush();
    }
}
