//! The guest: microsandbox-agentd's real agent loop, run as PID 1 of new PID, mount and UTS
//! namespaces, pivoted into the image's root filesystem, talking over a socketpair where a
//! VM would give it a virtio-console port.
//!
//! agentd's shutdown path signals PID 1 (or powers off when it is PID 1). It only ever runs
//! here as PID 1 of a PID namespace of its own, checked before any of its code runs, so it
//! can never signal the host's init; `reboot(2)` in a child PID namespace ends only that
//! namespace. Mount propagation is made private first, so nothing it mounts or unmounts
//! reaches the host.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;

use microsandbox_agentd::{BootParams, agent, clock};

use super::Result;

/// The guest's end of the socketpair, as seen by the guest process.
const PORT_FD: i32 = 3;

/// Starts the guest process; returns the host's end of its port and the process.
pub fn spawn(name: &str, rootfs: &Path) -> Result<(OwnedFd, tokio::process::Child)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two new descriptors into `fds`.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(format!("socketpair: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (host_end, guest_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let guest_fd = guest_end.as_raw_fd();
    let mut command = tokio::process::Command::new(me);
    command
        .arg("--guest")
        .arg(name)
        .arg(rootfs)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr().as_fd_owned()?))
        .kill_on_drop(true);
    // SAFETY: between fork and exec the closure only calls dup2, prctl and signal, which
    // are async-signal-safe, on descriptors that stay open for the call.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(guest_fd, PORT_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // A VM's guest starts with every signal at its default. A test started in the
            // background by a non-interactive shell has SIGINT and SIGQUIT ignored, which
            // the guest's processes would inherit (and then ignore an interrupt).
            for signal in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| format!("start the guest: {e}"))?;
    drop(guest_end);
    Ok((host_end, child))
}

trait AsFdOwned {
    fn as_fd_owned(&self) -> Result<OwnedFd>;
}

impl AsFdOwned for std::io::Stderr {
    fn as_fd_owned(&self) -> Result<OwnedFd> {
        use std::os::fd::AsFd;
        self.as_fd().try_clone_to_owned().map_err(|e| e.to_string())
    }
}

/// `--guest NAME ROOTFS`: enter the namespaces, then run agentd as their PID 1.
pub fn main(args: &[String]) -> i32 {
    let [name, rootfs] = args else {
        eprintln!("usage: msb_test_runtime --guest NAME ROOTFS");
        return 2;
    };
    // SAFETY: unshare affects only this (single-threaded) process and its future children.
    if unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWPID) } != 0 {
        eprintln!(
            "msb_test_runtime: cannot create namespaces ({}): the test runtime needs root (CAP_SYS_ADMIN)",
            std::io::Error::last_os_error()
        );
        return 1;
    }
    // SAFETY: the process is single-threaded here (no runtime was built in guest mode).
    match unsafe { libc::fork() } {
        -1 => {
            eprintln!(
                "msb_test_runtime: fork: {}",
                std::io::Error::last_os_error()
            );
            1
        }
        0 => {
            // SAFETY: prctl only sets a flag of this process.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            // SAFETY: getpid has no preconditions.
            if unsafe { libc::getpid() } != 1 {
                // Without a PID namespace of its own agentd could signal the host's init.
                eprintln!("msb_test_runtime: the guest is not PID 1 of a new PID namespace");
                std::process::abort();
            }
            match enter_rootfs(name, Path::new(rootfs)).and_then(|()| run_agent()) {
                Ok(()) => 0,
                Err(err) => {
                    eprintln!("msb_test_runtime: guest: {err}");
                    1
                }
            }
        }
        child => wait_for(child),
    }
}

fn wait_for(child: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out pointer.
        let rc = unsafe { libc::waitpid(child, &mut status, 0) };
        if rc == child {
            break;
        }
        if rc < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 1;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

fn cstr(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| format!("{text:?} holds a NUL byte"))
}

fn check(rc: libc::c_int, what: &str) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("{what}: {}", std::io::Error::last_os_error()))
    }
}

/// Mounts the guest's view: the root filesystem, `/proc` of the new PID namespace and the
/// host's `/dev`, then makes the root filesystem `/`.
fn enter_rootfs(name: &str, rootfs: &Path) -> Result<()> {
    let root = cstr(&rootfs.display().to_string())?;
    let sub = |dir: &str| cstr(&rootfs.join(dir).display().to_string());
    let none = std::ptr::null::<libc::c_char>();
    // SAFETY: each call gets valid NUL-terminated strings (or NULL where the kernel takes
    // NULL) that live until it returns; all of it happens in our own mount namespace.
    unsafe {
        check(
            libc::mount(
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ),
            "make mounts private",
        )?;
        check(
            libc::sethostname(name.as_ptr().cast(), name.len()),
            "set the hostname",
        )?;
        check(
            libc::mount(
                root.as_ptr(),
                root.as_ptr(),
                none,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ),
            "bind the root filesystem",
        )?;
        let proc_dir = sub("proc")?;
        std::fs::create_dir_all(rootfs.join("proc")).map_err(|e| e.to_string())?;
        check(
            libc::mount(
                c"proc".as_ptr(),
                proc_dir.as_ptr(),
                c"proc".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            ),
            "mount /proc",
        )?;
        let dev_dir = sub("dev")?;
        std::fs::create_dir_all(rootfs.join("dev")).map_err(|e| e.to_string())?;
        check(
            libc::mount(
                c"/dev".as_ptr(),
                dev_dir.as_ptr(),
                none,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ),
            "bind /dev",
        )?;
        check(libc::chdir(root.as_ptr()), "enter the root filesystem")?;
        check(
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int,
            "pivot_root",
        )?;
        check(
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH),
            "detach the old root",
        )?;
        check(libc::chdir(c"/".as_ptr()), "chdir /")?;
    }
    Ok(())
}

/// agentd's `main` without its PID 1 mounts: receive the bootstrap, report the init context,
/// run the agent loop until shutdown.
fn run_agent() -> Result<()> {
    let boot_time_ns = clock::boottime_ns();
    // SAFETY: descriptor 3 is the port the host passed in (see `spawn`), owned from here on.
    let port = unsafe { File::from_raw_fd(PORT_FD) };
    let (bootstrap, mut boot_console) =
        agent::receive_bootstrap(&port).map_err(|e| format!("bootstrap: {e}"))?;
    let (_boot, config) =
        BootParams::from_bootstrap(bootstrap).map_err(|e| format!("bootstrap: {e}"))?;
    config.install_default_env();
    agent::report_init_context(&port, &mut boot_console, config.user())
        .map_err(|e| format!("init context: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    match runtime.block_on(agent::run(
        boot_time_ns,
        0,
        &config,
        port,
        boot_console,
        None,
    )) {
        Ok(()) | Err(microsandbox_agentd::AgentdError::Shutdown) => Ok(()),
        Err(err) => Err(format!("agent loop: {err}")),
    }
}
