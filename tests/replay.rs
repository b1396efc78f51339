//! `sandmux replay` (#14): a transcript played back renders the screen the live run showed,
//! and plays at its pace, all at once, or one turn at a time.

mod common;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use sandmux::engine::{Engine, EngineOptions, Protocol, SessionSpec};
use sandmux::history::Transcript;
use sandmux::replay::{Clock, Speed};
use sandmux::tui::app::App;

use common::screen::{draw, text};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Applies engine events to the app until `done` or 15 s.
async fn pump(engine: &mut Engine, app: &mut App, done: impl Fn(&Engine) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done(engine) {
        let event = tokio::time::timeout_at(deadline, engine.next_event())
            .await
            .expect("timed out waiting for the engine");
        app.on_engine_event(&event, engine);
    }
}

/// Applies engine events for `window`.
async fn pump_for(engine: &mut Engine, app: &mut App, window: Duration) {
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(event) = tokio::time::timeout_at(deadline, engine.next_event()).await {
        app.on_engine_event(&event, engine);
    }
}

fn output_has(engine: &Engine, name: &str, what: &str) -> bool {
    let id = engine.find(name).unwrap();
    engine
        .session(id)
        .unwrap()
        .scrollback
        .iter()
        .any(|l| l.stream.is_output() && String::from_utf8_lossy(l.bytes).contains(what))
}

/// The panes as a user who looked at each of them sees them (no unseen-output marks).
fn screen(app: &mut App, engine: &Engine) -> String {
    for i in 0..app.panes.len() {
        app.set_focus(i);
    }
    app.set_focus(0);
    let screen = text(&draw(app, engine, 120, 40));
    // The status line differs (a replay says so).
    screen.lines().take(39).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn a_replay_renders_the_screen_of_the_live_run() {
    let dir = tempfile::tempdir().unwrap();
    let options = EngineOptions {
        transcript_dir: Some(dir.path().to_path_buf()),
        ..EngineOptions::default()
    };
    let mut engine = sandmux::startup::engine(options);
    let bin = assert_cmd::cargo::cargo_bin("sandmux")
        .display()
        .to_string();
    let mut agent = SessionSpec::local("agent", vec![bin, "demo-agent".into()]);
    agent.protocol = Protocol::StreamJson;
    for spec in [
        SessionSpec::local("echo", vec!["sed".into(), "-u".into(), "s/^/ack:/".into()]),
        SessionSpec::local(
            "py",
            vec!["python3".into(), "-i".into(), "-u".into(), "-q".into()],
        ),
        agent,
    ] {
        engine.add(spec).unwrap();
    }
    let mut app = App::new(&engine);
    let turns = [
        ("echo", "hello", "ack:hello"),
        ("echo", "second \x1b[31mline", "ack:second"),
        ("py", "print(6*7)", "42"),
        (
            "agent",
            "please look up the weather",
            "You said: please look",
        ),
    ];
    for (name, line, answer) in turns {
        let index = app
            .panes
            .iter()
            .position(|p| engine.session(p.session).unwrap().spec.name == name)
            .unwrap();
        app.set_focus(index);
        for c in line.chars() {
            app.on_key(key(KeyCode::Char(c)), &mut engine);
        }
        app.on_key(key(KeyCode::Enter), &mut engine);
        pump(&mut engine, &mut app, |e| output_has(e, name, answer)).await;
    }
    for index in 0..app.panes.len() {
        app.set_focus(index);
        app.on_key(
            KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
            &mut engine,
        );
    }
    pump(&mut engine, &mut app, |e| !e.any_live()).await;
    engine.flush();
    let live = screen(&mut app, &engine);
    assert!(live.contains("ack:hello") && live.contains("42"), "{live}");

    let transcripts = Transcript::load_all(&[dir.path().to_path_buf()]).unwrap();
    let clock = Clock::new(Speed::All, false);
    let mut replay = sandmux::replay::engine(&transcripts, clock.clone(), None).unwrap();
    let mut app = App::new(&replay);
    app.replay = Some(clock.clone());
    pump(&mut replay, &mut app, |e| !e.any_live()).await;
    let played = screen(&mut app, &replay);
    assert_eq!(played, live, "the replay differs from the live run");
    assert!(text(&draw(&mut app, &replay, 120, 40)).contains("REPLAY ■ end"));

    // Nothing is sent to a replay: typing and Enter say so and send nothing.
    let before = replay
        .session(app.panes[0].session)
        .unwrap()
        .scrollback
        .len();
    app.on_key(key(KeyCode::Char('x')), &mut replay);
    app.on_key(key(KeyCode::Enter), &mut replay);
    assert_eq!(
        replay
            .session(app.panes[0].session)
            .unwrap()
            .scrollback
            .len(),
        before
    );
    assert!(
        app.status().unwrap().contains("read-only"),
        "{:?}",
        app.status()
    );
}

/// `dir/s.jsonl` with these records: each its time after the start, and its other fields.
fn transcript_file(dir: &std::path::Path, records: &[(u64, &str)]) -> std::path::PathBuf {
    let start = 1_796_000_000_000u64;
    let lines: Vec<String> = records
        .iter()
        .map(|(at, fields)| format!("{{\"t\":{},{fields}}}\n", start + at))
        .collect();
    let path = dir.join("s.jsonl");
    std::fs::write(&path, lines.concat()).unwrap();
    path
}

const STARTED: &str = r#""event":"started","pid":1,"command":["sed"]"#;
const EXITED: &str = r#""event":"exited","code":0"#;

/// A transcript of two turns 5 s apart.
fn two_turns(dir: &std::path::Path) -> Vec<Transcript> {
    let path = transcript_file(
        dir,
        &[
            (0, STARTED),
            (10, r#""stream":"stdin","data":"a\n""#),
            (20, r#""stream":"stdout","data":"ack:a\n""#),
            (5000, r#""stream":"stdin","data":"b\n""#),
            (5010, r#""stream":"stdout","data":"ack:b\n""#),
            (6000, EXITED),
        ],
    );
    Transcript::load_all(&[path]).unwrap()
}

#[tokio::test]
async fn a_replay_steps_turn_by_turn() {
    let dir = tempfile::tempdir().unwrap();
    let transcripts = two_turns(dir.path());
    let clock = Clock::new(Speed::Factor(1.0), true);
    let mut engine = sandmux::replay::engine(&transcripts, clock.clone(), None).unwrap();
    let mut app = App::new(&engine);
    app.replay = Some(clock.clone());
    pump_for(&mut engine, &mut app, Duration::from_millis(200)).await;
    assert!(!output_has(&engine, "s", "ack:a"), "paused: nothing plays");
    // `n`: the first turn, its input and its answer, and not the next input.
    app.on_key(key(KeyCode::Char('n')), &mut engine);
    pump(&mut engine, &mut app, |e| output_has(e, "s", "ack:a")).await;
    pump_for(&mut engine, &mut app, Duration::from_millis(200)).await;
    let screen = text(&draw(&mut app, &engine, 60, 10));
    assert!(
        screen.contains("›a") && screen.contains("ack:a"),
        "{screen}"
    );
    assert!(
        !screen.contains("›b"),
        "the step stops before the next input: {screen}"
    );
    assert!(screen.contains("paused"), "{screen}");
    app.on_key(key(KeyCode::Char('n')), &mut engine);
    pump(&mut engine, &mut app, |e| !e.any_live()).await;
    let screen = text(&draw(&mut app, &engine, 60, 10));
    assert!(
        screen.contains("ack:b") && screen.contains("exited 0"),
        "{screen}"
    );
}

#[tokio::test]
async fn a_replay_keeps_the_pace_until_told_to_play_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let transcripts = two_turns(dir.path());
    let clock = Clock::new(Speed::Factor(1.0), false);
    let mut engine = sandmux::replay::engine(&transcripts, clock.clone(), None).unwrap();
    let mut app = App::new(&engine);
    app.replay = Some(clock.clone());
    pump(&mut engine, &mut app, |e| output_has(e, "s", "ack:a")).await;
    pump_for(&mut engine, &mut app, Duration::from_millis(300)).await;
    assert!(
        !output_has(&engine, "s", "ack:b"),
        "the second turn is 5 s later"
    );
    // `s` twice: 10x, then all at once.
    app.on_key(key(KeyCode::Char('s')), &mut engine);
    app.on_key(key(KeyCode::Char('s')), &mut engine);
    assert!(app.status().unwrap().contains("all at once"));
    pump(&mut engine, &mut app, |e| !e.any_live()).await;
    assert!(output_has(&engine, "s", "ack:b"));
}

#[tokio::test]
async fn a_long_pause_plays_as_the_max_gap() {
    let dir = tempfile::tempdir().unwrap();
    let transcripts = two_turns(dir.path());
    let clock = Clock::new(Speed::Factor(1.0), false);
    let gap = Some(Duration::from_millis(100));
    let mut engine = sandmux::replay::engine(&transcripts, clock.clone(), gap).unwrap();
    let mut app = App::new(&engine);
    let started = std::time::Instant::now();
    pump(&mut engine, &mut app, |e| !e.any_live()).await;
    // 6 s as recorded; with pauses cut to 100 ms, a fraction of a second.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(output_has(&engine, "s", "ack:b"));
    let status = clock.status();
    assert!(status.contains("/0:00.2 · pauses cut to 100ms"), "{status}");
}

#[tokio::test]
async fn a_replay_shows_the_permission_cards_of_the_real_cli_and_their_answers() {
    let dir = tempfile::tempdir().unwrap();
    let api = common::agents::ModelApi::start(dir.path());
    let options = EngineOptions {
        transcript_dir: Some(dir.path().join("logs")),
        ..EngineOptions::default()
    };
    let mut engine = sandmux::startup::engine(options);
    let mut agent = SessionSpec {
        program: sandmux::engine::Program::Shell(common::agents::command("")),
        protocol: Protocol::StreamJson,
        cwd: Some(dir.path().to_path_buf()),
        ..SessionSpec::local("agent", vec![])
    };
    agent.env.extend(common::agents::env(&api, dir.path()));
    engine.add(agent).unwrap();
    let mut app = App::new(&engine);
    let pending = |e: &Engine| !e.session(0).unwrap().agent.pending().is_empty();
    let turns = |n: u64| move |e: &Engine| e.session(0).unwrap().agent.turns >= n;
    for (n, (file, answer)) in [("yes", 'y'), ("no", 'n')].into_iter().enumerate() {
        let line = format!("run: touch {}/{file}", dir.path().display());
        for c in line.chars() {
            app.on_key(key(KeyCode::Char(c)), &mut engine);
        }
        app.on_key(key(KeyCode::Enter), &mut engine);
        pump(&mut engine, &mut app, pending).await;
        app.on_key(key(KeyCode::Char(answer)), &mut engine);
        pump(&mut engine, &mut app, turns(n as u64 + 1)).await;
    }
    assert!(dir.path().join("yes").exists() && !dir.path().join("no").exists());
    app.on_key(
        KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
        &mut engine,
    );
    pump(&mut engine, &mut app, |e| !e.any_live()).await;
    engine.flush();
    let live = screen(&mut app, &engine);
    assert!(live.contains("╰ ✓ allowed once"), "{live}");
    assert!(
        live.contains("╰ ✗ denied: The user denied this in sandmux."),
        "{live}"
    );

    let transcripts = Transcript::load_all(&[dir.path().join("logs")]).unwrap();
    let clock = Clock::new(Speed::All, false);
    let mut replay = sandmux::replay::engine(&transcripts, clock.clone(), None).unwrap();
    let mut app = App::new(&replay);
    app.replay = Some(clock.clone());
    pump(&mut replay, &mut app, |e| !e.any_live()).await;
    let played = screen(&mut app, &replay);
    assert_eq!(
        played, live,
        "the replay shows the cards and answers as they were"
    );
    // A replay answers nothing: its input is only what was sent then.
    let inputs = replay
        .session(0)
        .unwrap()
        .scrollback
        .iter()
        .filter(|l| l.stream == sandmux::engine::Stream::Stdin)
        .count();
    let live_inputs = engine
        .session(0)
        .unwrap()
        .scrollback
        .iter()
        .filter(|l| l.stream == sandmux::engine::Stream::Stdin)
        .count();
    assert_eq!(inputs, live_inputs);
}

/// Two runs of a session 20 s apart, as one transcript.
fn a_long_pause(dir: &std::path::Path) -> std::path::PathBuf {
    transcript_file(
        dir,
        &[
            (0, STARTED),
            (10, r#""stream":"stdout","data":"first run\n""#),
            (20_000, r#""stream":"stdout","data":"second run\n""#),
            (20_010, EXITED),
        ],
    )
}

#[test]
fn the_replay_command_plays_long_pauses_short_by_default_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = a_long_pause(dir.path());
    let tmux = common::tmux::Tmux::new("maxgap");
    tmux.start(&format!("replay {}", path.display()), 100, 12);
    // 20 s as recorded, played with the pause cut to 2 s: the end comes well before 20 s.
    let screen = tmux.wait_for("REPLAY ■ end", Duration::from_secs(12));
    assert!(screen.contains("second run"), "{screen}");
    assert!(screen.contains("pauses cut to 2s"), "{screen}");
    assert!(
        screen.contains("/0:02.0"),
        "the length is the played one: {screen}"
    );
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", Duration::from_secs(10));
    // `--max-gap 0` keeps the original pace, and the status line says nothing of pauses.
    let tmux = common::tmux::Tmux::new("nogap");
    tmux.start(&format!("replay {} --max-gap 0", path.display()), 100, 12);
    let screen = tmux.wait_for("first run", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    let screen = format!("{screen}{}", tmux.screen());
    assert!(!screen.contains("second run"), "{screen}");
    assert!(!screen.contains("pauses cut"), "{screen}");
    assert!(screen.contains("/0:20.0"), "{screen}");
    tmux.keys(&["C-q"]);
    tmux.wait_for("SANDMUX-EXITED-0", Duration::from_secs(10));
}
