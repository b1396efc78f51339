//! `sandmux replay DIR|FILE.jsonl...`: the TUI on sessions that play transcripts back.

use std::time::Duration;

use super::app::App;
use super::logging;
use crate::cli::ReplayArgs;
use crate::history::Transcript;
use crate::replay::{Clock, Speed};

/// Runs a replay; returns the process exit status (2 for bad input).
pub async fn run(args: ReplayArgs) -> i32 {
    let prepared = options(&args).and_then(|(speed, max_gap)| {
        let transcripts = Transcript::load_all(&args.paths)?;
        let (log_guard, log_path) = logging::init(args.log_file.as_deref())?;
        Ok((speed, max_gap, transcripts, log_guard, log_path))
    });
    let (speed, max_gap, transcripts, _log_guard, log_path) = match prepared {
        Ok(prepared) => prepared,
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

/// `--speed` and `--max-gap`, or the sentence about the one that is wrong.
fn options(args: &ReplayArgs) -> Result<(Speed, Option<Duration>), String> {
    let speed = Speed::parse(&args.speed)?;
    let max_gap = match args.max_gap.trim() {
        "0" => Duration::ZERO,
        text => crate::units::parse_duration(text).map_err(|err| format!("--max-gap: {err}"))?,
    };
    // `0` keeps the original pace.
    Ok((speed, (!max_gap.is_zero()).then_some(max_gap)))
}
