//! The local backend: a child process with piped stdin, stdout and stderr (no PTY), in a
//! process group of its own so that stopping the session stops everything it started.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::watchdog;
use crate::engine::{Backend, BackendEvent, Control, EventSink};
use crate::engine::{ExitStatus, SessionSpec, Stream};

/// Size of one read from a child's pipe.
const READ_CHUNK: usize = 128 * 1024;
/// After the main process exits, how long a pipe may stay silent before the session is
/// declared over (a process outside the group may hold it open).
const DRAIN_IDLE: Duration = Duration::from_millis(300);
/// After the main process exits, how long output is still taken at most: a detached process
/// that holds the pipe and keeps writing cannot keep the session from ending.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// Runs sessions as local child processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalBackend;

impl Backend for LocalBackend {
    fn launch(
        &self,
        spec: &SessionSpec,
        controls: mpsc::UnboundedReceiver<Control>,
        events: EventSink,
    ) {
        let spec = spec.clone();
        tokio::spawn(run_session(spec, controls, events));
    }
}

/// Kills a whole process group when dropped, so no child outlives its session or sandmux.
struct GroupGuard {
    pgid: i32,
}

impl GroupGuard {
    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a negative pid signals a process group; it has no memory
        // effects. ESRCH (the group is gone) is fine to ignore.
        unsafe {
            libc::kill(-self.pgid, signal);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
        watchdog::watch_group(self.pgid, false);
    }
}

/// Why `cwd` cannot be a working directory, as one sentence; `None` when it can.
fn bad_cwd(cwd: &Path) -> Option<String> {
    match std::fs::metadata(cwd) {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => Some(format!(
            "working directory {} is not a directory",
            cwd.display()
        )),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Some(format!(
            "working directory {} does not exist",
            cwd.display()
        )),
        Err(err) => Some(format!(
            "working directory {} cannot be used: {err}",
            cwd.display()
        )),
    }
}

/// Why a command could not start, as one sentence.
fn start_error(spec: &SessionSpec, program: &str, err: &io::Error) -> String {
    if let Some(reason) = spec.cwd.as_deref().and_then(bad_cwd) {
        return reason;
    }
    match err.kind() {
        io::ErrorKind::NotFound => {
            if program.contains('/') {
                format!("command not found: {program} (no such file)")
            } else {
                format!("command not found: {program} (not in PATH)")
            }
        }
        io::ErrorKind::PermissionDenied => {
            format!("cannot run {program}: permission denied (is it executable?)")
        }
        _ => match err.raw_os_error() {
            Some(libc::ENOEXEC) => format!("cannot run {program}: not an executable format"),
            _ => format!("cannot run {program}: {err}"),
        },
    }
}

/// The mark of one start of a session, in its processes' environment.
fn session_mark(spec: &SessionSpec) -> String {
    static STARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let start = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}:{}:{start}", std::process::id(), spec.name)
}

fn build_command(spec: &SessionSpec, mark: &str) -> Option<(String, Command)> {
    let argv = spec.program.argv();
    let (program, args) = argv.split_first()?;
    // `sandmux` names this very binary, so `sandmux demo-agent` works before installing.
    let executable = match std::env::current_exe() {
        Ok(me) if program == "sandmux" => me,
        _ => std::path::PathBuf::from(program),
    };
    let mut command = Command::new(executable);
    command
        .args(args)
        .envs(&spec.env)
        // Marks that find every process of the session, even one that left its group.
        .env(watchdog::OWNER_VAR, std::process::id().to_string())
        .env(watchdog::SESSION_VAR, mark)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    // sandmux may itself run with signals ignored (a background job, nohup, a CI runner);
    // a child inherits that, and a shell cannot even trap a signal ignored on entry. Each
    // session starts with the default dispositions, so Ctrl-C and `kill` reach it.
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // signal(2), getrlimit(2) and setrlimit(2), which are async-signal-safe, and reads an
    // atomic; it touches no other memory of the parent.
    unsafe {
        command.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(signal, libc::SIG_DFL);
            }
            super::restore_open_files_limit();
            Ok(())
        });
    }
    Some((program.clone(), command))
}

/// Asks the kernel for a larger pipe so a flood costs fewer wake-ups (best effort).
fn widen_pipe(fd: &impl AsRawFd) {
    // SAFETY: F_SETPIPE_SZ on a pipe fd we own; failure is harmless and ignored.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 1024 * 1024);
    }
}

async fn run_session(
    spec: SessionSpec,
    mut controls: mpsc::UnboundedReceiver<Control>,
    events: EventSink,
) {
    let mark = session_mark(&spec);
    let Some((program, mut command)) = build_command(&spec, &mark) else {
        events
            .send(BackendEvent::Failed("the command is empty".into()))
            .await;
        return;
    };
    if let Some(reason) = spec.cwd.as_deref().and_then(bad_cwd) {
        events.send(BackendEvent::Failed(reason)).await;
        return;
    }
    let mut child: Child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let reason = start_error(&spec, &program, &err);
            events.send(BackendEvent::Failed(reason)).await;
            return;
        }
    };
    let pid = child.id();
    let guard = GroupGuard {
        pgid: pid.map_or(0, |p| p as i32),
    };
    // If sandmux dies, the watchdog kills the group (and everything marked as ours).
    watchdog::watch_group(guard.pgid, true);
    if !events.send(BackendEvent::Started { pid }).await {
        return;
    }

    let (exited_tx, exited_rx) = tokio::sync::watch::channel(false);
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        widen_pipe(&stdout);
        readers.push(tokio::spawn(pump(
            stdout,
            Stream::Stdout,
            events.clone(),
            exited_rx.clone(),
        )));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(tokio::spawn(pump(
            stderr,
            Stream::Stderr,
            events.clone(),
            exited_rx.clone(),
        )));
    }
    let (stdin_tx, stdin_rx) = mpsc::unbounded_channel();
    let writer = child
        .stdin
        .take()
        .map(|stdin| tokio::spawn(feed(stdin, stdin_rx, events.clone())));

    let mut kill_at: Option<Instant> = None;
    let mut controls_open = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            control = controls.recv(), if controls_open => match control {
                Some(Control::Write(bytes)) => { let _ = stdin_tx.send(Some(bytes)); }
                Some(Control::CloseStdin) => { let _ = stdin_tx.send(None); }
                Some(Control::Signal(signal)) => guard.signal(signal),
                Some(Control::Stop { grace }) => {
                    guard.signal(libc::SIGTERM);
                    // A stopped process cannot act on SIGTERM until it is continued.
                    guard.signal(libc::SIGCONT);
                    let deadline = Instant::now() + grace;
                    kill_at = Some(kill_at.map_or(deadline, |d| d.min(deadline)));
                }
                None => {
                    controls_open = false;
                    guard.signal(libc::SIGKILL);
                }
            },
            _ = async { sleep_until(kill_at.unwrap_or_else(Instant::now)).await }, if kill_at.is_some() => {
                guard.signal(libc::SIGKILL);
                kill_at = None;
            }
        }
    };
    // The main process is gone: whatever it left in its group goes with it.
    guard.signal(libc::SIGKILL);
    let _ = exited_tx.send(true);
    for reader in readers {
        let _ = reader.await;
    }
    if let Some(writer) = writer {
        writer.abort();
    }
    let event = match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => BackendEvent::Exited(ExitStatus::code(code)),
            (None, Some(signal)) => BackendEvent::Exited(ExitStatus::signal(signal)),
            (None, None) => BackendEvent::Failed("the process ended with an unknown status".into()),
        },
        Err(err) => BackendEvent::Failed(format!("lost track of the process: {err}")),
    };
    events.send(event).await;
    drop(guard);
    // What left the group (setsid) ends with the session too.
    watchdog::kill_marked(format!("{}={mark}", watchdog::SESSION_VAR).as_bytes());
}

/// Reads one output pipe to its end and forwards each chunk. Once the main process has
/// exited, a pipe silent for [`DRAIN_IDLE`] counts as ended (something outside the group
/// may hold it open), and no output is taken after [`DRAIN_LIMIT`]; a chunk already read is
/// always delivered.
async fn pump(
    mut pipe: impl AsyncRead + Unpin,
    stream: Stream,
    events: EventSink,
    mut exited: tokio::sync::watch::Receiver<bool>,
) {
    // Once the main process has exited: until when output is still taken.
    let mut limit: Option<Instant> = None;
    loop {
        let mut buf = Vec::with_capacity(READ_CHUNK);
        let read = loop {
            if limit.is_none() && *exited.borrow() {
                limit = Some(Instant::now() + DRAIN_LIMIT);
            }
            let stop = limit.map(|l| l.min(Instant::now() + DRAIN_IDLE));
            tokio::select! {
                read = pipe.read_buf(&mut buf) => break Some(read),
                _ = exited.changed(), if limit.is_none() => continue,
                _ = async { sleep_until(stop.unwrap_or_else(Instant::now)).await }, if stop.is_some() => break None,
            }
        };
        match read {
            Some(Ok(0)) | None => return,
            Some(Ok(_)) => {
                if !events
                    .send(BackendEvent::Output { stream, data: buf })
                    .await
                {
                    return;
                }
                if limit.is_some_and(|l| Instant::now() >= l) {
                    return;
                }
            }
            Some(Err(err)) if err.kind() == io::ErrorKind::Interrupted => continue,
            Some(Err(err)) => {
                let message = format!("reading {}: {err}", stream.as_str());
                events.send(BackendEvent::Warning(message)).await;
                return;
            }
        }
    }
}

/// Writes what the engine sends to the child's stdin, in order; `None` closes it. Each
/// write is reported once it is in the pipe, and a broken stdin once.
async fn feed(
    mut stdin: ChildStdin,
    mut input: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    events: EventSink,
) {
    while let Some(item) = input.recv().await {
        let Some(bytes) = item else {
            let _ = stdin.shutdown().await;
            return;
        };
        let result = async {
            stdin.write_all(&bytes).await?;
            stdin.flush().await
        }
        .await;
        let report = match result {
            Ok(()) => Ok(bytes.len()),
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                Err("the program closed its stdin".to_string())
            }
            Err(err) => Err(err.to_string()),
        };
        let broke = report.is_err();
        if !events.send(BackendEvent::Stdin(report)).await || broke {
            return;
        }
    }
}
