//! One pane: the view state of a session (scroll position, search, line editor, history)
//! and how its output is laid out. Only the lines that are visible are rendered each frame.

use std::ops::Range;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui_textarea::TextArea;
use regex::Regex;
use unicode_width::UnicodeWidthChar;

use super::ansi::{self, Styled};
use super::views;
use crate::engine::{Line, Scrollback, SessionId, Stream, View};

/// The search of a pane.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub query: String,
    pub regex: Option<Regex>,
    pub error: Option<String>,
    /// Show only matching lines.
    pub filter: bool,
    /// The line of the current match.
    pub current: Option<u64>,
    /// Keys go to the query (rather than the line editor).
    pub editing: bool,
}

impl Search {
    /// Compiles the query: case-insensitive unless it has an upper-case letter.
    pub fn set_query(&mut self, query: String) {
        self.query = query;
        self.error = None;
        self.regex = None;
        if self.query.is_empty() {
            return;
        }
        let insensitive = !self.query.chars().any(char::is_uppercase);
        match regex::RegexBuilder::new(&self.query)
            .case_insensitive(insensitive)
            .size_limit(1 << 20)
            .build()
        {
            Ok(regex) => self.regex = Some(regex),
            Err(err) => self.error = Some(crate::text::regex_error(&err)),
        }
    }

    pub fn matches(&self, line: Line<'_>) -> bool {
        self.regex
            .as_ref()
            .is_some_and(|r| r.is_match(&ansi::plain(line.bytes)))
    }
}

/// The view state of one session's pane.
pub struct Pane {
    pub session: SessionId,
    pub input: TextArea<'static>,
    pub history: Vec<String>,
    history_pos: Option<usize>,
    draft: String,
    /// `None` follows new output; `Some(seq)` keeps line `seq` at the bottom of the view.
    pub anchor: Option<u64>,
    /// New output arrived while scrolled up.
    pub unseen: bool,
    /// Marked for broadcast.
    pub marked: bool,
    pub search: Option<Search>,
    /// How the lines are shown.
    pub view: View,
}

const MAX_HISTORY: usize = 1000;

impl Pane {
    pub fn new(session: SessionId) -> Self {
        let mut input = TextArea::default();
        input.set_placeholder_text("type a line; Enter sends it");
        input.set_placeholder_style(Style::default().fg(Color::DarkGray));
        input.set_cursor_line_style(Style::default());
        Pane {
            session,
            input,
            history: Vec::new(),
            history_pos: None,
            draft: String::new(),
            anchor: None,
            unseen: false,
            marked: false,
            search: None,
            view: View::Raw,
        }
    }

    /// Shows or hides the editor's cursor (only the focused pane shows one).
    pub fn set_focused(&mut self, focused: bool) {
        let style = if focused {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        self.input.set_cursor_style(style);
    }

    /// The editor's text.
    pub fn line(&self) -> String {
        self.input.lines().join("")
    }

    pub fn set_line(&mut self, text: &str) {
        self.input.select_all();
        self.input.cut();
        self.input.insert_str(text);
    }

    /// Takes the editor's line for sending and remembers it in the history.
    pub fn take_line(&mut self) -> String {
        let line = self.line();
        self.set_line("");
        self.remember(&line);
        line
    }

    pub fn remember(&mut self, line: &str) {
        self.history_pos = None;
        self.draft.clear();
        if !line.is_empty() && self.history.last().map(String::as_str) != Some(line) {
            if self.history.len() == MAX_HISTORY {
                self.history.remove(0);
            }
            self.history.push(line.to_string());
        }
    }

    pub fn history_prev(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let pos = match self.history_pos {
            None => {
                self.draft = self.line();
                self.history.len() - 1
            }
            Some(pos) => pos.saturating_sub(1),
        };
        self.history_pos = Some(pos);
        let text = self.history[pos].clone();
        self.set_line(&text);
    }

    pub fn history_next(&mut self) {
        let Some(pos) = self.history_pos else {
            return;
        };
        if pos + 1 < self.history.len() {
            self.history_pos = Some(pos + 1);
            let text = self.history[pos + 1].clone();
            self.set_line(&text);
        } else {
            self.history_pos = None;
            let draft = std::mem::take(&mut self.draft);
            self.set_line(&draft);
        }
    }

    /// The filter in force, if any.
    pub fn filter(&self) -> Option<&Search> {
        self.search
            .as_ref()
            .filter(|s| s.filter && s.regex.is_some())
    }

    /// The sequence number of the line at the bottom of the view.
    pub fn bottom(&self, scrollback: &Scrollback) -> Option<u64> {
        let last = scrollback.end_seq().checked_sub(1)?;
        if scrollback.is_empty() {
            return None;
        }
        Some(match self.anchor {
            Some(seq) => seq.clamp(scrollback.first_seq(), last),
            None => last,
        })
    }

    /// Scrolls by `lines` (negative: up, towards older output).
    pub fn scroll(&mut self, scrollback: &Scrollback, lines: i64) {
        let Some(bottom) = self.bottom(scrollback) else {
            return;
        };
        let last = scrollback.end_seq() - 1;
        let mut seq = bottom;
        let mut left = lines.unsigned_abs();
        let filter = self.filter().cloned();
        while left > 0 {
            let next = if lines < 0 {
                if seq <= scrollback.first_seq() {
                    break;
                }
                seq - 1
            } else {
                if seq >= last {
                    break;
                }
                seq + 1
            };
            seq = next;
            let counts = match (&filter, scrollback.get(seq)) {
                (Some(f), Some(line)) => f.matches(line),
                _ => true,
            };
            if counts {
                left -= 1;
            }
        }
        if seq >= last && lines > 0 {
            self.follow();
        } else {
            self.anchor = Some(seq);
        }
    }

    /// Back to following new output.
    pub fn follow(&mut self) {
        self.anchor = None;
        self.unseen = false;
    }

    /// Finds the next match older (`older`) or newer than `from`, moving the view to it.
    pub fn find(&mut self, scrollback: &Scrollback, from: u64, older: bool) -> bool {
        let Some(search) = &self.search else {
            return false;
        };
        if search.regex.is_none() || scrollback.is_empty() {
            return false;
        }
        let first = scrollback.first_seq();
        let last = scrollback.end_seq() - 1;
        let mut seq = from.clamp(first, last);
        loop {
            if let Some(line) = scrollback.get(seq)
                && search.matches(line)
            {
                break;
            }
            if older {
                if seq == first {
                    return false;
                }
                seq -= 1;
            } else {
                if seq == last {
                    return false;
                }
                seq += 1;
            }
        }
        if let Some(search) = self.search.as_mut() {
            search.current = Some(seq);
        }
        self.anchor = Some(seq);
        self.unseen = false;
        true
    }
}

/// The base style of a stream: stderr is light red unless the program colours it.
pub fn stream_style(stream: Stream) -> Style {
    match stream {
        Stream::Stdout => Style::default(),
        Stream::Stderr => Style::default().fg(Color::LightRed),
    }
}

const MATCH: Style = Style::new().fg(Color::Black).bg(Color::Yellow);
const CURRENT_MATCH: Style = Style::new().fg(Color::Black).bg(Color::LightGreen);

/// The rows of output that fill a view `width` x `height` whose bottom line is `bottom`.
/// Each row begins with a one-cell gutter: `▍` in red for stderr.
pub fn visible_rows(
    scrollback: &Scrollback,
    bottom: Option<u64>,
    width: usize,
    height: usize,
    search: Option<&Search>,
    view: View,
) -> Vec<TextLine<'static>> {
    let mut rows: Vec<TextLine<'static>> = Vec::new();
    let (Some(bottom), true) = (bottom, width >= 2 && height > 0) else {
        return rows;
    };
    let filter = search.filter(|s| s.filter).and_then(|s| s.regex.as_ref());
    let highlight = search.and_then(|s| s.regex.as_ref().map(|r| (r, s.current)));
    let first = scrollback.first_seq();
    let mut seq = bottom;
    loop {
        if let Some(line) = scrollback.get(seq) {
            let shown = match filter {
                Some(regex) => regex.is_match(&ansi::plain(line.bytes)),
                None => true,
            };
            if shown {
                let mut wrapped = Vec::new();
                for mut styled in views::render_line(line.bytes, view, stream_style(line.stream)) {
                    if let Some((regex, current)) = highlight {
                        let style = if current == Some(seq) {
                            CURRENT_MATCH
                        } else {
                            MATCH
                        };
                        let ranges: Vec<Range<usize>> = regex
                            .find_iter(&styled.text)
                            .filter(|m| !m.is_empty())
                            .map(|m| m.range())
                            .collect();
                        overlay(&mut styled, &ranges, style);
                    }
                    wrapped.extend(wrap(&styled, width - 1, line.stream));
                }
                wrapped.append(&mut rows);
                rows = wrapped;
            }
        }
        if rows.len() >= height || seq <= first {
            break;
        }
        seq -= 1;
    }
    let skip = rows.len().saturating_sub(height);
    rows.drain(..skip);
    rows
}

/// Restyles the byte ranges `ranges` of `styled` (ordered, not overlapping).
fn overlay(styled: &mut Styled, ranges: &[Range<usize>], style: Style) {
    if ranges.is_empty() {
        return;
    }
    let mut runs = Vec::with_capacity(styled.runs.len() + ranges.len() * 2);
    for (run, run_style) in &styled.runs {
        let mut at = run.start;
        for r in ranges {
            let (start, end) = (r.start.max(at), r.end.min(run.end));
            if start >= end {
                continue;
            }
            if at < start {
                runs.push((at..start, *run_style));
            }
            runs.push((start..end, run_style.patch(style)));
            at = end;
        }
        if at < run.end {
            runs.push((at..run.end, *run_style));
        }
    }
    styled.runs = runs;
}

/// Wraps styled text into rows of at most `width` cells, each with a gutter cell in front.
fn wrap(styled: &Styled, width: usize, stream: Stream) -> Vec<TextLine<'static>> {
    let gutter = match stream {
        Stream::Stdout => Span::raw(" "),
        Stream::Stderr => Span::styled("▍", Style::default().fg(Color::Red)),
    };
    let mut rows = Vec::new();
    let mut spans: Vec<Span<'static>> = vec![gutter.clone()];
    let mut used = 0;
    for (range, style) in &styled.runs {
        let mut piece = String::new();
        for c in styled.text[range.clone()].chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    spans.push(Span::styled(std::mem::take(&mut piece), *style));
                }
                rows.push(TextLine::from(std::mem::replace(
                    &mut spans,
                    vec![gutter.clone()],
                )));
                used = 0;
            }
            if w > width {
                // A character wider than the whole row cannot be shown.
                continue;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            spans.push(Span::styled(piece, *style));
        }
    }
    rows.push(TextLine::from(spans));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ScrollbackLimits;

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
        let rows = visible_rows(&sb, pane.bottom(&sb), 10, 2, None, View::Raw);
        assert_eq!(texts(&rows), vec![" 3", " 4"]);
    }

    #[test]
    fn long_lines_wrap_and_the_top_line_is_cut() {
        let sb = sb(&["abcdefghij", "xy"]);
        let rows = visible_rows(&sb, Some(1), 5, 3, None, View::Raw);
        assert_eq!(texts(&rows), vec![" efgh", " ij", " xy"]);
    }

    #[test]
    fn scrolling_up_pins_the_view_and_follow_releases_it() {
        let mut s = sb(&["1", "2", "3", "4", "5"]);
        let mut pane = Pane::new(0);
        pane.scroll(&s, -2);
        assert_eq!(pane.anchor, Some(2));
        s.push(Stream::Stdout, b"6\n");
        assert_eq!(
            pane.bottom(&s),
            Some(2),
            "new output does not move the view"
        );
        pane.scroll(&s, 10);
        assert_eq!(pane.anchor, None);
        pane.scroll(&s, -100);
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
        let rows = visible_rows(&s, Some(3), 20, 4, pane.search.as_ref(), View::Raw);
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
        let rows = visible_rows(&s, Some(3), 20, 5, Some(&search), View::Raw);
        assert_eq!(texts(&rows), vec![" error 1", " error 2"]);
    }

    #[test]
    fn stderr_rows_carry_a_red_gutter() {
        let mut s = Scrollback::new(ScrollbackLimits::default());
        s.push(Stream::Stderr, b"bad\n");
        let rows = visible_rows(&s, Some(0), 10, 1, None, View::Raw);
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
                let _ = visible_rows(&s, Some(1), w, h, None, View::Chat);
            }
        }
    }
}
