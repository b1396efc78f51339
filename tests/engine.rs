//! The engine's API driven directly, as the TUI and other front ends drive it, on real
//! processes.

mod common;

use common::{settle, sh};

use std::time::Duration;

use sandmux::engine::{
    Command, Engine, EngineOptions, Event, ExitStatus, SessionSpec, SessionState,
};

fn text(engine: &Engine, id: usize) -> String {
    engine
        .session(id)
        .unwrap()
        .scrollback
        .iter()
        .map(|l| String::from_utf8_lossy(l.bytes).into_owned() + "\n")
        .collect()
}

#[tokio::test]
async fn send_line_reaches_the_program_and_output_comes_back_tagged() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    let id = engine
        .add(SessionSpec::local(
            "echo",
            vec!["sed".into(), "-u".into(), "s/^/ack:/".into()],
        ))
        .unwrap();
    engine
        .apply(Command::SendLine {
            session: id,
            text: "hi".into(),
        })
        .unwrap();
    settle(&mut engine, |e| text(e, id).contains("ack:hi")).await;
    // The input is echoed where it happened in the conversation, then the answer.
    let sb = &engine.session(id).unwrap().scrollback;
    let (input, answer) = (sb.at(0).unwrap(), sb.at(1).unwrap());
    assert_eq!(
        (input.stream, input.bytes),
        (sandmux::engine::Stream::Stdin, &b"hi"[..])
    );
    assert_eq!(answer.stream, sandmux::engine::Stream::Stdout);
    engine.apply(Command::CloseStdin { session: id }).unwrap();
    settle(&mut engine, |e| !e.session(id).unwrap().state.is_live()).await;
    assert_eq!(
        engine.session(id).unwrap().state,
        SessionState::Exited(ExitStatus::code(0))
    );
}

#[tokio::test]
async fn kill_stops_the_whole_process_group() {
    let mut engine = sandmux::startup::engine(EngineOptions {
        stop_grace: Duration::from_millis(300),
        ..Default::default()
    });
    // The shell ignores TERM, so only the SIGKILL after the grace period ends it.
    let id = engine
        .add(sh("stubborn", "trap '' TERM; sleep 60 & echo $!; wait"))
        .unwrap();
    settle(&mut engine, |e| text(e, id).lines().count() == 1).await;
    let child: i32 = text(&engine, id).trim().parse().unwrap();
    assert!(common::alive(child));
    engine.apply(Command::Kill { session: id }).unwrap();
    settle(&mut engine, |e| !e.session(id).unwrap().state.is_live()).await;
    match &engine.session(id).unwrap().state {
        SessionState::Exited(status) => assert_eq!(status.signal, Some(libc::SIGKILL)),
        other => panic!("{other:?}"),
    }
    assert!(
        common::eventually(Duration::from_secs(2), || !common::alive(child)),
        "background child survived"
    );
}

#[tokio::test]
async fn signals_reach_the_program() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    let id = engine
        .add(sh(
            "trap",
            "trap 'echo got-int' INT; echo ready; while :; do sleep 0.05; done",
        ))
        .unwrap();
    settle(&mut engine, |e| text(e, id).contains("ready")).await;
    engine
        .apply(Command::Signal {
            session: id,
            signal: libc::SIGINT,
        })
        .unwrap();
    settle(&mut engine, |e| text(e, id).contains("got-int")).await;
    engine.shutdown(Duration::from_secs(5)).await;
    assert!(!engine.any_live());
}

#[tokio::test]
async fn restart_runs_the_same_spec_again_and_ignores_the_old_run() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    let id = engine.add(sh("counter", "echo start; sleep 60")).unwrap();
    settle(&mut engine, |e| text(e, id).contains("start")).await;
    engine.apply(Command::Restart { session: id }).unwrap();
    settle(&mut engine, |e| text(e, id).matches("start").count() == 2).await;
    let session = engine.session(id).unwrap();
    assert_eq!(session.starts, 2);
    assert!(matches!(session.state, SessionState::Running { .. }));
    // The killed first run does not turn the restarted session into an exited one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while engine.try_next_event().is_some() {}
    assert!(matches!(
        engine.session(id).unwrap().state,
        SessionState::Running { .. }
    ));
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn input_to_an_ended_session_is_refused_with_a_warning() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    let id = engine.add(sh("brief", "exit 0")).unwrap();
    settle(&mut engine, |e| !e.session(id).unwrap().state.is_live()).await;
    let event = engine
        .apply(Command::SendLine {
            session: id,
            text: "late".into(),
        })
        .unwrap();
    assert!(matches!(event, Some(Event::Warning { message, .. }) if message.contains("exited 0")));
}

#[tokio::test]
async fn clear_empties_the_scrollback_but_not_the_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = sandmux::startup::engine(EngineOptions {
        transcript_dir: Some(dir.path().into()),
        ..Default::default()
    });
    let id = engine
        .add(sh("talk", "echo one; read x; echo two"))
        .unwrap();
    settle(&mut engine, |e| text(e, id).contains("one")).await;
    engine.apply(Command::Clear { session: id }).unwrap();
    assert!(engine.session(id).unwrap().scrollback.is_empty());
    engine
        .apply(Command::SendLine {
            session: id,
            text: "go".into(),
        })
        .unwrap();
    settle(&mut engine, |e| !e.session(id).unwrap().state.is_live()).await;
    assert_eq!(text(&engine, id), "go\ntwo\n");
    drop(engine);
    let records = common::transcript(&dir.path().join("talk.jsonl"));
    assert_eq!(common::stream_bytes(&records, "stdout"), b"one\ntwo\n");
    assert_eq!(common::stream_bytes(&records, "stdin"), b"go\n");
}

#[tokio::test]
async fn a_failing_session_leaves_the_others_running() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    let bad = engine
        .add(SessionSpec::local("bad", vec!["/nonexistent/prog".into()]))
        .unwrap();
    let good = engine
        .add(SessionSpec::local("good", vec!["cat".into()]))
        .unwrap();
    settle(&mut engine, |e| !e.session(bad).unwrap().state.is_live()).await;
    match &engine.session(bad).unwrap().state {
        SessionState::Failed { reason } => assert_eq!(
            reason,
            "command not found: /nonexistent/prog (no such file)"
        ),
        other => panic!("{other:?}"),
    }
    engine
        .apply(Command::SendLine {
            session: good,
            text: "fine".into(),
        })
        .unwrap();
    settle(&mut engine, |e| text(e, good).contains("fine")).await;
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn names_are_checked() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    engine
        .add(SessionSpec::local("a", vec!["true".into()]))
        .unwrap();
    assert!(
        engine
            .add(SessionSpec::local("a", vec!["true".into()]))
            .unwrap_err()
            .to_string()
            .contains("already exists")
    );
    assert!(
        engine
            .add(SessionSpec::local("a b", vec!["true".into()]))
            .unwrap_err()
            .to_string()
            .contains("invalid session name")
    );
}

#[test]
fn commands_are_plain_data() {
    let command = Command::SendLine {
        session: 3,
        text: "hi".into(),
    };
    let json = serde_json::to_string(&command).unwrap();
    assert_eq!(json, r#"{"command":"send_line","session":3,"text":"hi"}"#);
    assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), command);
}
