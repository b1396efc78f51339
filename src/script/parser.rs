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

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use regex::bytes::Regex;

pub use crate::matcher::{JsonOp, Pattern};

use crate::engine::{Protocol, SessionSpec, Stream, parse_signal};
use crate::units::parse_duration;

/// A parse error at a position of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

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
}

/// A step with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based line number.
    pub line: usize,
    /// The step as written (trimmed), for messages and reports.
    pub text: String,
    pub kind: StepKind,
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
            | StepKind::Turn { session, .. } => Some(session),
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
    for (index, raw) in source.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let mut cursor = Cursor::new(line, line_no);
        cursor.skip_ws();
        if cursor.at_end() || cursor.peek() == Some('#') {
            continue;
        }
        let step = parse_step(&mut cursor, &declared)?;
        if let StepKind::Session(spec) = &step.kind {
            declared.insert(spec.name.clone(), spec.protocol);
        }
        steps.push(step);
    }
    Ok(steps)
}

/// The sessions declared so far, with the protocol each speaks.
type Declared = HashMap<String, Protocol>;

fn parse_step(cursor: &mut Cursor<'_>, declared: &Declared) -> Result<Step, ParseError> {
    let text = cursor.line.trim().to_string();
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
        "expect" => parse_expect(cursor, declared)?,
        "expect-json" => parse_expect_json(cursor, declared)?,
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
            let session = session_ref(cursor, declared)?;
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
                                "unexpected `{other}`: expected `exit CODE` or `within DURATION`"
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
                    "unknown step `{other}` (steps: session, send, write, expect, expect-json, turn, close, wait, kill, sleep, set)"
                ),
            ));
        }
    };
    Ok(Step { line, text, kind })
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

fn parse_expect(cursor: &mut Cursor<'_>, declared: &Declared) -> Result<StepKind, ParseError> {
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
    let pattern = pattern(cursor)?;
    let within = optional_within(cursor, " after the pattern")?;
    Ok(StepKind::Expect {
        session,
        stream,
        pattern,
        within,
    })
}

/// A `"literal"` or a `/regex/`.
fn pattern(cursor: &mut Cursor<'_>) -> Result<Pattern, ParseError> {
    let pattern_col = cursor.col();
    Ok(match cursor.peek() {
        Some('"') => Pattern::Literal(cursor.quoted()?),
        Some('/') => {
            let source = cursor.regex_literal()?;
            let regex = Regex::new(&source).map_err(|err| {
                let why = crate::text::regex_error(&err);
                cursor.error_at(pattern_col, format!("invalid regex /{source}/: {why}"))
            })?;
            Pattern::Regex(regex)
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
    let pattern = pattern(&mut cursor)?;
    cursor.end_of_step()?;
    Ok(pattern)
}

/// A JSON predicate as `expect-json` writes it (`POINTER OP VALUE`), for other front ends.
pub fn parse_json_predicate(text: &str) -> Result<(String, JsonOp), ParseError> {
    let mut cursor = Cursor::new(text, 1);
    let predicate = json_predicate(&mut cursor)?;
    cursor.end_of_step()?;
    Ok(predicate)
}

/// `expect-json NAME POINTER OP VALUE [within DURATION]`.
fn parse_expect_json(cursor: &mut Cursor<'_>, declared: &Declared) -> Result<StepKind, ParseError> {
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

/// An optional `within DURATION`, then the end of the step. `after` says where an
/// unexpected word stands (" after the pattern"), for the message.
fn optional_within(cursor: &mut Cursor<'_>, after: &str) -> Result<Option<Duration>, ParseError> {
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

fn session_ref(cursor: &mut Cursor<'_>, declared: &Declared) -> Result<String, ParseError> {
    cursor.skip_ws();
    let col = cursor.col();
    let name = cursor.word();
    if name.is_empty() {
        return Err(cursor.error("expected a session name"));
    }
    if !declared.contains_key(name) {
        return Err(cursor.error_at(
            col,
            format!("unknown session `{name}`: declare it first with `session {name}: COMMAND` or in the config"),
        ));
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

/// A position in one line of the script.
struct Cursor<'a> {
    line: &'a str,
    line_no: usize,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(line: &'a str, line_no: usize) -> Self {
        Cursor {
            line,
            line_no,
            pos: 0,
        }
    }

    fn col(&self) -> usize {
        self.line[..self.pos].chars().count() + 1
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.col(), message)
    }

    fn error_at(&self, col: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line_no,
            col,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.line[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// At the end of the line or at a trailing `# comment`.
    fn at_step_end(&self) -> bool {
        self.at_end() || self.peek() == Some('#')
    }

    fn end_of_step(&mut self) -> Result<(), ParseError> {
        self.skip_ws();
        if self.at_step_end() {
            Ok(())
        } else {
            let extra = self.rest().trim_end().to_string();
            Err(self.error(format!("unexpected `{extra}` at the end of the step")))
        }
    }

    fn skip_ws(&mut self) {
        self.take_while(char::is_whitespace);
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !keep(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.line[start..self.pos]
    }

    fn word(&mut self) -> &'a str {
        self.take_while(|c| !c.is_whitespace())
    }

    fn rest(&mut self) -> &'a str {
        let rest = &self.line[self.pos..];
        self.pos = self.line.len();
        rest
    }

    /// A double-quoted string with escapes `\n \t \r \0 \e \\ \" \xNN`.
    fn quoted(&mut self) -> Result<Vec<u8>, ParseError> {
        let start = self.pos;
        match crate::text::unquote(&self.line[start..]) {
            Ok((bytes, used)) => {
                self.pos += used;
                Ok(bytes)
            }
            Err((at, why)) => {
                self.pos = start + at;
                Err(self.error(why))
            }
        }
    }

    /// A `/regex/`: `\/` stands for a slash, every other escape is the regex's own.
    fn regex_literal(&mut self) -> Result<String, ParseError> {
        let open_col = self.col();
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error_at(open_col, "unclosed regex: add the closing `/`")),
                Some('/') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('/') => out.push('/'),
                    Some(c) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => {
                        return Err(self.error_at(open_col, "unclosed regex: add the closing `/`"));
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{BackendSpec, Program, SandboxSpec};

    fn parse(src: &str) -> Result<Vec<Step>, ParseError> {
        parse_script(src, &[])
    }

    fn err(src: &str) -> (usize, usize, String) {
        let e = parse(src).unwrap_err();
        (e.line, e.col, e.message)
    }

    #[test]
    fn a_whole_turn_script_parses() {
        let steps = parse(
            "# echo bot\n\
             session echo: sed -u \"s/^/ack:/\"\n\
             \n\
             send echo turn1\n\
             expect echo stdout \"ack:turn1\" within 2s\n\
             expect echo /ack:\\w+/\n\
             write echo \"raw\\x41\"\n\
             close echo\n\
             wait echo exit 0 within 5s\n\
             kill echo KILL\n\
             sleep 250ms\n\
             set timeout 3s\n",
        )
        .unwrap();
        assert_eq!(steps.len(), 10);
        match &steps[0].kind {
            StepKind::Session(spec) => {
                assert_eq!(spec.name, "echo");
                assert_eq!(
                    spec.program,
                    Program::Argv(vec!["sed".into(), "-u".into(), "s/^/ack:/".into()])
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            steps[1].kind,
            StepKind::Send {
                session: "echo".into(),
                bytes: b"turn1\n".to_vec()
            }
        );
        assert_eq!(steps[1].line, 4);
        assert_eq!(
            steps[2].kind,
            StepKind::Expect {
                session: "echo".into(),
                stream: Some(Stream::Stdout),
                pattern: Pattern::Literal(b"ack:turn1".to_vec()),
                within: Some(Duration::from_secs(2)),
            }
        );
        assert!(
            matches!(&steps[3].kind, StepKind::Expect { stream: None, pattern: Pattern::Regex(r), .. } if r.as_str() == "ack:\\w+")
        );
        assert_eq!(
            steps[4].kind,
            StepKind::Send {
                session: "echo".into(),
                bytes: b"rawA".to_vec()
            }
        );
        assert_eq!(
            steps[6].kind,
            StepKind::Wait {
                session: "echo".into(),
                exit: Some(0),
                within: Some(Duration::from_secs(5))
            }
        );
        assert_eq!(
            steps[7].kind,
            StepKind::Kill {
                session: "echo".into(),
                signal: libc::SIGKILL
            }
        );
        assert_eq!(steps[9].kind, StepKind::SetTimeout(Duration::from_secs(3)));
        assert_eq!(steps[2].text, "expect echo stdout \"ack:turn1\" within 2s");
    }

    #[test]
    fn send_takes_the_rest_of_the_line_or_one_quoted_string() {
        let steps = parse("session a: cat\nsend a hello  world # not a comment\nsend a \"x\\ty\"\nsend a \"a\" and \"b\"\nsend a\n").unwrap();
        let bytes: Vec<_> = steps[1..]
            .iter()
            .map(|s| match &s.kind {
                StepKind::Send { bytes, .. } => bytes.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(bytes[0], b"hello  world # not a comment\n");
        assert_eq!(bytes[1], b"x\ty\n");
        assert_eq!(bytes[2], b"\"a\" and \"b\"\n");
        assert_eq!(bytes[3], b"\n");
    }

    #[test]
    fn kill_defaults_to_term_and_trailing_comments_are_allowed() {
        let steps = parse("session a: cat\nkill a   # stop it\nclose a # eof\n").unwrap();
        assert_eq!(
            steps[1].kind,
            StepKind::Kill {
                session: "a".into(),
                signal: libc::SIGTERM
            }
        );
        assert_eq!(
            steps[2].kind,
            StepKind::Close {
                session: "a".into()
            }
        );
    }

    #[test]
    fn regex_slashes_can_be_escaped() {
        let steps = parse("session a: cat\nexpect a /a\\/b/\n").unwrap();
        assert!(
            matches!(&steps[1].kind, StepKind::Expect { pattern: Pattern::Regex(r), .. } if r.as_str() == "a/b")
        );
    }

    #[test]
    fn session_options_and_config_sessions() {
        let steps = parse_script(
            "session b cwd=/tmp env.X=1: pwd\nsend a hi\n",
            &[SessionSpec::local("a", vec!["cat".into()])],
        )
        .unwrap();
        match &steps[0].kind {
            StepKind::Session(spec) => {
                assert_eq!(spec.cwd.as_deref(), Some(std::path::Path::new("/tmp")));
                assert_eq!(spec.env.get("X").map(String::as_str), Some("1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(err("frobnicate x").0, 1);
        assert_eq!(err("frobnicate x").1, 1);
        assert!(err("frobnicate x").2.contains("unknown step `frobnicate`"));
        assert_eq!(
            err("session a: cat\nsend b hi"),
            (
                2,
                6,
                "unknown session `b`: declare it first with `session b: COMMAND` or in the config"
                    .into()
            )
        );
        let (l, c, m) = err("session a: cat\nexpect a \"open");
        assert_eq!((l, c), (2, 10));
        assert!(m.contains("unclosed string"));
        let (l, c, m) = err("session a: cat\nexpect a /(/");
        assert_eq!((l, c), (2, 10));
        assert!(m.starts_with("invalid regex /(/"), "{m}");
        let (_, c, m) = err("session a: cat\nexpect a \"x\" within 5parsecs");
        assert_eq!(c, 21);
        assert!(m.contains("unknown unit"));
        let (_, c, m) = err("session a: cat\nwait a exit zero");
        assert_eq!(c, 13);
        assert!(m.contains("exit code"));
        let (_, c, m) = err("session a: cat\nkill a NOPE");
        assert_eq!(c, 8);
        assert!(m.contains("unknown signal"));
        for (src, needle) in [
            ("session a cat", "expected `:`"),
            ("session a: cat\nsession a: cat", "already declared"),
            ("session a b: cat", "expected `:` after the session name"),
            ("session bad/name: cat", "invalid session name"),
            ("session a:   ", "expected a command"),
            ("session a: 'unclosed", "unclosed quote"),
            ("session a: cat\nexpect a stdout", "expected a pattern"),
            ("session a: cat\nexpect a bare", "expected a pattern"),
            ("session a: cat\nwrite a bare", "double-quoted"),
            ("session a: cat\nclose a now", "unexpected `now`"),
        ] {
            assert!(err(src).2.contains(needle), "{src}: {}", err(src).2);
        }
        assert!(err("set colour red").2.contains("unknown setting"));
        assert!(err("sleep").2.contains("expected a duration"));
        let (_, c, m) = err("session a: cat\nsend a \"\\xZZ\"");
        assert_eq!(c, 9, "{m}");
    }

    #[test]
    fn sandbox_sessions_take_their_options() {
        let steps = parse("session agent sandbox=dev image=alpine cpus=2 memory=512M keep=true user=root cwd=/work: sh -c 'echo hi'\n").unwrap();
        match &steps[0].kind {
            StepKind::Session(spec) => {
                assert_eq!(
                    spec.backend,
                    BackendSpec::Microsandbox(SandboxSpec {
                        sandbox: "dev".into(),
                        image: Some("alpine".into()),
                        cpus: Some(2),
                        memory_mib: Some(512),
                        keep: true,
                        user: Some("root".into()),
                    })
                );
                assert_eq!(spec.cwd.as_deref(), Some(std::path::Path::new("/work")));
            }
            other => panic!("{other:?}"),
        }
        let (_, c, m) = err("session a image=alpine: sh");
        assert_eq!(c, 11);
        assert!(m.contains("add `sandbox`"), "{m}");
        let (_, c, m) = err("session a sandbox=dev cpus=lots: sh");
        assert_eq!(c, 28);
        assert!(m.contains("cpus must be"), "{m}");
        assert!(
            err("session a sandbox=dev memory=12parsecs: sh")
                .2
                .contains("unknown unit")
        );
        assert!(
            err("session a sandbox=dev keep=maybe: sh")
                .2
                .contains("true or false")
        );
        assert!(
            err("session a sandbox=b/ad: sh")
                .2
                .contains("invalid sandbox name")
        );
    }

    #[test]
    fn expect_json_and_turn_steps() {
        let steps = parse(
            "session agent protocol=stream-json: sandmux demo-agent\n\
             turn agent \"hello there\" within 5s\n\
             expect-json agent /type == \"result\"\n\
             expect-json agent /num_turns == 3 within 2s\n\
             expect-json agent /message/content/0/text ~ /said: h/\n\
             expect-json agent /session_id exists\n\
             expect-json agent /x == {\"a\": [1, 2]} # comment\n",
        )
        .unwrap();
        match &steps[0].kind {
            StepKind::Session(spec) => assert_eq!(spec.protocol, Protocol::StreamJson),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            steps[1].kind,
            StepKind::Turn {
                session: "agent".into(),
                text: "hello there".into(),
                within: Some(Duration::from_secs(5))
            }
        );
        assert_eq!(
            steps[2].kind,
            StepKind::ExpectJson {
                session: "agent".into(),
                pointer: "/type".into(),
                op: JsonOp::Eq(serde_json::json!("result")),
                within: None
            }
        );
        assert_eq!(
            steps[3].kind,
            StepKind::ExpectJson {
                session: "agent".into(),
                pointer: "/num_turns".into(),
                op: JsonOp::Eq(serde_json::json!(3)),
                within: Some(Duration::from_secs(2))
            }
        );
        assert!(
            matches!(&steps[4].kind, StepKind::ExpectJson { op: JsonOp::Matches(r), .. } if r.as_str() == "said: h")
        );
        assert!(matches!(
            &steps[5].kind,
            StepKind::ExpectJson {
                op: JsonOp::Exists,
                ..
            }
        ));
        assert!(
            matches!(&steps[6].kind, StepKind::ExpectJson { op: JsonOp::Eq(v), .. } if v["a"][1] == 2)
        );
    }

    #[test]
    fn expect_json_and_turn_errors_have_positions() {
        let decl = "session a protocol=stream-json: x\nsession b: x\n";
        let e = |line: &str| parse(&format!("{decl}{line}")).unwrap_err();
        let err = e("expect-json a type == 1");
        assert_eq!((err.line, err.col), (3, 15));
        assert!(err.message.contains("starts with `/`"));
        let err = e("expect-json a /type == result");
        assert_eq!(err.col, 24);
        assert!(
            err.message.contains("strings need double quotes"),
            "{}",
            err.message
        );
        assert!(
            e("expect-json a /type >= 1")
                .message
                .contains("unknown operator `>=`")
        );
        assert!(
            e("expect-json a /type ~ /(/")
                .message
                .contains("invalid regex")
        );
        assert!(e("expect-json a /type").message.contains("expected `==`"));
        let err = e("turn b \"hi\"");
        assert_eq!(err.col, 6);
        assert!(err.message.contains("protocol=stream-json"));
        assert!(e("turn a hi").message.contains("double-quoted"));
        assert!(e("turn a \"hi\" soon").message.contains("expected `within"));
        assert!(
            parse("session a protocol=xml: x")
                .unwrap_err()
                .message
                .contains("unknown protocol")
        );
    }

    #[test]
    fn json_ops_test_values_at_pointers() {
        let v = serde_json::json!({"type": "result", "n": 3, "m": {"t": "hello"}});
        assert!(JsonOp::Eq(serde_json::json!("result")).test(&v, "/type"));
        assert!(!JsonOp::Eq(serde_json::json!("x")).test(&v, "/type"));
        assert!(JsonOp::Matches(regex::Regex::new("^hel").unwrap()).test(&v, "/m/t"));
        assert!(
            !JsonOp::Matches(regex::Regex::new("3").unwrap()).test(&v, "/n"),
            "~ is for strings"
        );
        assert!(JsonOp::Exists.test(&v, "/m"));
        assert!(!JsonOp::Exists.test(&v, "/missing"));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let (_, c, _) = err("session é: cat");
        assert_eq!(c, 9);
    }

    #[test]
    fn crlf_scripts_parse() {
        let steps = parse("session a: cat\r\nsend a hi\r\n").unwrap();
        assert_eq!(
            steps[1].kind,
            StepKind::Send {
                session: "a".into(),
                bytes: b"hi\n".to_vec()
            }
        );
    }

    #[test]
    fn patterns_find_the_end_of_their_match() {
        let lit = Pattern::Literal(b"ab".to_vec());
        assert_eq!(lit.find_end(b"xxabyyab", 0), Some(4));
        assert_eq!(lit.find_end(b"xxabyyab", 4), Some(8));
        assert_eq!(lit.find_end(b"xxab", 9), None);
        let re = Pattern::Regex(Regex::new("^a").unwrap());
        assert_eq!(
            re.find_end(b"aa", 1),
            None,
            "^ anchors to the line start, not the cursor"
        );
    }

    #[test]
    fn no_input_makes_the_parser_panic() {
        // A cheap exhaustive sweep over short strings of tricky characters.
        let alphabet = [
            "session", " ", "a", ":", "\"", "\\", "/", "x", "é", "#", "\t", "expect", "send",
            "within", "1s", "=", "exit",
        ];
        let mut count = 0;
        for a in &alphabet {
            for b in &alphabet {
                for c in &alphabet {
                    for d in &alphabet {
                        let src = format!("session a: cat\n{a}{b}{c}{d}");
                        let _ = parse(&src);
                        let src = format!("{a} {b}{c} {d}");
                        let _ = parse(&src);
                        count += 1;
                    }
                }
            }
        }
        assert!(count > 80_000);
    }
}
