//! The real Claude Code CLI for the tests, pointed at the project's own local Messages API
//! server (`tests/agents/model_api.py`), with no network: the server is the far end, faked;
//! everything the CLI does is its own.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The pinned CLI, as `.ci/run` installs it (`npm ci --prefix tests/agents`).
pub fn claude() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/node_modules/.bin/claude");
    assert!(
        path.exists(),
        "the real Claude Code CLI is not installed for the tests: run `npm ci --prefix tests/agents` (.ci/run does)"
    );
    path
}

/// The model server of one test, stopped when dropped.
pub struct ModelApi {
    child: Child,
    pub port: u16,
    /// Every request the CLI made, one JSON line each.
    pub log: PathBuf,
}

impl ModelApi {
    /// Starts the server, its request log in `dir`.
    pub fn start(dir: &Path) -> ModelApi {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/model_api.py");
        let log = dir.join("model-api.log");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the model server");
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut first)
            .expect("the server says where it listens");
        let port = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the model server: {first:?}"));
        ModelApi { child, port, log }
    }

    /// The requests made so far.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for ModelApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment that points the CLI at `api`, with a fresh home of its own in `dir` and
/// nothing sent anywhere else.
pub fn env(api: &ModelApi, dir: &Path) -> Vec<(String, String)> {
    let home = dir.join("claude-home");
    std::fs::create_dir_all(&home).expect("home");
    [
        ("HOME", home.display().to_string()),
        (
            "ANTHROPIC_BASE_URL",
            format!("http://127.0.0.1:{}", api.port),
        ),
        ("ANTHROPIC_API_KEY", "test-key-not-real".to_string()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_string()),
        ("DISABLE_AUTOUPDATER", "1".to_string()),
        ("CLAUDE_CODE_MAX_RETRIES", "1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `claude` in stream-json mode with permission prompts on stdio, and `extra` flags.
pub fn command(extra: &str) -> String {
    format!(
        "{} -p --input-format stream-json --output-format stream-json --verbose --permission-prompt-tool stdio{}{extra}",
        claude().display(),
        if extra.is_empty() { "" } else { " " }
    )
}

/// A test's fixture with the CLI's model server running.
pub struct Claude {
    pub fx: super::Fixture,
    pub api: ModelApi,
}

impl Claude {
    pub fn new() -> Claude {
        let fx = super::Fixture::new();
        let api = ModelApi::start(fx.dir.path());
        Claude { fx, api }
    }

    /// `sandmux ARGS...` in the fixture directory with the CLI's environment.
    pub fn sandmux(&self) -> assert_cmd::Command {
        let mut cmd = super::sandmux();
        cmd.current_dir(self.fx.dir.path())
            .envs(env(&self.api, self.fx.dir.path()))
            .timeout(std::time::Duration::from_secs(240));
        cmd
    }

    /// Runs `sandmux run SCRIPT ARGS...` (the script written as `name`).
    pub fn run_named(&self, name: &str, script: &str, args: &[&str]) -> std::process::Output {
        let path = self.fx.write(name, script);
        self.sandmux()
            .arg("run")
            .arg(&path)
            .args(args)
            .output()
            .expect("run sandmux")
    }

    pub fn run(&self, script: &str, args: &[&str]) -> std::process::Output {
        self.run_named("test.smx", script, args)
    }

    /// The environment as `KEY=VALUE ...` for a shell command line (tmux).
    pub fn env_line(&self) -> String {
        env(&self.api, self.fx.dir.path())
            .into_iter()
            .map(|(k, v)| format!("{k}={}", shlex::try_quote(&v).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
