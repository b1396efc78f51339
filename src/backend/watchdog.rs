//! No orphans, whatever happens to sandmux: a small watchdog process outlives it and kills
//! what its sessions started.
//!
//! Why a watchdog: when sandmux is SIGKILLed (the OOM killer, a CI timeout, a crash) it
//! runs no code at all, so something else must clean up. `PR_SET_PDEATHSIG` reaches only a
//! session's direct child, not what that child started; cgroups would catch everything but
//! need a delegated hierarchy that CI machines and containers often lack. The watchdog needs
//! neither: it is `sandmux watchdog`, started in a session of its own (so Ctrl-C in the
//! terminal does not reach it), reading a pipe whose write end only sandmux holds. sandmux
//! writes each session's process group to it; when the pipe reaches its end (sandmux exited
//! or died), the watchdog kills those groups, then every process whose environment carries
//! this sandmux's `SANDMUX_OWNER` mark (children that left their group with `setsid` still
//! carry it), and exits. A process that both leaves its group and clears its environment
//! escapes; nothing short of cgroups catches that.

use std::io::{BufRead, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The environment variable that marks every process of a sandmux's sessions.
pub const OWNER_VAR: &str = "SANDMUX_OWNER";
/// The environment variable that marks the processes of one session (one start of it).
pub const SESSION_VAR: &str = "SANDMUX_SESSION";

/// This process's mark: `SANDMUX_OWNER=<pid>`.
pub fn owner_mark() -> String {
    format!("{OWNER_VAR}={}", std::process::id())
}

/// The write end of the watchdog's pipe.
struct Watchdog {
    pipe: Mutex<ChildStdin>,
}

static WATCHDOG: OnceLock<Option<Watchdog>> = OnceLock::new();
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets this process start a watchdog (the `sandmux` binary does; a program that only uses
/// the library, whose executable is not sandmux, does not).
pub fn enable() {
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn watchdog() -> Option<&'static Watchdog> {
    if !ENABLED.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    WATCHDOG
        .get_or_init(|| {
            let me = std::env::current_exe().ok()?;
            let mut command = Command::new(me);
            command
                .args(["watchdog", &std::process::id().to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: setsid in the child between fork and exec is async-signal-safe.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                    libc::setsid();
                    Ok(())
                });
            }
            match command.spawn() {
                Ok(mut child) => Some(Watchdog {
                    pipe: Mutex::new(child.stdin.take()?),
                }),
                Err(err) => {
                    tracing::warn!("no watchdog: sessions may outlive a killed sandmux: {err}");
                    None
                }
            }
        })
        .as_ref()
}

/// Tells the watchdog about a session's process group (`+`) or that it ended (`-`).
pub fn watch_group(pgid: i32, live: bool) {
    if let Some(dog) = watchdog()
        && let Ok(mut pipe) = dog.pipe.lock()
    {
        let _ = writeln!(pipe, "{}{pgid}", if live { '+' } else { '-' });
    }
}

/// `sandmux watchdog OWNER`: reads `+PGID`/`-PGID` lines until its input ends, then kills the
/// groups still registered and every process marked with `SANDMUX_OWNER=OWNER`.
pub fn run(owner: u32) -> i32 {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
        // SAFETY: ignoring signals in this single-threaded process.
        unsafe {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
    let mut groups = std::collections::BTreeSet::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (live, pgid) = line.split_at(line.len().min(1));
        if let Ok(pgid) = pgid.parse::<i32>() {
            if live == "+" {
                groups.insert(pgid);
            } else {
                groups.remove(&pgid);
            }
        }
    }
    for pgid in groups.into_iter().filter(|p| *p > 1) {
        // SAFETY: kill(2) on a process group; no memory is touched.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    // Twice: a process may have forked while the first sweep ran.
    for _ in 0..2 {
        kill_marked(format!("{OWNER_VAR}={owner}").as_bytes());
    }
    0
}

/// SIGKILLs every process (but this one) whose environment holds the entry `mark`.
pub fn kill_marked(mark: &[u8]) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|var| var == mark) {
            // SAFETY: kill(2) on a process; no memory is touched.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}
