//! Drawing the TUI: a function of its state and the engine's, with no I/O. Only the
//! visible rows of each pane are laid out.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use super::app::App;
use super::rows::visible_rows;
use crate::engine::{Activity, Engine, SessionState, View};
use crate::text::printable;

impl App {
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
        let screen = self.screen();
        if let Some(list) = screen.sidebar {
            self.draw_sidebar(frame, list, engine);
        }
        for (index, rect) in screen.panes {
            self.draw_pane(frame, rect, index, engine);
        }
        self.draw_status(frame, status_area, engine, screen.page);
        self.draw_picker(frame, panes_area);
        if self.help {
            super::help::HelpLayout::new(area, self.replay.is_some()).draw(frame, self.help_scroll);
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
                    Activity::AwaitingInput | Activity::AwaitingApproval => Style::default()
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
        // The state beside it says why.
        if let Some(why) = &pane.attention {
            title.push(Span::styled(
                " ! ",
                Style::default()
                    .fg(Color::Black)
                    .bg(if why.is_failure() {
                        Color::LightRed
                    } else {
                        Color::Yellow
                    })
                    .add_modifier(Modifier::BOLD),
            ));
            title.push(Span::raw(" "));
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
        // An agent's turns and what the session has cost so far.
        if session.agent.turns > 0 {
            let turns = session.agent.turns;
            let mut text = format!("{turns} turn{}", if turns == 1 { "" } else { "s" });
            if let Some(cost) = session
                .agent
                .total_cost()
                .filter(|c| c.is_finite() && (0.0..1.0e6).contains(c))
            {
                text.push_str(&format!(" · ${cost:.4}"));
            }
            title.push(Span::styled(
                format!("{text} "),
                Style::default().fg(Color::DarkGray),
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
        } else if matches!(
            activity,
            Activity::AwaitingInput | Activity::AwaitingApproval
        ) {
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
            (session.spec.protocol == crate::engine::Protocol::StreamJson)
                .then_some(&session.agent.tracker),
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

    fn draw_status(
        &self,
        frame: &mut Frame,
        area: Rect,
        engine: &Engine,
        page: Option<(usize, usize)>,
    ) {
        let running = engine.sessions().filter(|(_, s)| s.state.is_live()).count();
        let total = engine.sessions().count();
        let now = tokio::time::Instant::now();
        let mut parts = Vec::new();
        if let Some((page, pages)) = page.filter(|(_, pages)| *pages > 1) {
            parts.push(format!("page {}/{pages}", page + 1));
        }
        for activity in [
            Activity::AwaitingApproval,
            Activity::AwaitingInput,
            Activity::Working,
            Activity::Idle,
        ] {
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
        let attention = self.attention_count();
        let needs = (attention > 0).then(|| {
            Span::styled(
                format!(" {attention} need you (Ctrl-N) "),
                Style::default()
                    .fg(Color::Black)
                    .bg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            )
        });
        let left = match (&self.sticky, self.status()) {
            (Some(warning), _) => Span::styled(
                format!(" ⚠ {warning} (Esc dismisses)"),
                Style::default()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(Modifier::BOLD),
            ),
            (None, Some(message)) => {
                Span::styled(format!(" {message}"), Style::default().fg(Color::Yellow))
            }
            (None, None) => {
                let tips = if self.list_has_keys() {
                    " ↑↓ choose · type or Enter to reply · Ctrl-G jump · Ctrl-N next needing you · F11 tiles · F1 help"
                } else if self.replay.is_some() {
                    " Space pause/play · n next turn · s speed · Ctrl-F search · Tab next · Ctrl-Q quit"
                } else {
                    " F1 help · Tab next · Ctrl-G jump · F11 layout · Enter send · Ctrl-F search · Ctrl-Q quit"
                };
                // The hint says these two already.
                let tips = match self.help_seen {
                    true => tips.to_string(),
                    false => tips
                        .replace(" · F1 help", "")
                        .replace(" F1 help ·", "")
                        .replace(" · Ctrl-Q quit", ""),
                };
                Span::styled(tips, Style::default().fg(Color::DarkGray))
            }
        };
        // Until the help was first opened, how to get it and how to quit, never cut.
        let hint = (!self.help_seen).then(|| {
            Span::styled(
                " F1 help · Ctrl-Q quit ",
                Style::default()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            )
        });
        let badge = match (&self.replay, &self.recorder) {
            (Some(clock), _) => Some(Span::styled(
                format!(" {} ", clock.status()),
                Style::default()
                    .fg(Color::Black)
                    .bg(Color::Magenta)
                    .add_modifier(Modifier::BOLD),
            )),
            (None, Some(_)) => Some(Span::styled(
                " ● REC ",
                Style::default()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(Modifier::BOLD),
            )),
            (None, None) => None,
        };
        // Kept whole by priority when the line is short: the badge, the hint, what needs
        // you, the counts; the tips get what is left.
        let right = Span::styled(right, Style::default().fg(Color::Gray));
        let mut free = area.width;
        let mut take = |span: Option<&Span>| {
            let width = span.map_or(0, |s| (s.width() as u16).min(free));
            free -= width;
            width
        };
        let badge_width = take(badge.as_ref());
        let hint_width = take(hint.as_ref());
        let needs_width = take(needs.as_ref());
        let right_width = take(Some(&right));
        let [badge_area, hint_area, left_area, needs_area, right_area] = Layout::horizontal([
            Constraint::Length(badge_width),
            Constraint::Length(hint_width),
            Constraint::Min(0),
            Constraint::Length(needs_width),
            Constraint::Length(right_width),
        ])
        .areas(area);
        for (span, rect) in [
            (badge, badge_area),
            (hint, hint_area),
            (Some(left), left_area),
            (needs, needs_area),
            (Some(right), right_area),
        ] {
            if let Some(span) = span {
                frame.render_widget(Paragraph::new(TextLine::from(span)), rect);
            }
        }
    }
}
