//! Agent sessions in stream-json mode, driven headless against the built-in demo agent.

mod common;

use common::*;

#[test]
fn fifty_turns_with_turn_and_expect_json() {
    let fx = Fixture::new();
    let mut script = String::from("session agent protocol=stream-json: sandmux demo-agent\n");
    for i in 0..50 {
        if i % 5 == 4 {
            // Every fifth turn by hand, checking the events in between.
            script.push_str(&format!(
                "send agent {{\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":\"please look up item {i}\"}}}}\n\
                 expect-json agent /message/content/1/name == \"Grep\"\n\
                 expect-json agent /message/content/0/is_error == false\n\
                 expect-json agent /message/content/0/text ~ /item {i}$/\n\
                 expect-json agent /num_turns == 2\n"
            ));
        } else {
            script.push_str(&format!("turn agent \"message number {i}\" within 10s\n"));
        }
    }
    script.push_str("close agent\nwait agent exit 0\n");
    let out = fx.run(
        &script,
        &[
            "--report",
            "json",
            "--junit",
            "junit.xml",
            "--transcript-dir",
            "logs",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let turns: Vec<&serde_json::Value> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["turn"].is_null())
        .collect();
    assert_eq!(turns.len(), 40);
    for turn in &turns {
        assert!(turn["turn"]["duration_ms"].as_f64().unwrap() >= 0.0);
        assert!(turn["turn"]["cost_usd"].as_f64().unwrap() > 0.0);
        assert_eq!(turn["turn"]["is_error"], false);
    }
    assert_eq!(turns[0]["turn"]["result"], "You said: message number 0");
    assert_eq!(report["turns"]["count"], 40);
    assert!(report["turns"]["cost_usd"].as_f64().unwrap() > 0.0);
    assert!(stderr(&out).contains("40 turns, $"), "{}", stderr(&out));
    let junit = std::fs::read_to_string(fx.path("junit.xml")).unwrap();
    // Each turn's numbers are the script's properties, named by the turn's line.
    assert_eq!(junit.matches(" cost_usd\" value=").count(), 40);
    assert_eq!(junit.matches(" turn_duration_ms\" value=").count(), 40);
    assert!(
        junit.contains("<property name=\"line 2 cost_usd\""),
        "{junit}"
    );
    // Every turn's input went through as one stream-json line.
    let records = transcript(&fx.path("logs/agent.jsonl"));
    let stdin = String::from_utf8(stream_bytes(&records, "stdin")).unwrap();
    assert_eq!(stdin.lines().count(), 50);
    for line in stdin.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["type"], "user");
    }
}

#[test]
fn a_failing_expect_json_reports_the_last_json_lines() {
    let fx = Fixture::new();
    let script = "session agent protocol=stream-json: sandmux demo-agent\n\
                  turn agent \"hello\"\n\
                  expect-json agent /type == \"nonexistent\" within 300ms\n";
    let out = fx.run(script, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("test.smx:3: expect-json agent /type == \"nonexistent\" within 300ms: no JSON line with /type == \"nonexistent\" within 300ms"), "{err}");
    assert!(
        err.contains("stdout| {\"type\":\"result\""),
        "the last JSON lines are shown: {err}"
    );
    assert!(err.contains("stdout| {\"type\":\"system\""), "{err}");
}

#[test]
fn a_turn_that_ends_in_error_fails_the_step() {
    let fx = Fixture::new();
    let out = fx.run("session agent protocol=stream-json: sandmux demo-agent\nturn agent \"please fail\"\nturn agent \"never\"\n", &["--report", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("test.smx:2: turn agent \"please fail\": the turn failed with error during execution: I could not do that."), "{err}");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["steps"][1]["turn"]["is_error"], true);
    assert_eq!(report["steps"][2]["status"], "skipped");
}

#[test]
fn a_turn_needs_a_stream_json_session() {
    let fx = Fixture::new();
    let out = fx.run("session plain: cat\nturn plain \"hi\"\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("test.smx:2:6: `turn` needs a stream-json session: declare `plain` with protocol=stream-json"), "{}", stderr(&out));
}

#[test]
fn a_turn_that_gets_no_result_times_out() {
    let fx = Fixture::new();
    // A stream-json session that never answers.
    let out = fx.run("session mute protocol=stream-json: sh -c \"cat > /dev/null\"\nturn mute \"anyone?\" within 300ms\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no result event within 300ms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_sessions_can_be_agents() {
    let fx = Fixture::new();
    fx.write("a.toml", "[[session]]\nname = \"agent\"\ncommand = [\"sandmux\", \"demo-agent\"]\nprotocol = \"stream-json\"\nview = \"chat\"\n");
    let out = fx.run("turn agent \"from config\"\n", &["--config", "a.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_demo_agent_rejects_plain_text_like_a_real_agent() {
    let fx = Fixture::new();
    // stdout and stderr are separate pipes: which comes first is up to the kernel, so the
    // stderr line is checked in the transcript.
    let out = fx.run(
        "session agent protocol=stream-json: sandmux demo-agent\n\
         send agent hello there\n\
         expect-json agent /result ~ /^invalid input: line 1: not JSON/\n\
         turn agent \"now framed\"\n\
         close agent\n\
         wait agent exit 0\n",
        &["--transcript-dir", "logs"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = transcript(&fx.path("logs/agent.jsonl"));
    let err = String::from_utf8(stream_bytes(&records, "stderr")).unwrap();
    assert!(
        err.starts_with("Error: invalid stream-json input line 1: not JSON"),
        "{err}"
    );
}

#[test]
fn a_result_line_over_the_line_cap_says_which_setting_raises_it() {
    let fx = Fixture::new();
    fx.write("small.toml", "[settings]\nmax_line_bytes = \"1KiB\"\n");
    let long = "x".repeat(3000);
    let out = fx.run(
        &format!(
            "session agent protocol=stream-json: sh -c 'read l; echo \"{{\\\"type\\\":\\\"result\\\",\\\"result\\\":\\\"{long}\\\"}}\"; sleep 5'\n\
             turn agent \"hi\" within 1s\n"
        ),
        &["--config", "small.toml"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no result event within 1.00s"), "{err}");
    assert!(
        err.contains("longer than max_line_bytes (1KiB) and was split")
            && err.contains("raise `max_line_bytes` in the [settings]"),
        "{err}"
    );
    assert!(
        err.contains("stdout| {\"type\":\"result\""),
        "the tail is not empty: {err}"
    );
}

#[test]
fn a_json_line_interrupted_by_stderr_is_still_one_result() {
    // An agent whose result line arrives in two writes with a log line on stderr between.
    let fx = Fixture::new();
    let out = fx.run(
        "session agent protocol=stream-json: sh -c 'read l; printf \"{\\\"type\\\":\\\"res\"; sleep 0.2; echo log >&2; sleep 0.2; echo \"ult\\\",\\\"is_error\\\":false}\"; sleep 5'\n\
         turn agent \"hi\" within 5s\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_control_request_sandmux_does_not_serve_gets_an_error_answer() {
    let fx = Fixture::new();
    let out = fx.run(
        "session a protocol=stream-json: sh -c 'echo \"{\\\"type\\\":\\\"control_request\\\",\\\"request_id\\\":\\\"h1\\\",\\\"request\\\":{\\\"subtype\\\":\\\"hook_callback\\\"}}\"; read answer; echo \"$answer\" >&2; sleep 5'\n\
         expect a stderr /\"subtype\":\"error\",\"request_id\":\"h1\",\"error\":\"sandmux does not handle control requests of subtype `hook_callback`\"/ within 5s\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_interrupt_the_agent_does_not_answer_becomes_sigint_after_5_s() {
    let fx = Fixture::new();
    let started = std::time::Instant::now();
    let out = fx.run(
        "session a protocol=stream-json: sh -c 'trap \"echo got INT >&2; exit 7\" INT; while read l; do :; done'\n\
         say a \"hello\"\n\
         interrupt a within 20s\n\
         wait a exit 7\n",
        &["--transcript-dir", "logs"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() >= std::time::Duration::from_secs(5));
    let records = transcript(&fx.path("logs/a.jsonl"));
    assert!(records.iter().any(|r| r["event"] == "warning"
        && r["message"] == "the agent did not answer the interrupt within 5 s: sent SIGINT"));
    let stdin = String::from_utf8(stream_bytes(&records, "stdin")).unwrap();
    assert!(
        stdin.contains("\"subtype\":\"interrupt\""),
        "the interrupt came first: {stdin}"
    );
}
