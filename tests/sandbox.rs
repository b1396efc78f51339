//! The microsandbox backend through the real binary.
//!
//! - Without a runtime (runs everywhere): honest errors, other sessions unharmed, `doctor`.
//! - With the runtime but no usable KVM (this project's build machines): the VM cannot boot,
//!   and sandmux says so in one sentence.
//! - With KVM (`SANDMUX_TEST_MICROSANDBOX=1` on a machine that boots VMs): real sessions in
//!   real sandboxes, built from a tiny busybox rootfs.
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
        text.contains("FAIL  runtime   no microsandbox runtime"),
        "{text}"
    );
    assert!(text.contains("pip install microsandbox==0.7.11"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("PASS  kvm") || l.starts_with("FAIL  kvm")),
        "{text}"
    );
    assert!(text.contains("SKIP  boot"), "{text}");
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
    matches!(
        sandmux::doctor::check_kvm(std::path::Path::new("/dev/kvm")),
        sandmux::doctor::Verdict::Pass(_)
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

/// Gated: real sandboxes. Returns the environment for sandmux, or None (skipped, with why).
fn live_sandboxes(fx: &Fixture) -> Option<(PathBuf, Vec<(&'static str, PathBuf)>)> {
    if std::env::var("SANDMUX_TEST_MICROSANDBOX").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set SANDMUX_TEST_MICROSANDBOX=1 on a machine with KVM to run sandbox sessions"
        );
        return None;
    }
    if !kvm_usable() {
        eprintln!("skipped: KVM is not usable here (see `sandmux doctor`)");
        return None;
    }
    let runtime = runtime_dir()
        .expect("SANDMUX_TEST_MICROSANDBOX=1 needs the runtime: pip install microsandbox==0.7.11");
    let rootfs = sandmux::doctor::busybox_rootfs(&fx.path("rootfs")).expect("busybox-static");
    let home = fx.path("msb-home");
    std::fs::create_dir_all(&home).unwrap();
    Some((
        rootfs,
        vec![
            ("MSB_PATH", runtime.join("bin/msb")),
            ("MSB_LIBKRUNFW_PATH", runtime.join("lib/libkrunfw.so.5.6.1")),
            ("MSB_HOME", home),
        ],
    ))
}

fn run_live(fx: &Fixture, env: &[(&str, PathBuf)], script: &str) -> std::process::Output {
    let path = fx.write("live.smx", script);
    let mut cmd = sandmux();
    cmd.current_dir(fx.dir.path())
        .arg("run")
        .arg(&path)
        .args(["-v", "--transcript-dir", "logs"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.timeout(Duration::from_secs(600)).output().unwrap()
}

/// How a script declares a session: in a sandbox (live) or locally (the local twins).
type Decl<'a> = &'a dyn Fn(&str, &str) -> String;

fn in_sandbox(rootfs: &std::path::Path, tag: &str) -> impl Fn(&str, &str) -> String {
    let (rootfs, tag) = (
        rootfs.display().to_string(),
        format!("{tag}-{}", std::process::id()),
    );
    move |name, sandbox| format!("session {name} sandbox={sandbox}-{tag} image={rootfs}:")
}

fn locally(name: &str, _sandbox: &str) -> String {
    format!("session {name}:")
}

fn echo_turns_script(decl: Decl) -> String {
    let mut script = format!("{} {}\n", decl("echo", "smx-echo"), echo_bot("ack"));
    for i in 1..=10 {
        script.push_str(&format!(
            "send echo turn{i}\nexpect echo stdout /^ack:turn{i}$/ within 10s\n"
        ));
    }
    script.push_str("close echo\nwait echo exit 0 within 20s\n");
    script
}

fn timeout_script(decl: Decl) -> String {
    format!(
        "{} sleep 60\nexpect slow \"never\" within 1s\n",
        decl("slow", "smx-misc")
    )
}

fn missing_command_script(decl: Decl) -> String {
    format!("{} no-such-guest-command\n", decl("ghost", "smx-misc"))
}

/// 1 MiB through stdin in 8 KiB `write` steps, then its SHA-256 expected back.
fn big_stdin_script(decl: Decl) -> String {
    let data: String = (0..16384).map(|i| format!("{i:063}\n")).collect();
    assert_eq!(data.len(), 1 << 20);
    let expected = sha256_hex(&mut data.clone().into_bytes());
    let mut script = format!("{} sha256sum\n", decl("sum", "smx-misc"));
    for chunk in data.as_bytes().chunks(8192) {
        let quoted = String::from_utf8(chunk.to_vec())
            .unwrap()
            .replace('\n', "\\n");
        script.push_str(&format!("write sum \"{quoted}\"\n"));
    }
    script.push_str(&format!(
        "close sum\nexpect sum \"{expected}\" within 30s\nwait sum exit 0\n"
    ));
    script
}

/// Four sessions in one sandbox and one in another, driven turn by turn at the same time.
fn concurrent_script(decl: Decl) -> String {
    let mut script = String::new();
    for i in 0..4 {
        script.push_str(&format!(
            "{} {}\n",
            decl(&format!("s{i}"), "smx-a"),
            echo_bot(&format!("s{i}"))
        ));
    }
    script.push_str(&format!(
        "{} {}\n",
        decl("other", "smx-b"),
        echo_bot("other")
    ));
    let names = ["s0", "s1", "s2", "s3", "other"];
    for turn in 0..5 {
        for n in names {
            script.push_str(&format!("send {n} t{turn}\n"));
        }
        for n in names {
            script.push_str(&format!("expect {n} stdout /^{n}:t{turn}$/ within 10s\n"));
        }
    }
    for n in names {
        script.push_str(&format!("close {n}\nwait {n} exit 0 within 20s\n"));
    }
    script
}

#[test]
fn the_live_scripts_pass_as_local_sessions() {
    // The same scripts as the live tests, on host processes, so a mistake in a script cannot
    // hide behind a missing KVM.
    let fx = Fixture::new();
    for script in [
        echo_turns_script(&locally),
        big_stdin_script(&locally),
        concurrent_script(&locally),
    ] {
        let out = run_live(&fx, &[], &script);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = run_live(&fx, &[], &timeout_script(&locally));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no match within 1.00s"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn live_turn_by_turn_echo_in_a_sandbox() {
    let fx = Fixture::new();
    let Some((rootfs, env)) = live_sandboxes(&fx) else {
        return;
    };
    let out = run_live(&fx, &env, &echo_turns_script(&in_sandbox(&rootfs, "echo")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn live_timeout_missing_command_and_big_stdin() {
    let fx = Fixture::new();
    let Some((rootfs, env)) = live_sandboxes(&fx) else {
        return;
    };
    let decl = in_sandbox(&rootfs, "misc");
    // Overrunning `within` fails promptly and kills the exec.
    let started = std::time::Instant::now();
    let out = run_live(&fx, &env, &timeout_script(&decl));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no match within 1.00s"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    // A command that does not exist in the guest.
    let out = run_live(&fx, &env, &missing_command_script(&decl));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("command not found in the sandbox: no-such-guest-command"),
        "{}",
        stderr(&out)
    );
    // 1 MiB of stdin arrives intact.
    let out = run_live(&fx, &env, &big_stdin_script(&decl));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn live_four_execs_in_one_sandbox_and_one_in_another_turn_by_turn() {
    let fx = Fixture::new();
    let Some((rootfs, env)) = live_sandboxes(&fx) else {
        return;
    };
    let out = run_live(&fx, &env, &concurrent_script(&in_sandbox(&rootfs, "conc")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_busybox_echo_bot_answers_turn_by_turn_locally() {
    // The live tests' guest commands, checked on the host's busybox so a typo cannot hide
    // behind a missing KVM.
    if !std::path::Path::new("/bin/busybox").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs busybox-static"
        );
        eprintln!("skipped: no /bin/busybox");
        return;
    }
    let fx = Fixture::new();
    let bot = echo_bot("ack").replacen("sh -c", "/bin/busybox sh -c", 1);
    let mut script = format!("session echo: {bot}\n");
    for i in 1..=3 {
        script.push_str(&format!(
            "send echo turn{i}\nexpect echo stdout /^ack:turn{i}$/ within 5s\n"
        ));
    }
    script.push_str("close echo\nwait echo exit 0\nsession sum: /bin/busybox sha256sum\nwrite sum \"abc\"\nclose sum\nexpect sum \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\n");
    let out = fx.run(&script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// An echo bot for busybox guests: busybox `sed` has no `-u`, but the shell's `echo` writes
/// each reply at once.
fn echo_bot(prefix: &str) -> String {
    format!("sh -c \"while read -r line; do echo {prefix}:\\$line; done\"")
}

/// SHA-256 with the host's sha256sum (what the guest's busybox computes too).
fn sha256_hex(data: &mut [u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
