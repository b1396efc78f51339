//! The microsandbox home on this machine (`MSB_HOME`, or `~/.microsandbox`) and what sandmux
//! reads there without the SDK: which sandboxes its test runtime serves.

use std::path::{Path, PathBuf};

/// The file sandmux's test runtime (`examples/msb_test_runtime`) leaves in the directory of
/// each sandbox it serves, so that nothing takes it for a real microVM.
pub const TEST_RUNTIME_MARKER: &str = "SANDMUX-TEST-RUNTIME";

/// The microsandbox home: `MSB_HOME`, or `~/.microsandbox`.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("MSB_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".microsandbox")))
}

/// Whether sandbox `name` of `home` is served by sandmux's test runtime (no VM).
pub fn is_test_runtime(home: &Path, name: &str) -> bool {
    home.join("sandboxes")
        .join(name)
        .join(TEST_RUNTIME_MARKER)
        .exists()
}

/// The sandboxes of `home` served by sandmux's test runtime, by name.
pub fn test_runtime_sandboxes(home: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(home.join("sandboxes")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join(TEST_RUNTIME_MARKER).exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
