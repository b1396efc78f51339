//! The real binary in a real terminal: tmux runs sandmux, send-keys types, capture-pane reads.
//! Needs tmux (`.ci/run` installs it).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::Tmux;

fn processes_with(token: &str) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", token])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn three_sessions_typing_focus_and_quit_in_a_real_terminal() {
    let token = format!("tok{}", std::process::id());
    let tmux = Tmux::new("e2e");
    tmux.start(
        &format!(
            "--log-file /tmp/{token}.log -s 'echo=sed -u s/^/ack-{token}:/' -s 'upper=sh -c \"while read l; do echo $l | tr a-z A-Z; done; : {token}\"' -s 'ticker=sh -c \"while :; do echo tick-{token}; sleep 1; done\"'"
        ),
        150,
        30,
    );
    tmux.wait_for(&format!("tick-{token}"), Duration::from_secs(10));
    tmux.wait_for("ticker · working", Duration::from_secs(5));
    assert_eq!(
        tmux.cmd(&["display", "-p", "-t", "t", "#{alternate_on}"])
            .trim(),
        "1"
    );

    // Type into the first (focused) pane and see the reply.
    tmux.type_text("hello");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&format!("ack-{token}:hello"), Duration::from_secs(5));

    // Tab to the second pane and type there.
    tmux.keys(&["Tab"]);
    tmux.type_text("shout");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("SHOUT", Duration::from_secs(5));
    assert!(
        !screen.contains(&format!("ack-{token}:shout")),
        "the line went to the wrong pane:\n{screen}"
    );
    assert!(
        processes_with(&token) >= 5,
        "the three sessions should be running"
    );

    tmux.keys(&["C-q"]);
    let screen = tmux.wait_for("SANDMUX-EXITED-", Duration::from_secs(10));
    assert!(screen.contains("SANDMUX-EXITED-0"), "{screen}");
    assert_eq!(
        tmux.cmd(&["display", "-p", "-t", "t", "#{alternate_on}"])
            .trim(),
        "0",
        "alternate screen left"
    );
    assert_eq!(
        tmux.cmd(&["display", "-p", "-t", "t", "#{mouse_any_flag}"])
            .trim(),
        "0",
        "mouse reporting off"
    );
    assert!(
        !screen.contains("ticker · running"),
        "the TUI is gone from the screen:\n{screen}"
    );
    let start = Instant::now();
    while processes_with(&token) > 1 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Only the tmux pane's own shell command line (which names the token) remains.
    let left = Command::new("pgrep")
        .args(["-af", &token])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&left.stdout).into_owned();
    assert!(
        left.lines().all(|l| l.contains("SANDMUX-EXITED")),
        "child processes left behind:\n{left}"
    );
}

#[test]
fn sigterm_to_the_tui_quits_cleanly() {
    let token = format!("term{}", std::process::id());
    let tmux = Tmux::new("term");
    tmux.start(
        &format!(
            "--log-file /tmp/{token}.log -s 'sleeper=sh -c \"echo up; sleep 300; : {token}\"'"
        ),
        100,
        20,
    );
    tmux.wait_for("up", Duration::from_secs(10));
    let pid = tmux.cmd(&["display", "-p", "-t", "t", "#{pane_pid}"]);
    let children = Command::new("pgrep")
        .args(["-P", pid.trim(), "sandmux"])
        .output()
        .unwrap();
    let sandmux_pid = String::from_utf8_lossy(&children.stdout).trim().to_string();
    assert!(
        !sandmux_pid.is_empty(),
        "sandmux is running under the pane's shell"
    );
    Command::new("kill")
        .args(["-TERM", &sandmux_pid])
        .status()
        .unwrap();
    let screen = tmux.wait_for("SANDMUX-EXITED-", Duration::from_secs(10));
    assert!(screen.contains("SANDMUX-EXITED-0"), "{screen}");
    assert_eq!(
        tmux.cmd(&["display", "-p", "-t", "t", "#{alternate_on}"])
            .trim(),
        "0"
    );
    std::thread::sleep(Duration::from_millis(300));
    let left = Command::new("pgrep")
        .args(["-af", &format!("sleep 300; : {token}")])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&left.stdout).into_owned();
    assert!(
        left.lines().all(|l| l.contains("SANDMUX-EXITED")),
        "left behind:\n{left}"
    );
}

#[test]
fn a_transcript_that_cannot_be_written_is_a_warning_that_stays_until_esc() {
    let fx = common::Fixture::new();
    let Some(disk) = common::SmallDisk::mount(fx.path("small")) else {
        return;
    };
    let token = format!("disk{}", std::process::id());
    let tmux = Tmux::new("disk");
    tmux.start(
        &format!(
            "--log-file /tmp/{token}.log --transcript-dir {} -s 'flood=sh -c \"yes 0123456789abcdef | head -c 2M; echo after-{token}; read l; echo got-$l; sleep 300\"'",
            disk.dir.display()
        ),
        160,
        20,
    );
    let screen = tmux.wait_for("could not be written", Duration::from_secs(15));
    let shown = Instant::now();
    assert!(screen.contains("⚠ transcript"), "{screen}");
    assert!(screen.contains("No space left on device"), "{screen}");
    // The session and its scrollback carry on, input included.
    tmux.wait_for(&format!("after-{token}"), Duration::from_secs(15));
    tmux.type_text("more");
    tmux.keys(&["Enter"]);
    tmux.wait_for("got-more", Duration::from_secs(5));
    // It stays: status messages fade after 6 s, the warning does not.
    std::thread::sleep(Duration::from_secs(8).saturating_sub(shown.elapsed()));
    assert!(tmux.screen().contains("could not be written"));
    tmux.keys(&["Escape"]);
    let start = Instant::now();
    while tmux.screen().contains("could not be written") {
        assert!(start.elapsed() < Duration::from_secs(5), "Esc dismisses it");
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux.keys(&["C-q"]);
    let screen = tmux.wait_for("SANDMUX-EXITED-", Duration::from_secs(10));
    assert!(screen.contains("SANDMUX-EXITED-0"), "{screen}");
}
