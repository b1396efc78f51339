//! `sandmux demo-agent`: a stand-in agent CLI that speaks stream-json, so the demo and the
//! tests need nothing installed. It prints a `system`/`init` event, then for every input
//! line (a stream-json user message) an assistant message, a tool use and its result when
//! asked to look something up, and a `result` event that ends the turn.
//!
//! It is as strict as a real agent CLI run with `--input-format stream-json`: a line that is
//! not a JSON user message gets a line on stderr and an error `result`, never an answer.
//!
//! A message containing "fail" ends its turn with `is_error: true`; one containing
//! "slow" takes a second.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::protocol::stream_json;

/// Runs the demo agent on stdin/stdout until EOF. Returns the exit status.
pub fn run(delay: Duration) -> i32 {
    let session = format!("demo-{}", std::process::id());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut emit =
        |value: Value| -> bool { writeln!(out, "{value}").and_then(|_| out.flush()).is_ok() };
    if !emit(json!({
        "type": "system", "subtype": "init", "session_id": session,
        "model": "demo-agent-1", "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "tools": ["Read", "Grep", "Bash"], "permissionMode": "default",
    })) {
        return 0;
    }
    let mut total_cost = 0.0;
    for (turn, line) in std::io::stdin().lock().lines().enumerate() {
        let Ok(line) = line else { break };
        let started = Instant::now();
        let text = match user_turn(&line) {
            Ok(Some(text)) => text,
            Ok(None) => continue,
            Err(why) => {
                // What a real agent CLI in stream-json mode does with input it cannot read:
                // a line on stderr and a failed turn.
                let _ = writeln!(
                    std::io::stderr(),
                    "Error: invalid stream-json input line {}: {why}",
                    turn + 1
                );
                let _ = emit(json!({
                    "type": "result", "subtype": "error_during_execution", "is_error": true,
                    "num_turns": 0, "duration_ms": 0, "result": format!("invalid input: {why}"),
                    "session_id": session,
                }));
                continue;
            }
        };
        if text.contains("slow") {
            std::thread::sleep(Duration::from_secs(1));
        }
        std::thread::sleep(delay);
        let mut turns = 1;
        if text.contains("look") || text.contains("read") {
            turns = 2;
            let id = format!("toolu_{turn}");
            let _ = emit(
                json!({"type": "assistant", "session_id": session, "message": {"model": "demo-agent-1", "role": "assistant", "content": [
                    {"type": "thinking", "thinking": "The user wants me to look something up."},
                    {"type": "tool_use", "id": id, "name": "Grep", "input": {"pattern": text, "path": "."}},
                ]}}),
            );
            let _ = emit(
                json!({"type": "user", "session_id": session, "message": {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": id, "content": "README.md:1: found it\nsrc/lib.rs:3: also here", "is_error": false},
                ]}}),
            );
        }
        let failed = text.contains("fail");
        let reply = if failed {
            "I could not do that.".to_string()
        } else {
            format!("You said: {text}")
        };
        let _ = emit(
            json!({"type": "assistant", "session_id": session, "message": {"model": "demo-agent-1", "role": "assistant",
            "content": [{"type": "text", "text": reply}], "usage": {"input_tokens": 12 + text.len(), "output_tokens": 8}}}),
        );
        let cost = 0.0001 * (1 + text.len() / 10) as f64;
        total_cost += cost;
        let duration_ms = started.elapsed().as_millis() as u64;
        if !emit(json!({
            "type": "result",
            "subtype": if failed { "error_during_execution" } else { "success" },
            "is_error": failed, "num_turns": turns, "duration_ms": duration_ms, "duration_api_ms": duration_ms,
            "total_cost_usd": cost, "result": reply, "session_id": session,
            "usage": {"input_tokens": 12 + text.len(), "output_tokens": 8}, "cumulative_cost_usd": total_cost,
        })) {
            return 0;
        }
    }
    0
}

/// The text of one input line: `Ok(None)` for a blank line, an error saying why a line is not
/// a stream-json user message.
fn user_turn(line: &str) -> Result<Option<String>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(line.trim())
        .map_err(|err| format!("not JSON ({err}); expected {{\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":\"...\"}}}}"))?;
    if stream_json::event_type(&value) != Some("user") {
        return Err(format!(
            "expected a message of type \"user\", got {}",
            value
                .get("type")
                .map_or("no type".to_string(), Value::to_string)
        ));
    }
    let content = value
        .pointer("/message/content")
        .ok_or("the user message has no message.content")?;
    match content {
        Value::String(_) | Value::Array(_) => Ok(Some(stream_json::content_text(content))),
        _ => Err("message.content must be a string or a list of blocks".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_user_messages_are_turns() {
        let ok = r#"{"type":"user","message":{"role":"user","content":"hi"}}"#;
        assert_eq!(user_turn(ok).unwrap().as_deref(), Some("hi"));
        assert_eq!(user_turn("   ").unwrap(), None);
        assert!(user_turn("hello").unwrap_err().starts_with("not JSON"));
        assert!(
            user_turn(r#"{"type":"assistant"}"#)
                .unwrap_err()
                .contains("\"assistant\"")
        );
        assert!(
            user_turn(r#"{"type":"user"}"#)
                .unwrap_err()
                .contains("message.content")
        );
    }
}
