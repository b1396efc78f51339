//! Whole-screen tests of the TUI: real sessions, the real App, ratatui's TestBackend.

mod common;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use sandmux::engine::{EngineOptions, SessionSpec};
use sandmux::tui::app::App;

use common::screen::{draw, finished, text};
use common::{settle, sh};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn numbered(n: usize) -> Vec<SessionSpec> {
    (0..n)
        .map(|i| sh(&format!("s{i}"), &format!("echo hello from {i}")))
        .collect()
}

#[tokio::test]
async fn layout_of_one_session() {
    let engine = finished(numbered(1)).await;
    let mut app = App::new(&engine);
    insta::assert_snapshot!(text(&draw(&mut app, &engine, 60, 8)));
}

#[tokio::test]
async fn layout_of_two_sessions() {
    let engine = finished(numbered(2)).await;
    let mut app = App::new(&engine);
    insta::assert_snapshot!(text(&draw(&mut app, &engine, 80, 8)));
}

#[tokio::test]
async fn layout_of_five_sessions() {
    let engine = finished(numbered(5)).await;
    let mut app = App::new(&engine);
    insta::assert_snapshot!(text(&draw(&mut app, &engine, 100, 16)));
}

#[tokio::test]
async fn layout_of_sixteen_sessions() {
    let engine = finished(numbered(16)).await;
    let mut app = App::new(&engine);
    app.layout_setting = sandmux::config::LayoutSetting::Tiles;
    insta::assert_snapshot!(text(&draw(&mut app, &engine, 160, 40)));
}

#[tokio::test]
async fn tab_moves_focus_and_the_border_shows_it() {
    let mut engine = finished(numbered(3)).await;
    let mut app = App::new(&engine);
    let before = draw(&mut app, &engine, 120, 10);
    assert_eq!(
        before[(0, 0)].symbol(),
        "┏",
        "the first pane starts focused"
    );
    app.on_key(key(KeyCode::Tab), &mut engine);
    let after = draw(&mut app, &engine, 120, 10);
    assert_eq!(after[(0, 0)].symbol(), "╭");
    assert_eq!(after[(40, 0)].symbol(), "┏");
    assert_eq!(after[(40, 0)].fg, Color::Cyan);
    app.on_key(
        KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT),
        &mut engine,
    );
    assert_eq!(app.focus, 0);
}

#[tokio::test]
async fn zoom_shows_only_the_focused_pane() {
    let mut engine = finished(numbered(3)).await;
    let mut app = App::new(&engine);
    app.on_key(key(KeyCode::Tab), &mut engine);
    app.on_key(key(KeyCode::F(2)), &mut engine);
    let screen = text(&draw(&mut app, &engine, 120, 10));
    assert!(screen.contains("hello from 1"));
    assert!(
        !screen.contains("hello from 0") && !screen.contains("hello from 2"),
        "{screen}"
    );
    app.on_key(key(KeyCode::F(2)), &mut engine);
    assert!(text(&draw(&mut app, &engine, 120, 10)).contains("hello from 2"));
}

#[tokio::test]
async fn titles_show_name_and_state() {
    let engine = finished(vec![
        sh("ok", "exit 0"),
        sh("bad", "exit 3"),
        sh("killed", "kill -9 $$"),
        SessionSpec::local("missing", vec!["no-such-program-sandmux".into()]),
    ])
    .await;
    let mut app = App::new(&engine);
    let screen = text(&draw(&mut app, &engine, 160, 12));
    assert!(screen.contains("ok · exited 0"), "{screen}");
    assert!(screen.contains("bad · exited 3"), "{screen}");
    assert!(screen.contains("killed · exited 137 (SIGKILL)"), "{screen}");
    assert!(screen.contains("missing · failed"), "{screen}");
    assert!(screen.contains("✖ failed: command not found:"), "{screen}");
    assert!(
        screen.contains("no-such-program-sandmux (not in PATH)"),
        "the reason wraps, whole: {screen}"
    );
}

#[tokio::test]
async fn stderr_is_marked_and_coloured() {
    let engine = finished(vec![sh("mix", "echo out; sleep 0.1; echo err >&2")]).await;
    let mut app = App::new(&engine);
    let buffer = draw(&mut app, &engine, 40, 6);
    let screen = text(&buffer);
    let lines: Vec<&str> = screen.lines().collect();
    assert!(lines[1].starts_with("┃ out"), "{screen}");
    assert!(lines[2].starts_with("┃▍err"), "{screen}");
    assert_eq!(buffer[(1, 2)].fg, Color::Red);
    assert_eq!(buffer[(2, 2)].fg, Color::LightRed);
    assert_eq!(buffer[(2, 1)].fg, Color::Reset);
}

#[tokio::test]
async fn ansi_colours_are_rendered_and_escape_sequences_neutralised() {
    let script = r#"printf '\033[31mred\033[0m plain\n'; printf 'a\033]0;pwned-title\007b\n'; printf 'c\033]52;c;ZXZpbA==\007d\n'; printf '\033[?1049hALT\n'; printf 'bare\033\n'; printf 'bell\007 \033[2J\033[Hhome\n'"#;
    let engine = finished(vec![sh("evil", script)]).await;
    let mut app = App::new(&engine);
    let buffer = draw(&mut app, &engine, 40, 10);
    let screen = text(&buffer);
    assert!(screen.contains("red plain"), "{screen}");
    assert_eq!(buffer[(2, 1)].fg, Color::Indexed(1), "SGR red is a colour");
    assert!(screen.contains("ab"), "{screen}");
    assert!(screen.contains("cd"), "{screen}");
    assert!(screen.contains("ALT"), "{screen}");
    assert!(screen.contains("bare␛"), "{screen}");
    assert!(screen.contains("bell␇ home"), "{screen}");
    assert!(!screen.contains("pwned"), "{screen}");
    assert!(!screen.contains("52;"), "{screen}");
    assert!(!screen.contains("1049"), "{screen}");
    for cell in buffer.content() {
        assert!(
            !cell.symbol().chars().any(|c| c.is_control()),
            "control character in {:?}",
            cell.symbol()
        );
    }
}

#[tokio::test]
async fn a_scrolled_up_view_does_not_move_when_output_arrives() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    let id = engine
        .add(sh("stream", "seq 1 50; read go; seq 51 60; sleep 5"))
        .unwrap();
    settle(&mut engine, |e| {
        e.session(id).unwrap().scrollback.len() == 50
    })
    .await;
    let mut app = App::new(&engine);
    draw(&mut app, &engine, 40, 10);
    app.on_key(key(KeyCode::PageUp), &mut engine);
    let before = text(&draw(&mut app, &engine, 40, 10));
    let body = |s: &str| {
        s.lines()
            .skip(1)
            .take(6)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    engine
        .apply(sandmux::engine::Command::SendLine {
            session: id,
            text: "go".into(),
        })
        .unwrap();
    // 60 lines of output and the `go` that was sent.
    settle(&mut engine, |e| {
        e.session(id).unwrap().scrollback.len() == 61
    })
    .await;
    let event = sandmux::engine::Event::Output {
        session: id,
        stream: sandmux::engine::Stream::Stdout,
        bytes: 1,
    };
    app.on_engine_event(&event, &engine);
    let after = text(&draw(&mut app, &engine, 40, 10));
    assert_eq!(
        body(&before),
        body(&after),
        "the view moved:\n{before}\n{after}"
    );
    assert!(after.contains("new output"), "{after}");
    app.on_key(key(KeyCode::End), &mut engine);
    let followed = text(&draw(&mut app, &engine, 40, 10));
    assert!(followed.contains(" 60"), "{followed}");
    engine.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn search_highlights_matches_and_moves_between_them() {
    let mut engine = finished(vec![sh("log", "for i in 1 2 3 4 5 6 7 8 9; do echo line $i; done; echo needle one; seq 10 30; echo needle two; seq 31 35")]).await;
    let mut app = App::new(&engine);
    draw(&mut app, &engine, 40, 10);
    app.on_key(
        KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL),
        &mut engine,
    );
    for c in "needle".chars() {
        app.on_key(key(KeyCode::Char(c)), &mut engine);
    }
    let buffer = draw(&mut app, &engine, 40, 10);
    let screen = text(&buffer);
    assert!(screen.contains("needle two"), "{screen}");
    assert!(screen.contains("search/needle"), "{screen}");
    let row = screen
        .lines()
        .position(|l| l.contains("needle two"))
        .unwrap() as u16;
    let col = screen
        .lines()
        .nth(row as usize)
        .unwrap()
        .chars()
        .position(|c| c == 'n')
        .unwrap() as u16;
    assert_eq!(
        buffer[(col, row)].bg,
        Color::LightGreen,
        "the current match stands out"
    );
    app.on_key(key(KeyCode::Up), &mut engine);
    let screen = text(&draw(&mut app, &engine, 40, 10));
    assert!(screen.contains("needle one"), "{screen}");
    app.on_key(key(KeyCode::F(4)), &mut engine);
    app.on_key(key(KeyCode::End), &mut engine);
    let screen = text(&draw(&mut app, &engine, 40, 10));
    assert!(
        !screen.contains(" 12 "),
        "the filter hides other lines: {screen}"
    );
    assert!(
        screen.contains("needle one") && screen.contains("needle two"),
        "{screen}"
    );
    app.on_key(key(KeyCode::Esc), &mut engine);
    assert!(app.panes[0].search.is_none());
}

#[tokio::test]
async fn typing_and_enter_send_a_line_and_history_recalls_it() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    let id = engine
        .add(SessionSpec::local(
            "echo",
            vec!["sed".into(), "-u".into(), "s/^/ack:/".into()],
        ))
        .unwrap();
    let mut app = App::new(&engine);
    for c in "hi there".chars() {
        app.on_key(key(KeyCode::Char(c)), &mut engine);
    }
    assert!(text(&draw(&mut app, &engine, 40, 6)).contains("› hi there"));
    app.on_key(key(KeyCode::Enter), &mut engine);
    settle(&mut engine, |e| {
        e.session(id).unwrap().scrollback.len() == 2
    })
    .await;
    let screen = text(&draw(&mut app, &engine, 40, 6));
    assert!(screen.contains("ack:hi there"), "{screen}");
    assert!(
        !screen.contains("› hi there"),
        "the editor is empty: {screen}"
    );
    // What was sent shows above its answer, marked as input.
    let echo = screen.find("›hi there").expect("the input is echoed");
    assert!(echo < screen.find("ack:hi there").unwrap(), "{screen}");
    app.on_key(key(KeyCode::Up), &mut engine);
    assert_eq!(app.panes[0].line(), "hi there");
    app.on_key(
        KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
        &mut engine,
    );
    app.panes[0].set_line("");
    app.on_key(
        KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
        &mut engine,
    );
    settle(&mut engine, |e| !e.any_live()).await;
    assert!(text(&draw(&mut app, &engine, 40, 6)).contains("exited 0"));
}

#[tokio::test]
async fn broadcast_sends_to_every_marked_pane() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    for name in ["a", "b", "c"] {
        engine
            .add(SessionSpec::local(name, vec!["cat".into()]))
            .unwrap();
    }
    let mut app = App::new(&engine);
    app.on_key(key(KeyCode::F(9)), &mut engine);
    app.on_key(key(KeyCode::Tab), &mut engine);
    app.on_key(key(KeyCode::Tab), &mut engine);
    app.on_key(key(KeyCode::F(9)), &mut engine);
    app.on_paste("to all\n", &mut engine);
    settle(&mut engine, |e| {
        e.session(0).unwrap().scrollback.len() == 1 && e.session(2).unwrap().scrollback.len() == 1
    })
    .await;
    assert!(
        engine.session(1).unwrap().scrollback.is_empty(),
        "an unmarked pane got the line"
    );
    let screen = text(&draw(&mut app, &engine, 90, 6));
    assert!(screen.contains("[B]"), "{screen}");
    engine.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn tiny_terminals_do_not_panic() {
    let mut engine = finished(numbered(5)).await;
    let mut app = App::new(&engine);
    for (w, h) in [(1, 1), (2, 2), (5, 3), (10, 1), (1, 10), (200, 2)] {
        draw(&mut app, &engine, w, h);
        app.on_key(key(KeyCode::F(1)), &mut engine);
        draw(&mut app, &engine, w, h);
        app.on_key(key(KeyCode::Esc), &mut engine);
        app.on_key(key(KeyCode::PageUp), &mut engine);
        app.on_key(key(KeyCode::F(2)), &mut engine);
        draw(&mut app, &engine, w, h);
    }
}

#[tokio::test]
async fn the_help_overlay_lists_the_keys() {
    let mut engine = finished(numbered(1)).await;
    let mut app = App::new(&engine);
    app.on_key(key(KeyCode::F(1)), &mut engine);
    let screen = text(&draw(&mut app, &engine, 110, 50));
    for needle in [
        "Ctrl-Q",
        "Tab / Shift-Tab",
        "PageUp / PageDown",
        "F5",
        "Mouse",
    ] {
        assert!(screen.contains(needle), "{needle}: {screen}");
    }
    app.on_key(key(KeyCode::Esc), &mut engine);
    assert!(!app.help);
}

fn recorded() -> SessionSpec {
    let path = format!(
        "{}/assets/recorded-stream.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    SessionSpec {
        protocol: sandmux::engine::Protocol::StreamJson,
        ..SessionSpec::local("agent", vec!["cat".into(), path])
    }
}

#[tokio::test]
async fn chat_view_renders_a_recorded_agent_conversation() {
    let engine = finished(vec![recorded()]).await;
    let mut app = App::new(&engine);
    assert_eq!(
        app.panes[0].view,
        sandmux::engine::View::Chat,
        "stream-json sessions start in chat"
    );
    insta::assert_snapshot!(text(&draw(&mut app, &engine, 100, 28)));
}

#[tokio::test]
async fn json_view_pretty_prints_and_keeps_bad_lines() {
    let mut engine = finished(vec![recorded()]).await;
    let mut app = App::new(&engine);
    app.on_key(key(KeyCode::F(10)), &mut engine);
    assert_eq!(app.panes[0].view, sandmux::engine::View::Raw);
    app.on_key(key(KeyCode::F(10)), &mut engine);
    assert_eq!(app.panes[0].view, sandmux::engine::View::Json);
    let buffer = draw(&mut app, &engine, 100, 24);
    let screen = text(&buffer);
    assert!(screen.contains("[json]"), "{screen}");
    assert!(screen.contains("\"mystery_event\""), "{screen}");
    assert!(
        screen.contains("{\"type\":\"assistant\", this line is broken"),
        "malformed JSON is shown as is: {screen}"
    );
    assert!(screen.contains("�� not utf-8 at all"), "{screen}");
    let row = screen
        .lines()
        .position(|l| l.contains("\"payload\""))
        .unwrap() as u16;
    let col = screen
        .lines()
        .nth(row as usize)
        .unwrap()
        .chars()
        .position(|c| c == '"')
        .unwrap() as u16;
    assert_eq!(buffer[(col, row)].fg, Color::Cyan, "keys are coloured");
    // Switching views never loses or reorders the raw lines.
    app.on_key(key(KeyCode::F(10)), &mut engine);
    app.on_key(key(KeyCode::F(10)), &mut engine);
    let raw = text(&draw(&mut app, &engine, 220, 24));
    let lines = std::fs::read(format!(
        "{}/assets/recorded-stream.jsonl",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(
        engine.session(0).unwrap().scrollback.len(),
        lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    );
    assert!(
        raw.contains("{\"type\":\"result\",\"subtype\":\"success\""),
        "{raw}"
    );
}

#[tokio::test]
async fn a_one_mebibyte_json_line_and_deep_nesting_render() {
    let script = "python3 -c \"import json,sys; sys.stdout.write(json.dumps({'type':'assistant','message':{'content':[{'type':'text','text':'x'*((1<<20)-200)}]}})+'\\n'); sys.stdout.write('['*10000+']'*10000+'\\n'); sys.stdout.write(json.dumps({'k':'v'*((1<<20)-100)})+'\\n')\"";
    let engine = finished(vec![SessionSpec {
        protocol: sandmux::engine::Protocol::StreamJson,
        ..sh("big", script)
    }])
    .await;
    let lines: Vec<usize> = engine
        .session(0)
        .unwrap()
        .scrollback
        .iter()
        .map(|l| l.bytes.len())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0] > (1 << 20) - 200 && lines[0] <= 1 << 20,
        "{lines:?}"
    );
    let mut app = App::new(&engine);
    let mut engine = engine;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let screen = text(&draw(&mut app, &engine, 120, 30));
        assert!(started.elapsed() < Duration::from_secs(5));
        if app.panes[0].view != sandmux::engine::View::Raw {
            assert!(screen.contains("\"k\": \"vvvv"), "{screen}");
            assert!(
                screen.contains("chars)"),
                "the long string is folded: {screen}"
            );
        }
        app.on_key(key(KeyCode::F(10)), &mut engine);
    }
}

#[tokio::test]
async fn titles_show_activity_and_agents_awaiting_input() {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    let agent = engine
        .add(SessionSpec {
            protocol: sandmux::engine::Protocol::StreamJson,
            ..SessionSpec::local(
                "agent",
                vec![env!("CARGO_BIN_EXE_sandmux").into(), "demo-agent".into()],
            )
        })
        .unwrap();
    engine.add(sh("quiet", "sleep 30")).unwrap();
    // Like the real CLI, the agent says nothing before its first message.
    settle(&mut engine, |e| {
        matches!(
            e.session(agent).unwrap().state,
            sandmux::engine::SessionState::Running { .. }
        )
    })
    .await;
    let mut app = App::new(&engine);
    let screen = text(&draw(&mut app, &engine, 120, 12));
    assert!(screen.contains("agent · awaiting input"), "{screen}");
    assert!(screen.contains("1 awaiting input"), "{screen}");
    // A turn typed into a stream-json pane goes out as a user message; the reply ends it.
    for c in "hi".chars() {
        app.on_key(key(KeyCode::Char(c)), &mut engine);
    }
    app.on_key(key(KeyCode::Enter), &mut engine);
    assert!(text(&draw(&mut app, &engine, 120, 12)).contains("agent · working"));
    settle(&mut engine, |e| e.session(agent).unwrap().awaiting_input).await;
    let screen = text(&draw(&mut app, &engine, 120, 12));
    assert!(screen.contains("◆ You said: hi"), "{screen}");
    assert!(screen.contains("turn done"), "{screen}");
    assert!(screen.contains("agent · awaiting input"), "{screen}");
    engine.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn page_up_to_the_top_shows_a_full_page_from_the_first_line() {
    let engine = finished(vec![sh("c", "seq 1 100")]).await;
    let mut app = App::new(&engine);
    let mut engine = engine;
    draw(&mut app, &engine, 30, 12);
    for _ in 0..20 {
        app.on_key(key(KeyCode::PageUp), &mut engine);
    }
    let screen = text(&draw(&mut app, &engine, 30, 12));
    let rows: Vec<&str> = screen
        .lines()
        .skip(1)
        .take(8)
        .map(|l| l.trim_matches(|c: char| c == '┃' || c == ' '))
        .collect();
    assert_eq!(rows, ["1", "2", "3", "4", "5", "6", "7", "8"], "{screen}");
    // One PageDown moves at once.
    app.on_key(key(KeyCode::PageDown), &mut engine);
    let screen = text(&draw(&mut app, &engine, 30, 12));
    assert!(!screen.lines().nth(1).unwrap().contains(" 1 "), "{screen}");
}
