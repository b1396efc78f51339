//! `sandmux doctor`: can sandboxes run here? Each check prints one line, PASS or FAIL with a
//! remedy; the exit status is non-zero when sandboxes cannot run.

use std::path::{Path, PathBuf};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass(String),
    Fail(String),
    Skip(String),
    /// Worth knowing, neither a pass nor a failure.
    Note(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
}

impl Check {
    fn new(name: &'static str, verdict: Verdict) -> Self {
        Check { name, verdict }
    }

    /// `PASS  runtime   msb found ...`
    pub fn line(&self) -> String {
        let (word, text) = match &self.verdict {
            Verdict::Pass(t) => ("PASS", t),
            Verdict::Fail(t) => ("FAIL", t),
            Verdict::Skip(t) => ("SKIP", t),
            Verdict::Note(t) => ("NOTE", t),
        };
        format!("{word}  {:<9} {text}", self.name)
    }
}

/// Whether `/dev/kvm` can be opened for reading and writing (what the VMM needs).
pub fn check_kvm(path: &Path) -> Verdict {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(_) => Verdict::Pass(format!("{} can be opened read-write", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Verdict::Fail(format!(
            "{} does not exist: load the kvm module (`modprobe kvm_intel` or `kvm_amd`), or enable virtualisation in the BIOS",
            path.display()
        )),
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => Verdict::Fail(format!(
            "{} is not accessible: add your user to the `kvm` group (`sudo usermod -aG kvm $USER`, then log in again)",
            path.display()
        )),
        Err(err) => Verdict::Fail(format!("cannot open {}: {err}", path.display())),
    }
}

/// What backs `/dev/kvm`, from the loaded kernel modules (`/sys/module`) and the kernel
/// command line. PVM (`kvm_pvm`, `nested_pvm=1`) runs only guest kernels built for it, and
/// libkrunfw's kernel is not one: microVMs cannot boot there even though `/dev/kvm` opens.
pub fn check_kvm_kind(sys_module: &Path, cmdline: &str) -> Verdict {
    let loaded = |module: &str| sys_module.join(module).exists();
    if let Some(module) = ["kvm_intel", "kvm_amd"].into_iter().find(|m| loaded(m)) {
        return Verdict::Pass(format!(
            "/dev/kvm is backed by {module} (hardware virtualisation)"
        ));
    }
    let pvm_cmdline = cmdline.split_whitespace().any(|w| w == "nested_pvm=1");
    if loaded("kvm_pvm") || pvm_cmdline {
        return Verdict::Fail(
            "/dev/kvm here is PVM (kvm_pvm), which runs only guest kernels built for PVM, and libkrunfw's guest kernel is not one, so microVMs cannot boot on this machine: run sandboxes on a host with VT-x/AMD-V (or a VM with nested virtualisation), where kvm_intel or kvm_amd backs /dev/kvm".into(),
        );
    }
    if loaded("kvm") {
        Verdict::Skip("/dev/kvm is backed by a KVM module other than kvm_intel, kvm_amd or kvm_pvm; the boot check tells whether microVMs run".into())
    } else {
        Verdict::Skip("no KVM module is loaded".into())
    }
}

/// Whether the CPU flags in `cpuinfo` show hardware virtualisation (vmx or svm).
pub fn check_cpu(cpuinfo: &str) -> Verdict {
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags") || l.starts_with("Features"))
        .unwrap_or("");
    let words: Vec<&str> = flags.split_whitespace().collect();
    if words.contains(&"vmx") || words.contains(&"svm") {
        Verdict::Pass("the CPU has hardware virtualisation (vmx/svm)".into())
    } else if cfg!(target_arch = "aarch64") {
        Verdict::Skip(
            "aarch64: virtualisation support is not shown in cpuinfo; the KVM and boot checks tell"
                .into(),
        )
    } else {
        Verdict::Fail(
            "the CPU shows no hardware virtualisation (no vmx or svm flag): enable VT-x/AMD-V in the BIOS, or nested virtualisation when this is a VM".into(),
        )
    }
}

/// Compares `msb --version` output with the SDK's release.
pub fn check_version(output: &str, sdk: &str) -> Verdict {
    let version = output
        .split_whitespace()
        .last()
        .unwrap_or("")
        .trim_start_matches('v');
    if version == sdk {
        Verdict::Pass(format!("msb {version} matches sandmux's SDK ({sdk})"))
    } else if version.is_empty() {
        Verdict::Fail(format!(
            "msb printed no version: reinstall it (`pip install microsandbox=={sdk}`)"
        ))
    } else {
        Verdict::Fail(format!(
            "msb is {version} but sandmux's SDK is {sdk}: install the matching runtime (`pip install microsandbox=={sdk}`)"
        ))
    }
}

/// Builds a tiny root filesystem from a static busybox: `DIR/bin/busybox` plus links for the
/// applets sandmux's tests use. Returns the directory.
pub fn busybox_rootfs(dir: &Path) -> Result<PathBuf, String> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(
            "no busybox found: install Debian's busybox-static (`apt-get install busybox-static`)",
        )?;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    for sub in ["tmp", "proc", "sys", "dev", "etc", "root", "work"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("cannot create {sub}: {e}"))?;
    }
    std::fs::copy(&busybox, bin.join("busybox"))
        .map_err(|e| format!("cannot copy busybox: {e}"))?;
    for applet in [
        "sh",
        "echo",
        "cat",
        "sed",
        "sleep",
        "sha256sum",
        "head",
        "wc",
        "tr",
        "ls",
        "true",
        "false",
        "env",
        "yes",
        "kill",
        "id",
        "hostname",
        "printf",
        "grep",
    ] {
        let link = bin.join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link)
                .map_err(|e| format!("cannot link {applet}: {e}"))?;
        }
    }
    // The guest agent resolves the exec user (root) through these, as any image has them.
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\n").map_err(|e| e.to_string())?;
    Ok(dir.to_path_buf())
}

/// Runs every check; `boot` also boots a tiny sandbox. Returns the lines and whether
/// sandboxes can run here.
pub async fn run(boot: bool) -> (Vec<Check>, bool) {
    let mut checks = Vec::new();
    runtime_checks(&mut checks);
    checks.push(Check::new("kvm", check_kvm(Path::new("/dev/kvm"))));
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    checks.push(Check::new(
        "kvm-kind",
        check_kvm_kind(Path::new("/sys/module"), &cmdline),
    ));
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    checks.push(Check::new("cpu", check_cpu(&cpuinfo)));
    if let Some(home) = crate::backend::msb_home::home() {
        let served = crate::backend::msb_home::test_runtime_sandboxes(&home);
        if !served.is_empty() {
            checks.push(Check::new(
                "test-rt",
                Verdict::Note(format!(
                    "not real microVMs: {} served by sandmux's test runtime (the real relay and guest agent as host processes, for tests)",
                    served.join(", ")
                )),
            ));
        }
    }
    if boot {
        checks.push(Check::new("boot", boot_check().await));
    } else {
        checks.push(Check::new(
            "boot",
            Verdict::Skip(
                "run `sandmux doctor --boot` to boot a tiny sandbox and exec in it".into(),
            ),
        ));
    }
    let ok = checks
        .iter()
        .all(|c| !matches!(c.verdict, Verdict::Fail(_)));
    (checks, ok)
}

#[cfg(feature = "microsandbox")]
fn runtime_checks(checks: &mut Vec<Check>) {
    use crate::backend::microsandbox::{RuntimeSource, SDK_VERSION, discover_runtime};
    let source = discover_runtime();
    let from = match &source {
        Some(RuntimeSource::MsbPath) => "from MSB_PATH".to_string(),
        Some(RuntimeSource::Home) => "from MSB_HOME or ~/.microsandbox".to_string(),
        Some(RuntimeSource::PythonPackage(dir)) => {
            format!("from the microsandbox Python package, {}", dir.display())
        }
        None => String::new(),
    };
    match microsandbox::config::resolve_msb_path() {
        Ok(path) => {
            checks.push(Check::new(
                "runtime",
                Verdict::Pass(format!("msb found: {} ({from})", path.display())),
            ));
            match microsandbox::config::resolve_libkrunfw_path() {
                Ok(lib) => checks.push(Check::new("firmware", Verdict::Pass(format!("libkrunfw found: {}", lib.display())))),
                Err(err) => checks.push(Check::new("firmware", Verdict::Fail(format!(
                    "{err}: set MSB_LIBKRUNFW_PATH, or reinstall the runtime (`pip install microsandbox=={SDK_VERSION}`)"
                )))),
            }
            let version = std::process::Command::new(&path).arg("--version").output();
            let verdict = match version {
                Ok(out) => check_version(&String::from_utf8_lossy(&out.stdout), SDK_VERSION),
                Err(err) => Verdict::Fail(format!("cannot run {}: {err}", path.display())),
            };
            checks.push(Check::new("version", verdict));
        }
        // The SDK's own error names its Rust API (`setup::install_runtime`): not a thing a
        // user can run, so the sentence is sandmux's own.
        Err(_) => {
            let home = std::env::var("MSB_HOME").unwrap_or_else(|_| "~/.microsandbox".into());
            checks.push(Check::new("runtime", Verdict::Fail(format!(
                "the microsandbox runtime is not installed (looked at MSB_PATH, {home}/bin/msb and the microsandbox Python package): install it with `pip install microsandbox=={SDK_VERSION}`, or set MSB_PATH and MSB_LIBKRUNFW_PATH"
            ))));
        }
    }
}

#[cfg(not(feature = "microsandbox"))]
fn runtime_checks(checks: &mut Vec<Check>) {
    checks.push(Check::new(
        "runtime",
        Verdict::Fail("this sandmux was built without the `microsandbox` feature: rebuild with default features".into()),
    ));
}

#[cfg(feature = "microsandbox")]
async fn boot_check() -> Verdict {
    use crate::backend::microsandbox::describe_error;
    let dir = match tempfile_dir() {
        Ok(dir) => dir,
        Err(err) => return Verdict::Fail(err),
    };
    let rootfs = match busybox_rootfs(&dir.join("rootfs")) {
        Ok(path) => path,
        Err(err) => return Verdict::Skip(err),
    };
    let name = format!("sandmux-doctor-{}", std::process::id());
    let image = rootfs.display().to_string();
    let result = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        let sandbox = microsandbox::Sandbox::builder(name.as_str())
            .image(image.as_str())
            .cpus(1)
            .memory(256u32)
            .replace()
            .create()
            .await
            .map_err(|e| describe_error(&e, &name))?;
        let out = sandbox
            .exec("sh", ["-c", "echo sandmux-ok"])
            .await
            .map_err(|e| describe_error(&e, &name));
        let _ = sandbox.stop().await;
        let _ = microsandbox::Sandbox::remove(&name).await;
        out
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(Ok(out)) if out.stdout().is_ok_and(|s| s.contains("sandmux-ok")) => {
            Verdict::Pass("booted a busybox sandbox and ran `echo` in it".into())
        }
        Ok(Ok(out)) => Verdict::Fail(format!(
            "the sandbox booted but `echo` answered {:?}",
            out.stdout()
        )),
        Ok(Err(reason)) => Verdict::Fail(reason),
        Err(_) => Verdict::Fail(format!(
            "booting a sandbox took over 2 minutes: see `msb logs --source system {name}`"
        )),
    }
}

#[cfg(not(feature = "microsandbox"))]
async fn boot_check() -> Verdict {
    Verdict::Fail("this sandmux was built without the `microsandbox` feature".into())
}

#[cfg(feature = "microsandbox")]
fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("sandmux-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_flags_decide_virtualisation() {
        assert!(matches!(
            check_cpu("flags\t\t: fpu vme vmx sse"),
            Verdict::Pass(_)
        ));
        assert!(matches!(check_cpu("flags\t\t: fpu svm"), Verdict::Pass(_)));
        if cfg!(target_arch = "x86_64") {
            assert!(
                matches!(check_cpu("flags\t\t: fpu sse2"), Verdict::Fail(m) if m.contains("nested"))
            );
        }
    }

    #[test]
    fn versions_must_match_the_sdk() {
        assert!(matches!(
            check_version("msb 0.7.11\n", "0.7.11"),
            Verdict::Pass(_)
        ));
        assert!(
            matches!(check_version("msb 0.6.2", "0.7.11"), Verdict::Fail(m) if m.contains("pip install microsandbox==0.7.11"))
        );
        assert!(matches!(check_version("", "0.7.11"), Verdict::Fail(_)));
    }

    #[test]
    fn a_missing_kvm_device_is_explained() {
        assert!(
            matches!(check_kvm(Path::new("/nonexistent/kvm")), Verdict::Fail(m) if m.contains("does not exist"))
        );
    }

    #[test]
    fn a_pvm_kvm_is_named_with_what_would_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("kvm")).unwrap();
        std::fs::create_dir_all(dir.path().join("kvm_pvm")).unwrap();
        let verdict = check_kvm_kind(dir.path(), "quiet nested_pvm=1");
        assert!(
            matches!(&verdict, Verdict::Fail(m) if m.contains("PVM") && m.contains("cannot boot") && m.contains("kvm_intel or kvm_amd")),
            "{verdict:?}"
        );
        assert!(matches!(check_kvm_kind(dir.path(), ""), Verdict::Fail(_)));
        std::fs::create_dir_all(dir.path().join("kvm_intel")).unwrap();
        assert!(matches!(check_kvm_kind(dir.path(), ""), Verdict::Pass(_)));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            check_kvm_kind(empty.path(), "nested_pvm=1"),
            Verdict::Fail(_)
        ));
        assert!(matches!(check_kvm_kind(empty.path(), ""), Verdict::Skip(_)));
    }

    #[test]
    fn lines_are_aligned() {
        let line = Check::new("kvm", Verdict::Pass("ok".into())).line();
        assert_eq!(line, "PASS  kvm       ok");
    }
}
