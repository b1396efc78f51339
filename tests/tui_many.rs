//! Many sessions in a real terminal (#11): the real binary in tmux with 40 sessions, the
//! list and the tiles layouts, jump by name, attention marks, and the bell and notification
//! bytes as the terminal receives them. Needs tmux (`.ci/run` installs it).

mod common;

use std::time::Duration;

use common::Fixture;
use common::tmux::Tmux;

const WAIT: Duration = Duration::from_secs(15);

/// A config of 40 echo sessions `agent-01` .. `agent-40`, each answering `NAME got: LINE`,
/// then `extra` (more TOML).
fn forty(fx: &Fixture, extra: &str) -> String {
    let mut toml = String::new();
    for i in 1..=40 {
        toml.push_str(&format!(
            "[[session]]\nname = \"agent-{i:02}\"\ncommand = [\"sed\", \"-u\", \"s/^/agent-{i:02} got: /\"]\n"
        ));
    }
    toml.push_str(extra);
    fx.write("many.toml", &toml).display().to_string()
}

/// Starts sandmux in a 160x45 tmux on `config` with `args`.
fn start(tmux: &Tmux, fx: &Fixture, config: &str, args: &str) {
    let log = fx.path("tui.log");
    tmux.start(
        &format!("--config {config} --log-file {} {args}", log.display()),
        160,
        45,
    );
}

fn names(screen: &str, range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range
        .map(|i| format!("agent-{i:02}"))
        .filter(|name| !screen.contains(name.as_str()))
        .collect()
}

#[test]
fn forty_sessions_are_all_listed_and_ctrl_g_reaches_one_by_name() {
    let fx = Fixture::new();
    let config = forty(&fx, "");
    let logs = fx.path("logs");
    let tmux = Tmux::new("many-list");
    start(
        &tmux,
        &fx,
        &config,
        &format!("--transcript-dir {}", logs.display()),
    );
    let screen = tmux.wait_for("agent-40", WAIT);
    assert!(
        names(&screen, 1..=40).is_empty(),
        "missing {:?}:\n{screen}",
        names(&screen, 1..=40)
    );
    assert!(screen.contains("40/40 running"), "{screen}");

    tmux.keys(&["C-g"]);
    tmux.wait_for("jump to a session", WAIT);
    tmux.type_text("nt17");
    tmux.wait_for("jump to a session: 1 of 40", WAIT);
    tmux.keys(&["Enter"]);
    tmux.wait_for("agent-17 · ", WAIT);
    tmux.type_text("hello-many");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("agent-17 got: hello-many", WAIT);
    assert!(!screen.contains("jump to a session"), "{screen}");

    tmux.keys(&["C-q"]);
    let screen = tmux.wait_for("SANDMUX-EXITED-", WAIT);
    assert!(screen.contains("SANDMUX-EXITED-0"), "{screen}");
    let read = |name: &str| std::fs::read_to_string(logs.join(format!("{name}.jsonl"))).unwrap();
    assert!(read("agent-17").contains("agent-17 got: hello-many"));
    for other in ["agent-01", "agent-07", "agent-16", "agent-18", "agent-40"] {
        assert!(
            !read(other).contains("hello-many"),
            "the line reached {other} too"
        );
    }
}

#[test]
fn a_session_that_starts_waiting_is_marked_and_ctrl_n_goes_to_it() {
    let fx = Fixture::new();
    let waiter = "[[session]]\nname = \"waiter\"\nprompt = \"^ready> $\"\nshell = \"sleep 1; printf 'ready> '; read x; echo waiter got $x; sleep 30\"\n";
    let config = forty(&fx, waiter);
    let tmux = Tmux::new("many-attn");
    start(&tmux, &fx, &config, "");
    let screen = tmux.wait_for("1 need you", WAIT);
    let row = screen
        .lines()
        .find(|l| l.contains("waiter"))
        .unwrap_or_else(|| panic!("no row for waiter:\n{screen}"));
    assert!(row.contains("!•waiter"), "the mark: {row}");
    assert!(row.contains("awaiting"), "{row}");
    assert!(row.contains("ready>"), "its last line: {row}");
    assert!(
        screen.contains("agent-01 · "),
        "focus stays where it was:\n{screen}"
    );

    tmux.keys(&["C-n"]);
    let screen = tmux.wait_for("waiter · awaiting input", WAIT);
    assert!(!screen.contains("need you"), "focus clears it:\n{screen}");
    tmux.type_text("yes");
    tmux.keys(&["Enter"]);
    tmux.wait_for("waiter got yes", WAIT);
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", WAIT);
}

#[test]
fn tiles_page_through_all_forty_sessions() {
    let fx = Fixture::new();
    let config = forty(&fx, "");
    let tmux = Tmux::new("many-tiles");
    start(&tmux, &fx, &config, "--layout tiles");
    let screen = tmux.wait_for("page 1/2", WAIT);
    assert!(names(&screen, 1..=20).is_empty(), "{screen}");
    assert!(!screen.contains("agent-21"), "{screen}");
    tmux.keys(&["C-NPage"]);
    let screen = tmux.wait_for("page 2/2", WAIT);
    assert!(names(&screen, 21..=40).is_empty(), "{screen}");
    assert!(!screen.contains("agent-20"), "{screen}");
    tmux.keys(&["C-PPage"]);
    tmux.wait_for("page 1/2", WAIT);
    // F11: the same sessions as a list.
    tmux.keys(&["F11"]);
    let screen = tmux.wait_for("layout: list", WAIT);
    assert!(names(&screen, 1..=40).is_empty(), "{screen}");
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", WAIT);
}

/// What the terminal receives from sandmux while `bad` (not focused) exits 3 after printing
/// a notification escape of its own.
fn terminal_bytes(settings: &str) -> Vec<u8> {
    let fx = Fixture::new();
    let config = fx.write(
        "alerts.toml",
        &format!(
            "{settings}[[session]]\nname = \"calm\"\ncommand = [\"cat\"]\n\n[[session]]\nname = \"bad\"\nshell = \"sleep 1; printf '\\\\033]777;notify;evil;pwned\\\\033\\\\\\\\\\\\007\\\\n'; exit 3\"\n"
        ),
    );
    let capture = fx.path("terminal.bytes");
    let tmux = Tmux::new("alerts");
    // The shell waits until the pipe is attached, so it sees everything sandmux writes.
    tmux.start_with_env(
        "sleep 0.5; ",
        &format!(
            "--config {} --log-file {}",
            config.display(),
            fx.path("tui.log").display()
        ),
        120,
        30,
    );
    tmux.cmd(&[
        "pipe-pane",
        "-t",
        "t",
        &format!("cat >> {}", capture.display()),
    ]);
    tmux.wait_for("bad · exited 3", WAIT);
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", WAIT);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::read(&capture).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_bell_and_notifications_reach_the_terminal_only_when_opted_in() {
    let on = terminal_bytes("[settings]\nbell = true\nnotify = true\n\n");
    assert!(
        contains(&on, b"\x1b]777;notify;sandmux: bad;bad exited 3\x1b\\"),
        "{}",
        String::from_utf8_lossy(&on)
    );
    assert_eq!(on.iter().filter(|b| **b == 0x07).count(), 1, "one BEL");
    assert!(!contains(&on, b"evil"), "session output never in them");
    assert!(!contains(&on, b"pwned"));

    let off = terminal_bytes("");
    assert!(off.len() > 1000, "the capture saw the TUI");
    assert!(!off.contains(&0x07), "no bell unless opted in");
    assert!(!contains(&off, b"]777;"), "no notification unless opted in");
    assert!(!contains(&off, b"]9;"));
    assert!(!contains(&off, b"evil"));
}
