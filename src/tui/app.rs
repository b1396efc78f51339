//! The TUI's state, and how engine events change it. Input is in `input.rs`, drawing in
//! `draw.rs` (it takes `&self` and does no I/O).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ratatui::layout::Rect;

use super::layout;
use super::pane::Pane;
use crate::engine::{Command, Engine, Event, Stream};
use crate::text::printable;

/// What marks input in a saved scrollback (F8).
pub const INPUT_MARK: &str = "› ";
/// How long a status message stays.
const STATUS_FOR: Duration = Duration::from_secs(6);

/// The whole TUI state.
pub struct App {
    pub panes: Vec<Pane>,
    pub focus: usize,
    pub zoomed: bool,
    pub help: bool,
    pub quit: bool,
    pub(super) status: Option<(String, Instant)>,
    /// A warning that stays until dismissed with Esc (a transcript that could not be
    /// written).
    pub sticky: Option<String>,
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
            sticky: None,
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
            Event::TranscriptFailed { message, .. } => {
                self.sticky = Some(printable(message.as_bytes()));
            }
            Event::Progress { .. } | Event::Started { .. } | Event::Exited { .. } => {}
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
        self.panes[index].set_focused(true);
    }

    /// Rows of output pane `index` shows (its area less the borders and the input line).
    pub(super) fn view_height(&self, index: usize) -> usize {
        let rects = self.pane_rects(self.panes_area());
        rects
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(10, |(_, r)| r.height.saturating_sub(3).max(1) as usize)
    }

    /// Lines a page scroll moves in the focused pane.
    pub(super) fn page(&self) -> i64 {
        (self.view_height(self.focus).max(2) - 1) as i64
    }

    pub(super) fn command(&mut self, engine: &mut Engine, command: Command) {
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
}
