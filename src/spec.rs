//! The one builder of session specs. A session is described in a config's `[[session]]`
//! table, in a script's `session NAME key=value...: COMMAND` step, in `-s`, and in a control
//! socket's `add`; all of them hand their keys to [`SpecBuilder`], so every key means the same
//! thing everywhere, with the same error sentences. Callers turn an error's [`Part`] into a
//! position (`FILE:LINE:COL`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine::{
    BackendSpec, Permissions, Program, Protocol, SandboxSpec, SessionSpec, View, valid_name,
};

/// Every session key, as error messages list them.
pub const KEYS: &str = "command, shell, cwd, env (or env.NAME), backend, sandbox, image, cpus, memory, keep, user, protocol, view, prompt, group, permissions";

/// A key's value as the caller has it: scripts and `-s` have text; TOML has typed values.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
    Table(BTreeMap<String, String>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Text(_) => "text",
            Value::Int(_) => "a number",
            Value::Bool(_) => "true or false",
            Value::List(_) => "a list",
            Value::Table(_) => "a table",
        }
    }
}

/// Which part of a `key = value` an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Key,
    Value,
    /// The session as a whole (e.g. a missing command): point at its name.
    Session,
}

/// One sentence about what is wrong with a session key, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub key: String,
    pub part: Part,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Builds a [`SessionSpec`] key by key.
#[derive(Debug, Clone)]
pub struct SpecBuilder {
    name: String,
    command: Option<Vec<String>>,
    shell: Option<String>,
    cwd: Option<PathBuf>,
    env: BTreeMap<String, String>,
    backend: Option<String>,
    sandbox: SandboxSpec,
    /// Sandbox keys given (other than `sandbox`), for the error when there is no sandbox.
    sandbox_keys: Vec<String>,
    protocol: Protocol,
    view: Option<View>,
    prompt: Option<String>,
    group: Option<String>,
    permissions: Permissions,
}

impl SpecBuilder {
    /// A builder for session `name` (`[A-Za-z0-9_.-]+`).
    pub fn new(name: &str) -> Result<SpecBuilder, SpecError> {
        if !valid_name(name) {
            return Err(SpecError {
                key: "name".into(),
                part: Part::Session,
                message: format!(
                    "invalid session name `{name}`: use letters, digits, `_`, `.` and `-`"
                ),
            });
        }
        Ok(SpecBuilder {
            name: name.to_string(),
            command: None,
            shell: None,
            cwd: None,
            env: BTreeMap::new(),
            backend: None,
            sandbox: SandboxSpec::default(),
            sandbox_keys: Vec::new(),
            protocol: Protocol::Raw,
            view: None,
            prompt: None,
            group: None,
            permissions: Permissions::Ask,
        })
    }

    /// Sets one key. `env.NAME` sets one variable; text values are parsed as the key needs.
    pub fn set(&mut self, key: &str, value: Value) -> Result<(), SpecError> {
        let bad = |message: String| SpecError {
            key: key.to_string(),
            part: Part::Value,
            message,
        };
        let text = |value: &Value| match value {
            Value::Text(t) => Ok(t.clone()),
            other => Err(bad(format!("`{key}` takes text, not {}", other.kind()))),
        };
        if let Some(var) = key.strip_prefix("env.") {
            let value = text(&value)?;
            check_env(var, &value).map_err(|message| SpecError {
                key: key.to_string(),
                part: Part::Key,
                message,
            })?;
            self.env.insert(var.to_string(), value);
            return Ok(());
        }
        match key {
            "command" => {
                let argv = match value {
                    Value::List(argv) => argv,
                    Value::Text(line) => shlex::split(&line).ok_or_else(|| {
                        bad("the command line has an unclosed quote or a trailing backslash".into())
                    })?,
                    other => {
                        return Err(bad(format!("`command` takes a list, not {}", other.kind())));
                    }
                };
                if argv.first().is_none_or(|p| p.is_empty()) {
                    return Err(bad(format!("session `{}`: `command` is empty", self.name)));
                }
                if argv.iter().any(|a| a.contains('\0')) {
                    return Err(bad(format!(
                        "session `{}`: the command holds a NUL byte, which no program can be given",
                        self.name
                    )));
                }
                self.command = Some(argv);
            }
            "shell" => {
                let line = text(&value)?;
                if line.trim().is_empty() {
                    return Err(bad(format!("session `{}`: `shell` is empty", self.name)));
                }
                if line.contains('\0') {
                    return Err(bad(format!(
                        "session `{}`: the shell line holds a NUL byte, which no program can be given",
                        self.name
                    )));
                }
                self.shell = Some(line);
            }
            "cwd" => self.cwd = Some(PathBuf::from(text(&value)?)),
            "env" => match value {
                Value::Table(vars) => {
                    for (var, value) in &vars {
                        check_env(var, value).map_err(&bad)?;
                    }
                    self.env.extend(vars);
                }
                other => {
                    return Err(bad(format!(
                        "`env` takes a table of NAME = \"value\", not {}",
                        other.kind()
                    )));
                }
            },
            "backend" => {
                let kind = text(&value)?;
                if !matches!(kind.as_str(), "local" | "microsandbox") {
                    return Err(bad(format!(
                        "unknown backend `{kind}` (known: local, microsandbox)"
                    )));
                }
                self.backend = Some(kind);
            }
            "sandbox" => {
                let name = text(&value)?;
                if !valid_name(&name) {
                    return Err(bad(format!("invalid sandbox name `{name}`")));
                }
                self.sandbox.sandbox = name;
            }
            "image" | "user" | "cpus" | "memory" | "keep" => {
                self.sandbox_keys.push(key.to_string());
                match key {
                    "image" => self.sandbox.image = Some(text(&value)?),
                    "user" => self.sandbox.user = Some(text(&value)?),
                    "cpus" => {
                        let cpus = match &value {
                            Value::Int(n) => Some(*n),
                            Value::Text(t) => t.trim().parse::<i64>().ok(),
                            _ => None,
                        };
                        self.sandbox.cpus = Some(
                            cpus.filter(|c| (1..=255).contains(c))
                                .map(|c| c as u8)
                                .ok_or_else(|| bad("cpus must be a number from 1 to 255".into()))?,
                        );
                    }
                    "memory" => self.sandbox.memory_mib = Some(memory_mib(&value).map_err(bad)?),
                    _ => {
                        self.sandbox.keep = match &value {
                            Value::Bool(b) => *b,
                            Value::Text(t) if matches!(t.as_str(), "true" | "yes") => true,
                            Value::Text(t) if matches!(t.as_str(), "false" | "no") => false,
                            _ => return Err(bad("keep is true or false".into())),
                        };
                    }
                }
            }
            "protocol" => {
                let word = text(&value)?;
                self.protocol = Protocol::parse(&word).ok_or_else(|| {
                    bad(format!(
                        "unknown protocol `{word}` (known: raw, stream-json)"
                    ))
                })?;
            }
            "view" => {
                let word = text(&value)?;
                self.view = Some(View::parse(&word).ok_or_else(|| {
                    bad(format!("unknown view `{word}` (known: raw, json, chat)"))
                })?);
            }
            "prompt" => {
                let pattern = text(&value)?;
                if let Err(err) = regex::bytes::Regex::new(&pattern) {
                    return Err(bad(format!(
                        "invalid prompt regex: {}",
                        crate::text::regex_error(&err)
                    )));
                }
                self.prompt = Some(pattern);
            }
            "permissions" => {
                let word = text(&value)?;
                self.permissions = Permissions::parse(&word).ok_or_else(|| {
                    bad(format!(
                        "unknown permissions `{word}` (known: ask, allow, deny)"
                    ))
                })?;
            }
            "group" => {
                let group = text(&value)?;
                if !valid_name(&group) {
                    return Err(bad(format!(
                        "invalid group name `{group}`: use letters, digits, `_`, `.` and `-`"
                    )));
                }
                self.group = Some(group);
            }
            _ => {
                return Err(SpecError {
                    key: key.to_string(),
                    part: Part::Key,
                    message: format!(
                        "unknown session key `{key}`{} (known: {KEYS})",
                        crate::text::did_you_mean(
                            key,
                            KEYS.split(", ").filter_map(|k| k.split(' ').next())
                        )
                    ),
                });
            }
        }
        Ok(())
    }

    /// Whether a command (`command` or `shell`) was given.
    pub fn has_program(&self) -> bool {
        self.command.is_some() || self.shell.is_some()
    }

    /// The spec. A relative local `cwd` is taken relative to `base` (a config's directory);
    /// a sandbox `cwd` is a path in the guest.
    pub fn finish(self, base: Option<&Path>) -> Result<SessionSpec, SpecError> {
        let whole = |message: String| SpecError {
            key: "name".into(),
            part: Part::Session,
            message,
        };
        let name = self.name;
        let program = match (self.command, self.shell) {
            (Some(argv), None) => Program::Argv(argv),
            (None, Some(line)) => Program::Shell(line),
            (Some(_), Some(_)) => {
                return Err(SpecError {
                    key: "shell".into(),
                    part: Part::Key,
                    message: format!("session `{name}` has both `command` and `shell`: keep one"),
                });
            }
            (None, None) => {
                return Err(whole(format!(
                    "session `{name}` needs a command (`command`, or `shell` for a shell command line)"
                )));
            }
        };
        let sandboxed = !self.sandbox.sandbox.is_empty();
        let backend = match self.backend.as_deref() {
            Some("local") if sandboxed || !self.sandbox_keys.is_empty() => {
                let key = if sandboxed {
                    "sandbox".to_string()
                } else {
                    self.sandbox_keys[0].clone()
                };
                return Err(SpecError {
                    key: key.clone(),
                    part: Part::Key,
                    message: format!(
                        "session `{name}`: `{key}` is for sandbox sessions, but the backend is local"
                    ),
                });
            }
            Some("microsandbox") | None if sandboxed => BackendSpec::Microsandbox(self.sandbox),
            Some("microsandbox") => {
                return Err(SpecError {
                    key: "backend".into(),
                    part: Part::Key,
                    message: format!(
                        "session `{name}`: a microsandbox session needs `sandbox` (the sandbox's name)"
                    ),
                });
            }
            _ if !self.sandbox_keys.is_empty() => {
                let key = self.sandbox_keys[0].clone();
                return Err(SpecError {
                    key: key.clone(),
                    part: Part::Key,
                    message: format!(
                        "session `{name}`: `{key}` is for sandbox sessions: add `sandbox` (the sandbox's name)"
                    ),
                });
            }
            _ => BackendSpec::Local,
        };
        let local = matches!(backend, BackendSpec::Local);
        let cwd = self.cwd.map(|cwd| match base {
            Some(base) if local && cwd.is_relative() => base.join(cwd),
            _ => cwd,
        });
        Ok(SessionSpec {
            name,
            program,
            cwd,
            env: self.env,
            backend,
            protocol: self.protocol,
            view: self.view,
            prompt: self.prompt,
            group: self.group,
            permissions: self.permissions,
        })
    }
}

/// An environment variable a program can be given: a name that is not empty and holds no
/// `=` or NUL, and a value without NUL (execve cannot carry one).
fn check_env(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an environment variable needs a name: `env.NAME=value`".into());
    }
    if name.contains('=') {
        return Err(format!(
            "the environment variable name `{name}` holds `=`, which no name can"
        ));
    }
    if name.contains('\0') || value.contains('\0') {
        return Err(format!(
            "the environment variable `{}` holds a NUL byte, which no program can be given",
            name.replace('\0', "\\0")
        ));
    }
    Ok(())
}

/// `memory`: a size (`512M`, `1GiB`); a bare number is MiB, as microsandbox counts it.
fn memory_mib(value: &Value) -> Result<u32, String> {
    let bytes = match value {
        Value::Int(n) => u64::try_from(*n).unwrap_or(0).saturating_mul(1 << 20),
        Value::Text(t) if t.trim().bytes().all(|b| b.is_ascii_digit()) && !t.trim().is_empty() => {
            t.trim().parse::<u64>().unwrap_or(0).saturating_mul(1 << 20)
        }
        Value::Text(t) => crate::units::parse_size(t).map_err(|e| format!("memory: {e}"))?,
        other => return Err(format!("`memory` takes a size, not {}", other.kind())),
    };
    u32::try_from(bytes >> 20)
        .ok()
        .filter(|mib| *mib >= 1)
        .ok_or_else(|| "memory must be at least 1MiB".to_string())
}

mod declaration;

pub use declaration::{Declaration, parse_declaration, parse_session_arg};

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
