//! The TUI's state and how input changes it. Drawing takes `&self` and does no I/O; input
//! turns into engine [`Command`]s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Row, Table, Wrap};

use super::keymap::{self, Action};
use super::layout;
use super::pane::{Pane, Search};
use super::rows::visible_rows;
use crate::engine::{Activity, Command, Engine, Event, SessionState, Stream, View};
use crate::text::printable;

/// What marks input in a saved scrollback (F8).
pub const INPUT_MARK: &str = "› ";
/// How long a status message stays.
const STATUS_FOR: Duration = Duration::from_secs(6);
/// Lines one mouse wheel step scrolls.
const WHEEL_LINES: i64 = 3;

/// The whole TUI state.
pub struct App {
    pub panes: Vec<Pane>,
    pub focus: usize,
    pub zoomed: bool,
    pub help: bool,
    pub quit: bool,
    status: Option<(String, Instant)>,
    /// The terminal area the last frame used (for mouse hit tests and page sizes).
    pub area: Rect,
    /// Where scrollback files are saved.
    pub save_dir: PathBuf,
}

impl App {
    /// A pane for every session of the engine; focus on the first.
    pub fn new(engine: &Engine) -> Self {
        let mut panes: Vec<Pane> = engine
            .sessions()
            .map(|(id, session)| Pane::for_session(id, session))
            .collect();
        if let Some(first) = panes.first_mut() {
            first.set_focused(true);
        }
        App {
            panes,
            focus: 0,
            zoomed: false,
            help: false,
            quit: false,
            status: None,
            area: Rect::new(0, 0, 80, 24),
            save_dir: PathBuf::from("."),
        }
    }

    pub fn set_status(&mut self, message: impl Into<String>) {
        self.status = Some((message.into(), Instant::now()));
    }

    /// The status message, while it is fresh.
    pub fn status(&self) -> Option<&str> {
        self.status
            .as_ref()
            .filter(|(_, at)| at.elapsed() < STATUS_FOR)
            .map(|(m, _)| m.as_str())
    }

    /// Applies what the engine reports.
    pub fn on_engine_event(&mut self, event: &Event, engine: &Engine) {
        let name = |id: usize| {
            engine
                .session(id)
                .map_or("?".to_string(), |s| s.spec.name.clone())
        };
        match event {
            Event::Output { session, .. } => {
                let Some(pane) = self.panes.iter_mut().find(|p| p.session == *session) else {
                    return;
                };
                if pane.anchor.is_some() {
                    pane.unseen = true;
                }
                // A search still waiting for its first match looks at what just arrived.
                let waiting = pane
                    .search
                    .as_ref()
                    .is_some_and(|s| s.regex.is_some() && s.current.is_none());
                if waiting && let Some(s) = engine.session(*session) {
                    let end = s.scrollback.end_seq();
                    let from = end.saturating_sub(64).max(s.scrollback.first_seq());
                    let hit = (from..end).rev().find(|seq| {
                        s.scrollback.get(*seq).is_some_and(|line| {
                            pane.search.as_ref().is_some_and(|q| q.matches(line))
                        })
                    });
                    if let (Some(seq), Some(search)) = (hit, pane.search.as_mut()) {
                        search.current = Some(seq);
                    }
                }
            }
            Event::Warning { session, message } => {
                self.set_status(format!(
                    "{}: {}",
                    name(*session),
                    printable(message.as_bytes())
                ));
            }
            Event::Failed { session, reason } => {
                self.set_status(format!(
                    "{} failed: {}",
                    name(*session),
                    printable(reason.as_bytes())
                ));
            }
            Event::Added { session } => {
                if let Some(s) = engine.session(*session)
                    && !self.panes.iter().any(|p| p.session == *session)
                {
                    self.panes.push(Pane::for_session(*session, s));
                    if self.panes.len() == 1 {
                        self.set_focus(0);
                    }
                    self.set_status(format!("{} added", s.spec.name));
                }
            }
            Event::Removed { session } => {
                if let Some(index) = self.panes.iter().position(|p| p.session == *session) {
                    self.panes.remove(index);
                    if self.focus >= index && self.focus > 0 {
                        self.focus -= 1;
                    }
                    if let Some(pane) = self.panes.get_mut(self.focus) {
                        pane.set_focused(true);
                    }
                    self.set_status("a session was removed");
                }
            }
            Event::StopRequested => self.quit = true,
            Event::Progress { .. } | Event::Started { .. } | Event::Exited { .. } => {}
        }
    }

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

    fn focused(&mut self) -> Option<&mut Pane> {
        self.panes.get_mut(self.focus)
    }

    pub fn set_focus(&mut self, index: usize) {
        if index >= self.panes.len() {
            return;
        }
        if let Some(old) = self.panes.get_mut(self.focus) {
            old.set_focused(false);
        }
        self.focus = index;
        self.panes[index].set_focused(true);
    }

    /// Rows of output pane `index` shows (its area less the borders and the input line).
    fn view_height(&self, index: usize) -> usize {
        let rects = self.pane_rects(self.panes_area());
        rects
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(10, |(_, r)| r.height.saturating_sub(3).max(1) as usize)
    }

    /// Lines a page scroll moves in the focused pane.
    fn page(&self) -> i64 {
        (self.view_height(self.focus).max(2) - 1) as i64
    }

    pub fn on_key(&mut self, key: KeyEvent, engine: &mut Engine) {
        if self.help {
            if matches!(key.code, KeyCode::Esc | KeyCode::F(1) | KeyCode::Char('q'))
                || key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('q')
            {
                self.help = false;
            }
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
                    if let Some(pane) = self.focused() {
                        pane.search = None;
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
            Action::Help => self.help = true,
            Action::FocusNext => self.set_focus((self.focus + 1) % self.panes.len()),
            Action::FocusPrev => {
                self.set_focus((self.focus + self.panes.len() - 1) % self.panes.len())
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
                self.command(
                    engine,
                    Command::Signal {
                        session: id,
                        signal: libc::SIGINT,
                    },
                );
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
            Action::ToggleMark => {
                let pane = &mut self.panes[self.focus];
                pane.marked = !pane.marked;
                let marked = self.panes.iter().filter(|p| p.marked).count();
                self.set_status(format!("{marked} pane(s) marked for broadcast"));
            }
        }
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

    fn command(&mut self, engine: &mut Engine, command: Command) {
        match engine.apply(command) {
            Ok(Some(Event::Warning { message, .. })) => {
                self.set_status(printable(message.as_bytes()))
            }
            Ok(_) => {}
            Err(err) => self.set_status(err.to_string()),
        }
    }

    /// Sends the editor's line to the focused session, or to every marked pane when the
    /// focused one is marked.
    fn send(&mut self, engine: &mut Engine) {
        let text = self.panes[self.focus].take_line();
        let targets: Vec<usize> = if self.panes[self.focus].marked {
            (0..self.panes.len())
                .filter(|i| self.panes[*i].marked)
                .collect()
        } else {
            vec![self.focus]
        };
        for index in targets {
            if index != self.focus {
                self.panes[index].remember(&text);
            }
            self.panes[index].follow();
            let session = self.panes[index].session;
            // A user turn: a plain line, or a user message for a stream-json agent.
            self.command(
                engine,
                Command::SendTurn {
                    session,
                    text: text.clone(),
                },
            );
        }
    }

    fn save(&mut self, engine: &Engine) {
        let pane = &self.panes[self.focus];
        let Some(session) = engine.session(pane.session) else {
            return;
        };
        let stamp = crate::engine::transcript::now_ms();
        let path = self
            .save_dir
            .join(format!("{}-{stamp}.log", session.spec.name));
        let mut bytes = Vec::with_capacity(session.scrollback.bytes() + session.scrollback.len());
        for line in session.scrollback.iter() {
            // Input sent to the session is marked, so it cannot be taken for output.
            if line.stream == Stream::Stdin {
                bytes.extend_from_slice(INPUT_MARK.as_bytes());
            }
            bytes.extend_from_slice(line.bytes);
            bytes.push(b'\n');
        }
        let message = match std::fs::write(&path, &bytes) {
            Ok(()) => format!(
                "saved {} lines to {}",
                session.scrollback.len(),
                path.display()
            ),
            Err(err) => format!("cannot save to {}: {err}", path.display()),
        };
        self.set_status(message);
    }

    fn on_mouse(&mut self, mouse: MouseEvent, engine: &mut Engine) {
        let rects = self.pane_rects(self.panes_area());
        let just_rects: Vec<Rect> = rects.iter().map(|(_, r)| *r).collect();
        let Some(hit) = layout::hit(&just_rects, mouse.column, mouse.row) else {
            return;
        };
        let index = rects[hit].0;
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => self.set_focus(index),
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

    /// The area for panes: everything but the status line.
    pub fn panes_area(&self) -> Rect {
        Rect {
            height: self.area.height.saturating_sub(1),
            ..self.area
        }
    }

    /// Which pane goes where: all tiled, or only the focused one when zoomed.
    pub fn pane_rects(&self, area: Rect) -> Vec<(usize, Rect)> {
        if self.zoomed && !self.panes.is_empty() {
            return vec![(self.focus, area)];
        }
        layout::tile(area, self.panes.len())
            .into_iter()
            .enumerate()
            .collect()
    }

    /// Draws everything. Pure: a function of the state and the engine.
    pub fn draw(&self, frame: &mut Frame, engine: &Engine) {
        let area = frame.area();
        let [panes_area, status_area] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
        if self.panes.is_empty() {
            let text =
                Paragraph::new("no sessions: add them with --config FILE or -s NAME=COMMAND")
                    .wrap(Wrap { trim: true });
            frame.render_widget(text, panes_area);
        }
        for (index, rect) in self.pane_rects(panes_area) {
            self.draw_pane(frame, rect, index, engine);
        }
        self.draw_status(frame, status_area, engine);
        if self.help {
            draw_help(frame, area);
        }
    }

    fn draw_pane(&self, frame: &mut Frame, area: Rect, index: usize, engine: &Engine) {
        let pane = &self.panes[index];
        let Some(session) = engine.session(pane.session) else {
            return;
        };
        let focused = index == self.focus;
        let activity = session.activity(tokio::time::Instant::now());
        let (state_text, state_style) = match &session.state {
            SessionState::Running { .. } => (
                activity.as_str().to_string(),
                match activity {
                    Activity::AwaitingInput => Style::default()
                        .fg(Color::Yellow)
                        .add_modifier(Modifier::BOLD),
                    Activity::Working => Style::default().fg(Color::Green),
                    _ => Style::default().fg(Color::Gray),
                },
            ),
            SessionState::Starting { .. } => (
                session.state.to_string(),
                Style::default().fg(Color::Yellow),
            ),
            SessionState::Exited(status) if status.success() => {
                (status.to_string(), Style::default().fg(Color::Gray))
            }
            SessionState::Exited(status) => {
                (status.to_string(), Style::default().fg(Color::LightRed))
            }
            SessionState::Failed { .. } => (
                "failed".to_string(),
                Style::default()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD),
            ),
        };
        let name_style = if focused {
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        let mut title = vec![
            Span::raw(" "),
            Span::styled(session.spec.name.clone(), name_style),
            Span::raw(" · "),
            Span::styled(printable(state_text.as_bytes()), state_style),
            Span::raw(" "),
        ];
        if session.stdin_closed && session.state.is_live() {
            title.push(Span::styled("[EOF] ", Style::default().fg(Color::DarkGray)));
        }
        if pane.marked {
            title.push(Span::styled(
                "[B] ",
                Style::default()
                    .fg(Color::Magenta)
                    .add_modifier(Modifier::BOLD),
            ));
        }
        if pane.view != View::Raw {
            title.push(Span::styled(
                format!("[{}] ", pane.view.as_str()),
                Style::default().fg(Color::Blue),
            ));
        }
        let mut right = Vec::new();
        if pane.anchor.is_some() {
            let bottom = pane.bottom(&session.scrollback).unwrap_or(0);
            right.push(Span::styled(
                format!(" line {}/{} ", bottom + 1, session.scrollback.end_seq()),
                Style::default().fg(Color::Yellow),
            ));
            if pane.unseen {
                right.push(Span::styled(
                    " ↓ new output (End) ",
                    Style::default().fg(Color::Black).bg(Color::Yellow),
                ));
            }
        }
        if pane.filter().is_some() {
            right.push(Span::styled(
                " filter ",
                Style::default().fg(Color::Black).bg(Color::Cyan),
            ));
        }
        // An unfocused pane that waits for input stands out.
        let border_style = if focused {
            Style::default().fg(Color::Cyan)
        } else if activity == Activity::AwaitingInput {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default().fg(Color::DarkGray)
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(if focused {
                BorderType::Thick
            } else {
                BorderType::Rounded
            })
            .border_style(border_style)
            .title(TextLine::from(title))
            .title_top(TextLine::from(right).right_aligned());
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if inner.height == 0 || inner.width == 0 {
            return;
        }
        let input_height = u16::from(inner.height >= 2);
        let [output_area, input_area] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(input_height)]).areas(inner);

        // A start failure is shown in full under the output, wrapped.
        let failure = match &session.state {
            SessionState::Failed { reason } => {
                Some(format!("✖ failed: {}", printable(reason.as_bytes())))
            }
            _ => None,
        };
        let failure_rows = failure.as_ref().map_or(0, |text| {
            let width = output_area.width.max(1) as usize;
            (unicode_width::UnicodeWidthStr::width(text.as_str()).div_ceil(width)).min(4) as u16
        });
        let [output_area, failure_area] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(failure_rows)])
                .areas(output_area);
        let rows = visible_rows(
            &session.scrollback,
            pane.bottom(&session.scrollback),
            output_area.width as usize,
            output_area.height as usize,
            pane.search.as_ref(),
            pane.view,
        );
        frame.render_widget(Paragraph::new(rows), output_area);
        if let Some(text) = failure {
            let style = Style::default()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD);
            frame.render_widget(
                Paragraph::new(text).style(style).wrap(Wrap { trim: false }),
                failure_area,
            );
        }

        if input_area.height == 0 {
            return;
        }
        match pane
            .search
            .as_ref()
            .filter(|s| s.editing || s.regex.is_some() || s.error.is_some())
        {
            Some(search) => {
                let mut spans = vec![
                    Span::styled(
                        if search.filter { "filter/" } else { "search/" },
                        Style::default().fg(Color::Cyan),
                    ),
                    Span::raw(printable(search.query.as_bytes())),
                ];
                if search.editing {
                    spans.push(Span::styled(
                        " ",
                        Style::default().add_modifier(Modifier::REVERSED),
                    ));
                }
                if let Some(err) = &search.error {
                    spans.push(Span::styled(
                        format!("  {}", printable(err.as_bytes())),
                        Style::default().fg(Color::LightRed),
                    ));
                } else if search.regex.is_some() && search.current.is_none() {
                    spans.push(Span::styled(
                        "  no match",
                        Style::default().fg(Color::Yellow),
                    ));
                }
                frame.render_widget(Paragraph::new(TextLine::from(spans)), input_area);
            }
            None => {
                let [prompt_area, editor_area] =
                    Layout::horizontal([Constraint::Length(2), Constraint::Min(0)])
                        .areas(input_area);
                let prompt_style = if focused {
                    Style::default().fg(Color::Cyan)
                } else {
                    Style::default().fg(Color::DarkGray)
                };
                frame.render_widget(Span::styled("› ", prompt_style), prompt_area);
                frame.render_widget(&pane.input, editor_area);
            }
        }
    }

    fn draw_status(&self, frame: &mut Frame, area: Rect, engine: &Engine) {
        let running = engine.sessions().filter(|(_, s)| s.state.is_live()).count();
        let total = engine.sessions().count();
        let now = tokio::time::Instant::now();
        let mut parts = Vec::new();
        for activity in [Activity::AwaitingInput, Activity::Working, Activity::Idle] {
            let n = engine
                .sessions()
                .filter(|(_, s)| s.activity(now) == activity)
                .count();
            if n > 0 {
                parts.push(format!("{n} {}", activity.as_str()));
            }
        }
        parts.push(format!("{running}/{total} running"));
        let right = format!(" {} ", parts.join(" · "));
        let left = match self.status() {
            Some(message) => {
                Span::styled(format!(" {message}"), Style::default().fg(Color::Yellow))
            }
            None => Span::styled(
                " F1 help · Tab next pane · Enter send · Ctrl-F search · F2 zoom · Ctrl-Q quit",
                Style::default().fg(Color::DarkGray),
            ),
        };
        let [left_area, right_area] = Layout::horizontal([
            Constraint::Min(0),
            Constraint::Length(unicode_width::UnicodeWidthStr::width(right.as_str()) as u16),
        ])
        .areas(area);
        frame.render_widget(Paragraph::new(TextLine::from(left)), left_area);
        frame.render_widget(
            Paragraph::new(TextLine::from(Span::styled(
                right,
                Style::default().fg(Color::Gray),
            ))),
            right_area,
        );
    }
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let lines = keymap::help_lines();
    let width = area.width.saturating_sub(4).min(100);
    let height = (lines.len() as u16 + 4).min(area.height);
    let popup = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let rows = lines.into_iter().map(|(keys, what)| {
        Row::new(vec![
            Span::styled(
                keys,
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(what),
        ])
    });
    let table = Table::new(rows, [Constraint::Length(18), Constraint::Min(10)]).block(
        Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .title(" sandmux keys (Esc closes) "),
    );
    frame.render_widget(table, popup);
}
