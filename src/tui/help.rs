//! The F1 help overlay: every key, wrapped at word boundaries to fit any terminal, and
//! scrolled with Up/Down, PageUp/PageDown and Home/End when it is taller than the screen.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::keymap;

/// The widest the overlay gets, in cells.
const WIDEST: u16 = 110;
/// The widest the keys column gets.
const KEYS_WIDTH: usize = 18;

/// What the help shows on a screen of a given size.
pub struct HelpLayout {
    /// Where the overlay goes (borders included).
    pub popup: Rect,
    /// Every row of the help, wrapped to the popup's width.
    pub rows: Vec<Line<'static>>,
    /// How many rows fit inside the borders.
    pub page: u16,
}

impl HelpLayout {
    pub fn new(area: Rect, replay: bool) -> HelpLayout {
        let mut entries = keymap::help_lines();
        if replay {
            entries.splice(0..0, keymap::REPLAY_HELP.iter().copied());
        }
        let width = area
            .width
            .saturating_sub(4)
            .min(WIDEST)
            .max(area.width.min(12));
        // Inside the borders, a blank column on each side.
        let inner = usize::from(width.saturating_sub(4));
        let keys_width = KEYS_WIDTH.min(inner / 3).max(1);
        let what_width = inner.saturating_sub(keys_width + 1).max(1);
        let key_style = Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD);
        let mut rows = Vec::new();
        for (keys, what) in entries {
            let keys = wrap(keys, keys_width);
            let what = wrap(what, what_width);
            for i in 0..keys.len().max(what.len()) {
                let key = keys.get(i).map_or("", String::as_str);
                let pad = keys_width.saturating_sub(key.width()) + 1;
                rows.push(Line::from(vec![
                    Span::raw(" "),
                    Span::styled(format!("{key}{}", " ".repeat(pad)), key_style),
                    Span::raw(what.get(i).cloned().unwrap_or_default()),
                ]));
            }
        }
        let wanted = u16::try_from(rows.len() + 2).unwrap_or(u16::MAX);
        let popup = super::layout::centered(area, width, wanted.min(area.height));
        HelpLayout {
            popup,
            page: popup.height.saturating_sub(2),
            rows,
        }
    }

    /// The furthest the rows can scroll: the last page shows the last row.
    pub fn max_scroll(&self) -> u16 {
        let rows = u16::try_from(self.rows.len()).unwrap_or(u16::MAX);
        rows.saturating_sub(self.page)
    }

    /// The scroll position after a key (`None`: the key closes the help).
    pub fn scrolled(&self, scroll: u16, key: &KeyEvent) -> Option<u16> {
        let page = self.page.max(1);
        let next = match key.code {
            KeyCode::Esc | KeyCode::F(1) | KeyCode::Char('q') => return None,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return None,
            KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
            KeyCode::PageUp => scroll.saturating_sub(page),
            KeyCode::PageDown | KeyCode::Char(' ') => scroll.saturating_add(page),
            KeyCode::Home => 0,
            KeyCode::End => u16::MAX,
            _ => scroll,
        };
        Some(next.min(self.max_scroll()))
    }

    pub fn draw(&self, frame: &mut Frame, scroll: u16) {
        let scroll = scroll.min(self.max_scroll());
        let total = self.rows.len();
        let shown = self.rows.iter().skip(usize::from(scroll));
        let visible: Vec<Line> = shown.take(usize::from(self.page)).cloned().collect();
        let hint = if self.max_scroll() == 0 {
            " Esc closes ".to_string()
        } else {
            let first = usize::from(scroll) + 1;
            let last = (usize::from(scroll) + usize::from(self.page)).min(total);
            format!(" ↑↓ PgUp PgDn scroll · {first}-{last} of {total} · Esc closes ")
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .title(" sandmux keys ")
            .title_bottom(Line::from(hint).right_aligned());
        frame.render_widget(Clear, self.popup);
        frame.render_widget(Paragraph::new(visible).block(block), self.popup);
    }
}

/// `text` in lines of at most `width` cells, broken between words; only a word wider than
/// a whole line is broken inside.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let needed = if line.is_empty() {
            word.width()
        } else {
            line.width() + 1 + word.width()
        };
        if needed <= width {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // A word longer than the line: as much of it as fits, a line at a time.
        for c in word.chars() {
            if line.width() + c.to_string().width() > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            line.push(c);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_between_words_and_keeps_every_word() {
        let text = "filter: show only the lines that match the search";
        let longest = text.split(' ').map(str::len).max().unwrap();
        for width in 1..60 {
            let lines = wrap(text, width);
            assert!(
                lines.iter().all(|l| l.width() <= width),
                "{width}: {lines:?}"
            );
            if width >= longest {
                let words: Vec<&str> = lines.iter().flat_map(|l| l.split(' ')).collect();
                assert_eq!(words.join(" "), text, "{width}: a word was cut: {lines:?}");
            }
        }
        assert_eq!(wrap("", 10), vec![String::new()]);
        assert_eq!(wrap("abcdef", 4), vec!["abcd", "ef"]);
    }

    #[test]
    fn scrolling_stops_at_the_last_page() {
        let help = HelpLayout::new(Rect::new(0, 0, 80, 12), false);
        assert!(help.max_scroll() > 0, "the help is taller than 12 rows");
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        assert_eq!(help.scrolled(0, &key(KeyCode::Up)), Some(0));
        assert_eq!(help.scrolled(0, &key(KeyCode::Down)), Some(1));
        assert_eq!(help.scrolled(0, &key(KeyCode::PageDown)), Some(help.page));
        let end = help.scrolled(0, &key(KeyCode::End));
        assert_eq!(end, Some(help.max_scroll()));
        assert_eq!(help.scrolled(help.max_scroll(), &key(KeyCode::Down)), end);
        assert_eq!(help.scrolled(3, &key(KeyCode::Esc)), None);
    }
}
