//! Requests from outside the driver's task (the control socket's connections): the engine
//! answers them from inside [`super::Engine::next_event`], so whichever front end drives the
//! engine (the TUI, `sandmux run`, `sandmux serve`) also serves them, and they see the same
//! sessions it does.

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::feed::{FeedItem, text_of};
use super::{Activity, Command, Engine, EngineError, Event, SessionId, SessionSpec, SessionState};

/// The text one `read` answers with, about at most (at least one line).
pub const MAX_READ_BYTES: usize = 4 << 20;

/// How many requests may wait for the engine.
const REQUEST_QUEUE: usize = 256;

/// A clonable way to ask a running engine for things.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    tx: mpsc::Sender<Request>,
}

/// One request and where its answer goes.
pub struct Request {
    pub op: Op,
    pub reply: oneshot::Sender<Reply>,
}

/// What a request asks for; sessions are named.
pub enum Op {
    /// Every session, with its state.
    List,
    /// One session, with its state.
    Info(String),
    /// Add a session.
    Add(Box<SessionSpec>),
    /// A command for the named session.
    Session { name: String, op: SessionOp },
    /// Lines of the named session's scrollback from `from` (default: the oldest held).
    Read {
        name: String,
        from: Option<u64>,
        limit: usize,
    },
    /// Subscribe to the feed of one session (from line `from`, default: the end) or of all.
    Subscribe {
        name: Option<String>,
        from: Option<u64>,
        capacity: usize,
    },
    /// Wait for something in the named session (from line `from`); answered with
    /// [`Reply::Waiting`].
    Wait {
        name: String,
        from: Option<u64>,
        what: super::waits::WaitFor,
    },
    /// Stop sandmux.
    Stop,
}

/// What can be done to a named session.
#[derive(Debug, Clone)]
pub enum SessionOp {
    Remove,
    /// A user turn, framed for the session's protocol.
    SendTurn(String),
    /// A plain line.
    SendLine(String),
    Write(Vec<u8>),
    Close,
    Signal(i32),
    Kill,
    Restart,
    Clear,
    /// Stop the current turn (an agent's interrupt, or SIGINT).
    Interrupt,
    Approve {
        pick: super::Pick,
        always: bool,
    },
    Deny {
        pick: super::Pick,
        message: Option<String>,
    },
}

/// The answer to a request.
pub enum Reply {
    /// Done; for input, the scrollback line where it shows.
    Done {
        seq: Option<u64>,
    },
    /// Input taken: the scrollback line where it shows, and the answer to whether it was
    /// written to the program's stdin (it comes when it was, or when it never will be).
    Sent {
        seq: Option<u64>,
        delivered: oneshot::Receiver<Result<(), String>>,
        /// An agent's turns that end before this input's own (1 when a turn was running as
        /// it was sent: its message goes into the next turn, with any others sent meanwhile).
        turns_ahead: u64,
    },
    /// Refused: a machine-readable code and one sentence.
    Error {
        code: &'static str,
        message: String,
    },
    List(Vec<SessionInfo>),
    Lines(LinesInfo),
    /// The feed, and for a one-session subscription, that session as it is at that moment.
    Subscribed(super::feed::FeedReceiver, Option<SessionInfo>),
    /// A wait was registered: its answer comes here (drop it to give up).
    Waiting(oneshot::Receiver<super::waits::WaitAnswer>),
}

/// One session as `list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub name: String,
    /// Its group (its `group` key, else its sandbox), as the TUI's list shows it.
    pub group: Option<String>,
    pub state: &'static str,
    pub status: String,
    pub exit_code: Option<i32>,
    pub activity: Activity,
    pub backend: &'static str,
    pub protocol: &'static str,
    pub pid: Option<u32>,
    /// One past the newest line.
    pub end_seq: u64,
    pub last_input_seq: Option<u64>,
    /// An agent's permission requests waiting for an answer.
    pub pending: Vec<crate::protocol::control::Approval>,
    /// An agent's turns so far, and what the session has cost (its running total).
    pub turns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// Lines as `read` returns them.
#[derive(Debug, Clone, Serialize)]
pub struct LinesInfo {
    pub lines: Vec<LineInfo>,
    /// The oldest line still held.
    pub first: u64,
    /// Where to read (or subscribe) from next.
    pub next: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineInfo {
    pub seq: u64,
    pub stream: super::Stream,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_b64: Option<String>,
    /// Still waiting for its newline.
    pub open: bool,
}

impl EngineHandle {
    pub(super) fn new() -> (EngineHandle, mpsc::Receiver<Request>) {
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        (EngineHandle { tx }, rx)
    }

    /// Asks the engine; `None` when it is gone.
    pub async fn ask(&self, op: Op) -> Option<Reply> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request { op, reply }).await.ok()?;
        answer.await.ok()
    }
}

/// The lifecycle word of a state.
pub fn state_word(state: &SessionState) -> &'static str {
    match state {
        SessionState::Starting { .. } => "starting",
        SessionState::Running { .. } => "running",
        SessionState::Exited(_) => "exited",
        SessionState::Failed { .. } => "failed",
    }
}

fn error(err: EngineError) -> Reply {
    let code = match err {
        EngineError::UnknownName(_) | EngineError::UnknownSession(_) => "unknown_session",
        EngineError::DuplicateName(_) => "duplicate_session",
        EngineError::Approval(_) => "no_approval",
        _ => "refused",
    };
    Reply::Error {
        code,
        message: err.to_string(),
    }
}

impl Engine {
    /// The answer about a session name that is not there, with the name it may mean.
    fn unknown(&self, name: &str) -> Reply {
        let names = self.sessions().map(|(_, s)| s.spec.name.as_str());
        Reply::Error {
            code: "unknown_session",
            message: format!(
                "{}{}",
                EngineError::UnknownName(name.to_string()),
                crate::text::did_you_mean(name, names)
            ),
        }
    }

    /// Answers one request; returns the event it caused, for the driver.
    pub(super) fn serve(&mut self, request: Request) -> Option<Event> {
        let (reply, event) = match request.op {
            Op::List => (Reply::List(self.list(None)), None),
            Op::Info(name) => match self.find(&name) {
                Some(id) => (Reply::List(self.list(Some(id))), None),
                None => (self.unknown(&name), None),
            },
            Op::Add(spec) => match self.apply(Command::Add { spec }) {
                Ok(event) => (Reply::Done { seq: None }, event),
                Err(err) => (error(err), None),
            },
            Op::Session { name, op } => match self.find(&name) {
                Some(id) => self.session_op(id, op),
                None => (self.unknown(&name), None),
            },
            Op::Read { name, from, limit } => match self.find(&name) {
                Some(id) => (Reply::Lines(self.read(id, from, limit)), None),
                None => (self.unknown(&name), None),
            },
            Op::Subscribe {
                name,
                from,
                capacity,
            } => match name.as_deref().map(|n| (n, self.find(n))) {
                Some((n, None)) => (self.unknown(n), None),
                Some((_, Some(id))) => (self.subscribe(Some(id), from, capacity), None),
                None => (self.subscribe(None, from, capacity), None),
            },
            Op::Wait { name, from, what } => match self.find(&name) {
                Some(id) => match self.add_wait(id, from, what) {
                    Ok(rx) => (Reply::Waiting(rx), None),
                    Err(message) => (
                        Reply::Error {
                            code: "too_many_waits",
                            message,
                        },
                        None,
                    ),
                },
                None => (self.unknown(&name), None),
            },
            Op::Stop => (Reply::Done { seq: None }, Some(Event::StopRequested)),
        };
        let _ = request.reply.send(reply);
        event
    }

    fn session_op(&mut self, id: SessionId, op: SessionOp) -> (Reply, Option<Event>) {
        let command = match op {
            SessionOp::Remove => Command::Remove { session: id },
            SessionOp::SendTurn(text) => Command::SendTurn { session: id, text },
            SessionOp::SendLine(text) => Command::SendLine { session: id, text },
            SessionOp::Write(bytes) => Command::Write { session: id, bytes },
            SessionOp::Close => Command::CloseStdin { session: id },
            SessionOp::Signal(signal) => Command::Signal {
                session: id,
                signal,
            },
            SessionOp::Kill => Command::Kill { session: id },
            SessionOp::Restart => Command::Restart { session: id },
            SessionOp::Clear => Command::Clear { session: id },
            SessionOp::Interrupt => Command::Interrupt { session: id },
            SessionOp::Approve { pick, always } => Command::Approve {
                session: id,
                pick,
                always,
            },
            SessionOp::Deny { pick, message } => Command::Deny {
                session: id,
                pick,
                message,
            },
        };
        let input = matches!(
            command,
            Command::SendTurn { .. } | Command::SendLine { .. } | Command::Write { .. }
        );
        // A message sent while a turn runs is answered by the next turn: the running
        // one's end comes first.
        let turns_ahead = self.session(id).map_or(0, |s| u64::from(s.agent.busy));
        match self.apply(command) {
            Ok(Some(Event::Warning { message, .. })) => (
                Reply::Error {
                    code: "not_delivered",
                    message,
                },
                None,
            ),
            Ok(event) => {
                // The input's first line in the scrollback, so a `wait` can start there.
                let seq = input
                    .then(|| self.session(id).and_then(|s| s.last_input_seq))
                    .flatten();
                if !input {
                    return (Reply::Done { seq }, event);
                }
                let (tx, delivered) = oneshot::channel();
                let s = &mut self.sessions[id];
                if s.stdin_delivered >= s.stdin_sent {
                    let _ = tx.send(Ok(()));
                } else if s.deliveries.len() >= super::state::MAX_DELIVERIES {
                    // Taken, but too many writers wait already: this one is not told.
                    let _ = tx.send(Err(format!(
                        "input queued, but {} writes already wait to hear it was read: not waiting",
                        super::state::MAX_DELIVERIES
                    )));
                } else {
                    s.deliveries.push_back((s.stdin_sent, tx));
                }
                (
                    Reply::Sent {
                        seq,
                        delivered,
                        turns_ahead,
                    },
                    event,
                )
            }
            Err(err) => (error(err), None),
        }
    }

    /// Every session, or only `only`.
    fn list(&self, only: Option<SessionId>) -> Vec<SessionInfo> {
        let now = tokio::time::Instant::now();
        self.sessions()
            .filter(|(id, _)| only.is_none_or(|o| o == *id))
            .map(|(_, s)| SessionInfo {
                name: s.spec.name.clone(),
                group: s.spec.group().map(str::to_string),
                state: state_word(&s.state),
                status: s.state.to_string(),
                exit_code: match &s.state {
                    SessionState::Exited(status) => Some(status.shell_code()),
                    _ => None,
                },
                activity: s.activity(now),
                backend: s.spec.backend.kind(),
                protocol: s.spec.protocol.as_str(),
                pid: match s.state {
                    SessionState::Running { pid } => pid,
                    _ => None,
                },
                end_seq: s.scrollback.end_seq(),
                last_input_seq: s.last_input_seq,
                pending: s.agent.pending().to_vec(),
                turns: s.agent.turns,
                cost_usd: s.agent.total_cost(),
            })
            .collect()
    }

    fn read(&self, id: SessionId, from: Option<u64>, limit: usize) -> LinesInfo {
        let sb = &self.sessions[id].scrollback;
        let start = from.unwrap_or(0).max(sb.first_seq());
        let mut lines = Vec::new();
        let mut next = start;
        let mut bytes = 0;
        // At most `limit` lines and about MAX_READ_BYTES of text: `next` says where to go on.
        while next < sb.end_seq()
            && lines.len() < limit
            && (bytes < MAX_READ_BYTES || lines.is_empty())
        {
            let Some(line) = sb.get(next) else { break };
            bytes += line.bytes.len();
            let (text, data_b64) = text_of(line.bytes);
            lines.push(LineInfo {
                seq: line.seq,
                stream: line.stream,
                text,
                data_b64,
                open: line.is_open(),
            });
            next += 1;
        }
        LinesInfo {
            lines,
            first: sb.first_seq(),
            next,
        }
    }

    fn subscribe(&mut self, id: Option<SessionId>, from: Option<u64>, capacity: usize) -> Reply {
        let ids: Vec<SessionId> = match id {
            Some(id) => vec![id],
            None => self.sessions().map(|(id, _)| id).collect(),
        };
        let watched: Vec<bool> = ids.iter().map(|id| self.feed.watched(*id)).collect();
        let mut history = Vec::new();
        for (id, watched) in ids.into_iter().zip(watched) {
            let session = &self.sessions[id];
            let from = from.unwrap_or(session.scrollback.end_seq());
            history.extend(self.feed.history(
                id,
                &session.spec.name,
                &session.scrollback,
                from,
                watched,
            ));
        }
        // The history fits by count (`capacity` is the room for live items), but not always
        // by size: a catch-up larger than the queue's bytes stops with `lagged`, saying
        // where to go on.
        let (tx, rx) = self.feed.subscribe(id, capacity + history.len() + 1);
        for item in history {
            let resume = match &item {
                FeedItem::Line { session, seq, .. } | FeedItem::Partial { session, seq, .. } => {
                    Some((session.clone(), *seq))
                }
                _ => None,
            };
            if !tx.try_send(item) {
                if let Some((session, resume_from)) = resume {
                    let lagged = FeedItem::Lagged {
                        session,
                        resume_from,
                    };
                    let _ = tx.try_send_always(lagged);
                }
                break;
            }
        }
        let info = id.and_then(|id| self.list(Some(id)).pop());
        Reply::Subscribed(rx, info)
    }
}
