//! The engine's vocabulary: the [`Command`]s every front end sends (keys, script steps and
//! socket requests all become one of these) and the [`Event`]s every front end reads.
//!
//! Both are serde types. Their JSON form, with sessions by id:
//! ```text
//! {"command":"send_turn","session":0,"text":"hello"}
//! {"event":"exited","session":0,"status":{"code":0,"signal":null}}
//! ```
//! The control socket speaks a name-based form of the same (docs/control-protocol.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ExitStatus, Pick, SessionSpec, Stream};
use crate::protocol::control::{Answer, Approval};

/// Identifies a session within one engine (stable for the engine's life, never reused).
pub type SessionId = usize;

/// Everything a front end can ask of the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Add a session and start it.
    Add { spec: Box<SessionSpec> },
    /// Stop the session (if it is live) and forget it; its transcript is closed.
    Remove { session: SessionId },
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
    /// Stop the current turn: an agent's own interrupt (the conversation goes on), SIGINT
    /// for other sessions, or for an agent interrupted twice within 2 s.
    Interrupt { session: SessionId },
    /// Allow the pending permission request `pick` names (the oldest by default); `always`
    /// also allows its tool for the rest of the session.
    Approve {
        session: SessionId,
        #[serde(default)]
        pick: Pick,
        #[serde(default)]
        always: bool,
    },
    /// Refuse the pending permission request `pick` names, telling the agent `message`.
    Deny {
        session: SessionId,
        #[serde(default)]
        pick: Pick,
        #[serde(default)]
        message: Option<String>,
    },
}

impl Command {
    /// The session the command acts on (`None` for `Add`).
    pub fn session(&self) -> Option<SessionId> {
        match self {
            Command::Add { .. } => None,
            Command::Remove { session }
            | Command::SendLine { session, .. }
            | Command::SendTurn { session, .. }
            | Command::Write { session, .. }
            | Command::CloseStdin { session }
            | Command::Signal { session, .. }
            | Command::Kill { session }
            | Command::Restart { session }
            | Command::Clear { session }
            | Command::Interrupt { session }
            | Command::Approve { session, .. }
            | Command::Deny { session, .. } => Some(*session),
        }
    }
}

/// What happened, as front ends see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A session was added (its program is starting).
    Added { session: SessionId },
    /// A session was removed.
    Removed { session: SessionId },
    /// The backend reports progress while starting.
    Progress { session: SessionId, message: String },
    /// The session's program is running.
    Started { session: SessionId },
    /// New output (or echoed input) went into the session's scrollback (`bytes` of it).
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
    /// Writing the session's transcript failed (first time): `message` is one sentence
    /// naming the file and the error. The session goes on; the transcript has a gap.
    TranscriptFailed { session: SessionId, message: String },
    /// An agent asks permission to use a tool and waits for the answer.
    Approval {
        session: SessionId,
        approval: Box<Approval>,
    },
    /// A permission request was answered, withdrawn or abandoned.
    ApprovalClosed {
        session: SessionId,
        request_id: String,
        answer: Answer,
    },
    /// A control-socket client asked sandmux to stop.
    StopRequested,
}

impl Event {
    /// The session the event is about (`None` for `StopRequested`).
    pub fn session(&self) -> Option<SessionId> {
        match self {
            Event::Added { session }
            | Event::Removed { session }
            | Event::Progress { session, .. }
            | Event::Started { session }
            | Event::Output { session, .. }
            | Event::Warning { session, .. }
            | Event::Exited { session, .. }
            | Event::Failed { session, .. }
            | Event::TranscriptFailed { session, .. }
            | Event::Approval { session, .. }
            | Event::ApprovalClosed { session, .. } => Some(*session),
            Event::StopRequested => None,
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
    #[error("no session named `{0}`")]
    UnknownName(String),
    #[error("backend `{0}` is not available in this build of sandmux")]
    NoBackend(&'static str),
    #[error("invalid prompt regex: {0}")]
    InvalidPrompt(String),
    /// A permission answer that has no request to go to (one sentence).
    #[error("{0}")]
    Approval(String),
    #[error("cannot write transcript {path}: {source}")]
    Transcript {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_events_have_a_json_form() {
        let command = Command::SendTurn {
            session: 0,
            text: "hello".into(),
        };
        let json = serde_json::to_string(&command).unwrap();
        assert_eq!(
            json,
            r#"{"command":"send_turn","session":0,"text":"hello"}"#
        );
        assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), command);
        let event = Event::Exited {
            session: 3,
            status: ExitStatus::code(0),
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"event":"exited","session":3,"status":{"code":0,"signal":null}}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        assert_eq!(
            serde_json::to_string(&Event::StopRequested).unwrap(),
            r#"{"event":"stop_requested"}"#
        );
    }
}
