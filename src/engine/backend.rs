//! The contract between the engine and the ways of running sessions. The engine owns this
//! vocabulary; backends (`crate::backend::local`, `crate::backend::microsandbox`) implement
//! it, and the start-up module (`crate::startup`) registers them.
//!
//! Each session runs as one task that owns its I/O: it takes [`Control`]s from the engine and
//! reports [`BackendEvent`]s through an [`EventSink`]. The contract every backend keeps:
//! - exactly one terminal event (`Exited` or `Failed`) ends the stream of events, and all
//!   output of the session precedes it;
//! - output is sent with backpressure (the sink is bounded), so a flood cannot grow memory;
//! - every `Write` is answered with `Stdin(Ok(bytes))` once written, or `Stdin(Err(why))`
//!   when stdin broke (the engine bounds what is queued by what was answered);
//! - when the control channel closes, the session is killed.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{ExitStatus, SessionSpec, Stream};

/// What the engine asks of a running session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Write these bytes to stdin.
    Write(Vec<u8>),
    /// Close stdin (EOF).
    CloseStdin,
    /// Send a signal to the session (its whole process group, locally).
    Signal(i32),
    /// Stop: SIGTERM, then SIGKILL after `grace`.
    Stop { grace: Duration },
}

/// What a session reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendEvent {
    /// Still starting: what is happening ("booting dev…").
    Progress(String),
    /// The program is running.
    Started { pid: Option<u32> },
    /// A chunk of output.
    Output { stream: Stream, data: Vec<u8> },
    /// Something worth showing that does not end the session.
    Warning(String),
    /// Input reached the program's stdin (`Ok(bytes)` written), or stdin broke (`Err(why)`;
    /// what was still queued is not delivered).
    Stdin(Result<usize, String>),
    /// The program ended (terminal).
    Exited(ExitStatus),
    /// The program could not start or broke off without a status (terminal).
    Failed(String),
}

/// A tagged backend event as the engine receives it.
#[derive(Debug)]
pub struct Envelope {
    pub session: usize,
    pub generation: u64,
    pub event: BackendEvent,
}

/// Where a session's task sends its events: bounded, tagged with the session and the
/// generation (a restart starts a new generation, so late events of the old one are known).
#[derive(Debug, Clone)]
pub struct EventSink {
    session: usize,
    generation: u64,
    tx: mpsc::Sender<Envelope>,
}

impl EventSink {
    pub fn new(session: usize, generation: u64, tx: mpsc::Sender<Envelope>) -> Self {
        EventSink {
            session,
            generation,
            tx,
        }
    }

    /// Sends an event, waiting while the engine is behind. Returns false when the engine is
    /// gone (the task should then stop).
    pub async fn send(&self, event: BackendEvent) -> bool {
        self.tx
            .send(Envelope {
                session: self.session,
                generation: self.generation,
                event,
            })
            .await
            .is_ok()
    }
}

/// A way of running sessions.
pub trait Backend: Send + Sync {
    /// Starts `spec` in a task of its own and returns at once. Start failures are reported
    /// as a [`BackendEvent::Failed`] through `events`, never as a panic.
    fn launch(
        &self,
        spec: &SessionSpec,
        controls: mpsc::UnboundedReceiver<Control>,
        events: EventSink,
    );

    /// Releases what the backend holds (e.g. sandboxes it created) when sandmux exits,
    /// after every session has ended.
    fn shutdown(&self) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
