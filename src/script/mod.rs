//! Headless mode: scripts of turn-by-turn steps run against the engine.

pub mod parser;
pub mod report;
pub mod runner;

pub use parser::{
    JsonOp, ParseError, Pattern, Step, StepKind, parse_json_predicate, parse_pattern, parse_script,
};
