//! The ways of running sessions: local processes and microsandbox execs. Each implements the
//! engine's [`crate::engine::Backend`] contract; `crate::startup` registers them.

pub mod local;
#[cfg(feature = "microsandbox")]
pub mod microsandbox;
pub mod msb_home;
pub mod watchdog;

/// The soft limit of open files sandmux started with (0: not raised), for its sessions.
static FIRST_OPEN_FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Raises sandmux's soft limit of open files to the hard one: each session holds a few
/// pipes, and the usual soft limit (1024) would cap a run at about 200 sessions. Sessions
/// still start with the limit sandmux was given ([`restore_open_files_limit`]).
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit take a pointer to a valid rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            let first = limit.rlim_cur;
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                FIRST_OPEN_FILES.store(first, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// In a child between fork and exec: puts back the soft limit sandmux started with (only
/// async-signal-safe calls).
pub fn restore_open_files_limit() {
    let first = FIRST_OPEN_FILES.load(std::sync::atomic::Ordering::Relaxed);
    if first == 0 {
        return;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above; both calls are async-signal-safe.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = first.min(limit.rlim_max);
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
