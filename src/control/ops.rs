//! Requests turned into what the engine takes: a session spec from `add`, a wait from
//! `wait` or `send`'s `wait`.

use serde_json::Value;

use super::protocol::{self, ExitWanted, SendWait};
use super::wait::WaitFor;
use crate::engine::{Activity, Stream};
use crate::matcher::{JsonOp, Pattern};
use crate::spec::{self, SpecBuilder};

/// A session spec from an `add` request.
pub(super) fn add_spec(
    declaration: Option<String>,
    name: Option<String>,
    keys: std::collections::BTreeMap<String, Value>,
) -> Result<crate::engine::SessionSpec, String> {
    match (declaration, name) {
        (Some(declaration), None) if keys.is_empty() => spec::parse_session_arg(&declaration, &[])
            .map_err(|e| e.trim_start_matches("-s ").to_string()),
        (None, Some(name)) => {
            let mut builder = SpecBuilder::new(&name).map_err(|e| e.message)?;
            for (key, value) in keys {
                let value = json_value(&key, value)?;
                builder.set(&key, value).map_err(|e| e.message)?;
            }
            builder.finish(None).map_err(|e| e.message)
        }
        _ => Err("`add` takes a `declaration`, or a `name` with `keys`".into()),
    }
}

/// A JSON value as the session-spec builder takes it.
fn json_value(key: &str, value: Value) -> Result<spec::Value, String> {
    let strings = |items: &[Value]| -> Option<Vec<String>> {
        items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    Ok(match value {
        Value::String(s) => spec::Value::Text(s),
        Value::Bool(b) => spec::Value::Bool(b),
        Value::Number(n) => spec::Value::Int(
            n.as_i64()
                .ok_or_else(|| format!("`{key}` takes a whole number"))?,
        ),
        Value::Array(items) => spec::Value::List(
            strings(&items).ok_or_else(|| format!("`{key}` takes a list of strings"))?,
        ),
        Value::Object(map) => spec::Value::Table(
            map.iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("`{key}` takes a table of strings"))?,
        ),
        Value::Null => return Err(format!("`{key}` has no value")),
    })
}

/// What a `wait` request asks for: exactly one of its kinds.
pub(super) fn wait_for(
    regex: Option<String>,
    literal: Option<String>,
    json: Option<protocol::JsonPredicate>,
    turn_end: bool,
    exit: Option<ExitWanted>,
    activity: Option<String>,
    stream: Option<Stream>,
) -> Result<WaitFor, String> {
    let exit = match exit {
        Some(ExitWanted::Any(true)) => Some(None),
        Some(ExitWanted::Code(code)) => Some(Some(code)),
        Some(ExitWanted::Any(false)) | None => None,
    };
    let kinds = [
        regex.is_some(),
        literal.is_some(),
        json.is_some(),
        turn_end,
        exit.is_some(),
        activity.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(
            "`wait` takes exactly one of `regex`, `literal`, `json`, `turn_end`, `exit`, `activity`".into(),
        );
    }
    if let Some(source) = regex {
        let pattern = Pattern::regex(&source)
            .map_err(|e| format!("invalid regex /{source}/: {}", crate::text::regex_error(&e)))?;
        return Ok(WaitFor::Pattern(pattern, stream));
    }
    if let Some(text) = literal {
        return Ok(WaitFor::Pattern(
            Pattern::Literal(text.into_bytes()),
            stream,
        ));
    }
    if let Some(predicate) = json {
        if !predicate.pointer.starts_with('/') {
            return Err(format!(
                "a JSON pointer starts with `/`, not `{}`",
                predicate.pointer
            ));
        }
        let op = JsonOp::from_parts(&predicate.op, predicate.value)?;
        return Ok(WaitFor::Json(predicate.pointer, op));
    }
    if turn_end {
        return Ok(WaitFor::TurnEnd { skip: 0 });
    }
    if let Some(code) = exit {
        return Ok(WaitFor::Exit(code));
    }
    let word = activity.unwrap_or_default();
    let activity = serde_json::from_value::<Activity>(Value::String(word.clone())).map_err(|_| {
        format!("unknown activity `{word}` (known: starting, working, idle, awaiting_input, awaiting_approval, exited, failed)")
    })?;
    Ok(WaitFor::Activity(activity))
}

/// What a `send` waits for, and how long. A `turn_end` is of the turn before this input's
/// own until the engine says how many turns were ahead of it (`WaitFor::TurnEnd`'s `skip`).
pub(super) fn send_wait(wait: SendWait) -> Result<(WaitFor, std::time::Duration), String> {
    let kinds = [
        wait.regex.is_some(),
        wait.literal.is_some(),
        wait.json.is_some(),
        wait.turn_end,
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(
            "a `send`'s `wait` takes exactly one of `regex`, `literal`, `json`, `turn_end`".into(),
        );
    }
    let what = wait_for(
        wait.regex,
        wait.literal,
        wait.json,
        wait.turn_end,
        None,
        None,
        wait.stream,
    )?;
    let timeout = std::time::Duration::from_millis(wait.timeout_ms.unwrap_or(10_000));
    Ok((what, timeout))
}
