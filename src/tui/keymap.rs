//! Key bindings as data: the same table decides what a key does and writes the help overlay.
//!
//! Keys typed into a pane go to its line editor unless a binding here claims them, so the
//! bindings use keys a line editor does not need: function keys, Tab, Page keys and a few
//! Ctrl combinations.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    FocusNext,
    FocusPrev,
    Zoom,
    /// Send the line in the editor (to every marked pane when the focused one is marked).
    Send,
    HistoryPrev,
    HistoryNext,
    /// Close stdin when the editor is empty (otherwise the editor deletes a character).
    EndOfInput,
    Interrupt,
    PageUp,
    PageDown,
    /// Back to follow mode when scrolled up (otherwise the editor's end of line).
    Follow,
    Search,
    Filter,
    Restart,
    Kill,
    Clear,
    Save,
    ToggleMark,
    /// Mark (or unmark) every session of the focused one's group for broadcast.
    MarkGroup,
    CycleView,
    /// Switch between the tiles and the list layout.
    ToggleLayout,
    /// Open the jump-by-name picker.
    Jump,
    /// Focus the next session that needs attention.
    NextAttention,
    /// The previous / next page of tiles.
    PagePrev,
    PageNext,
}

/// One binding: the keys that trigger it, how the help names them, and what it does.
pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    pub label: &'static str,
    pub help: &'static str,
    pub action: Action,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const ALT: KeyModifiers = KeyModifiers::ALT;

/// The bindings of the normal mode, in the order the help shows them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        help: "send the line (plus a newline) to the focused session",
        action: Action::Send,
    },
    Binding {
        keys: &[(KeyCode::Up, NONE)],
        label: "Up / Down",
        help: "previous / next line from this session's history",
        action: Action::HistoryPrev,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE)],
        label: "",
        help: "",
        action: Action::HistoryNext,
    },
    Binding {
        keys: &[(KeyCode::Char('d'), CTRL)],
        label: "Ctrl-D",
        help: "on an empty line: close the session's stdin (EOF)",
        action: Action::EndOfInput,
    },
    Binding {
        keys: &[(KeyCode::Char('c'), CTRL)],
        label: "Ctrl-C",
        help: "interrupt: an agent's turn stops and its conversation goes on (twice within 2 s: SIGINT); SIGINT for other sessions",
        action: Action::Interrupt,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab / Shift-Tab",
        help: "focus the next / previous pane",
        action: Action::FocusNext,
    },
    Binding {
        keys: &[(KeyCode::BackTab, SHIFT), (KeyCode::BackTab, NONE)],
        label: "",
        help: "",
        action: Action::FocusPrev,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE)],
        label: "PageUp / PageDown",
        help: "scroll the focused pane (also the mouse wheel)",
        action: Action::PageUp,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE)],
        label: "",
        help: "",
        action: Action::PageDown,
    },
    Binding {
        keys: &[(KeyCode::End, NONE)],
        label: "End",
        help: "when scrolled up: follow new output again",
        action: Action::Follow,
    },
    Binding {
        keys: &[(KeyCode::F(3), NONE), (KeyCode::Char('f'), CTRL)],
        label: "F3 / Ctrl-F",
        help: "search the scrollback (regex, smart case): Up/Down older/newer match, Enter keep, Esc close",
        action: Action::Search,
    },
    Binding {
        keys: &[(KeyCode::F(4), NONE)],
        label: "F4",
        help: "filter: show only the lines that match the search",
        action: Action::Filter,
    },
    Binding {
        keys: &[(KeyCode::F(2), NONE), (KeyCode::Char('z'), CTRL)],
        label: "F2 / Ctrl-Z",
        help: "zoom the focused pane to full size and back",
        action: Action::Zoom,
    },
    Binding {
        keys: &[(KeyCode::F(5), NONE)],
        label: "F5",
        help: "restart the focused session",
        action: Action::Restart,
    },
    Binding {
        keys: &[(KeyCode::F(6), NONE)],
        label: "F6",
        help: "kill the focused session (SIGTERM, then SIGKILL)",
        action: Action::Kill,
    },
    Binding {
        keys: &[(KeyCode::F(7), NONE), (KeyCode::Char('l'), CTRL)],
        label: "F7 / Ctrl-L",
        help: "clear the focused pane (the transcript keeps everything)",
        action: Action::Clear,
    },
    Binding {
        keys: &[(KeyCode::F(8), NONE)],
        label: "F8",
        help: "save the focused pane's scrollback to a file",
        action: Action::Save,
    },
    Binding {
        keys: &[(KeyCode::F(9), NONE), (KeyCode::Char('b'), CTRL)],
        label: "F9 / Ctrl-B",
        help: "mark the pane for broadcast: Enter in a marked pane sends to all marked panes",
        action: Action::ToggleMark,
    },
    Binding {
        keys: &[(KeyCode::F(9), SHIFT)],
        label: "Shift-F9",
        help: "mark (or unmark) the focused session's whole group for broadcast; in the list, F9 on a group header does too",
        action: Action::MarkGroup,
    },
    Binding {
        keys: &[(KeyCode::F(10), NONE), (KeyCode::Char('v'), ALT)],
        label: "F10 / Alt-V",
        help: "switch the pane's view: raw, json (pretty-printed), chat (stream-json as a conversation)",
        action: Action::CycleView,
    },
    Binding {
        keys: &[(KeyCode::F(11), NONE), (KeyCode::Char('l'), ALT)],
        label: "F11 / Alt-L",
        help: "switch the layout: tiles (pages of panes) or list (every session beside the focused pane)",
        action: Action::ToggleLayout,
    },
    Binding {
        keys: &[(KeyCode::Char('g'), CTRL)],
        label: "Ctrl-G",
        help: "jump to a session by name: type part of it (fuzzy), Enter focuses, Esc closes",
        action: Action::Jump,
    },
    Binding {
        keys: &[(KeyCode::Char('n'), CTRL)],
        label: "Ctrl-N",
        help: "focus the next session that needs you (marked !: awaiting input, failed, exited non-zero)",
        action: Action::NextAttention,
    },
    Binding {
        keys: &[(KeyCode::PageUp, CTRL), (KeyCode::PageUp, ALT)],
        label: "Ctrl-PageUp/Down",
        help: "tiles: the previous / next page of panes (also Alt-PageUp/Down)",
        action: Action::PagePrev,
    },
    Binding {
        keys: &[(KeyCode::PageDown, CTRL), (KeyCode::PageDown, ALT)],
        label: "",
        help: "",
        action: Action::PageNext,
    },
    Binding {
        keys: &[(KeyCode::F(1), NONE)],
        label: "F1",
        help: "this help (Esc closes it)",
        action: Action::Help,
    },
    Binding {
        keys: &[(KeyCode::Char('q'), CTRL)],
        label: "Ctrl-Q",
        help: "quit: stop every session and restore the terminal",
        action: Action::Quit,
    },
];

/// The action bound to a key in normal mode, if any.
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .find(|b| {
            b.keys.iter().any(|(code, modifiers)| {
                key.code == *code && key.modifiers == *modifiers
                    // Terminals report Ctrl-letter with or without SHIFT for capitals.
                    || matches!(key.code, KeyCode::Char(c) if *code == KeyCode::Char(c.to_ascii_lowercase()) && key.modifiers == (*modifiers | SHIFT) && modifiers.contains(CTRL))
            })
        })
        .map(|b| b.action)
}

/// Lines of the help overlay: (keys, what they do).
/// The keys of a replay (`sandmux replay`), shown first in its help.
pub const REPLAY_HELP: &[(&str, &str)] = &[
    ("Space", "replay: pause, or play on"),
    (
        "n",
        "replay: play the focused session's next turn (its input and what followed), then pause",
    ),
    (
        "s",
        "replay: the next speed (original pace, 10x, all at once)",
    ),
];

pub fn help_lines() -> Vec<(&'static str, &'static str)> {
    let mut lines: Vec<(&str, &str)> = BINDINGS
        .iter()
        .filter(|b| !b.label.is_empty())
        .map(|b| (b.label, b.help))
        .collect();
    lines.push((
        "List",
        "Up/Down move, Left/Right fold a group, Enter or typing goes to the editor, Esc back",
    ));
    lines.push((
        "Mouse",
        "click focuses a pane or a list row (a header folds); the wheel scrolls",
    ));
    lines.push((
        "Paste",
        "pasted text goes to the editor; each pasted newline sends a line",
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn default_keys_do_what_the_help_says() {
        assert_eq!(
            action_for(&key(KeyCode::Char('q'), CTRL)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('Q'), CTRL | SHIFT)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(&key(KeyCode::Tab, NONE)),
            Some(Action::FocusNext)
        );
        assert_eq!(
            action_for(&key(KeyCode::BackTab, SHIFT)),
            Some(Action::FocusPrev)
        );
        assert_eq!(action_for(&key(KeyCode::Enter, NONE)), Some(Action::Send));
        assert_eq!(action_for(&key(KeyCode::F(1), NONE)), Some(Action::Help));
        assert_eq!(action_for(&key(KeyCode::End, NONE)), Some(Action::Follow));
        assert_eq!(
            action_for(&key(KeyCode::Char('c'), CTRL)),
            Some(Action::Interrupt)
        );
    }

    #[test]
    fn plain_typing_is_left_to_the_editor() {
        for c in ['a', 'q', 'Z', ' ', '/', 'é'] {
            assert_eq!(action_for(&key(KeyCode::Char(c), NONE)), None);
        }
        assert_eq!(action_for(&key(KeyCode::Left, NONE)), None);
        assert_eq!(action_for(&key(KeyCode::Backspace, NONE)), None);
        assert_eq!(
            action_for(&key(KeyCode::Char('a'), CTRL)),
            None,
            "Ctrl-A is the editor's"
        );
    }

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = Vec::new();
        for b in BINDINGS {
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
            }
        }
    }

    #[test]
    fn every_action_is_in_the_help() {
        let help = help_lines();
        assert!(help.iter().any(|(k, _)| *k == "Ctrl-Q"));
        assert!(help.iter().any(|(k, _)| *k == "F1"));
        assert!(help.len() >= 15);
    }
}
