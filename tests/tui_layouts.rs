//! Many sessions at once (#11), whole-screen: the tiles and list layouts, groups, the
//! jump-by-name picker and attention marks, with real sessions, the real App and ratatui's
//! TestBackend.

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use sandmux::config::LayoutSetting;
use sandmux::engine::{Engine, SessionSpec};
use sandmux::tui::app::{App, LayoutKind};
use sandmux::tui::attention::{Alerts, NotifyStyle};

use common::screen::{draw, text, watched};
use common::sh;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn grouped(name: &str, group: &str, script: &str) -> SessionSpec {
    SessionSpec {
        group: Some(group.into()),
        ..sh(name, script)
    }
}

/// Thirteen sessions: three ungrouped, six agents (one fails to start) and four workers
/// (one exits 3).
fn fleet() -> Vec<SessionSpec> {
    let mut specs = vec![
        sh("build", "echo compiling sandmux; echo done"),
        sh("db", "echo 'sqlite> '"),
        sh("logs", "printf 'a\\033]0;pwned\\007b GET /health 200\\n'"),
    ];
    for i in 1..=5 {
        specs.push(grouped(
            &format!("agent-{i}"),
            "agents",
            &format!("echo agent {i} ready"),
        ));
    }
    specs.push(SessionSpec {
        group: Some("agents".into()),
        ..SessionSpec::local("agent-6", vec!["no-such-agent-sandmux".into()])
    });
    for i in 1..=3 {
        specs.push(grouped(
            &format!("worker-{i}"),
            "workers",
            &format!("echo job {i} finished"),
        ));
    }
    specs.push(grouped(
        "worker-4",
        "workers",
        "echo job 4 broke >&2; exit 3",
    ));
    specs
}

async fn fleet_app(layout: LayoutSetting) -> (Engine, App) {
    let (engine, mut app) = watched(fleet()).await;
    app.layout_setting = layout;
    (engine, app)
}

#[tokio::test]
async fn list_layout_at_80x24() {
    let (engine, mut app) = fleet_app(LayoutSetting::Auto).await;
    assert_eq!(
        app.layout(),
        LayoutKind::List,
        "13 sessions start in the list"
    );
    insta::assert_snapshot!(text(&draw(&mut app, &engine, 80, 24)));
}

#[tokio::test]
async fn list_layout_at_200x60() {
    let (engine, mut app) = fleet_app(LayoutSetting::List).await;
    insta::assert_snapshot!(text(&draw(&mut app, &engine, 200, 60)));
}

#[tokio::test]
async fn tiles_layout_at_80x24() {
    let (engine, mut app) = fleet_app(LayoutSetting::Tiles).await;
    insta::assert_snapshot!(text(&draw(&mut app, &engine, 80, 24)));
}

#[tokio::test]
async fn tiles_layout_at_200x60() {
    let (engine, mut app) = fleet_app(LayoutSetting::Tiles).await;
    insta::assert_snapshot!(text(&draw(&mut app, &engine, 200, 60)));
}

#[tokio::test]
async fn every_row_shows_name_state_marks_and_the_last_line_made_safe() {
    let (engine, mut app) = fleet_app(LayoutSetting::List).await;
    let screen = text(&draw(&mut app, &engine, 200, 60));
    let row = |name: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
            .to_string()
    };
    assert!(row("build").contains("exit 0"), "{screen}");
    assert!(
        row("build").contains("done"),
        "the last output line: {screen}"
    );
    assert!(row("worker-4").contains(" !•worker-4"), "{screen}");
    assert!(row("worker-4").contains("exit 3"), "{screen}");
    assert!(row("worker-4").contains("job 4 broke"), "{screen}");
    assert!(row("agent-6").contains("failed"), "{screen}");
    assert!(row("agent-6").starts_with(" !"), "{screen}");
    assert!(row("logs").contains("ab GET /health 200"), "{screen}");
    assert!(
        !screen.contains("pwned"),
        "escapes never reach the list: {screen}"
    );
    assert!(screen.contains("▾ agents (6) 1!"), "{screen}");
    assert!(screen.contains("▾ workers (4) 1!"), "{screen}");
    assert!(screen.contains("2 need you"), "{screen}");
    assert!(
        !row("build").contains('!'),
        "the focused session is never marked"
    );
}

#[tokio::test]
async fn up_and_down_move_the_focus_and_groups_fold() {
    let (mut engine, mut app) = fleet_app(LayoutSetting::List).await;
    assert!(app.list.keys, "the list has the keys at first");
    app.on_key(key(KeyCode::Down), &mut engine);
    assert_eq!(app.panes[app.focus].name, "db");
    for _ in 0..2 {
        app.on_key(key(KeyCode::Down), &mut engine);
    }
    assert_eq!(app.list.header.as_deref(), Some("agents"), "on the header");
    app.on_key(key(KeyCode::Enter), &mut engine);
    let screen = text(&draw(&mut app, &engine, 120, 30));
    assert!(screen.contains("▸ agents (6) 1!"), "{screen}");
    assert!(!screen.contains("agent-3"), "{screen}");
    app.on_key(key(KeyCode::Down), &mut engine);
    assert_eq!(
        app.list.header.as_deref(),
        Some("workers"),
        "folded rows skipped"
    );
    app.on_key(key(KeyCode::Down), &mut engine);
    assert_eq!(app.panes[app.focus].name, "worker-1");
    app.on_key(key(KeyCode::Left), &mut engine);
    assert_eq!(
        app.list.header.as_deref(),
        Some("workers"),
        "Left folds its group"
    );
    app.on_key(key(KeyCode::Right), &mut engine);
    app.on_key(key(KeyCode::End), &mut engine);
    assert_eq!(app.panes[app.focus].name, "worker-4");
    assert!(
        app.panes[app.focus].attention.is_none(),
        "focus clears the mark"
    );
    // Typing hands the keys to the editor; Esc gives them back.
    app.on_key(key(KeyCode::Char('x')), &mut engine);
    assert!(!app.list.keys);
    assert_eq!(app.panes[app.focus].line(), "x");
    app.on_key(key(KeyCode::Esc), &mut engine);
    assert!(app.list.keys);
    // Tab skips folded groups in the list.
    app.on_key(key(KeyCode::Home), &mut engine);
    app.on_key(key(KeyCode::Down), &mut engine);
    app.on_key(key(KeyCode::Down), &mut engine);
    app.on_key(key(KeyCode::Tab), &mut engine);
    assert_eq!(app.panes[app.focus].name, "worker-1", "agents are folded");
}

#[tokio::test]
async fn f11_switches_layouts_and_pages_hold_every_tile() {
    let (mut engine, mut app) = fleet_app(LayoutSetting::Auto).await;
    app.on_key(key(KeyCode::F(11)), &mut engine);
    assert_eq!(app.layout(), LayoutKind::Tiles);
    let first = text(&draw(&mut app, &engine, 80, 24));
    assert!(first.contains("page 1/4"), "{first}");
    let mut seen = Vec::new();
    for page in 1..=4 {
        let screen = text(&draw(&mut app, &engine, 80, 24));
        assert!(screen.contains(&format!("page {page}/4")), "{screen}");
        for pane in &app.panes {
            if screen.contains(&format!(" {} · ", pane.name)) && !seen.contains(&pane.name) {
                seen.push(pane.name.clone());
            }
        }
        app.on_key(
            KeyEvent::new(KeyCode::PageDown, KeyModifiers::CONTROL),
            &mut engine,
        );
    }
    assert_eq!(seen.len(), 13, "{seen:?}");
    app.on_key(
        KeyEvent::new(KeyCode::PageUp, KeyModifiers::ALT),
        &mut engine,
    );
    assert!(text(&draw(&mut app, &engine, 80, 24)).contains("page 3/4"));
    // Tab onto the next page turns the page.
    app.on_key(key(KeyCode::Tab), &mut engine);
    app.on_key(key(KeyCode::Tab), &mut engine);
    app.on_key(key(KeyCode::Tab), &mut engine);
    app.on_key(key(KeyCode::Tab), &mut engine);
    assert!(text(&draw(&mut app, &engine, 80, 24)).contains("page 4/4"));
    app.on_key(key(KeyCode::F(11)), &mut engine);
    assert_eq!(app.layout(), LayoutKind::List);
}

#[tokio::test]
async fn ctrl_g_jumps_by_a_fuzzy_name_and_ctrl_n_to_what_needs_you() {
    let (mut engine, mut app) = fleet_app(LayoutSetting::List).await;
    app.on_key(ctrl('g'), &mut engine);
    for c in "wk3".chars() {
        app.on_key(key(KeyCode::Char(c)), &mut engine);
    }
    let screen = text(&draw(&mut app, &engine, 120, 30));
    assert!(screen.contains("jump to a session: 1 of 13"), "{screen}");
    app.on_key(key(KeyCode::Enter), &mut engine);
    assert!(app.picker.is_none());
    assert_eq!(app.panes[app.focus].name, "worker-3");
    assert!(!app.list.keys, "keys go to the chosen session's editor");
    app.on_key(ctrl('g'), &mut engine);
    app.on_key(key(KeyCode::Char('q')), &mut engine);
    app.on_key(key(KeyCode::Esc), &mut engine);
    assert!(app.picker.is_none(), "Esc closes");
    assert_eq!(app.panes[app.focus].name, "worker-3", "and focuses nothing");

    assert_eq!(app.attention_count(), 2);
    app.on_key(ctrl('n'), &mut engine);
    assert_eq!(app.panes[app.focus].name, "worker-4");
    app.on_key(ctrl('n'), &mut engine);
    assert_eq!(app.panes[app.focus].name, "agent-6");
    assert_eq!(app.attention_count(), 0);
    app.on_key(ctrl('n'), &mut engine);
    assert_eq!(
        app.panes[app.focus].name, "agent-6",
        "nothing left: focus stays"
    );
}

#[tokio::test]
async fn f9_on_a_group_header_marks_the_whole_group() {
    let (mut engine, mut app) = fleet_app(LayoutSetting::List).await;
    for _ in 0..3 {
        app.on_key(key(KeyCode::Down), &mut engine);
    }
    app.on_key(key(KeyCode::F(9)), &mut engine);
    let marked: Vec<&str> = app
        .panes
        .iter()
        .filter(|p| p.marked)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(marked.len(), 6, "{marked:?}");
    assert!(marked.iter().all(|n| n.starts_with("agent-")));
    app.on_key(key(KeyCode::F(9)), &mut engine);
    assert!(app.panes.iter().all(|p| !p.marked), "again unmarks");
    app.on_key(key(KeyCode::End), &mut engine);
    app.on_key(
        KeyEvent::new(KeyCode::F(9), KeyModifiers::SHIFT),
        &mut engine,
    );
    assert_eq!(app.panes.iter().filter(|p| p.marked).count(), 4, "Shift-F9");
}

#[tokio::test]
async fn alerts_are_written_only_when_opted_in_and_never_carry_output() {
    let evil = "printf '\\033]777;notify;evil;pwned\\033\\\\\\007\\n'; exit 4";
    let specs = || vec![sh("calm", "sleep 0.2"), sh("bad", evil)];
    let (_engine, mut app) = watched(specs()).await;
    assert_eq!(app.attention_count(), 1);
    assert!(app.take_alerts().is_empty(), "off by default");

    let mut engine = sandmux::startup::engine(Default::default());
    for spec in specs() {
        engine.add(spec).unwrap();
    }
    let mut app = App::new(&engine);
    app.alerts = Alerts {
        bell: true,
        notify: Some(NotifyStyle::Osc777),
    };
    while engine.any_live() {
        let event = engine.next_event().await;
        app.on_engine_event(&event, &engine);
    }
    let bytes = app.take_alerts();
    assert_eq!(
        bytes,
        b"\x07\x1b]777;notify;sandmux: bad;bad exited 4\x1b\\",
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
}

fn click(column: u16, row: u16) -> crossterm::event::Event {
    crossterm::event::Event::Mouse(crossterm::event::MouseEvent {
        kind: crossterm::event::MouseEventKind::Down(crossterm::event::MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

#[tokio::test]
async fn clicks_focus_rows_fold_headers_and_pick_tiles() {
    let (mut engine, mut app) = fleet_app(LayoutSetting::List).await;
    draw(&mut app, &engine, 120, 30);
    // Row 4 of the list is agent-1 (build, db, logs, the agents header).
    app.on_terminal_event(click(5, 4), &mut engine);
    assert_eq!(app.panes[app.focus].name, "agent-1");
    assert!(app.list.keys);
    // A click on the header puts the cursor there; a second one folds the group.
    app.on_terminal_event(click(5, 3), &mut engine);
    assert_eq!(app.list.header.as_deref(), Some("agents"));
    app.on_terminal_event(click(5, 3), &mut engine);
    let screen = text(&draw(&mut app, &engine, 120, 30));
    assert!(screen.contains("▸ agents (6)"), "{screen}");
    // A click on the pane gives its editor the keys.
    app.on_terminal_event(click(100, 10), &mut engine);
    assert!(!app.list.keys);

    app.layout_setting = LayoutSetting::Tiles;
    app.set_focus(0);
    draw(&mut app, &engine, 80, 24);
    // The page of 2x2 tiles: the bottom right one is the fourth in order.
    app.on_terminal_event(click(60, 15), &mut engine);
    assert_eq!(app.panes[app.focus].name, "agent-1");
}

#[tokio::test]
async fn tiny_terminals_draw_every_layout_and_overlay_without_panicking() {
    let (mut engine, mut app) = fleet_app(LayoutSetting::List).await;
    for layout in [LayoutSetting::List, LayoutSetting::Tiles] {
        app.layout_setting = layout;
        for (w, h) in [(1, 1), (2, 3), (10, 4), (30, 8), (41, 9), (80, 2)] {
            draw(&mut app, &engine, w, h);
            app.on_key(ctrl('g'), &mut engine);
            app.on_key(key(KeyCode::Char('a')), &mut engine);
            draw(&mut app, &engine, w, h);
            app.on_key(key(KeyCode::Esc), &mut engine);
            for code in [
                KeyCode::Down,
                KeyCode::PageDown,
                KeyCode::End,
                KeyCode::Left,
            ] {
                app.on_key(key(code), &mut engine);
                draw(&mut app, &engine, w, h);
            }
            app.on_terminal_event(click(0, 0), &mut engine);
            app.on_key(
                KeyEvent::new(KeyCode::PageDown, KeyModifiers::CONTROL),
                &mut engine,
            );
            draw(&mut app, &engine, w, h);
        }
    }
}
