//! Tests of the session-spec builder: every key, every error sentence.

use super::*;

fn build(keys: &[(&str, Value)]) -> Result<SessionSpec, SpecError> {
    let mut b = SpecBuilder::new("s")?;
    for (k, v) in keys {
        b.set(k, v.clone())?;
    }
    b.finish(Some(Path::new("/base")))
}

fn text(t: &str) -> Value {
    Value::Text(t.into())
}

#[test]
fn keys_mean_the_same_from_text_and_typed_values() {
    let typed = build(&[
        ("command", Value::List(vec!["sed".into(), "-u".into()])),
        ("sandbox", text("dev")),
        ("cpus", Value::Int(2)),
        ("memory", Value::Int(512)),
        ("keep", Value::Bool(true)),
    ])
    .unwrap();
    let texts = build(&[
        ("command", text("sed -u")),
        ("sandbox", text("dev")),
        ("cpus", text("2")),
        ("memory", text("512")),
        ("keep", text("true")),
    ])
    .unwrap();
    assert_eq!(typed, texts);
    let BackendSpec::Microsandbox(sb) = &typed.backend else {
        panic!("{typed:?}");
    };
    assert_eq!(
        sb.memory_mib,
        Some(512),
        "a bare memory number is MiB everywhere"
    );
    let sized = build(&[
        ("command", text("x")),
        ("sandbox", text("d")),
        ("memory", text("1GiB")),
    ])
    .unwrap();
    assert!(matches!(
        sized.backend,
        BackendSpec::Microsandbox(SandboxSpec {
            memory_mib: Some(1024),
            ..
        })
    ));
}

#[test]
fn unknown_keys_list_the_valid_ones() {
    let err = build(&[("comand", text("x"))]).unwrap_err();
    assert_eq!(err.part, Part::Key);
    assert_eq!(
        err.message,
        format!("unknown session key `comand`: did you mean `command`? (known: {KEYS})")
    );
}

#[test]
fn values_are_checked_with_one_sentence_each() {
    let cases: &[(&str, Value, &str)] = &[
        (
            "protocol",
            text("xml"),
            "unknown protocol `xml` (known: raw, stream-json)",
        ),
        (
            "view",
            text("tree"),
            "unknown view `tree` (known: raw, json, chat)",
        ),
        (
            "backend",
            text("docker"),
            "unknown backend `docker` (known: local, microsandbox)",
        ),
        ("cpus", text("0"), "cpus must be a number from 1 to 255"),
        ("memory", text("12KiB"), "memory must be at least 1MiB"),
        ("keep", text("maybe"), "keep is true or false"),
        (
            "command",
            Value::List(vec![]),
            "session `s`: `command` is empty",
        ),
        ("shell", text("  "), "session `s`: `shell` is empty"),
        ("cwd", Value::Int(3), "`cwd` takes text, not a number"),
        (
            "group",
            text("a b"),
            "invalid group name `a b`: use letters, digits, `_`, `.` and `-`",
        ),
    ];
    for (key, value, message) in cases {
        let err = build(&[(key, value.clone())]).unwrap_err();
        assert_eq!(
            (err.part, err.message.as_str()),
            (Part::Value, *message),
            "{key}"
        );
    }
    let err = build(&[("prompt", text("("))]).unwrap_err();
    assert!(
        err.message.starts_with("invalid prompt regex:"),
        "{}",
        err.message
    );
}

#[test]
fn programs_and_backends_are_checked_as_a_whole() {
    let err = build(&[]).unwrap_err();
    assert_eq!(err.part, Part::Session);
    assert!(err.message.contains("needs a command"));
    let err = build(&[("command", text("a")), ("shell", text("b"))]).unwrap_err();
    assert!(err.message.contains("has both `command` and `shell`"));
    let err = build(&[("command", text("a")), ("image", text("alpine"))]).unwrap_err();
    assert_eq!(
        err.message,
        "session `s`: `image` is for sandbox sessions: add `sandbox` (the sandbox's name)"
    );
    let err = build(&[("command", text("a")), ("backend", text("microsandbox"))]).unwrap_err();
    assert!(err.message.contains("needs `sandbox`"));
    let err = build(&[
        ("command", text("a")),
        ("backend", text("local")),
        ("sandbox", text("d")),
    ])
    .unwrap_err();
    assert!(err.message.contains("the backend is local"));
    let spec = build(&[
        ("shell", text("echo hi")),
        ("cwd", text("rel")),
        ("env.A", text("1")),
    ])
    .unwrap();
    assert_eq!(spec.program, Program::Shell("echo hi".into()));
    assert_eq!(
        spec.cwd,
        Some(PathBuf::from("/base/rel")),
        "a local cwd is relative to the base"
    );
    assert_eq!(spec.env["A"], "1");
    let sandboxed = build(&[
        ("command", text("a")),
        ("sandbox", text("d")),
        ("cwd", text("rel")),
    ])
    .unwrap();
    assert_eq!(
        sandboxed.cwd,
        Some(PathBuf::from("rel")),
        "a guest cwd stays as it is"
    );
}

#[test]
fn declarations_read_like_script_session_steps() {
    let spec = parse_declaration(
        r#"agent protocol=stream-json prompt="^> $" env.X="a b": claude -p "hi there""#,
    )
    .unwrap()
    .finish(None)
    .unwrap();
    assert_eq!(spec.name, "agent");
    assert_eq!(spec.protocol, Protocol::StreamJson);
    assert_eq!(spec.prompt.as_deref(), Some("^> $"));
    assert_eq!(spec.env["X"], "a b");
    assert_eq!(
        spec.program,
        Program::Argv(vec!["claude".into(), "-p".into(), "hi there".into()])
    );
    let spec = parse_declaration(r#"up shell="echo hi | tr a-z A-Z""#)
        .unwrap()
        .finish(None)
        .unwrap();
    assert_eq!(spec.program, Program::Shell("echo hi | tr a-z A-Z".into()));
    let text = "x cpus=lots: true";
    let (at, err) = parse_declaration(text).unwrap_err();
    assert_eq!(
        (&text[at..at + 4], err.message.as_str()),
        ("lots", "cpus must be a number from 1 to 255")
    );
    let (at, err) = parse_declaration("x bogus=1: true").unwrap_err();
    assert_eq!(at, 2);
    assert!(err.message.starts_with("unknown session key `bogus`"));
    assert!(parse_declaration("x:").is_err());
    let text = "x sandbox=d image=alpine: sh";
    let decl = parse_declaration("x image=alpine: sh").unwrap();
    let (at, err) = decl.finish(None).unwrap_err();
    assert_eq!(
        (at, err.key.as_str()),
        (2, "image"),
        "a whole-spec error points at its key"
    );
    assert!(parse_declaration(text).unwrap().finish(None).is_ok());
    assert!(
        parse_declaration("x sed")
            .unwrap_err()
            .1
            .message
            .contains("expected `:`")
    );
}

#[test]
fn session_args_take_a_name_or_are_named_after_the_program() {
    let spec = parse_session_arg("echo=sed -u 's/^/ack:/'", &[]).unwrap();
    assert_eq!(spec.name, "echo");
    assert_eq!(
        spec.program,
        Program::Argv(vec!["sed".into(), "-u".into(), "s/^/ack:/".into()])
    );
    let spec = parse_session_arg("/usr/bin/top -b", &[]).unwrap();
    assert_eq!(spec.name, "top");
    let spec = parse_session_arg("top", &["top".into()]).unwrap();
    assert_eq!(spec.name, "top-2");
    let spec = parse_session_arg("env A=1 cat", &[]).unwrap();
    assert_eq!(
        spec.program,
        Program::Argv(vec!["env".into(), "A=1".into(), "cat".into()])
    );
    assert!(
        parse_session_arg("x='open", &[])
            .unwrap_err()
            .contains("unclosed quote")
    );
    assert!(parse_session_arg("x=", &[]).unwrap_err().contains("empty"));
    assert!(
        parse_session_arg("a=cat", &["a".into()])
            .unwrap_err()
            .contains("already exists")
    );
}

#[test]
fn session_args_may_be_declarations_with_options() {
    let spec = parse_session_arg(
        "agent protocol=stream-json view=json: sandmux demo-agent",
        &[],
    )
    .unwrap();
    assert_eq!(
        (spec.name.as_str(), spec.protocol, spec.view),
        ("agent", Protocol::StreamJson, Some(View::Json))
    );
    let err = parse_session_arg("agent protcol=stream-json: x", &[]).unwrap_err();
    assert!(err.contains("unknown session key `protcol`"), "{err}");
    // A plain command line with a colon in it stays a command line.
    let spec = parse_session_arg("echo=sed -u s/^/ack:/", &[]).unwrap();
    assert_eq!(spec.name, "echo");
    let spec = parse_session_arg("python3 -i -u", &[]).unwrap();
    assert_eq!(spec.name, "python3");
}

#[test]
fn a_group_key_groups_and_sandbox_sessions_group_by_their_sandbox() {
    let grouped = build(&[("command", text("x")), ("group", text("fleet-1"))]).unwrap();
    assert_eq!(grouped.group(), Some("fleet-1"));
    let plain = build(&[("command", text("x"))]).unwrap();
    assert_eq!(plain.group(), None);
    let boxed = build(&[("command", text("x")), ("sandbox", text("box"))]).unwrap();
    assert_eq!(
        boxed.group(),
        Some("box"),
        "a sandbox session groups by its sandbox"
    );
    let both = build(&[
        ("command", text("x")),
        ("sandbox", text("box")),
        ("group", text("team")),
    ])
    .unwrap();
    assert_eq!(both.group(), Some("team"), "an explicit group wins");
}
