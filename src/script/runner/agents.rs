//! The steps that talk to an agent: `turn` (a user message and its `result`), `wait NAME
//! turn`, `interrupt`, and `approve`/`deny` for its permission requests.

use std::time::Duration;

use tokio::time::Instant;

use super::{Cursor, Failure, Runner};
use crate::engine::{Command, LineEnd, Pick, Protocol, SessionId, SessionState};
use crate::protocol::control::Approval;
use crate::protocol::stream_json;
use crate::protocol::tracker::Note;
use crate::script::parser::Which;
use crate::text::printable;
use crate::units::format_duration;

/// What an `approve` or `deny` step answers.
pub enum Answer {
    Allow,
    AllowAlways,
    Deny(Option<String>),
}

impl Runner<'_> {
    /// Sends `text` as a user turn and waits for its `result`; fails on a turn that ended in
    /// error, and at once on a permission request the step cannot answer.
    pub(super) async fn turn(
        &mut self,
        id: SessionId,
        text: &str,
        within: Duration,
    ) -> Result<(), Failure> {
        let from = self.send_message(id, text)?;
        let timed_out = format!("no result event within {}", format_duration(within));
        self.result_from(id, from, within, timed_out).await
    }

    /// Waits for a `result` from line `from` on; the steps after it look at what the agent
    /// said in the turn, from `from`.
    async fn result_from(
        &mut self,
        id: SessionId,
        from: u64,
        within: Duration,
        timed_out: String,
    ) -> Result<(), Failure> {
        let deadline = Instant::now() + within;
        let (seq, value) = self
            .wait_json_line(id, from, deadline, timed_out, true, is_result)
            .await?;
        self.cursors.insert(
            id,
            Cursor {
                seq: from,
                offset: 0,
            },
        );
        self.turn_ended(id, seq, &value)
    }

    /// Sends `text` as a user message; the steps after it look at its answer.
    pub(super) fn say(&mut self, id: SessionId, text: &str) -> Result<(), Failure> {
        let from = self.send_message(id, text)?;
        self.cursors.insert(
            id,
            Cursor {
                seq: from,
                offset: 0,
            },
        );
        Ok(())
    }

    /// Sends a user message; returns the first line its answer can be on.
    fn send_message(&mut self, id: SessionId, text: &str) -> Result<u64, Failure> {
        // Only output that starts after the message counts.
        let from = self.engine.session(id).map_or(0, |s| {
            let sb = &s.scrollback;
            match sb.end_seq().checked_sub(1).and_then(|last| sb.get(last)) {
                Some(line) if line.is_open() => line.seq,
                _ => sb.end_seq(),
            }
        });
        self.apply(Command::SendTurn {
            session: id,
            text: text.to_string(),
        })?;
        Ok(from)
    }

    /// Waits for the `result` of the turn in flight (from where the steps before left off).
    pub(super) async fn wait_turn(
        &mut self,
        id: SessionId,
        within: Duration,
    ) -> Result<(), Failure> {
        let from = self.cursors.get(&id).copied().unwrap_or_default().seq;
        let timed_out = format!("the turn did not end within {}", format_duration(within));
        self.result_from(id, from, within, timed_out).await
    }

    /// What the turn that `result` line `seq` ended said and cost; an error if it failed.
    fn turn_ended(
        &mut self,
        id: SessionId,
        seq: u64,
        value: &serde_json::Value,
    ) -> Result<(), Failure> {
        let mut result = stream_json::turn_result(value);
        if let (Some(result), Some(session)) = (result.as_mut(), self.engine.session(id))
            && let Some(Note::Turn(summary)) = session.agent.tracker.note(seq)
        {
            result.cost_usd = summary.cost_usd;
            result.total_cost_usd = summary.total_cost_usd;
            result.failure = summary.failure.clone();
        }
        self.last_turn = result.clone();
        match result {
            Some(r) if r.is_error => {
                let why = printable(r.failure.as_deref().unwrap_or("an error").as_bytes());
                let message = stream_json::failure_message(value)
                    .map(|m| format!(": {}", printable(m.as_bytes())))
                    .unwrap_or_default();
                Err(Failure::Step(format!(
                    "the turn failed with {why}{message}"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Interrupts the session's turn and waits until it has ended (its `result` came, or
    /// the session ended).
    pub(super) async fn interrupt(
        &mut self,
        id: SessionId,
        within: Duration,
    ) -> Result<(), Failure> {
        let deadline = Instant::now() + within;
        if let Some(SessionState::Failed { reason }) = self.state(id) {
            return Err(Failure::Step(format!(
                "the session failed to start: {reason}"
            )));
        }
        let turns = self.engine.session(id).map_or(0, |s| s.agent.turns);
        self.apply(Command::Interrupt { session: id })?;
        loop {
            let Some(session) = self.engine.session(id) else {
                return Err(Failure::Step("no such session".into()));
            };
            let agent = session.spec.protocol == Protocol::StreamJson;
            if agent && session.agent.turns > turns {
                // The interrupted turn: its numbers count with the others'.
                if let Some(seq) = session.agent.last_result
                    && let Some(value) = session
                        .scrollback
                        .get(seq)
                        .and_then(|l| stream_json::parse_line(&session.scrollback.whole_line(&l)))
                {
                    let _ = self.turn_ended(id, seq, &value);
                }
                return Ok(());
            }
            if !agent || !session.turn_in_flight || !session.state.is_live() {
                return Ok(());
            }
            if self.overran(id, deadline).await? {
                return Err(Failure::Step(format!(
                    "the turn did not end within {} of the interrupt",
                    format_duration(within)
                )));
            }
        }
    }

    /// Waits for a permission request that `which` picks and answers it.
    pub(super) async fn answer(
        &mut self,
        id: SessionId,
        which: &Which,
        answer: Answer,
        within: Duration,
    ) -> Result<(), Failure> {
        let deadline = Instant::now() + within;
        let turns = self.engine.session(id).map_or(0, |s| s.agent.turns);
        loop {
            let session = self
                .engine
                .session(id)
                .ok_or_else(|| Failure::Step("no such session".into()))?;
            if !session.agent.pending().is_empty() {
                break;
            }
            match &session.state {
                SessionState::Failed { reason } => {
                    return Err(Failure::Step(format!("the session failed: {reason}")));
                }
                SessionState::Exited(status) => {
                    return Err(Failure::Step(format!(
                        "the session {status} before it asked permission"
                    )));
                }
                _ => {}
            }
            if session.agent.turns > turns {
                return Err(Failure::Step(
                    "the turn ended without asking permission".into(),
                ));
            }
            if self.overran(id, deadline).await? {
                return Err(Failure::Step(format!(
                    "no permission request within {}",
                    format_duration(within)
                )));
            }
        }
        let pick = Pick {
            request_id: None,
            tool: which.tool.clone(),
            input: which.input.clone(),
        };
        let command = match answer {
            Answer::Allow | Answer::AllowAlways => Command::Approve {
                session: id,
                pick,
                always: matches!(answer, Answer::AllowAlways),
            },
            Answer::Deny(message) => Command::Deny {
                session: id,
                pick,
                message,
            },
        };
        self.apply(command)
    }

    /// Waits for a complete output line at or after `from` that is JSON and satisfies
    /// `test`. At the deadline the session is killed (as for `expect`) and the step fails
    /// with `timed_out`; any failure says when a line was too long to be read as JSON.
    ///
    /// With `no_questions`, a permission request of the session fails the wait at once: no
    /// step can answer it while this one waits.
    pub(super) async fn wait_json_line(
        &mut self,
        id: SessionId,
        from: u64,
        deadline: Instant,
        timed_out: String,
        no_questions: bool,
        test: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<(u64, serde_json::Value), Failure> {
        let mut next = from;
        let mut split = false;
        loop {
            let session = self
                .engine
                .session(id)
                .ok_or_else(|| Failure::Step("no such session".into()))?;
            let sb = &session.scrollback;
            let cap = sb.limits().max_line_bytes;
            next = next.max(sb.first_seq());
            while next < sb.end_seq() {
                let Some(line) = sb.get(next) else { break };
                if line.is_open() {
                    break;
                }
                // Input is never matched; a line cut by other output is read whole where it
                // ends.
                if line.stream.is_output() && line.completes() {
                    if line.end == LineEnd::Split {
                        split = true;
                    }
                    if let Some(value) = stream_json::parse_line(&sb.whole_line(&line))
                        && test(&value)
                    {
                        return Ok((next, value));
                    }
                }
                next += 1;
            }
            if no_questions && let Some(approval) = session.agent.pending().first() {
                return Err(Failure::Step(unanswerable(&session.spec.name, approval)));
            }
            let hint = |why: String| split_hint(why, split, cap);
            match session.state.clone() {
                SessionState::Failed { reason } => {
                    return Err(Failure::Step(hint(format!("the session failed: {reason}"))));
                }
                SessionState::Exited(status) => {
                    return Err(Failure::Step(hint(format!(
                        "the session {status} before a matching JSON line"
                    ))));
                }
                _ => {}
            }
            if self.overran(id, deadline).await? {
                return Err(Failure::Step(split_hint(timed_out, split, cap)));
            }
        }
    }
}

fn is_result(value: &serde_json::Value) -> bool {
    stream_json::event_type(value) == Some("result")
}

/// Why a step that waits for a turn cannot go on: the agent asks permission.
fn unanswerable(name: &str, approval: &Approval) -> String {
    format!(
        "the turn needs permission for {} `{}`, which this step cannot give: `send` the message, then `approve {name}` or `deny {name}`, or declare the session with permissions=allow",
        printable(approval.tool.as_bytes()),
        printable(approval.summary.as_bytes())
    )
}

/// `why`, and when an output line was split at the line cap, why no JSON could be read from
/// it and which setting raises the cap.
fn split_hint(why: String, split: bool, cap: usize) -> String {
    if !split {
        return why;
    }
    format!(
        "{why}; an output line was longer than max_line_bytes ({}) and was split, so it could not be read as JSON: raise `max_line_bytes` in the [settings] of a --config file",
        crate::units::format_bytes(cap as u64)
    )
}
