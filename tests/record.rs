//! `--record` (#14): a conversation held by hand in the real binary in tmux, with an echo
//! bot, `python3 -i` and a stream-json agent, written as a script that `sandmux run` plays
//! back; a changed reply fails the played-back script at the right line. Needs tmux.

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{Fixture, sandmux, stderr};

const WAIT: Duration = Duration::from_secs(15);

fn run(fx: &Fixture, script: &std::path::Path) -> std::process::Output {
    sandmux()
        .current_dir(fx.dir.path())
        .arg("run")
        .arg(script)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

#[test]
fn a_recorded_conversation_plays_back_and_catches_a_changed_reply() {
    let fx = Fixture::new();
    let bin = assert_cmd::cargo::cargo_bin("sandmux");
    let script = fx.path("rec.smx");
    // An answer that differs every run: a timestamp in nanoseconds and a temp path.
    let clock = fx.write(
        "clock.sh",
        "while read l; do echo \"$l at $(date +%s%N) = $(date +%s.%3N) in /tmp/t.$$.$(date +%N)\"; done\n",
    );
    let tmux = Tmux::new("record");
    tmux.start(
        &format!(
            "--log-file {} --record {} -s echo='sed -u s/^/ack:/' -s 'py=python3 -i -u -q' -s 'agent protocol=stream-json: {} demo-agent' -s 'clock=sh {}'",
            fx.path("tui.log").display(),
            script.display(),
            bin.display(),
            clock.display()
        ),
        150,
        40,
    );
    tmux.wait_for("● REC", WAIT);
    tmux.type_text("hello");
    tmux.keys(&["Enter"]);
    tmux.wait_for("ack:hello", WAIT);
    // Written as it goes: the send is in the file while sandmux runs.
    let so_far = std::fs::read_to_string(&script).unwrap();
    assert!(so_far.contains("\nsend echo hello\n"), "{so_far}");
    // Blanks at the end of a typed line are part of it.
    tmux.type_text("spaced  ");
    tmux.keys(&["Enter"]);
    tmux.wait_for("ack:spaced", WAIT);
    tmux.type_text("pid 48213 at 2026-12-01T10:00:00Z");
    tmux.keys(&["Enter"]);
    tmux.wait_for("ack:pid 48213", WAIT);
    tmux.keys(&["Tab"]);
    tmux.type_text("print(6*7, 'ok')");
    tmux.keys(&["Enter"]);
    tmux.wait_for("42 ok", WAIT);
    tmux.keys(&["Tab"]);
    tmux.type_text("hello agent");
    tmux.keys(&["Enter"]);
    tmux.wait_for("You said: hello agent", WAIT);
    // A turn that ends in error plays back as the message and the error's check.
    tmux.type_text("please fail");
    tmux.keys(&["Enter"]);
    tmux.wait_for("turn failed", WAIT);
    tmux.keys(&["Tab"]);
    tmux.type_text("ping");
    tmux.keys(&["Enter"]);
    tmux.wait_for("ping at ", WAIT);
    tmux.keys(&["Tab", "C-d"]);
    tmux.wait_for("exited 0", WAIT);
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", WAIT);

    let recorded = std::fs::read_to_string(&script).unwrap();
    for expected in [
        "session echo: sed -u ",
        "session py: python3 -i -u -q\n",
        "session agent protocol=stream-json: ",
        "send echo hello\nexpect echo stdout \"ack:hello\" within ",
        "send echo pid 48213 at 2026-12-01T10:00:00Z\n",
        "expect echo stdout /^ack:pid \\d+ at \\d+-\\d+-\\d+T\\d+:\\d+:\\d+Z$/ within ",
        "send py print(6*7, 'ok')\n",
        "expect py stdout \"42 ok\" within ",
        "turn agent \"hello agent\"\n",
        "expect-json agent /message/content/0/text == \"You said: hello agent\" within ",
        "expect-json agent /subtype == \"success\" within ",
        "send agent {\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"please fail\"}}\n",
        "expect-json agent /subtype == \"error_during_execution\" within ",
        "close echo\nwait echo exit 0\n",
        "send clock ping\n",
        "send echo \"spaced  \"\nexpect echo stdout \"ack:spaced  \" within ",
        "expect clock stdout /^ping at \\d+ = \\d+\\.\\d+ in \\/tmp\\/[^",
    ] {
        assert!(
            recorded.contains(expected),
            "no `{expected}` in:\n{recorded}"
        );
    }

    let out = run(&fx, &script);
    assert_eq!(out.status.code(), Some(0), "{}\n{recorded}", stderr(&out));

    // The echo bot now answers differently: the played-back script fails at that answer.
    let changed = recorded.replace("s/^/ack:/", "s/^/ok:/");
    let changed_path = fx.write("changed.smx", &changed);
    let line = changed
        .lines()
        .position(|l| l.starts_with("expect echo stdout \"ack:hello\""))
        .unwrap()
        + 1;
    let out = run(&fx, &changed_path);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "changed.smx:{line}: expect echo stdout \"ack:hello\""
        )),
        "{err}"
    );
}

#[test]
fn config_sessions_are_left_to_the_config_and_a_bad_path_is_refused() {
    let fx = Fixture::new();
    let config = fx.write(
        "s.toml",
        "[[session]]\nname = \"cfg\"\ncommand = [\"sed\", \"-u\", \"s/^/cfg:/\"]\n",
    );
    let script = fx.path("rec.smx");
    let tmux = Tmux::new("record-config");
    let socket = fx.path("s.sock");
    tmux.start(
        &format!(
            "--log-file {} --record {} --config {} --socket {}",
            fx.path("tui.log").display(),
            script.display(),
            config.display(),
            socket.display()
        ),
        100,
        30,
    );
    tmux.wait_for("● REC", WAIT);
    tmux.type_text("one");
    tmux.keys(&["Enter"]);
    tmux.wait_for("cfg:one", WAIT);
    // A session added through the socket is declared in the script where it came (after
    // the answer before it, once that went quiet).
    std::thread::sleep(Duration::from_millis(600));
    let added = sandmux()
        .arg("ctl")
        .arg("--socket")
        .arg(&socket)
        .args(["add", "late: sed -u s/^/late:/"])
        .output()
        .unwrap();
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    tmux.wait_for("late ·", WAIT);
    tmux.keys(&["Tab"]);
    tmux.type_text("two");
    tmux.keys(&["Enter"]);
    tmux.wait_for("late:two", WAIT);
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", WAIT);
    let recorded = std::fs::read_to_string(&script).unwrap();
    assert!(!recorded.contains("session cfg"), "{recorded}");
    assert!(
        recorded.contains(&format!("--config {}", config.display())),
        "{recorded}"
    );
    assert!(
        recorded.contains("send cfg one\nexpect cfg stdout \"cfg:one\""),
        "{recorded}"
    );
    assert!(
        recorded
            .contains("\"cfg:one\" within 5s\nsession late: sed -u 's/^/late:/'\nsend late two\n"),
        "{recorded}"
    );
    assert!(
        recorded.contains("expect late stdout \"late:two\""),
        "{recorded}"
    );
    let out = sandmux()
        .arg("run")
        .arg(&script)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = sandmux()
        .args(["--record", "/nonexistent/dir/x.smx", "-s", "cat"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot record to /nonexistent/dir/x.smx"),
        "{}",
        stderr(&out)
    );
}
