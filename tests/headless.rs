//! `sandmux run` end to end: the real binary driving real processes.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn an_echo_server_is_driven_turn_by_turn_and_exits_zero_on_eof() {
    let fx = Fixture::new();
    let mut script = String::from("session echo: sed -u \"s/^/ack:/\"\n");
    for i in 1..=50 {
        script.push_str(&format!(
            "send echo turn{i}\nexpect echo stdout /^ack:turn{i}$/ within 5s\n"
        ));
    }
    script.push_str("close echo\nwait echo exit 0\n");
    let out = fx.run(&script, &["--transcript-dir", "logs", "--report", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["status"], "passed");
    assert_eq!(report["steps"].as_array().unwrap().len(), 103);
    assert_eq!(report["sessions"][0]["exit_code"], 0);

    // Turn by turn: each reply is in the transcript before the next turn's input.
    let records = transcript(&fx.path("logs/echo.jsonl"));
    let mut order = Vec::new();
    for r in &records {
        if let Some(stream) = r["stream"].as_str() {
            let text = r["data"].as_str().unwrap();
            for line in text.lines() {
                order.push(format!("{stream}:{line}"));
            }
        }
    }
    let mut expected = Vec::new();
    for i in 1..=50 {
        expected.push(format!("stdin:turn{i}"));
        expected.push(format!("stdout:ack:turn{i}"));
    }
    assert_eq!(order, expected);
    assert_eq!(records.first().unwrap()["event"], "started");
    assert_eq!(records.last().unwrap()["event"], "exited");
    assert_eq!(records.last().unwrap()["code"], 0);
}

#[test]
fn overrunning_within_fails_promptly_and_kills_the_process() {
    let fx = Fixture::new();
    let script = "session slow: sh -c \"echo $$ > pid; exec sleep 60\"\n\
                  expect slow \"never\" within 300ms\n";
    let started = Instant::now();
    let out = fx.run(script, &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let err = stderr(&out);
    assert!(
        err.contains("test.smx:2: expect slow \"never\" within 300ms: no match within 300ms"),
        "{err}"
    );
    let pid: i32 = std::fs::read_to_string(fx.path("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(2), || !alive(pid)),
        "pid {pid} survived"
    );
}

#[test]
fn a_session_that_closes_its_stdout_early_does_not_hang() {
    let fx = Fixture::new();
    let script = "session quiet: sh -c \"exec 1>&-; read line; echo got:$line >&2\"\n\
                  send quiet hi\n\
                  expect quiet stderr \"got:hi\"\n\
                  wait quiet exit 0 within 5s\n";
    let out = fx.run(script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn input_to_a_session_that_stopped_reading_fails_the_step_not_sandmux() {
    let fx = Fixture::new();
    let script = "session gone: sh -c \"exec 0<&-; echo closed; sleep 2\"\n\
                  expect gone \"closed\"\n\
                  send gone hello\n\
                  sleep 200ms\n\
                  session other: cat\n\
                  send other still-alive\n\
                  expect other \"still-alive\"\n";
    let out = fx.run(script, &["--transcript-dir", "logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = transcript(&fx.path("logs/gone.jsonl"));
    assert!(
        records.iter().any(|r| r["event"] == "warning"
            && r["message"].as_str().unwrap().contains("closed its stdin")),
        "{records:?}"
    );
}

#[test]
fn a_prompt_without_newline_matches_before_the_newline() {
    let fx = Fixture::new();
    let script = "session ask: sh -c \"printf 'name? '; read n; printf 'hi %s\\n' \\\"$n\\\"\"\n\
                  expect ask stdout \"name? \" within 2s\n\
                  send ask ada\n\
                  expect ask /hi ada$/\n";
    let out = fx.run(script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn stdout_and_stderr_are_matched_apart() {
    let fx = Fixture::new();
    let script = "session both: sh -c \"echo out-line; echo err-line >&2; sleep 5\"\n\
                  expect both stderr \"err-line\"\n\
                  expect both stdout \"out-line\"\n";
    let out = fx.run(script, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a stdout match after a later stderr match is gone: {}",
        stderr(&out)
    );

    let script = "session both: sh -c \"echo out-line; sleep 0.2; echo err-line >&2; sleep 5\"\n\
                  expect both stdout \"out-line\"\n\
                  expect both stderr \"err-line\"\n";
    let out = fx.run(script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let script = "session both: sh -c \"echo only-out; sleep 5\"\n\
                  expect both stderr \"only-out\" within 300ms\n";
    let out = fx.run(script, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("stdout| only-out"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_command_that_does_not_exist_is_a_clear_failure() {
    let fx = Fixture::new();
    let out = fx.run("session x: no-such-command-sandmux\nsend x hi\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("test.smx:1: session x: no-such-command-sandmux: session `x` failed to start: command not found: no-such-command-sandmux (not in PATH)"), "{err}");

    let out = fx.run("session x cwd=/no/such/dir: pwd\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("working directory /no/such/dir does not exist"),
        "{}",
        stderr(&out)
    );

    fx.write("notexec.sh", "echo hi\n");
    let out = fx.run("session x: ./notexec.sh\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_syntax_error_exits_2_with_file_line_and_column() {
    let fx = Fixture::new();
    let out = fx.run("session a: cat\n\nexpect a stdout \"unclosed\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let path = fx.path("test.smx");
    assert_eq!(
        err.trim(),
        format!(
            "{}:3:17: unclosed string: add the closing `\"`",
            path.display()
        )
    );

    let out = fx.run("send ghost hi\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(":1:6: unknown session `ghost`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_script_that_is_not_utf8_is_refused_with_its_position() {
    let fx = Fixture::new();
    let path = fx.path("bad.smx");
    std::fs::write(&path, b"session a: cat\nsend a \xff\n").unwrap();
    let out = sandmux().arg("run").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.smx:2:8: the script is not valid UTF-8 text"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failing_expect_exits_1_with_file_line_and_the_output_tail() {
    let fx = Fixture::new();
    let script = "session e: sh -c \"for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line$i; done; sleep 0.2; echo oops >&2; sleep 5\"\n\
                  expect e \"oops\"\n\
                  expect e \"missing\" within 200ms\n\
                  send e never-sent\n";
    let out = fx.run(script, &["--junit", "junit.xml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("test.smx:3: expect e \"missing\" within 200ms: no match within 200ms"),
        "{err}"
    );
    assert!(err.contains("stderr| oops"), "{err}");
    assert!(err.contains("stdout| line12"), "{err}");
    assert!(
        !err.contains("stdout| line2\n"),
        "only the last lines: {err}"
    );
    assert!(err.contains("FAIL"), "{err}");
    let junit = std::fs::read_to_string(fx.path("junit.xml")).unwrap();
    assert!(
        junit.contains("tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"1\""),
        "{junit}"
    );
    assert!(
        junit.contains("<failure message=\"no match within 200ms\""),
        "{junit}"
    );
}

#[test]
fn a_session_that_exits_before_matching_fails_at_once() {
    let fx = Fixture::new();
    let started = Instant::now();
    let out = fx.run(
        "session e: sh -c \"echo bye; exit 4\"\nexpect e \"hello\" within 30s\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        stderr(&out).contains("the session exited 4 and its output never matched"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wait_checks_exit_codes_and_signals() {
    let fx = Fixture::new();
    let out = fx.run(
        "session s: sleep 30\nkill s KILL\nwait s exit 137\n",
        &["--report", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["sessions"][0]["signal"], "SIGKILL");
    assert_eq!(report["sessions"][0]["status"], "exited 137 (SIGKILL)");

    let out = fx.run("session s: sh -c \"exit 3\"\nwait s exit 0\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("expected exit 0, but the session exited 3"));

    let out = fx.run("session s: sleep 30\nwait s within 200ms\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("still running after 200ms"));
}

#[test]
fn a_hundred_thousand_lines_with_a_small_scrollback_are_all_in_the_transcript() {
    let fx = Fixture::new();
    fx.write(
        "small.toml",
        "[settings]\nscrollback_lines = 100\nscrollback_bytes = \"4KiB\"\n",
    );
    let script = "session count: seq 1 100000\n\
                  expect count \"100000\"\n\
                  wait count exit 0\n";
    let out = fx.run(
        script,
        &["--config", "small.toml", "--transcript-dir", "logs"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = transcript(&fx.path("logs/count.jsonl"));
    let stdout = String::from_utf8(stream_bytes(&records, "stdout")).unwrap();
    let expected: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    assert!(
        stdout == expected,
        "transcript lost lines: {} bytes vs {}",
        stdout.len(),
        expected.len()
    );
}

#[test]
fn invalid_utf8_and_nul_bytes_pass_through_intact() {
    let fx = Fixture::new();
    let script = "session bin: printf \"\\377\\376\\000ok\\n\"\n\
                  expect bin /ok/\n\
                  wait bin exit 0\n";
    let out = fx.run(script, &["--transcript-dir", "logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = transcript(&fx.path("logs/bin.jsonl"));
    assert_eq!(stream_bytes(&records, "stdout"), b"\xff\xfe\x00ok\n");
}

#[test]
fn a_five_mebibyte_line_without_newline_is_capped_not_fatal() {
    let fx = Fixture::new();
    let script = "session big: sh -c \"head -c 5242880 /dev/zero | tr '\\\\0' x; sleep 0.2; printf END\"\n\
                  expect big stdout /^END$/ within 20s\n\
                  wait big exit 0\n";
    let out = fx.run(script, &["--transcript-dir", "logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = transcript(&fx.path("logs/big.jsonl"));
    let bytes = stream_bytes(&records, "stdout");
    assert_eq!(bytes.len(), 5 * 1024 * 1024 + 3);
    assert!(bytes.ends_with(b"xxEND"));
}

#[test]
fn ten_sessions_are_driven_at_once_without_mixing() {
    let fx = Fixture::new();
    let mut script = String::new();
    for s in 0..10 {
        script.push_str(&format!("session s{s}: sed -u \"s/^/s{s}:/\"\n"));
    }
    for turn in 0..20 {
        for s in 0..10 {
            script.push_str(&format!("send s{s} t{turn}\n"));
        }
        for s in 0..10 {
            script.push_str(&format!("expect s{s} stdout /^s{s}:t{turn}$/\n"));
        }
    }
    for s in 0..10 {
        script.push_str(&format!("close s{s}\nwait s{s} exit 0\n"));
    }
    let out = fx.run(&script, &["--transcript-dir", "logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for s in 0..10 {
        let records = transcript(&fx.path(&format!("logs/s{s}.jsonl")));
        let got = String::from_utf8(stream_bytes(&records, "stdout")).unwrap();
        let want: String = (0..20).map(|t| format!("s{s}:t{t}\n")).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn config_sessions_start_with_the_script() {
    let fx = Fixture::new();
    fx.write(
        "sandmux.toml",
        "[[session]]\nname = \"echo\"\ncommand = [\"sed\", \"-u\", \"s/^/ack:/\"]\n\n[[session]]\nname = \"env\"\nshell = \"echo $GREETING from $(pwd)\"\nenv = { GREETING = \"hi\" }\ncwd = \"sub\"\n",
    );
    std::fs::create_dir(fx.path("sub")).unwrap();
    let script = "send echo one\nexpect echo \"ack:one\"\nexpect env /^hi from .*sub$/\n";
    let out = fx.run(script, &["--config", "sandmux.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn bad_command_lines_exit_2() {
    let out = sandmux()
        .args(["run", "x.smx", "--report", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = sandmux().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sigterm_stops_every_session_and_flushes_transcripts() {
    for signal in ["TERM", "INT", "HUP"] {
        let fx = Fixture::new();
        let script = fx.write(
            "t.smx",
            "session a: sh -c \"echo $$ > a.pid; echo ready; sleep 60\"\n\
             session b: sh -c \"sleep 60 & echo $! > b.pid; wait\"\n\
             expect a \"ready\"\n\
             sleep 60s\n",
        );
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
            .current_dir(fx.dir.path())
            .arg("run")
            .arg(&script)
            .args(["--transcript-dir", "logs"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        assert!(eventually(Duration::from_secs(10), || fx
            .path("a.pid")
            .exists()
            && fx.path("b.pid").exists()
            && std::fs::read_to_string(fx.path("b.pid"))
                .is_ok_and(|s| s.ends_with('\n'))));
        std::thread::sleep(Duration::from_millis(300));
        let pids: Vec<i32> = ["a.pid", "b.pid"]
            .iter()
            .map(|f| {
                std::fs::read_to_string(fx.path(f))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap()
            })
            .collect();
        std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let started = Instant::now();
        let status = child.wait().unwrap();
        assert!(started.elapsed() < Duration::from_secs(8));
        let number = match signal {
            "TERM" => 15,
            "INT" => 2,
            _ => 1,
        };
        assert_eq!(status.code(), Some(128 + number), "{signal}");
        for pid in pids {
            assert!(
                eventually(Duration::from_secs(2), || !alive(pid)),
                "{signal}: pid {pid} orphaned"
            );
        }
        let records = transcript(&fx.path("logs/a.jsonl"));
        assert!(records.iter().any(|r| r["data"] == "ready\n"));
        assert!(
            records.iter().any(|r| r["event"] == "exited"),
            "{records:?}"
        );
    }
}

#[test]
fn sandmux_stopped_mid_stream_exits_promptly() {
    let fx = Fixture::new();
    let script = fx.write("t.smx", "session flood: yes flooding\nsleep 60s\n");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
        .current_dir(fx.dir.path())
        .arg("run")
        .arg(&script)
        .args(["--transcript-dir", "logs"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || std::fs::metadata(
        fx.path("logs/flood.jsonl")
    )
    .is_ok_and(|m| m.len() > 1_000_000)));
    let started = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(143));
    // Every line of the transcript is whole JSON.
    let records = transcript(&fx.path("logs/flood.jsonl"));
    assert!(records.len() > 2);
}

#[test]
fn write_sends_exact_bytes_and_escapes() {
    let fx = Fixture::new();
    let script = "session c: cat\n\
                  write c \"no-newline\"\n\
                  expect c stdout \"no-newline\"\n\
                  write c \"\\x41\\tB\\n\"\n\
                  expect c \"A\\tB\"\n\
                  close c\n\
                  wait c exit 0\n";
    let out = fx.run(script, &["--transcript-dir", "logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = transcript(&fx.path("logs/c.jsonl"));
    assert_eq!(stream_bytes(&records, "stdin"), b"no-newlineA\tB\n");
    assert!(records.iter().any(|r| r["event"] == "stdin_closed"));
}

#[test]
fn help_and_completions_explain_themselves() {
    let out = sandmux().arg("--help").output().unwrap();
    assert!(stdout(&out).contains("sandmux run assets/turns.smx"));
    let out = sandmux().args(["run", "--help"]).output().unwrap();
    assert!(stdout(&out).contains("expect echo stdout"));
    assert!(stdout(&out).contains("Exit status"));
    let out = sandmux().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("complete"));
    assert!(stdout(&out).contains("--transcript-dir"));
}

#[test]
fn the_example_scripts_pass() {
    let root = env!("CARGO_MANIFEST_DIR");
    for script in ["assets/turns.smx", "assets/repl.smx", "assets/agent.smx"] {
        let out = sandmux()
            .current_dir(root)
            .args(["run", script])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}: {}", stderr(&out));
    }
}

#[test]
fn the_tui_refuses_bad_input_before_taking_the_terminal() {
    let fx = Fixture::new();
    fx.write(
        "bad.toml",
        "[[session]]\nname = \"a\"\ncommand = [\"cat\"]\nview = \"tree\"\n",
    );
    let out = sandmux()
        .current_dir(fx.dir.path())
        .args(["--config", "bad.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "sandmux: bad.toml:4:8: unknown view `tree` (known: raw, json, chat)"
    );
    assert!(out.stdout.is_empty(), "nothing reached the terminal");

    let out = sandmux()
        .current_dir(fx.dir.path())
        .args(["-s", "x='unclosed"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unclosed quote"), "{}", stderr(&out));

    let out = sandmux()
        .current_dir(fx.dir.path())
        .args(["-s", "a=cat", "-s", "a=cat"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a session named `a` already exists"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn without_sessions_or_a_config_sandmux_prints_help() {
    let fx = Fixture::new();
    let out = sandmux().current_dir(fx.dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Usage: sandmux"), "{}", stdout(&out));
}

#[test]
fn sessions_get_default_signals_even_when_sandmux_runs_with_signals_ignored() {
    // A background job of a non-interactive shell starts with SIGINT and SIGQUIT ignored
    // (nohup and some CI runners ignore others); sessions must not inherit that. SIGQUIT,
    // for which sandmux installs no handler of its own, shows it through the binary.
    let fx = Fixture::new();
    let script = fx.write(
        "t.smx",
        "session trap: sh -c \"trap 'echo got-quit' QUIT; echo ready; while :; do sleep 0.05; done\"\n\
         expect trap \"ready\"\n\
         kill trap QUIT\n\
         expect trap \"got-quit\" within 5s\n",
    );
    let out = std::process::Command::new("sh")
        .current_dir(fx.dir.path())
        .arg("-c")
        .arg("trap '' INT QUIT; exec \"$0\" run \"$1\"")
        .arg(assert_cmd::cargo::cargo_bin("sandmux"))
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
