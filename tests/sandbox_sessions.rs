//! Sandbox sessions for real, through the real binary, the real microsandbox SDK, relay and
//! guest agent: against sandmux's test runtime by default (no VM needed), or against real
//! microVMs with `SANDMUX_TEST_MICROSANDBOX=1` on a machine where KVM works. The tests are
//! the same either way (see `common/sandbox.rs`).
#![cfg(feature = "microsandbox")]

mod common;

use std::time::{Duration, Instant};

use common::sandbox::{Runtime, SandboxHost};
use common::*;

/// An echo bot for busybox guests: busybox `sed` has no `-u`, but the shell's `echo` writes
/// each reply at once.
fn echo_bot(prefix: &str) -> String {
    format!("sh -c \"while read -r line; do echo {prefix}:\\$line; done\"")
}

fn passes(host: &SandboxHost, script: &str, args: &[&str]) -> std::process::Output {
    let out = host.run(script, args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

#[test]
fn turn_by_turn_echo_in_a_sandbox() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    let sb = host.sandbox("echo");
    let mut script = format!("session echo sandbox={sb}: {}\n", echo_bot("ack"));
    for i in 1..=10 {
        script.push_str(&format!(
            "send echo turn{i}\nexpect echo stdout /^ack:turn{i}$/ within 10s\n"
        ));
    }
    script.push_str("close echo\nwait echo exit 0 within 20s\n");
    let out = passes(&host, &script, &["-v", "--transcript-dir", "logs"]);
    let err = stderr(&out);
    if host.runtime == Runtime::TestRuntime {
        assert!(
            err.contains("served by sandmux's test runtime (no VM)"),
            "the test runtime never passes for a real sandbox: {err}"
        );
    }
    let records = transcript(&fx.path("logs/echo.jsonl"));
    let sent: String = (1..=10).map(|i| format!("turn{i}\n")).collect();
    assert_eq!(stream_bytes(&records, "stdin"), sent.as_bytes());
    let answered: String = (1..=10).map(|i| format!("ack:turn{i}\n")).collect();
    assert_eq!(stream_bytes(&records, "stdout"), answered.as_bytes());
}

#[test]
fn a_timeout_kills_the_exec_and_a_missing_command_is_named() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    let sb = host.sandbox("misc");
    let started = Instant::now();
    let out = host.run(
        &format!("session slow sandbox={sb}: sleep 60\nexpect slow \"never\" within 1s\n"),
        &["--report", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no match within 1.00s"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        report["sessions"][0]["status"], "exited 137 (SIGKILL)",
        "overrunning `within` killed the exec"
    );

    let out = host.run(
        &format!("session ghost sandbox={sb}: no-such-guest-command\n"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("command not found in the sandbox: no-such-guest-command"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn one_mib_of_stdin_arrives_intact() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    let sb = host.sandbox("stdin");
    let data: String = (0..16384).map(|i| format!("{i:063}\n")).collect();
    assert_eq!(data.len(), 1 << 20);
    let expected = sha256_hex(data.as_bytes());
    let mut script = format!("session sum sandbox={sb}: sha256sum\n");
    for chunk in data.as_bytes().chunks(8192) {
        let quoted = String::from_utf8(chunk.to_vec())
            .unwrap()
            .replace('\n', "\\n");
        script.push_str(&format!("write sum \"{quoted}\"\n"));
    }
    script.push_str(&format!(
        "close sum\nexpect sum \"{expected}\" within 30s\nwait sum exit 0\n"
    ));
    passes(&host, &script, &[]);
}

#[test]
fn two_sandboxes_at_once_each_with_several_sessions() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    let (a, b) = (host.sandbox("conc-a"), host.sandbox("conc-b"));
    let names = ["a0", "a1", "a2", "a3", "b0", "b1", "b2"];
    let mut script = String::new();
    for n in names {
        let sb = if n.starts_with('a') { &a } else { &b };
        script.push_str(&format!("session {n} sandbox={sb}: {}\n", echo_bot(n)));
    }
    for turn in 0..5 {
        for n in names {
            script.push_str(&format!("send {n} t{turn}\n"));
        }
        for n in names {
            script.push_str(&format!("expect {n} stdout /^{n}:t{turn}$/ within 10s\n"));
        }
    }
    for n in names {
        script.push_str(&format!("close {n}\nwait {n} exit 0 within 20s\n"));
    }
    passes(&host, &script, &[]);
}

#[test]
fn a_stream_json_agent_inside_a_sandbox_takes_turns() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    host.install_sandmux();
    let sb = host.sandbox("agent");
    let out = passes(
        &host,
        &format!(
            "session agent sandbox={sb} protocol=stream-json: /bin/sandmux demo-agent\n\
             turn agent \"hello from the host\" within 20s\n\
             turn agent \"please look up the README\" within 20s\n\
             send agent not json\n\
             expect-json agent /result ~ /^invalid input: line \\d+: not JSON/ within 10s\n\
             send agent {{\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":\"look again\"}}}}\n\
             expect-json agent /message/content/1/name == \"Grep\" within 10s\n\
             expect-json agent /type == \"result\" within 10s\n\
             close agent\n\
             wait agent exit 0 within 20s\n"
        ),
        &["--report", "json"],
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["turns"]["count"], 2, "{report}");
    assert_eq!(
        report["steps"][1]["turn"]["result"], "You said: hello from the host",
        "{report}"
    );
}

#[test]
fn signals_reach_the_guest_process() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    let sb = host.sandbox("sig");
    passes(
        &host,
        &format!(
            "session sl sandbox={sb}: sleep 1000\n\
             sleep 200ms\n\
             kill sl INT\n\
             wait sl exit 130 within 10s\n\
             session trapper sandbox={sb}: sh -c \"trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 0.1; done\"\n\
             expect trapper \"ready\"\n\
             kill trapper INT\n\
             expect trapper \"got INT\" within 10s\n\
             wait trapper exit 7 within 10s\n\
             session term sandbox={sb}: sleep 1000\n\
             kill term\n\
             wait term exit 143 within 10s\n"
        ),
        &[],
    );
}

#[test]
fn a_guest_that_closes_stdout_keeps_running_and_is_heard_on_stderr() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    let sb = host.sandbox("closed");
    passes(
        &host,
        &format!(
            "session s sandbox={sb}: sh -c \"echo before; exec 1>&-; sleep 0.3; echo still here >&2; read x; echo got \\$x >&2; exit 3\"\n\
             expect s stdout \"before\"\n\
             expect s stderr \"still here\" within 10s\n\
             send s ping\n\
             expect s stderr \"got ping\" within 10s\n\
             wait s exit 3 within 10s\n"
        ),
        &[],
    );
}

#[test]
fn ten_mib_of_guest_output_reach_the_transcript_byte_for_byte() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    // Every byte value, in a pseudo-random order, so invalid UTF-8 and control bytes go
    // through too.
    let mut state = 0x9e3779b97f4a7c15u64;
    let data: Vec<u8> = (0..10 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(host.rootfs.join("data.bin"), &data).unwrap();
    let sb = host.sandbox("flood");
    passes(
        &host,
        &format!("session cat sandbox={sb}: cat /data.bin\nwait cat exit 0 within 2m\n"),
        &["--transcript-dir", "logs"],
    );
    let records = transcript(&fx.path("logs/cat.jsonl"));
    let got = stream_bytes(&records, "stdout");
    assert_eq!(got.len(), data.len());
    assert!(
        got == data,
        "the transcript holds the guest's bytes exactly"
    );
}

#[test]
fn a_relay_that_dies_mid_stream_fails_its_sessions_and_spares_the_others() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    let (doomed, other) = (host.sandbox("doomed"), host.sandbox("other"));
    let script = fx.write(
        "relay.smx",
        &format!(
            "session tick sandbox={doomed}: sh -c \"while :; do echo tick; sleep 0.05; done\"\n\
             session echo sandbox={other}: {}\n\
             expect tick \"tick\" within 10s\n\
             send echo before\n\
             expect echo \"e:before\" within 10s\n\
             wait tick within 20s\n",
            echo_bot("e")
        ),
    );
    let started = Instant::now();
    let child = host.spawn_sandmux(&[
        "run".as_ref(),
        script.as_os_str(),
        "--report".as_ref(),
        "json".as_ref(),
    ]);
    std::thread::sleep(Duration::from_secs(2));
    host.kill_runtime(&doomed);
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "sandmux did not hang"
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("wait tick within 20s: the session failed: session ended without exit status"),
        "one clear sentence: {err}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["sessions"][0]["state"], "failed");
    assert_eq!(
        report["sessions"][1]["status"], "exited 143 (SIGTERM)",
        "the session in the other sandbox carried on until sandmux stopped it at the end: {report}"
    );
    // And the other sandbox still serves new sessions.
    passes(
        &host,
        &format!(
            "session again sandbox={other}: {}\nsend again after\nexpect again \"x:after\" within 10s\n",
            echo_bot("x")
        ),
        &[],
    );
}

/// How many processes in sandbox `sb` have `token` in their command line, counted from
/// inside the guest (so it works the same in a microVM).
fn guest_processes(host: &SandboxHost, sb: &str, token: &str) -> usize {
    // `[x]yz` matches `xyz` but not itself, so neither grep nor its shell counts.
    let (first, rest) = token.split_at(1);
    passes(
        host,
        &format!(
            "session ps sandbox={sb}: sh -c \"grep -l '[{first}]{rest}' /proc/[0-9]*/cmdline 2>/dev/null | wc -l\"\nwait ps exit 0 within 20s\n"
        ),
        &["--transcript-dir", "ps-logs"],
    );
    let records = transcript(&host.dir().join("ps-logs/ps.jsonl"));
    String::from_utf8_lossy(&stream_bytes(&records, "stdout"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("a count from the guest: {records:?}"))
}

#[test]
fn a_sigkilled_sandmux_leaves_no_process_behind_in_the_sandbox() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    let sb = host.sandbox("orphans");
    let token = format!("orphan{}", std::process::id());
    let script = fx.write(
        "orphans.smx",
        &format!(
            "session long sandbox={sb}: sh -c \"echo up; sh -c 'sleep 1000; : {token}-child'; : {token}\"\n\
             expect long \"up\" within 10s\n\
             wait long within 5m\n"
        ),
    );
    let mut child = host.spawn_sandmux(&["run".as_ref(), script.as_os_str()]);
    assert!(
        eventually(Duration::from_secs(20), || guest_processes(
            &host, &sb, &token
        ) == 2),
        "the session's two shells run in the guest"
    );
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    let killed = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || guest_processes(
            &host, &sb, &token
        ) == 0),
        "the exec's processes outlived sandmux in the guest"
    );
    eprintln!(
        "guest processes gone {:?} after the SIGKILL",
        killed.elapsed()
    );
}

#[test]
fn the_tui_shows_two_sandbox_panes_and_types_into_both() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    let (a, b) = (host.sandbox("tui-a"), host.sandbox("tui-b"));
    let config = fx.write(
        "boxes.toml",
        &format!(
            "[[session]]\nname = \"left\"\nbackend = \"microsandbox\"\nsandbox = \"{a}\"\nshell = \"while read -r l; do echo L:$l; done\"\n\n\
             [[session]]\nname = \"right\"\nbackend = \"microsandbox\"\nsandbox = \"{b}\"\nshell = \"while read -r l; do echo R:$l; done\"\n"
        ),
    );
    let tmux = common::tmux::Tmux::new("sandbox");
    tmux.start_with_env(
        &host.env_prefix(),
        &format!(
            "--log-file {} --config {}",
            fx.path("tui.log").display(),
            config.display()
        ),
        120,
        20,
    );
    tmux.wait_for("left · idle", Duration::from_secs(60));
    tmux.wait_for("right · idle", Duration::from_secs(60));
    tmux.type_text("hello left");
    tmux.keys(&["Enter"]);
    tmux.wait_for("L:hello left", Duration::from_secs(10));
    tmux.keys(&["Tab"]);
    tmux.type_text("hello right");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("R:hello right", Duration::from_secs(10));
    assert!(!screen.contains("L:hello right"), "{screen}");
    tmux.keys(&["C-c"]);
    tmux.wait_for("right · exited", Duration::from_secs(10));
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", Duration::from_secs(30));
}

/// SHA-256 with the host's sha256sum (what the guest's busybox computes too).
fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn doctor_never_takes_the_test_runtime_for_a_real_sandbox() {
    let fx = Fixture::new();
    let mut host = SandboxHost::new(&fx);
    if host.runtime != Runtime::TestRuntime {
        return;
    }
    let sb = host.sandbox("doctor");
    let out = host.sandmux().arg("doctor").output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "NOTE  test-rt   not real microVMs: {sb} served by sandmux's test runtime"
        )),
        "{text}"
    );
}
