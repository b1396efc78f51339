//! The real Claude Code CLI (pinned, from npm) driven headless through the real binary,
//! against the project's local model server: interrupts, permission requests, per-turn cost,
//! errors named as what they are, and golden transcripts that hold.

mod common;

use common::agents::{Claude, command};
use common::*;

fn report(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

/// The last `result` record the CLI printed, as JSON.
fn last_result(path: &std::path::Path) -> serde_json::Value {
    let stdout = String::from_utf8(stream_bytes(&transcript(path), "stdout")).unwrap();
    stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "result")
        .expect("a result")
}

#[test]
fn an_interrupted_slow_turn_keeps_the_conversation_and_the_cost_is_the_clis_own() {
    let c = Claude::new();
    let script = format!(
        "session agent protocol=stream-json: {}\n\
         turn agent \"remember zebra\" within 60s\n\
         say agent \"slow\"\n\
         expect-json agent /event/delta/text ~ /tick2/ within 60s\n\
         interrupt agent within 30s\n\
         expect-json agent /terminal_reason == \"aborted_streaming\"\n\
         turn agent \"recall\" within 60s\n\
         expect-json agent /result == \"You asked me to remember zebra.\"\n\
         turn agent \"say three\" within 60s\n\
         close agent\n\
         wait agent exit 0 within 30s\n",
        command("--include-partial-messages")
    );
    let out = c.run(&script, &["--report", "json", "--transcript-dir", "logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report(&out);
    let steps = report["steps"].as_array().unwrap();
    let interrupted = &steps[4]["turn"];
    assert_eq!(interrupted["failure"], "interrupted", "{interrupted}");
    // The process lived on: the same session id before and after the interrupt.
    let session_ids: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["turn"]["session_id"].as_str())
        .collect();
    assert_eq!(session_ids.len(), 4);
    assert!(session_ids.iter().all(|id| *id == session_ids[0]));
    // Four turns: what they cost adds up to the CLI's own final running total.
    let turn_costs: Vec<f64> = steps
        .iter()
        .filter_map(|s| s["turn"]["cost_usd"].as_f64())
        .collect();
    assert_eq!(turn_costs.len(), 4);
    assert!(turn_costs.iter().all(|c| *c > 0.0), "{turn_costs:?}");
    let clis_total = last_result(&c.fx.path("logs/agent.jsonl"))["total_cost_usd"]
        .as_f64()
        .unwrap();
    let sum: f64 = turn_costs.iter().sum();
    assert!((sum - clis_total).abs() < 1e-9, "{sum} vs {clis_total}");
    assert!((report["turns"]["cost_usd"].as_f64().unwrap() - clis_total).abs() < 1e-9);
    assert_eq!(report["sessions"][0]["cost_usd"].as_f64(), Some(clis_total));
    // The interrupt went to the CLI as its control request, never as a signal.
    let records = transcript(&c.fx.path("logs/agent.jsonl"));
    assert!(!records.iter().any(|r| r["event"] == "signal"), "no SIGINT");
    let stdin = String::from_utf8(stream_bytes(&records, "stdin")).unwrap();
    assert!(stdin.contains(r#""subtype":"interrupt""#), "{stdin}");
    assert!(
        stderr(&out).contains(&format!("4 turns, ${clis_total:.4}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn permission_requests_are_allowed_denied_and_allowed_always_from_a_script() {
    let c = Claude::new();
    let dir = c.fx.dir.path().display().to_string();
    let script = format!(
        "session agent protocol=stream-json: {}\n\
         say agent \"run: touch {dir}/allowed\"\n\
         approve agent Bash within 60s\n\
         wait agent turn within 60s\n\
         expect-json agent /result ~ /completed with no output/\n\
         say agent \"run: touch {dir}/denied\"\n\
         deny agent /denied/ \"not this one\" within 60s\n\
         wait agent turn within 60s\n\
         expect-json agent /result == \"The tool was refused: not this one\"\n\
         say agent \"run: touch {dir}/always1\"\n\
         approve agent Bash always within 60s\n\
         wait agent turn within 60s\n\
         turn agent \"run: touch {dir}/always2\" within 60s\n",
        command("")
    );
    let out = c.run(&script, &["--transcript-dir", "logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(c.fx.path("allowed").exists());
    assert!(!c.fx.path("denied").exists(), "a denied tool never ran");
    assert!(c.fx.path("always1").exists() && c.fx.path("always2").exists());
    let stdout = String::from_utf8(stream_bytes(
        &transcript(&c.fx.path("logs/agent.jsonl")),
        "stdout",
    ))
    .unwrap();
    assert_eq!(
        stdout.matches("\"can_use_tool\"").count(),
        3,
        "allowed always: the fourth command was not asked about"
    );
}

#[test]
fn a_turn_that_meets_a_prompt_it_cannot_answer_fails_at_once_naming_it() {
    let c = Claude::new();
    let script = format!(
        "session agent protocol=stream-json: {}\nturn agent \"run: rm -rf /tmp/nothing-here\" within 120s\n",
        command("")
    );
    let started = std::time::Instant::now();
    let out = c.run(&script, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "never waits for the timeout"
    );
    let err = stderr(&out);
    assert!(
        err.contains("the turn needs permission for Bash `rm -rf /tmp/nothing-here`, which this step cannot give"),
        "{err}"
    );
    assert!(err.contains("permissions=allow"), "{err}");
}

#[test]
fn permissions_allow_and_deny_answer_every_request_at_once() {
    let c = Claude::new();
    let dir = c.fx.dir.path().display().to_string();
    let script = format!(
        "session yes protocol=stream-json permissions=allow: {cmd}\n\
         session no protocol=stream-json permissions=deny: {cmd}\n\
         turn yes \"run: touch {dir}/yes\" within 60s\n\
         turn no \"run: touch {dir}/no\" within 60s\n\
         expect-json no /result ~ /refused: sandmux refuses every tool for this session/\n",
        cmd = command("")
    );
    let out = c.run(&script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(c.fx.path("yes").exists());
    assert!(!c.fx.path("no").exists());
}

#[test]
fn api_errors_are_named_with_the_clis_message_once() {
    for (text, named) in [
        ("fail 500", "API error 500"),
        ("overloaded", "overloaded (529)"),
    ] {
        let c = Claude::new();
        let script = format!(
            "session agent protocol=stream-json: {}\nturn agent \"{text}\" within 60s\n",
            command("")
        );
        let out = c.run(&script, &["--report", "json"]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        let line = err
            .lines()
            .find(|l| l.contains("the turn failed with"))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(
            line.contains(&format!("the turn failed with {named}: ")),
            "{line}"
        );
        assert!(!line.contains("(success)"), "{line}");
        assert_eq!(
            line.matches("API Error").count(),
            0,
            "the message once: {line}"
        );
        assert_eq!(report(&out)["steps"][1]["turn"]["failure"], named);
    }
}

#[test]
fn a_dropped_stream_is_retried_and_the_retry_reads_as_one_line() {
    let c = Claude::new();
    let script = format!(
        "session agent protocol=stream-json: {}\n\
         turn agent \"drop\" within 120s\n\
         expect-json agent /subtype == \"api_retry\"\n",
        command("")
    );
    let out = c.run(&script, &["--transcript-dir", "logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(stream_bytes(
        &transcript(&c.fx.path("logs/agent.jsonl")),
        "stdout",
    ))
    .unwrap();
    let retry: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["subtype"] == "api_retry")
        .unwrap();
    let text = sandmux::protocol::stream_json::retry_text(&retry).unwrap();
    assert!(text.starts_with("retrying (attempt 1 of 1) in "), "{text}");
}

#[test]
fn golden_transcripts_of_two_runs_compare_equal_and_a_change_names_its_pointer() {
    let c = Claude::new();
    let dir = c.fx.dir.path().display().to_string();
    let script = format!(
        "session agent protocol=stream-json: {}\n\
         turn agent \"remember zebra\" within 60s\n\
         say agent \"run: touch {dir}/made\"\n\
         approve agent Bash within 60s\n\
         wait agent turn within 60s\n\
         turn agent \"run: echo hi\" within 60s\n\
         turn agent \"recall\" within 60s\n\
         close agent\n\
         wait agent exit 0 within 30s\n",
        command("--include-partial-messages")
    );
    let out = c.run(&script, &["--golden", "golden", "--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::remove_file(c.fx.path("made")).unwrap();
    let out = c.run(
        &script,
        &["--golden", "golden", "--transcript-dir", "again"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "no --ignore needed: {}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("GOLDEN FAIL"));
    // The same transcripts, strictly: the first volatile field is named with both values.
    let diff = c
        .sandmux()
        .args([
            "diff",
            "golden/agent.jsonl",
            "again/agent.jsonl",
            "--strict",
        ])
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1));
    let text = stdout(&diff);
    assert!(text.contains("first difference (stdout) at /"), "{text}");
    let first = text.lines().find(|l| l.starts_with("- ")).unwrap();
    assert!(first.len() < 300, "a value, not a whole line: {first}");
    let explain = c
        .sandmux()
        .args([
            "diff",
            "golden/agent.jsonl",
            "again/agent.jsonl",
            "--explain",
        ])
        .output()
        .unwrap();
    assert_eq!(explain.status.code(), Some(0));
    assert!(
        stdout(&explain).contains("messaging_socket_path"),
        "{}",
        stdout(&explain)
    );
}

#[test]
fn the_agent_example_runs_unchanged_with_the_demo_agent_and_with_claude() {
    let c = Claude::new();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/agent.smx")).unwrap();
    let out = c.run_named("agent.smx", &example, &[]);
    assert_eq!(out.status.code(), Some(0), "demo agent: {}", stderr(&out));
    let claude = common::agents::claude().display().to_string();
    let swapped = example.replacen(
        "session agent protocol=stream-json: sandmux demo-agent",
        &format!("session agent protocol=stream-json: {claude}"),
        1,
    );
    assert_ne!(swapped, example);
    let out = c.run_named("agent.smx", &swapped, &[]);
    assert_eq!(out.status.code(), Some(0), "claude: {}", stderr(&out));
}

/// The checks every agent in stream-json mode passes (the demo agent as the real CLI).
fn speaks_like_the_cli(c: &Claude, program: &str, name: &str) {
    let script = format!(
        "session {name} protocol=stream-json: {program} -p --input-format stream-json --output-format stream-json --verbose --permission-prompt-tool stdio --include-partial-messages\n\
         turn {name} \"first\" within 60s\n\
         turn {name} \"second\" within 60s\n\
         say {name} \"run: touch {dir}/{name}-file\"\n\
         approve {name} Bash within 60s\n\
         wait {name} turn within 60s\n\
         say {name} \"slow\"\n\
         expect-json {name} /event/delta/text ~ /tick1/ within 60s\n\
         interrupt {name} within 30s\n\
         close {name}\n\
         wait {name} exit 1 within 30s\n",
        dir = c.fx.dir.path().display()
    );
    let out = c.run_named(
        &format!("{name}.smx"),
        &script,
        &["--transcript-dir", "logs", "--report", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
    let records = transcript(&c.fx.path(&format!("logs/{name}.jsonl")));
    let first_in = records.iter().position(|r| r["stream"] == "stdin").unwrap();
    let first_out = records
        .iter()
        .position(|r| r["stream"] == "stdout")
        .unwrap();
    assert!(
        first_in < first_out,
        "{name}: nothing before the first message"
    );
    let stdout = String::from_utf8(stream_bytes(&records, "stdout")).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let inits = lines.iter().filter(|v| v["subtype"] == "init").count();
    let results: Vec<&serde_json::Value> = lines.iter().filter(|v| v["type"] == "result").collect();
    assert_eq!(inits, 4, "{name}: an init at every turn");
    assert_eq!(results.len(), 4, "{name}");
    let totals: Vec<f64> = results
        .iter()
        .map(|r| r["total_cost_usd"].as_f64().unwrap())
        .collect();
    assert!(
        totals.windows(2).all(|w| w[1] >= w[0]),
        "{name}: a running total {totals:?}"
    );
    assert_eq!(results[3]["terminal_reason"], "aborted_streaming", "{name}");
    assert!(
        lines
            .iter()
            .any(|v| v["request"]["subtype"] == "can_use_tool"),
        "{name}"
    );
    assert!(
        lines.iter().any(|v| v["type"] == "control_response"),
        "{name}: the interrupt answered"
    );
    let first_delta = lines
        .iter()
        .position(|v| v["event"]["delta"]["type"] == "text_delta")
        .unwrap();
    let first_text = lines
        .iter()
        .position(|v| v["type"] == "assistant" && v["message"]["content"][0]["type"] == "text")
        .unwrap();
    assert!(first_delta < first_text, "{name}: partial messages first");
    let report: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(
        report["sessions"][0]["cost_usd"].as_f64(),
        Some(totals[3]),
        "{name}"
    );
}

#[test]
fn the_demo_agent_is_as_strict_as_the_real_cli() {
    let c = Claude::new();
    speaks_like_the_cli(
        &c,
        &common::agents::claude().display().to_string(),
        "claude",
    );
    speaks_like_the_cli(&c, "sandmux demo-agent", "demo");
}
