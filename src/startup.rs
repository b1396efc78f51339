//! Start-up shared by every front end (`sandmux run`, the TUI, `sandmux serve`): the engine
//! with every backend of this build registered, and the control socket.

use std::sync::Arc;

use crate::backend::local::LocalBackend;
use crate::engine::{Engine, EngineOptions};

/// An engine with the local backend and, when built in, the microsandbox backend.
pub fn engine(options: EngineOptions) -> Engine {
    let mut engine = Engine::new(options);
    engine.register("local", Arc::new(LocalBackend));
    #[cfg(feature = "microsandbox")]
    engine.register(
        "microsandbox",
        Arc::new(crate::backend::microsandbox::MicrosandboxBackend::new()),
    );
    engine
}
