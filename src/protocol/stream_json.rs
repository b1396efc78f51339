//! The stream-json protocol of agent CLIs (`--input-format stream-json --output-format
//! stream-json`): one JSON object a line each way. Parsing is tolerant: a line that is not
//! JSON is just not an event, unknown `type`s are kept, and fields may be missing.

use serde_json::{Value, json};

/// The JSON line (without newline) that sends `text` as a user turn:
/// `{"type":"user","message":{"role":"user","content":TEXT}}`. Use [`super::frame_turn`]
/// to send a turn.
pub fn user_message(text: &str) -> String {
    json!({
        "type": "user",
        "message": {"role": "user", "content": text},
    })
    .to_string()
}

/// Whether `text` is one JSON object (what a power user types to send an event as it is).
pub fn is_json_object(text: &str) -> bool {
    let trimmed = text.trim();
    trimmed.starts_with('{') && serde_json::from_str::<Value>(trimmed).is_ok_and(|v| v.is_object())
}

/// The text of a user message line (`{"type":"user","message":{"content":...}}`), when the
/// line is one: what the chat view shows as the user's own turn.
pub fn user_text(value: &Value) -> Option<String> {
    if event_type(value) != Some("user") {
        return None;
    }
    let content = value.pointer("/message/content")?;
    let is_tool_result = content.as_array().is_some_and(|blocks| {
        blocks
            .iter()
            .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
    });
    (!is_tool_result).then(|| content_text(content))
}

/// Parses one output line as a JSON value. Invalid UTF-8, malformed JSON and JSON nested
/// deeper than serde_json's limit (128) are `None`, never a panic or a stack overflow.
pub fn parse_line(bytes: &[u8]) -> Option<Value> {
    let trimmed = bytes.trim_ascii();
    if !trimmed.starts_with(b"{") && !trimmed.starts_with(b"[") && !trimmed.starts_with(b"\"") {
        // Cheap rejection of ordinary text; scalars other than strings are rare as lines.
        if !matches!(
            trimmed.first(),
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
        ) {
            return None;
        }
    }
    serde_json::from_slice(trimmed).ok()
}

/// The `type` of an event object.
pub fn event_type(value: &Value) -> Option<&str> {
    value.get("type").and_then(Value::as_str)
}

/// What a `result` event says about the turn it ends.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TurnResult {
    pub is_error: bool,
    pub subtype: Option<String>,
    pub num_turns: Option<u64>,
    pub duration_ms: Option<f64>,
    /// What this turn cost. A `result` alone gives only `cost_usd` when the CLI reports a
    /// per-turn cost; sandmux fills in the growth of the running total (see
    /// [`super::tracker::TurnSummary`]).
    pub cost_usd: Option<f64>,
    /// What the session has cost so far (`total_cost_usd`: a running total).
    pub total_cost_usd: Option<f64>,
    /// Why the turn failed, named ([`failure`]); `None` when it did not.
    pub failure: Option<String>,
    /// The final text of the turn.
    pub result: Option<String>,
    pub session_id: Option<String>,
}

/// The turn result, when `value` is a `result` event.
pub fn turn_result(value: &Value) -> Option<TurnResult> {
    if event_type(value) != Some("result") {
        return None;
    }
    let subtype = value
        .get("subtype")
        .and_then(Value::as_str)
        .map(str::to_string);
    let is_error = value
        .get("is_error")
        .and_then(Value::as_bool)
        .unwrap_or_else(|| subtype.as_deref().is_some_and(|s| s.starts_with("error")));
    let money = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite() && *c >= 0.0)
    };
    Some(TurnResult {
        is_error,
        subtype,
        num_turns: value.get("num_turns").and_then(Value::as_u64),
        duration_ms: value.get("duration_ms").and_then(Value::as_f64),
        cost_usd: money("cost_usd"),
        total_cost_usd: money("total_cost_usd"),
        failure: None,
        result: value
            .get("result")
            .and_then(Value::as_str)
            .map(str::to_string),
        session_id: session_id(value).map(str::to_string),
    })
}

/// Why a `result` says its turn failed, named for people: `interrupted` (an interrupt was
/// sent, or the CLI says it aborted), `overloaded (529)`, `API error 500`, `API error` (the
/// API could not be reached), `max turns reached`, ...; `None` for a turn that succeeded.
///
/// Claude Code reports an API failure as `subtype: "success"` with `is_error: true` and an
/// `api_error_status`: the subtype alone would say "success".
pub fn failure(value: &Value, interrupted: bool) -> Option<String> {
    let result = turn_result(value)?;
    if !result.is_error {
        return None;
    }
    let terminal = value
        .get("terminal_reason")
        .and_then(Value::as_str)
        .unwrap_or("");
    if interrupted || terminal.starts_with("aborted") {
        return Some("interrupted".into());
    }
    let status = value.get("api_error_status").and_then(Value::as_u64);
    let text = result.result.as_deref().unwrap_or("");
    Some(match status {
        Some(529) => "overloaded (529)".into(),
        Some(code) => format!("API error {code}"),
        None if text.contains("Overloaded") => "overloaded".into(),
        None if terminal == "api_error" || text.starts_with("API Error") => "API error".into(),
        None => match result.subtype.as_deref() {
            Some("error_max_turns") => "max turns reached".into(),
            Some("error_during_execution") => "error during execution".into(),
            Some("error_max_budget_usd") => "budget reached".into(),
            Some(other) if other != "success" => other.replace('_', " "),
            _ => "error".into(),
        },
    })
}

/// The CLI's own message about a failed turn, once: its `result` text without a leading
/// `API Error: 500 ` that [`failure`] already names.
pub fn failure_message(value: &Value) -> Option<String> {
    let text = value.get("result").and_then(Value::as_str)?.trim();
    let rest = text
        .strip_prefix("API Error:")
        .map(|rest| {
            let rest = rest.trim_start();
            rest.split_once(' ')
                .filter(|(code, _)| code.chars().all(|c| c.is_ascii_digit()))
                .map_or(rest, |(_, after)| after)
        })
        .unwrap_or(text);
    (!rest.is_empty()).then(|| rest.to_string())
}

/// One line for a `system` `api_retry` record: `retrying (attempt 1 of 2) in 0.6s: HTTP 500`.
pub fn retry_text(value: &Value) -> Option<String> {
    if event_type(value) != Some("system")
        || value.get("subtype").and_then(Value::as_str) != Some("api_retry")
    {
        return None;
    }
    let number = |key: &str| value.get(key).and_then(Value::as_u64);
    let mut text = "retrying".to_string();
    match (number("attempt"), number("max_retries")) {
        (Some(n), Some(of)) => text.push_str(&format!(" (attempt {n} of {of})")),
        (Some(n), None) => text.push_str(&format!(" (attempt {n})")),
        _ => {}
    }
    if let Some(ms) = number("retry_delay_ms") {
        text.push_str(&format!(
            " in {}",
            crate::units::format_duration(std::time::Duration::from_millis(ms))
        ));
    }
    let why = match (
        number("error_status"),
        value.get("error").and_then(Value::as_str),
    ) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some("unknown") | None) => "the connection failed".to_string(),
        (None, Some(error)) => error.to_string(),
    };
    text.push_str(": ");
    text.push_str(&why);
    Some(text)
}

/// `session_id`, or `sessionId` as some versions spell it.
pub fn session_id(value: &Value) -> Option<&str> {
    value
        .get("session_id")
        .or_else(|| value.get("sessionId"))
        .and_then(Value::as_str)
}

/// Whether a line is a `result` event (cheap test before parsing).
pub fn is_result_line(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"\"result\"").is_some()
        && parse_line(bytes).is_some_and(|v| event_type(&v) == Some("result"))
}

/// The text of `content`, which may be a string or a list of blocks with `text`.
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str).or_else(|| b.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_messages_are_one_json_line() {
        let line = user_message("hi \"there\"\nsecond");
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["type"], "user");
        assert_eq!(v["message"]["content"], "hi \"there\"\nsecond");
    }

    #[test]
    fn results_are_read_tolerantly() {
        let v = parse_line(br#"{"type":"result","subtype":"success","is_error":false,"num_turns":2,"duration_ms":1200,"total_cost_usd":0.0123,"result":"done","sessionId":"s1"}"#).unwrap();
        let r = turn_result(&v).unwrap();
        assert!(!r.is_error);
        assert_eq!(r.num_turns, Some(2));
        assert_eq!(r.total_cost_usd, Some(0.0123));
        assert_eq!(r.cost_usd, None, "a running total is not a turn's cost");
        assert_eq!(r.session_id.as_deref(), Some("s1"));
        let v = parse_line(br#"{"type":"result","subtype":"error_max_turns"}"#).unwrap();
        assert!(turn_result(&v).unwrap().is_error);
        assert!(turn_result(&parse_line(br#"{"type":"assistant"}"#).unwrap()).is_none());
    }

    #[test]
    fn bad_lines_are_not_events() {
        assert!(parse_line(b"plain text").is_none());
        assert!(parse_line(b"{not json").is_none());
        assert!(parse_line(b"\xff\xfe{}").is_none());
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(
            parse_line(deep.as_bytes()).is_none(),
            "too deep is refused, not a stack overflow"
        );
        assert!(parse_line(b"  {\"a\":1}  ").is_some());
        assert!(is_result_line(br#"{"type":"result"}"#));
        assert!(!is_result_line(
            br#"{"type":"assistant","text":"the result"}"#
        ));
    }

    #[test]
    fn content_may_be_a_string_or_blocks() {
        assert_eq!(content_text(&json!("x")), "x");
        assert_eq!(
            content_text(&json!([{"type":"text","text":"a"},{"type":"text","text":"b"}])),
            "a\nb"
        );
    }
}
