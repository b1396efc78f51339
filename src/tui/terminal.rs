//! The terminal's lifecycle in one guard: raw mode, alternate screen, mouse capture and
//! bracketed paste on entry; all restored on drop and, first of all, in the panic hook.

use std::io::{self, Stdout};
use std::sync::Once;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Owns the terminal while the TUI runs.
pub struct TerminalGuard {
    /// Never dropped: ratatui's `Drop` prints to stderr (and so panics) when the terminal
    /// has gone away; [`restore`] does what it would, ignoring errors.
    pub terminal: std::mem::ManuallyDrop<Terminal<CrosstermBackend<Stdout>>>,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        let mut stdout = io::stdout();
        if let Err(err) = execute!(
            stdout,
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        ) {
            restore();
            return Err(err);
        }
        let mut terminal = Terminal::new(CrosstermBackend::new(stdout))?;
        terminal.hide_cursor()?;
        terminal.clear()?;
        Ok(TerminalGuard {
            terminal: std::mem::ManuallyDrop::new(terminal),
        })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back the way the shell expects it. Safe to call more than once.
pub fn restore() {
    let mut stdout = io::stdout();
    let _ = execute!(
        stdout,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

/// SIGTSTP (`kill -TSTP`, a shell's job control): gives the terminal back, stops, and on
/// SIGCONT takes the terminal again (the caller redraws everything).
pub fn suspend() {
    restore();
    // SAFETY: raise has no preconditions; SIGSTOP cannot be caught, so this returns once
    // the process is continued.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
    let _ = enable_raw_mode();
    let _ = execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
        crossterm::cursor::Hide
    );
}

/// Clears the whole screen (errors ignored: a terminal that is gone is no reason to stop).
pub fn clear_screen() {
    let _ = execute!(
        io::stdout(),
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    );
}

/// On a panic: restore the terminal first, log the panic, then let the default hook print it.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            let trace = std::backtrace::Backtrace::force_capture();
            tracing::error!("panic: {info}\n{trace}");
            default(info);
        }));
    });
}
