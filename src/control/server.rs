//! The socket's server side: accepts this user's connections and answers their requests by
//! asking the engine (through an [`EngineHandle`]). Requests on one connection are answered
//! in order; `wait` and `subscribe` run alongside, so a client can keep sending while it
//! waits. A connection that misbehaves (bad JSON, a huge line, vanishing mid-subscribe, not
//! reading) only ever affects itself.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ops::{self, add_spec, wait_for};
use super::protocol::{self, MAX_REQUEST, Request, answer, error_body};
use super::wait::{WaitFor, wait};
use crate::engine::{EngineHandle, Op, Pick, Reply, SessionOp, parse_signal};

/// A listening control socket; the socket file is removed when it is dropped.
pub struct ControlSocket {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl ControlSocket {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens on `path` (default: [`super::default_socket`], in a private directory) and
/// serves connections until dropped. Must be called inside the tokio runtime.
pub fn listen(handle: EngineHandle, path: Option<PathBuf>) -> io::Result<ControlSocket> {
    let path = match path {
        Some(path) => path,
        None => {
            super::private_dir(&super::socket_dir())?;
            super::default_socket()
        }
    };
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(io::Error::other(format!(
                "{} exists and is not a socket: sandmux does not replace it (give another --socket)",
                path.display()
            )));
        }
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(io::Error::other(format!(
                "{} is in use by another sandmux",
                path.display()
            )));
        }
        // A socket left behind by a sandmux that was killed.
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let task = tokio::spawn(accept(listener, handle));
    Ok(ControlSocket { path, task })
}

async fn accept(listener: UnixListener, handle: EngineHandle) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let allowed = stream
            .peer_cred()
            .is_ok_and(|cred| cred.uid() == super::euid());
        if !allowed {
            tokio::spawn(refuse(
                stream,
                "forbidden",
                "this sandmux belongs to another user",
            ));
            continue;
        }
        if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            tokio::spawn(refuse(
                stream,
                "too_many_connections",
                "this sandmux has too many connections open: close some and connect again",
            ));
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (handle, open) = (handle.clone(), Arc::clone(&open));
        tokio::spawn(async move {
            connection(stream, handle).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn refuse(mut stream: UnixStream, code: &str, message: &str) {
    let line = answer(&Value::Null, error_body(code, message));
    let _ = tokio::time::timeout(STALL, stream.write_all(line.as_bytes())).await;
}

/// Connections served at once, at most; one more is refused.
pub const MAX_CONNECTIONS: usize = 1024;
/// Bytes of answers waiting to be written to one connection, at most: whoever answers
/// waits while it is full (a subscription then falls behind and gets `lagged`).
pub const MAX_OUTBOX_BYTES: usize = 2 << 20;
/// Waits pending on one connection, at most.
pub const MAX_CONNECTION_WAITS: usize = 64;
/// A client that has not taken a single answer for this long is cut off.
pub const STALL: Duration = Duration::from_secs(60);

/// The answers of one connection on their way to its writer, bounded by their bytes.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::UnboundedSender<(String, tokio::sync::OwnedSemaphorePermit)>,
    room: Arc<tokio::sync::Semaphore>,
}

impl Outbox {
    /// Queues a line, waiting while the connection's answers fill [`MAX_OUTBOX_BYTES`];
    /// false when the connection is gone.
    async fn send(&self, line: String) -> bool {
        let bytes = line.len().clamp(1, MAX_OUTBOX_BYTES) as u32;
        let Ok(permit) = Arc::clone(&self.room).acquire_many_owned(bytes).await else {
            return false;
        };
        self.tx.send((line, permit)).is_ok()
    }
}

/// Per connection, per session: the line the next `wait` starts from (after the last input
/// sent or the last match on this connection).
type Cursors = Arc<Mutex<HashMap<String, u64>>>;

async fn connection(stream: UnixStream, handle: EngineHandle) {
    let (read, mut write) = stream.into_split();
    let (tx, mut lines) = mpsc::unbounded_channel::<(String, tokio::sync::OwnedSemaphorePermit)>();
    let room = Arc::new(tokio::sync::Semaphore::new(MAX_OUTBOX_BYTES));
    let out = Outbox {
        tx,
        room: Arc::clone(&room),
    };
    let writer = tokio::spawn(async move {
        while let Some((line, permit)) = lines.recv().await {
            // A client that takes nothing for a long time is cut off, freeing what it held.
            match tokio::time::timeout(STALL, write.write_all(line.as_bytes())).await {
                Ok(Ok(())) => drop(permit),
                _ => break,
            }
        }
        room.close();
    });
    let cursors: Cursors = Arc::default();
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        match read_line(&mut reader, &mut buf).await {
            Ok(Some(true)) => {
                let (id, request) = protocol::parse(&buf);
                let reply = match request {
                    Ok(request) => {
                        handle_request(request, &id, &handle, &out, &cursors, &mut running).await
                    }
                    Err(body) => Some(body),
                };
                if let Some(body) = reply
                    && !out.send(answer(&id, body)).await
                {
                    break;
                }
                running.retain(|task| !task.is_finished());
            }
            Ok(Some(false)) => {
                let body = error_body(
                    "too_large",
                    &format!("a request is at most {MAX_REQUEST} bytes; this one was skipped"),
                );
                if !out.send(answer(&Value::Null, body)).await {
                    break;
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    // The client went away: its waits and subscriptions end with it.
    for task in running {
        task.abort();
    }
    drop(out);
    let _ = writer.await;
}

/// Reads one line into `buf` (without its newline): `Some(true)`, or `Some(false)` for a
/// line over [`MAX_REQUEST`] (skipped to its end); `None` at the end of the stream.
async fn read_line(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    buf: &mut Vec<u8>,
) -> io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((!buf.is_empty() || too_long).then_some(!too_long));
        }
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(at) => (&available[..at], Some(at + 1)),
            None => (available, None),
        };
        if !too_long && buf.len() + chunk.len() > MAX_REQUEST {
            too_long = true;
            buf.clear();
        }
        if !too_long {
            buf.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(!too_long));
        }
    }
}

fn refused(code: &str, message: impl std::fmt::Display) -> Option<Value> {
    Some(error_body(code, &message.to_string()))
}

/// The refusal of one more wait or subscription on a connection that has its fill.
fn no_room(running: &mut Vec<JoinHandle<()>>, hint: &str) -> Option<Value> {
    running.retain(|task| !task.is_finished());
    (running.len() >= MAX_CONNECTION_WAITS).then(|| {
        let message = format!(
            "{MAX_CONNECTION_WAITS} waits and subscriptions are pending on this connection: {hint}"
        );
        error_body("too_many_waits", &message)
    })
}

/// Answers one request (or starts its task); `None` when a task answers later.
async fn handle_request(
    request: Request,
    id: &Value,
    handle: &EngineHandle,
    out: &Outbox,
    cursors: &Cursors,
    running: &mut Vec<JoinHandle<()>>,
) -> Option<Value> {
    let session_op = |session: String, op: SessionOp| Op::Session { name: session, op };
    let op = match request {
        Request::List => Op::List,
        Request::Stop => Op::Stop,
        Request::Add {
            declaration,
            name,
            keys,
            start_timeout_ms,
        } => {
            let spec = match add_spec(declaration, name, keys) {
                Ok(spec) => spec,
                Err(message) => return refused("invalid_spec", message),
            };
            let name = spec.name.clone();
            match handle.ask(Op::Add(Box::new(spec))).await {
                Some(Reply::Done { .. }) => {}
                Some(reply) => return Some(reply_body(reply)),
                None => return refused("stopping", "sandmux is stopping"),
            }
            let timeout = Duration::from_millis(start_timeout_ms.unwrap_or(60_000));
            if timeout.is_zero() {
                return Some(json!({"ok": true, "session": name}));
            }
            // The answer says whether it started, so `add` of a program that cannot run
            // fails with the reason.
            let (handle, id, out) = (handle.clone(), id.clone(), out.clone());
            running.push(tokio::spawn(async move {
                let body = match wait(&handle, &name, None, timeout, WaitFor::Started).await {
                    Ok((state, _)) => json!({"ok": true, "session": name,
                        "state": state["state"], "status": state["status"]}),
                    Err(("timeout", _)) => error_body(
                        "timeout",
                        &format!(
                            "session `{name}` was added but has not started within {} (it goes on starting)",
                            crate::units::format_duration(timeout)
                        ),
                    ),
                    Err((code, message)) => error_body(code, &message),
                };
                let _ = out.send(answer(&id, body)).await;
            }));
            return None;
        }
        Request::Remove { session } => session_op(session, SessionOp::Remove),
        Request::Close { session } => session_op(session, SessionOp::Close),
        Request::Kill { session } => session_op(session, SessionOp::Kill),
        Request::Restart { session } => session_op(session, SessionOp::Restart),
        Request::Interrupt { session } => session_op(session, SessionOp::Interrupt),
        Request::Approve {
            session,
            request_id,
            tool,
            input,
            always,
        } => {
            let pick = Pick {
                request_id,
                tool,
                input,
            };
            session_op(session, SessionOp::Approve { pick, always })
        }
        Request::Deny {
            session,
            request_id,
            tool,
            input,
            message,
        } => {
            let pick = Pick {
                request_id,
                tool,
                input,
            };
            session_op(session, SessionOp::Deny { pick, message })
        }
        Request::Send {
            session,
            text,
            raw,
            wait: then,
        } => {
            let op = if raw {
                SessionOp::SendLine(text)
            } else {
                SessionOp::SendTurn(text)
            };
            let Some(then) = then else {
                return Some(match send_input(handle, session, op, cursors).await {
                    Ok((seq, _)) => seq_body(seq),
                    Err(body) => body,
                });
            };
            if let Some(refusal) = no_room(running, "wait for fewer things at once") {
                return Some(refusal);
            }
            // Built before anything is sent: a bad pattern sends nothing.
            let (mut what, timeout) = match ops::send_wait(then) {
                Ok(wait) => wait,
                Err(message) => return refused("bad_request", message),
            };
            let (handle, id, out, cursors) =
                (handle.clone(), id.clone(), out.clone(), Arc::clone(cursors));
            running.push(tokio::spawn(async move {
                let body = match send_input(&handle, session.clone(), op, &cursors).await {
                    Err(body) => body,
                    Ok((seq, turns_ahead)) => {
                        // The end of this input's own turn: after those running before it.
                        if let WaitFor::TurnEnd { skip } = &mut what {
                            *skip = turns_ahead;
                        }
                        match wait(&handle, &session, seq, timeout, what).await {
                            Ok((matched, next)) => {
                                json!({"ok": true, "seq": seq, "matched": matched, "next": next})
                            }
                            Err((code, message)) => {
                                let mut body = error_body(code, &message);
                                body["seq"] = json!(seq);
                                body
                            }
                        }
                    }
                };
                let _ = out.send(answer(&id, body)).await;
            }));
            return None;
        }
        Request::Write {
            session,
            data,
            data_b64,
        } => {
            let bytes = match (data, data_b64) {
                (Some(text), None) => text.into_bytes(),
                (None, Some(b64)) => match base64::engine::general_purpose::STANDARD.decode(b64) {
                    Ok(bytes) => bytes,
                    Err(err) => return refused("bad_request", format!("data_b64: {err}")),
                },
                _ => return refused("bad_request", "`write` takes `data` or `data_b64`"),
            };
            return Some(
                match send_input(handle, session, SessionOp::Write(bytes), cursors).await {
                    Ok((seq, _)) => seq_body(seq),
                    Err(body) => body,
                },
            );
        }
        Request::Signal { session, signal } => {
            let number = match &signal {
                Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
                Value::String(name) => parse_signal(name),
                _ => None,
            };
            match number.filter(|n| (1..=64).contains(n)) {
                Some(number) => session_op(session, SessionOp::Signal(number)),
                None => {
                    return refused(
                        "bad_request",
                        format!(
                            "unknown signal {signal} (try \"INT\", \"TERM\", \"KILL\" or a number)"
                        ),
                    );
                }
            }
        }
        Request::Read {
            session,
            from,
            limit,
        } => Op::Read {
            name: session,
            from,
            limit: limit.unwrap_or(1000).min(100_000),
        },
        Request::Subscribe { session, from } => {
            if let Some(refusal) = no_room(running, "subscribe on another") {
                return Some(refusal);
            }
            let op = Op::Subscribe {
                name: session,
                from,
                capacity: 1024,
            };
            return match handle.ask(op).await {
                Some(Reply::Subscribed(rx, _)) => {
                    running.push(tokio::spawn(forward(rx, id.clone(), out.clone())));
                    Some(json!({"ok": true, "subscribed": true}))
                }
                Some(reply) => Some(reply_body(reply)),
                None => refused("stopping", "sandmux is stopping"),
            };
        }
        Request::Wait {
            session,
            from,
            timeout_ms,
            stream,
            regex,
            literal,
            json,
            turn_end,
            exit,
            activity,
        } => {
            if let Some(refusal) = no_room(running, "wait for fewer things at once") {
                return Some(refusal);
            }
            let what = match wait_for(regex, literal, json, turn_end, exit, activity, stream) {
                Ok(what) => what,
                Err(message) => return refused("bad_request", message),
            };
            let from = from.or_else(|| cursors.lock().ok()?.get(&session).copied());
            let timeout = Duration::from_millis(timeout_ms.unwrap_or(10_000));
            let (handle, id, out, cursors) =
                (handle.clone(), id.clone(), out.clone(), Arc::clone(cursors));
            running.push(tokio::spawn(async move {
                let body = match wait(&handle, &session, from, timeout, what).await {
                    Ok((matched, next)) => {
                        if let Ok(mut cursors) = cursors.lock() {
                            cursors.insert(session, next);
                        }
                        json!({"ok": true, "matched": matched, "next": next})
                    }
                    Err((code, message)) => error_body(code, &message),
                };
                let _ = out.send(answer(&id, body)).await;
            }));
            return None;
        }
    };
    match handle.ask(op).await {
        Some(reply) => Some(reply_body(reply)),
        None => refused("stopping", "sandmux is stopping"),
    }
}

/// Sends input and remembers where it shows, so this connection's next `wait` starts there.
/// Done once the bytes are written to the program's stdin (or never will be): a session
/// that does not read holds its writer back instead of sandmux's memory. Gives the input's
/// first line and the agent turns ahead of it, or the error answer.
async fn send_input(
    handle: &EngineHandle,
    session: String,
    op: SessionOp,
    cursors: &Cursors,
) -> Result<(Option<u64>, u64), Value> {
    let reply = handle
        .ask(Op::Session {
            name: session.clone(),
            op,
        })
        .await;
    let seq = match &reply {
        Some(Reply::Done { seq } | Reply::Sent { seq, .. }) => *seq,
        _ => None,
    };
    if let Some(seq) = seq
        && let Ok(mut cursors) = cursors.lock()
    {
        cursors.insert(session, seq);
    }
    let stopping = || error_body("stopping", "sandmux is stopping");
    match reply {
        Some(Reply::Sent {
            seq,
            delivered,
            turns_ahead,
        }) => match delivered.await {
            Ok(Ok(())) => Ok((seq, turns_ahead)),
            Ok(Err(why)) => Err(error_body("not_delivered", &why)),
            Err(_) => Err(stopping()),
        },
        Some(Reply::Done { seq }) => Ok((seq, 0)),
        Some(reply) => Err(reply_body(reply)),
        None => Err(stopping()),
    }
}

fn seq_body(seq: Option<u64>) -> Value {
    match seq {
        Some(seq) => json!({"ok": true, "seq": seq}),
        None => json!({"ok": true}),
    }
}

fn reply_body(reply: Reply) -> Value {
    match reply {
        Reply::Done { seq: Some(seq) } | Reply::Sent { seq: Some(seq), .. } => {
            json!({"ok": true, "seq": seq})
        }
        Reply::Done { seq: None } | Reply::Sent { seq: None, .. } => json!({"ok": true}),
        Reply::Error { code, message } => error_body(code, &message),
        Reply::List(sessions) => json!({"ok": true, "sessions": sessions}),
        Reply::Lines(lines) => {
            let mut body = serde_json::to_value(lines).unwrap_or(Value::Null);
            body["ok"] = json!(true);
            body
        }
        Reply::Subscribed(..) => json!({"ok": true, "subscribed": true}),
        Reply::Waiting(_) => json!({"ok": true}),
    }
}

/// Forwards a subscription's items to the client, each with the request's id, until the
/// client stops reading (then the engine's side sees its queue fill: `lagged`).
async fn forward(mut rx: crate::engine::feed::FeedReceiver, id: Value, out: Outbox) {
    while let Some(item) = rx.recv().await {
        let lagged = matches!(item, crate::engine::FeedItem::Lagged { .. });
        let body = serde_json::to_value(&item).unwrap_or(Value::Null);
        if !out.send(answer(&id, body)).await || lagged {
            return;
        }
    }
}
