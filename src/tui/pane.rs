//! One pane: the view state of a session (scroll position, search, line editor, history).
//! How its lines become rows is in [`super::rows`].

use ratatui::style::{Color, Modifier, Style};
use ratatui_textarea::TextArea;
use regex::Regex;

use super::ansi;
use super::attention::Attention;
use crate::engine::{Line, Scrollback, SessionId, View};

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
    /// The session's name and group (the list, the picker and Ctrl-N use them).
    pub name: String,
    pub group: Option<String>,
    /// Why it needs you, while it does (never set while focused).
    pub attention: Option<Attention>,
    /// Output arrived while it was not focused.
    pub fresh: bool,
    /// The session's last input (scrollback line) when it was last seen awaiting input: a
    /// new prompt after new input is a new reason for attention.
    pub(super) awaiting_after: Option<Option<u64>>,
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
    /// The editor takes the message to deny a permission request with.
    pub deny_prompt: bool,
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
            name: String::new(),
            group: None,
            attention: None,
            fresh: false,
            awaiting_after: None,
            input,
            history: Vec::new(),
            history_pos: None,
            draft: String::new(),
            anchor: None,
            unseen: false,
            marked: false,
            search: None,
            view: View::Raw,
            deny_prompt: false,
        }
    }

    /// A pane for a session, in the view its spec asks for (chat for stream-json agents).
    pub fn for_session(id: SessionId, session: &crate::engine::Session) -> Self {
        let mut pane = Pane::new(id);
        pane.name = session.spec.name.clone();
        pane.group = session.spec.group().map(str::to_string);
        pane.view = session.spec.view.unwrap_or(match session.spec.protocol {
            crate::engine::Protocol::StreamJson => View::Chat,
            crate::engine::Protocol::Raw => View::Raw,
        });
        pane
    }

    /// Turns the editor into (or back from) the prompt for a deny message.
    pub fn set_deny_prompt(&mut self, on: bool) {
        if self.deny_prompt == on {
            return;
        }
        self.deny_prompt = on;
        let text = if on {
            "why deny? Enter denies with this message, Esc goes back"
        } else {
            "type a line; Enter sends it"
        };
        self.input.set_placeholder_text(text);
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

    /// Scrolls by `lines` (negative: up, towards older output) in a view `height` rows
    /// high. Scrolling up never leaves less than a page above the bottom line, so the top of
    /// the scrollback shows a full page and the next PageDown moves at once.
    pub fn scroll(&mut self, scrollback: &Scrollback, lines: i64, height: usize) {
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
        if lines < 0 && filter.is_none() {
            let top_page = scrollback.first_seq() + height.saturating_sub(1) as u64;
            seq = seq.max(top_page.min(last));
        }
        if seq >= last && (lines > 0 || self.anchor.is_none()) {
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
