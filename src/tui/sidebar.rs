//! The session list of the list layout: one row per session (attention and unseen-output
//! marks, name, state, the last output line) under group headers that fold, beside the
//! focused session's pane. Only the rows on screen are laid out.

use std::cell::Cell;
use std::collections::BTreeSet;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::app::App;
use super::{ansi, rows};
use crate::engine::{Activity, Engine, Session, SessionState, View};

/// The list's state.
#[derive(Debug)]
pub struct ListState {
    /// Keys go to the list (Up/Down move the focus) rather than to the pane's editor.
    pub keys: bool,
    /// The cursor is on this group's header rather than on the focused session.
    pub header: Option<String>,
    folded: BTreeSet<String>,
    /// The first row shown (kept so that the cursor stays in view without jumping).
    top: Cell<usize>,
}

impl Default for ListState {
    fn default() -> Self {
        ListState {
            keys: true,
            header: None,
            folded: BTreeSet::new(),
            top: Cell::new(0),
        }
    }
}

impl ListState {
    pub fn is_folded(&self, group: Option<&str>) -> bool {
        group.is_some_and(|g| self.folded.contains(g))
    }

    pub fn unfold(&mut self, group: &str) {
        self.folded.remove(group);
    }

    /// Folds or unfolds `group`.
    pub fn toggle(&mut self, group: &str) {
        if !self.folded.remove(group) {
            self.folded.insert(group.to_string());
        }
    }
}

/// One row of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Header {
        group: String,
        sessions: usize,
        attention: usize,
        folded: bool,
    },
    /// A session, by pane index.
    Session(usize),
}

/// The list and the pane beside it.
pub fn split(area: Rect) -> [Rect; 2] {
    let width = ((u32::from(area.width) * 3 / 10) as u16).clamp(24.min(area.width / 2), 60);
    [
        Rect { width, ..area },
        Rect {
            x: area.x + width,
            width: area.width - width,
            ..area
        },
    ]
}

impl App {
    /// The list's rows: ungrouped sessions, then each group's header and (unless folded)
    /// its sessions.
    pub fn list_rows(&self) -> Vec<Row> {
        let mut rows = Vec::with_capacity(self.panes.len() + 8);
        let mut current: Option<&str> = None;
        for index in self.order() {
            let group = self.panes[index].group.as_deref();
            if let Some(name) = group
                && current != Some(name)
            {
                current = Some(name);
                let members = self
                    .panes
                    .iter()
                    .filter(|p| p.group.as_deref() == Some(name));
                let (sessions, attention) = members.fold((0, 0), |(n, a), p| {
                    (n + 1, a + usize::from(p.attention.is_some()))
                });
                rows.push(Row::Header {
                    group: name.to_string(),
                    sessions,
                    attention,
                    folded: self.list.is_folded(Some(name)),
                });
            }
            if !self.list.is_folded(group) {
                rows.push(Row::Session(index));
            }
        }
        rows
    }

    /// The row the cursor is on.
    fn cursor_row(&self, rows: &[Row]) -> usize {
        rows.iter()
            .position(|row| match (row, &self.list.header) {
                (Row::Header { group, .. }, Some(header)) => group == header,
                (Row::Session(index), None) => *index == self.focus,
                _ => false,
            })
            .unwrap_or(0)
    }

    /// Puts the cursor on `row`: a session row focuses that session.
    fn move_cursor(&mut self, row: &Row) {
        match row {
            Row::Session(index) => self.set_focus(*index),
            Row::Header { group, .. } => self.list.header = Some(group.clone()),
        }
    }

    /// Keys while the list has them. Returns false for keys left to the normal bindings; a
    /// typed character hands the keys to the editor (and is typed there).
    pub(super) fn on_list_key(&mut self, key: KeyEvent) -> bool {
        let rows = self.list_rows();
        if rows.is_empty() {
            return false;
        }
        let at = self.cursor_row(&rows);
        let page = self
            .screen()
            .sidebar
            .map_or(10, |r| r.height as usize)
            .max(2)
            - 1;
        let plain = key.modifiers == KeyModifiers::NONE;
        let target = match key.code {
            KeyCode::Up if plain => Some(at.saturating_sub(1)),
            KeyCode::Down if plain => Some((at + 1).min(rows.len() - 1)),
            KeyCode::PageUp if plain => Some(at.saturating_sub(page)),
            KeyCode::PageDown if plain => Some((at + page).min(rows.len() - 1)),
            KeyCode::Home if plain => Some(0),
            KeyCode::End if plain => Some(rows.len() - 1),
            _ => None,
        };
        if let Some(target) = target {
            self.move_cursor(&rows[target]);
            return true;
        }
        match (&rows[at], key.code) {
            (Row::Header { group, .. }, KeyCode::Enter | KeyCode::Char(' ')) if plain => {
                let group = group.clone();
                self.list.toggle(&group);
            }
            (Row::Header { group, folded, .. }, KeyCode::Left | KeyCode::Right) if plain => {
                if *folded == (key.code == KeyCode::Right) {
                    let group = group.clone();
                    self.list.toggle(&group);
                }
            }
            (Row::Session(index), KeyCode::Left) if plain => {
                // Fold the session's group, the cursor going to its header.
                if let Some(group) = self.panes[*index].group.clone() {
                    self.list.toggle(&group);
                    self.list.header = Some(group);
                }
            }
            (Row::Session(_), KeyCode::Enter | KeyCode::Right) if plain => self.list.keys = false,
            (Row::Session(_), KeyCode::Char(_))
                if plain || key.modifiers == KeyModifiers::SHIFT =>
            {
                self.list.keys = false;
                return false;
            }
            _ => return false,
        }
        true
    }

    /// A click on row `y` of the list (relative to its top).
    pub(super) fn on_list_click(&mut self, y: u16) {
        let rows = self.list_rows();
        let Some(row) = rows.get(self.list.top.get() + y as usize).cloned() else {
            return;
        };
        if let Row::Header { group, .. } = &row
            && self.list.header.as_ref() == Some(group)
        {
            self.list.toggle(group);
        }
        self.move_cursor(&row);
        self.list.keys = true;
    }

    /// Moves the cursor `step` rows (the mouse wheel over the list).
    pub(super) fn list_scroll(&mut self, step: isize) {
        let rows = self.list_rows();
        if rows.is_empty() {
            return;
        }
        let at = self.cursor_row(&rows) as isize + step;
        let target = at.clamp(0, rows.len() as isize - 1) as usize;
        self.move_cursor(&rows[target]);
    }

    /// Draws the list in `area`, the cursor's row in view.
    pub(super) fn draw_sidebar(&self, frame: &mut Frame, area: Rect, engine: &Engine) {
        let block = Block::default()
            .borders(Borders::RIGHT)
            .border_style(Style::default().fg(Color::DarkGray));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let rows = self.list_rows();
        let height = inner.height as usize;
        if height == 0 || inner.width == 0 {
            return;
        }
        let cursor = self.cursor_row(&rows);
        let mut top = self.list.top.get().min(rows.len().saturating_sub(height));
        if cursor < top {
            top = cursor;
        } else if cursor >= top + height {
            top = cursor + 1 - height;
        }
        self.list.top.set(top);
        let name_width = self
            .panes
            .iter()
            .map(|p| p.name.width())
            .max()
            .unwrap_or(0)
            .clamp(4, 20)
            .min(inner.width as usize / 2);
        let now = tokio::time::Instant::now();
        let lines: Vec<TextLine> = rows
            .iter()
            .enumerate()
            .skip(top)
            .take(height)
            .map(|(at, row)| {
                let here = at == cursor;
                match row {
                    Row::Header {
                        group,
                        sessions,
                        attention,
                        folded,
                    } => header_line(group, *sessions, *attention, *folded, here, self.list.keys),
                    Row::Session(index) => {
                        self.session_line(*index, engine, now, name_width, inner.width as usize)
                    }
                }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn session_line(
        &self,
        index: usize,
        engine: &Engine,
        now: tokio::time::Instant,
        name_width: usize,
        width: usize,
    ) -> TextLine<'static> {
        let pane = &self.panes[index];
        let focused = index == self.focus && self.list.header.is_none();
        let Some(session) = engine.session(pane.session) else {
            return TextLine::raw("");
        };
        let cursor = if focused { "▶" } else { " " };
        let mark = match &pane.attention {
            Some(why) if why.is_failure() => Span::styled("!", FAILED),
            Some(_) => Span::styled("!", AWAITING),
            None => Span::raw(" "),
        };
        let fresh = if pane.fresh {
            Span::styled("•", Style::default().fg(Color::Cyan))
        } else {
            Span::raw(" ")
        };
        let mut name_style = if pane.marked {
            Style::default()
                .fg(Color::Magenta)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        if focused {
            name_style = name_style.fg(Color::Cyan).add_modifier(Modifier::BOLD);
            if self.list.keys {
                name_style = name_style.add_modifier(Modifier::REVERSED);
            }
        }
        let (state, state_style) = state_label(session, now);
        let used = 3 + name_width + 1 + STATE_WIDTH + 1;
        let preview = fit(&preview(session, pane.view), width.saturating_sub(used));
        TextLine::from(vec![
            Span::styled(cursor, Style::default().fg(Color::Cyan)),
            mark,
            fresh,
            Span::styled(pad(&pane.name, name_width), name_style),
            Span::raw(" "),
            Span::styled(pad(&state, STATE_WIDTH), state_style),
            Span::raw(" "),
            Span::styled(preview, Style::default().fg(Color::DarkGray)),
        ])
    }
}

const STATE_WIDTH: usize = 8;
const AWAITING: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
const FAILED: Style = Style::new()
    .fg(Color::LightRed)
    .add_modifier(Modifier::BOLD);

fn header_line(
    group: &str,
    sessions: usize,
    attention: usize,
    folded: bool,
    here: bool,
    keys: bool,
) -> TextLine<'static> {
    let mut style = Style::default()
        .fg(Color::Blue)
        .add_modifier(Modifier::BOLD);
    if here && keys {
        style = style.add_modifier(Modifier::REVERSED);
    }
    let mut spans = vec![
        Span::styled(
            if here { "▶" } else { " " },
            Style::default().fg(Color::Cyan),
        ),
        Span::styled(
            format!("{} {group} ({sessions})", if folded { "▸" } else { "▾" }),
            style,
        ),
    ];
    if attention > 0 {
        spans.push(Span::styled(format!(" {attention}!"), AWAITING));
    }
    TextLine::from(spans)
}

/// The state column: what a running session is doing, or how it ended.
fn state_label(session: &Session, now: tokio::time::Instant) -> (String, Style) {
    match &session.state {
        SessionState::Exited(status) => {
            let text = match (status.code, status.signal) {
                (_, Some(signal)) => crate::engine::signal_name(signal),
                (Some(code), None) => format!("exit {code}"),
                (None, None) => "killed".into(),
            };
            let style = if status.success() {
                Style::default().fg(Color::Gray)
            } else {
                FAILED
            };
            (text, style)
        }
        SessionState::Failed { .. } => ("failed".into(), FAILED),
        _ => match session.activity(now) {
            Activity::AwaitingInput => ("awaiting".into(), AWAITING),
            Activity::AwaitingApproval => ("approve?".into(), AWAITING),
            Activity::Working => ("working".into(), Style::default().fg(Color::Green)),
            activity => (
                activity.as_str().to_string(),
                Style::default().fg(Color::Gray),
            ),
        },
    }
}

/// The last output line as its view shows it, made safe for the screen (no escapes). In
/// the chat view, lines an agent's tracker leaves out are passed over (a few at most).
fn preview(session: &Session, view: View) -> String {
    let Some(line) = session.scrollback.last_output() else {
        return String::new();
    };
    if view == View::Raw {
        return ansi::render(line.bytes, rows::stream_style(line.stream))
            .text
            .trim()
            .to_string();
    }
    let sb = &session.scrollback;
    let tracker = (session.spec.protocol == crate::engine::Protocol::StreamJson)
        .then_some(&session.agent.tracker);
    let first = line.seq.saturating_sub(16).max(sb.first_seq());
    for seq in (first..=line.seq).rev() {
        let Some(candidate) = sb.get(seq).filter(|l| l.stream.is_output()) else {
            continue;
        };
        let text = rows::line_texts(sb, &candidate, view, tracker)
            .into_iter()
            .map(|styled| styled.text)
            .find(|text| !text.trim().is_empty());
        if let Some(text) = text {
            return text.trim().to_string();
        }
    }
    String::new()
}

/// `text` cut to `width` columns, with `…` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// `text` cut or padded to exactly `width` columns.
fn pad(text: &str, width: usize) -> String {
    let mut out = fit(text, width);
    let used = out.width();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_cuts_with_an_ellipsis_and_pads_to_the_width() {
        assert_eq!(fit("hello", 10), "hello");
        assert_eq!(fit("hello world", 6), "hello…");
        assert_eq!(fit("日本語テキスト", 5), "日本…");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad("abcdef", 4), "abc…");
        assert_eq!(fit("x", 0), "");
    }

    #[test]
    fn the_list_takes_a_third_of_a_wide_screen_and_leaves_room_on_a_narrow_one() {
        let [list, pane] = split(Rect::new(0, 0, 160, 44));
        assert_eq!((list.width, pane.x, pane.width), (48, 48, 112));
        let [list, pane] = split(Rect::new(0, 0, 30, 10));
        assert_eq!((list.width, pane.width), (15, 15));
        let [list, _] = split(Rect::new(0, 0, 300, 10));
        assert_eq!(list.width, 60);
        let [list, pane] = split(Rect::new(0, 0, u16::MAX, 10));
        assert_eq!((list.width, pane.width), (60, u16::MAX - 60));
        let [list, pane] = split(Rect::new(0, 0, 0, 0));
        assert_eq!((list.width, pane.width), (0, 0));
    }
}
