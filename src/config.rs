//! The TOML config file: settings and sessions. Unknown keys are rejected, and every error
//! names the file, line and column.
//!
//! ```toml
//! [settings]
//! scrollback_lines = 10000
//! scrollback_bytes = "16MiB"
//! layout = "list"        # the TUI's layout: auto (by session count), tiles or list
//! bell = true            # ring the terminal bell when a session needs you
//! notify = true          # and send a desktop notification (OSC 777 / OSC 9)
//!
//! [[session]]
//! name = "echo"
//! command = ["sed", "-u", "s/^/ack:/"]
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::engine::{ScrollbackLimits, SessionSpec};
use crate::spec::{self, Part, SpecBuilder};
use crate::units::parse_size;

/// A config error with its position in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based; 0 when the error is not about a position (e.g. the file cannot be read).
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.col,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// A loaded, validated config.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub settings: Settings,
    pub sessions: Vec<SessionSpec>,
}

/// The `[settings]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    pub scrollback: ScrollbackLimits,
    /// The TUI's layout at start.
    pub layout: LayoutSetting,
    /// Ring the terminal bell when an unfocused session needs attention.
    pub bell: bool,
    /// Send a desktop notification (OSC 777 and OSC 9) when one does.
    pub notify: bool,
}

/// The TUI's `layout` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayoutSetting {
    /// Tiles for a few sessions, the list beyond that.
    #[default]
    Auto,
    Tiles,
    List,
}

impl LayoutSetting {
    pub fn parse(text: &str) -> Option<LayoutSetting> {
        match text {
            "auto" => Some(LayoutSetting::Auto),
            "tiles" => Some(LayoutSetting::Tiles),
            "list" => Some(LayoutSetting::List),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    settings: Option<RawSettings>,
    #[serde(default)]
    session: Vec<RawSession>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    scrollback_lines: Option<Spanned<i64>>,
    scrollback_bytes: Option<Spanned<SizeValue>>,
    max_line_bytes: Option<Spanned<SizeValue>>,
    layout: Option<Spanned<String>>,
    bell: Option<bool>,
    notify: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(i64),
    Text(String),
}

/// A `[[session]]` table: every key with where it stands, for the session-spec builder.
type RawSession = Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>;

impl Config {
    /// Engine options from a config's settings (defaults without one) and a transcript
    /// directory.
    pub fn engine_options(
        config: Option<&Config>,
        transcript_dir: Option<PathBuf>,
    ) -> crate::engine::EngineOptions {
        crate::engine::EngineOptions {
            scrollback: config.map_or(ScrollbackLimits::default(), |c| c.settings.scrollback),
            transcript_dir,
            ..crate::engine::EngineOptions::default()
        }
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let what = "the config file";
        let text = crate::input_file::read_text(path, what, crate::input_file::MAX_CONFIG)
            .map_err(|err| match err {
                crate::input_file::TextError::NotUtf8 { line, col } => ConfigError {
                    path: path.to_path_buf(),
                    line,
                    col,
                    message: "the config file is not valid UTF-8 text".into(),
                },
                crate::input_file::TextError::Read(sentence) => ConfigError {
                    path: path.to_path_buf(),
                    line: 0,
                    col: 0,
                    message: sentence,
                },
            })?;
        Config::parse(&text, path)
    }

    /// Parses config text; `path` is used in messages and to resolve relative `cwd`s.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let at = |span: Option<Range<usize>>, message: String| {
            let (line, col) = span.map_or((1, 1), |s| line_col(text, s.start));
            ConfigError {
                path: path.to_path_buf(),
                line,
                col,
                message,
            }
        };
        let raw: RawConfig =
            toml::from_str(text).map_err(|err| at(err.span(), tidy(err.message())))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();

        let mut settings = Settings::default();
        if let Some(raw) = raw.settings {
            if let Some(layout) = raw.layout {
                settings.layout = LayoutSetting::parse(layout.get_ref()).ok_or_else(|| {
                    at(
                        Some(layout.span()),
                        format!(
                            "unknown layout `{}` (known: auto, tiles, list)",
                            layout.get_ref()
                        ),
                    )
                })?;
            }
            settings.bell = raw.bell.unwrap_or(false);
            settings.notify = raw.notify.unwrap_or(false);
            if let Some(lines) = raw.scrollback_lines {
                let value = *lines.get_ref();
                if value < 1 {
                    return Err(at(
                        Some(lines.span()),
                        "scrollback_lines must be at least 1".into(),
                    ));
                }
                settings.scrollback.max_lines = value as usize;
            }
            for (field, value, target) in [
                (
                    "scrollback_bytes",
                    raw.scrollback_bytes,
                    &mut settings.scrollback.max_bytes,
                ),
                (
                    "max_line_bytes",
                    raw.max_line_bytes,
                    &mut settings.scrollback.max_line_bytes,
                ),
            ] {
                if let Some(value) = value {
                    let span = value.span();
                    let bytes = match value.into_inner() {
                        SizeValue::Bytes(n) if n >= 1 => n as u64,
                        SizeValue::Bytes(_) => {
                            return Err(at(Some(span), format!("{field} must be at least 1 byte")));
                        }
                        SizeValue::Text(text) => parse_size(&text)
                            .map_err(|e| at(Some(span.clone()), format!("{field}: {e}")))?,
                    };
                    if bytes < 1 {
                        return Err(at(Some(span), format!("{field} must be at least 1 byte")));
                    }
                    *target = bytes as usize;
                }
            }
        }

        let mut names = HashSet::new();
        let mut sessions = Vec::new();
        for raw in raw.session {
            let (spec, name_span) = session_spec(raw, &base, &at)?;
            if !names.insert(spec.name.clone()) {
                return Err(at(
                    Some(name_span),
                    format!("duplicate session name `{}`", spec.name),
                ));
            }
            sessions.push(spec);
        }
        Ok(Config { settings, sessions })
    }
}

/// One `[[session]]` table through the session-spec builder; errors point at the key or
/// value they are about.
fn session_spec(
    raw: RawSession,
    base: &Path,
    at: &impl Fn(Option<Range<usize>>, String) -> ConfigError,
) -> Result<(SessionSpec, Range<usize>), ConfigError> {
    let table_span = raw.span();
    let mut entries: Vec<(Spanned<String>, Spanned<toml::Value>)> =
        raw.into_inner().into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let Some(index) = entries.iter().position(|(k, _)| k.get_ref() == "name") else {
        return Err(at(
            Some(table_span),
            "a [[session]] needs `name = \"NAME\"`".into(),
        ));
    };
    let (_, name) = entries.remove(index);
    let name_span = name.span();
    let toml::Value::String(name) = name.into_inner() else {
        return Err(at(Some(name_span), "`name` takes text".into()));
    };
    let mut builder =
        SpecBuilder::new(&name).map_err(|e| at(Some(name_span.clone()), e.message))?;
    let mut spans = Vec::new();
    for (key, value) in entries {
        let (key_span, value_span) = (key.span(), value.span());
        let key = key.into_inner();
        let value = spec_value(&key, value.into_inner())
            .map_err(|message| at(Some(value_span.clone()), message))?;
        builder.set(&key, value).map_err(|e| {
            let span = if e.part == Part::Key {
                &key_span
            } else {
                &value_span
            };
            at(Some(span.clone()), e.message)
        })?;
        spans.push((key, key_span));
    }
    let spec = builder.finish(Some(base)).map_err(|e| {
        let span = spans
            .iter()
            .find(|(k, _)| *k == e.key)
            .map_or(name_span.clone(), |(_, span)| span.clone());
        at(Some(span), e.message)
    })?;
    Ok((spec, name_span))
}

/// A TOML value as the builder takes it.
fn spec_value(key: &str, value: toml::Value) -> Result<spec::Value, String> {
    let strings = |items: Vec<toml::Value>| -> Option<Vec<String>> {
        items
            .into_iter()
            .map(|v| match v {
                toml::Value::String(s) => Some(s),
                _ => None,
            })
            .collect()
    };
    Ok(match value {
        toml::Value::String(s) => spec::Value::Text(s),
        toml::Value::Integer(n) => spec::Value::Int(n),
        toml::Value::Boolean(b) => spec::Value::Bool(b),
        toml::Value::Array(items) => spec::Value::List(
            strings(items).ok_or_else(|| format!("`{key}` takes a list of strings"))?,
        ),
        toml::Value::Table(table) => spec::Value::Table(
            table
                .into_iter()
                .map(|(k, v)| match v {
                    toml::Value::String(s) => Some((k, s)),
                    _ => None,
                })
                .collect::<Option<_>>()
                .ok_or_else(|| format!("`{key}` takes a table of strings"))?,
        ),
        other => return Err(format!("`{key}` does not take {}", other.type_str())),
    })
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// toml's message on one line (it ends with a newline and sometimes names fields in
/// backticks already); an unknown field gets a "did you mean" from the fields serde lists
/// (`unknown field `x`, expected one of `a`, `b``).
fn tidy(message: &str) -> String {
    let message = message.trim().replace('\n', " ");
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message;
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message;
    };
    let known = expected.split('`').skip(1).step_by(2);
    match crate::text::closest(field, known) {
        Some(near) => format!(
            "unknown field `{field}`: did you mean `{near}`? ({})",
            expected.trim_start_matches(',').trim()
        ),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{BackendSpec, Program, Protocol, SandboxSpec, View};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("dir/sandmux.toml"))
    }

    #[test]
    fn the_documented_example_parses() {
        let config = parse(
            r#"
[settings]
scrollback_lines = 500
scrollback_bytes = "1MiB"

[[session]]
name = "echo"
command = ["sed", "-u", "s/^/ack:/"]
cwd = "."
env = { GREETING = "hi" }
backend = "local"

[[session]]
name = "shout"
shell = "echo hi | tr a-z A-Z"
"#,
        )
        .unwrap();
        assert_eq!(config.settings.scrollback.max_lines, 500);
        assert_eq!(config.settings.scrollback.max_bytes, 1024 * 1024);
        assert_eq!(config.sessions.len(), 2);
        assert_eq!(config.sessions[0].cwd.as_deref(), Some(Path::new("dir/.")));
        assert_eq!(config.sessions[0].env["GREETING"], "hi");
        assert_eq!(
            config.sessions[1].program,
            Program::Shell("echo hi | tr a-z A-Z".into())
        );
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let err = parse("[[session]]\nname = \"a\"\ncommand = [\"cat\"]\ncolour = \"red\"\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("dir/sandmux.toml:4:1: "), "{text}");
        assert!(text.contains("colour"), "{text}");
        let err = parse("[settings]\nscrollback = 3\n").unwrap_err();
        assert_eq!((err.line, err.col), (2, 1));
        assert!(err.message.contains("scrollback"));
    }

    #[test]
    fn invalid_sessions_are_explained() {
        let cases = [
            (
                "[[session]]\nname = \"a b\"\ncommand = [\"cat\"]\n",
                2,
                "invalid session name",
            ),
            (
                "[[session]]\nname = \"a\"\ncommand = [\"cat\"]\n[[session]]\nname = \"a\"\ncommand = [\"cat\"]\n",
                5,
                "duplicate session name",
            ),
            (
                "[[session]]\nname = \"a\"\n",
                2,
                "needs a command (`command`",
            ),
            (
                "[[session]]\nname = \"a\"\ncommand = [\"x\"]\nspeed = 3\n",
                4,
                "unknown session key `speed` (known: command, shell, cwd",
            ),
            ("[[session]]\ncommand = [\"x\"]\n", 1, "needs `name"),
            (
                "[[session]]\nname = \"a\"\ncommand = []\n",
                3,
                "`command` is empty",
            ),
            (
                "[[session]]\nname = \"a\"\ncommand = [\"x\"]\nshell = \"y\"\n",
                4,
                "both `command` and `shell`",
            ),
            (
                "[[session]]\nname = \"a\"\ncommand = [\"x\"]\nbackend = \"cloud9\"\n",
                4,
                "unknown backend",
            ),
            (
                "[settings]\nscrollback_bytes = \"lots\"\n",
                2,
                "scrollback_bytes",
            ),
            ("[settings]\nscrollback_lines = 0\n", 2, "at least 1"),
            (
                "[settings]\nlayout = \"grid\"\n",
                2,
                "unknown layout `grid` (known: auto, tiles, list)",
            ),
            ("[settings]\nbell = \"yes\"\n", 2, "invalid type"),
            (
                "[[session]]\nname = \"a\"\ncommand = [\"x\", 3]\n",
                3,
                "`command` takes a list of strings",
            ),
            ("this is not toml", 1, ""),
        ];
        for (text, line, needle) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.message.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn sandbox_sessions_parse_and_are_checked() {
        let config = parse(
            "[[session]]\nname = \"agent\"\nbackend = \"microsandbox\"\nsandbox = \"dev\"\nimage = \"alpine\"\ncpus = 1\nmemory = \"512M\"\nkeep = true\nuser = \"root\"\ncwd = \"/work\"\ncommand = [\"sh\"]\n",
        )
        .unwrap();
        assert_eq!(
            config.sessions[0].backend,
            BackendSpec::Microsandbox(SandboxSpec {
                sandbox: "dev".into(),
                image: Some("alpine".into()),
                cpus: Some(1),
                memory_mib: Some(512),
                keep: true,
                user: Some("root".into()),
            })
        );
        assert_eq!(config.sessions[0].cwd.as_deref(), Some(Path::new("/work")));
        let cases = [
            (
                "[[session]]\nname = \"a\"\ncommand = [\"x\"]\nimage = \"alpine\"\n",
                4,
                "is for sandbox sessions: add `sandbox`",
            ),
            (
                "[[session]]\nname = \"a\"\nbackend = \"microsandbox\"\ncommand = [\"x\"]\n",
                3,
                "needs `sandbox",
            ),
            (
                "[[session]]\nname = \"a\"\nbackend = \"microsandbox\"\nsandbox = \"d\"\ncpus = 0\ncommand = [\"x\"]\n",
                5,
                "cpus must be",
            ),
            (
                "[[session]]\nname = \"a\"\nbackend = \"microsandbox\"\nsandbox = \"d\"\nmemory = \"lots\"\ncommand = [\"x\"]\n",
                5,
                "memory",
            ),
        ];
        for (text, line, needle) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.message.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn a_command_may_be_a_line_split_like_a_script_s() {
        let config = parse("[[session]]\nname = \"a\"\ncommand = \"sed -u 's/^/x /'\"\n").unwrap();
        assert_eq!(
            config.sessions[0].program,
            Program::Argv(vec!["sed".into(), "-u".into(), "s/^/x /".into()])
        );
    }

    #[test]
    fn agent_sessions_take_protocol_view_and_prompt() {
        let config = parse("[[session]]\nname = \"a\"\ncommand = [\"x\"]\nprotocol = \"stream-json\"\nview = \"json\"\nprompt = \"^> $\"\n").unwrap();
        assert_eq!(config.sessions[0].protocol, Protocol::StreamJson);
        assert_eq!(config.sessions[0].view, Some(View::Json));
        assert_eq!(config.sessions[0].prompt.as_deref(), Some("^> $"));
        for (text, needle) in [
            ("protocol = \"xml\"", "unknown protocol"),
            ("view = \"tree\"", "unknown view"),
            ("prompt = \"(\"", "invalid prompt regex"),
        ] {
            let err = parse(&format!(
                "[[session]]\nname = \"a\"\ncommand = [\"x\"]\n{text}\n"
            ))
            .unwrap_err();
            assert_eq!(err.line, 4, "{err}");
            assert!(err.message.contains(needle), "{err}");
        }
    }

    #[test]
    fn a_missing_file_is_one_sentence() {
        let err = Config::load(Path::new("/nonexistent/sandmux.toml")).unwrap_err();
        assert_eq!(err.line, 0);
        assert!(
            err.to_string()
                .starts_with("/nonexistent/sandmux.toml: cannot read the config file")
        );
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 5), (1, 1));
    }
}
