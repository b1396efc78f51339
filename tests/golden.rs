//! Transcripts compared (#14): `sandmux diff` turn by turn, `run --golden`/`--update`, and
//! capture steps that bind `${NAME}` for later steps.

mod common;

use common::{Fixture, sandmux, stderr, stdout};

/// An echo bot that answers `broken` to `two` when BREAK is set, and an agent.
const SCRIPT: &str = "\
session echo: sh -c 'while read l; do if [ \"$l\" = two ] && [ -n \"$BREAK\" ]; then echo broken; else echo \"ack:$l\"; fi; done'
session py: python3 -i -u -q
send echo one
expect echo stdout \"ack:one\"
send echo two
expect echo stdout /^(ack:two|broken)$/
send echo three
expect echo stdout \"ack:three\"
send py print(6*7)
expect py stdout \"42\"
close echo
close py
wait echo exit 0
wait py exit 0
";

fn agent_script() -> String {
    let bin = assert_cmd::cargo::cargo_bin("sandmux");
    format!(
        "session agent protocol=stream-json: {} demo-agent\nturn agent \"hello\"\nturn agent \"please look up x\"\nclose agent\nwait agent exit 0\n",
        bin.display()
    )
}

fn run(fx: &Fixture, script: &str, args: &[&str], broken: bool) -> std::process::Output {
    let path = fx.write("t.smx", script);
    let mut cmd = sandmux();
    cmd.current_dir(fx.dir.path())
        .arg("run")
        .arg(&path)
        .args(args);
    if broken {
        cmd.env("BREAK", "1");
    } else {
        cmd.env_remove("BREAK");
    }
    cmd.timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap()
}

fn diff(fx: &Fixture, a: &str, b: &str, extra: &[&str]) -> std::process::Output {
    sandmux()
        .current_dir(fx.dir.path())
        .args(["diff", a, b])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn diff_of_identical_runs_is_empty_and_one_changed_reply_names_its_turn() {
    let fx = Fixture::new();
    for (dir, broken) in [("a", false), ("b", false), ("c", true)] {
        let out = run(&fx, SCRIPT, &["--transcript-dir", dir], broken);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let same = diff(&fx, "a/echo.jsonl", "b/echo.jsonl", &[]);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    assert_eq!(stdout(&same), "");
    assert_eq!(
        diff(&fx, "a/py.jsonl", "b/py.jsonl", &[]).status.code(),
        Some(0)
    );

    let differ = diff(&fx, "a/echo.jsonl", "c/echo.jsonl", &[]);
    assert_eq!(differ.status.code(), Some(1));
    let text = stdout(&differ);
    assert!(
        text.contains("a/echo.jsonl and c/echo.jsonl differ at turn 2 (stdout differs)"),
        "{text}"
    );
    assert!(text.contains("input: \"two\""), "{text}");
    assert!(
        text.contains("- stdout| ack:two") && text.contains("+ stdout| broken"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour off a terminal: {text}");

    let json = diff(&fx, "a/echo.jsonl", "c/echo.jsonl", &["--json"]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(value["same"], false);
    assert_eq!(value["turn"], 2);
    assert_eq!(value["what"], "stdout");
    assert_eq!(value["a"]["input"], "two");
    assert_eq!(value["b"]["output"][0]["text"], "broken");

    // Two directories: their transcripts of the same name.
    let dirs = diff(&fx, "a", "c", &[]);
    assert_eq!(dirs.status.code(), Some(1));
    assert!(
        stdout(&dirs).contains("a/echo.jsonl and c/echo.jsonl differ at turn 2"),
        "{}",
        stdout(&dirs)
    );
    assert!(!stdout(&dirs).contains("py.jsonl"), "{}", stdout(&dirs));
    assert_eq!(diff(&fx, "a", "b", &[]).status.code(), Some(0));
    std::fs::remove_file(fx.path("b/py.jsonl")).unwrap();
    let missing = diff(&fx, "a", "b", &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stdout(&missing).contains("b has no py.jsonl (session `py`)"),
        "{}",
        stdout(&missing)
    );
    assert_eq!(diff(&fx, "a", "a/py.jsonl", &[]).status.code(), Some(2));

    // An ignored regex hides the difference.
    let ignored = diff(
        &fx,
        "a/echo.jsonl",
        "c/echo.jsonl",
        &["--ignore", "/ack:two|broken/"],
    );
    assert_eq!(ignored.status.code(), Some(0), "{}", stdout(&ignored));
}

#[test]
fn agent_transcripts_differ_only_in_volatile_fields() {
    let fx = Fixture::new();
    let script = agent_script();
    for dir in ["a", "b"] {
        let out = run(&fx, &script, &["--transcript-dir", dir], false);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let same = diff(&fx, "a/agent.jsonl", "b/agent.jsonl", &[]);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    // --strict compares the session ids, which differ (the demo agent's has its pid).
    let strict = diff(&fx, "a/agent.jsonl", "b/agent.jsonl", &["--strict"]);
    assert_eq!(strict.status.code(), Some(1), "{}", stdout(&strict));
    assert!(stdout(&strict).contains("turn 1"), "{}", stdout(&strict));
}

#[test]
fn update_then_golden_passes_and_a_changed_reply_fails_the_run() {
    let fx = Fixture::new();
    let missing = run(&fx, SCRIPT, &["--golden", "golden"], false);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("run with --update to write it"),
        "{}",
        stderr(&missing)
    );
    let update = run(&fx, SCRIPT, &["--golden", "golden", "--update"], false);
    assert_eq!(update.status.code(), Some(0), "{}", stderr(&update));
    assert!(fx.path("golden/echo.jsonl").exists() && fx.path("golden/py.jsonl").exists());
    let pass = run(
        &fx,
        SCRIPT,
        &["--golden", "golden", "--report", "json"],
        false,
    );
    assert_eq!(pass.status.code(), Some(0), "{}", stderr(&pass));
    let report: serde_json::Value = serde_json::from_str(&stdout(&pass)).unwrap();
    assert_eq!(report["golden"][0]["status"], "same");
    let fail = run(
        &fx,
        SCRIPT,
        &["--golden", "golden", "--report", "json"],
        true,
    );
    assert_eq!(fail.status.code(), Some(1), "{}", stderr(&fail));
    let err = stderr(&fail);
    assert!(
        err.contains(
            "GOLDEN FAIL echo: golden/echo.jsonl and (this run) echo.jsonl differ at turn 2"
        ),
        "{err}"
    );
    assert!(
        err.contains("FAIL ")
            && err.contains("t.smx: 14 passed, 0 failed, 0 skipped")
            && err.contains("; 1 golden transcript differs"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&fail)).unwrap();
    assert_eq!(report["exit_code"], 1);
    assert_eq!(report["golden"][0]["divergence"]["turn"], 2);
}

#[test]
fn a_capture_binds_a_variable_for_later_steps() {
    let fx = Fixture::new();
    let script = "\
session srv: sh -c 'echo \"session id=ab12.x ready\"; while read l; do echo \"got:$l\"; done'
expect srv /id=(?<id>[\\w.]+) ready/
send srv use ${id} with ${HOME}
expect srv \"got:use ab12.x with ${HOME}\"
send srv again ${id}
expect srv /^got:again ${id}$/
send srv ab12Xx
expect srv /^got:${id}$/ within 300ms
";
    let out = fx.run(script, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    // The value is escaped in a regex: `ab12Xx` does not match `ab12\.x`.
    assert!(
        err.contains("test.smx:8: expect srv /^got:${id}$/ within 300ms: no match within 300ms (with ${id} = \"ab12.x\")"),
        "{err}"
    );
    assert!(err.contains("7 passed, 1 failed"), "{err}");
}

#[test]
fn a_bad_transcript_is_named_with_its_line() {
    let fx = Fixture::new();
    fx.write(
        "a.jsonl",
        "{\"t\":1,\"stream\":\"stdout\",\"data\":\"x\"}\nnot json\n",
    );
    fx.write("b.jsonl", "");
    let out = diff(&fx, "a.jsonl", "b.jsonl", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a.jsonl:2:2: not a JSON record"),
        "{}",
        stderr(&out)
    );
    let out = diff(&fx, "b.jsonl", "b.jsonl", &["--ignore", "a b"]);
    assert_eq!(out.status.code(), Some(2));
}

/// One verdict everywhere (#20): the exit status, the summary line, `--report json` and the
/// JUnit file agree on a golden mismatch.
const VERDICT_SCRIPT: &str = "\
session echo: sh -c 'while read l; do if [ -n \"$BREAK\" ]; then echo broken; else echo \"ack:$l\"; fi; done'
send echo one
expect echo stdout /^(ack:one|broken)$/
close echo
wait echo exit 0
";

#[test]
fn a_golden_mismatch_fails_in_the_summary_the_json_and_the_junit_report() {
    let fx = Fixture::new();
    let update = run(
        &fx,
        VERDICT_SCRIPT,
        &["--golden", "golden", "--update"],
        false,
    );
    assert_eq!(update.status.code(), Some(0), "{}", stderr(&update));

    let out = run(
        &fx,
        VERDICT_SCRIPT,
        &["--golden", "golden", "--report", "json", "--junit", "j.xml"],
        true,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        !err.contains("PASS"),
        "a failed run must not say PASS:\n{err}"
    );
    assert!(err.contains("FAIL "), "{err}");
    assert!(err.contains("GOLDEN FAIL echo"), "{err}");

    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["status"], "failed", "{report}");
    assert_eq!(report["exit_code"], 1);
    assert_eq!(report["golden"][0]["status"], "differs");

    let xml = std::fs::read_to_string(fx.path("j.xml")).unwrap();
    assert!(
        xml.contains("<testsuites name=\"sandmux\" tests=\"6\" failures=\"1\""),
        "{xml}"
    );
    let golden_case = xml
        .lines()
        .position(|l| l.contains("<testcase") && l.contains("name=\"golden echo.jsonl\""))
        .unwrap_or_else(|| panic!("no golden test case:\n{xml}"));
    let rest: String = xml.lines().skip(golden_case).take(12).collect();
    assert!(rest.contains("<failure message="), "{xml}");
    assert!(
        rest.contains("broken"),
        "the diff is in the failure:\n{xml}"
    );

    let same = run(
        &fx,
        VERDICT_SCRIPT,
        &["--golden", "golden", "--report", "json", "--junit", "j.xml"],
        false,
    );
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert!(stderr(&same).contains("PASS "));
    let report: serde_json::Value = serde_json::from_str(&stdout(&same)).unwrap();
    assert_eq!(report["status"], "passed");
    let xml = std::fs::read_to_string(fx.path("j.xml")).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    assert!(xml.contains("name=\"golden echo.jsonl\""), "{xml}");
}
