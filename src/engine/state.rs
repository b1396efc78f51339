//! One session as the engine keeps it: its spec and lifecycle state, scrollback, transcript,
//! what it is doing (activity), and the channel to its backend task.

use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::agent::AgentState;
use super::backend::Control;
use super::{Activity, Protocol, Scrollback, SessionSpec, SessionState, Stream, Transcript};
use crate::protocol::tracker::Noticed;

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
    /// The scrollback line of the input sent last, if any.
    pub last_input_seq: Option<u64>,
    /// Removed from the engine (its slot stays so ids are never reused).
    pub removed: bool,
    /// A restart waits for the old program's end until then (and starts the new one then).
    pub(super) restart_at: Option<Instant>,
    /// Input bytes handed to the backend and not yet reported written to stdin.
    pub stdin_queued: usize,
    /// All input bytes handed to the backend, and those written, since the program started.
    pub(super) stdin_sent: u64,
    pub(super) stdin_delivered: u64,
    /// Who waits for input to be written: when `stdin_delivered` reaches the count.
    pub(super) deliveries: std::collections::VecDeque<(u64, Delivery)>,
    /// What an agent session's lines mean, and what it waits for (stream-json only).
    pub agent: AgentState,
    /// Lines before this were already looked at for `result` events and prompts.
    pub(super) scan_seq: u64,
    pub(super) prompt: Option<regex::bytes::Regex>,
    pub(super) generation: u64,
    pub(super) controls: Option<mpsc::UnboundedSender<Control>>,
    pub(super) transcript: Option<Transcript>,
    /// A transcript that was incomplete when it was closed (removed sessions).
    pub(super) transcript_lost: bool,
}

/// Where the answer to "was my input written?" goes: `Err(why)` when it never will be.
pub type Delivery = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Input queued for a session that has not read it yet, at most (a write over it is
/// refused; one write into an empty queue is always taken).
pub const MAX_STDIN_QUEUED: usize = 8 << 20;
/// Writes waiting to hear they were delivered, per session, at most.
pub const MAX_DELIVERIES: usize = 4096;

/// Output this recent counts as "working".
const WORKING_FOR: Duration = Duration::from_secs(3);

/// Warnings kept per session.
const MAX_WARNINGS: usize = 100;

impl Session {
    pub(super) fn new(
        spec: SessionSpec,
        scrollback: Scrollback,
        prompt: Option<regex::bytes::Regex>,
        transcript: Option<Transcript>,
    ) -> Self {
        Session {
            spec,
            state: SessionState::Starting { progress: None },
            scrollback,
            warnings: Vec::new(),
            last_output: None,
            stdin_closed: false,
            starts: 0,
            awaiting_input: false,
            turn_in_flight: false,
            last_input_seq: None,
            removed: false,
            restart_at: None,
            stdin_queued: 0,
            stdin_sent: 0,
            stdin_delivered: 0,
            deliveries: std::collections::VecDeque::new(),
            agent: AgentState::default(),
            scan_seq: 0,
            prompt,
            generation: 0,
            controls: None,
            transcript,
            transcript_lost: false,
        }
    }

    /// What the session is doing now.
    pub fn activity(&self, now: Instant) -> Activity {
        match &self.state {
            SessionState::Starting { .. } => Activity::Starting,
            SessionState::Exited(_) => Activity::Exited,
            SessionState::Failed { .. } => Activity::Failed,
            SessionState::Running { .. } if !self.agent.pending().is_empty() => {
                Activity::AwaitingApproval
            }
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

    /// The parts of the session's state that its activity follows (a change is published).
    pub(super) fn activity_key(&self) -> (bool, bool, bool) {
        (
            self.awaiting_input,
            self.turn_in_flight,
            self.agent.pending().is_empty(),
        )
    }

    /// Looks at the lines that arrived since the last look: an agent's lines go through its
    /// tracker (a `result` ends a turn, a permission request waits, ...); a newest output
    /// line matching the prompt regex means input is awaited. Returns what the agent's lines
    /// said.
    pub(super) fn notice_output(&mut self) -> Vec<Noticed> {
        let mut noticed = Vec::new();
        // Only stream-json sessions need every new line looked at.
        if self.spec.protocol == Protocol::StreamJson {
            let sb = &self.scrollback;
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
                if line.completes() {
                    let found = match line.stream {
                        Stream::Stdout => self
                            .agent
                            .tracker
                            .observe_output(seq, &sb.whole_line(&line)),
                        Stream::Stdin => self.agent.tracker.observe_input(&sb.whole_line(&line)),
                        Stream::Stderr => Vec::new(),
                    };
                    for fact in &found {
                        if matches!(fact, Noticed::TurnEnded { .. }) {
                            self.turn_in_flight = false;
                            self.awaiting_input = true;
                        }
                    }
                    noticed.extend(found);
                }
                seq += 1;
            }
            self.scan_seq = seq;
            self.agent.tracker.prune(sb.first_seq());
        }
        if let Some(prompt) = &self.prompt
            && let Some(last) = self.scrollback.last_output()
        {
            self.awaiting_input = prompt.is_match(last.bytes);
        }
        noticed
    }

    /// Bytes of output and input seen so far are in the transcript, if there is one.
    pub fn transcript_path(&self) -> Option<&std::path::Path> {
        self.transcript.as_ref().map(|t| t.path())
    }

    /// Bytes `n` reached stdin: the waiters whose input is all written are told.
    pub(super) fn delivered(&mut self, n: usize) {
        self.stdin_queued = self.stdin_queued.saturating_sub(n);
        self.stdin_delivered += n as u64;
        while let Some((upto, _)) = self.deliveries.front() {
            if *upto > self.stdin_delivered {
                break;
            }
            if let Some((_, tx)) = self.deliveries.pop_front() {
                let _ = tx.send(Ok(()));
            }
        }
    }

    /// Nothing queued will be written (stdin broke, the program ended or restarts).
    pub(super) fn undeliverable(&mut self, why: &str) {
        self.stdin_queued = 0;
        for (_, tx) in self.deliveries.drain(..) {
            let _ = tx.send(Err(format!("input not delivered: {why}")));
        }
    }

    pub(super) fn send_control(&self, control: Control) {
        if let Some(controls) = &self.controls {
            let _ = controls.send(control);
        }
    }

    /// Records a lifecycle event in the transcript (a failed write is remembered there).
    pub(super) fn record_event(&mut self, event: &str, fields: serde_json::Value) {
        if let Some(t) = self.transcript.as_mut() {
            t.event(event, fields);
        }
    }

    /// Records bytes of a stream in the transcript.
    pub(super) fn record_data(&mut self, stream: &str, data: &[u8]) {
        if let Some(t) = self.transcript.as_mut() {
            t.data(stream, data);
        }
    }

    pub(super) fn push_warning(&mut self, message: String) {
        if self.warnings.len() == MAX_WARNINGS {
            self.warnings.remove(0);
        }
        self.warnings.push(message);
    }

    /// Writes the transcript's buffered lines to disk and waits for the disk.
    pub(super) fn flush(&mut self) {
        if let Some(t) = self.transcript.as_mut() {
            t.flush();
        }
    }

    /// Hands the transcript's buffered lines to the writer thread.
    pub(super) fn hand_off(&mut self) {
        if let Some(t) = self.transcript.as_mut() {
            t.hand_off();
        }
    }

    /// The sentence about the transcript's first failed write, once.
    pub(super) fn take_transcript_failure(&mut self) -> Option<String> {
        self.transcript.as_mut().and_then(Transcript::take_failure)
    }

    /// Whether writing the transcript ever failed (records are missing from it).
    pub fn transcript_incomplete(&self) -> bool {
        self.transcript.as_ref().is_some_and(Transcript::incomplete) || self.transcript_lost
    }

    /// The exit fields of a transcript `exited` record.
    pub(super) fn exit_fields(status: super::ExitStatus) -> serde_json::Value {
        match status.signal {
            Some(signal) => json!({
                "code": status.code,
                "signal": signal,
                "signal_name": super::signal_name(signal),
            }),
            None => json!({"code": status.code}),
        }
    }
}
