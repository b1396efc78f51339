//! `sandmux demo-agent`: a stand-in agent CLI that speaks stream-json, so the demo and the
//! tests need nothing installed. It prints a `system`/`init` event, then for every input
//! line (a stream-json user message, or plain text) an assistant message, a tool use and its
//! result when asked to look something up, and a `result` event that ends the turn.
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
        let text = match stream_json::parse_line(line.as_bytes()) {
            Some(v) if stream_json::event_type(&v) == Some("user") => stream_json::content_text(
                v.get("message")
                    .and_then(|m| m.get("content"))
                    .unwrap_or(&Value::Null),
            ),
            Some(_) => {
                let _ = emit(
                    json!({"type": "system", "subtype": "warning", "session_id": session, "message": "ignored a line that is not a user message"}),
                );
                continue;
            }
            None => line.clone(),
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
