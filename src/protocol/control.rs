//! The control protocol of agent CLIs in stream-json mode (Claude Code's): requests and
//! responses that share the session's pipes with the conversation, one JSON object a line.
//!
//! ```text
//! host → CLI  {"type":"control_request","request_id":"sandmux-1","request":{"subtype":"interrupt"}}
//! CLI → host  {"type":"control_response","response":{"subtype":"success","request_id":"sandmux-1",...}}
//! CLI → host  {"type":"control_request","request_id":"ID","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{...}}}
//! host → CLI  {"type":"control_response","response":{"subtype":"success","request_id":"ID","response":{"behavior":"allow","updatedInput":{...}}}}
//! CLI → host  {"type":"control_cancel_request","request_id":"ID"}
//! ```
//! Parsing is tolerant (a line that is not a control message is `None`); building is exact.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::stream_json::event_type;

/// A control message read from a line (either direction).
#[derive(Debug, Clone, PartialEq)]
pub enum ControlMessage {
    /// A request: its id, subtype and the whole `request` object.
    Request {
        id: String,
        subtype: String,
        request: Value,
    },
    /// The other side withdraws its request `id`.
    Cancel { id: String },
    /// An answer to request `id`: `error` is set for an error response; for a permission
    /// answer, `behavior` is `allow` or `deny` (with `message`).
    Response {
        id: String,
        error: Option<String>,
        behavior: Option<String>,
        message: Option<String>,
        /// An allow that also added a permission rule (allow always).
        always: bool,
    },
}

/// The control message `value` is, if it is one.
pub fn parse(value: &Value) -> Option<ControlMessage> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    match event_type(value)? {
        "control_request" => Some(ControlMessage::Request {
            id: text(value.get("request_id"))?,
            subtype: text(value.pointer("/request/subtype")).unwrap_or_default(),
            request: value.get("request").cloned().unwrap_or(Value::Null),
        }),
        "control_cancel_request" => Some(ControlMessage::Cancel {
            id: text(value.get("request_id"))?,
        }),
        "control_response" => {
            let response = value.get("response")?;
            let inner = response.get("response");
            Some(ControlMessage::Response {
                id: text(response.get("request_id"))?,
                error: (response.get("subtype").and_then(Value::as_str) == Some("error"))
                    .then(|| text(response.get("error")).unwrap_or_else(|| "error".to_string())),
                behavior: text(inner.and_then(|r| r.get("behavior"))),
                message: text(inner.and_then(|r| r.get("message"))),
                always: inner
                    .and_then(|r| r.get("updatedPermissions"))
                    .and_then(Value::as_array)
                    .is_some_and(|rules| !rules.is_empty()),
            })
        }
        _ => None,
    }
}

/// Whether a line may be a control message (a cheap test before parsing).
pub fn may_be_control(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"\"control_").is_some()
}

/// The line (without newline) that asks the CLI to stop its current turn.
pub fn interrupt_request(id: &str) -> String {
    json!({"type": "control_request", "request_id": id, "request": {"subtype": "interrupt"}})
        .to_string()
}

/// The answer that lets a tool run with its `input` unchanged; `always` also adds a session
/// rule allowing the tool, so the CLI stops asking for it.
pub fn allow_response(id: &str, input: &Value, always: Option<&str>) -> String {
    let mut answer = json!({"behavior": "allow", "updatedInput": input});
    if let Some(tool) = always {
        answer["updatedPermissions"] = json!([{
            "type": "addRules",
            "rules": [{"toolName": tool}],
            "behavior": "allow",
            "destination": "session",
        }]);
    }
    response(id, answer)
}

/// The answer that refuses a tool, with the reason the agent is told.
pub fn deny_response(id: &str, message: &str) -> String {
    response(id, json!({"behavior": "deny", "message": message}))
}

/// The answer to a request sandmux does not serve, so the CLI never waits for it.
pub fn error_response(id: &str, message: &str) -> String {
    json!({
        "type": "control_response",
        "response": {"subtype": "error", "request_id": id, "error": message},
    })
    .to_string()
}

fn response(id: &str, answer: Value) -> String {
    json!({
        "type": "control_response",
        "response": {"subtype": "success", "request_id": id, "response": answer},
    })
    .to_string()
}

/// A tool the agent asks permission to use (a `can_use_tool` request), as sandmux shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The CLI's request id (what the answer names).
    pub request_id: String,
    pub tool: String,
    /// The tool's input, as the agent gave it.
    pub input: Value,
    /// One line saying what the tool would do: the command, the file, the URL, ...
    pub summary: String,
    /// Why the agent wants it (its own description), or why the CLI asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The scrollback line of the request.
    pub seq: u64,
}

impl Approval {
    /// The approval a `can_use_tool` request asks for.
    pub fn from_request(id: &str, request: &Value, seq: u64) -> Approval {
        let tool = request
            .get("tool_name")
            .or_else(|| request.get("display_name"))
            .and_then(Value::as_str)
            .unwrap_or("a tool")
            .to_string();
        let input = request.get("input").cloned().unwrap_or(Value::Null);
        let reason = ["description", "decision_reason", "reason", "title"]
            .iter()
            .find_map(|key| {
                request
                    .get(*key)
                    .or_else(|| input.get(*key))
                    .and_then(Value::as_str)
            })
            .filter(|r| !r.trim().is_empty())
            .map(str::to_string);
        Approval {
            request_id: id.to_string(),
            summary: summary(&input),
            tool,
            input,
            reason,
            seq,
        }
    }

    /// Whether `pattern` (a tool name, or with `regex` a pattern on the input's JSON)
    /// picks this approval.
    pub fn is(&self, tool: Option<&str>, regex: Option<&regex::Regex>) -> bool {
        tool.is_none_or(|t| t.eq_ignore_ascii_case(&self.tool))
            && regex.is_none_or(|r| r.is_match(&self.input.to_string()))
    }
}

/// What a tool's input would do, in one line: the first of the fields that say it, else the
/// input as compact JSON.
fn summary(input: &Value) -> String {
    const KEYS: &[&str] = &[
        "command",
        "file_path",
        "path",
        "notebook_path",
        "url",
        "pattern",
        "query",
        "prompt",
    ];
    for key in KEYS {
        if let Some(text) = input.get(*key).and_then(Value::as_str) {
            return text.to_string();
        }
    }
    match input {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// How an approval ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// Allowed this once.
    Allowed,
    /// Allowed, and the tool from now on in this session.
    AllowedAlways,
    Denied {
        message: String,
    },
    /// The CLI withdrew the request.
    Cancelled,
    /// The session ended (or restarted) before an answer.
    Abandoned,
}

impl Answer {
    /// `allowed`, `allowed always`, `denied: why`, ...
    pub fn describe(&self) -> String {
        match self {
            Answer::Allowed => "allowed once".into(),
            Answer::AllowedAlways => "allowed always".into(),
            Answer::Denied { message } => format!("denied: {message}"),
            Answer::Cancelled => "cancelled by the agent".into(),
            Answer::Abandoned => "abandoned (the session ended)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn requests_cancels_and_responses_are_read() {
        let request = value(
            r#"{"type":"control_request","request_id":"r1","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"rm -rf x","description":"Delete x"}}}"#,
        );
        let Some(ControlMessage::Request {
            id,
            subtype,
            request,
        }) = parse(&request)
        else {
            panic!("a request")
        };
        assert_eq!((id.as_str(), subtype.as_str()), ("r1", "can_use_tool"));
        let approval = Approval::from_request(&id, &request, 7);
        assert_eq!(approval.tool, "Bash");
        assert_eq!(approval.summary, "rm -rf x");
        assert_eq!(approval.reason.as_deref(), Some("Delete x"));
        assert!(approval.is(Some("bash"), None));
        assert!(!approval.is(Some("Write"), None));
        let rm = regex::Regex::new("rm -rf").unwrap();
        assert!(approval.is(None, Some(&rm)));
        assert_eq!(
            parse(&value(
                r#"{"type":"control_cancel_request","request_id":"r1"}"#
            )),
            Some(ControlMessage::Cancel { id: "r1".into() })
        );
        let error = value(
            r#"{"type":"control_response","response":{"subtype":"error","request_id":"x","error":"Unsupported"}}"#,
        );
        assert!(
            matches!(parse(&error), Some(ControlMessage::Response { error: Some(e), .. }) if e == "Unsupported")
        );
        assert_eq!(parse(&value(r#"{"type":"assistant"}"#)), None);
        assert_eq!(parse(&value(r#"{"type":"control_request"}"#)), None);
    }

    #[test]
    fn answers_read_back_as_what_they_say() {
        let input = json!({"command": "ls"});
        for (line, behavior, always) in [
            (allow_response("a", &input, None), "allow", false),
            (allow_response("a", &input, Some("Bash")), "allow", true),
            (deny_response("a", "no"), "deny", false),
        ] {
            let Some(ControlMessage::Response {
                id,
                behavior: b,
                always: al,
                error,
                ..
            }) = parse(&value(&line))
            else {
                panic!("{line}")
            };
            assert_eq!(id, "a");
            assert_eq!(b.as_deref(), Some(behavior));
            assert_eq!(al, always);
            assert_eq!(error, None);
        }
        let allow = value(&allow_response("a", &input, None));
        assert_eq!(allow["response"]["response"]["updatedInput"], input);
        let interrupt = value(&interrupt_request("sandmux-1"));
        assert_eq!(interrupt["request"]["subtype"], "interrupt");
        assert!(may_be_control(interrupt_request("x").as_bytes()));
        assert!(!may_be_control(br#"{"type":"assistant"}"#));
    }

    #[test]
    fn a_tool_without_known_fields_is_summarised_as_json() {
        let approval =
            Approval::from_request("r", &json!({"tool_name":"mcp__x","input":{"a":1}}), 0);
        assert_eq!(approval.summary, r#"{"a":1}"#);
        assert_eq!(approval.reason, None);
        let nameless = Approval::from_request("r", &json!({}), 0);
        assert_eq!(nameless.tool, "a tool");
    }
}
