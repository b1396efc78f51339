//! `sandmux replay DIR|FILE.jsonl...`: the TUI on sessions that play transcripts back.

use super::app::App;
use super::logging;
use crate::cli::ReplayArgs;
use crate::history::Transcript;
use crate::replay::{Clock, Speed};

/// Runs a replay; returns the process exit status (2 for bad input).
pub async fn run(args: ReplayArgs) -> i32 {
    let speed = match Speed::parse(&args.speed) {
        Ok(speed) => speed,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return 2;
        }
    };
    let max_gap = match args.max_gap.as_deref().map(crate::units::parse_duration) {
        None => None,
        Some(Ok(gap)) => Some(gap),
        Some(Err(err)) => {
            crate::say!("sandmux: --max-gap: {err}");
            return 2;
        }
    };
    let transcripts = match Transcript::load_all(&args.paths) {
        Ok(t) => t,
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
    let clock = Clock::new(speed, args.paused);
    let mut engine = match crate::replay::engine(&transcripts, clock.clone(), max_gap) {
        Ok(engine) => engine,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return 2;
        }
    };
    let mut app = App::new(&engine);
    app.replay = Some(clock);
    super::in_terminal(&mut app, &mut engine, &mut std::io::sink(), &log_path).await
}
