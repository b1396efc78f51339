//! Waits kept by the engine (the socket's `wait`): each is a predicate and a position in
//! one session's lines, tested against new lines where they already are, in the scrollback.
//! A pending wait holds no copy of any output, so a thousand waits on a flooding session
//! cost their predicates and nothing else; one whose client gave up is dropped.

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::feed::{FeedItem, PARTIAL_SMALL};
use super::requests::state_word;
use super::{Activity, Engine, SessionId, SessionState, Stream};
use crate::matcher::{JsonOp, Pattern};
use crate::protocol::stream_json;

/// Waits pending in one engine, at most: one more is refused.
pub const MAX_WAITS: usize = 4096;
/// Bytes of lines looked at for waits each time a session's output changes, at most (a
/// line counts its length and 64): with many waits on a flooding session they take turns,
/// and the engine stays quick for every other session. A wait that falls so far behind that
/// its lines left the scrollback is answered `lagged`, saying where to wait again from.
pub const BYTES_PER_LOOK: usize = 1 << 20;

/// What to wait for.
pub enum WaitFor {
    /// A line (or open line) of `stream` (default: stdout or stderr) that matches.
    Pattern(Pattern, Option<Stream>),
    /// A complete JSON output line whose value at the pointer matches.
    Json(String, JsonOp),
    /// A stream-json `result` line (one that says the turn failed fails the wait), after
    /// `skip` others: the end of a turn that was running when the input was sent (see
    /// [`super::Reply::Sent`]'s `turns_ahead`), so each of several drivers of one agent gets
    /// the end of the turn that answered its own message.
    TurnEnd {
        skip: u64,
    },
    /// The session's start: answered once it runs (or ran and ended); a session that could
    /// not start fails the wait with its reason.
    Started,
    /// The session's end, with this exit code if given.
    Exit(Option<i32>),
    Activity(Activity),
}

/// The answer to a wait: what matched and the line to go on from, or a code and a sentence.
pub type WaitAnswer = Result<(Value, u64), (&'static str, String)>;

pub(super) struct Waiter {
    session: SessionId,
    /// The next line to look at.
    next: u64,
    /// The open line's length when it was last looked at.
    open_len: usize,
    what: WaitFor,
    reply: oneshot::Sender<WaitAnswer>,
}

impl Engine {
    /// Registers a wait on `id` from line `from` (default: its last input, else its first
    /// line); the answer comes on the receiver. Refused when too many waits are pending.
    pub(super) fn add_wait(
        &mut self,
        id: SessionId,
        from: Option<u64>,
        what: WaitFor,
    ) -> Result<oneshot::Receiver<WaitAnswer>, String> {
        self.waiters.retain(|w| !w.reply.is_closed());
        if self.waiters.len() >= MAX_WAITS {
            return Err(format!(
                "{MAX_WAITS} waits are pending already: refused (wait for fewer things at once)"
            ));
        }
        let session = &self.sessions[id];
        let next = from
            .or(session.last_input_seq)
            .unwrap_or(0)
            .max(session.scrollback.first_seq());
        let (tx, rx) = oneshot::channel();
        self.waiters.push(Waiter {
            session: id,
            next,
            open_len: usize::MAX,
            what,
            reply: tx,
        });
        self.check_waits(id);
        Ok(rx)
    }

    /// Whether anything waits on an activity (which changes with time alone).
    pub(super) fn activity_waits(&self) -> bool {
        self.waiters
            .iter()
            .any(|w| matches!(w.what, WaitFor::Activity(_)))
    }

    /// Looks at what changed in session `id` for its waits (in turns, within
    /// [`BYTES_PER_LOOK`]); answers those that matched, or can no longer match.
    pub(super) fn check_waits(&mut self, id: SessionId) {
        if !self.waiters.iter().any(|w| w.session == id) {
            return;
        }
        let mut waiters = std::mem::take(&mut self.waiters);
        // The waits take turns at the budget: the first of this look goes last next time.
        if waiters.len() > 1 {
            waiters.rotate_left(1);
        }
        let mut budget = BYTES_PER_LOOK;
        waiters.retain_mut(|waiter| {
            if waiter.session != id {
                return true;
            }
            if waiter.reply.is_closed() {
                return false;
            }
            match self.look(waiter, &mut budget) {
                Some(answer) => {
                    let (tx, _) = oneshot::channel();
                    let reply = std::mem::replace(&mut waiter.reply, tx);
                    let _ = reply.send(answer);
                    false
                }
                None => true,
            }
        });
        waiters.append(&mut self.waiters);
        self.waiters = waiters;
    }

    /// Looks at every session's activity waits (a session turns idle with time).
    pub(super) fn check_activity_waits(&mut self) {
        let ids: Vec<SessionId> = self
            .waiters
            .iter()
            .filter(|w| matches!(w.what, WaitFor::Activity(_)))
            .map(|w| w.session)
            .collect();
        for id in ids {
            self.check_waits(id);
        }
    }

    /// What one wait finds in its session now, if anything ends it.
    fn look(&self, waiter: &mut Waiter, budget: &mut usize) -> Option<WaitAnswer> {
        let session = &self.sessions[waiter.session];
        let name = &session.spec.name;
        if session.removed {
            return Some(Err(("ended", "the session was removed".to_string())));
        }
        let ended = !session.state.is_live();
        let status = session.state.to_string();
        match &waiter.what {
            WaitFor::Exit(code) => {
                let SessionState::Exited(exit) = &session.state else {
                    return ended.then(|| Ok((self.state_answer(waiter.session), waiter.next)));
                };
                return Some(match code {
                    Some(want) if exit.shell_code() != *want => Err((
                        "mismatch",
                        format!("expected exit {want}, but the session {status}"),
                    )),
                    _ => Ok((self.state_answer(waiter.session), waiter.next)),
                });
            }
            WaitFor::Started => {
                return match &session.state {
                    SessionState::Starting { .. } => None,
                    SessionState::Failed { reason } => Some(Err((
                        "failed_to_start",
                        format!("session `{name}` failed to start: {reason}"),
                    ))),
                    _ => Some(Ok((self.state_answer(waiter.session), waiter.next))),
                };
            }
            WaitFor::Activity(activity) => {
                let now = session.activity(Instant::now());
                if now == *activity {
                    return Some(Ok((
                        json!({"event": "activity", "activity": now}),
                        waiter.next,
                    )));
                }
                return ended.then(|| Err(("ended", format!("the session {status}"))));
            }
            _ => {}
        }
        let sb = &session.scrollback;
        if waiter.next < sb.first_seq() {
            return Some(Err((
                "lagged",
                format!(
                    "the wait fell behind the output: lines up to {} left the scrollback before it looked at them (wait again from line {})",
                    sb.first_seq(),
                    sb.first_seq()
                ),
            )));
        }
        let mut seq = waiter.next.max(sb.first_seq());
        while seq < sb.end_seq() {
            let Some(line) = sb.get(seq) else { break };
            let cost = line.bytes.len() + 64;
            // A whole budget always affords one line, however long.
            if *budget < cost && *budget < BYTES_PER_LOOK {
                // Its turn is over: it goes on from here at the next look.
                *budget = 0;
                waiter.next = seq;
                return None;
            }
            *budget = budget.saturating_sub(cost);
            if line.is_open() {
                // Looked at again when it has grown enough, and whole when it ends.
                let len = line.bytes.len();
                let due = waiter.open_len == usize::MAX
                    || (len != waiter.open_len
                        && (len <= PARTIAL_SMALL || len >= waiter.open_len.saturating_mul(2)));
                if due && let WaitFor::Pattern(pattern, stream) = &waiter.what {
                    waiter.open_len = len;
                    let stream_ok = stream.map_or(line.stream.is_output(), |w| w == line.stream);
                    if stream_ok && pattern.find_end(line.bytes, 0).is_some() {
                        let item = FeedItem::line(name, &line);
                        let value = serde_json::to_value(&item).unwrap_or(Value::Null);
                        return Some(Ok((value, seq + 1)));
                    }
                }
                break;
            }
            waiter.open_len = usize::MAX;
            if let Some(answer) = matches(&waiter.what, name, sb, &line) {
                // Another driver's turn ended: this wait's comes later.
                if let WaitFor::TurnEnd { skip } = &mut waiter.what
                    && *skip > 0
                {
                    *skip -= 1;
                    seq += 1;
                    continue;
                }
                return Some(answer.map(|value| (value, seq + 1)));
            }
            seq += 1;
        }
        waiter.next = seq;
        ended.then(|| {
            Err((
                "ended",
                format!("the session {status} and its output never matched"),
            ))
        })
    }

    fn state_answer(&self, id: SessionId) -> Value {
        let session = &self.sessions[id];
        let exit_code = match &session.state {
            SessionState::Exited(status) => Some(status.shell_code()),
            _ => None,
        };
        json!({"event": "state", "state": state_word(&session.state), "status": session.state.to_string(), "exit_code": exit_code})
    }
}

/// Whether complete line `line` ends a wait for `what`: its answer (or the failure a
/// failed turn is).
fn matches(
    what: &WaitFor,
    name: &str,
    sb: &super::Scrollback,
    line: &super::Line<'_>,
) -> Option<Result<Value, (&'static str, String)>> {
    match what {
        WaitFor::Pattern(pattern, stream) => {
            let stream_ok = stream.map_or(line.stream.is_output(), |w| w == line.stream);
            (stream_ok && pattern.find_end(line.bytes, 0).is_some()).then(|| {
                let item = FeedItem::line(name, line);
                Ok(serde_json::to_value(&item).unwrap_or(Value::Null))
            })
        }
        WaitFor::Json(..) | WaitFor::TurnEnd { .. } => {
            // A line other output cut into is read whole where it ends.
            if !line.stream.is_output() || !line.completes() {
                return None;
            }
            let json = stream_json::parse_line(&sb.whole_line(line))?;
            match what {
                WaitFor::TurnEnd { .. } if stream_json::event_type(&json) == Some("result") => {
                    if let Some(why) = stream_json::failure(&json, false) {
                        let message = stream_json::failure_message(&json)
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default();
                        return Some(Err((
                            "turn_failed",
                            format!("the turn failed with {why}{message}"),
                        )));
                    }
                    Some(Ok(
                        json!({"event": "turn_end", "seq": line.seq, "value": json}),
                    ))
                }
                WaitFor::Json(pointer, op) if op.test(&json, pointer) => {
                    Some(Ok(json!({"event": "json", "seq": line.seq, "value": json})))
                }
                _ => None,
            }
        }
        WaitFor::Exit(_) | WaitFor::Activity(_) | WaitFor::Started => None,
    }
}
