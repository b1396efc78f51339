//! The F1 help at 80x24, 120x40 and 200x60: wrapped between words, scrolled with
//! Up/Down and PageUp/PageDown, saying how; and the status line's hint until it is opened.

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use sandmux::tui::app::App;
use sandmux::tui::keymap;

use common::screen::{draw, finished, text};
use common::sh;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// The rows of the help overlay, without its borders.
fn help_rows(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter_map(|line| {
            let start = line.find('│')?;
            let end = line.rfind('│')?;
            (end > start).then(|| line[start + '│'.len_utf8()..end].trim_end().to_string())
        })
        .collect()
}

/// Every word of every key's description appears whole in the help, in order, however
/// the rows wrap it: no word is cut.
fn assert_whole_words(rows: &[String]) {
    let words: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            row.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let shown = words.join(" ");
    for (keys, what) in keymap::help_lines() {
        assert!(
            shown.contains(what),
            "`{keys}: {what}` is not shown whole:\n{}",
            rows.join("\n")
        );
    }
}

#[tokio::test]
async fn the_help_fits_and_scrolls_at_80x24() {
    let mut engine = finished(vec![sh("echo", "echo hi")]).await;
    let mut app = App::new(&engine);
    let first = text(&draw(&mut app, &engine, 80, 24));
    let status = first.lines().last().unwrap();
    assert!(status.starts_with(" F1 help · Ctrl-Q quit "), "{status}");
    app.on_key(key(KeyCode::F(1)), &mut engine);
    let top = text(&draw(&mut app, &engine, 80, 24));
    insta::assert_snapshot!("help_80x24_top", top);
    assert!(
        top.contains("↑↓ PgUp PgDn scroll"),
        "it says how to scroll:\n{top}"
    );
    // Row by row to the end: the first page, then each row Down brings in.
    let mut seen: Vec<String> = help_rows(&top);
    let mut last = top.clone();
    loop {
        app.on_key(key(KeyCode::Down), &mut engine);
        let screen = text(&draw(&mut app, &engine, 80, 24));
        if screen == last {
            break;
        }
        seen.push(help_rows(&screen).last().unwrap().clone());
        last = screen;
    }
    assert_whole_words(&seen);
    // PageUp and PageDown move a page at a time.
    app.on_key(key(KeyCode::Home), &mut engine);
    app.on_key(key(KeyCode::PageDown), &mut engine);
    let second = help_rows(&text(&draw(&mut app, &engine, 80, 24)));
    let page = help_rows(&top).len();
    assert_eq!(second[0], seen[page.min(seen.len() - second.len())]);
    app.on_key(key(KeyCode::PageDown), &mut engine);
    app.on_key(key(KeyCode::PageDown), &mut engine);
    let bottom = text(&draw(&mut app, &engine, 80, 24));
    insta::assert_snapshot!("help_80x24_bottom", bottom);
    assert!(
        bottom.contains("Ctrl-Q"),
        "the last page shows how to quit:\n{bottom}"
    );
    assert_eq!(bottom, last, "PageDown stops at the last page");
    // Up scrolls back one row; Home to the top.
    app.on_key(key(KeyCode::Up), &mut engine);
    let up = text(&draw(&mut app, &engine, 80, 24));
    assert_ne!(up, bottom);
    app.on_key(key(KeyCode::Home), &mut engine);
    assert_eq!(text(&draw(&mut app, &engine, 80, 24)), top);
    app.on_key(key(KeyCode::Esc), &mut engine);
    assert!(!app.help);
    // Once the help was seen, the hint gives way to the usual tips.
    let after = text(&draw(&mut app, &engine, 80, 24));
    assert!(
        !after
            .lines()
            .last()
            .unwrap()
            .starts_with(" F1 help · Ctrl-Q quit ")
    );
}

#[tokio::test]
async fn the_help_fits_at_120x40_and_200x60() {
    for (width, height) in [(120, 40), (200, 60)] {
        let mut engine = finished(vec![sh("echo", "echo hi")]).await;
        let mut app = App::new(&engine);
        app.on_key(key(KeyCode::F(1)), &mut engine);
        let screen = text(&draw(&mut app, &engine, width, height));
        insta::assert_snapshot!(format!("help_{width}x{height}"), screen);
        let rows = help_rows(&screen);
        assert_whole_words(&rows);
        assert!(screen.contains("Ctrl-Q"), "{screen}");
        assert!(screen.contains("Esc closes"), "{screen}");
    }
}

#[tokio::test]
async fn ctrl_q_in_the_help_quits() {
    let mut engine = finished(vec![sh("echo", "echo hi")]).await;
    let mut app = App::new(&engine);
    app.on_key(key(KeyCode::F(1)), &mut engine);
    app.on_key(
        KeyEvent::new(KeyCode::Char('q'), KeyModifiers::CONTROL),
        &mut engine,
    );
    assert!(app.quit && !app.help);
}
