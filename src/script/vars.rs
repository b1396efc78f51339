//! Variables bound by capture steps: `expect NAME /id=(?<id>\w+)/` binds `${id}` to what the
//! group matched, and later `send`, `write`, `turn` and `expect` steps use it.
//!
//! Only a name some earlier `expect` regex captures is a variable: any other `${...}` is text
//! (a shell's `${HOME}` goes through as it is).

use std::collections::{HashMap, HashSet};

use super::parser::{Pattern, Step, StepKind};

/// The `${NAME}`s in `text` whose NAME is in `bound`, in order, each once.
pub fn uses(text: &[u8], bound: &HashSet<String>) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for (_, _, name) in references(text) {
        if bound.contains(name) && !found.iter().any(|f| f == name) {
            found.push(name.to_string());
        }
    }
    found
}

/// Replaces every `${NAME}` of a bound variable with its value (regex-escaped when
/// `for_regex`); other text stays as it is.
pub fn expand(text: &[u8], values: &HashMap<String, String>, for_regex: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut last = 0;
    for (start, end, name) in references(text) {
        let Some(value) = values.get(name) else {
            continue;
        };
        out.extend_from_slice(&text[last..start]);
        if for_regex {
            out.extend_from_slice(regex::escape(value).as_bytes());
        } else {
            out.extend_from_slice(value.as_bytes());
        }
        last = end;
    }
    out.extend_from_slice(&text[last..]);
    out
}

/// The step with the variables it uses replaced by their values.
pub fn expand_step(step: &Step, values: &HashMap<String, String>) -> Result<StepKind, String> {
    if let Some(missing) = step.uses.iter().find(|n| !values.contains_key(*n)) {
        return Err(format!(
            "`${{{missing}}}` has no value: the step that captures it did not match"
        ));
    }
    let text = |bytes: &[u8], regex| expand(bytes, values, regex);
    Ok(match &step.kind {
        StepKind::Send { session, bytes } => StepKind::Send {
            session: session.clone(),
            bytes: text(bytes, false),
        },
        StepKind::Turn {
            session,
            text: message,
            within,
        } => StepKind::Turn {
            session: session.clone(),
            text: String::from_utf8_lossy(&text(message.as_bytes(), false)).into_owned(),
            within: *within,
        },
        StepKind::Expect {
            session,
            stream,
            pattern,
            within,
        } => {
            let pattern = match (&step.template, pattern) {
                (Some(source), _) => {
                    let source =
                        String::from_utf8_lossy(&text(source.as_bytes(), true)).into_owned();
                    Pattern::regex(&source).map_err(|e| {
                        format!(
                            "the regex with its variables filled in is invalid: {}",
                            crate::text::regex_error(&e)
                        )
                    })?
                }
                (None, Pattern::Literal(bytes)) => Pattern::Literal(text(bytes, false)),
                (None, pattern) => pattern.clone(),
            };
            StepKind::Expect {
                session: session.clone(),
                stream: *stream,
                pattern,
                within: *within,
            }
        }
        other => other.clone(),
    })
}

/// `why`, and the values of the variables a failed step used.
pub fn with_values(why: String, uses: &[String], values: &HashMap<String, String>) -> String {
    let known: Vec<String> = uses
        .iter()
        .filter_map(|n| values.get(n).map(|v| format!("${{{n}}} = {v:?}")))
        .collect();
    if known.is_empty() {
        return why;
    }
    format!("{why} (with {})", known.join(", "))
}

/// Every `${NAME}` in `text` (NAME: a letter or `_`, then letters, digits, `_`), with its
/// byte range.
fn references(text: &[u8]) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = memchr::memmem::find(&text[at..], b"${") {
        let start = at + found;
        let name_start = start + 2;
        let len = text[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let name_end = name_start + len;
        let valid =
            len > 0 && !text[name_start].is_ascii_digit() && text.get(name_end) == Some(&b'}');
        if valid {
            // The name is ASCII, so it is valid UTF-8.
            let name = std::str::from_utf8(&text[name_start..name_end]).unwrap_or("");
            out.push((start, name_end + 1, name));
            at = name_end + 1;
        } else {
            at = start + 2;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bound_names_are_variables() {
        let bound: HashSet<String> = ["id".to_string()].into();
        assert_eq!(uses(b"x ${id} ${HOME} ${id}", &bound), vec!["id"]);
        let values: HashMap<String, String> = [("id".to_string(), "a.b".to_string())].into();
        assert_eq!(expand(b"x ${id} ${HOME}", &values, false), b"x a.b ${HOME}");
        assert_eq!(expand(b"^${id}$", &values, true), b"^a\\.b$");
        assert_eq!(
            expand(b"${} ${1x} $${id", &values, false),
            b"${} ${1x} $${id"
        );
    }

    #[test]
    fn a_regex_names_what_it_captures() {
        let pattern = crate::matcher::Pattern::regex(r"id=(?<id>\w+) (?P<n>\d+) (\d)").unwrap();
        assert_eq!(pattern.capture_names(), vec!["id", "n"]);
        let literal = crate::matcher::Pattern::regex(r"^ack:t5$").unwrap();
        assert!(literal.capture_names().is_empty());
    }
}
