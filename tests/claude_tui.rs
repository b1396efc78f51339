//! The real Claude Code CLI in the real TUI (tmux): the chat view of a long-lived CLI,
//! interrupting with Ctrl-C, answering permission cards, the needs-you mark, and recording
//! the answers as a script that plays back.

mod common;

use std::time::Duration;

use common::agents::{Claude, command};
use common::tmux::Tmux;
use common::*;

const LONG: Duration = Duration::from_secs(60);

fn start(c: &Claude, tmux: &Tmux, sessions: &[(&str, &str)], extra: &str) {
    let mut args = format!(
        "--log-file {} --transcript-dir {}{extra}",
        c.fx.path("log").display(),
        c.fx.path("logs").display()
    );
    for (name, flags) in sessions {
        let declaration = format!("{name} protocol=stream-json: {}", command(flags));
        args.push_str(&format!(" -s {}", shlex::try_quote(&declaration).unwrap()));
    }
    tmux.start_with_env(
        &format!("cd {} && {} ", c.fx.dir.path().display(), c.env_line()),
        &args,
        110,
        30,
    );
}

fn say(tmux: &Tmux, text: &str) {
    tmux.type_text(text);
    tmux.keys(&["Enter"]);
}

#[test]
fn the_chat_view_of_a_long_lived_cli_reads_as_one_conversation() {
    let c = Claude::new();
    let tmux = Tmux::new("claude-chat");
    start(&c, &tmux, &[("agent", "--include-partial-messages")], "");
    tmux.wait_for("type a line", LONG);
    say(&tmux, "remember heron");
    tmux.wait_for("I will remember heron.", LONG);
    tmux.wait_for("turn done", LONG);
    say(&tmux, "second message");
    tmux.wait_for("You said: second message", LONG);
    // The title counts the turn once its footer has come.
    let screen = tmux.wait_for("2 turns · $", LONG);
    assert_eq!(
        screen.matches("session started").count(),
        1,
        "one init:\n{screen}"
    );
    assert_eq!(
        screen.matches("You said: second message").count(),
        1,
        "no duplicate text:\n{screen}"
    );
    for raw in [
        "content_block",
        "message_stop",
        "\"status\"",
        "stream_event",
    ] {
        assert!(!screen.contains(raw), "no raw {raw} rows:\n{screen}");
    }
    // The footer gives each turn's own cost and the session's total.
    assert!(screen.contains("(total $"), "{screen}");
    // A slow turn streams into one growing row; Ctrl-C stops it and keeps the conversation.
    say(&tmux, "slow");
    let screen = tmux.wait_for("tick3 ", LONG);
    let streaming: Vec<&str> = screen.lines().filter(|l| l.contains("tick0")).collect();
    assert_eq!(streaming.len(), 1, "one growing text:\n{screen}");
    tmux.keys(&["C-c"]);
    tmux.wait_for("turn interrupted", LONG);
    say(&tmux, "recall");
    let screen = tmux.wait_for("You asked me to remember heron.", LONG);
    assert!(!screen.contains("exited"), "the CLI lives on:\n{screen}");
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", LONG);
    let records = transcript(&c.fx.path("logs/agent.jsonl"));
    assert!(
        !records.iter().any(|r| r["event"] == "signal"),
        "Ctrl-C sent no signal"
    );
}

#[test]
fn permission_cards_are_answered_with_keys_and_recorded_as_steps() {
    let c = Claude::new();
    let tmux = Tmux::new("claude-card");
    let recording = c.fx.path("rec.smx");
    start(
        &c,
        &tmux,
        &[("agent", "")],
        &format!(" --record {}", recording.display()),
    );
    tmux.wait_for("type a line", LONG);
    let dir = c.fx.dir.path().display().to_string();
    say(&tmux, &format!("run: touch {dir}/allowed"));
    let screen = tmux.wait_for("y allow once", LONG);
    assert!(screen.contains("╭─ permission · Bash"), "{screen}");
    assert!(
        screen.contains(&format!("│ $ touch {dir}/allowed")),
        "{screen}"
    );
    assert!(
        screen.contains("│ why: Run the command asked for"),
        "{screen}"
    );
    assert!(screen.contains("awaiting approval"), "{screen}");
    println!("permission card:\n{screen}");
    tmux.keys(&["y"]);
    tmux.wait_for("✓ allowed once", LONG);
    tmux.wait_for("The tool said: (Bash completed with no output)", LONG);
    assert!(c.fx.path("allowed").exists());
    say(&tmux, &format!("run: touch {dir}/denied"));
    tmux.wait_for("y allow once", LONG);
    tmux.keys(&["m"]);
    tmux.wait_for("why deny?", LONG);
    say(&tmux, "not in this repo");
    tmux.wait_for("✗ denied: not in this repo", LONG);
    tmux.wait_for("The tool was refused: not in this repo", LONG);
    assert!(!c.fx.path("denied").exists());
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", LONG);
    let script = std::fs::read_to_string(&recording).unwrap();
    assert!(
        script.contains(&format!(
            "say agent \"run: touch {dir}/allowed\"\napprove agent Bash\nwait agent turn within"
        )),
        "{script}"
    );
    assert!(
        script.contains("deny agent \"not in this repo\"\nwait agent turn within"),
        "{script}"
    );
    // The recording plays back against the same CLI and server.
    std::fs::remove_file(c.fx.path("allowed")).unwrap();
    let out = c.sandmux().arg("run").arg(&recording).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{script}\n{}", stderr(&out));
    assert!(c.fx.path("allowed").exists());
}

#[test]
fn an_unfocused_agent_asking_permission_gets_the_needs_you_mark() {
    let c = Claude::new();
    let tmux = Tmux::new("claude-mark");
    start(&c, &tmux, &[("first", ""), ("second", "")], "");
    tmux.wait_for("type a line", LONG);
    let dir = c.fx.dir.path().display().to_string();
    say(&tmux, &format!("run: touch {dir}/from-first"));
    tmux.wait_for("y allow once", LONG);
    tmux.keys(&["Tab"]);
    std::thread::sleep(Duration::from_millis(300));
    let screen = tmux.screen();
    assert!(
        screen.contains(" ! "),
        "the mark on the waiting pane:\n{screen}"
    );
    tmux.keys(&["C-n"]);
    tmux.wait_for("first: awaiting approval", LONG);
    tmux.keys(&["n"]);
    tmux.wait_for("✗ denied", LONG);
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", LONG);
}
