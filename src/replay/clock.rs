//! The replay's clock: a virtual time (milliseconds since the first record) that runs at a
//! speed, pauses, and steps one turn of one session at a time. The TUI's keys change it; the
//! player ([`super::player`]) waits on it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// How fast a replay plays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// This many times the original pace.
    Factor(f64),
    /// Everything at once.
    All,
}

impl Speed {
    /// `1`, `10`, `0.5`, or `all`.
    pub fn parse(text: &str) -> Result<Speed, String> {
        if text == "all" {
            return Ok(Speed::All);
        }
        match text.trim_end_matches('x').parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "--speed {text}: give a factor above 0 (1 is the original pace, 10) or `all`"
            )),
        }
    }

    fn label(self) -> String {
        match self {
            Speed::All => "all at once".into(),
            Speed::Factor(f) if f.fract() == 0.0 => format!("{f:.0}x"),
            Speed::Factor(f) => format!("{f}x"),
        }
    }

    /// The next speed of the `s` key: original pace, 10x, all at once.
    fn next(self) -> Speed {
        match self {
            Speed::Factor(f) if f < 10.0 => Speed::Factor(10.0),
            Speed::Factor(_) => Speed::All,
            Speed::All => Speed::Factor(1.0),
        }
    }
}

#[derive(Debug)]
pub(super) struct State {
    pub speed: Speed,
    pub paused: bool,
    /// Virtual time at `base_real`.
    base_ms: f64,
    base_real: Instant,
    /// A step asked for: play the named session's next turn, then pause.
    pub step: Option<String>,
    /// The virtual time of the last record played, and of the last record.
    pub position_ms: u64,
    pub total_ms: u64,
    pub done: bool,
    /// Pauses longer than this play as this long (`None`: the original pace throughout).
    pub max_gap_ms: Option<u64>,
}

impl State {
    /// The virtual time now.
    pub fn now_ms(&self) -> f64 {
        match (self.paused, self.speed) {
            (true, _) | (false, Speed::All) => self.base_ms,
            (false, Speed::Factor(f)) => {
                self.base_ms + self.base_real.elapsed().as_secs_f64() * 1000.0 * f
            }
        }
    }

    fn rebase(&mut self) {
        self.base_ms = self.now_ms();
        self.base_real = Instant::now();
    }

    /// Moves the virtual time to a record just played (when stepping or playing all at
    /// once, time jumps).
    pub fn played(&mut self, at_ms: u64) {
        self.position_ms = at_ms;
        if self.base_ms < at_ms as f64
            && (self.paused || self.speed == Speed::All || self.step.is_some())
        {
            self.base_ms = at_ms as f64;
            self.base_real = Instant::now();
        }
    }
}

/// The clock, shared by the TUI and the player.
#[derive(Debug, Clone)]
pub struct Clock {
    pub(super) state: Arc<Mutex<State>>,
    pub(super) changed: Arc<Notify>,
}

impl Clock {
    pub fn new(speed: Speed, paused: bool) -> Clock {
        Clock {
            state: Arc::new(Mutex::new(State {
                speed,
                paused,
                base_ms: 0.0,
                base_real: Instant::now(),
                step: None,
                position_ms: 0,
                total_ms: 0,
                done: false,
                max_gap_ms: None,
            })),
            changed: Arc::new(Notify::new()),
        }
    }

    /// Reads or changes the state (the player's side: wakes nobody).
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }

    /// Changes the state and wakes the player (the keys' side).
    fn change(&self, f: impl FnOnce(&mut State)) {
        self.with(f);
        self.changed.notify_waiters();
    }

    /// Space: pause, or play on.
    pub fn toggle_pause(&self) -> String {
        self.change(|s| {
            s.rebase();
            s.paused = !s.paused;
            s.step = None;
        });
        self.status()
    }

    /// `s`: the next speed.
    pub fn cycle_speed(&self) -> String {
        self.change(|s| {
            s.rebase();
            s.speed = s.speed.next();
        });
        self.status()
    }

    /// `n`: play `session`'s next turn (its input and the output after it), then pause.
    pub fn step(&self, session: &str) {
        self.change(|s| {
            s.rebase();
            s.paused = true;
            s.step = Some(session.to_string());
        });
    }

    /// What the status line shows: `REPLAY ▶ 10x 0:04.2/0:12.9`.
    pub fn status(&self) -> String {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mark = if s.done {
            "■ end"
        } else if s.paused {
            "⏸ paused"
        } else {
            "▶"
        };
        // Said, so that a replay whose pauses were shortened never passes for the pace
        // of the run.
        let gaps = match s.max_gap_ms {
            Some(ms) => format!(" · pauses cut to {}", gap_text(ms)),
            None => String::new(),
        };
        format!(
            "REPLAY {mark} {} {}/{}{gaps}",
            s.speed.label(),
            clock_text(s.position_ms),
            clock_text(s.total_ms)
        )
    }
}

/// `2s`, `500ms`, `1.5s`.
fn gap_text(ms: u64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms}ms"),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{}s", ms as f64 / 1000.0),
    }
}

/// `m:ss.t`.
fn clock_text(ms: u64) -> String {
    format!("{}:{:02}.{}", ms / 60_000, ms / 1000 % 60, ms / 100 % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse_and_cycle() {
        assert_eq!(Speed::parse("10").unwrap(), Speed::Factor(10.0));
        assert_eq!(Speed::parse("2x").unwrap(), Speed::Factor(2.0));
        assert_eq!(Speed::parse("all").unwrap(), Speed::All);
        assert!(Speed::parse("0").is_err() && Speed::parse("fast").is_err());
        let clock = Clock::new(Speed::Factor(1.0), false);
        assert!(clock.cycle_speed().contains("10x"));
        assert!(clock.cycle_speed().contains("all at once"));
        assert!(clock.cycle_speed().contains(" 1x"));
        assert!(clock.toggle_pause().contains("paused"));
        assert_eq!(clock_text(65_432), "1:05.4");
    }
}
