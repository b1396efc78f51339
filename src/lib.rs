//! sandmux: a multiplexer for concurrent, non-PTY, bidirectional streaming sessions.
//!
//! The crate is split the way the binary is layered:
//! - [`engine`] owns sessions, scrollback and transcripts and knows nothing of terminals;
//! - [`backend`] starts sessions (local processes, microsandbox execs);
//! - [`script`] parses and runs headless turn-by-turn scripts against the engine;
//! - [`tui`] is the interactive front end (the only place that touches the terminal);
//! - [`history`] reads transcripts back (`diff`, `--golden`), [`replay`] plays them in the
//!   TUI, and [`record`] writes what a TUI user does as a script.

pub mod backend;
pub mod cli;
pub mod config;
pub mod control;
pub mod demo_agent;
pub mod doctor;
pub mod engine;
pub mod headless;
pub mod history;
pub mod input_file;
pub mod matcher;
pub mod protocol;
pub mod record;
pub mod replay;
pub mod say;
pub mod script;
pub mod serve;
pub mod spec;
pub mod startup;
pub mod text;
pub mod tui;
pub mod units;
