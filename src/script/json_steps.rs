//! The JSON predicates of `expect-json` (`POINTER OP VALUE`), also read by `sandmux ctl`.

use super::cursor::{Cursor, ParseError};
use super::parser::{Declared, StepKind, optional_within, session_ref};
use crate::matcher::JsonOp;

/// A JSON predicate as `expect-json` writes it (`POINTER OP VALUE`), for other front ends.
pub fn parse_json_predicate(text: &str) -> Result<(String, JsonOp), ParseError> {
    let mut cursor = Cursor::new(text, 1);
    let predicate = json_predicate(&mut cursor)?;
    cursor.end_of_step()?;
    Ok(predicate)
}

/// `expect-json NAME POINTER OP VALUE [within DURATION]`.
pub(super) fn parse_expect_json(
    cursor: &mut Cursor<'_>,
    declared: &Declared,
) -> Result<StepKind, ParseError> {
    let session = session_ref(cursor, declared)?;
    let (pointer, op) = json_predicate(cursor)?;
    let within = optional_within(cursor, "")?;
    Ok(StepKind::ExpectJson {
        session,
        pointer,
        op,
        within,
    })
}

/// `POINTER OP VALUE`: the predicate of `expect-json`.
fn json_predicate(cursor: &mut Cursor<'_>) -> Result<(String, JsonOp), ParseError> {
    cursor.skip_ws();
    let pointer_col = cursor.col();
    let pointer = cursor.word();
    if pointer.is_empty() {
        return Err(
            cursor.error("expected a JSON pointer such as /type or /message/content/0/text")
        );
    }
    if !pointer.starts_with('/') {
        return Err(cursor.error_at(
            pointer_col,
            format!("a JSON pointer starts with `/`, not `{pointer}`"),
        ));
    }
    let pointer = pointer.to_string();
    cursor.skip_ws();
    let op_col = cursor.col();
    let op = match cursor.word() {
        "exists" => JsonOp::Exists,
        "==" => {
            cursor.skip_ws();
            let value_col = cursor.col();
            let text = value_text(cursor);
            if text.is_empty() {
                return Err(cursor.error_at(
                    value_col,
                    "expected a JSON value after `==`, such as \"result\", 3 or true",
                ));
            }
            let value = serde_json::from_str(&text).map_err(|e| {
                cursor.error_at(
                    value_col,
                    format!("`{text}` is not a JSON value ({e}); strings need double quotes"),
                )
            })?;
            JsonOp::Eq(value)
        }
        "~" => {
            cursor.skip_ws();
            let value_col = cursor.col();
            let source = match cursor.peek() {
                Some('/') => cursor.regex_literal()?,
                Some('"') => String::from_utf8(cursor.quoted()?)
                    .map_err(|_| cursor.error_at(value_col, "the regex is not valid UTF-8"))?,
                _ => {
                    return Err(
                        cursor.error_at(value_col, "expected a /regex/ or a \"regex\" after `~`")
                    );
                }
            };
            let regex = regex::Regex::new(&source).map_err(|e| {
                cursor.error_at(
                    value_col,
                    format!("invalid regex /{source}/: {}", crate::text::regex_error(&e)),
                )
            })?;
            JsonOp::Matches(regex)
        }
        "" => {
            return Err(cursor.error_at(op_col, "expected `==`, `~` or `exists` after the pointer"));
        }
        other => {
            return Err(cursor.error_at(
                op_col,
                format!("unknown operator `{other}` (use ==, ~ or exists)"),
            ));
        }
    };
    Ok((pointer, op))
}

/// The JSON text of a value: up to a trailing `within DURATION` or `# comment`.
fn value_text(cursor: &mut Cursor<'_>) -> String {
    let start = cursor.pos;
    let rest = &cursor.line[start..];
    let mut end = rest.len();
    // A trailing `within X` that parses as a duration belongs to the step.
    if let Some(at) = rest.rfind(" within ") {
        let tail = rest[at + 8..].split('#').next().unwrap_or("").trim();
        if crate::units::parse_duration(tail).is_ok() {
            end = at;
        }
    }
    if let Some(at) = rest[..end].find(" #") {
        end = at;
    }
    cursor.pos = start + end;
    rest[..end].trim().to_string()
}
