//! Tests of the script parser: every step, every error with its position.

use super::*;
use crate::engine::{BackendSpec, Program, SandboxSpec};
use regex::bytes::Regex;

fn parse(src: &str) -> Result<Vec<Step>, ParseError> {
    parse_script(src, &[])
}

fn err(src: &str) -> (usize, usize, String) {
    let e = parse(src).unwrap_err();
    (e.line, e.col, e.message)
}

#[test]
fn a_whole_turn_script_parses() {
    let steps = parse(
        "# echo bot\n\
         session echo: sed -u \"s/^/ack:/\"\n\
         \n\
         send echo turn1\n\
         expect echo stdout \"ack:turn1\" within 2s\n\
         expect echo /ack:\\w+/\n\
         write echo \"raw\\x41\"\n\
         close echo\n\
         wait echo exit 0 within 5s\n\
         kill echo KILL\n\
         sleep 250ms\n\
         set timeout 3s\n",
    )
    .unwrap();
    assert_eq!(steps.len(), 10);
    match &steps[0].kind {
        StepKind::Session(spec) => {
            assert_eq!(spec.name, "echo");
            assert_eq!(
                spec.program,
                Program::Argv(vec!["sed".into(), "-u".into(), "s/^/ack:/".into()])
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        steps[1].kind,
        StepKind::Send {
            session: "echo".into(),
            bytes: b"turn1\n".to_vec()
        }
    );
    assert_eq!(steps[1].line, 4);
    assert_eq!(
        steps[2].kind,
        StepKind::Expect {
            session: "echo".into(),
            stream: Some(Stream::Stdout),
            pattern: Pattern::Literal(b"ack:turn1".to_vec()),
            within: Some(Duration::from_secs(2)),
        }
    );
    assert!(
        matches!(&steps[3].kind, StepKind::Expect { stream: None, pattern: Pattern::Regex(r), .. } if r.as_str() == "ack:\\w+")
    );
    assert_eq!(
        steps[4].kind,
        StepKind::Send {
            session: "echo".into(),
            bytes: b"rawA".to_vec()
        }
    );
    assert_eq!(
        steps[6].kind,
        StepKind::Wait {
            session: "echo".into(),
            exit: Some(0),
            within: Some(Duration::from_secs(5))
        }
    );
    assert_eq!(
        steps[7].kind,
        StepKind::Kill {
            session: "echo".into(),
            signal: libc::SIGKILL
        }
    );
    assert_eq!(steps[9].kind, StepKind::SetTimeout(Duration::from_secs(3)));
    assert_eq!(steps[2].text, "expect echo stdout \"ack:turn1\" within 2s");
}

#[test]
fn send_takes_the_rest_of_the_line_or_one_quoted_string() {
    let steps = parse("session a: cat\nsend a hello  world # not a comment\nsend a \"x\\ty\"\nsend a \"a\" and \"b\"\nsend a\n").unwrap();
    let bytes: Vec<_> = steps[1..]
        .iter()
        .map(|s| match &s.kind {
            StepKind::Send { bytes, .. } => bytes.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(bytes[0], b"hello  world # not a comment\n");
    assert_eq!(bytes[1], b"x\ty\n");
    assert_eq!(bytes[2], b"\"a\" and \"b\"\n");
    assert_eq!(bytes[3], b"\n");
}

#[test]
fn kill_defaults_to_term_and_trailing_comments_are_allowed() {
    let steps = parse("session a: cat\nkill a   # stop it\nclose a # eof\n").unwrap();
    assert_eq!(
        steps[1].kind,
        StepKind::Kill {
            session: "a".into(),
            signal: libc::SIGTERM
        }
    );
    assert_eq!(
        steps[2].kind,
        StepKind::Close {
            session: "a".into()
        }
    );
}

#[test]
fn regex_slashes_can_be_escaped() {
    let steps = parse("session a: cat\nexpect a /a\\/b/\n").unwrap();
    assert!(
        matches!(&steps[1].kind, StepKind::Expect { pattern, .. } if pattern.regex_source() == Some("a/b"))
    );
}

#[test]
fn session_options_and_config_sessions() {
    let steps = parse_script(
        "session b cwd=/tmp env.X=1: pwd\nsend a hi\n",
        &[SessionSpec::local("a", vec!["cat".into()])],
    )
    .unwrap();
    match &steps[0].kind {
        StepKind::Session(spec) => {
            assert_eq!(spec.cwd.as_deref(), Some(std::path::Path::new("/tmp")));
            assert_eq!(spec.env.get("X").map(String::as_str), Some("1"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_name_line_and_column() {
    assert_eq!(err("frobnicate x").0, 1);
    assert_eq!(err("frobnicate x").1, 1);
    assert!(err("frobnicate x").2.contains("unknown step `frobnicate`"));
    assert_eq!(
        err("session a: cat\nsend b hi"),
        (
            2,
            6,
            "unknown session `b`: declare it first with `session b: COMMAND` or in the config"
                .into()
        )
    );
    let (l, c, m) = err("session a: cat\nexpect a \"open");
    assert_eq!((l, c), (2, 10));
    assert!(m.contains("unclosed string"));
    let (l, c, m) = err("session a: cat\nexpect a /(/");
    assert_eq!((l, c), (2, 10));
    assert!(m.starts_with("invalid regex /(/"), "{m}");
    let (_, c, m) = err("session a: cat\nexpect a \"x\" within 5parsecs");
    assert_eq!(c, 21);
    assert!(m.contains("unknown unit"));
    let (_, c, m) = err("session a: cat\nwait a exit zero");
    assert_eq!(c, 13);
    assert!(m.contains("exit code"));
    let (_, c, m) = err("session a: cat\nkill a NOPE");
    assert_eq!(c, 8);
    assert!(m.contains("unknown signal"));
    for (src, needle) in [
        ("session a cat", "expected `:`"),
        ("session a: cat\nsession a: cat", "already declared"),
        ("session a b: cat", "expected `:` after the session name"),
        ("session bad/name: cat", "invalid session name"),
        ("session a:   ", "expected a command"),
        ("session a: 'unclosed", "unclosed quote"),
        ("session a: cat\nexpect a stdout", "expected a pattern"),
        ("session a: cat\nexpect a bare", "expected a pattern"),
        ("session a: cat\nwrite a bare", "double-quoted"),
        ("session a: cat\nclose a now", "unexpected `now`"),
    ] {
        assert!(err(src).2.contains(needle), "{src}: {}", err(src).2);
    }
    assert!(err("set colour red").2.contains("unknown setting"));
    assert!(err("sleep").2.contains("expected a duration"));
    let (_, c, m) = err("session a: cat\nsend a \"\\xZZ\"");
    assert_eq!(c, 9, "{m}");
}

#[test]
fn sandbox_sessions_take_their_options() {
    let steps = parse("session agent sandbox=dev image=alpine cpus=2 memory=512M keep=true user=root cwd=/work: sh -c 'echo hi'\n").unwrap();
    match &steps[0].kind {
        StepKind::Session(spec) => {
            assert_eq!(
                spec.backend,
                BackendSpec::Microsandbox(SandboxSpec {
                    sandbox: "dev".into(),
                    image: Some("alpine".into()),
                    cpus: Some(2),
                    memory_mib: Some(512),
                    keep: true,
                    user: Some("root".into()),
                })
            );
            assert_eq!(spec.cwd.as_deref(), Some(std::path::Path::new("/work")));
        }
        other => panic!("{other:?}"),
    }
    let (_, c, m) = err("session a image=alpine: sh");
    assert_eq!(c, 11);
    assert!(m.contains("add `sandbox`"), "{m}");
    let (_, c, m) = err("session a sandbox=dev cpus=lots: sh");
    assert_eq!(c, 28);
    assert!(m.contains("cpus must be"), "{m}");
    assert!(
        err("session a sandbox=dev memory=12parsecs: sh")
            .2
            .contains("unknown unit")
    );
    assert!(
        err("session a sandbox=dev keep=maybe: sh")
            .2
            .contains("true or false")
    );
    assert!(
        err("session a sandbox=b/ad: sh")
            .2
            .contains("invalid sandbox name")
    );
}

#[test]
fn expect_json_and_turn_steps() {
    let steps = parse(
        "session agent protocol=stream-json: sandmux demo-agent\n\
         turn agent \"hello there\" within 5s\n\
         expect-json agent /type == \"result\"\n\
         expect-json agent /num_turns == 3 within 2s\n\
         expect-json agent /message/content/0/text ~ /said: h/\n\
         expect-json agent /session_id exists\n\
         expect-json agent /x == {\"a\": [1, 2]} # comment\n",
    )
    .unwrap();
    match &steps[0].kind {
        StepKind::Session(spec) => assert_eq!(spec.protocol, Protocol::StreamJson),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        steps[1].kind,
        StepKind::Turn {
            session: "agent".into(),
            text: "hello there".into(),
            within: Some(Duration::from_secs(5))
        }
    );
    assert_eq!(
        steps[2].kind,
        StepKind::ExpectJson {
            session: "agent".into(),
            pointer: "/type".into(),
            op: JsonOp::Eq(serde_json::json!("result")),
            within: None
        }
    );
    assert_eq!(
        steps[3].kind,
        StepKind::ExpectJson {
            session: "agent".into(),
            pointer: "/num_turns".into(),
            op: JsonOp::Eq(serde_json::json!(3)),
            within: Some(Duration::from_secs(2))
        }
    );
    assert!(
        matches!(&steps[4].kind, StepKind::ExpectJson { op: JsonOp::Matches(r), .. } if r.as_str() == "said: h")
    );
    assert!(matches!(
        &steps[5].kind,
        StepKind::ExpectJson {
            op: JsonOp::Exists,
            ..
        }
    ));
    assert!(
        matches!(&steps[6].kind, StepKind::ExpectJson { op: JsonOp::Eq(v), .. } if v["a"][1] == 2)
    );
}

#[test]
fn expect_json_and_turn_errors_have_positions() {
    let decl = "session a protocol=stream-json: x\nsession b: x\n";
    let e = |line: &str| parse(&format!("{decl}{line}")).unwrap_err();
    let err = e("expect-json a type == 1");
    assert_eq!((err.line, err.col), (3, 15));
    assert!(err.message.contains("starts with `/`"));
    let err = e("expect-json a /type == result");
    assert_eq!(err.col, 24);
    assert!(
        err.message.contains("strings need double quotes"),
        "{}",
        err.message
    );
    assert!(
        e("expect-json a /type >= 1")
            .message
            .contains("unknown operator `>=`")
    );
    assert!(
        e("expect-json a /type ~ /(/")
            .message
            .contains("invalid regex")
    );
    assert!(e("expect-json a /type").message.contains("expected `==`"));
    let err = e("turn b \"hi\"");
    assert_eq!(err.col, 6);
    assert!(err.message.contains("protocol=stream-json"));
    assert!(e("turn a hi").message.contains("double-quoted"));
    assert!(e("turn a \"hi\" soon").message.contains("expected `within"));
    assert!(
        parse("session a protocol=xml: x")
            .unwrap_err()
            .message
            .contains("unknown protocol")
    );
}

#[test]
fn json_ops_test_values_at_pointers() {
    let v = serde_json::json!({"type": "result", "n": 3, "m": {"t": "hello"}});
    assert!(JsonOp::Eq(serde_json::json!("result")).test(&v, "/type"));
    assert!(!JsonOp::Eq(serde_json::json!("x")).test(&v, "/type"));
    assert!(JsonOp::Matches(regex::Regex::new("^hel").unwrap()).test(&v, "/m/t"));
    assert!(
        !JsonOp::Matches(regex::Regex::new("3").unwrap()).test(&v, "/n"),
        "~ is for strings"
    );
    assert!(JsonOp::Exists.test(&v, "/m"));
    assert!(!JsonOp::Exists.test(&v, "/missing"));
}

#[test]
fn columns_count_characters_not_bytes() {
    let (_, c, _) = err("session é: cat");
    assert_eq!(c, 9);
}

#[test]
fn crlf_scripts_parse() {
    let steps = parse("session a: cat\r\nsend a hi\r\n").unwrap();
    assert_eq!(
        steps[1].kind,
        StepKind::Send {
            session: "a".into(),
            bytes: b"hi\n".to_vec()
        }
    );
}

#[test]
fn patterns_find_the_end_of_their_match() {
    let lit = Pattern::Literal(b"ab".to_vec());
    assert_eq!(lit.find_end(b"xxabyyab", 0), Some(4));
    assert_eq!(lit.find_end(b"xxabyyab", 4), Some(8));
    assert_eq!(lit.find_end(b"xxab", 9), None);
    let re = Pattern::Regex(Regex::new("^a").unwrap().into());
    assert_eq!(
        re.find_end(b"aa", 1),
        None,
        "^ anchors to the line start, not the cursor"
    );
}

#[test]
fn no_input_makes_the_parser_panic() {
    // A cheap exhaustive sweep over short strings of tricky characters.
    let alphabet = [
        "session", " ", "a", ":", "\"", "\\", "/", "x", "é", "#", "\t", "expect", "send", "within",
        "1s", "=", "exit",
    ];
    let mut count = 0;
    for a in &alphabet {
        for b in &alphabet {
            for c in &alphabet {
                for d in &alphabet {
                    let src = format!("session a: cat\n{a}{b}{c}{d}");
                    let _ = parse(&src);
                    let src = format!("{a} {b}{c} {d}");
                    let _ = parse(&src);
                    count += 1;
                }
            }
        }
    }
    assert!(count > 80_000);
}
