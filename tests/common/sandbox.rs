//! Sandboxes for the sandbox tests, from one of two runtimes:
//!
//! - by default, sandmux's test runtime (`examples/msb_test_runtime`): the real microsandbox
//!   SDK, relay and guest agent, with host processes in place of the microVM, so the tests
//!   run on every CI machine, KVM or not;
//! - with `SANDMUX_TEST_MICROSANDBOX=1` on a machine where KVM works, real microVMs booted by
//!   the real runtime (`pip install microsandbox==0.7.11`).
//!
//! The tests are the same either way: they name sandboxes and drive them through the real
//! binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::{Fixture, sandmux, stderr};

/// Where the sandboxes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// sandmux's test runtime: the real relay and guest agent, no VM.
    TestRuntime,
    /// Real microVMs (`SANDMUX_TEST_MICROSANDBOX=1`).
    MicroVm,
}

impl Runtime {
    /// The runtime this run uses.
    pub fn selected() -> Runtime {
        if std::env::var("SANDMUX_TEST_MICROSANDBOX").as_deref() == Ok("1") {
            Runtime::MicroVm
        } else {
            Runtime::TestRuntime
        }
    }
}

/// A microsandbox home with its sandboxes, removed with the fixture.
pub struct SandboxHost {
    pub runtime: Runtime,
    pub home: PathBuf,
    pub rootfs: PathBuf,
    dir: PathBuf,
    /// Test runtimes serving a sandbox, by name.
    served: Vec<(String, Child)>,
    env: Vec<(&'static str, PathBuf)>,
}

impl SandboxHost {
    /// A fresh home in the fixture's directory, with a busybox root filesystem.
    pub fn new(fx: &Fixture) -> SandboxHost {
        let runtime = Runtime::selected();
        let home = fx.path("msb-home");
        std::fs::create_dir_all(&home).unwrap();
        let rootfs = sandmux::doctor::busybox_rootfs(&fx.path("rootfs"))
            .unwrap_or_else(|err| panic!("the sandbox tests need busybox-static: {err}"));
        let mut env = vec![("MSB_HOME", home.clone())];
        if runtime == Runtime::MicroVm {
            let bundled = sandmux::backend::microsandbox::python_bundled_runtime().expect(
                "SANDMUX_TEST_MICROSANDBOX=1 needs the runtime: pip install microsandbox==0.7.11",
            );
            env.push(("MSB_PATH", bundled.join("bin/msb")));
            env.push(("MSB_LIBKRUNFW_PATH", bundled.join("lib/libkrunfw.so.5.6.1")));
        }
        SandboxHost {
            runtime,
            home,
            rootfs,
            dir: fx.dir.path().to_path_buf(),
            served: Vec::new(),
            env,
        }
    }

    /// The fixture directory sandmux runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Puts sandmux itself into the root filesystem as `/bin/sandmux` (for the demo agent).
    pub fn install_sandmux(&self) {
        install_host_binary(
            &self.rootfs,
            &assert_cmd::cargo::cargo_bin("sandmux"),
            "/bin/sandmux",
        );
    }

    /// Starts a sandbox and returns its name (`tag` plus this process's pid).
    pub fn sandbox(&mut self, tag: &str) -> String {
        let name = format!("{tag}-{}", std::process::id());
        match self.runtime {
            Runtime::TestRuntime => {
                let mut child = Command::new(test_runtime_binary())
                    .arg(&name)
                    .arg(&self.rootfs)
                    .env("MSB_HOME", &self.home)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start the test runtime");
                let mut line = String::new();
                let stdout = child.stdout.take().unwrap();
                std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
                    .unwrap();
                assert!(
                    line.starts_with(&format!("ready {name}")),
                    "the test runtime did not come up: {line:?} (it needs root for its namespaces)"
                );
                self.served.push((name.clone(), child));
            }
            Runtime::MicroVm => {
                let out = self.run(
                    &format!(
                        "session boot sandbox={name} image={} memory=256M keep=true: true\nwait boot exit 0 within 2m\n",
                        self.rootfs.display()
                    ),
                    &[],
                );
                assert_eq!(out.status.code(), Some(0), "boot {name}: {}", stderr(&out));
            }
        }
        name
    }

    /// Kills what serves sandbox `name` (its relay, its VM) at once.
    pub fn kill_runtime(&mut self, name: &str) {
        match self.runtime {
            Runtime::TestRuntime => {
                if let Some((_, child)) = self.served.iter_mut().find(|(n, _)| n == name) {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            Runtime::MicroVm => {
                let _ = self.msb(&["stop", "--force", name]);
            }
        }
    }

    /// A `sandmux` command with this home's environment.
    pub fn sandmux(&self) -> assert_cmd::Command {
        let mut cmd = sandmux();
        cmd.current_dir(&self.dir);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The same as a `std::process::Command`, to run sandmux in the background.
    pub fn spawn_sandmux(&self, args: &[&std::ffi::OsStr]) -> Child {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("sandmux"));
        cmd.current_dir(&self.dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("start sandmux")
    }

    /// The environment sandmux needs to reach these sandboxes (for tmux tests).
    pub fn env_prefix(&self) -> String {
        self.env
            .iter()
            .map(|(k, v)| format!("{k}={} ", v.display()))
            .collect()
    }

    /// Runs `sandmux run` on `script` (written to the fixture directory) with `args`.
    pub fn run(&self, script: &str, args: &[&str]) -> Output {
        let path = self.dir.join(format!("sandbox-{}.smx", next_script()));
        std::fs::write(&path, script).unwrap();
        self.sandmux()
            .arg("run")
            .arg(&path)
            .args(args)
            .timeout(Duration::from_secs(300))
            .output()
            .unwrap()
    }

    fn msb(&self, args: &[&str]) -> Option<Output> {
        let msb = self.env.iter().find(|(k, _)| *k == "MSB_PATH")?.1.clone();
        Command::new(msb)
            .args(args)
            .env("MSB_HOME", &self.home)
            .output()
            .ok()
    }
}

impl Drop for SandboxHost {
    fn drop(&mut self) {
        for (_, child) in &mut self.served {
            // SIGTERM lets it mark the sandbox stopped; the kill is a backstop.
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            for _ in 0..50 {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.runtime == Runtime::MicroVm
            && let Ok(entries) = std::fs::read_dir(self.home.join("sandboxes"))
        {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let _ = self.msb(&["remove", "--force", &name]);
            }
        }
    }
}

fn next_script() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// `target/<profile>/examples/msb_test_runtime`, built if `cargo test` did not build it
/// (when only some test targets were selected).
pub fn test_runtime_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let sandmux = assert_cmd::cargo::cargo_bin("sandmux");
            let path = sandmux
                .parent()
                .unwrap()
                .join("examples")
                .join("msb_test_runtime");
            if !path.exists() {
                // Built in the profile of the tests that need it, beside their sandmux.
                let profile = sandmux.parent().unwrap().file_name().unwrap();
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let mut build = Command::new(cargo);
                build.args(["build", "--example", "msb_test_runtime"]);
                if profile != "debug" {
                    build.arg("--profile").arg(profile);
                }
                let status = build
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .status()
                    .expect("run cargo");
                assert!(status.success(), "building the test runtime failed");
            }
            path
        })
        .clone()
}

/// Copies a dynamically linked host binary into `rootfs` at `at`, with the shared libraries
/// it needs (as `ldd` lists them) at their own paths.
pub fn install_host_binary(rootfs: &Path, binary: &Path, at: &str) {
    let target = rootfs.join(at.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    // A hard link when the fixture shares the build's filesystem (sandmux is big in debug).
    if std::fs::hard_link(binary, &target).is_err() {
        std::fs::copy(binary, &target).unwrap();
    }
    let ldd = Command::new("ldd").arg(binary).output().expect("ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`
        let path = line
            .split("=>")
            .last()
            .and_then(|rest| rest.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        if let Some(path) = path {
            let inside = rootfs.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
            let real = std::fs::canonicalize(path).unwrap();
            std::fs::copy(real, inside).unwrap();
        }
    }
}
