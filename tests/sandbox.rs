//! The microsandbox backend through the real binary, where no sandbox can be reached:
//!
//! - without a runtime (runs everywhere): honest errors, other sessions unharmed, `doctor`;
//! - with the runtime but no usable KVM (this project's build machines): the VM cannot boot,
//!   and sandmux says so in one sentence.
//!
//! Sessions in sandboxes for real are in `sandbox_sessions.rs`.
#![cfg(feature = "microsandbox")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

/// A sandmux command with no way to find a runtime.
fn without_runtime(fx: &Fixture) -> assert_cmd::Command {
    let mut cmd = sandmux();
    let home = fx.path("msb-home");
    std::fs::create_dir_all(&home).unwrap();
    cmd.current_dir(fx.dir.path())
        .env_remove("MSB_PATH")
        .env_remove("MSB_LIBKRUNFW_PATH")
        .env("MSB_HOME", &home)
        .env("HOME", fx.dir.path())
        .env("SANDMUX_PYTHON", "none")
        .timeout(Duration::from_secs(120));
    cmd
}

#[test]
fn a_sandbox_session_without_a_runtime_fails_clearly_while_local_sessions_pass() {
    let fx = Fixture::new();
    let script = fx.write(
        "t.smx",
        "session echo: sed -u \"s/^/ack:/\"\n\
         send echo one\n\
         expect echo \"ack:one\"\n\
         session box sandbox=sandmux-test image=/nonexistent-rootfs: sh -c \"echo hi\"\n\
         send echo never\n",
    );
    let out = without_runtime(&fx)
        .arg("run")
        .arg(&script)
        .args(["--report", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("t.smx:4: session box sandbox=sandmux-test image=/nonexistent-rootfs: sh -c \"echo hi\": session `box` failed to start: the microsandbox runtime is not installed"),
        "{err}"
    );
    assert!(err.contains("pip install microsandbox==0.7.11"), "{err}");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let statuses: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["passed", "passed", "passed", "failed", "skipped"]
    );
    assert_eq!(report["sessions"][1]["state"], "failed");
    assert_eq!(report["sessions"][1]["backend"], "microsandbox");
}

#[test]
fn doctor_says_what_is_missing_and_exits_non_zero() {
    let fx = Fixture::new();
    let out = without_runtime(&fx).arg("doctor").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL  runtime   the microsandbox runtime is not installed"),
        "{text}"
    );
    // Plain sentences for a person: no Rust paths of the SDK (`setup::install_runtime`).
    assert!(!text.contains("::"), "{text}");
    assert!(text.contains("pip install microsandbox==0.7.11"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("PASS  kvm") || l.starts_with("FAIL  kvm")),
        "{text}"
    );
    assert!(text.contains("SKIP  boot"), "{text}");
    if std::path::Path::new("/sys/module/kvm_pvm").exists()
        && !std::path::Path::new("/sys/module/kvm_intel").exists()
        && !std::path::Path::new("/sys/module/kvm_amd").exists()
    {
        // This project's machines: one sentence on why microVMs cannot boot, and the fix.
        assert!(
            text.contains("FAIL  kvm-kind  /dev/kvm here is PVM (kvm_pvm)")
                && text.contains("microVMs cannot boot on this machine")
                && text.contains("VT-x/AMD-V"),
            "{text}"
        );
    }
    assert!(
        text.trim_end()
            .ends_with("sandboxes cannot run here: fix the FAIL lines above"),
        "{text}"
    );
}

#[test]
fn a_sandbox_config_without_a_runtime_fails_each_session_not_sandmux() {
    let fx = Fixture::new();
    fx.write(
        "sandmux.toml",
        "[[session]]\nname = \"agent\"\nbackend = \"microsandbox\"\nsandbox = \"dev\"\ncommand = [\"sh\"]\n\n[[session]]\nname = \"local\"\ncommand = [\"cat\"]\n",
    );
    let script = fx.write("t.smx", "send local hi\nexpect local \"hi\"\n");
    let out = without_runtime(&fx)
        .arg("run")
        .arg(&script)
        .args(["--config", "sandmux.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("session `agent` failed to start: the microsandbox runtime is not installed"),
        "{}",
        stderr(&out)
    );
}

/// The runtime from the `microsandbox` Python package, if it is installed.
fn runtime_dir() -> Option<PathBuf> {
    sandmux::backend::microsandbox::python_bundled_runtime()
}

fn kvm_usable() -> bool {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    matches!(
        sandmux::doctor::check_kvm(std::path::Path::new("/dev/kvm")),
        sandmux::doctor::Verdict::Pass(_)
    ) && !matches!(
        sandmux::doctor::check_kvm_kind(std::path::Path::new("/sys/module"), &cmdline),
        sandmux::doctor::Verdict::Fail(_)
    ) && matches!(
        sandmux::doctor::check_cpu(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()),
        sandmux::doctor::Verdict::Pass(_)
    )
}

#[test]
fn with_the_runtime_a_sandbox_that_cannot_boot_fails_in_one_sentence() {
    let Some(runtime) = runtime_dir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs the runtime (pip install microsandbox==0.7.11); it was not found"
        );
        eprintln!("skipped: no microsandbox runtime (pip install microsandbox==0.7.11)");
        return;
    };
    if kvm_usable() {
        eprintln!("skipped: KVM works here, so the sandbox would boot; the gated tests cover that");
        return;
    }
    let fx = Fixture::new();
    let rootfs = match sandmux::doctor::busybox_rootfs(&fx.path("rootfs")) {
        Ok(path) => path,
        Err(err) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI installs busybox-static: {err}"
            );
            eprintln!("skipped: {err}");
            return;
        }
    };
    let home = fx.path("msb-home");
    std::fs::create_dir_all(&home).unwrap();
    let script = fx.write(
        "t.smx",
        &format!(
            "session local: cat\n\
             session box sandbox=sandmux-noboot image={}: sh -c \"echo hi\"\n",
            rootfs.display()
        ),
    );
    let out = sandmux()
        .current_dir(fx.dir.path())
        .env("MSB_PATH", runtime.join("bin/msb"))
        .env("MSB_LIBKRUNFW_PATH", runtime.join("lib/libkrunfw.so.5.6.1"))
        .env("MSB_HOME", &home)
        .arg("run")
        .arg(&script)
        .arg("-v")
        .timeout(Duration::from_secs(240))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("t.smx:2: session box"), "{err}");
    assert!(err.contains("session `box` failed to start: "), "{err}");
    assert!(
        err.contains("sandmux-noboot"),
        "the sentence names the sandbox: {err}"
    );
    assert!(err.contains("could not boot"), "{err}");
    assert!(
        err.contains("msb logs --source system sandmux-noboot"),
        "it points at the runtime's log: {err}"
    );
    assert!(
        err.contains("booting sandmux-noboot from"),
        "progress is shown with -v: {err}"
    );
}
