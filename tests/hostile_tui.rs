//! The TUI when its terminal is taken from it (#24): the window closed (SIGHUP, the terminal
//! gone), stopped and continued (SIGTSTP, SIGCONT), and a replay of a big transcript.

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::*;

/// The pid of the sandmux that tmux runs, found by its log file.
fn sandmux_pid(log: &std::path::Path) -> i32 {
    let mut found = None;
    assert!(eventually(Duration::from_secs(10), || {
        found = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            let is_sandmux = args.first()?.ends_with(b"/sandmux");
            let has_log = args.iter().any(|a| *a == log.to_str().unwrap().as_bytes());
            (is_sandmux && has_log).then_some(pid)
        });
        found.is_some()
    }));
    found.unwrap()
}

#[test]
fn a_tui_whose_terminal_goes_away_leaves_cleanly() {
    let fx = Fixture::new();
    let tmux = Tmux::new("gone");
    let log = fx.path("tui.log");
    // A sleep of its own (other tests may run `sleep 300` at the same time).
    let sleep = format!("sleep 30{}.5", std::process::id() % 1000);
    tmux.start(
        &format!("--log-file {} -s a=cat -s 'b={sleep}'", log.display()),
        80,
        20,
    );
    tmux.wait_for("type a line", Duration::from_secs(10));
    let pid = sandmux_pid(&log);
    let socket = format!("/tmp/sandmux-{}/{pid}.sock", unsafe { libc::geteuid() });
    let socket = std::env::var_os("XDG_RUNTIME_DIR")
        .map(|d| format!("{}/sandmux/{pid}.sock", d.to_string_lossy()))
        .unwrap_or(socket);
    assert!(std::path::Path::new(&socket).exists(), "{socket}");
    // The window closes: the terminal is gone (SIGHUP, then EIO on every write).
    tmux.cmd(&["kill-server"]);
    assert!(
        eventually(Duration::from_secs(10), || !alive(pid)),
        "sandmux ended"
    );
    let logged = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tui.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(!logged.contains("panic"), "{logged}");
    assert!(
        !std::path::Path::new(&socket).exists(),
        "the socket file is removed"
    );
    assert!(
        eventually(Duration::from_secs(5), || std::process::Command::new(
            "pgrep"
        )
        .args(["-f", &format!("^{sleep}$")])
        .output()
        .is_ok_and(|o| o.stdout.is_empty())),
        "its sessions ended with it"
    );
}

#[test]
fn sigtstp_gives_the_terminal_back_and_sigcont_takes_it_again() {
    let fx = Fixture::new();
    let tmux = Tmux::new("tstp");
    let log = fx.path("tstp.log");
    tmux.start_with_env(
        "echo BEFORE-SANDMUX; ",
        &format!("--log-file {} -s 'e=sed -u s/^/ack:/'", log.display()),
        80,
        20,
    );
    tmux.wait_for("type a line", Duration::from_secs(10));
    let pid = sandmux_pid(&log);
    // SAFETY: signalling the sandmux this test started.
    unsafe { libc::kill(pid, libc::SIGTSTP) };
    let screen = tmux.wait_for("BEFORE-SANDMUX", Duration::from_secs(5));
    assert!(
        !screen.contains("type a line"),
        "the shell's screen is back:\n{screen}"
    );
    assert!(eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .is_ok_and(|s| s.contains("State:\tT"))
    }));
    unsafe { libc::kill(pid, libc::SIGCONT) };
    tmux.wait_for("type a line", Duration::from_secs(5));
    tmux.type_text("hello");
    tmux.keys(&["Enter"]);
    tmux.wait_for("ack:hello", Duration::from_secs(5));
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", Duration::from_secs(10));
}

#[test]
fn a_replay_of_a_big_transcript_holds_memory_independent_of_its_size() {
    let fx = Fixture::new();
    let big = fx.path("big.jsonl");
    let script = "import json, sys\nwith open(sys.argv[1], 'w') as f:\n    f.write(json.dumps({'t': 0, 'event': 'started', 'pid': 1, 'command': ['x']}) + '\\n')\n    for i in range(400000):\n        f.write(json.dumps({'t': i, 'stream': 'stdout', 'data': 'y' * 200 + f' {i}\\n'}) + '\\n')\n    f.write(json.dumps({'t': 400000, 'event': 'exited', 'code': 0}) + '\\n')\n";
    assert!(
        std::process::Command::new("python3")
            .args(["-c", script, big.to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    );
    let tmux = Tmux::new("bigreplay");
    let log = fx.path("replay.log");
    tmux.start(
        &format!(
            "replay {} --speed all --log-file {}",
            big.display(),
            log.display()
        ),
        100,
        20,
    );
    tmux.wait_for("REPLAY ■ end", Duration::from_secs(120));
    let pid = sandmux_pid(&log);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    tmux.keys(&["C-q"]);
    // 90 MB of transcript: the scrollback holds what it keeps (16 MiB), nothing else grows.
    assert!(
        peak_kib / 1024 < 96,
        "the replay peaked at {} MiB",
        peak_kib / 1024
    );
}
