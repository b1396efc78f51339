//! Jump by name (Ctrl-G): type part of a session's name, fuzzy-matched with nucleo's
//! matcher (the one helix uses), Enter focuses the best match, Esc closes.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};

use super::app::App;

/// One candidate: a pane, and which characters of its name matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pane: usize,
    pub indices: Vec<u32>,
}

/// The picker's state.
#[derive(Debug, Default)]
pub struct Picker {
    pub query: String,
    /// The matches, best first.
    pub matches: Vec<Candidate>,
    /// The highlighted match.
    pub selected: usize,
}

impl Picker {
    /// Ranks `names` (pane index, name; in display order) against the query: the best score
    /// first, display order among equals; every name when the query is empty.
    pub fn rank(&mut self, names: &[(usize, &str)]) {
        let mut matcher = Matcher::new(Config::DEFAULT);
        let pattern = Pattern::parse(&self.query, CaseMatching::Smart, Normalization::Smart);
        let mut buf = Vec::new();
        let mut scored: Vec<(u32, usize, Candidate)> = names
            .iter()
            .enumerate()
            .filter_map(|(rank, (pane, name))| {
                let mut indices = Vec::new();
                let score =
                    pattern.indices(Utf32Str::new(name, &mut buf), &mut matcher, &mut indices)?;
                indices.sort_unstable();
                indices.dedup();
                Some((
                    score,
                    rank,
                    Candidate {
                        pane: *pane,
                        indices,
                    },
                ))
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        self.matches = scored.into_iter().map(|(_, _, c)| c).collect();
        self.selected = 0;
    }
}

impl App {
    /// Ctrl-G: opens the picker on every session.
    pub fn open_picker(&mut self) {
        let mut picker = Picker::default();
        picker.rank(&self.names());
        self.picker = Some(picker);
    }

    fn names(&self) -> Vec<(usize, &str)> {
        self.order()
            .into_iter()
            .map(|i| (i, self.panes[i].name.as_str()))
            .collect()
    }

    /// Keys while the picker is open: it takes them all.
    pub(super) fn on_picker_key(&mut self, key: KeyEvent) {
        let names: Vec<(usize, String)> = self
            .names()
            .into_iter()
            .map(|(i, n)| (i, n.to_string()))
            .collect();
        let Some(picker) = self.picker.as_mut() else {
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let mut query = None;
        match key.code {
            KeyCode::Esc => self.picker = None,
            KeyCode::Char('g' | 'c' | 'q') if ctrl => self.picker = None,
            KeyCode::Enter => {
                let chosen = picker.matches.get(picker.selected).map(|c| c.pane);
                self.picker = None;
                match chosen {
                    Some(index) => self.reveal(index),
                    None => self.set_status("no session matches"),
                }
            }
            KeyCode::Up | KeyCode::BackTab => picker.selected = picker.selected.saturating_sub(1),
            KeyCode::Char('p') if ctrl => picker.selected = picker.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Tab => {
                picker.selected = (picker.selected + 1).min(picker.matches.len().saturating_sub(1))
            }
            KeyCode::Char('n') if ctrl => {
                picker.selected = (picker.selected + 1).min(picker.matches.len().saturating_sub(1))
            }
            KeyCode::Backspace => {
                let mut q = picker.query.clone();
                q.pop();
                query = Some(q);
            }
            KeyCode::Char('u') if ctrl => query = Some(String::new()),
            KeyCode::Char(c) if !ctrl => query = Some(format!("{}{c}", picker.query)),
            _ => {}
        }
        if let (Some(query), Some(picker)) = (query, self.picker.as_mut()) {
            picker.query = query;
            let names: Vec<(usize, &str)> = names.iter().map(|(i, n)| (*i, n.as_str())).collect();
            picker.rank(&names);
        }
    }

    /// Draws the picker over the middle of `area`.
    pub(super) fn draw_picker(&self, frame: &mut Frame, area: Rect) {
        let Some(picker) = &self.picker else {
            return;
        };
        let popup = super::layout::centered(
            area,
            area.width.saturating_sub(4).clamp(1, 60),
            area.height.saturating_sub(2).clamp(1, 20),
        );
        frame.render_widget(Clear, popup);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(Style::default().fg(Color::Cyan))
            .title(format!(
                " jump to a session: {} of {} (Enter, Esc) ",
                picker.matches.len(),
                self.panes.len()
            ));
        let inner = block.inner(popup);
        frame.render_widget(block, popup);
        let mut lines = vec![TextLine::from(vec![
            Span::styled("› ", Style::default().fg(Color::Cyan)),
            Span::raw(crate::text::printable(picker.query.as_bytes())),
            Span::styled(" ", Style::default().add_modifier(Modifier::REVERSED)),
        ])];
        let shown = inner.height.saturating_sub(1) as usize;
        let first = picker.selected.saturating_sub(shown.saturating_sub(1));
        for (at, candidate) in picker.matches.iter().enumerate().skip(first).take(shown) {
            let pane = &self.panes[candidate.pane];
            let here = at == picker.selected;
            let base = if here {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            let hit = base.fg(Color::Yellow).add_modifier(Modifier::BOLD);
            let mut spans = vec![Span::styled(if here { "▶ " } else { "  " }, base)];
            for (i, c) in pane.name.chars().enumerate() {
                let style = if candidate.indices.binary_search(&(i as u32)).is_ok() {
                    hit
                } else {
                    base
                };
                spans.push(Span::styled(c.to_string(), style));
            }
            if let Some(group) = &pane.group {
                spans.push(Span::styled(
                    format!("  {group}"),
                    Style::default().fg(Color::Blue),
                ));
            }
            if let Some(why) = &pane.attention {
                spans.push(Span::styled(
                    format!("  ! {}", why.describe()),
                    Style::default().fg(Color::Yellow),
                ));
            }
            lines.push(TextLine::from(spans));
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(query: &str, names: &[&str]) -> Vec<usize> {
        let mut picker = Picker {
            query: query.to_string(),
            ..Picker::default()
        };
        let names: Vec<(usize, &str)> = names.iter().copied().enumerate().collect();
        picker.rank(&names);
        picker.matches.iter().map(|c| c.pane).collect()
    }

    #[test]
    fn an_empty_query_lists_everyone_in_order() {
        assert_eq!(ranked("", &["b", "a", "c"]), vec![0, 1, 2]);
    }

    #[test]
    fn a_few_letters_find_the_session_fuzzily() {
        let names = ["agent-01", "agent-17", "db-shell", "worker-17"];
        assert_eq!(ranked("a17", &names)[0], 1);
        assert_eq!(ranked("dbsh", &names), vec![2]);
        assert_eq!(ranked("w17", &names)[0], 3);
        assert!(ranked("zzz", &names).is_empty());
    }

    #[test]
    fn the_closest_match_comes_first() {
        let names = ["big-agent-1-report-7", "agent-17", "x"];
        assert_eq!(ranked("agent17", &names), vec![1, 0]);
        assert_eq!(ranked("rep", &names), vec![0]);
    }

    #[test]
    fn matched_letters_are_marked_for_highlighting() {
        let mut picker = Picker {
            query: "dsh".into(),
            ..Picker::default()
        };
        picker.rank(&[(4, "db-shell")]);
        assert_eq!(picker.matches[0].pane, 4);
        assert_eq!(picker.matches[0].indices, vec![0, 3, 4]);
    }
}
