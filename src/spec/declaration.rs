//! Session declarations as scripts, `-s` and the socket's `add` write them:
//! `NAME [key=value ...]: COMMAND LINE`, read into the one spec builder.

use super::*;

/// A session declared as `NAME [key=value ...]: COMMAND LINE`, with where each key stood.
#[derive(Debug)]
pub struct Declaration {
    pub builder: SpecBuilder,
    /// Byte offsets of the name and of each key in the text.
    name_at: usize,
    keys: Vec<(String, usize)>,
}

impl Declaration {
    /// The spec; an error comes with the byte offset of the key (or name) it is about.
    pub fn finish(self, base: Option<&Path>) -> Result<SessionSpec, (usize, SpecError)> {
        let (name_at, keys) = (self.name_at, self.keys);
        self.builder.finish(base).map_err(|err| {
            let at = keys
                .iter()
                .find(|(k, _)| *k == err.key)
                .map_or(name_at, |(_, at)| *at);
            (at, err)
        })
    }
}

/// Parses `NAME [key=value ...]: COMMAND LINE` (the script step's and `-s`'s form) from
/// `text` (the command is set unless `shell` was given). Errors come with the byte offset
/// in `text` of the faulty part.
pub fn parse_declaration(text: &str) -> Result<Declaration, (usize, SpecError)> {
    let mut rest = text.trim_start();
    let mut at = text.len() - rest.len();
    let name_len = rest
        .find(|c: char| c == ':' || c.is_whitespace())
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(name_len);
    if name.is_empty() {
        return Err((
            at,
            whole_error("expected a session name: NAME [key=value ...]: COMMAND"),
        ));
    }
    let mut builder = SpecBuilder::new(name).map_err(|e| (at, e))?;
    let name_at = at;
    let mut keys = Vec::new();
    at += name_len;
    rest = after;
    loop {
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        rest = trimmed;
        if let Some(command) = rest.strip_prefix(':') {
            let command_at = at + 1 + (command.len() - command.trim_start().len());
            if !command.trim().is_empty() {
                builder
                    .set("command", Value::Text(command.trim().to_string()))
                    .map_err(|e| (command_at, e))?;
            }
            if !builder.has_program() {
                return Err((command_at, whole_error("expected a command after `:`")));
            }
            keys.push(("command".to_string(), command_at));
            return Ok(Declaration {
                builder,
                name_at,
                keys,
            });
        }
        if rest.is_empty() {
            if builder.has_program() {
                return Ok(Declaration {
                    builder,
                    name_at,
                    keys,
                });
            }
            return Err((
                at,
                whole_error("expected `:` and the command: NAME [key=value ...]: COMMAND"),
            ));
        }
        let (option, value_text, used) =
            option_at(rest).map_err(|message| (at, whole_error(&message)))?;
        let Some((key, _)) = option.split_once('=') else {
            return Err((
                at,
                whole_error(&format!(
                    "expected `:` after the session name, found `{option}`"
                )),
            ));
        };
        let value_at = at + key.len() + 1;
        keys.push((key.to_string(), at));
        builder
            .set(key, Value::Text(value_text))
            .map_err(|e| (if e.part == Part::Key { at } else { value_at }, e))?;
        at += used;
        rest = &rest[used..];
    }
}

/// Parses a `-s` session (also `sandmux ctl add`): `NAME [key=value ...]: COMMAND LINE` (a
/// script's `session` step), `NAME=COMMAND LINE`, or just `COMMAND LINE` (named after the
/// program). `taken` are the names already used.
pub fn parse_session_arg(arg: &str, taken: &[String]) -> Result<SessionSpec, String> {
    let fail = |why: &str| format!("-s {arg}: {why}");
    let spec = if is_declaration(arg) {
        parse_declaration(arg)
            .and_then(|d| d.finish(None))
            .map_err(|(_, err)| fail(&err.message))?
    } else {
        let (name, command) = match arg.split_once('=') {
            // `valid_name` already rules out `/`; a dotted name needs a command after `=`.
            Some((name, command))
                if valid_name(name) && (!name.contains('.') || !command.is_empty()) =>
            {
                (Some(name.to_string()), command)
            }
            _ => (None, arg),
        };
        let argv = shlex::split(command).ok_or_else(|| {
            fail("the command line has an unclosed quote or a trailing backslash")
        })?;
        let Some(program) = argv.first() else {
            return Err(fail("the command is empty"));
        };
        let name = name.unwrap_or_else(|| free_name(program, taken));
        let mut builder = SpecBuilder::new(&name).map_err(|e| fail(&e.message))?;
        builder
            .set("command", Value::List(argv))
            .map_err(|e| fail(&e.message))?;
        builder.finish(None).map_err(|e| fail(&e.message))?
    };
    if taken.contains(&spec.name) {
        return Err(fail(&format!(
            "a session named `{}` already exists",
            spec.name
        )));
    }
    Ok(spec)
}

/// Whether `arg` is written as a declaration: a name, then only `key=value` options, then
/// `:` (or a `shell=` option and nothing else).
fn is_declaration(arg: &str) -> bool {
    let head = arg.split(':').next().unwrap_or("");
    let mut words = head.split_whitespace();
    let name_ok = words.next().is_some_and(valid_name);
    let options_ok = words.all(|w| w.contains('=') || w.starts_with('"') || w.ends_with('"'));
    name_ok && options_ok && (arg.contains(':') || arg.contains(" shell="))
}

/// A session name after the program (`/usr/bin/top` is `top`), not yet in `taken`.
fn free_name(program: &str, taken: &[String]) -> String {
    let base: String = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = if base.is_empty() {
        "session".to_string()
    } else {
        base
    };
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

fn whole_error(message: &str) -> SpecError {
    SpecError {
        key: String::new(),
        part: Part::Session,
        message: message.to_string(),
    }
}

/// One `key=value` or `key="quoted value"` at the start of `text`: the option as written
/// (up to the value), the value, and the bytes used.
fn option_at(text: &str) -> Result<(&str, String, usize), String> {
    let end = text
        .find(|c: char| c.is_whitespace() || c == '"' || c == ':')
        .unwrap_or(text.len());
    let head = &text[..end];
    if text[end..].starts_with('"') && head.ends_with('=') {
        let (value, used) = crate::text::unquote(&text[end..]).map_err(|(_, why)| why)?;
        let value =
            String::from_utf8(value).map_err(|_| "the value is not valid UTF-8".to_string())?;
        return Ok((head, value, end + used));
    }
    let value = head.split_once('=').map_or("", |(_, v)| v).to_string();
    Ok((head, value, end))
}
