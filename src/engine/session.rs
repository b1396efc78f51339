//! What a session is: its spec (what to run, where), its lifecycle state and exit status.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::protocol::Protocol;

/// What a session runs: an argv run without a shell, or a shell command line for `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Program {
    Argv(Vec<String>),
    Shell(String),
}

impl Program {
    /// The argv actually executed.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Program::Argv(argv) => argv.clone(),
            Program::Shell(line) => vec!["sh".into(), "-c".into(), line.clone()],
        }
    }

    /// A short, shell-quoted rendering for titles and messages.
    pub fn display(&self) -> String {
        match self {
            Program::Argv(argv) => {
                shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
            }
            Program::Shell(line) => line.clone(),
        }
    }
}

/// Options of a microsandbox session (used by the sandbox backend).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The sandbox to exec in.
    pub sandbox: String,
    /// Create the sandbox from this image when it does not exist.
    pub image: Option<String>,
    pub cpus: Option<u8>,
    /// Memory in MiB.
    pub memory_mib: Option<u32>,
    /// Keep a sandbox that sandmux created when sandmux exits.
    pub keep: bool,
    pub user: Option<String>,
}

/// Where a session runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendSpec {
    /// A local child process.
    #[default]
    Local,
    /// An exec inside a microsandbox sandbox.
    Microsandbox(SandboxSpec),
}

impl BackendSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            BackendSpec::Local => "local",
            BackendSpec::Microsandbox(_) => "microsandbox",
        }
    }
}

/// How a pane shows a session's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// The bytes as lines.
    Raw,
    /// Lines that are JSON pretty-printed.
    Json,
    /// stream-json events as a conversation.
    Chat,
}

impl View {
    pub fn parse(text: &str) -> Option<View> {
        match text {
            "raw" => Some(View::Raw),
            "json" => Some(View::Json),
            "chat" => Some(View::Chat),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            View::Raw => "raw",
            View::Json => "json",
            View::Chat => "chat",
        }
    }

    /// The next view in the cycle raw, json, chat.
    pub fn next(self) -> View {
        match self {
            View::Raw => View::Json,
            View::Json => View::Chat,
            View::Chat => View::Raw,
        }
    }
}

/// Everything needed to start (and restart) one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSpec {
    /// Unique name, `[A-Za-z0-9_.-]+`.
    pub name: String,
    pub program: Program,
    pub cwd: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
    pub backend: BackendSpec,
    /// The line protocol it speaks.
    #[serde(default)]
    pub protocol: Protocol,
    /// How the TUI shows it at first (default: chat for stream-json, raw otherwise).
    #[serde(default)]
    pub view: Option<View>,
    /// A regex that marks a prompt line: the session is awaiting input when its newest
    /// output line matches.
    #[serde(default)]
    pub prompt: Option<String>,
    /// The group the TUI's session list shows it under (default: its sandbox, if any).
    #[serde(default)]
    pub group: Option<String>,
    /// What an agent's permission requests get: asked of the user, or answered at once.
    #[serde(default)]
    pub permissions: Permissions,
}

/// What sandmux does with an agent's permission requests (`can_use_tool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permissions {
    /// Each becomes a pending approval the user (or a script's `approve`/`deny`) answers.
    #[default]
    Ask,
    /// Every tool is allowed at once (unattended runs).
    Allow,
    /// Every tool is refused at once.
    Deny,
}

impl Permissions {
    pub fn parse(text: &str) -> Option<Permissions> {
        match text {
            "ask" => Some(Permissions::Ask),
            "allow" => Some(Permissions::Allow),
            "deny" => Some(Permissions::Deny),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permissions::Ask => "ask",
            Permissions::Allow => "allow",
            Permissions::Deny => "deny",
        }
    }
}

impl SessionSpec {
    /// A local session running `argv` in the current directory.
    pub fn local(name: impl Into<String>, argv: Vec<String>) -> Self {
        SessionSpec {
            name: name.into(),
            program: Program::Argv(argv),
            cwd: None,
            env: BTreeMap::new(),
            backend: BackendSpec::Local,
            protocol: Protocol::Raw,
            view: None,
            prompt: None,
            group: None,
            permissions: Permissions::Ask,
        }
    }

    /// The group the session belongs to: its `group` key, else its sandbox's name for a
    /// sandbox session, else none.
    pub fn group(&self) -> Option<&str> {
        match (&self.group, &self.backend) {
            (Some(group), _) => Some(group),
            (None, BackendSpec::Microsandbox(sandbox)) => Some(&sandbox.sandbox),
            (None, BackendSpec::Local) => None,
        }
    }
}

/// What a session is doing, as the title and status line show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    Starting,
    /// Output within the last few seconds, or a stream-json turn in flight.
    Working,
    Idle,
    /// A stream-json turn ended, or the newest line matches the prompt regex.
    AwaitingInput,
    /// An agent asks permission to use a tool and waits for the answer.
    AwaitingApproval,
    Exited,
    Failed,
}

impl Activity {
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Starting => "starting",
            Activity::Working => "working",
            Activity::Idle => "idle",
            Activity::AwaitingInput => "awaiting input",
            Activity::AwaitingApproval => "awaiting approval",
            Activity::Exited => "exited",
            Activity::Failed => "failed",
        }
    }
}

/// Whether `name` is a valid session name (`[A-Za-z0-9_.-]+`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code, when the process exited by itself.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
}

impl ExitStatus {
    pub fn code(code: i32) -> Self {
        ExitStatus {
            code: Some(code),
            signal: None,
        }
    }

    pub fn signal(signal: i32) -> Self {
        ExitStatus {
            code: None,
            signal: Some(signal),
        }
    }

    /// The status as a shell reports it: the code, or 128 + the signal number.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => -1,
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitStatus {
    /// `exited 0`, or `exited 137 (SIGKILL)` for a signal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (_, Some(signal)) => {
                write!(f, "exited {} ({})", self.shell_code(), signal_name(signal))
            }
            (None, None) => write!(f, "killed by a signal the sandbox did not name"),
            (Some(_), None) => write!(f, "exited {}", self.shell_code()),
        }
    }
}

/// The lifecycle of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum SessionState {
    /// Asked to start; the backend has not confirmed yet. `progress` says what it is doing.
    Starting { progress: Option<String> },
    /// Running; `pid` is the local process id where there is one.
    Running { pid: Option<u32> },
    /// Ended with a status.
    Exited(ExitStatus),
    /// Could not start, or broke off without an exit status.
    Failed { reason: String },
}

impl SessionState {
    /// Whether the session can still produce output or take input.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            SessionState::Starting { .. } | SessionState::Running { .. }
        )
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionState::Starting { progress: Some(p) } => write!(f, "{p}"),
            SessionState::Starting { progress: None } => write!(f, "starting"),
            SessionState::Running { .. } => write!(f, "running"),
            SessionState::Exited(status) => write!(f, "{status}"),
            SessionState::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

const SIGNALS: &[(i32, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGWINCH, "SIGWINCH"),
];

/// `SIGKILL` for 9, `signal 42` for numbers without a name.
pub fn signal_name(signal: i32) -> String {
    SIGNALS
        .iter()
        .find(|(n, _)| *n == signal)
        .map(|(_, name)| (*name).to_string())
        .unwrap_or_else(|| format!("signal {signal}"))
}

/// Parses `TERM`, `SIGTERM`, `term` or `15` into a signal number.
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(number) = text.parse::<i32>() {
        return (1..=64).contains(&number).then_some(number);
    }
    let upper = text.to_ascii_uppercase();
    let wanted = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    SIGNALS
        .iter()
        .find(|(_, name)| *name == wanted)
        .map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_alphabet() {
        assert!(valid_name("echo-1.a_b"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("é"));
    }

    #[test]
    fn exit_status_reads_like_a_shell() {
        assert_eq!(ExitStatus::code(0).to_string(), "exited 0");
        assert_eq!(ExitStatus::signal(9).to_string(), "exited 137 (SIGKILL)");
        assert_eq!(ExitStatus::signal(15).shell_code(), 143);
    }

    #[test]
    fn signals_parse_in_every_spelling() {
        assert_eq!(parse_signal("TERM"), Some(libc::SIGTERM));
        assert_eq!(parse_signal("sigint"), Some(libc::SIGINT));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), None);
    }

    #[test]
    fn shell_programs_run_under_sh() {
        let p = Program::Shell("echo hi | tr a-z A-Z".into());
        assert_eq!(p.argv()[..2], ["sh".to_string(), "-c".to_string()]);
        assert_eq!(
            Program::Argv(vec!["a b".into(), "c".into()]).display(),
            "'a b' c"
        );
    }
}
