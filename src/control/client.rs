//! `sandmux ctl`: one operation of the control socket from the command line. Answers are
//! printed as text for people (everything from sessions made printable first) or, with
//! `--json`, as the socket's JSON lines.
//!
//! Exit status: 0 done; 1 the operation failed (an error answer, a `wait` that timed out);
//! 2 a bad command line, or no sandmux to talk to.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::cli::{CtlArgs, CtlOp};
use crate::script::{parse_json_predicate, parse_pattern};
use crate::text::printable;

/// Exit status for a bad command line or no sandmux to reach.
const USAGE: i32 = 2;

/// Runs one `sandmux ctl` operation; returns the exit status.
pub async fn run(args: CtlArgs) -> i32 {
    let request = match request(&args.op) {
        Ok(request) => request,
        Err(message) => {
            crate::say!("sandmux ctl: {message}");
            return USAGE;
        }
    };
    let path = match socket(args.socket.clone()) {
        Ok(path) => path,
        Err(message) => {
            crate::say!("sandmux ctl: {message}");
            return USAGE;
        }
    };
    let within = match crate::units::parse_duration(&args.answer_within) {
        Ok(within) => within,
        Err(err) => {
            crate::say!("sandmux ctl: --answer-within: {err}");
            return USAGE;
        }
    };
    let stream = match tokio::time::timeout(within, UnixStream::connect(&path)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            crate::say!("sandmux ctl: cannot connect to {}: {err}", path.display());
            return USAGE;
        }
        Err(_) => {
            crate::say!(
                "sandmux ctl: {} did not accept the connection within {}",
                path.display(),
                args.answer_within
            );
            return USAGE;
        }
    };
    // Only a sandmux of this user is told anything.
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == super::euid() => {}
        Ok(cred) => {
            crate::say!(
                "sandmux ctl: {} is served by another user (uid {}): not talking to it",
                path.display(),
                cred.uid()
            );
            return USAGE;
        }
        Err(err) => {
            crate::say!(
                "sandmux ctl: cannot tell who serves {}: {err}",
                path.display()
            );
            return USAGE;
        }
    }
    let (read, mut write) = stream.into_split();
    let mut line = request.to_string();
    line.push('\n');
    if let Err(err) = write.write_all(line.as_bytes()).await {
        crate::say!("sandmux ctl: cannot send to {}: {err}", path.display());
        return USAGE;
    }
    let mut lines = BufReader::new(read).lines();
    let subscribe = matches!(args.op, CtlOp::Subscribe { .. });
    // How long the first answer may take: a `wait` its own timeout more.
    let first_within = match &args.op {
        CtlOp::Wait { timeout, .. } | CtlOp::Add { timeout, .. } => {
            within + crate::units::parse_duration(timeout).unwrap_or_default()
        }
        CtlOp::Send {
            timeout,
            wait,
            wait_turn,
            ..
        } if wait.is_some() || *wait_turn => {
            within + crate::units::parse_duration(timeout).unwrap_or_default()
        }
        _ => within,
    };
    let mut code = 0;
    let mut answers = 0u64;
    loop {
        // A subscription's later events come when they come.
        let read = lines.next_line();
        let next = if subscribe && answers > 0 {
            Ok(read.await)
        } else {
            tokio::time::timeout(first_within, read).await
        };
        answers += 1;
        let answer = match next {
            Ok(Ok(Some(answer))) => answer,
            Ok(Ok(None)) if subscribe => return code,
            // `stop` is done when sandmux is gone, answer or not.
            Ok(Ok(None) | Err(_)) if matches!(args.op, CtlOp::Stop) => return 0,
            Ok(Ok(None) | Err(_)) => {
                crate::say!("sandmux ctl: sandmux closed the connection");
                return 1;
            }
            Err(_) => {
                crate::say!(
                    "sandmux ctl: {} did not answer within {} (it may be stopped or stuck; --answer-within waits longer)",
                    path.display(),
                    crate::units::format_duration(first_within)
                );
                return 1;
            }
        };
        let value: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        if args.json {
            // The server is ours, but what it relays comes from sessions.
            crate::out!("{}", crate::text::json_line_safe(&answer));
        }
        if value["ok"] == json!(false) {
            if !args.json {
                let message = value["error"]["message"].as_str().unwrap_or("failed");
                crate::say!("sandmux ctl: {}", printable(message.as_bytes()));
            }
            return 1;
        }
        if !args.json {
            code = print_plain(&args.op, &value);
        }
        // A subscription goes on until sandmux or the reader ends it.
        if !subscribe || value["event"] == json!("lagged") {
            let _ = std::io::stdout().flush();
            return if value["event"] == json!("lagged") {
                1
            } else {
                code
            };
        }
    }
}

/// The socket to talk to: `--socket`, or the only live one of this user (in a directory
/// that is this user's alone, as `serve` makes it).
fn socket(given: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = given {
        return Ok(path);
    }
    let dir = super::socket_dir();
    super::trusted_dir(&dir)?;
    let live = super::live_sockets(&dir);
    match live.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "no sandmux is running for this user (no live socket in {}): start one, or pass --socket PATH",
            dir.display()
        )),
        many => Err(format!(
            "{} sandmux are running ({}): pass --socket PATH",
            many.len(),
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The JSON request of an operation.
fn request(op: &CtlOp) -> Result<Value, String> {
    let mut body = match op {
        CtlOp::List => json!({"op": "list"}),
        CtlOp::Stop => json!({"op": "stop"}),
        CtlOp::Add {
            declaration,
            timeout,
        } => {
            let timeout =
                crate::units::parse_duration(timeout).map_err(|e| format!("--timeout: {e}"))?;
            json!({"op": "add", "declaration": declaration.join(" "),
                "start_timeout_ms": timeout.as_millis() as u64})
        }
        CtlOp::Remove { session } => json!({"op": "remove", "session": session}),
        CtlOp::Send {
            session,
            text,
            raw,
            wait,
            wait_turn,
            timeout,
        } => {
            let mut body =
                json!({"op": "send", "session": session, "text": text.join(" "), "raw": raw});
            if wait.is_some() || *wait_turn {
                let timeout =
                    crate::units::parse_duration(timeout).map_err(|e| format!("--timeout: {e}"))?;
                let mut then = json!({"timeout_ms": timeout.as_millis() as u64});
                match wait {
                    Some(text) => wait_pattern(&mut then, text)?,
                    None => then["turn_end"] = json!(true),
                }
                body["wait"] = then;
            }
            body
        }
        CtlOp::Write { session, data } => {
            let quoted = format!("\"{}\"", data.replace('"', "\\\""));
            let (bytes, _) = crate::text::unquote(&quoted).map_err(|(_, why)| why)?;
            match String::from_utf8(bytes) {
                Ok(text) => json!({"op": "write", "session": session, "data": text}),
                Err(err) => {
                    use base64::Engine as _;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(err.as_bytes());
                    json!({"op": "write", "session": session, "data_b64": b64})
                }
            }
        }
        CtlOp::Close { session } => json!({"op": "close", "session": session}),
        CtlOp::Kill { session } => json!({"op": "kill", "session": session}),
        CtlOp::Restart { session } => json!({"op": "restart", "session": session}),
        CtlOp::Interrupt { session } => json!({"op": "interrupt", "session": session}),
        CtlOp::Approve {
            session,
            tool,
            always,
            input,
            id,
        } => json!({"op": "approve", "session": session, "tool": tool, "always": always,
            "input": input, "request_id": id}),
        CtlOp::Deny {
            session,
            message,
            tool,
            input,
            id,
        } => json!({"op": "deny", "session": session, "message": message, "tool": tool,
            "input": input, "request_id": id}),
        CtlOp::Signal { session, signal } => {
            let signal = match signal.parse::<i64>() {
                Ok(number) => json!(number),
                Err(_) => json!(signal),
            };
            json!({"op": "signal", "session": session, "signal": signal})
        }
        CtlOp::Read {
            session,
            from,
            limit,
        } => json!({"op": "read", "session": session, "from": from, "limit": limit}),
        CtlOp::Subscribe { session, from } => {
            json!({"op": "subscribe", "session": session, "from": from})
        }
        CtlOp::Wait {
            session,
            pattern,
            timeout,
            from,
            stream,
            expect_json: predicate,
            turn,
            exit,
            activity,
        } => {
            let timeout =
                crate::units::parse_duration(timeout).map_err(|e| format!("--timeout: {e}"))?;
            let mut body = json!({
                "op": "wait",
                "session": session,
                "timeout_ms": timeout.as_millis() as u64,
                "from": from,
                "stream": stream,
            });
            let mut kinds = 0;
            if let Some(text) = pattern {
                kinds += 1;
                wait_pattern(&mut body, text)?;
            }
            if let Some(text) = predicate {
                kinds += 1;
                let (pointer, op) = parse_json_predicate(text)
                    .map_err(|e| format!("--expect-json: column {}: {}", e.col, e.message))?;
                let (op, value) = op.parts();
                body["json"] = json!({"pointer": pointer, "op": op, "value": value});
            }
            if *turn {
                kinds += 1;
                body["turn_end"] = json!(true);
            }
            if let Some(code) = exit {
                kinds += 1;
                body["exit"] = match code.as_str() {
                    "any" => json!(true),
                    number => json!(
                        number
                            .parse::<i32>()
                            .map_err(|_| format!("--exit takes an exit code, not `{number}`"))?
                    ),
                };
            }
            if let Some(activity) = activity {
                kinds += 1;
                body["activity"] = json!(activity.replace(' ', "_"));
            }
            if kinds != 1 {
                return Err(
                    "wait for exactly one thing: a PATTERN, --expect-json, --turn, --exit or --activity"
                        .into(),
                );
            }
            body
        }
    };
    body["id"] = json!(1);
    // Leave out what was not given.
    if let Some(object) = body.as_object_mut() {
        object.retain(|_, v| !v.is_null());
    }
    Ok(body)
}

/// A wait pattern as `expect` writes it: `/regex/`, `"literal"`, or plain text (a literal).
fn wait_pattern(body: &mut Value, text: &str) -> Result<(), String> {
    if !(text.starts_with('/') || text.starts_with('"')) {
        body["literal"] = json!(text);
        return Ok(());
    }
    let pattern =
        parse_pattern(text).map_err(|e| format!("pattern: column {}: {}", e.col, e.message))?;
    if let Some(source) = pattern.regex_source() {
        body["regex"] = json!(source);
    } else if let crate::matcher::Pattern::Literal(bytes) = &pattern {
        body["literal"] = json!(String::from_utf8_lossy(bytes));
    }
    Ok(())
}

/// Prints an answer for people; returns the exit status it means.
fn print_plain(op: &CtlOp, value: &Value) -> i32 {
    let text = |v: &Value| printable(v.as_str().unwrap_or("").as_bytes());
    match op {
        CtlOp::List => print_list(value),
        CtlOp::Add { .. } => crate::out!(
            "{}: {}",
            text(&value["session"]),
            text(if value["status"].is_null() {
                &value["state"]
            } else {
                &value["status"]
            })
        ),
        CtlOp::Send { .. } | CtlOp::Write { .. } if value["matched"].is_null() => {
            if let Some(seq) = value["seq"].as_u64() {
                crate::out!("{seq}");
            }
        }
        CtlOp::Read { .. } => {
            for line in value["lines"].as_array().into_iter().flatten() {
                print_line(line);
            }
        }
        CtlOp::Subscribe { .. } => match value["event"].as_str() {
            Some("line") => print_line(value),
            Some("state") => {
                crate::out!("# {}: {}", text(&value["session"]), text(&value["status"]))
            }
            Some("approval") => crate::out!(
                "# {} asks to use {}: {} (sandmux ctl approve {} / deny {})",
                text(&value["session"]),
                text(&value["tool"]),
                text(&value["summary"]),
                text(&value["session"]),
                text(&value["session"]),
            ),
            Some("approval_closed") => crate::out!(
                "# {}: permission request {}",
                text(&value["session"]),
                text(&value["answer"]).replace('_', " "),
            ),
            Some("lagged") => crate::say!(
                "sandmux ctl: fell behind; subscribe again with --from {}",
                value["resume_from"]
            ),
            _ => {}
        },
        CtlOp::Wait { .. } | CtlOp::Send { .. } => {
            let matched = &value["matched"];
            match matched["event"].as_str() {
                Some("line" | "partial") => print_line(matched),
                Some("json" | "turn_end") => {
                    crate::out!("{}", printable(matched["value"].to_string().as_bytes()))
                }
                Some("state") => crate::out!("{}", text(&matched["status"])),
                Some("activity") => crate::out!("{}", text(&matched["activity"]).replace('_', " ")),
                _ => {}
            }
        }
        _ => {}
    }
    0
}

/// `list` as a table: a header, columns as wide as their widest cell, the status last.
fn print_list(value: &Value) {
    let text = |v: &Value| printable(v.as_str().unwrap_or("").as_bytes());
    let mut rows = vec![[
        "NAME".to_string(),
        "STATE".into(),
        "ACTIVITY".into(),
        "BACKEND".into(),
        "PROTOCOL".into(),
        "STATUS".into(),
    ]];
    for s in value["sessions"].as_array().into_iter().flatten() {
        rows.push([
            text(&s["name"]),
            text(&s["state"]),
            text(&s["activity"]).replace('_', " "),
            text(&s["backend"]),
            text(&s["protocol"]),
            text(&s["status"]),
        ]);
    }
    let width = |column: usize| {
        rows.iter()
            .map(|row| unicode_width::UnicodeWidthStr::width(row[column].as_str()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..5).map(width).collect();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let pad = width - unicode_width::UnicodeWidthStr::width(cell.as_str());
            line.push_str(cell);
            line.push_str(&" ".repeat(pad + 2));
        }
        line.push_str(&row[5]);
        crate::out!("{line}");
    }
}

/// One line of a session, printable; input marked as in the TUI.
fn print_line(line: &Value) {
    let body = printable(line["text"].as_str().unwrap_or("").as_bytes());
    if line["stream"] == json!("stdin") {
        crate::out!("› {body}");
    } else {
        crate::out!("{body}");
    }
}
