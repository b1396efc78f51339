//! Where the microsandbox runtime (`msb` + `libkrunfw`) is: `MSB_PATH`, `MSB_HOME`, or the
//! `microsandbox` Python package.

/// Whether the SDK's cloud backend is selected (remote sandboxes need no local runtime).
pub fn cloud_selected() -> bool {
    std::env::var("MSB_BACKEND").is_ok_and(|b| b.eq_ignore_ascii_case("cloud"))
        || std::env::var_os("MSB_PROFILE").is_some_and(|p| !p.is_empty())
}

/// Where sandmux found the runtime, for `doctor` and for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeSource {
    /// `MSB_PATH` is set.
    MsbPath,
    /// `$MSB_HOME/bin/msb`, or `~/.microsandbox/bin/msb`.
    Home,
    /// The `microsandbox` Python package's bundled runtime (`pip install microsandbox`).
    PythonPackage(std::path::PathBuf),
}

/// When neither `MSB_PATH` nor a runtime in `MSB_HOME`/`~/.microsandbox` is there, looks for
/// the runtime bundled in the `microsandbox` Python package and registers it with the SDK.
pub fn discover_runtime() -> Option<RuntimeSource> {
    if std::env::var_os("MSB_PATH").is_some_and(|v| !v.is_empty()) {
        return Some(RuntimeSource::MsbPath);
    }
    let home = std::env::var_os("MSB_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".microsandbox")));
    if home.as_ref().is_some_and(|h| h.join("bin/msb").is_file()) {
        return Some(RuntimeSource::Home);
    }
    let bundled = python_bundled_runtime()?;
    microsandbox::config::set_sdk_msb_path(bundled.join("bin/msb"));
    microsandbox::set_libkrunfw_path(bundled.join("lib/libkrunfw.so.5.6.1"));
    Some(RuntimeSource::PythonPackage(bundled))
}

/// `.../site-packages/microsandbox/_bundled` when Python can import `microsandbox`. The
/// interpreter is `$SANDMUX_PYTHON` (default `python3`; `none` skips this search).
pub fn python_bundled_runtime() -> Option<std::path::PathBuf> {
    let python = std::env::var("SANDMUX_PYTHON").unwrap_or_else(|_| "python3".into());
    if python == "none" || python.is_empty() {
        return None;
    }
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import importlib.util, os; s = importlib.util.find_spec('microsandbox'); print(os.path.dirname(s.origin) if s and s.origin else '')",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let bundled = std::path::PathBuf::from(dir.trim()).join("_bundled");
    bundled.join("bin/msb").is_file().then_some(bundled)
}
