//! Agent sessions (stream-json) spoken natively: the engine reads what the CLI's lines mean
//! ([`Tracker`]), answers its control requests, and carries the user's interrupts and
//! permission answers to it over the same stdin as the conversation.
//!
//! - **Interrupt**: a `control_request` of subtype `interrupt` ends the turn and keeps the
//!   conversation. A second interrupt within [`INSIST`], or a CLI that has not answered
//!   within [`ANSWER_WITHIN`], gets SIGINT instead (which ends the process).
//! - **Permission requests** (`can_use_tool`): with `permissions=ask` each one is pending
//!   until answered ([`Command::Approve`], [`Command::Deny`]) or withdrawn; `allow` and
//!   `deny` answer at once, as does a tool the user allowed always.
//! - **Requests sandmux does not serve** get an error response, so the CLI never waits.
//!
//! Everything sandmux writes goes through the transcript and the scrollback as input, like
//! what the user types.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::backend::Control;
use super::feed::FeedItem;
use super::{Engine, EngineError, Event, Permissions, Protocol, SessionId, Stream};
use crate::protocol::control::{self, Answer, Approval};
use crate::protocol::tracker::{Noticed, Tracker, TurnSummary};

/// A second interrupt this soon after the first sends SIGINT.
pub const INSIST: Duration = Duration::from_secs(2);
/// An interrupt the CLI has not answered this long after it was sent gets SIGINT.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Which pending permission request a command means: by id, by tool, by a regex on the
/// tool's input (JSON text), or (all `None`) the oldest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pick {
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub tool: Option<String>,
    /// A regex the tool's input (as compact JSON) must match.
    #[serde(default)]
    pub input: Option<String>,
}

impl Pick {
    /// The oldest pending request.
    pub fn oldest() -> Pick {
        Pick::default()
    }
}

/// An interrupt that was sent.
#[derive(Debug, Clone)]
struct InterruptSent {
    id: String,
    at: Instant,
    /// The CLI confirmed it: no SIGINT will follow.
    answered: bool,
}

/// The agent side of one session.
#[derive(Debug, Default)]
pub struct AgentState {
    /// What its lines mean (notes for the chat view, pending requests).
    pub tracker: Tracker,
    /// Tools the user allowed for the rest of the session.
    always: BTreeSet<String>,
    interrupt: Option<InterruptSent>,
    /// When the user last asked for an interrupt (a second one soon after is SIGINT, even
    /// when the first already ended the turn).
    last_interrupt: Option<Instant>,
    next_id: u64,
    /// Turns ended so far.
    pub turns: u64,
    /// A turn is running (a user message was sent and its `result` has not come).
    pub busy: bool,
    /// Messages were sent while a turn ran: the CLI takes them all into the next turn
    /// (Claude Code does), which starts as soon as the running one ends.
    pub queued: bool,
    /// What the last turn said and cost, and its `result` line.
    pub last_turn: Option<TurnSummary>,
    pub last_result: Option<u64>,
}

impl AgentState {
    /// The permission requests waiting for an answer.
    pub fn pending(&self) -> &[Approval] {
        self.tracker.pending()
    }

    /// What the session has cost so far (the CLI's running total).
    pub fn total_cost(&self) -> Option<f64> {
        self.last_turn.as_ref().and_then(|t| t.total_cost_usd)
    }

    /// Whether an interrupt was sent and its turn has not ended.
    pub fn interrupting(&self) -> bool {
        self.interrupt.is_some()
    }

    fn deadline(&self) -> Option<Instant> {
        self.interrupt
            .as_ref()
            .filter(|i| !i.answered)
            .map(|i| i.at + ANSWER_WITHIN)
    }

    fn request_id(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("sandmux-{what}-{}", self.next_id)
    }
}

impl Engine {
    /// The earliest moment an unanswered interrupt falls back to SIGINT.
    pub(super) fn interrupt_deadline(&self) -> Option<Instant> {
        self.interrupting
            .iter()
            .filter_map(|id| self.sessions.get(*id)?.agent.deadline())
            .min()
    }

    /// Sends SIGINT to every session whose interrupt went unanswered for too long.
    pub(super) fn expire_interrupts(&mut self) {
        let now = Instant::now();
        let ids: Vec<SessionId> = self.interrupting.iter().copied().collect();
        for id in ids {
            let Some(session) = self.sessions.get_mut(id) else {
                continue;
            };
            if session.agent.deadline().is_some_and(|d| d <= now) {
                session.agent.interrupt = None;
                self.interrupting.remove(&id);
                let message = format!(
                    "the agent did not answer the interrupt within {} s: sent SIGINT",
                    ANSWER_WITHIN.as_secs()
                );
                self.sigint(id);
                self.warn(id, message);
            }
        }
    }

    fn sigint(&mut self, id: SessionId) {
        let session = &mut self.sessions[id];
        if session.state.is_live() {
            session.record_event("signal", json!({"signal": libc::SIGINT, "name": "SIGINT"}));
            session.send_control(Control::Signal(libc::SIGINT));
        }
    }

    fn warn(&mut self, id: SessionId, message: String) {
        let session = &mut self.sessions[id];
        session.record_event("warning", json!({"message": message}));
        session.push_warning(message.clone());
        let event = Event::Warning {
            session: id,
            message,
        };
        self.publish_event(&event);
        self.pending.push_back(event);
    }

    /// Interrupts the session's turn: the CLI's interrupt for an agent, SIGINT otherwise
    /// (and for an agent interrupted twice within [`INSIST`]).
    pub(super) fn interrupt(&mut self, id: SessionId) -> Result<Option<Event>, EngineError> {
        let answer = self.options.answer_agents;
        let s = self.get_mut(id)?;
        if !s.state.is_live() {
            return Ok(None);
        }
        let insisting = s
            .agent
            .last_interrupt
            .is_some_and(|at| at.elapsed() < INSIST);
        s.agent.last_interrupt = Some(Instant::now());
        if s.spec.protocol != Protocol::StreamJson || insisting || s.stdin_closed || !answer {
            s.agent.interrupt = None;
            self.interrupting.remove(&id);
            self.sigint(id);
            return Ok(None);
        }
        let request_id = s.agent.request_id("interrupt");
        s.agent.interrupt = Some(InterruptSent {
            id: request_id.clone(),
            at: Instant::now(),
            answered: false,
        });
        s.agent.tracker.interrupting();
        self.interrupting.insert(id);
        self.write_control(id, control::interrupt_request(&request_id));
        Ok(None)
    }

    /// Answers a pending permission request.
    pub(super) fn answer(
        &mut self,
        id: SessionId,
        pick: &Pick,
        answer: Answer,
    ) -> Result<Option<Event>, EngineError> {
        let s = self.get_mut(id)?;
        let approval = picked(&s.spec.name, s.agent.pending(), pick)?.clone();
        let line = match &answer {
            Answer::Allowed => control::allow_response(&approval.request_id, &approval.input, None),
            Answer::AllowedAlways => {
                s.agent.always.insert(approval.tool.clone());
                control::allow_response(&approval.request_id, &approval.input, Some(&approval.tool))
            }
            Answer::Denied { message } => control::deny_response(&approval.request_id, message),
            Answer::Cancelled | Answer::Abandoned => return Ok(None),
        };
        self.write_control(id, line);
        let closed = self.sessions[id]
            .agent
            .tracker
            .close(&approval.request_id, answer);
        let event = closed.and_then(|n| self.approval_event(id, n));
        if let Some(event) = &event {
            self.publish_event(event);
        }
        Ok(event)
    }

    /// Writes one line sandmux itself sends to an agent (a control request or response): it
    /// is input like any other, in the transcript and the scrollback, but no user turn.
    fn write_control(&mut self, id: SessionId, line: String) {
        if !self.options.answer_agents {
            return;
        }
        let s = &mut self.sessions[id];
        if !s.state.is_live() || s.stdin_closed {
            return;
        }
        let before = s.activity_key();
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        s.record_data("stdin", &bytes);
        s.scrollback.push(Stream::Stdin, &bytes);
        s.stdin_queued += bytes.len();
        s.stdin_sent += bytes.len() as u64;
        s.send_control(Control::Write(bytes));
        self.publish_output(id, before, &[]);
    }

    /// Acts on what the session's new lines said; returns the lines that ended turns.
    pub(super) fn act_on(&mut self, id: SessionId, noticed: Vec<Noticed>) -> Vec<u64> {
        let mut turn_ends = Vec::new();
        for fact in noticed {
            match fact {
                Noticed::TurnEnded { seq, summary } => {
                    let s = &mut self.sessions[id];
                    s.agent.turns += 1;
                    // The messages that came during the turn make the next one.
                    s.agent.busy = std::mem::take(&mut s.agent.queued);
                    s.agent.last_turn = Some(summary);
                    s.agent.last_result = Some(seq);
                    s.agent.interrupt = None;
                    self.interrupting.remove(&id);
                    turn_ends.push(seq);
                }
                Noticed::ApprovalAsked(approval) => self.asked(id, approval),
                Noticed::Unserved {
                    request_id,
                    subtype,
                } => {
                    let why =
                        format!("sandmux does not handle control requests of subtype `{subtype}`");
                    self.write_control(id, control::error_response(&request_id, &why));
                }
                Noticed::Overflow { request_id } => {
                    let why = format!(
                        "more than {} permission requests are waiting: refused",
                        crate::protocol::tracker::MAX_PENDING
                    );
                    self.write_control(id, control::deny_response(&request_id, &why));
                }
                Noticed::Answered { request_id, error } => {
                    let s = &mut self.sessions[id];
                    let ours = s.agent.interrupt.as_mut().filter(|i| i.id == request_id);
                    match (ours, error) {
                        (Some(sent), None) => sent.answered = true,
                        (Some(_), Some(error)) => {
                            s.agent.interrupt = None;
                            self.interrupting.remove(&id);
                            self.sigint(id);
                            let message =
                                format!("the agent refused the interrupt ({error}): sent SIGINT");
                            self.warn(id, message);
                        }
                        (None, _) => {}
                    }
                }
                closed @ Noticed::ApprovalClosed { .. } => {
                    if let Some(event) = self.approval_event(id, closed) {
                        self.publish_event(&event);
                        self.pending.push_back(event);
                    }
                }
            }
        }
        turn_ends
    }

    /// A new permission request: answered at once by the session's policy or an earlier
    /// "allow always", else pending (an [`Event::Approval`]).
    fn asked(&mut self, id: SessionId, approval: Approval) {
        let s = &self.sessions[id];
        let answer = match s.spec.permissions {
            _ if s.agent.always.contains(&approval.tool) => Some(Answer::Allowed),
            Permissions::Allow => Some(Answer::Allowed),
            Permissions::Deny => Some(Answer::Denied {
                message: "sandmux refuses every tool for this session (permissions=deny)".into(),
            }),
            Permissions::Ask => None,
        };
        match answer {
            Some(answer) if self.options.answer_agents => {
                let pick = Pick {
                    request_id: Some(approval.request_id.clone()),
                    ..Pick::default()
                };
                if let Ok(Some(event)) = self.answer(id, &pick, answer) {
                    self.pending.push_back(event);
                }
            }
            _ => {
                let event = Event::Approval {
                    session: id,
                    approval: Box::new(approval),
                };
                self.publish_event(&event);
                self.pending.push_back(event);
            }
        }
    }

    fn approval_event(&self, id: SessionId, closed: Noticed) -> Option<Event> {
        match closed {
            Noticed::ApprovalClosed { request_id, answer } => Some(Event::ApprovalClosed {
                session: id,
                request_id,
                answer,
            }),
            _ => None,
        }
    }

    /// The feed item of an approval event.
    pub(super) fn approval_item(name: String, event: &Event) -> Option<FeedItem> {
        match event {
            Event::Approval { approval, .. } => Some(FeedItem::Approval {
                session: name,
                approval: approval.as_ref().clone(),
            }),
            Event::ApprovalClosed {
                request_id, answer, ..
            } => Some(FeedItem::ApprovalClosed {
                session: name,
                request_id: request_id.clone(),
                answer: answer.clone(),
            }),
            _ => None,
        }
    }

    /// The program started again: what it asked before is abandoned, and its cost starts
    /// over.
    pub(super) fn agent_restarted(&mut self, id: SessionId) {
        let s = &mut self.sessions[id];
        s.agent.interrupt = None;
        // The new program owes nothing for the old one's turns.
        (s.agent.busy, s.agent.queued) = (false, false);
        self.interrupting.remove(&id);
        let closed = self.sessions[id].agent.tracker.restarted();
        self.act_on(id, closed);
    }

    /// The program ended: nothing it asked can be answered any more.
    pub(super) fn agent_ended(&mut self, id: SessionId) {
        let agent = &mut self.sessions[id].agent;
        (agent.busy, agent.queued) = (false, false);
        self.sessions[id].agent.interrupt = None;
        self.interrupting.remove(&id);
        let closed = self.sessions[id].agent.tracker.abandon_all();
        self.act_on(id, closed);
    }
}

/// The pending request `pick` means, or one sentence saying why there is none.
fn picked<'a>(
    name: &str,
    pending: &'a [Approval],
    pick: &Pick,
) -> Result<&'a Approval, EngineError> {
    if pending.is_empty() {
        return Err(EngineError::Approval(format!(
            "session `{name}` has no permission request waiting"
        )));
    }
    let regex = match &pick.input {
        Some(source) => Some(regex::Regex::new(source).map_err(|e| {
            EngineError::Approval(format!(
                "invalid regex /{source}/: {}",
                crate::text::regex_error(&e)
            ))
        })?),
        None => None,
    };
    pending
        .iter()
        .find(|a| {
            pick.request_id
                .as_ref()
                .is_none_or(|id| *id == a.request_id)
                && a.is(pick.tool.as_deref(), regex.as_ref())
        })
        .ok_or_else(|| {
            let waiting: Vec<String> = pending
                .iter()
                .map(|a| {
                    format!(
                        "{} `{}`",
                        a.tool,
                        crate::text::printable(a.summary.as_bytes())
                    )
                })
                .collect();
            let wanted = match (&pick.request_id, &pick.tool, &pick.input) {
                (Some(id), _, _) => format!("with id {id}"),
                (None, Some(tool), None) => format!("for {tool}"),
                (None, tool, Some(input)) => format!(
                    "{}with an input matching /{input}/",
                    tool.as_ref()
                        .map(|t| format!("for {t} "))
                        .unwrap_or_default()
                ),
                (None, None, None) => String::new(),
            };
            EngineError::Approval(format!(
                "no permission request of session `{name}` {wanted} is waiting (waiting: {})",
                waiting.join(", ")
            ))
        })
}
