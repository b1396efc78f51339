//! The script language: one step a line, parsed into [`Step`]s with positions for errors.
//!
//! ```text
//! # a comment
//! session echo: sed -u "s/^/ack:/"
//! send echo turn1
//! expect echo stdout "ack:turn1" within 2s
//! close echo
//! wait echo exit 0
//! ```
//!
//! Errors carry the line and column (1-based, counted in characters) of what is wrong.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

pub use super::agent_steps::Which;
pub use super::json_steps::parse_json_predicate;
pub use crate::matcher::{JsonOp, Pattern};

use super::cursor::Cursor;
pub use super::cursor::ParseError;
use super::vars;
use crate::engine::{Protocol, SessionSpec, Stream, parse_signal};
use crate::units::parse_duration;

/// Every step's keyword, as the "unknown step" error lists them.
const STEPS: [&str; 15] = [
    "session",
    "send",
    "write",
    "expect",
    "expect-json",
    "turn",
    "say",
    "interrupt",
    "approve",
    "deny",
    "close",
    "wait",
    "kill",
    "sleep",
    "set",
];

/// One step of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Declare and start a session.
    Session(SessionSpec),
    /// Write bytes to a session's stdin (`send` adds the newline to `bytes`).
    Send { session: String, bytes: Vec<u8> },
    /// Wait for output matching a pattern.
    Expect {
        session: String,
        stream: Option<Stream>,
        pattern: Pattern,
        within: Option<Duration>,
    },
    /// Close a session's stdin.
    Close { session: String },
    /// Wait for a session to end, optionally asserting its exit code.
    Wait {
        session: String,
        exit: Option<i32>,
        within: Option<Duration>,
    },
    /// Send a signal.
    Kill { session: String, signal: i32 },
    /// Pause.
    Sleep(Duration),
    /// Change the default `within`.
    SetTimeout(Duration),
    /// Wait for an output line that is JSON and matches.
    ExpectJson {
        session: String,
        pointer: String,
        op: JsonOp,
        within: Option<Duration>,
    },
    /// Send a stream-json user turn and wait for its `result`.
    Turn {
        session: String,
        text: String,
        within: Option<Duration>,
    },
    /// Send a stream-json user message without waiting for its `result`.
    Say { session: String, text: String },
    /// Interrupt the session's turn (an agent's own interrupt, SIGINT otherwise) and wait
    /// for it to end.
    Interrupt {
        session: String,
        within: Option<Duration>,
    },
    /// Wait for a permission request (of a tool, or with an input matching) and allow it.
    Approve {
        session: String,
        which: Which,
        always: bool,
        within: Option<Duration>,
    },
    /// Wait for a permission request and refuse it.
    Deny {
        session: String,
        which: Which,
        message: Option<String>,
        within: Option<Duration>,
    },
    /// Wait for the end of the agent's turn in flight; fails if it ended in error.
    WaitTurn {
        session: String,
        within: Option<Duration>,
    },
}

/// A step with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based line number.
    pub line: usize,
    /// The step as written (trimmed), for messages and reports.
    pub text: String,
    pub kind: StepKind,
    /// The variables (`${NAME}`, bound by an earlier capture) the step uses, expanded when
    /// it runs.
    pub uses: Vec<String>,
    /// For an `expect` regex that uses variables: the regex as written, compiled when the
    /// step runs with the values escaped.
    pub template: Option<String>,
    /// The names this step's `expect` regex captures (`(?<id>...)`): bound for later steps.
    pub captures: Vec<String>,
}

impl Step {
    /// The session a step acts on, if any.
    pub fn session(&self) -> Option<&str> {
        match &self.kind {
            StepKind::Session(spec) => Some(&spec.name),
            StepKind::Send { session, .. }
            | StepKind::Expect { session, .. }
            | StepKind::Close { session }
            | StepKind::Wait { session, .. }
            | StepKind::Kill { session, .. }
            | StepKind::ExpectJson { session, .. }
            | StepKind::Turn { session, .. }
            | StepKind::Say { session, .. }
            | StepKind::Interrupt { session, .. }
            | StepKind::Approve { session, .. }
            | StepKind::Deny { session, .. }
            | StepKind::WaitTurn { session, .. } => Some(session),
            StepKind::Sleep(_) | StepKind::SetTimeout(_) => None,
        }
    }
}

/// Parses a whole script. `known_sessions` are the sessions already declared elsewhere (by
/// a config file); every session a step names must be declared before it is used.
pub fn parse_script(source: &str, known_sessions: &[SessionSpec]) -> Result<Vec<Step>, ParseError> {
    let mut declared: Declared = known_sessions
        .iter()
        .map(|s| (s.name.clone(), s.protocol))
        .collect();
    let mut steps = Vec::new();
    let mut bound = HashSet::new();
    for (index, raw) in source.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let mut cursor = Cursor::new(line, line_no);
        cursor.skip_ws();
        if cursor.at_end() || cursor.peek() == Some('#') {
            continue;
        }
        let step = parse_step(&mut cursor, &declared, &bound)?;
        if let StepKind::Session(spec) = &step.kind {
            declared.insert(spec.name.clone(), spec.protocol);
        }
        bound.extend(step.captures.iter().cloned());
        steps.push(step);
    }
    Ok(steps)
}

/// The sessions declared so far, with the protocol each speaks.
pub(super) type Declared = HashMap<String, Protocol>;

fn parse_step(
    cursor: &mut Cursor<'_>,
    declared: &Declared,
    bound: &HashSet<String>,
) -> Result<Step, ParseError> {
    let text = cursor.line.trim().to_string();
    let mut template = None;
    let line = cursor.line_no;
    let keyword_col = cursor.col();
    let keyword = cursor.word();
    let kind = match keyword {
        "session" => parse_session(cursor, declared)?,
        "send" => {
            let session = session_ref(cursor, declared)?;
            let mut bytes = rest_text(cursor)?;
            bytes.push(b'\n');
            StepKind::Send { session, bytes }
        }
        "write" => {
            let session = session_ref(cursor, declared)?;
            cursor.skip_ws();
            if cursor.peek() != Some('"') {
                return Err(
                    cursor.error("`write` takes a double-quoted string: write NAME \"TEXT\"")
                );
            }
            let bytes = cursor.quoted()?;
            cursor.end_of_step()?;
            StepKind::Send { session, bytes }
        }
        "expect" => {
            let (kind, source) = parse_expect(cursor, declared, bound)?;
            template = source;
            kind
        }
        "expect-json" => super::json_steps::parse_expect_json(cursor, declared)?,
        "say" => super::agent_steps::say(cursor, declared)?,
        "interrupt" => super::agent_steps::interrupt(cursor, declared)?,
        "approve" => super::agent_steps::approve(cursor, declared)?,
        "deny" => super::agent_steps::deny(cursor, declared)?,
        "turn" => {
            let name_col = {
                cursor.skip_ws();
                cursor.col()
            };
            let session = session_ref(cursor, declared)?;
            if declared.get(&session) != Some(&Protocol::StreamJson) {
                return Err(cursor.error_at(
                    name_col,
                    format!("`turn` needs a stream-json session: declare `{session}` with protocol=stream-json"),
                ));
            }
            cursor.skip_ws();
            if cursor.peek() != Some('"') {
                return Err(
                    cursor.error("`turn` takes a double-quoted message: turn NAME \"TEXT\"")
                );
            }
            let bytes = cursor.quoted()?;
            let text = String::from_utf8(bytes)
                .map_err(|_| cursor.error("the message is not valid UTF-8"))?;
            let within = optional_within(cursor, "")?;
            StepKind::Turn {
                session,
                text,
                within,
            }
        }
        "close" => {
            let session = session_ref(cursor, declared)?;
            cursor.end_of_step()?;
            StepKind::Close { session }
        }
        "wait" => {
            cursor.skip_ws();
            let name_col = cursor.col();
            let session = session_ref(cursor, declared)?;
            cursor.skip_ws();
            let save = cursor.pos;
            if cursor.word() == "turn" {
                let step = super::agent_steps::wait_turn(cursor, session, declared, name_col)?;
                return finish(line, text, step, None, bound);
            }
            cursor.pos = save;
            let mut exit = None;
            let mut within = None;
            loop {
                cursor.skip_ws();
                if cursor.at_step_end() {
                    break;
                }
                let col = cursor.col();
                match cursor.word() {
                    "exit" if exit.is_none() => {
                        cursor.skip_ws();
                        let code_col = cursor.col();
                        let code = cursor.word();
                        exit = Some(code.parse::<i32>().map_err(|_| {
                            cursor.error_at(
                                code_col,
                                format!("expected an exit code after `exit`, found `{code}`"),
                            )
                        })?);
                    }
                    "within" if within.is_none() => within = Some(duration(cursor)?),
                    other => {
                        return Err(cursor.error_at(
                            col,
                            format!(
                                "unexpected `{other}`: expected `exit CODE`, `turn` or `within DURATION`"
                            ),
                        ));
                    }
                }
            }
            StepKind::Wait {
                session,
                exit,
                within,
            }
        }
        "kill" => {
            let session = session_ref(cursor, declared)?;
            cursor.skip_ws();
            let signal = if cursor.at_step_end() {
                libc::SIGTERM
            } else {
                let col = cursor.col();
                let word = cursor.word();
                parse_signal(word).ok_or_else(|| {
                    cursor.error_at(
                        col,
                        format!("unknown signal `{word}` (try TERM, KILL, INT, HUP or a number)"),
                    )
                })?
            };
            cursor.end_of_step()?;
            StepKind::Kill { session, signal }
        }
        "sleep" => {
            let d = duration(cursor)?;
            cursor.end_of_step()?;
            StepKind::Sleep(d)
        }
        "set" => {
            cursor.skip_ws();
            let col = cursor.col();
            match cursor.word() {
                "timeout" => {
                    let d = duration(cursor)?;
                    cursor.end_of_step()?;
                    StepKind::SetTimeout(d)
                }
                "" => {
                    return Err(cursor
                        .error_at(col, "expected a setting after `set` (set timeout DURATION)"));
                }
                other => {
                    return Err(
                        cursor.error_at(col, format!("unknown setting `{other}` (known: timeout)"))
                    );
                }
            }
        }
        "" => {
            return Err(cursor.error_at(
                keyword_col,
                "expected a step such as `session`, `send` or `expect`",
            ));
        }
        other => {
            return Err(cursor.error_at(
                keyword_col,
                format!(
                    "unknown step `{other}`{} (steps: {})",
                    crate::text::did_you_mean(other, STEPS),
                    STEPS.join(", ")
                ),
            ));
        }
    };
    finish(line, text, kind, template, bound)
}

/// The step, with the variables it uses and the names it captures.
fn finish(
    line: usize,
    text: String,
    kind: StepKind,
    template: Option<String>,
    bound: &HashSet<String>,
) -> Result<Step, ParseError> {
    let (uses, captures) = match &kind {
        StepKind::Send { bytes, .. } => (vars::uses(bytes, bound), Vec::new()),
        StepKind::Turn { text, .. } | StepKind::Say { text, .. } => {
            (vars::uses(text.as_bytes(), bound), Vec::new())
        }
        StepKind::Expect { pattern, .. } => match (&template, pattern) {
            (Some(source), _) => (vars::uses(source.as_bytes(), bound), Vec::new()),
            (None, Pattern::Literal(bytes)) => (vars::uses(bytes, bound), Vec::new()),
            (None, pattern) => (Vec::new(), pattern.capture_names()),
        },
        _ => (Vec::new(), Vec::new()),
    };
    Ok(Step {
        line,
        text,
        kind,
        uses,
        template,
        captures,
    })
}

/// `session NAME [key=value ...]: COMMAND LINE`, through the one session-spec builder.
fn parse_session(cursor: &mut Cursor<'_>, declared: &Declared) -> Result<StepKind, ParseError> {
    cursor.skip_ws();
    let start = cursor.pos;
    let text = cursor.rest();
    let col_of = |offset: usize| cursor.line[..start + offset].chars().count() + 1;
    let spec = crate::spec::parse_declaration(text)
        .and_then(|declaration| declaration.finish(None))
        .map_err(|(at, err)| cursor.error_at(col_of(at), err.message))?;
    if declared.contains_key(&spec.name) {
        return Err(cursor.error_at(
            col_of(0),
            format!("session `{}` is already declared", spec.name),
        ));
    }
    Ok(StepKind::Session(spec))
}

/// `expect NAME [stdout|stderr] PATTERN [within DURATION]`, and the regex as written when it
/// uses variables.
fn parse_expect(
    cursor: &mut Cursor<'_>,
    declared: &Declared,
    bound: &HashSet<String>,
) -> Result<(StepKind, Option<String>), ParseError> {
    let session = session_ref(cursor, declared)?;
    cursor.skip_ws();
    let mut stream = None;
    let save = cursor.pos;
    match cursor.word() {
        "stdout" => stream = Some(Stream::Stdout),
        "stderr" => stream = Some(Stream::Stderr),
        _ => cursor.pos = save,
    }
    cursor.skip_ws();
    let (pattern, template) = pattern(cursor, bound)?;
    let within = optional_within(cursor, " after the pattern")?;
    let kind = StepKind::Expect {
        session,
        stream,
        pattern,
        within,
    };
    Ok((kind, template))
}

/// A `"literal"` or a `/regex/`; for a regex that uses variables of `bound`, also the regex
/// as written (it is checked here with each variable standing for a letter).
fn pattern(
    cursor: &mut Cursor<'_>,
    bound: &HashSet<String>,
) -> Result<(Pattern, Option<String>), ParseError> {
    let pattern_col = cursor.col();
    Ok(match cursor.peek() {
        Some('"') => (Pattern::Literal(cursor.quoted()?), None),
        Some('/') => {
            let source = cursor.regex_literal()?;
            let uses = vars::uses(source.as_bytes(), bound);
            let checked = if uses.is_empty() {
                source.clone()
            } else {
                let stand_ins = uses.iter().map(|n| (n.clone(), "x".to_string())).collect();
                String::from_utf8_lossy(&vars::expand(source.as_bytes(), &stand_ins, true))
                    .into_owned()
            };
            let compiled = Pattern::regex(&checked).map_err(|err| {
                let why = crate::text::regex_error(&err);
                cursor.error_at(pattern_col, format!("invalid regex /{source}/: {why}"))
            })?;
            (compiled, (!uses.is_empty()).then_some(source))
        }
        None => return Err(cursor.error("expected a pattern: \"literal\" or /regex/")),
        Some(_) => {
            return Err(cursor.error(
                "expected a pattern: a \"literal\" in double quotes or a /regex/ between slashes",
            ));
        }
    })
}

/// A pattern as `expect` writes it (`"literal"` or `/regex/`), for other front ends
/// (`sandmux ctl wait`): errors give the column in `text`.
pub fn parse_pattern(text: &str) -> Result<Pattern, ParseError> {
    let mut cursor = Cursor::new(text, 1);
    cursor.skip_ws();
    let (pattern, _) = pattern(&mut cursor, &HashSet::new())?;
    cursor.end_of_step()?;
    Ok(pattern)
}

/// An optional `within DURATION`, then the end of the step. `after` says where an
/// unexpected word stands (" after the pattern"), for the message.
pub(super) fn optional_within(
    cursor: &mut Cursor<'_>,
    after: &str,
) -> Result<Option<Duration>, ParseError> {
    cursor.skip_ws();
    let mut within = None;
    if !cursor.at_step_end() {
        let col = cursor.col();
        match cursor.word() {
            "within" => within = Some(duration(cursor)?),
            other => {
                return Err(cursor.error_at(
                    col,
                    format!("unexpected `{other}`{after}: expected `within DURATION`"),
                ));
            }
        }
    }
    cursor.end_of_step()?;
    Ok(within)
}

pub(super) fn session_ref(
    cursor: &mut Cursor<'_>,
    declared: &Declared,
) -> Result<String, ParseError> {
    cursor.skip_ws();
    let col = cursor.col();
    let name = cursor.word();
    if name.is_empty() {
        return Err(cursor.error("expected a session name"));
    }
    if !declared.contains_key(name) {
        let message = match crate::text::closest(name, declared.keys().map(String::as_str)) {
            Some(near) => format!(
                "unknown session `{name}`: did you mean `{near}`? (or declare it first with `session {name}: COMMAND` or in the config)"
            ),
            None => format!(
                "unknown session `{name}`: declare it first with `session {name}: COMMAND` or in the config"
            ),
        };
        return Err(cursor.error_at(col, message));
    }
    Ok(name.to_string())
}

fn duration(cursor: &mut Cursor<'_>) -> Result<Duration, ParseError> {
    cursor.skip_ws();
    let col = cursor.col();
    let word = cursor.word();
    if word.is_empty() {
        return Err(cursor.error("expected a duration such as 250ms, 5s or 2m"));
    }
    parse_duration(word).map_err(|e| cursor.error_at(col, e))
}

/// The text after a session name: a quoted string, or the rest of the line as it is.
fn rest_text(cursor: &mut Cursor<'_>) -> Result<Vec<u8>, ParseError> {
    cursor.skip_ws();
    if cursor.peek() == Some('"') {
        let save = cursor.pos;
        // A bad escape or a missing closing quote is an error, not text to send.
        let bytes = cursor.quoted()?;
        cursor.skip_ws();
        if cursor.at_step_end() {
            return Ok(bytes);
        }
        // More than one quoted string: the whole rest, quotes included, is the text.
        cursor.pos = save;
    }
    Ok(cursor.rest().trim_end().as_bytes().to_vec())
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
