//! Conversations as a person sees them in the TUI: the real binary in tmux, typing into a
//! real Python REPL and into a strict stream-json agent.

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::*;

/// The text rows of a pane on screen: borders, gutter marks and padding taken off.
fn pane_rows(screen: &str) -> Vec<String> {
    screen
        .lines()
        .map(|l| {
            l.trim_matches(|c| "┃│║".contains(c))
                .trim_start_matches(['›', '▍', ' '])
                .trim_end_matches(['┃', '│', ' '])
                .to_string()
        })
        .collect()
}

#[test]
fn a_python_repl_reads_prompt_input_and_output_in_order() {
    let fx = Fixture::new();
    let tmux = Tmux::new("pyrepl");
    tmux.start(
        &format!(
            "--log-file {} --transcript-dir {} -s 'py=python3 -i -u -q'",
            fx.path("log").display(),
            fx.path("logs").display()
        ),
        80,
        16,
    );
    tmux.wait_for(">>>", Duration::from_secs(10));
    tmux.type_text("6*7");
    tmux.keys(&["Enter"]);
    tmux.wait_for("42", Duration::from_secs(5));
    tmux.type_text("print(\"q\"*3)");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("qqq", Duration::from_secs(5));
    // Wait for the last prompt too.
    std::thread::sleep(Duration::from_millis(300));
    let screen = if screen.matches(">>>").count() >= 3 {
        screen
    } else {
        tmux.screen()
    };
    let rows = pane_rows(&screen);
    let start = rows
        .iter()
        .position(|r| r == ">>> 6*7")
        .unwrap_or_else(|| panic!("`>>> 6*7` is one row:\n{screen}"));
    assert_eq!(
        rows[start..start + 5],
        [">>> 6*7", "42", ">>> print(\"q\"*3)", "qqq", ">>>"],
        "the conversation reads in order:\n{screen}"
    );
    // The input is marked as input in the gutter.
    assert!(screen.contains("›>>> 6*7"), "{screen}");
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", Duration::from_secs(10));
}

#[test]
fn a_strict_stream_json_agent_gets_a_user_message_from_the_pane_and_its_reply_shows() {
    let fx = Fixture::new();
    let config = fx.write(
        "agent.toml",
        "[[session]]\nname = \"agent\"\ncommand = [\"sandmux\", \"demo-agent\"]\nprotocol = \"stream-json\"\n",
    );
    let tmux = Tmux::new("agent");
    tmux.start(
        &format!(
            "--log-file {} --transcript-dir {} --config {}",
            fx.path("log").display(),
            fx.path("logs").display(),
            config.display()
        ),
        100,
        20,
    );
    tmux.wait_for("type a line", Duration::from_secs(10));
    tmux.type_text("hello \"agent\"");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("You said: hello \"agent\"", Duration::from_secs(10));
    assert!(
        !screen.contains("invalid input") && !screen.contains("turn failed"),
        "{screen}"
    );
    // The user's own turn shows in the chat, before the reply.
    let asked = screen.find("› hello \"agent\"").expect(&screen);
    assert!(asked < screen.find("You said").unwrap(), "{screen}");
    tmux.wait_for("turn done", Duration::from_secs(5));
    // A line that already is a JSON object goes as it is.
    tmux.type_text(r#"{"type":"user","message":{"role":"user","content":"raw event"}}"#);
    tmux.keys(&["Enter"]);
    tmux.wait_for("You said: raw event", Duration::from_secs(10));
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", Duration::from_secs(10));
    let records = transcript(&fx.path("logs/agent.jsonl"));
    assert_eq!(
        String::from_utf8(stream_bytes(&records, "stdin")).unwrap(),
        "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"hello \\\"agent\\\"\"}}\n\
         {\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"raw event\"}}\n"
    );
}
