//! Helpers shared by the integration tests: run the real binary on scripts in temp dirs.
#![allow(dead_code)]

pub mod agents;
#[cfg(feature = "microsandbox")]
pub mod sandbox;
pub mod screen;
pub mod serve;
pub mod tmux;
pub mod world;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn mkdir(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(&path).expect("make a fixture directory");
        path
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write fixture");
        path
    }

    /// Runs `sandmux run SCRIPT ARGS...` in the fixture directory.
    pub fn run(&self, script: &str, args: &[&str]) -> Output {
        let path = self.write("test.smx", script);
        sandmux()
            .current_dir(self.dir.path())
            .arg("run")
            .arg(&path)
            .args(args)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("run sandmux")
    }
}

pub fn sandmux() -> Command {
    Command::cargo_bin("sandmux").expect("binary")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Reads a transcript into JSON records.
pub fn transcript(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("transcript")
        .lines()
        .map(|l| serde_json::from_str(l).expect("transcript line is JSON"))
        .collect()
}

/// The bytes of one stream in a transcript, concatenated.
pub fn stream_bytes(records: &[serde_json::Value], stream: &str) -> Vec<u8> {
    records
        .iter()
        .filter(|r| r["stream"] == stream)
        .flat_map(|r| sandmux::engine::transcript::record_bytes(r).expect("record bytes"))
        .collect()
}

/// A session running `script` under `sh -c`.
pub fn sh(name: &str, script: &str) -> sandmux::engine::SessionSpec {
    sandmux::engine::SessionSpec {
        program: sandmux::engine::Program::Shell(script.into()),
        ..sandmux::engine::SessionSpec::local(name, vec![])
    }
}

/// Applies engine events until `done` holds, failing after 10 s.
pub async fn settle(
    engine: &mut sandmux::engine::Engine,
    mut done: impl FnMut(&sandmux::engine::Engine) -> bool,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done(engine) {
        tokio::time::timeout_at(deadline, engine.next_event())
            .await
            .expect("timed out waiting for the engine");
    }
}

/// Whether a process with this pid still exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            state != Some('Z')
        }
        Err(_) => false,
    }
}

/// Waits up to `limit` for `check` to hold.
pub fn eventually(limit: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    check()
}

/// A tiny tmpfs mounted at a directory (a disk that fills), unmounted when dropped. `None`
/// where mounting is not allowed (not root); CI runs as root, so there it must work.
pub struct SmallDisk {
    pub dir: PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: PathBuf) -> Option<SmallDisk> {
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root and can mount a tmpfs"
            );
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}
