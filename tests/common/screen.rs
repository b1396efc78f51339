//! Whole-screen helpers: real sessions, the real App, ratatui's TestBackend.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use sandmux::engine::{Engine, EngineOptions, SessionSpec};
use sandmux::tui::app::App;

use super::settle;

/// An engine whose sessions have all run to their end.
pub async fn finished(specs: Vec<SessionSpec>) -> Engine {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    for spec in specs {
        engine.add(spec).unwrap();
    }
    settle(&mut engine, |e| !e.any_live()).await;
    engine
}

/// An engine and an App that saw every event while the sessions ran to their end (so that
/// attention marks and unseen output are as a user would have them).
pub async fn watched(specs: Vec<SessionSpec>) -> (Engine, App) {
    let mut engine = sandmux::startup::engine(EngineOptions::default());
    for spec in specs {
        engine.add(spec).unwrap();
    }
    let mut app = App::new(&engine);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while engine.any_live() {
        let event = tokio::time::timeout_at(deadline, engine.next_event())
            .await
            .expect("timed out waiting for the engine");
        app.on_engine_event(&event, &engine);
    }
    (engine, app)
}

pub fn draw(app: &mut App, engine: &Engine, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    app.area = ratatui::layout::Rect::new(0, 0, width, height);
    terminal.draw(|frame| app.draw(frame, engine)).unwrap();
    terminal.backend().buffer().clone()
}

pub fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        for x in 0..area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}
