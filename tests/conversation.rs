//! Conversations with real interactive programs nobody here wrote, driven over pipes by the
//! real binary: REPLs that prompt on stderr, a calculator, a database shell, a line protocol
//! (gdb/MI), a JSON-lines filter. `.ci/run` installs every program; elsewhere a missing one
//! is skipped with a note.

mod common;

use common::*;

/// Whether `program` can be run; in CI it must be.
fn have(program: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs {program} (.ci/run)"
        );
        eprintln!("skipped: {program} is not installed");
    }
    found
}

fn passes(fx: &Fixture, script: &str, args: &[&str]) -> std::process::Output {
    let out = fx.run(script, args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

#[test]
fn expect_sees_output_that_continues_a_line_opened_before_the_previous_match() {
    // The prompt `p> ` is still open on stderr when `out` is matched on stdout; `err`, which
    // came after that match, must be found even though it lands after the prompt.
    let fx = Fixture::new();
    let out = passes(
        &fx,
        "session s: sh -c 'printf \"p> \" >&2; read x; echo out; read y; echo err >&2; read z'\n\
         expect s stderr \"p> \"\n\
         send s a\n\
         expect s stdout \"out\"\n\
         send s b\n\
         expect s stderr \"err\" within 3s\n\
         send s c\n\
         wait s exit 0\n",
        &["-v"],
    );
    assert!(stderr(&out).contains("PASS"), "{}", stderr(&out));
}

#[test]
fn a_python_repl_prompts_on_stderr_and_answers_on_stdout() {
    if !have("python3") {
        return;
    }
    let fx = Fixture::new();
    passes(
        &fx,
        "session py: python3 -i -u -q\n\
         expect py stderr \">>> \"\n\
         send py 6*7\n\
         expect py stdout /^42$/\n\
         expect py stderr \">>> \"\n\
         send py print(\"q\"*3)\n\
         expect py stdout /^qqq$/\n\
         send py 1/0\n\
         expect py stderr /^ZeroDivisionError: division by zero$/\n\
         expect py stderr \">>> \"\n\
         send py import sys; print(sys.stdin.isatty())\n\
         expect py stdout /^False$/\n\
         close py\n\
         wait py exit 0\n",
        &["--transcript-dir", "logs"],
    );
    // The transcript is byte-exact: what was sent, and what came back, in full.
    let records = transcript(&fx.path("logs/py.jsonl"));
    assert_eq!(
        stream_bytes(&records, "stdin"),
        b"6*7\nprint(\"q\"*3)\n1/0\nimport sys; print(sys.stdin.isatty())\n"
    );
    assert_eq!(stream_bytes(&records, "stdout"), b"42\nqqq\nFalse\n");
    let err = String::from_utf8(stream_bytes(&records, "stderr")).unwrap();
    assert!(err.starts_with(">>> >>> >>> Traceback"), "{err:?}");
}

#[test]
fn bc_computes_turn_by_turn() {
    if !have("bc") {
        return;
    }
    passes(
        &Fixture::new(),
        "session bc: bc -q -l\n\
         send bc 2/3\n\
         expect bc stdout /^\\.6666666/\n\
         send bc sqrt(2)\n\
         expect bc stdout /^1\\.4142135/\n\
         send bc 1/0\n\
         expect bc stderr /ivide by zero/\n\
         send bc 7*6\n\
         expect bc stdout /^42$/\n\
         send bc quit\n\
         wait bc exit 0\n",
        &[],
    );
}

#[test]
fn sqlite3_answers_on_stdout_errs_on_stderr_and_exits_1_after_an_error() {
    if !have("sqlite3") {
        return;
    }
    passes(
        &Fixture::new(),
        "session db: sqlite3 -batch\n\
         send db create table t(x);\n\
         send db insert into t values (1), (2), (39);\n\
         send db select sum(x) from t;\n\
         expect db stdout /^42$/\n\
         send db select * from nope;\n\
         expect db stderr /no such table: nope/\n\
         send db select count(*) from t;\n\
         expect db stdout /^3$/\n\
         close db\n\
         wait db exit 1\n",
        &[],
    );
}

#[test]
fn node_prompts_and_evaluates() {
    if !have("node") {
        return;
    }
    passes(
        &Fixture::new(),
        "session node: node -i\n\
         expect node stdout \"> \"\n\
         send node 6*7\n\
         expect node stdout /^42$/\n\
         send node [1,2,3].map(x => x * 2).join(\"-\")\n\
         expect node stdout \"'2-4-6'\"\n\
         send node .exit\n\
         wait node exit 0\n",
        &[],
    );
}

#[test]
fn gdb_machine_interface_is_a_line_protocol() {
    if !have("gdb") {
        return;
    }
    passes(
        &Fixture::new(),
        "session gdb: gdb -q -nx --interpreter=mi2\n\
         expect gdb stdout /^\\(gdb\\) ?$/\n\
         send gdb -data-evaluate-expression 6*7\n\
         expect gdb stdout /^\\^done,value=\"42\"$/\n\
         send gdb -gdb-version\n\
         expect gdb stdout /^~\"GNU gdb/\n\
         expect gdb stdout /^\\^done$/\n\
         send gdb -gdb-exit\n\
         expect gdb stdout /^\\^exit$/\n\
         wait gdb exit 0\n",
        &[],
    );
}

#[test]
fn jq_filters_json_lines_checked_with_expect_json() {
    if !have("jq") {
        return;
    }
    let fx = Fixture::new();
    passes(
        &fx,
        "session jq: jq -c --unbuffered \"{sum: (.a + .b), tags: [.t[] | ascii_upcase]}\"\n\
         send jq {\"a\":1,\"b\":2,\"t\":[\"x\",\"y\"]}\n\
         expect-json jq /sum == 3\n\
         send jq {\"a\":40,\"b\":2,\"t\":[\"q\"]}\n\
         expect-json jq /tags/0 == \"Q\"\n\
         send jq not json\n\
         expect jq stderr /parse error/\n\
         wait jq within 5s\n",
        &[],
    );
    // `expect-json` never matches the input, which is JSON too.
    let out = fx.run(
        "session jq: jq -c --unbuffered .b\n\
         send jq {\"a\":1,\"b\":2}\n\
         expect-json jq /a == 1 within 500ms\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no JSON line with /a == 1 within 500ms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failure_tails_show_the_input_in_the_conversation() {
    let fx = Fixture::new();
    let out = fx.run(
        "session echo: sed -u s/^/ack:/\n\
         send echo hello\n\
         expect echo \"nope\" within 300ms\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let input = err.find("stdin| hello").expect(&err);
    let answer = err.find("stdout| ack:hello").expect(&err);
    assert!(input < answer, "{err}");
}

#[test]
fn a_cwd_that_is_a_file_is_not_a_directory() {
    let fx = Fixture::new();
    let file = fx.write("plain.txt", "x");
    let out = fx.run(&format!("session s cwd={}: true\n", file.display()), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "working directory {} is not a directory",
            file.display()
        )),
        "{}",
        stderr(&out)
    );
}
