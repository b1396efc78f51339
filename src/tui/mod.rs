//! The interactive TUI: every session in its own pane, a line editor per pane, scrollback,
//! search, zoom and mouse. It drives the engine like any other front end.

pub mod agent_view;
pub mod ansi;
pub mod app;
mod approve;
pub mod attention;
mod draw;
mod help;
mod input;
pub mod keymap;
pub mod layout;
pub mod logging;
pub mod pane;
pub mod picker;
pub mod replay;
pub mod rows;
pub mod sidebar;
pub mod terminal;
pub mod views;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::{LayoutArg, TuiArgs};
use crate::engine::Engine;
use app::App;

/// Frames per second at most; a frame is drawn only when something changed.
const FPS: u64 = 60;

/// The config the TUI should load: `--config`, or `./sandmux.toml` when no session was given.
pub fn config_path(args: &TuiArgs) -> Option<PathBuf> {
    match &args.common.config {
        Some(path) => Some(path.clone()),
        None if args.common.sessions.is_empty() && Path::new("sandmux.toml").exists() => {
            Some(PathBuf::from("sandmux.toml"))
        }
        None => None,
    }
}

/// Runs the TUI; returns the process exit status.
pub async fn run(args: TuiArgs) -> i32 {
    let (config, specs) =
        match crate::startup::sessions(config_path(&args).as_deref(), &args.common.sessions) {
            Ok(loaded) => loaded,
            Err(err) => {
                crate::say!("sandmux: {err}");
                return 2;
            }
        };
    let (_log_guard, log_path) = match logging::init(args.log_file.as_deref()) {
        Ok(pair) => pair,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return 2;
        }
    };
    let config_names: Vec<String> = config
        .iter()
        .flat_map(|c| c.sessions.iter().map(|s| s.name.clone()))
        .collect();
    let adhoc: Vec<String> = specs
        .iter()
        .map(|s| s.name.clone())
        .filter(|n| !config_names.contains(n))
        .collect();
    let transcript_dir = args.common.transcript_dir.clone();
    let mut engine = match crate::startup::engine_with(config.as_ref(), transcript_dir, specs) {
        Ok(engine) => engine,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return 2;
        }
    };
    let socket = match crate::startup::control_socket(engine.handle(), args.common.socket.clone()) {
        Ok(socket) => socket,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return 2;
        }
    };
    tracing::info!(sessions = engine.sessions().count(), "TUI starting");
    let mut app = App::new(&engine);
    if let Some(path) = &args.record {
        let config = config_path(&args);
        match crate::record::Recorder::create(path, config.as_deref(), &engine, &adhoc) {
            Ok(recorder) => {
                app.set_status(format!("recording to {}", path.display()));
                app.recorder = Some(recorder);
            }
            Err(err) => {
                crate::say!("sandmux: cannot record to {}: {err}", path.display());
                return 2;
            }
        }
    }
    let settings = config.as_ref().map(|c| c.settings).unwrap_or_default();
    app.layout_setting = args.layout.map_or(settings.layout, LayoutArg::setting);
    app.alerts = attention::Alerts {
        bell: settings.bell,
        notify: settings
            .notify
            .then(|| attention::NotifyStyle::from_env(|k| std::env::var(k).ok())),
    };
    if let Some(socket) = &socket {
        app.set_status(format!("control socket: {}", socket.path().display()));
    }
    in_terminal(&mut app, &mut engine, &mut std::io::stdout(), &log_path).await
}

/// Takes over the terminal, runs the event loop until the user quits, then stops the
/// sessions (recording what is left to record) and gives the terminal back. Returns the exit
/// status.
pub(crate) async fn in_terminal(
    app: &mut App,
    engine: &mut Engine,
    alerts: &mut impl std::io::Write,
    log_path: &Path,
) -> i32 {
    let mut guard = match terminal::TerminalGuard::enter() {
        Ok(guard) => guard,
        Err(err) => {
            crate::say!("sandmux: cannot take over the terminal: {err}");
            return 1;
        }
    };
    let events = crossterm::event::EventStream::new();
    let result = run_loop(&mut guard.terminal, app, engine, events, alerts).await;
    if let Some(recorder) = app.recorder.as_mut() {
        recorder.finish(engine);
    }
    app.set_status("stopping sessions…");
    let _ = guard.terminal.draw(|frame| app.draw(frame, engine));
    engine.shutdown(Duration::from_secs(3)).await;
    drop(guard);
    match result {
        Ok(()) => 0,
        Err(err) => {
            tracing::error!("TUI failed: {err}");
            crate::say!(
                "sandmux: the terminal failed: {err} (log: {})",
                log_path.display()
            );
            1
        }
    }
}

/// Clears the screen and makes the next frame draw every cell (the screen is no longer what
/// the last frame left). Not `Terminal::clear`, which asks the terminal where its cursor is
/// and so waits forever on the input reader.
fn redraw_all<B: Backend>(terminal: &mut Terminal<B>) {
    terminal::clear_screen();
    terminal.swap_buffers();
    terminal.swap_buffers();
}

/// The event loop, generic over the terminal backend and the source of terminal events so
/// that it runs the same on a real terminal and in tests. The bell and notifications (opt-in)
/// go to `alerts` after the frame. Returns when the user quits or sandmux gets SIGTERM,
/// SIGHUP or SIGINT.
pub async fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    engine: &mut Engine,
    mut input: impl Stream<Item = std::io::Result<crossterm::event::Event>> + Unpin,
    alerts: &mut impl std::io::Write,
) -> Result<(), String>
where
    B::Error: std::fmt::Display,
{
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / FPS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut tstp = signal(SignalKind::from_raw(libc::SIGTSTP)).map_err(|e| e.to_string())?;
    let mut cont = signal(SignalKind::from_raw(libc::SIGCONT)).map_err(|e| e.to_string())?;
    let mut dirty = true;
    // Activity ("working" turns "idle") changes with time alone: redraw once a second.
    let mut frames = 0u64;
    if let Ok(size) = terminal.size() {
        app.area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
    }
    while !app.quit {
        tokio::select! {
            // Output is taken in as fast as it comes, with no cap per frame: a frame costs
            // a millisecond or two, which the pipes (1 MiB each) and the engine's queue
            // hold many times over, so a flooding program never waits for a frame.
            event = engine.next_event() => {
                app.on_engine_event(&event, engine);
                dirty = true;
            }
            event = input.next() => match event {
                Some(Ok(event)) => {
                    app.on_terminal_event(event, engine);
                    dirty = true;
                }
                Some(Err(err)) => return Err(err.to_string()),
                None => app.quit = true,
            },
            _ = tick.tick() => {
                frames += 1;
                if frames.is_multiple_of(FPS) {
                    dirty = true;
                }
                if dirty {
                    app.notice_approvals(engine);
                    if let Ok(size) = terminal.size() {
                        app.area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
                    }
                    terminal.draw(|frame| app.draw(frame, engine)).map_err(|e| e.to_string())?;
                    dirty = false;
                    let bytes = app.take_alerts();
                    if !bytes.is_empty() {
                        // A terminal that cannot take them is no reason to stop.
                        let _ = alerts.write_all(&bytes).and_then(|()| alerts.flush());
                    }
                }
            }
            _ = term.recv() => app.quit = true,
            _ = hup.recv() => app.quit = true,
            _ = int.recv() => app.quit = true,
            // Stopped from outside: the shell gets its terminal back, and this one is
            // taken again (and drawn whole) when sandmux is continued.
            _ = tstp.recv() => {
                tracing::info!("SIGTSTP: giving the terminal back");
                terminal::suspend();
                tracing::info!("continued: taking the terminal again");
                redraw_all(terminal);
                dirty = true;
            }
            _ = cont.recv() => {
                redraw_all(terminal);
                dirty = true;
            }
        }
    }
    Ok(())
}
