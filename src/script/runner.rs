//! Runs parsed steps against the engine, one at a time, and records what happened.
//!
//! The runner is a driver of the engine like the TUI: it applies commands and reads events.
//! Waiting steps (`expect`, `wait`, `sleep`) keep applying every session's events, so all
//! sessions stay live and their transcripts complete while one is waited on.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

mod agents;

use super::parser::{Pattern, Step, StepKind};
use super::scan::{Cursor, Scan};
use super::tail::{JSON_TAIL_LINES, TAIL_LINES, json_tail, tail};
use crate::engine::{Command, Engine, Event, ExitStatus, SessionId, SessionState, Stream};
use crate::protocol::stream_json::TurnResult;
use crate::units::format_duration;

/// How long a sandbox session may take to start (boot, image pull) at least.
const SANDBOX_START: Duration = Duration::from_secs(300);

/// The result of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Passed,
    Failed,
    Skipped,
}

/// What happened at one step.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub line: usize,
    pub text: String,
    pub status: StepStatus,
    pub duration: Duration,
    /// Why it failed.
    pub error: Option<String>,
    /// The session's last lines when it failed (stream and printable text); for JSON steps,
    /// the last JSON lines.
    pub output_tail: Vec<(Stream, String)>,
    /// What the `result` event of a `turn` step reported.
    pub turn: Option<TurnResult>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Passed,
    Failed,
    /// A signal to sandmux cut the run short.
    Interrupted(i32),
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub steps: Vec<StepOutcome>,
    pub end: RunEnd,
    pub duration: Duration,
    /// A transcript could not be written in full (set by the caller once sessions ended).
    pub transcript_incomplete: bool,
    /// How many transcripts differ from their golden ones (set by the caller with --golden).
    pub golden_failed: usize,
}

/// Per-run state of the sessions the script drives.
pub struct Runner<'e> {
    engine: &'e mut Engine,
    cursors: HashMap<SessionId, Cursor>,
    timeout: Duration,
    interrupt: watch::Receiver<Option<i32>>,
    /// Called after each step (for `--verbose` progress).
    on_step: Box<dyn FnMut(&StepOutcome) + 'e>,
    /// Called with a session's name and what it is doing while it starts.
    on_progress: ProgressCallback<'e>,
    /// The result of the `turn` step being run.
    last_turn: Option<TurnResult>,
    /// Called with a sentence sandmux must tell at once (a transcript that failed).
    on_notice: Box<dyn FnMut(&str) + 'e>,
    /// The variables bound by capture steps so far.
    values: HashMap<String, String>,
}

/// Receives a session's name and what it is doing while it starts.
type ProgressCallback<'e> = Box<dyn FnMut(&str, &str) + 'e>;

enum Failure {
    Step(String),
    Interrupted(i32),
}

impl<'e> Runner<'e> {
    /// A runner over `engine`; `interrupt` turns to `Some(signal)` when sandmux is told to stop.
    pub fn new(engine: &'e mut Engine, interrupt: watch::Receiver<Option<i32>>) -> Self {
        Runner {
            engine,
            cursors: HashMap::new(),
            timeout: Duration::from_secs(10),
            interrupt,
            on_step: Box::new(|_| {}),
            on_progress: Box::new(|_, _| {}),
            last_turn: None,
            on_notice: Box::new(|_| {}),
            values: HashMap::new(),
        }
    }

    /// Sets a callback for what must be told at once (a transcript that could not be
    /// written).
    pub fn on_notice(mut self, callback: impl FnMut(&str) + 'e) -> Self {
        self.on_notice = Box::new(callback);
        self
    }

    /// Sets a callback for start-up progress ("booting dev…").
    pub fn on_progress(mut self, callback: impl FnMut(&str, &str) + 'e) -> Self {
        self.on_progress = Box::new(callback);
        self
    }

    /// Sets a callback run after every step.
    pub fn on_step(mut self, callback: impl FnMut(&StepOutcome) + 'e) -> Self {
        self.on_step = Box::new(callback);
        self
    }

    /// Waits until the sessions already in the engine (from a config) have started.
    /// Returns an error message for the first that failed.
    pub async fn await_started(&mut self, ids: &[SessionId]) -> Result<(), String> {
        for &id in ids {
            match self.wait_started(id).await {
                Ok(()) => {}
                Err(Failure::Step(why)) => return Err(why),
                Err(Failure::Interrupted(sig)) => {
                    return Err(format!(
                        "interrupted by {}",
                        crate::engine::signal_name(sig)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Runs the steps in order; after the first failure the rest are skipped.
    pub async fn run(&mut self, steps: &[Step]) -> RunOutcome {
        let started = Instant::now();
        let mut outcomes = Vec::with_capacity(steps.len());
        let mut end = RunEnd::Passed;
        for step in steps {
            if end != RunEnd::Passed {
                outcomes.push(StepOutcome {
                    line: step.line,
                    text: step.text.clone(),
                    status: StepStatus::Skipped,
                    duration: Duration::ZERO,
                    error: None,
                    output_tail: Vec::new(),
                    turn: None,
                });
                continue;
            }
            let step_started = Instant::now();
            self.last_turn = None;
            let result = self.step(step).await;
            let duration = step_started.elapsed();
            let turn = self.last_turn.take();
            let outcome = match result {
                Ok(()) => StepOutcome {
                    line: step.line,
                    text: step.text.clone(),
                    status: StepStatus::Passed,
                    duration,
                    error: None,
                    output_tail: Vec::new(),
                    turn,
                },
                Err(failure) => {
                    let error = match failure {
                        Failure::Step(why) => {
                            end = RunEnd::Failed;
                            super::vars::with_values(why, &step.uses, &self.values)
                        }
                        Failure::Interrupted(signal) => {
                            end = RunEnd::Interrupted(signal);
                            format!("interrupted by {}", crate::engine::signal_name(signal))
                        }
                    };
                    let json_step = matches!(
                        step.kind,
                        StepKind::ExpectJson { .. }
                            | StepKind::Turn { .. }
                            | StepKind::WaitTurn { .. }
                            | StepKind::Approve { .. }
                            | StepKind::Deny { .. }
                    );
                    let output_tail = step
                        .session()
                        .and_then(|name| self.engine.find(name))
                        .and_then(|id| self.engine.session(id))
                        .map(|s| {
                            if json_step {
                                json_tail(&s.scrollback, JSON_TAIL_LINES)
                            } else {
                                tail(&s.scrollback, TAIL_LINES)
                            }
                        })
                        .unwrap_or_default();
                    StepOutcome {
                        line: step.line,
                        text: step.text.clone(),
                        status: StepStatus::Failed,
                        duration,
                        error: Some(error),
                        output_tail,
                        turn,
                    }
                }
            };
            (self.on_step)(&outcome);
            outcomes.push(outcome);
        }
        RunOutcome {
            steps: outcomes,
            end,
            duration: started.elapsed(),
            transcript_incomplete: false,
            golden_failed: 0,
        }
    }

    async fn step(&mut self, step: &Step) -> Result<(), Failure> {
        self.check_interrupt()?;
        let expanded;
        let kind = if step.uses.is_empty() {
            &step.kind
        } else {
            expanded = super::vars::expand_step(step, &self.values).map_err(Failure::Step)?;
            &expanded
        };
        match kind {
            StepKind::Session(spec) => {
                let id = self
                    .engine
                    .add(spec.clone())
                    .map_err(|e| Failure::Step(e.to_string()))?;
                self.wait_started(id).await
            }
            StepKind::Send { session, bytes } => {
                let id = self.id(session)?;
                self.require_input(id)?;
                self.apply(Command::Write {
                    session: id,
                    bytes: bytes.clone(),
                })
            }
            StepKind::Close { session } => {
                let id = self.id(session)?;
                self.apply(Command::CloseStdin { session: id })
            }
            StepKind::Kill { session, signal } => {
                let id = self.id(session)?;
                if let Some(SessionState::Failed { reason }) = self.state(id) {
                    return Err(Failure::Step(format!(
                        "the session failed to start: {reason}"
                    )));
                }
                self.apply(Command::Signal {
                    session: id,
                    signal: *signal,
                })
            }
            StepKind::Sleep(duration) => {
                let deadline = Instant::now() + *duration;
                while self.next_event_until(deadline).await?.is_some() {}
                Ok(())
            }
            StepKind::SetTimeout(duration) => {
                self.timeout = *duration;
                Ok(())
            }
            StepKind::Expect {
                session,
                stream,
                pattern,
                within,
            } => {
                let id = self.id(session)?;
                let within = within.unwrap_or(self.timeout);
                self.expect(id, *stream, pattern, within, &step.captures)
                    .await
            }
            StepKind::Wait {
                session,
                exit,
                within,
            } => {
                let id = self.id(session)?;
                let within = within.unwrap_or(self.timeout);
                self.wait(id, *exit, within).await
            }
            StepKind::ExpectJson {
                session,
                pointer,
                op,
                within,
            } => {
                let id = self.id(session)?;
                let within = within.unwrap_or(self.timeout);
                let deadline = Instant::now() + within;
                let from = self.cursors.get(&id).copied().unwrap_or_default().seq;
                let timed_out = format!(
                    "no JSON line with {pointer} {} within {}",
                    op.describe(),
                    format_duration(within)
                );
                let (seq, _) = self
                    .wait_json_line(id, from, deadline, timed_out, false, |v| {
                        op.test(v, pointer)
                    })
                    .await?;
                self.cursors.insert(
                    id,
                    Cursor {
                        seq: seq + 1,
                        offset: 0,
                    },
                );
                Ok(())
            }
            StepKind::Turn {
                session,
                text,
                within,
            } => {
                let id = self.id(session)?;
                self.require_input(id)?;
                let within = within.unwrap_or(self.timeout);
                self.turn(id, text, within).await
            }
            StepKind::Say { session, text } => {
                let id = self.id(session)?;
                self.require_input(id)?;
                self.say(id, text)
            }
            StepKind::WaitTurn { session, within } => {
                let id = self.id(session)?;
                let within = within.unwrap_or(self.timeout);
                self.wait_turn(id, within).await
            }
            StepKind::Interrupt { session, within } => {
                let id = self.id(session)?;
                let within = within.unwrap_or(self.timeout);
                self.interrupt(id, within).await
            }
            StepKind::Approve {
                session,
                which,
                always,
                within,
            } => {
                let id = self.id(session)?;
                let within = within.unwrap_or(self.timeout);
                let answer = if *always {
                    agents::Answer::AllowAlways
                } else {
                    agents::Answer::Allow
                };
                self.answer(id, which, answer, within).await
            }
            StepKind::Deny {
                session,
                which,
                message,
                within,
            } => {
                let id = self.id(session)?;
                let within = within.unwrap_or(self.timeout);
                self.answer(id, which, agents::Answer::Deny(message.clone()), within)
                    .await
            }
        }
    }

    fn id(&self, name: &str) -> Result<SessionId, Failure> {
        self.engine
            .find(name)
            .ok_or_else(|| Failure::Step(format!("no session named `{name}` is running")))
    }

    fn state(&self, id: SessionId) -> Option<&SessionState> {
        self.engine.session(id).map(|s| &s.state)
    }

    fn apply(&mut self, command: Command) -> Result<(), Failure> {
        match self.engine.apply(command) {
            Ok(None) => Ok(()),
            Ok(Some(Event::Warning { message, .. })) => Err(Failure::Step(message)),
            Ok(Some(_)) => Ok(()),
            Err(err) => Err(Failure::Step(err.to_string())),
        }
    }

    fn require_input(&self, id: SessionId) -> Result<(), Failure> {
        let session = self
            .engine
            .session(id)
            .ok_or_else(|| Failure::Step("no such session".into()))?;
        match &session.state {
            SessionState::Failed { reason } => Err(Failure::Step(format!(
                "the session failed to start: {reason}"
            ))),
            SessionState::Exited(status) => Err(Failure::Step(format!(
                "input not sent: the session has {status}"
            ))),
            _ if session.stdin_closed => {
                Err(Failure::Step("input not sent: its stdin was closed".into()))
            }
            _ => Ok(()),
        }
    }

    fn check_interrupt(&self) -> Result<(), Failure> {
        match *self.interrupt.borrow() {
            Some(signal) => Err(Failure::Interrupted(signal)),
            None => Ok(()),
        }
    }

    /// Applies the next engine event, or returns `None` at the deadline.
    async fn next_event_until(&mut self, deadline: Instant) -> Result<Option<Event>, Failure> {
        self.check_interrupt()?;
        let mut interrupt = self.interrupt.clone();
        tokio::select! {
            // A control-socket `stop` ends the run as SIGTERM would.
            event = self.engine.next_event() => match event {
                Event::StopRequested => Err(Failure::Interrupted(libc::SIGTERM)),
                Event::TranscriptFailed { message, .. } => {
                    (self.on_notice)(&message);
                    Ok(None)
                }
                event => Ok(Some(event)),
            },
            _ = tokio::time::sleep_until(deadline) => Ok(None),
            _ = interrupt.changed() => {
                self.check_interrupt()?;
                Ok(None)
            }
        }
    }

    /// Applies the next event; at the deadline, kills the session (overrunning `within` ends
    /// it at once rather than letting it run on) and returns true.
    async fn overran(&mut self, id: SessionId, deadline: Instant) -> Result<bool, Failure> {
        if self.next_event_until(deadline).await?.is_none() && Instant::now() >= deadline {
            let _ = self.engine.apply(Command::Signal {
                session: id,
                signal: libc::SIGKILL,
            });
            return Ok(true);
        }
        Ok(false)
    }

    async fn wait_started(&mut self, id: SessionId) -> Result<(), Failure> {
        // Connecting to a sandbox may boot a VM or pull an image first.
        let sandboxed = self
            .engine
            .session(id)
            .is_some_and(|s| s.spec.backend.kind() != "local");
        let limit = if sandboxed {
            self.timeout.max(SANDBOX_START)
        } else {
            self.timeout
        };
        let deadline = Instant::now() + limit;
        loop {
            match self.state(id) {
                Some(SessionState::Running { .. } | SessionState::Exited(_)) => return Ok(()),
                Some(SessionState::Failed { reason }) => {
                    let name = self.engine.session(id).map_or("", |s| s.spec.name.as_str());
                    return Err(Failure::Step(format!(
                        "session `{name}` failed to start: {reason}"
                    )));
                }
                _ => {}
            }
            match self.next_event_until(deadline).await? {
                Some(Event::Progress { session, message }) if session == id => {
                    let name = self.engine.session(id).map_or("", |s| s.spec.name.as_str());
                    (self.on_progress)(name, &message);
                }
                None if Instant::now() >= deadline => {
                    return Err(Failure::Step(format!(
                        "the session did not start within {}",
                        format_duration(limit)
                    )));
                }
                _ => {}
            }
        }
    }

    async fn expect(
        &mut self,
        id: SessionId,
        stream: Option<Stream>,
        pattern: &Pattern,
        within: Duration,
        captures: &[String],
    ) -> Result<(), Failure> {
        let deadline = Instant::now() + within;
        let mut cursor = self.cursors.get(&id).copied().unwrap_or_default();
        let mut scan = Scan::new(cursor);
        loop {
            let session = self
                .engine
                .session(id)
                .ok_or_else(|| Failure::Step("no such session".into()))?;
            if let Some(found) = scan.find(&session.scrollback, &mut cursor, stream, pattern) {
                if let (Pattern::Regex(regex), Some((seq, from)), false) =
                    (pattern, scan.matched, captures.is_empty())
                    && let Some(line) = session.scrollback.get(seq)
                    && let Some(groups) = regex.captures_at(line.bytes, from)
                {
                    for name in captures {
                        if let Some(m) = groups.name(name) {
                            let value = String::from_utf8_lossy(m.as_bytes()).into_owned();
                            self.values.insert(name.clone(), value);
                        }
                    }
                }
                self.cursors.insert(id, found);
                return Ok(());
            }
            let state = session.state.clone();
            match state {
                SessionState::Failed { reason } => {
                    return Err(Failure::Step(format!("the session failed: {reason}")));
                }
                SessionState::Exited(status) => {
                    return Err(Failure::Step(format!(
                        "the session {status} and its output never matched"
                    )));
                }
                _ => {}
            }
            if self.overran(id, deadline).await? {
                let why = format!("no match within {}", format_duration(within));
                return Err(Failure::Step(why));
            }
        }
    }

    async fn wait(
        &mut self,
        id: SessionId,
        exit: Option<i32>,
        within: Duration,
    ) -> Result<(), Failure> {
        let deadline = Instant::now() + within;
        loop {
            match self.state(id).cloned() {
                Some(SessionState::Exited(status)) => return check_exit(status, exit),
                Some(SessionState::Failed { reason }) => {
                    return Err(Failure::Step(format!("the session failed: {reason}")));
                }
                _ => {}
            }
            if self.overran(id, deadline).await? {
                let why = format!("still running after {}", format_duration(within));
                return Err(Failure::Step(why));
            }
        }
    }
}

fn check_exit(status: ExitStatus, expected: Option<i32>) -> Result<(), Failure> {
    match expected {
        Some(code) if status.shell_code() != code => Err(Failure::Step(format!(
            "expected exit {code}, but the session {status}"
        ))),
        _ => Ok(()),
    }
}
