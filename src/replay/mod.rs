//! `sandmux replay`: transcripts opened read-only in the TUI, one pane per session, played at
//! their original pace, faster, all at once, or turn by turn.

pub mod clock;
pub mod player;

pub use clock::{Clock, Speed};
pub use player::{Player, specs};

use std::sync::Arc;

use crate::engine::{Engine, EngineOptions};
use crate::history::Transcript;

/// An engine whose sessions play `transcripts` on `clock` (and run nothing).
/// Sessions come in the order they started (by their first record, then pid), as they were
/// in the live run.
pub fn engine(
    transcripts: &[Transcript],
    clock: Clock,
    max_gap: Option<std::time::Duration>,
) -> Result<Engine, String> {
    let mut ordered: Vec<&Transcript> = transcripts.iter().collect();
    ordered.sort_by_key(|t| (t.first_t(), t.pid(), t.name.clone()));
    let ordered: Vec<Transcript> = ordered.into_iter().cloned().collect();
    // A replay shows what was answered then; it answers nothing itself.
    let mut engine = Engine::new(EngineOptions {
        answer_agents: false,
        ..EngineOptions::default()
    });
    engine.register("local", Arc::new(Player::new(&ordered, clock, max_gap)?));
    for spec in specs(&ordered) {
        engine.add(spec).map_err(|e| e.to_string())?;
    }
    Ok(engine)
}
