//! The TUI's state, and how engine events change it. Input is in `input.rs`, drawing in
//! `draw.rs` (it takes `&self` and does no I/O).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ratatui::layout::Rect;

use super::attention::{Alerts, Attention};
use super::layout;
use super::pane::Pane;
use super::picker::Picker;
use super::sidebar::ListState;
use crate::config::LayoutSetting;
use crate::engine::{Activity, Command, Engine, Event, Stream};
use crate::text::printable;

/// What marks input in a saved scrollback (F8).
pub const INPUT_MARK: &str = "› ";
/// How long a status message stays.
const STATUS_FOR: Duration = Duration::from_secs(6);
/// What a replay says to keys that would send something.
pub const REPLAY_HINT: &str =
    "a replay is read-only: Space pause/play · n next turn · s speed · Ctrl-F search";
/// From this many sessions on, the automatic layout is the list.
pub const LIST_FROM: usize = 9;

/// How the panes are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    /// Every pane a tile, in pages when they do not fit.
    Tiles,
    /// A list of every session beside the focused one's pane.
    List,
}

/// Where everything goes on the screen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Screen {
    /// The session list (list layout).
    pub sidebar: Option<Rect>,
    /// The panes shown, by index, with their rectangles.
    pub panes: Vec<(usize, Rect)>,
    /// The page of tiles shown and how many there are (tiles layout).
    pub page: Option<(usize, usize)>,
}

/// The whole TUI state.
pub struct App {
    pub panes: Vec<Pane>,
    pub focus: usize,
    pub zoomed: bool,
    pub help: bool,
    /// The first help row shown (the help scrolls when taller than the screen).
    pub help_scroll: u16,
    /// Whether the help was ever opened: until then the status line says how to.
    pub help_seen: bool,
    pub quit: bool,
    pub(super) status: Option<(String, Instant)>,
    /// A warning that stays until dismissed with Esc (a transcript that could not be
    /// written).
    pub sticky: Option<String>,
    /// The terminal area the last frame used (for mouse hit tests and page sizes).
    pub area: Rect,
    /// Where scrollback files are saved.
    pub save_dir: PathBuf,
    /// The layout asked for: a fixed one, or `Auto` (by session count) until F11.
    pub layout_setting: LayoutSetting,
    /// The session list's state (list layout).
    pub list: ListState,
    /// The jump-by-name picker, while open.
    pub picker: Option<Picker>,
    /// The opt-in bell and notifications.
    pub alerts: Alerts,
    /// Alert bytes for the terminal, written after the next frame.
    pending_alerts: Vec<u8>,
    /// `--record`: writes what the user does as a script.
    pub recorder: Option<crate::record::Recorder>,
    /// `sandmux replay`: the clock the sessions play on (nothing is sent to them).
    pub replay: Option<crate::replay::Clock>,
}

impl App {
    /// A pane for every session of the engine; focus on the first in display order.
    pub fn new(engine: &Engine) -> Self {
        let panes: Vec<Pane> = engine
            .sessions()
            .map(|(id, session)| Pane::for_session(id, session))
            .collect();
        let mut app = App {
            panes,
            focus: 0,
            zoomed: false,
            help: false,
            help_scroll: 0,
            help_seen: false,
            quit: false,
            status: None,
            sticky: None,
            area: Rect::new(0, 0, 80, 24),
            save_dir: PathBuf::from("."),
            layout_setting: LayoutSetting::Auto,
            list: ListState::default(),
            picker: None,
            alerts: Alerts::OFF,
            pending_alerts: Vec::new(),
            recorder: None,
            replay: None,
        };
        if let Some(first) = app.order().first() {
            app.set_focus(*first);
        }
        app
    }

    /// The layout in force.
    pub fn layout(&self) -> LayoutKind {
        match self.layout_setting {
            LayoutSetting::Tiles => LayoutKind::Tiles,
            LayoutSetting::List => LayoutKind::List,
            LayoutSetting::Auto if self.panes.len() >= LIST_FROM => LayoutKind::List,
            LayoutSetting::Auto => LayoutKind::Tiles,
        }
    }

    /// Whether the session list is on screen (the list layout, not zoomed).
    pub fn list_shown(&self) -> bool {
        self.layout() == LayoutKind::List && !self.zoomed
    }

    /// Whether keys go to the session list first.
    pub fn list_has_keys(&self) -> bool {
        self.list_shown() && self.list.keys
    }

    /// F11: the other layout, from now on.
    pub fn toggle_layout(&mut self) {
        self.layout_setting = match self.layout() {
            LayoutKind::Tiles => LayoutSetting::List,
            LayoutKind::List => LayoutSetting::Tiles,
        };
        self.zoomed = false;
    }

    /// Pane indices in display order: ungrouped sessions first, then each group (in the order
    /// its first session came), every one in the order the sessions came.
    pub fn order(&self) -> Vec<usize> {
        let mut groups: Vec<&str> = Vec::new();
        for pane in &self.panes {
            if let Some(group) = pane.group.as_deref()
                && !groups.contains(&group)
            {
                groups.push(group);
            }
        }
        let mut order: Vec<usize> = (0..self.panes.len())
            .filter(|i| self.panes[*i].group.is_none())
            .collect();
        for group in groups {
            order.extend(
                (0..self.panes.len()).filter(|i| self.panes[*i].group.as_deref() == Some(group)),
            );
        }
        order
    }

    /// The order focus moves in: in the list, without the sessions of folded groups.
    pub fn nav_order(&self) -> Vec<usize> {
        let order = self.order();
        if self.layout() == LayoutKind::Tiles {
            return order;
        }
        order
            .into_iter()
            .filter(|i| !self.list.is_folded(self.panes[*i].group.as_deref()))
            .collect()
    }

    /// Moves focus `step` places along the navigation order (wrapping).
    pub fn focus_step(&mut self, step: isize) {
        let order = self.nav_order();
        if order.is_empty() {
            return;
        }
        let at = order.iter().position(|i| *i == self.focus);
        let next = match at {
            Some(at) => (at as isize + step).rem_euclid(order.len() as isize) as usize,
            None if step < 0 => order.len() - 1,
            None => 0,
        };
        self.set_focus(order[next]);
    }

    /// Ctrl-N: the next session after the focused one that needs attention.
    pub fn focus_next_attention(&mut self) {
        let order = self.order();
        let at = order.iter().position(|i| *i == self.focus).unwrap_or(0);
        let next = (1..=order.len())
            .map(|k| order[(at + k) % order.len()])
            .find(|i| self.panes[*i].attention.is_some());
        match next {
            Some(index) => {
                let what = self.panes[index]
                    .attention
                    .as_ref()
                    .map(Attention::describe)
                    .unwrap_or_default();
                let name = self.panes[index].name.clone();
                self.reveal(index);
                self.set_status(format!("{name}: {what}"));
            }
            None => self.set_status("no session needs you"),
        }
    }

    /// Focuses pane `index`, unfolding its group, with keys going to its editor.
    pub fn reveal(&mut self, index: usize) {
        if let Some(group) = self.panes.get(index).and_then(|p| p.group.clone()) {
            self.list.unfold(&group);
        }
        self.set_focus(index);
        self.list.keys = false;
    }

    /// How many sessions need attention.
    pub fn attention_count(&self) -> usize {
        self.panes.iter().filter(|p| p.attention.is_some()).count()
    }

    /// Alert bytes (bell, notifications) to write to the terminal; empties the queue.
    pub fn take_alerts(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending_alerts)
    }

    /// Marks pane `index` as needing attention for `why`, unless it is focused; rings and
    /// notifies when opted in.
    pub(super) fn raise(&mut self, index: usize, why: Attention) {
        if index == self.focus || self.panes[index].attention.as_ref() == Some(&why) {
            return;
        }
        let bytes = self.alerts.bytes(&self.panes[index].name, &why.describe());
        self.pending_alerts.extend_from_slice(&bytes);
        self.panes[index].attention = Some(why);
    }

    /// Notices a session that has just started awaiting input (after input it had not been
    /// seen awaiting for).
    fn notice_awaiting(&mut self, index: usize, engine: &Engine) {
        let Some(session) = engine.session(self.panes[index].session) else {
            return;
        };
        let awaiting = session.activity(tokio::time::Instant::now()) == Activity::AwaitingInput;
        let pane = &mut self.panes[index];
        if !awaiting {
            if pane.attention == Some(Attention::AwaitingInput) {
                pane.attention = None;
            }
            return;
        }
        if pane.awaiting_after == Some(session.last_input_seq) {
            return;
        }
        pane.awaiting_after = Some(session.last_input_seq);
        self.raise(index, Attention::AwaitingInput);
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
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.event(event, engine);
            if let Some(failure) = recorder.take_failure() {
                self.sticky = Some(failure);
            }
        }
        let name = |id: usize| {
            engine
                .session(id)
                .map_or("?".to_string(), |s| s.spec.name.clone())
        };
        let index = event
            .session()
            .and_then(|id| self.panes.iter().position(|p| p.session == id));
        match event {
            Event::Output {
                session, stream, ..
            } => {
                let Some(index) = index else {
                    return;
                };
                self.notice_awaiting(index, engine);
                let focused = index == self.focus;
                let pane = &mut self.panes[index];
                if *stream != Stream::Stdin && !focused {
                    pane.fresh = true;
                }
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
                if let Some(index) = index {
                    self.raise(index, Attention::Failed);
                }
            }
            Event::Exited { status, .. } => {
                if let Some(index) = index {
                    if status.success() {
                        // A prompt it showed before it ended is no longer waiting.
                        if self.panes[index].attention == Some(Attention::AwaitingInput) {
                            self.panes[index].attention = None;
                        }
                    } else {
                        self.raise(index, Attention::Exited(*status));
                    }
                }
            }
            Event::Started { .. } => {
                // A restarted session starts afresh.
                if let Some(index) = index {
                    self.panes[index].awaiting_after = None;
                }
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
            Event::Approval { session, approval } => {
                if let Some(index) = index {
                    self.raise(index, Attention::AwaitingApproval);
                }
                self.set_status(format!(
                    "{} asks to use {}: y allow · a always · n deny",
                    name(*session),
                    printable(approval.tool.as_bytes())
                ));
            }
            Event::ApprovalClosed { session, .. } => {
                let waiting = engine
                    .session(*session)
                    .is_some_and(|s| !s.agent.pending().is_empty());
                if let Some(index) = index
                    && !waiting
                    && self.panes[index].attention == Some(Attention::AwaitingApproval)
                {
                    self.panes[index].attention = None;
                }
            }
            Event::StopRequested => self.quit = true,
            Event::TranscriptFailed { message, .. } => {
                self.sticky = Some(printable(message.as_bytes()));
            }
            Event::Progress { .. } => {}
        }
    }

    pub(super) fn focused(&mut self) -> Option<&mut Pane> {
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
        self.list.header = None;
        let pane = &mut self.panes[index];
        pane.set_focused(true);
        pane.attention = None;
        pane.fresh = false;
    }

    /// Rows of output pane `index` shows (its area less the borders and the input line).
    pub(super) fn view_height(&self, index: usize) -> usize {
        self.screen()
            .panes
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(10, |(_, r)| r.height.saturating_sub(3).max(1) as usize)
    }

    /// Lines a page scroll moves in the focused pane.
    pub(super) fn page(&self) -> i64 {
        (self.view_height(self.focus).max(2) - 1) as i64
    }

    pub(super) fn command(&mut self, engine: &mut Engine, command: Command) {
        if self.replay.is_some() {
            self.set_status(REPLAY_HINT);
            return;
        }
        let recorded = self.recorder.is_some().then(|| command.clone());
        match engine.apply(command) {
            Ok(Some(Event::Warning { message, .. })) => {
                self.set_status(printable(message.as_bytes()))
            }
            Ok(_) => {
                if let (Some(recorder), Some(command)) = (self.recorder.as_mut(), recorded) {
                    recorder.command(&command, engine);
                    if let Some(failure) = recorder.take_failure() {
                        self.sticky = Some(failure);
                    }
                }
            }
            Err(err) => self.set_status(err.to_string()),
        }
    }

    /// Sends the editor's line to the focused session, or to every marked pane when the
    /// focused one is marked.
    pub(super) fn send(&mut self, engine: &mut Engine) {
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
            if self.panes[index].attention == Some(Attention::AwaitingInput) {
                self.panes[index].attention = None;
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

    pub(super) fn save(&mut self, engine: &Engine) {
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

    /// The area for panes: everything but the status line.
    pub fn panes_area(&self) -> Rect {
        Rect {
            height: self.area.height.saturating_sub(1),
            ..self.area
        }
    }

    /// Where everything goes in the last frame's area: the focused pane alone when zoomed;
    /// the list and the focused pane in the list layout; else the focused pane's page of
    /// tiles.
    pub fn screen(&self) -> Screen {
        let area = self.panes_area();
        if self.panes.is_empty() {
            return Screen::default();
        }
        if self.zoomed {
            return Screen {
                panes: vec![(self.focus, area)],
                ..Screen::default()
            };
        }
        match self.layout() {
            LayoutKind::List => {
                let [sidebar, pane] = super::sidebar::split(area);
                Screen {
                    sidebar: Some(sidebar),
                    panes: vec![(self.focus, pane)],
                    page: None,
                }
            }
            LayoutKind::Tiles => {
                let order = self.order();
                let at = order.iter().position(|i| *i == self.focus).unwrap_or(0);
                let page = layout::page_of(area, order.len(), at);
                Screen {
                    sidebar: None,
                    panes: order[page.first..]
                        .iter()
                        .copied()
                        .zip(page.rects)
                        .collect(),
                    page: Some((page.page, page.pages)),
                }
            }
        }
    }

    /// Ctrl-PageUp / Ctrl-PageDown: focus the first pane of the page `step` pages away.
    pub fn turn_page(&mut self, step: isize) {
        let order = self.order();
        if order.is_empty() {
            return;
        }
        let per = layout::per_page(self.panes_area());
        let at = order.iter().position(|i| *i == self.focus).unwrap_or(0);
        let pages = order.len().div_ceil(per) as isize;
        let page = (at / per) as isize + step;
        if !(0..pages).contains(&page) {
            self.set_status(format!("page {}/{pages}", at / per + 1));
            return;
        }
        self.set_focus(order[page as usize * per]);
    }
}
