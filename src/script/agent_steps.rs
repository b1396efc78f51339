//! The steps that drive an agent beyond one `turn`: `say` (a message, without waiting),
//! `wait NAME turn`, `interrupt`, `approve` and `deny`.
//!
//! ```text
//! say agent "run: touch /tmp/x"     # a user message; the steps after it see its answer
//! approve agent Bash                # or /touch/ on the input, `always`, `within 10s`
//! wait agent turn
//! say agent "run: rm -rf /"
//! deny agent "not that"
//! interrupt agent
//! ```

use std::time::Duration;

use super::cursor::{Cursor, ParseError};
use super::parser::{Declared, StepKind, optional_within, session_ref};
use crate::engine::Protocol;

/// Which pending request an `approve` or `deny` step answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Which {
    /// The tool it must be for.
    pub tool: Option<String>,
    /// A regex its input (as JSON) must match.
    pub input: Option<String>,
}

/// `say NAME "TEXT"`: a user message, without waiting for its answer.
pub fn say(cursor: &mut Cursor<'_>, declared: &Declared) -> Result<StepKind, ParseError> {
    let session = agent(cursor, declared, "say")?;
    cursor.skip_ws();
    if cursor.peek() != Some('"') {
        return Err(cursor.error("`say` takes a double-quoted message: say NAME \"TEXT\""));
    }
    let col = cursor.col();
    let bytes = cursor.quoted()?;
    let text = String::from_utf8(bytes)
        .map_err(|_| cursor.error_at(col, "the message is not valid UTF-8"))?;
    cursor.end_of_step()?;
    Ok(StepKind::Say { session, text })
}

/// `interrupt NAME [within DURATION]`.
pub fn interrupt(cursor: &mut Cursor<'_>, declared: &Declared) -> Result<StepKind, ParseError> {
    let session = session_ref(cursor, declared)?;
    let within = optional_within(cursor, "")?;
    Ok(StepKind::Interrupt { session, within })
}

/// `approve NAME [TOOL | /REGEX/] [always] [within DURATION]`.
pub fn approve(cursor: &mut Cursor<'_>, declared: &Declared) -> Result<StepKind, ParseError> {
    let session = agent(cursor, declared, "approve")?;
    let which = which(cursor)?;
    cursor.skip_ws();
    let save = cursor.pos;
    let always = cursor.word() == "always";
    if !always {
        cursor.pos = save;
    }
    let within = optional_within(cursor, "")?;
    Ok(StepKind::Approve {
        session,
        which,
        always,
        within,
    })
}

/// `deny NAME [TOOL | /REGEX/] ["MESSAGE"] [within DURATION]`.
pub fn deny(cursor: &mut Cursor<'_>, declared: &Declared) -> Result<StepKind, ParseError> {
    let session = agent(cursor, declared, "deny")?;
    let which = which(cursor)?;
    cursor.skip_ws();
    let message = if cursor.peek() == Some('"') {
        let col = cursor.col();
        let bytes = cursor.quoted()?;
        Some(
            String::from_utf8(bytes)
                .map_err(|_| cursor.error_at(col, "the message is not valid UTF-8"))?,
        )
    } else {
        None
    };
    let within = optional_within(cursor, "")?;
    Ok(StepKind::Deny {
        session,
        which,
        message,
        within,
    })
}

/// The rest of `wait NAME turn [within DURATION]`, after `turn`.
pub fn wait_turn(
    cursor: &mut Cursor<'_>,
    session: String,
    declared: &Declared,
    name_col: usize,
) -> Result<StepKind, ParseError> {
    if declared.get(&session) != Some(&Protocol::StreamJson) {
        return Err(cursor.error_at(
            name_col,
            format!("`wait {session} turn` needs a stream-json session: declare `{session}` with protocol=stream-json"),
        ));
    }
    let within: Option<Duration> = optional_within(cursor, " after `turn`")?;
    Ok(StepKind::WaitTurn { session, within })
}

/// A session reference that must speak stream-json (permission requests are agents').
fn agent(cursor: &mut Cursor<'_>, declared: &Declared, step: &str) -> Result<String, ParseError> {
    cursor.skip_ws();
    let col = cursor.col();
    let session = session_ref(cursor, declared)?;
    if declared.get(&session) != Some(&Protocol::StreamJson) {
        return Err(cursor.error_at(
            col,
            format!("`{step}` answers an agent's permission request: declare `{session}` with protocol=stream-json"),
        ));
    }
    Ok(session)
}

/// An optional tool name or `/regex/` on the tool's input.
fn which(cursor: &mut Cursor<'_>) -> Result<Which, ParseError> {
    cursor.skip_ws();
    let col = cursor.col();
    match cursor.peek() {
        Some('/') => {
            let source = cursor.regex_literal()?;
            regex::Regex::new(&source).map_err(|e| {
                cursor.error_at(
                    col,
                    format!("invalid regex /{source}/: {}", crate::text::regex_error(&e)),
                )
            })?;
            Ok(Which {
                tool: None,
                input: Some(source),
            })
        }
        Some('"') | None => Ok(Which::default()),
        Some(_) => {
            let save = cursor.pos;
            let word = cursor.word();
            if matches!(word, "always" | "within") || word.is_empty() {
                cursor.pos = save;
                return Ok(Which::default());
            }
            Ok(Which {
                tool: Some(word.to_string()),
                input: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::script::{StepKind, parse_script};

    fn one(script: &str) -> StepKind {
        let head = "session a protocol=stream-json: claude\nsession r: sh\n";
        let steps = parse_script(&format!("{head}{script}"), &[]).unwrap();
        steps.last().unwrap().kind.clone()
    }

    fn error(script: &str) -> String {
        let head = "session a protocol=stream-json: claude\nsession r: sh\n";
        parse_script(&format!("{head}{script}"), &[])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_agent_steps_parse_with_their_options() {
        assert!(matches!(
            one("approve a"),
            StepKind::Approve { which, always: false, within: None, .. } if which.tool.is_none() && which.input.is_none()
        ));
        assert!(matches!(
            one("approve a Bash always within 3s"),
            StepKind::Approve { which, always: true, within: Some(_), .. } if which.tool.as_deref() == Some("Bash")
        ));
        assert!(matches!(
            one("approve a /touch \\/tmp/"),
            StepKind::Approve { which, .. } if which.input.as_deref() == Some("touch /tmp")
        ));
        assert!(matches!(
            one("deny a \"not that\""),
            StepKind::Deny { message: Some(m), .. } if m == "not that"
        ));
        assert!(matches!(
            one("deny a Write"),
            StepKind::Deny { which, message: None, .. } if which.tool.as_deref() == Some("Write")
        ));
        assert!(matches!(one("interrupt r"), StepKind::Interrupt { .. }));
        assert!(matches!(one("say a \"hi\""), StepKind::Say { text, .. } if text == "hi"));
        assert!(matches!(
            one("wait a turn within 9s"),
            StepKind::WaitTurn {
                within: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn mistakes_say_where_and_why() {
        assert_eq!(
            error("approve r"),
            "3:9: `approve` answers an agent's permission request: declare `r` with protocol=stream-json"
        );
        assert_eq!(
            error("wait r turn"),
            "3:6: `wait r turn` needs a stream-json session: declare `r` with protocol=stream-json"
        );
        assert!(error("approve a /(/").starts_with("3:11: invalid regex /(/"));
        assert_eq!(
            error("approve a Bash sometimes"),
            "3:16: unexpected `sometimes`: expected `within DURATION`"
        );
        assert!(error("deny a \"open").starts_with("3:8:"));
        assert_eq!(
            error("say a hi"),
            "3:7: `say` takes a double-quoted message: say NAME \"TEXT\""
        );
    }
}
