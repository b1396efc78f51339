//! Tests of the pane's layout: rows, wrapping, input echo, search highlights and scrolling.

use ratatui::style::Color;

use super::*;
use crate::engine::ScrollbackLimits;
use crate::tui::pane::Pane;

fn sb(lines: &[&str]) -> Scrollback {
    let mut sb = Scrollback::new(ScrollbackLimits::default());
    for l in lines {
        sb.push(Stream::Stdout, format!("{l}\n").as_bytes());
    }
    sb
}

fn texts(rows: &[TextLine<'_>]) -> Vec<String> {
    rows.iter()
        .map(|r| r.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect()
}

#[test]
fn the_view_shows_the_newest_lines_at_the_bottom() {
    let sb = sb(&["1", "2", "3", "4"]);
    let pane = Pane::new(0);
    let rows = visible_rows(&sb, pane.bottom(&sb), 10, 2, None, View::Raw, None);
    assert_eq!(texts(&rows), vec![" 3", " 4"]);
}

#[test]
fn long_lines_wrap_and_the_top_line_is_cut() {
    let sb = sb(&["abcdefghij", "xy"]);
    let rows = visible_rows(&sb, Some(1), 5, 3, None, View::Raw, None);
    assert_eq!(texts(&rows), vec![" efgh", " ij", " xy"]);
}

#[test]
fn scrolling_up_pins_the_view_and_follow_releases_it() {
    let mut s = sb(&["1", "2", "3", "4", "5"]);
    let mut pane = Pane::new(0);
    pane.scroll(&s, -2, 1);
    assert_eq!(pane.anchor, Some(2));
    s.push(Stream::Stdout, b"6\n");
    assert_eq!(
        pane.bottom(&s),
        Some(2),
        "new output does not move the view"
    );
    pane.scroll(&s, 10, 1);
    assert_eq!(pane.anchor, None);
    pane.scroll(&s, -100, 1);
    assert_eq!(pane.anchor, Some(0));
}

#[test]
fn search_finds_older_and_newer_matches_and_highlights_them() {
    let s = sb(&["apple", "banana", "apple pie", "cherry"]);
    let mut pane = Pane::new(0);
    pane.search = Some(Search::default());
    pane.search
        .as_mut()
        .unwrap()
        .set_query("APPLE".to_lowercase());
    assert!(pane.find(&s, 3, true));
    assert_eq!(pane.search.as_ref().unwrap().current, Some(2));
    assert!(pane.find(&s, 1, true));
    assert_eq!(pane.search.as_ref().unwrap().current, Some(0));
    assert!(!pane.find(&s, 3, false));
    assert_eq!(pane.bottom(&s), Some(0), "the view moved to the match");
    let rows = visible_rows(&s, Some(3), 20, 4, pane.search.as_ref(), View::Raw, None);
    let highlighted: Vec<_> = rows[0]
        .spans
        .iter()
        .filter(|sp| sp.style.bg == Some(Color::LightGreen))
        .collect();
    assert_eq!(highlighted[0].content, "apple");
    let other: Vec<_> = rows[2]
        .spans
        .iter()
        .filter(|sp| sp.style.bg == Some(Color::Yellow))
        .collect();
    assert_eq!(other[0].content, "apple");
}

#[test]
fn smart_case_and_bad_regexes() {
    let mut search = Search::default();
    search.set_query("Apple".into());
    assert!(!search.regex.as_ref().unwrap().is_match("apple"));
    search.set_query("(".into());
    assert!(search.regex.is_none());
    assert!(search.error.is_some());
}

#[test]
fn the_filter_shows_only_matching_lines() {
    let s = sb(&["error 1", "ok", "error 2", "ok"]);
    let mut search = Search {
        filter: true,
        ..Default::default()
    };
    search.set_query("error".into());
    let rows = visible_rows(&s, Some(3), 20, 5, Some(&search), View::Raw, None);
    assert_eq!(texts(&rows), vec![" error 1", " error 2"]);
}

#[test]
fn stderr_rows_carry_a_red_gutter() {
    let mut s = Scrollback::new(ScrollbackLimits::default());
    s.push(Stream::Stderr, b"bad\n");
    let rows = visible_rows(&s, Some(0), 10, 1, None, View::Raw, None);
    assert_eq!(rows[0].spans[0].content, "▍");
    assert_eq!(rows[1 - 1].spans[1].style.fg, Some(Color::LightRed));
}

#[test]
fn history_walks_back_and_restores_the_draft() {
    let mut pane = Pane::new(0);
    pane.set_line("one");
    assert_eq!(pane.take_line(), "one");
    pane.set_line("two");
    pane.take_line();
    pane.set_line("draft");
    pane.history_prev();
    assert_eq!(pane.line(), "two");
    pane.history_prev();
    assert_eq!(pane.line(), "one");
    pane.history_prev();
    assert_eq!(pane.line(), "one");
    pane.history_next();
    pane.history_next();
    assert_eq!(pane.line(), "draft");
}

#[test]
fn tiny_views_do_not_panic() {
    let s = sb(&["日本語のテキスト", "x"]);
    for w in 0..4 {
        for h in 0..3 {
            let _ = visible_rows(&s, Some(1), w, h, None, View::Chat, None);
        }
    }
}

fn conversation() -> Scrollback {
    // What `python3 -i -u -q` writes, with the input sandmux sent in between.
    let mut sb = Scrollback::new(ScrollbackLimits::default());
    for (stream, bytes) in [
        (Stream::Stderr, ">>> "),
        (Stream::Stdin, "6*7\n"),
        (Stream::Stdout, "42\n"),
        (Stream::Stderr, ">>> "),
        (Stream::Stdin, "print(\"q\"*3)\n"),
        (Stream::Stdout, "qqq\n"),
        (Stream::Stderr, ">>> "),
    ] {
        sb.push(stream, bytes.as_bytes());
    }
    sb
}

#[test]
fn a_repl_reads_prompt_input_then_output_in_order() {
    let sb = conversation();
    let rows = visible_rows(&sb, Some(sb.end_seq() - 1), 40, 10, None, View::Raw, None);
    assert_eq!(
        texts(&rows),
        vec!["›>>> 6*7", " 42", "›>>> print(\"q\"*3)", " qqq", "▍>>> "]
    );
    // The input part of a shared row is styled as input, the prompt as stderr.
    let spans = &rows[0].spans;
    assert_eq!(spans[0].content, "›");
    let input = spans.iter().find(|s| s.content == "6*7").unwrap();
    assert!(
        input
            .style
            .add_modifier
            .contains(ratatui::style::Modifier::DIM)
    );
    let prompt = spans.iter().find(|s| s.content == ">>> ").unwrap();
    assert_eq!(prompt.style.fg, Some(Color::LightRed));
}

#[test]
fn input_without_a_prompt_has_a_row_of_its_own() {
    let mut sb = Scrollback::new(ScrollbackLimits::default());
    sb.push(Stream::Stdin, b"hello\n");
    sb.push(Stream::Stdout, b"ack:hello\n");
    let rows = visible_rows(&sb, Some(1), 20, 5, None, View::Raw, None);
    assert_eq!(texts(&rows), vec!["›hello", " ack:hello"]);
}

#[test]
fn a_prompt_at_the_bottom_of_the_view_shows_without_its_input() {
    let sb = conversation();
    let rows = visible_rows(&sb, Some(3), 40, 2, None, View::Raw, None);
    assert_eq!(texts(&rows), vec![" 42", "▍>>> "]);
    // Scrolled to the top: the rest of the page is filled once, without repeating the prompt.
    let rows = visible_rows(&sb, Some(0), 40, 3, None, View::Raw, None);
    assert_eq!(texts(&rows), vec!["▍>>> ", "›6*7", " 42"]);
}

#[test]
fn page_up_to_the_top_shows_a_full_page() {
    let s = sb(&(1..=100)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    let mut pane = Pane::new(0);
    pane.scroll(&s, -1000, 10);
    assert_eq!(
        pane.anchor,
        Some(9),
        "the bottom line keeps a page above it"
    );
    let rows = visible_rows(&s, pane.bottom(&s), 10, 10, None, View::Raw, None);
    assert_eq!(texts(&rows).first().map(String::as_str), Some(" 1"));
    assert_eq!(texts(&rows).last().map(String::as_str), Some(" 10"));
    // Even when the bottom is the first line, the view is full.
    let rows = visible_rows(&s, Some(0), 10, 10, None, View::Raw, None);
    assert_eq!(rows.len(), 10);
    assert_eq!(texts(&rows)[9], " 10");
    pane.scroll(&s, 9, 10);
    assert_eq!(pane.anchor, Some(18), "PageDown moves at once");
}

#[test]
fn chat_view_shows_the_users_own_turns() {
    let mut sb = Scrollback::new(ScrollbackLimits::default());
    sb.push(
        Stream::Stdin,
        br#"{"type":"user","message":{"role":"user","content":"hello there"}}"#,
    );
    sb.push(Stream::Stdin, b"\n");
    sb.push(Stream::Stdout, br#"{"type":"assistant","message":{"content":[{"type":"text","text":"You said: hello there"}]}}"#);
    sb.push(Stream::Stdout, b"\n");
    let rows = visible_rows(&sb, Some(1), 40, 5, None, View::Chat, None);
    assert_eq!(
        texts(&rows),
        vec!["› hello there", " ◆ You said: hello there"]
    );
}

#[test]
fn a_json_line_cut_by_other_output_shows_whole_where_it_ends() {
    let mut sb = Scrollback::new(ScrollbackLimits::default());
    sb.push(
        Stream::Stdout,
        br#"{"type":"assistant","message":{"content":[{"type":"te"#,
    );
    sb.push(Stream::Stderr, b"debug: tick\n");
    sb.push(Stream::Stdout, b"xt\",\"text\":\"hi\"}]}}\n");
    let rows = visible_rows(&sb, Some(2), 40, 5, None, View::Chat, None);
    assert_eq!(texts(&rows), vec!["▍debug: tick", " ◆ hi"]);
    let raw = visible_rows(&sb, Some(2), 80, 5, None, View::Raw, None);
    assert_eq!(raw.len(), 3, "the raw view shows the pieces as they came");
}
