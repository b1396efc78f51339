//! The real Claude Code CLI in a `sandmux serve`, driven by `sandmux ctl`: permission
//! requests seen (`list`, `subscribe`) and answered (`approve`, `deny`), interrupts, and
//! `wait --turn` that fails on a failed turn.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::agents::{Claude, command, env};
use common::*;

struct Served {
    claude: Claude,
    child: Child,
    socket: PathBuf,
}

impl Served {
    fn start(extra: &str) -> Served {
        let claude = Claude::new();
        let socket = claude.fx.path("ctl.sock");
        let declaration = format!("agent protocol=stream-json: {}", command(extra));
        let child = Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
            .current_dir(claude.fx.dir.path())
            .envs(env(&claude.api, claude.fx.dir.path()))
            .args(["serve", "--transcript-dir", "logs", "--socket"])
            .arg(&socket)
            .arg("-s")
            .arg(&declaration)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        assert!(eventually(Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        }));
        Served {
            claude,
            child,
            socket,
        }
    }

    fn ctl(&self, args: &[&str]) -> std::process::Output {
        sandmux()
            .arg("ctl")
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .timeout(Duration::from_secs(90))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert_eq!(out.status.code(), Some(0), "ctl {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.claude.fx.path(name)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ctl_sees_and_answers_permission_requests() {
    let s = Served::start("");
    let subscriber = Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
        .args(["ctl", "--socket"])
        .arg(&s.socket)
        .args(["subscribe", "agent"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let yes = s.path("yes").display().to_string();
    s.ok(&["send", "agent", &format!("run: touch {yes}")]);
    s.ok(&[
        "wait",
        "agent",
        "--activity",
        "awaiting_approval",
        "--timeout",
        "60s",
    ]);
    let list: serde_json::Value = serde_json::from_str(&s.ok(&["list", "--json"])).unwrap();
    let pending = &list["sessions"][0]["pending"];
    assert_eq!(pending[0]["tool"], "Bash", "{list}");
    assert_eq!(pending[0]["summary"], format!("touch {yes}"));
    assert_eq!(list["sessions"][0]["activity"], "awaiting_approval");
    // Not for that tool: refused with what is waiting.
    let wrong = s.ctl(&["approve", "agent", "Write"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("waiting: Bash `touch"),
        "{}",
        stderr(&wrong)
    );
    s.ok(&["approve", "agent", "Bash"]);
    s.ok(&["wait", "agent", "--turn", "--timeout", "60s"]);
    assert!(s.path("yes").exists());

    let no = s.path("no").display().to_string();
    s.ok(&["send", "agent", &format!("run: touch {no}")]);
    s.ok(&[
        "wait",
        "agent",
        "--activity",
        "awaiting_approval",
        "--timeout",
        "60s",
    ]);
    s.ok(&["deny", "agent", "not from ctl"]);
    let turn = s.ok(&["wait", "agent", "--turn", "--timeout", "60s"]);
    assert!(
        turn.contains("The tool was refused: not from ctl"),
        "{turn}"
    );
    assert!(!s.path("no").exists());
    let none = s.ctl(&["approve", "agent"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("has no permission request waiting"));

    s.ok(&["stop"]);
    let out = subscriber.wait_with_output().unwrap();
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(seen.contains("# agent asks to use Bash: touch"), "{seen}");
    assert!(seen.contains("permission request allowed"), "{seen}");
    assert!(seen.contains("permission request denied"), "{seen}");
}

#[test]
fn ctl_interrupts_a_turn_and_wait_turn_fails_on_failed_turns() {
    let s = Served::start("");
    s.ok(&["send", "agent", "remember otter"]);
    s.ok(&["wait", "agent", "--turn", "--timeout", "60s"]);
    s.ok(&["send", "agent", "slow"]);
    s.ok(&[
        "wait",
        "agent",
        "--expect-json",
        "/subtype == \"init\"",
        "--timeout",
        "60s",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    s.ok(&["interrupt", "agent"]);
    let interrupted = s.ctl(&["wait", "agent", "--turn", "--timeout", "30s"]);
    assert_eq!(interrupted.status.code(), Some(1));
    assert!(
        stderr(&interrupted).contains("the turn failed with interrupted"),
        "{}",
        stderr(&interrupted)
    );
    let recall = s.ok(&["send", "agent", "recall"]);
    assert!(
        recall.trim().parse::<u64>().is_ok(),
        "send prints a seq: {recall}"
    );
    let turn = s.ok(&["wait", "agent", "--turn", "--timeout", "60s"]);
    assert!(turn.contains("You asked me to remember otter."), "{turn}");
    s.ok(&["send", "agent", "fail 500"]);
    let failed = s.ctl(&["wait", "agent", "--turn", "--timeout", "60s"]);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "an error turn fails the wait"
    );
    assert!(
        stderr(&failed).contains("the turn failed with API error 500"),
        "{}",
        stderr(&failed)
    );

    // Two interrupts within 2 s: the second is SIGINT, which ends the CLI.
    s.ok(&["send", "agent", "slow"]);
    s.ok(&[
        "wait",
        "agent",
        "--expect-json",
        "/subtype == \"init\"",
        "--timeout",
        "60s",
    ]);
    s.ok(&["interrupt", "agent"]);
    s.ok(&["interrupt", "agent"]);
    s.ok(&["wait", "agent", "--exit", "--timeout", "30s"]);
    let records = transcript(&s.path("logs/agent.jsonl"));
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "signal" && r["name"] == "SIGINT")
    );
}

#[test]
fn an_interrupt_while_a_permission_request_waits_withdraws_it() {
    let s = Served::start("");
    let file = s.path("never").display().to_string();
    s.ok(&["send", "agent", &format!("run: touch {file}")]);
    s.ok(&[
        "wait",
        "agent",
        "--activity",
        "awaiting_approval",
        "--timeout",
        "60s",
    ]);
    s.ok(&["interrupt", "agent"]);
    let out = s.ctl(&["wait", "agent", "--turn", "--timeout", "30s"]);
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_str(&s.ok(&["list", "--json"])).unwrap();
    assert_eq!(
        list["sessions"][0]["pending"],
        serde_json::json!([]),
        "{list}"
    );
    assert_eq!(list["sessions"][0]["activity"], "awaiting_input");
    let records = transcript(&s.path("logs/agent.jsonl"));
    let stdout = String::from_utf8(stream_bytes(&records, "stdout")).unwrap();
    assert!(
        stdout.contains("control_cancel_request"),
        "the CLI withdrew it"
    );
    assert!(!s.path("never").exists());
}

#[test]
fn drivers_of_one_agent_each_get_their_own_turn() {
    let s = Served::start("");
    // The first turn starts the CLI up; the two after are sent while it may still run.
    let first = s.ok(&[
        "send",
        "agent",
        "remember first",
        "--wait-turn",
        "--timeout",
        "60s",
    ]);
    assert!(first.contains("I will remember first."), "{first}");
    let s = std::sync::Arc::new(s);
    let drivers: Vec<_> = ["alpha", "beta", "gamma"]
        .into_iter()
        .map(|word| {
            let s = std::sync::Arc::clone(&s);
            std::thread::spawn(move || {
                let text = format!("remember {word}");
                let args = ["send", "agent", &text, "--wait-turn", "--timeout", "60s"];
                (word, s.ok(&args))
            })
        })
        .collect();
    for driver in drivers {
        let (word, turn) = driver.join().unwrap();
        let result: serde_json::Value = serde_json::from_str(turn.trim()).unwrap();
        // The CLI folds messages queued during a running turn into one next turn, so
        // a driver's turn answers its own words, maybe with another's beside them.
        let answer = result["result"].as_str().unwrap_or_default();
        assert!(
            answer.contains(word),
            "the driver of `{word}` got another's turn: {answer}"
        );
    }
    // A seq printed by send starts a wait at that input, whoever sent since.
    let seq = s.ok(&["send", "agent", "remember delta"]);
    let seq = seq
        .trim()
        .parse::<u64>()
        .expect("send prints the input's seq");
    s.ok(&["wait", "agent", "--turn", "--timeout", "60s"]);
    s.ok(&["send", "agent", "recall"]);
    let turn = s.ok(&[
        "wait",
        "agent",
        "--expect-json",
        "/result ~ /delta/",
        "--from",
        &seq.to_string(),
        "--timeout",
        "60s",
    ]);
    assert!(turn.contains("I will remember delta."), "{turn}");
}
