//! The control protocol's messages: one JSON object a line each way. A request carries an
//! `op` and an optional `id` (any JSON value) that its answers repeat:
//!
//! ```text
//! → {"id":1,"op":"send","session":"agent","text":"hello"}
//! ← {"id":1,"ok":true,"seq":12}
//! → {"id":2,"op":"wait","session":"agent","regex":"^ack:hello$","timeout_ms":5000}
//! ← {"id":2,"ok":true,"matched":{"event":"line","session":"agent","seq":13,...}}
//! ← {"id":3,"ok":false,"error":{"code":"unknown_session","message":"no session named `x`"}}
//! ```
//! docs/control-protocol.md documents every operation.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::Stream;

/// The largest request line taken (1 MiB); a longer one is refused and skipped.
pub const MAX_REQUEST: usize = 1 << 20;

/// One request, without its `id`.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Every session with its state.
    List,
    /// Add a session: `declaration` in the `-s` form (`NAME [key=value ...]: COMMAND`), or
    /// `name` with `keys` (any session key of the config file, typed as there).
    Add {
        #[serde(default)]
        declaration: Option<String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        keys: BTreeMap<String, Value>,
        /// How long the answer waits for the session to start (default 60 s; 0: answer at
        /// once, as soon as it is added).
        #[serde(default)]
        start_timeout_ms: Option<u64>,
    },
    Remove {
        session: String,
    },
    /// A user turn (a stream-json user message for stream-json sessions), or with `raw`, a
    /// plain line.
    Send {
        session: String,
        text: String,
        #[serde(default)]
        raw: bool,
        /// Send, then wait for this in the lines after the input (the answer comes when it
        /// matched): safe with any number of drivers on one session.
        #[serde(default)]
        wait: Option<SendWait>,
    },
    /// Exact bytes: `data` as text, or `data_b64`.
    Write {
        session: String,
        #[serde(default)]
        data: Option<String>,
        #[serde(default)]
        data_b64: Option<String>,
    },
    Close {
        session: String,
    },
    Signal {
        session: String,
        signal: Value,
    },
    Kill {
        session: String,
    },
    Restart {
        session: String,
    },
    /// Stop the session's turn: an agent's own interrupt (the conversation goes on), SIGINT
    /// for other sessions.
    Interrupt {
        session: String,
    },
    /// Allow an agent's pending permission request: the one with `request_id`, or the
    /// oldest for `tool` / with an input matching the regex `input`, or the oldest;
    /// `always` allows the tool for the rest of the session.
    Approve {
        session: String,
        #[serde(default)]
        request_id: Option<String>,
        #[serde(default)]
        tool: Option<String>,
        #[serde(default)]
        input: Option<String>,
        #[serde(default)]
        always: bool,
    },
    /// Refuse an agent's pending permission request (chosen as for `approve`), telling it
    /// `message`.
    Deny {
        session: String,
        #[serde(default)]
        request_id: Option<String>,
        #[serde(default)]
        tool: Option<String>,
        #[serde(default)]
        input: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
    /// Scrollback lines from `from` (default: the oldest held), at most `limit` (1000).
    Read {
        session: String,
        #[serde(default)]
        from: Option<u64>,
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Lines, input, state and activity of one session (or all) from line `from` (default:
    /// now), as they happen.
    Subscribe {
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        from: Option<u64>,
    },
    /// Wait for one thing (see [`WaitFor`]) in lines from `from` (default: the last input).
    Wait {
        session: String,
        #[serde(default)]
        from: Option<u64>,
        #[serde(default)]
        timeout_ms: Option<u64>,
        #[serde(default)]
        stream: Option<Stream>,
        #[serde(default)]
        regex: Option<String>,
        #[serde(default)]
        literal: Option<String>,
        #[serde(default)]
        json: Option<JsonPredicate>,
        #[serde(default)]
        turn_end: bool,
        #[serde(default)]
        exit: Option<ExitWanted>,
        #[serde(default)]
        activity: Option<String>,
    },
    /// Stop sandmux (every session).
    Stop,
}

/// What a `send` waits for after its input: one of `regex`, `literal`, `json`, `turn_end`
/// (the end of this input's own turn, after those of turns sent before it), as in `wait`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendWait {
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub stream: Option<Stream>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub literal: Option<String>,
    #[serde(default)]
    pub json: Option<JsonPredicate>,
    #[serde(default)]
    pub turn_end: bool,
}

/// `{"pointer":"/type","op":"==","value":"result"}` (`op`: `==`, `~` or `exists`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPredicate {
    pub pointer: String,
    pub op: String,
    #[serde(default)]
    pub value: Option<Value>,
}

/// `"exit": true` (any status) or `"exit": CODE`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ExitWanted {
    Any(bool),
    Code(i32),
}

/// Parses one request line into its `id` and request, or an error answer.
pub fn parse(line: &[u8]) -> (Value, Result<Request, Value>) {
    let mut value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(err) => {
            return (
                Value::Null,
                Err(error_body(
                    "bad_json",
                    &format!("the request is not JSON: {err}"),
                )),
            );
        }
    };
    let Some(object) = value.as_object_mut() else {
        return (
            Value::Null,
            Err(error_body(
                "bad_request",
                "a request is a JSON object with an `op`",
            )),
        );
    };
    let id = object.remove("id").unwrap_or(Value::Null);
    if !object.contains_key("op") {
        return (
            id,
            Err(error_body("bad_request", "the request has no `op`")),
        );
    }
    match serde_json::from_value::<Request>(value) {
        Ok(request) => (id, Ok(request)),
        Err(err) => {
            let message = err.to_string();
            let code = if message.starts_with("unknown variant") {
                "unknown_op"
            } else {
                "bad_request"
            };
            (id, Err(error_body(code, &message)))
        }
    }
}

/// The body of an error answer.
pub fn error_body(code: &str, message: &str) -> Value {
    json!({"ok": false, "error": {"code": code, "message": message}})
}

/// A whole answer line: `body` (an object) with `id`.
pub fn answer(id: &Value, mut body: Value) -> String {
    if let Some(object) = body.as_object_mut() {
        object.insert("id".into(), id.clone());
    }
    let mut line = body.to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_their_id_and_bad_ones_say_why() {
        let (id, request) = parse(br#"{"id":7,"op":"send","session":"a","text":"hi"}"#);
        assert_eq!(id, json!(7));
        assert!(matches!(request, Ok(Request::Send { raw: false, .. })));
        let (id, request) = parse(b"{not json");
        assert_eq!(id, Value::Null);
        assert_eq!(request.unwrap_err()["error"]["code"], "bad_json");
        let (id, request) = parse(br#"{"id":"x","op":"dance"}"#);
        assert_eq!(id, json!("x"));
        let err = request.unwrap_err();
        assert_eq!(err["error"]["code"], "unknown_op");
        assert!(err["error"]["message"].as_str().unwrap().contains("list"));
        let (_, request) = parse(br#"{"id":1,"op":"send","session":"a"}"#);
        let err = request.unwrap_err();
        assert_eq!(err["error"]["code"], "bad_request");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("missing field `text`")
        );
        let (_, request) = parse(br#"{"op":"kill","session":"a","extra":1}"#);
        assert_eq!(request.unwrap_err()["error"]["code"], "bad_request");
        let (_, request) = parse(br#"[1,2]"#);
        assert_eq!(request.unwrap_err()["error"]["code"], "bad_request");
        let (_, request) = parse(br#"{"op":"wait","session":"a","exit":3}"#);
        assert!(matches!(
            request,
            Ok(Request::Wait {
                exit: Some(ExitWanted::Code(3)),
                ..
            })
        ));
    }

    #[test]
    fn answers_carry_the_id_on_one_line() {
        let line = answer(&json!(5), json!({"ok": true}));
        assert_eq!(line, "{\"ok\":true,\"id\":5}\n");
    }
}
