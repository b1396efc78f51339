//! The socket's `wait`: for a pattern in the lines that arrived after a starting line, a
//! JSON line matching a predicate, a turn's end, an exit, or an activity, with a timeout.
//! It subscribes to the session's feed first and only then looks at the current state, so
//! nothing that happens in between is missed.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::engine::{Activity, EngineHandle, FeedItem, Op, Reply, Stream};
use crate::matcher::{JsonOp, Pattern};
use crate::units::format_duration;

/// What to wait for.
pub enum WaitFor {
    Pattern(Pattern, Option<Stream>),
    Json(String, JsonOp),
    TurnEnd,
    Exit(Option<i32>),
    Activity(Activity),
}

/// Why a wait did not match: a code and one sentence.
pub type Failure = (&'static str, String);

/// Waits on `session` from line `from` (default: its last input, or its first line).
/// Returns the matched item and the line to continue from.
pub async fn wait(
    handle: &EngineHandle,
    session: &str,
    from: Option<u64>,
    timeout: Duration,
    what: &WaitFor,
) -> Result<(Value, u64), Failure> {
    let deadline = Instant::now() + timeout;
    let gone = || ("stopping", "sandmux is stopping".to_string());
    let info = current(handle, session).await?;
    let from = from
        .or(info.get("last_input_seq").and_then(Value::as_u64))
        .unwrap_or(0);
    let op = Op::Subscribe {
        name: Some(session.to_string()),
        from: Some(from),
        capacity: 4096,
    };
    let (mut rx, info) = match handle.ask(op).await.ok_or_else(gone)? {
        Reply::Subscribed(rx, Some(info)) => {
            (rx, serde_json::to_value(info).unwrap_or(Value::Null))
        }
        Reply::Error { code, message } => return Err((code, message)),
        _ => return Err(gone()),
    };
    // Now subscribed: a state already reached is an answer at once; lines that already
    // arrived are looked at first (the history is queued before anything live).
    let state_wait = matches!(what, WaitFor::Exit(_) | WaitFor::Activity(_));
    let mut history_done = state_wait;
    if state_wait && let Some(done) = reached(&info, what)? {
        return Ok((done, from));
    }
    let mut pieces: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    loop {
        let queued = rx.try_recv().ok();
        if queued.is_none() && !history_done {
            history_done = true;
            // Everything that had arrived was looked at: a session that had ended when the
            // subscription began will never match.
            reached(&info, what)?;
        }
        let item = match queued {
            Some(item) => item,
            None => tokio::select! {
            item = rx.recv() => item.ok_or_else(gone)?,
            _ = tokio::time::sleep_until(deadline) => {
                return Err(("timeout", format!("no match within {}", format_duration(timeout))));
            }
            _ = poll.tick(), if matches!(what, WaitFor::Activity(_)) => {
                let info = current(handle, session).await?;
                match reached(&info, what)? {
                    Some(done) => return Ok((done, from)),
                    None => continue,
                }
            }
            },
        };
        let value = serde_json::to_value(&item).unwrap_or(Value::Null);
        match (&item, what) {
            (FeedItem::Lagged { resume_from, .. }, _) => {
                return Err((
                    "lagged",
                    format!("the wait fell behind the output: wait again from line {resume_from}"),
                ));
            }
            (
                FeedItem::Line { stream, seq, .. } | FeedItem::Partial { stream, seq, .. },
                WaitFor::Pattern(pattern, wanted),
            ) => {
                let stream_ok = wanted.map_or(stream.is_output(), |w| w == *stream);
                let bytes = item.bytes().unwrap_or_default();
                if stream_ok && pattern.find_end(&bytes, 0).is_some() {
                    return Ok((value, seq + 1));
                }
            }
            (
                FeedItem::Line {
                    stream,
                    seq,
                    end,
                    head,
                    ..
                },
                WaitFor::Json(..) | WaitFor::TurnEnd,
            ) if stream.is_output() => {
                let bytes = item.bytes().unwrap_or_default();
                // A line other output cut into is read whole where it ends.
                let whole = match (head, *end == "cut") {
                    (None, false) => Some(bytes),
                    (None, true) => {
                        pieces.insert(*seq, bytes);
                        None
                    }
                    (Some(head), cut) => {
                        let entry = pieces.entry(*head).or_default();
                        entry.extend_from_slice(&bytes);
                        (!cut).then(|| pieces.remove(head).unwrap_or_default())
                    }
                };
                let Some(json) = whole.and_then(|b| crate::protocol::stream_json::parse_line(&b))
                else {
                    continue;
                };
                let event = match what {
                    // A turn ends with its `result` event (also one that came before the
                    // wait); one that ended in error fails the wait, as a `turn` step does.
                    WaitFor::TurnEnd
                        if crate::protocol::stream_json::event_type(&json) == Some("result") =>
                    {
                        if let Some(why) = crate::protocol::stream_json::failure(&json, false) {
                            let message = crate::protocol::stream_json::failure_message(&json)
                                .map(|m| format!(": {m}"))
                                .unwrap_or_default();
                            return Err((
                                "turn_failed",
                                format!("the turn failed with {why}{message}"),
                            ));
                        }
                        "turn_end"
                    }
                    WaitFor::Json(pointer, op) if op.test(&json, pointer) => "json",
                    _ => continue,
                };
                return Ok((json!({"event": event, "seq": seq, "value": json}), seq + 1));
            }
            (FeedItem::State { .. } | FeedItem::Activity { .. }, _) => {
                let info = current(handle, session).await?;
                if let Some(done) = reached(&info, what)? {
                    return Ok((done, from));
                }
            }
            (FeedItem::Removed { .. }, _) => {
                return Err(("ended", "the session was removed".to_string()));
            }
            _ => {}
        }
    }
}

/// The session as `list` shows it.
async fn current(handle: &EngineHandle, session: &str) -> Result<Value, Failure> {
    match handle.ask(Op::Info(session.to_string())).await {
        Some(Reply::List(sessions)) => sessions
            .into_iter()
            .next()
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .ok_or_else(|| ("unknown_session", format!("no session named `{session}`"))),
        Some(Reply::Error { code, message }) => Err((code, message)),
        _ => Err(("stopping", "sandmux is stopping".to_string())),
    }
}

/// Whether `info` (a `list` entry) already answers the wait: the answer, an error when the
/// session ended without the awaited output, or `None` to go on waiting.
fn reached(info: &Value, what: &WaitFor) -> Result<Option<Value>, Failure> {
    let state = info["state"].as_str().unwrap_or("");
    let ended = matches!(state, "exited" | "failed");
    let status = info["status"].as_str().unwrap_or("").to_string();
    match what {
        WaitFor::Exit(code) if ended => match (code, info["exit_code"].as_i64()) {
            (Some(want), got) if got != Some(i64::from(*want)) => Err((
                "mismatch",
                format!("expected exit {want}, but the session {status}"),
            )),
            _ => Ok(Some(
                json!({"event": "state", "state": state, "status": status, "exit_code": info["exit_code"]}),
            )),
        },
        WaitFor::Activity(activity) => {
            let now = serde_json::to_value(activity).unwrap_or(Value::Null);
            if info["activity"] == now {
                Ok(Some(json!({"event": "activity", "activity": now})))
            } else if ended {
                Err(("ended", format!("the session {status}")))
            } else {
                Ok(None)
            }
        }
        WaitFor::Exit(_) => Ok(None),
        _ if ended => Err((
            "ended",
            format!("the session {status} and its output never matched"),
        )),
        _ => Ok(None),
    }
}
