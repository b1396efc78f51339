//! A directory a newcomer's commands run in as they are written in the README, the docs and
//! `--help`: the repository's `assets/`, the scripts, configs, transcripts and reports the
//! examples name, the real Claude Code CLI on PATH as `claude` (pointed at the tests' model
//! server), and sandmux on PATH as `sandmux`. Commands run with `sh`, TUIs in tmux.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::agents::{Claude, env};
use super::tmux::Tmux;

/// One command of an example, as the test runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Runs to its end with `sh -c`.
    Plain,
    /// The TUI (`sandmux` with options, `sandmux replay`): started in tmux, quit with Ctrl-Q.
    Tui,
    /// `sandmux serve`: started in the background, stopped with the world.
    Serve,
    /// Runs until stopped (`ctl subscribe`): must print something, then is stopped.
    Stream,
    /// Not run here (`cargo test` is the test run itself; `cargo install` and `pip install`
    /// change the machine).
    Skip,
}

pub struct World {
    pub claude: Claude,
    path: String,
    served: Vec<Child>,
}

const ECHO: &str = "session echo: sed -u s/^/ack:/\nsend echo hi\nexpect echo \"ack:hi\"\nclose echo\nwait echo exit 0\n";

impl World {
    pub fn new() -> World {
        let claude = Claude::new();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = claude.fx.dir.path().to_path_buf();
        let copy = Command::new("cp")
            .arg("-r")
            .arg(root.join("assets"))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(copy.success());
        let bin = assert_cmd::cargo::cargo_bin("sandmux");
        let path = format!(
            "{}:{}:{}",
            bin.parent().unwrap().display(),
            super::agents::claude().parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::fs::create_dir_all(dir.join("xdg")).unwrap();
        let world = World {
            claude,
            path,
            served: Vec::new(),
        };
        world.prepare();
        world
    }

    pub fn dir(&self) -> &Path {
        self.claude.fx.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The files the examples name.
    fn prepare(&self) {
        self.write("t.smx", ECHO);
        self.write("test.smx", ECHO);
        self.write("tests/echo.smx", ECHO);
        self.write("tests/agents/echo.smx", ECHO);
        self.write("tests/slow/echo.smx", ECHO);
        self.write(
            "sandmux.toml",
            "[[session]]\nname = \"cfg\"\ncommand = [\"cat\"]\n",
        );
        let agent = "[[session]]\nname = \"agent\"\ncommand = [\"claude\", \"-p\", \"--input-format\", \"stream-json\", \"--output-format\", \"stream-json\", \"--verbose\", \"--permission-prompt-tool\", \"stdio\"]\nprotocol = \"stream-json\"\n";
        self.write("agents.toml", agent);
        let agent_script = "session agent protocol=stream-json: claude -p --input-format stream-json --output-format stream-json --verbose\nturn agent \"hello\" within 60s\n";
        self.write("agent.smx", agent_script);
        for (command, what) in [
            (
                "sandmux run t.smx --transcript-dir logs",
                "the echo transcript",
            ),
            (
                "sandmux run agent.smx --transcript-dir logs",
                "an agent transcript",
            ),
            (
                "for d in a b before after golden; do cp -r logs $d; done",
                "copies",
            ),
            (
                "cp logs/echo.jsonl a.jsonl && cp logs/echo.jsonl b.jsonl",
                "two files",
            ),
            (
                "for k in 1 2 3; do sandmux run tests/ --shard $k/3 --report json --junit shard-$k/junit.xml > shard-$k.json || true; done",
                "shard reports",
            ),
        ] {
            let out = self.sh(command);
            assert!(out.status.success(), "preparing {what}: {}", text(&out));
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.dir())
            .envs(env(&self.claude.api, self.dir()))
            .env("PATH", &self.path)
            .env("XDG_RUNTIME_DIR", self.dir().join("xdg"));
        cmd
    }

    /// `sh -c LINE` in the world, to its end (at most two minutes).
    pub fn sh(&self, line: &str) -> Output {
        let mut child = self
            .command("sh")
            .args(["-c", line])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("`{line}` ran for two minutes");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    /// Runs one command of an example as its kind says; panics with the reason when it does
    /// not work as shown.
    pub fn check(&mut self, line: &str, kind: &Kind) {
        // diff answers 1 when two transcripts differ, which they may.
        let codes: &[i32] = if line.starts_with("sandmux diff") {
            &[0, 1]
        } else {
            &[0]
        };
        eprintln!("{kind:?}: {line}");
        match kind {
            Kind::Skip => {}
            Kind::Plain => {
                let out = self.sh(line);
                let code = out.status.code().unwrap_or(-1);
                assert!(
                    codes.contains(&code),
                    "`{line}` exited {code}:\n{}",
                    text(&out)
                );
            }
            Kind::Serve => {
                let log = self.dir().join(format!("serve-{}.log", self.served.len()));
                let child = self
                    .command("sh")
                    .args(["-c", &format!("exec {}", line.trim_end_matches('&').trim())])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&log).unwrap())
                    .spawn()
                    .unwrap();
                self.served.push(child);
                assert!(
                    super::eventually(Duration::from_secs(20), || {
                        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("serving"))
                    }),
                    "`{line}` did not serve: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            Kind::Stream => {
                // `exec`: the stream is the child that is stopped, not a shell around it.
                let mut child = self
                    .command("sh")
                    .args(["-c", &format!("exec {line}")])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                std::thread::sleep(Duration::from_secs(3));
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                assert!(
                    !out.stdout.is_empty(),
                    "`{line}` printed nothing: {}",
                    text(&out)
                );
            }
            Kind::Tui => self.tui(line),
        }
    }

    /// The TUI as the line starts it: it must come up and quit with Ctrl-Q, exit 0.
    fn tui(&self, line: &str) {
        let args = line.trim().strip_prefix("sandmux").unwrap_or(line).trim();
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmux = Tmux::new(&format!("example{n}"));
        let env: String = env(&self.claude.api, self.dir())
            .into_iter()
            .map(|(k, v)| format!("{k}={} ", shlex::try_quote(&v).unwrap()))
            .collect();
        let prefix = format!(
            "cd {} && PATH={} XDG_RUNTIME_DIR={} {env}",
            shlex::try_quote(&self.dir().display().to_string()).unwrap(),
            shlex::try_quote(&self.path).unwrap(),
            self.dir().join("xdg").display()
        );
        tmux.start_with_env(&prefix, args, 120, 30);
        let started = std::time::Instant::now();
        let screen = loop {
            let screen = tmux.screen();
            if screen.contains("running") || screen.contains("REPLAY") {
                break screen;
            }
            assert!(
                !screen.contains("SANDMUX-EXITED") && started.elapsed() < Duration::from_secs(30),
                "`{line}` did not come up:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        // Every session it shows starts and runs: none failed or exited non-zero (a replay
        // shows how its sessions ended then, whatever that was).
        std::thread::sleep(Duration::from_millis(500));
        let screen = format!("{screen}{}", tmux.screen());
        let replay = args.starts_with("replay");
        assert!(
            replay
                || !screen.contains(" failed")
                    && !regex::Regex::new(r"exited [1-9]")
                        .unwrap()
                        .is_match(&screen),
            "`{line}`: a session failed:\n{screen}"
        );
        tmux.keys(&["C-q"]);
        tmux.wait_for("SANDMUX-EXITED-0", Duration::from_secs(20));
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for child in &mut self.served {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What a command line of an example is, from its words.
pub fn kind_of(line: &str) -> Kind {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["cargo", "test", ..] | ["cargo", "install", ..] | ["pip", ..] => Kind::Skip,
        ["sandmux", "serve", ..] => Kind::Serve,
        ["sandmux", "ctl", "subscribe", ..] => Kind::Stream,
        ["sandmux", "replay", ..] => Kind::Tui,
        ["sandmux"] => Kind::Tui,
        ["sandmux", first, ..] if first.starts_with('-') && !first.starts_with("--help") => {
            Kind::Tui
        }
        _ => Kind::Plain,
    }
}

/// `cargo run -- ARGS` as the installed `sandmux ARGS`, comments after two blanks dropped.
pub fn as_run(line: &str) -> String {
    let line = match line.find("  #") {
        Some(at) => &line[..at],
        None => line,
    };
    let line = line.trim();
    match line.strip_prefix("cargo run --") {
        Some(rest) => format!("sandmux{rest}"),
        None => line.to_string(),
    }
}
