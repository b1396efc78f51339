//! How a pane lays out a session's lines into screen rows, bottom up, touching only the lines
//! that are visible.
//!
//! A conversation reads in the order it happened: output lines keep their stream's style
//! (stderr light red, with a red `▍` in the gutter), input that was sent shows dimmed with a
//! `›` in the gutter, and a prompt that was cut by the input sent after it shares its row
//! with that input (`>>> 6*7`), as comint shows it.

use std::ops::Range;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use unicode_width::UnicodeWidthChar;

use super::ansi::{self, Styled};
use super::pane::Search;
use super::{agent_view, views};
use crate::engine::{Line, LineEnd, Scrollback, Stream, View};
use crate::protocol::stream_json;
use crate::protocol::tracker::Tracker;

/// The base style of a stream: stderr is light red unless the program colours it; input is
/// dimmed so it cannot be mistaken for output.
pub fn stream_style(stream: Stream) -> Style {
    match stream {
        Stream::Stdout => Style::default(),
        Stream::Stderr => Style::default().fg(Color::LightRed),
        Stream::Stdin => INPUT,
    }
}

const INPUT: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::DIM);
const MATCH: Style = Style::new().fg(Color::Black).bg(Color::Yellow);
const CURRENT_MATCH: Style = Style::new().fg(Color::Black).bg(Color::LightGreen);

/// The one-cell gutter in front of each row.
fn gutter(stream: Stream) -> Span<'static> {
    match stream {
        Stream::Stdout => Span::raw(" "),
        Stream::Stderr => Span::styled("▍", Style::default().fg(Color::Red)),
        Stream::Stdin => Span::styled("›", Style::default().fg(Color::Cyan)),
    }
}

/// Whether `line` is shown on the row of the input line that follows it: an output line cut
/// by input (a prompt), in the raw view.
fn shares_row_with_next(sb: &Scrollback, line: &Line<'_>, view: View) -> bool {
    view == View::Raw
        && line.stream.is_output()
        && line.end == LineEnd::Cut
        && sb
            .get(line.seq + 1)
            .is_some_and(|next| next.stream == Stream::Stdin)
}

/// What one line shows in `view`: its display lines, or nothing when it is a piece of a
/// logical line that is shown whole where it ends (a JSON line other output cut into), or
/// a line an agent's tracker says the chat view leaves out.
pub(super) fn line_texts(
    sb: &Scrollback,
    line: &Line<'_>,
    view: View,
    tracker: Option<&Tracker>,
) -> Vec<Styled> {
    let base = stream_style(line.stream);
    let note = tracker
        .filter(|_| view == View::Chat)
        .and_then(|t| Some((t, t.note(line.seq)?)));
    if view != View::Raw && line.is_piece() {
        if let Some(joined) = sb.joined(line.head).filter(|j| j.complete)
            && let Some(value) = stream_json::parse_line(&joined.bytes)
        {
            return if joined.last == line.seq {
                match note {
                    Some((tracker, note)) => agent_view::noted(note, &value, tracker),
                    None => views::render_value(&value, view, line.stream),
                }
            } else {
                Vec::new()
            };
        }
        return vec![ansi::render(line.bytes, base)];
    }
    if let Some((tracker, note)) = note
        && let Some(value) = stream_json::parse_line(line.bytes)
    {
        return agent_view::noted(note, &value, tracker);
    }
    views::render_line(line.bytes, view, line.stream, base)
}

/// The rows of one display unit ending at line `seq`, and the line above the unit. A unit is
/// one line, or a prompt and the input that shares its row.
fn unit_rows(
    sb: &Scrollback,
    line: Line<'_>,
    join_prompt: bool,
    width: usize,
    search: Option<&Search>,
    view: View,
    tracker: Option<&Tracker>,
) -> (Vec<TextLine<'static>>, u64) {
    let mut texts = line_texts(sb, &line, view, tracker);
    let mut above = line.seq.wrapping_sub(1);
    let mut seqs = vec![line.seq];
    if join_prompt
        && line.stream == Stream::Stdin
        && let Some(prompt) = sb.get(line.seq.wrapping_sub(1))
        && shares_row_with_next(sb, &prompt, view)
        && let Some(first) = texts.first_mut()
    {
        let mut joined = ansi::render(prompt.bytes, stream_style(prompt.stream));
        joined.append(std::mem::take(first));
        *first = joined;
        above = prompt.seq.wrapping_sub(1);
        seqs.push(prompt.seq);
    }
    let highlight = search.and_then(|s| s.regex.as_ref().map(|r| (r, s.current)));
    let mut rows = Vec::new();
    for mut styled in texts {
        if let Some((regex, current)) = highlight {
            let style = if current.is_some_and(|c| seqs.contains(&c)) {
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
        rows.extend(wrap(&styled, width - 1, gutter(line.stream)));
    }
    (rows, above)
}

/// The rows of output that fill a view `width` x `height` whose bottom line is `bottom`.
/// When the lines above `bottom` do not fill the view, the lines after it fill the rest, so
/// the top of the scrollback shows a full page.
pub fn visible_rows(
    scrollback: &Scrollback,
    bottom: Option<u64>,
    width: usize,
    height: usize,
    search: Option<&Search>,
    view: View,
    tracker: Option<&Tracker>,
) -> Vec<TextLine<'static>> {
    let mut rows: Vec<TextLine<'static>> = Vec::new();
    let (Some(bottom), true) = (bottom, width >= 2 && height > 0) else {
        return rows;
    };
    let filter = search.filter(|s| s.filter).and_then(|s| s.regex.as_ref());
    let shown = |line: &Line<'_>| filter.is_none_or(|r| r.is_match(&ansi::plain(line.bytes)));
    let first = scrollback.first_seq();
    let mut seq = bottom;
    // A prompt at the very bottom of the view is shown on its own even when input follows.
    let mut at_bottom = true;
    while rows.len() < height && seq >= first && seq != u64::MAX {
        let Some(line) = scrollback.get(seq) else {
            break;
        };
        if !at_bottom && shares_row_with_next(scrollback, &line, view) {
            // Drawn with the input below it.
            seq = seq.wrapping_sub(1);
            continue;
        }
        at_bottom = false;
        if !shown(&line) {
            seq = seq.wrapping_sub(1);
            continue;
        }
        let (mut unit, above) = unit_rows(scrollback, line, true, width, search, view, tracker);
        unit.append(&mut rows);
        rows = unit;
        seq = above;
    }
    let skip = rows.len().saturating_sub(height);
    rows.drain(..skip);
    // Fill the rest of the view with what comes after `bottom`.
    let mut next = bottom + 1;
    while rows.len() < height && next < scrollback.end_seq() {
        let Some(line) = scrollback.get(next) else {
            break;
        };
        next += 1;
        if !shown(&line) || shares_row_with_next(scrollback, &line, view) {
            continue;
        }
        let join = line.seq > bottom + 1;
        let (unit, _) = unit_rows(scrollback, line, join, width, search, view, tracker);
        rows.extend(unit);
    }
    rows.truncate(height);
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

/// Wraps styled text into rows of at most `width` cells, each with `gutter` in front.
fn wrap(styled: &Styled, width: usize, gutter: Span<'static>) -> Vec<TextLine<'static>> {
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
#[path = "rows_tests.rs"]
mod tests;
