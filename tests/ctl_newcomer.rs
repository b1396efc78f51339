//! What a newcomer driving sandmux from a shell meets first: `ctl add` that says whether the
//! session started, `ctl send` that prints its input's seq for `wait --from`, send-and-wait in
//! one call with two drivers on one session, `ctl stop` on a sandmux whose sessions ended, and
//! `ctl list` as a table.

mod common;

use std::time::Duration;

use common::serve::Server;
use common::*;

#[test]
fn ctl_add_waits_for_the_start_and_reports_a_failure_with_its_reason() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &["-s", "cat"]);
    let out = server.ctl(&["add", "bad: nonexistent-cmd-4711"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("`bad` failed to start"), "{err}");
    assert!(
        err.contains("nonexistent-cmd-4711"),
        "the reason is named: {err}"
    );
    let out = server.ctl(&["add", "good: sleep 100"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("good: running"),
        "{}",
        stdout(&out)
    );
    // The JSON answer carries the state the session reached.
    let out = server.ctl(&["add", "--json", "more: sleep 100"]);
    let answer: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(answer["state"], "running", "{answer}");
}

#[test]
fn two_shell_drivers_of_one_session_each_get_their_own_reply() {
    let fx = Fixture::new();
    // A slow session: each reply comes well after the next input may have been sent.
    let slow = "slow=sh -c 'while read l; do sleep 0.3; echo ack:$l; done'";
    let server = std::sync::Arc::new(Server::start(&fx, &["-s", slow]));
    let drivers: Vec<_> = (0..4)
        .map(|n| {
            let server = std::sync::Arc::clone(&server);
            std::thread::spawn(move || {
                let word = format!("w{n}");
                let seq = server.ctl(&["send", "slow", &word]);
                assert_eq!(seq.status.code(), Some(0), "{}", stderr(&seq));
                let seq = stdout(&seq).trim().to_string();
                seq.parse::<u64>().expect("send prints the input's seq");
                // Any reply from this seq on: the first is this driver's or a later one's,
                // never an earlier driver's.
                let pattern = format!("/^ack:{word}$/");
                let args = ["wait", "slow", &pattern, "--from", &seq, "--timeout", "10s"];
                let waited = server.ctl(&args);
                assert_eq!(waited.status.code(), Some(0), "{}", stderr(&waited));
                assert_eq!(stdout(&waited), format!("ack:{word}\n"));
                // Send and wait in one call.
                let word = format!("x{n}");
                let pattern = format!("/^ack:{word}$/");
                let args = [
                    "send",
                    "slow",
                    &word,
                    "--wait",
                    &pattern,
                    "--timeout",
                    "10s",
                ];
                let sent = server.ctl(&args);
                assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
                assert_eq!(stdout(&sent), format!("ack:{word}\n"));
            })
        })
        .collect();
    for driver in drivers {
        driver.join().unwrap();
    }
    // A wait that misses names the input it waited from.
    let args = [
        "send",
        "slow",
        "y",
        "--wait",
        "/never/",
        "--timeout",
        "500ms",
    ];
    let out = server.ctl(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no match within 500ms"),
        "{}",
        stderr(&out)
    );
    // A bad pattern is refused before anything is sent.
    let before = stdout(&server.ctl(&["read", "slow"]));
    let out = server.ctl(&["send", "slow", "z", "--wait", "/(/"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stdout(&server.ctl(&["read", "slow"])),
        before,
        "nothing was sent"
    );
}

#[test]
fn ctl_stop_after_every_session_ended_exits_zero() {
    // With nothing left to stop, sandmux is gone at once: however its end reaches the
    // client (an answer, end of file or a reset connection), stop succeeded.
    for _ in 0..20 {
        let fx = Fixture::new();
        let mut server = Server::start(&fx, &["-s", "t=true", "-s", "u=echo done"]);
        assert!(eventually(Duration::from_secs(10), || {
            stdout(&server.ctl(&["list"])).matches("exited 0").count() == 2
        }));
        let out = server.ctl(&["stop"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{}", stderr(&out));
        assert_eq!(server.child.wait().unwrap().code(), Some(0));
    }
}

#[test]
fn ctl_list_is_a_table_with_a_header_and_aligned_columns() {
    let fx = Fixture::new();
    let server = Server::start(
        &fx,
        &[
            "-s",
            "a=cat",
            "-s",
            "a-much-longer-name=sleep 100",
            "-s",
            "ü=cat",
        ],
    );
    let out = stdout(&server.ctl(&["list"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("NAME"), "{out}");
    // Every column starts at the same display column on every line.
    let starts = |line: &str| -> Vec<usize> {
        let chars: Vec<char> = line.chars().collect();
        (1..chars.len())
            .filter(|&i| chars[i] != ' ' && chars[i - 1] == ' ' && i >= 2 && chars[i - 2] == ' ')
            .collect()
    };
    let header = starts(lines[0]);
    assert!(header.len() >= 4, "{out}");
    for line in &lines[1..] {
        let line_starts = starts(line);
        for col in &header[..4] {
            assert!(line_starts.contains(col), "column at {col} drifts: {out}");
        }
    }
}

#[test]
fn ctl_help_shows_patterns_as_typed() {
    for args in [
        vec!["ctl", "--help"],
        vec!["ctl", "wait", "--help"],
        vec!["ctl", "send", "--help"],
    ] {
        let out = sandmux().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let help = stdout(&out);
        assert!(
            !help.contains("\\\""),
            "`{}` shows escaped quotes:\n{help}",
            args.join(" ")
        );
    }
}
