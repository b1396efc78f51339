//! The socket's `wait`: a wait the engine keeps (see [`crate::engine::waits`]), answered when
//! it matches, when it can no longer match, or at its timeout. Nothing of the session's
//! output is copied while it waits.

use std::time::Duration;

use serde_json::Value;

pub use crate::engine::waits::WaitFor;
use crate::engine::{EngineHandle, Op, Reply};
use crate::units::format_duration;

/// Why a wait did not match: a code and one sentence.
pub type Failure = (&'static str, String);

/// Waits on `session` from line `from` (default: its last input, or its first line).
/// Returns the matched item and the line to continue from.
pub async fn wait(
    handle: &EngineHandle,
    session: &str,
    from: Option<u64>,
    timeout: Duration,
    what: WaitFor,
) -> Result<(Value, u64), Failure> {
    let gone = || ("stopping", "sandmux is stopping".to_string());
    let op = Op::Wait {
        name: session.to_string(),
        from,
        what,
    };
    let answer = match handle.ask(op).await.ok_or_else(gone)? {
        Reply::Waiting(answer) => answer,
        Reply::Error { code, message } => return Err((code, message)),
        _ => return Err(gone()),
    };
    // Giving up drops the answer's receiver: the engine forgets the wait.
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err(gone()),
        Err(_) => Err((
            "timeout",
            format!("no match within {}", format_duration(timeout)),
        )),
    }
}
