//! Logs go to a file while the TUI owns the terminal: a non-blocking writer, daily files in
//! the user's state directory (or `--log-file`), level from `SANDMUX_LOG` (default: info).

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;

/// Where logs go by default: `$XDG_STATE_HOME/sandmux` (`~/.local/state/sandmux`).
pub fn default_log_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::cache_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("sandmux")
}

/// Starts logging to a file; the guard must live as long as logging should work.
pub fn init(log_file: Option<&Path>) -> Result<(WorkerGuard, PathBuf), String> {
    let (appender, shown) = match log_file {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = path
                .file_name()
                .ok_or_else(|| format!("--log-file {} names no file", path.display()))?;
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the log directory {}: {e}", dir.display()))?;
            (
                tracing_appender::rolling::never(dir, name),
                path.to_path_buf(),
            )
        }
        None => {
            let dir = default_log_dir();
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create the log directory {}: {e}", dir.display()))?;
            let shown = dir.join("sandmux.log.YYYY-MM-DD");
            (tracing_appender::rolling::daily(dir, "sandmux.log"), shown)
        }
    };
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("SANDMUX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    Ok((guard, shown))
}
