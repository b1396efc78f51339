//! Start-up shared by every front end (`sandmux run`, the TUI, `sandmux serve`): the engine
//! with every backend of this build registered, and the control socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::local::LocalBackend;
use crate::config::Config;
use crate::control::server::ControlSocket;
use crate::engine::{Engine, EngineHandle, EngineOptions, SessionSpec};

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

/// An engine with the config's options and `specs` added (the TUI's and `serve`'s); the
/// error is the one sentence to print before exiting 2.
pub fn engine_with(
    config: Option<&Config>,
    transcript_dir: Option<PathBuf>,
    specs: Vec<SessionSpec>,
) -> Result<Engine, String> {
    let mut engine = engine(Config::engine_options(config, transcript_dir));
    for spec in specs {
        engine.add(spec).map_err(|e| e.to_string())?;
    }
    Ok(engine)
}

/// The config at `path` (if any) and its sessions followed by the `-s` ones; the error is
/// the one sentence to print before exiting 2.
pub fn sessions(
    path: Option<&Path>,
    args: &[String],
) -> Result<(Option<Config>, Vec<SessionSpec>), String> {
    let config = match path {
        Some(path) => Some(Config::load(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut specs: Vec<SessionSpec> = config.iter().flat_map(|c| c.sessions.clone()).collect();
    for arg in args {
        let taken: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        specs.push(crate::spec::parse_session_arg(arg, &taken)?);
    }
    Ok((config, specs))
}

/// Serves the control socket: at `path` when given (an error then is fatal), else at the
/// default place (an error there is only logged: the socket is a convenience).
pub fn control_socket(
    handle: EngineHandle,
    path: Option<PathBuf>,
) -> Result<Option<ControlSocket>, String> {
    let explicit = path.is_some();
    match crate::control::server::listen(handle, path) {
        Ok(socket) => Ok(Some(socket)),
        Err(err) if explicit => Err(format!("cannot serve the control socket: {err}")),
        Err(err) => {
            tracing::warn!("no control socket: {err}");
            Ok(None)
        }
    }
}
