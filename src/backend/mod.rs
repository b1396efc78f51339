//! The ways of running sessions: local processes and microsandbox execs. Each implements the
//! engine's [`crate::engine::Backend`] contract; `crate::startup` registers them.

pub mod local;
#[cfg(feature = "microsandbox")]
pub mod microsandbox;
pub mod msb_home;
pub mod watchdog;
