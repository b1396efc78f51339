//! Headless mode: scripts of turn-by-turn steps run against the engine.

mod agent_steps;
mod cursor;
mod json_steps;
pub mod parser;
pub mod report;
pub mod runner;
pub mod scan;
pub mod tail;
pub mod vars;

pub use parser::{
    JsonOp, ParseError, Pattern, Step, StepKind, parse_json_predicate, parse_pattern, parse_script,
};
