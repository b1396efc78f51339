//! How keys, the mouse and pasted text change the TUI: they move focus, scroll, search,
//! and become engine commands.

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::layout::Rect;

use super::app::{App, LayoutKind};
use super::keymap::{self, Action};
use super::layout;
use super::pane::Search;
use crate::engine::{Command, Engine};

/// Lines one mouse wheel step scrolls.
const WHEEL_LINES: i64 = 3;

impl App {
    /// Applies a terminal event (key, mouse, paste, resize).
    pub fn on_terminal_event(&mut self, event: TermEvent, engine: &mut Engine) {
        match event {
            TermEvent::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key, engine),
            TermEvent::Mouse(mouse) => self.on_mouse(mouse, engine),
            TermEvent::Paste(text) => self.on_paste(&text, engine),
            TermEvent::Resize(w, h) => self.area = Rect::new(0, 0, w, h),
            _ => {}
        }
    }

    pub fn on_key(&mut self, key: KeyEvent, engine: &mut Engine) {
        if self.help {
            if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('q') {
                self.help = false;
                self.quit = true;
                return;
            }
            let help = super::help::HelpLayout::new(self.area, self.replay.is_some());
            match help.scrolled(self.help_scroll, &key) {
                Some(scroll) => self.help_scroll = scroll,
                None => self.help = false,
            }
            return;
        }
        if self.picker.is_some() {
            self.on_picker_key(key);
            return;
        }
        if self.sticky.is_some() && key.code == KeyCode::Esc {
            self.sticky = None;
            return;
        }
        if self.panes.is_empty() {
            if keymap::action_for(&key) == Some(Action::Quit) {
                self.quit = true;
            }
            return;
        }
        if self.panes[self.focus]
            .search
            .as_ref()
            .is_some_and(|s| s.editing)
            && self.on_search_key(key, engine)
        {
            return;
        }
        if self.replay.is_some() && self.on_replay_key(key, engine) {
            return;
        }
        if self.replay.is_none() && self.on_approval_key(key, engine) {
            return;
        }
        if self.list_has_keys() && self.on_list_key(key) {
            return;
        }
        // Ctrl-M and Ctrl-J are Enter in some terminals: never let them insert a newline.
        let enter_alias =
            key.modifiers == KeyModifiers::CONTROL && matches!(key.code, KeyCode::Char('m' | 'j'));
        let action = if enter_alias {
            Some(Action::Send)
        } else {
            keymap::action_for(&key)
        };
        match action {
            Some(action) => self.act(action, key, engine),
            None => {
                if key.code == KeyCode::Esc {
                    let in_list = self.list_shown();
                    match self.focused() {
                        Some(pane) if pane.search.is_some() => pane.search = None,
                        // Esc in the editor hands the keys back to the list.
                        _ if in_list => self.list.keys = true,
                        _ => {}
                    }
                    return;
                }
                if let Some(pane) = self.focused() {
                    pane.input.input(key);
                }
            }
        }
    }

    fn act(&mut self, action: Action, key: KeyEvent, engine: &mut Engine) {
        let id = self.panes[self.focus].session;
        match action {
            Action::Quit => self.quit = true,
            Action::Help => {
                self.help = true;
                self.help_seen = true;
                self.help_scroll = 0;
            }
            Action::FocusNext => self.focus_step(1),
            Action::FocusPrev => self.focus_step(-1),
            Action::ToggleLayout => {
                self.toggle_layout();
                let name = match self.layout() {
                    LayoutKind::Tiles => "tiles",
                    LayoutKind::List => "list",
                };
                self.set_status(format!("layout: {name}"));
            }
            Action::Jump => self.open_picker(),
            Action::NextAttention => self.focus_next_attention(),
            Action::PagePrev | Action::PageNext => {
                let step = if action == Action::PagePrev { -1 } else { 1 };
                match self.layout() {
                    LayoutKind::Tiles => self.turn_page(step),
                    LayoutKind::List => {
                        let page = self.screen().sidebar.map_or(10, |r| r.height as isize);
                        self.list_scroll(step * page.max(1));
                    }
                }
            }
            Action::Zoom => self.zoomed = !self.zoomed,
            Action::Send => self.send(engine),
            Action::HistoryPrev => self.panes[self.focus].history_prev(),
            Action::HistoryNext => self.panes[self.focus].history_next(),
            Action::EndOfInput => {
                let pane = &mut self.panes[self.focus];
                if pane.line().is_empty() {
                    self.command(engine, Command::CloseStdin { session: id });
                    self.set_status("stdin closed (EOF sent)");
                } else {
                    pane.input.input(key);
                }
            }
            Action::Interrupt => {
                self.command(engine, Command::Interrupt { session: id });
                if let Some(session) = engine.session(id)
                    && session.agent.interrupting()
                {
                    self.set_status("interrupt sent: Ctrl-C again within 2 s sends SIGINT");
                }
            }
            Action::PageUp | Action::PageDown => {
                let lines = if action == Action::PageUp {
                    -self.page()
                } else {
                    self.page()
                };
                let height = self.view_height(self.focus);
                if let Some(session) = engine.session(id) {
                    self.panes[self.focus].scroll(&session.scrollback, lines, height);
                }
            }
            Action::Follow => {
                let pane = &mut self.panes[self.focus];
                if pane.anchor.is_some() {
                    pane.follow();
                } else {
                    pane.input.input(key);
                }
            }
            Action::Search => {
                let pane = &mut self.panes[self.focus];
                let search = pane.search.get_or_insert_with(Search::default);
                search.editing = true;
            }
            Action::Filter => {
                let pane = &mut self.panes[self.focus];
                match pane.search.as_mut() {
                    Some(search) if search.regex.is_some() => search.filter = !search.filter,
                    _ => {
                        let search = pane.search.get_or_insert_with(Search::default);
                        search.editing = true;
                        search.filter = true;
                    }
                }
            }
            Action::Restart => {
                self.panes[self.focus].follow();
                self.command(engine, Command::Restart { session: id });
                self.set_status("restarted");
            }
            Action::Kill => self.command(engine, Command::Kill { session: id }),
            Action::Clear => {
                self.panes[self.focus].follow();
                self.command(engine, Command::Clear { session: id });
            }
            Action::Save => self.save(engine),
            Action::CycleView => {
                let pane = &mut self.panes[self.focus];
                pane.view = pane.view.next();
                let view = pane.view.as_str();
                self.set_status(format!("view: {view}"));
            }
            Action::ToggleMark => match self.list.header.clone() {
                Some(group) if self.list_has_keys() => self.mark_group(&group),
                _ => {
                    let pane = &mut self.panes[self.focus];
                    pane.marked = !pane.marked;
                    let marked = self.panes.iter().filter(|p| p.marked).count();
                    self.set_status(format!("{marked} pane(s) marked for broadcast"));
                }
            },
            Action::MarkGroup => {
                let group = match &self.list.header {
                    Some(group) => Some(group.clone()),
                    None => self.panes[self.focus].group.clone(),
                };
                match group {
                    Some(group) => self.mark_group(&group),
                    None => self.set_status("this session is in no group"),
                }
            }
        }
    }

    /// Keys of a replay: Space pauses and plays, `n` steps the focused session a turn, `s`
    /// switches the speed; other typing is refused (a replay sends nothing).
    fn on_replay_key(&mut self, key: KeyEvent, engine: &Engine) -> bool {
        let (Some(clock), KeyCode::Char(c)) = (self.replay.clone(), key.code) else {
            return false;
        };
        if !(key.modifiers - KeyModifiers::SHIFT).is_empty() {
            return false;
        }
        match c {
            ' ' => {
                let status = clock.toggle_pause();
                self.set_status(status);
            }
            's' => {
                let status = clock.cycle_speed();
                self.set_status(status);
            }
            'n' => {
                let id = self.panes[self.focus].session;
                if let Some(session) = engine.session(id) {
                    clock.step(&session.spec.name);
                    self.set_status(format!("{}: next turn", session.spec.name));
                }
            }
            _ => self.set_status(super::app::REPLAY_HINT),
        }
        true
    }

    /// Keys while the search query is being edited. Returns false for keys it leaves to the
    /// normal bindings (Tab, function keys, Ctrl-Q, ...).
    fn on_search_key(&mut self, key: KeyEvent, engine: &mut Engine) -> bool {
        let pane = &mut self.panes[self.focus];
        let Some(session) = engine.session(pane.session) else {
            return false;
        };
        let scrollback = &session.scrollback;
        let Some(current) = pane.search.as_ref().map(|s| s.current) else {
            return false;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let older = key.code == KeyCode::Up || ctrl && key.code == KeyCode::Char('p');
        let newer = key.code == KeyCode::Down || ctrl && key.code == KeyCode::Char('n');
        let mut query_changed = None;
        if older {
            let found = match current {
                Some(c) if c <= scrollback.first_seq() => false,
                Some(c) => pane.find(scrollback, c - 1, true),
                None => pane.find(scrollback, pane.bottom(scrollback).unwrap_or(0), true),
            };
            if !found {
                self.set_status("no older match");
            }
            return true;
        }
        if newer {
            let from = current.map_or(u64::MAX, |c| c + 1);
            if current.is_none() || !pane.find(scrollback, from, false) {
                pane.follow();
                if let Some(s) = pane.search.as_mut() {
                    s.current = None;
                }
            }
            return true;
        }
        let Some(search) = pane.search.as_mut() else {
            return false;
        };
        match key.code {
            KeyCode::Esc => pane.search = None,
            KeyCode::Enter => search.editing = false,
            KeyCode::Char('u') if ctrl => query_changed = Some(String::new()),
            KeyCode::Backspace => {
                let mut query = search.query.clone();
                query.pop();
                query_changed = Some(query);
            }
            KeyCode::Char(c) if !ctrl || key.modifiers == KeyModifiers::SHIFT => {
                query_changed = Some(format!("{}{c}", search.query));
            }
            _ => return false,
        }
        if let Some(query) = query_changed {
            if let Some(search) = pane.search.as_mut() {
                search.set_query(query);
            }
            self.jump_to_latest_match(engine);
        }
        true
    }

    /// Incremental search: show the newest match as the query changes.
    fn jump_to_latest_match(&mut self, engine: &Engine) {
        let pane = &mut self.panes[self.focus];
        let Some(session) = engine.session(pane.session) else {
            return;
        };
        let scrollback = &session.scrollback;
        if !pane.find(scrollback, u64::MAX, true)
            && let Some(search) = pane.search.as_mut()
        {
            search.current = None;
        }
    }

    /// Marks every session of `group` for broadcast, or unmarks them when all are marked.
    fn mark_group(&mut self, group: &str) {
        let members: Vec<usize> = (0..self.panes.len())
            .filter(|i| self.panes[*i].group.as_deref() == Some(group))
            .collect();
        let mark = !members.iter().all(|i| self.panes[*i].marked);
        for i in &members {
            self.panes[*i].marked = mark;
        }
        let marked = self.panes.iter().filter(|p| p.marked).count();
        let verb = if mark { "marked" } else { "unmarked" };
        self.set_status(format!(
            "group {group} {verb}: {marked} pane(s) marked for broadcast"
        ));
    }

    fn on_mouse(&mut self, mouse: MouseEvent, engine: &mut Engine) {
        if self.help {
            let code = match mouse.kind {
                MouseEventKind::ScrollUp => KeyCode::Up,
                MouseEventKind::ScrollDown => KeyCode::Down,
                _ => return,
            };
            let help = super::help::HelpLayout::new(self.area, self.replay.is_some());
            let key = KeyEvent::new(code, KeyModifiers::NONE);
            self.help_scroll = help
                .scrolled(self.help_scroll, &key)
                .unwrap_or(self.help_scroll);
            return;
        }
        if self.picker.is_some() {
            return;
        }
        let screen = self.screen();
        if let Some(list) = screen.sidebar
            && layout::hit(&[list], mouse.column, mouse.row).is_some()
        {
            match mouse.kind {
                MouseEventKind::Down(MouseButton::Left) => self.on_list_click(mouse.row - list.y),
                MouseEventKind::ScrollUp => self.list_scroll(-1),
                MouseEventKind::ScrollDown => self.list_scroll(1),
                _ => {}
            }
            return;
        }
        let just_rects: Vec<Rect> = screen.panes.iter().map(|(_, r)| *r).collect();
        let Some(hit) = layout::hit(&just_rects, mouse.column, mouse.row) else {
            return;
        };
        let index = screen.panes[hit].0;
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.set_focus(index);
                self.list.keys = false;
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let lines = if mouse.kind == MouseEventKind::ScrollUp {
                    -WHEEL_LINES
                } else {
                    WHEEL_LINES
                };
                let id = self.panes[index].session;
                let height = self.view_height(index);
                if let Some(session) = engine.session(id) {
                    self.panes[index].scroll(&session.scrollback, lines, height);
                }
            }
            _ => {}
        }
    }

    /// Pasted text goes to the editor; each newline in it sends the line so far.
    pub fn on_paste(&mut self, text: &str, engine: &mut Engine) {
        if self.panes.is_empty() {
            return;
        }
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut parts = text.split('\n').peekable();
        while let Some(part) = parts.next() {
            self.panes[self.focus].input.insert_str(part);
            if parts.peek().is_some() {
                self.send(engine);
            }
        }
    }
}
