//! Suites (#20): `sandmux run DIR...` with -j, --filter/--skip, --shard, --fail-fast, one
//! verdict in every report, `sandmux report merge`, and scale (100 agents, 1000 scripts).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Fixture, sandmux, stderr, stdout};

const ECHO: &str = "\
session echo: sed -u \"s/^/ack:/\"
send echo one
expect echo stdout \"ack:one\"
close echo
wait echo exit 0
";

const PY: &str = "\
session py: python3 -i -u -q
send py print(6*7)
expect py stdout \"42\"
close py
wait py exit 0
";

const NO_MATCH: &str = "\
session echo: sed -u \"s/^/ack:/\"
send echo one
expect echo stdout \"never\" within 300ms
close echo
";

/// Answers `broken` when BREAK is set: a golden comparison catches it.
const BOT: &str = "\
session bot: sh -c 'while read l; do if [ -n \"$BREAK\" ]; then echo broken; else echo \"ack:$l\"; fi; done'
send bot one
expect bot stdout /^(ack:one|broken)$/
close bot
wait bot exit 0
";

const BROKEN: &str = "session a: cat\nsned a hello\n";

fn suite(fx: &Fixture) {
    fx.mkdir("suite/pass");
    fx.mkdir("suite/fail");
    fx.mkdir("suite/golden");
    fx.write("suite/pass/echo.smx", ECHO);
    fx.write("suite/pass/py.smx", PY);
    fx.write("suite/fail/nomatch.smx", NO_MATCH);
    fx.write("suite/golden/bot.smx", BOT);
    fx.write("suite/broken.smx", BROKEN);
    fx.write("suite/notes.txt", "not a script\n");
}

fn run(fx: &Fixture, args: &[&str], broken: bool) -> std::process::Output {
    let mut cmd = sandmux();
    cmd.current_dir(fx.dir.path()).arg("run").args(args);
    if broken {
        cmd.env("BREAK", "1");
    } else {
        cmd.env_remove("BREAK");
    }
    cmd.timeout(Duration::from_secs(180)).output().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

/// Each script's status in a suite's JSON report, by name.
fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut list: Vec<_> = report["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["script"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    list.sort();
    list
}

#[test]
fn passing_failing_golden_and_broken_scripts_read_alike_in_every_report() {
    let fx = Fixture::new();
    suite(&fx);
    let update = run(&fx, &["suite", "--golden", "golden", "--update"], false);
    assert_eq!(update.status.code(), Some(2), "{}", stderr(&update));
    assert!(fx.path("golden/golden/bot/bot.jsonl").is_file());
    assert!(fx.path("golden/pass/echo/echo.jsonl").is_file());

    let out = run(
        &fx,
        &[
            "suite",
            "-j",
            "4",
            "--golden",
            "golden",
            "--transcript-dir",
            "logs",
            "--report",
            "json",
            "--junit",
            "junit.xml",
        ],
        true,
    );
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a broken script is bad input:\n{err}"
    );
    for (word, name) in [
        ("PASS", "suite/pass/echo.smx"),
        ("PASS", "suite/pass/py.smx"),
        ("FAIL", "suite/fail/nomatch.smx"),
        ("FAIL", "suite/golden/bot.smx"),
        ("INVALID", "suite/broken.smx"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.trim_start().starts_with(&format!("{word} [")) && l.contains(name)),
            "no {word} line for {name}:\n{err}"
        );
    }
    assert!(
        err.contains("5 scripts: 2 passed, 3 failed, 0 skipped"),
        "{err}"
    );
    assert!(err.contains("suite/broken.smx:2:1:"), "{err}");
    assert!(
        err.contains("suite/fail/nomatch.smx:3: expect echo stdout"),
        "{err}"
    );
    assert!(err.contains("GOLDEN FAIL bot:"), "{err}");
    assert!(err.contains("slowest:"), "{err}");

    let report = json(&out);
    assert_eq!(report["status"], "failed");
    assert_eq!(report["exit_code"], 2);
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(
        statuses(&report),
        [
            ("suite/broken.smx", "failed"),
            ("suite/fail/nomatch.smx", "failed"),
            ("suite/golden/bot.smx", "failed"),
            ("suite/pass/echo.smx", "passed"),
            ("suite/pass/py.smx", "passed"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let bot = report["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["script"] == "suite/golden/bot.smx")
        .unwrap();
    assert_eq!(bot["golden"][0]["status"], "differs");
    assert_eq!(bot["exit_code"], 1);

    let xml = std::fs::read_to_string(fx.path("junit.xml")).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 5, "{xml}");
    assert!(xml.contains("type=\"InvalidScript\""), "{xml}");
    assert!(xml.contains("type=\"GoldenDiffers\""), "{xml}");
    assert!(xml.contains("type=\"StepFailed\""), "{xml}");
    let failures = xml.matches("<failure ").count();
    let root = xml.lines().find(|l| l.starts_with("<testsuites ")).unwrap();
    assert!(root.contains(&format!("failures=\"{failures}\"")), "{xml}");
    assert_eq!(
        failures, 3,
        "a broken script, a failed step, a golden diff: {xml}"
    );

    // Each script's transcripts below its own path.
    for path in [
        "logs/pass/echo/echo.jsonl",
        "logs/pass/py/py.jsonl",
        "logs/golden/bot/bot.jsonl",
        "logs/fail/nomatch/echo.jsonl",
    ] {
        assert!(fx.path(path).is_file(), "{path}");
    }
}

#[test]
fn one_job_and_four_give_the_same_results_and_transcripts() {
    let fx = Fixture::new();
    suite(&fx);
    std::fs::remove_file(fx.path("suite/broken.smx")).unwrap();
    let mut reports = Vec::new();
    for (jobs, logs) in [("1", "logs1"), ("4", "logs4")] {
        let out = run(
            &fx,
            &[
                "suite",
                "-j",
                jobs,
                "--transcript-dir",
                logs,
                "--report",
                "json",
            ],
            false,
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        reports.push(statuses(&json(&out)));
    }
    assert_eq!(reports[0], reports[1]);
    for dir in ["pass/echo", "pass/py", "golden/bot", "fail/nomatch"] {
        let diff = sandmux()
            .current_dir(fx.dir.path())
            .args(["diff", &format!("logs1/{dir}"), &format!("logs4/{dir}")])
            .output()
            .unwrap();
        assert_eq!(diff.status.code(), Some(0), "{dir}: {}", stdout(&diff));
    }
}

#[test]
fn shards_run_each_script_once_and_their_reports_merge_into_one() {
    let fx = Fixture::new();
    fx.mkdir("s/deep");
    let mut all = Vec::new();
    for i in 0..7 {
        let name = if i % 2 == 0 {
            format!("s/t{i}.smx")
        } else {
            format!("s/deep/t{i}.smx")
        };
        fx.write(&name, ECHO);
        all.push(name);
    }
    all.sort();
    let mut seen = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let out = run(
            &fx,
            &[
                "s",
                "--shard",
                &shard,
                "--report",
                "json",
                "--junit",
                &format!("j{k}.xml"),
            ],
            false,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("shard {shard}")),
            "{}",
            stderr(&out)
        );
        std::fs::write(fx.path(&format!("r{k}.json")), stdout(&out)).unwrap();
        seen.extend(statuses(&json(&out)).into_iter().map(|(name, _)| name));
    }
    seen.sort();
    assert_eq!(seen, all, "each script exactly once");

    let merged = sandmux()
        .current_dir(fx.dir.path())
        .args(["report", "merge", "r1.json", "r2.json", "r3.json"])
        .output()
        .unwrap();
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    let report = json(&merged);
    assert_eq!(report["scripts_total"], 7);
    assert_eq!(report["passed"], 7);
    assert_eq!(report["status"], "passed");
    assert!(!stderr(&merged).contains("WARNING"), "{}", stderr(&merged));

    let junit = sandmux()
        .current_dir(fx.dir.path())
        .args([
            "report", "merge", "j1.xml", "j2.xml", "j3.xml", "-o", "all.xml",
        ])
        .output()
        .unwrap();
    assert_eq!(junit.status.code(), Some(0), "{}", stderr(&junit));
    let xml = std::fs::read_to_string(fx.path("all.xml")).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 7, "{xml}");
    assert!(
        xml.contains("<testsuites name=\"sandmux\" tests=\"35\" failures=\"0\""),
        "{xml}"
    );

    let missing = sandmux()
        .current_dir(fx.dir.path())
        .args(["report", "merge", "r1.json", "r1.json", "r2.json"])
        .output()
        .unwrap();
    let err = stderr(&missing);
    assert!(err.contains("WARNING: no report of shard 3/3"), "{err}");
    assert!(err.contains("did two shards run it?"), "{err}");

    let mixed = sandmux()
        .current_dir(fx.dir.path())
        .args(["report", "merge", "r1.json", "j1.xml"])
        .output()
        .unwrap();
    assert_eq!(mixed.status.code(), Some(2));
    assert!(
        stderr(&mixed).contains("not the same kind of report"),
        "{}",
        stderr(&mixed)
    );
    fx.write(
        "bad.xml",
        "<testsuites>\n  <testsuite name=\"x\" tests=\"1\">\n</testsuites>\n",
    );
    let bad = sandmux()
        .current_dir(fx.dir.path())
        .args(["report", "merge", "bad.xml"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("bad.xml:3:"), "{}", stderr(&bad));
}

#[test]
fn fail_fast_stops_the_running_scripts_and_leaves_no_process_behind() {
    let fx = Fixture::new();
    fx.mkdir("ff");
    fx.write("ff/a_fails.smx", NO_MATCH);
    let marker = format!("31{}.25", std::process::id() % 1000);
    let long = format!("session s: sleep {marker}\nexpect s stdout \"never\" within 120s\n");
    for name in ["b", "c", "d", "e", "f"] {
        fx.write(&format!("ff/{name}_long.smx"), &long);
    }
    let started = std::time::Instant::now();
    let out = run(
        &fx,
        &["ff", "-j", "3", "--fail-fast", "--report", "json"],
        false,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60), "{err}");
    assert!(err.contains("CANCEL ["), "{err}");
    assert!(
        err.contains("6 scripts: 0 passed, 1 failed, 5 skipped"),
        "{err}"
    );
    let report = json(&out);
    assert_eq!(report["skipped"], 5);
    let left = std::process::Command::new("pgrep")
        .args(["-f", &format!("sleep {marker}")])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "sessions left behind: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn bad_suite_arguments_get_one_sentence_and_exit_2() {
    let fx = Fixture::new();
    fx.mkdir("empty");
    fx.mkdir("a");
    fx.mkdir("b");
    fx.write("a/x.smx", ECHO);
    fx.write("b/x.smx", ECHO);
    for (args, says) in [
        (vec!["empty"], "there are no scripts (*.smx) in empty"),
        (vec!["a", "b"], "would share transcripts"),
        (vec!["a", "--shard", "4/3"], "--shard takes K/N"),
        (vec!["a", "--filter", "/(/"], "not a regular expression"),
        (vec!["a", "--filter", "nothing-matches"], "matches --filter"),
        (vec!["a", "-j", "0"], "--jobs takes"),
        (
            vec!["a", "nowhere"],
            "there is no script or directory nowhere",
        ),
        (
            vec!["a", "--socket", "s.sock"],
            "--socket serves one script",
        ),
        (
            vec!["a/x.smx", "--shard", "1/2"],
            "choose among several scripts",
        ),
    ] {
        let out = run(&fx, &args, false);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn a_hundred_agent_conversations_with_golden_transcripts() {
    let fx = Fixture::new();
    fx.mkdir("agents");
    let bin = assert_cmd::cargo::cargo_bin("sandmux");
    for i in 0..100 {
        fx.write(
            &format!("agents/a{i:03}.smx"),
            &format!(
                "session agent protocol=stream-json: {} demo-agent\nturn agent \"hello {i}\"\nturn agent \"remember {i}\"\nclose agent\nwait agent exit 0\n",
                bin.display()
            ),
        );
    }
    let update = run(
        &fx,
        &["agents", "-j", "8", "--golden", "g", "--update"],
        false,
    );
    assert_eq!(update.status.code(), Some(0), "{}", stderr(&update));
    let check = run(
        &fx,
        &["agents", "-j", "8", "--golden", "g", "--report", "json"],
        false,
    );
    let err = stderr(&check);
    assert_eq!(check.status.code(), Some(0), "{err}");
    assert!(
        err.contains("100 scripts: 100 passed, 0 failed, 0 skipped"),
        "{err}"
    );
    // A changed golden file is caught in its own script only.
    let golden = fx.path("g/a042/agent.jsonl");
    let text = std::fs::read_to_string(&golden).unwrap();
    std::fs::write(&golden, text.replacen("hello 42", "hello 24", 1)).unwrap();
    let changed = run(&fx, &["agents", "-j", "8", "--golden", "g"], false);
    let err = stderr(&changed);
    assert_eq!(changed.status.code(), Some(1), "{err}");
    assert!(err.contains("99 passed, 1 failed"), "{err}");
    assert!(
        err.contains("FAIL [") && err.contains("agents/a042.smx"),
        "{err}"
    );
}

#[test]
fn a_thousand_small_scripts_in_one_run() {
    let fx = Fixture::new();
    for d in 0..10 {
        fx.mkdir(&format!("many/d{d}"));
        for i in 0..100 {
            fx.write(&format!("many/d{d}/s{i:02}.smx"), ECHO);
        }
    }
    let out = run(&fx, &["many", "-j", "16", "--junit", "j.xml"], false);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        &err[err.len().saturating_sub(2000)..]
    );
    assert!(
        err.contains("1000 scripts: 1000 passed, 0 failed, 0 skipped"),
        "{err}"
    );
    let xml = std::fs::read_to_string(fx.path("j.xml")).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 1000);
}

#[test]
fn a_lone_script_in_a_directory_keeps_its_files_below_its_path() {
    let fx = Fixture::new();
    fx.mkdir("one");
    fx.write("one/echo.smx", ECHO);
    let out = run(&fx, &["one", "--transcript-dir", "logs"], false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(fx.path("logs/echo/echo.jsonl").is_file());
    assert!(Path::new(&fx.path("logs/echo/echo.jsonl")).exists());
    let lone = run(&fx, &["one/echo.smx", "--transcript-dir", "flat"], false);
    assert_eq!(lone.status.code(), Some(0), "{}", stderr(&lone));
    assert!(
        fx.path("flat/echo.jsonl").is_file(),
        "a lone script's files as always"
    );
    assert!(
        stderr(&lone).contains("PASS one/echo.smx: 5 passed"),
        "{}",
        stderr(&lone)
    );
}

#[test]
fn sigint_stops_a_suite_and_every_report_says_interrupted() {
    let fx = Fixture::new();
    fx.mkdir("sig");
    let marker = format!("41{}.5", std::process::id() % 1000);
    for name in ["a", "b", "c", "d"] {
        fx.write(
            &format!("sig/{name}.smx"),
            &format!("session s: sleep {marker}\nexpect s stdout \"never\" within 60s\n"),
        );
    }
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
        .current_dir(fx.dir.path())
        .args(["run", "sig", "-j", "2", "--report", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let running = || {
        std::process::Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}")])
            .output()
            .unwrap()
            .stdout
    };
    assert!(common::eventually(Duration::from_secs(20), || running()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
        == 2));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("4 scripts: 0 passed, 0 failed, 2 skipped, 2 interrupted"),
        "{err}"
    );
    let report = json(&out);
    assert_eq!(report["status"], "interrupted");
    assert_eq!(report["interrupted"], 2);
    assert!(running().is_empty(), "sessions left behind");
}
