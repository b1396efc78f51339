//! `sandmux serve`: sessions with no terminal, driven and watched through the control
//! socket until a client says `stop` (or sandmux gets SIGTERM, SIGINT or SIGHUP).

use std::time::Duration;

use tokio::sync::watch;

use crate::cli::ServeArgs;
use crate::engine::Event;

/// Runs until stopped; returns the exit status (0 after `stop`, 128+N after signal N, 2 for
/// bad input, 1 when the socket cannot be served).
pub async fn run(args: ServeArgs, mut interrupt: watch::Receiver<Option<i32>>) -> i32 {
    let (config, specs) =
        match crate::startup::sessions(args.common.config.as_deref(), &args.common.sessions) {
            Ok(loaded) => loaded,
            Err(err) => {
                crate::say!("sandmux: {err}");
                return 2;
            }
        };
    let transcript_dir = args.common.transcript_dir.clone();
    let mut engine = match crate::startup::engine_with(config.as_ref(), transcript_dir, specs) {
        Ok(engine) => engine,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return 2;
        }
    };
    // The socket is what `serve` is for: without it, it fails.
    let socket = match crate::control::server::listen(engine.handle(), args.common.socket.clone()) {
        Ok(socket) => socket,
        Err(err) => {
            crate::say!("sandmux: cannot serve the control socket: {err}");
            return 2;
        }
    };
    crate::say!(
        "sandmux: serving {} session(s) on {}",
        engine.sessions().count(),
        socket.path().display()
    );
    let code = loop {
        tokio::select! {
            event = engine.next_event() => {
                if event == Event::StopRequested {
                    break 0;
                }
            }
            _ = interrupt.changed() => {
                if let Some(signal) = *interrupt.borrow() {
                    break 128 + signal;
                }
            }
        }
    };
    engine.shutdown(Duration::from_secs(5)).await;
    drop(socket);
    code
}
