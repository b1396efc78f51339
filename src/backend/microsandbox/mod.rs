//! The microsandbox backend: a session is one streaming exec (`exec_stream_with` with a
//! stdin pipe, no PTY) inside a microVM sandbox, through the microsandbox SDK.
//!
//! Sessions that name the same sandbox share one connection (and one boot): the first one
//! to need it connects, starts or creates it while the others wait for the same result.
//! Sandboxes sandmux created are stopped and removed at shutdown unless `keep` is set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod errors;
mod runtime;

use futures::future::BoxFuture;
use microsandbox::{ExecEvent, MicrosandboxError, Sandbox};
use tokio::sync::{OnceCell, mpsc};

pub use errors::{describe_error, describe_exec_failure};
pub use runtime::{RuntimeSource, cloud_selected, discover_runtime, python_bundled_runtime};

use crate::engine::{Backend, BackendEvent, Control, EventSink};
use crate::engine::{ExitStatus, SandboxSpec, SessionSpec, Stream};

/// The SDK release sandmux is built against; the runtime must match it.
pub const SDK_VERSION: &str = "0.7.11";

/// A sandbox shared by the sessions that name it.
struct Shared {
    cell: OnceCell<Result<Sandbox, String>>,
    /// sandmux created it (so it removes it at exit unless kept).
    created: Mutex<bool>,
    keep: bool,
}

/// Runs sessions as execs in microsandbox sandboxes.
#[derive(Default, Clone)]
pub struct MicrosandboxBackend {
    sandboxes: Arc<Mutex<HashMap<String, Arc<Shared>>>>,
}

impl MicrosandboxBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn shared(&self, spec: &SandboxSpec) -> Arc<Shared> {
        let mut map = self.sandboxes.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(spec.sandbox.clone()).or_insert_with(|| {
            Arc::new(Shared {
                cell: OnceCell::new(),
                created: Mutex::new(false),
                keep: spec.keep,
            })
        }))
    }
}

impl Backend for MicrosandboxBackend {
    fn launch(
        &self,
        spec: &SessionSpec,
        controls: mpsc::UnboundedReceiver<Control>,
        events: EventSink,
    ) {
        let crate::engine::BackendSpec::Microsandbox(sandbox) = &spec.backend else {
            let events = events.clone();
            tokio::spawn(async move {
                events
                    .send(BackendEvent::Failed("not a sandbox session".into()))
                    .await;
            });
            return;
        };
        let shared = self.shared(sandbox);
        tokio::spawn(run_session(
            spec.clone(),
            sandbox.clone(),
            shared,
            controls,
            events,
        ));
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let sandboxes: Vec<(String, Arc<Shared>)> = self
            .sandboxes
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect())
            .unwrap_or_default();
        Box::pin(async move {
            for (name, shared) in sandboxes {
                let created = *shared.created.lock().unwrap_or_else(|p| p.into_inner());
                let Some(Ok(sandbox)) = shared.cell.get() else {
                    continue;
                };
                if created && !shared.keep {
                    let stop = tokio::time::timeout(Duration::from_secs(10), sandbox.stop()).await;
                    if !matches!(stop, Ok(Ok(()))) {
                        let _ = tokio::time::timeout(Duration::from_secs(5), sandbox.kill()).await;
                    }
                    if let Err(err) = Sandbox::remove(&name).await {
                        tracing::warn!("cannot remove sandbox {name}: {err}");
                    }
                }
            }
        })
    }
}

/// Connects to the sandbox, starting it when stopped and creating it from `image` when it
/// does not exist.
async fn open(spec: &SandboxSpec, shared: &Shared, events: &EventSink) -> Result<Sandbox, String> {
    static DISCOVER: std::sync::Once = std::sync::Once::new();
    DISCOVER.call_once(|| {
        discover_runtime();
    });
    let name = &spec.sandbox;
    // Local sandboxes need the runtime; say so before the SDK reports something else first
    // (it looks the sandbox up and checks the image before it looks for the runtime).
    if !cloud_selected() {
        microsandbox::config::resolve_msb_path().map_err(|e| describe_error(&e, name))?;
        microsandbox::config::resolve_libkrunfw_path().map_err(|e| describe_error(&e, name))?;
    }
    events
        .send(BackendEvent::Progress(format!("connecting to {name}…")))
        .await;
    match Sandbox::get(name).await {
        Ok(handle) => {
            events
                .send(BackendEvent::Progress(format!("starting {name}…")))
                .await;
            let sandbox = handle
                .connect_or_start()
                .await
                .map_err(|e| describe_error(&e, name))?;
            // Never let the test runtime pass for a real sandbox.
            if super::msb_home::home().is_some_and(|h| super::msb_home::is_test_runtime(&h, name)) {
                tracing::warn!("sandbox {name} is served by sandmux's test runtime: no microVM");
                events
                    .send(BackendEvent::Progress(format!(
                        "{name} is served by sandmux's test runtime (no VM)"
                    )))
                    .await;
            }
            Ok(sandbox)
        }
        Err(MicrosandboxError::SandboxNotFound(_)) => {
            let Some(image) = &spec.image else {
                return Err(format!(
                    "sandbox `{name}` does not exist: create it (`msb create`), or give the session an `image` so sandmux creates it"
                ));
            };
            events
                .send(BackendEvent::Progress(format!(
                    "booting {name} from {image}…"
                )))
                .await;
            let mut builder = Sandbox::builder(name.as_str()).image(image.as_str());
            if let Some(cpus) = spec.cpus {
                builder = builder.cpus(cpus);
            }
            if let Some(memory) = spec.memory_mib {
                builder = builder.memory(memory);
            }
            let sandbox = builder
                .create()
                .await
                .map_err(|e| describe_error(&e, name))?;
            *shared.created.lock().unwrap_or_else(|p| p.into_inner()) = true;
            Ok(sandbox)
        }
        Err(err) => Err(describe_error(&err, name)),
    }
}

async fn run_session(
    spec: SessionSpec,
    sandbox_spec: SandboxSpec,
    shared: Arc<Shared>,
    mut controls: mpsc::UnboundedReceiver<Control>,
    events: EventSink,
) {
    let opened = shared
        .cell
        .get_or_init(|| open(&sandbox_spec, &shared, &events))
        .await;
    let sandbox = match opened {
        Ok(sandbox) => sandbox.clone(),
        Err(reason) => {
            events.send(BackendEvent::Failed(reason.clone())).await;
            return;
        }
    };
    let argv = spec.program.argv();
    let Some((program, args)) = argv.split_first() else {
        events
            .send(BackendEvent::Failed("the command is empty".into()))
            .await;
        return;
    };
    let cwd = spec.cwd.as_ref().map(|p| p.display().to_string());
    let user = sandbox_spec.user.clone();
    let env = spec.env.clone();
    let started = sandbox
        .exec_stream_with(program.as_str(), |o| {
            let mut o = o.args(args.iter().cloned()).stdin_pipe();
            for (k, v) in &env {
                o = o.env(k.as_str(), v.as_str());
            }
            if let Some(cwd) = &cwd {
                o = o.cwd(cwd.as_str());
            }
            if let Some(user) = &user {
                o = o.user(user.as_str());
            }
            o
        })
        .await;
    let mut handle = match started {
        Ok(handle) => handle,
        Err(MicrosandboxError::ExecFailed(failed)) => {
            let reason = describe_exec_failure(&failed, program, cwd.as_deref(), user.as_deref());
            events.send(BackendEvent::Failed(reason)).await;
            return;
        }
        Err(err) => {
            let reason = describe_error(&err, &sandbox_spec.sandbox);
            events.send(BackendEvent::Failed(reason)).await;
            return;
        }
    };
    let control = handle.control();
    let (stdin_tx, stdin_rx) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
    let writer = handle
        .take_stdin()
        .map(|sink| tokio::spawn(feed(sink, stdin_rx, events.clone())));
    let mut kill_at: Option<tokio::time::Instant> = None;
    let mut controls_open = true;
    // The guest reports a death by signal without the signal: remember what was sent.
    let mut sent_signal: Option<i32> = None;
    let terminal = loop {
        tokio::select! {
            event = handle.recv() => {
                match map_event(event, program, cwd.as_deref(), user.as_deref(), sent_signal) {
                    Mapped::Event(event) => {
                        if !events.send(event).await {
                            break None;
                        }
                    }
                    Mapped::Terminal(event) => break Some(event),
                }
            }
            control_msg = controls.recv(), if controls_open => match control_msg {
                Some(Control::Write(bytes)) => { let _ = stdin_tx.send(Some(bytes)); }
                Some(Control::CloseStdin) => { let _ = stdin_tx.send(None); }
                Some(Control::Signal(signal)) => {
                    sent_signal = latest_signal(sent_signal, signal);
                    if let Err(err) = control.signal(signal).await {
                        events.send(BackendEvent::Warning(format!("signal not delivered: {err}"))).await;
                    }
                }
                Some(Control::Stop { grace }) => {
                    sent_signal = latest_signal(sent_signal, libc::SIGTERM);
                    let _ = control.signal(libc::SIGTERM).await;
                    kill_at = Some(tokio::time::Instant::now() + grace);
                }
                None => {
                    controls_open = false;
                    sent_signal = Some(libc::SIGKILL);
                    let _ = control.kill().await;
                }
            },
            _ = async { tokio::time::sleep_until(kill_at.unwrap_or_else(tokio::time::Instant::now)).await }, if kill_at.is_some() => {
                kill_at = None;
                sent_signal = Some(libc::SIGKILL);
                let _ = control.kill().await;
            }
        }
    };
    if let Some(writer) = writer {
        writer.abort();
    }
    if let Some(event) = terminal {
        events.send(event).await;
    }
}

/// What one SDK event becomes.
#[derive(Debug, PartialEq, Eq)]
pub enum Mapped {
    /// An event that does not end the session.
    Event(BackendEvent),
    /// The session's last event.
    Terminal(BackendEvent),
}

/// Maps an SDK exec event onto the engine's events. A stream that ends without `Exited` or
/// `Failed` is a failure (the VM died), never exit 0.
pub fn map_event(
    event: Option<ExecEvent>,
    program: &str,
    cwd: Option<&str>,
    user: Option<&str>,
    sent_signal: Option<i32>,
) -> Mapped {
    match event {
        Some(ExecEvent::Started { pid }) => Mapped::Event(BackendEvent::Started { pid: Some(pid) }),
        Some(ExecEvent::Stdout(bytes)) => Mapped::Event(BackendEvent::Output {
            stream: Stream::Stdout,
            data: bytes.to_vec(),
        }),
        Some(ExecEvent::Stderr(bytes)) => Mapped::Event(BackendEvent::Output {
            stream: Stream::Stderr,
            data: bytes.to_vec(),
        }),
        Some(ExecEvent::Exited { code }) => {
            Mapped::Terminal(BackendEvent::Exited(guest_exit(code, sent_signal)))
        }
        Some(ExecEvent::Failed(failed)) => {
            Mapped::Terminal(BackendEvent::Failed(describe_exec_failure(&failed, program, cwd, user)))
        }
        Some(ExecEvent::StdinError(err)) => {
            let name = err.errno_name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            Mapped::Event(BackendEvent::Warning(format!(
                "input not delivered: {}{name}",
                err.message
            )))
        }
        None => Mapped::Terminal(BackendEvent::Failed(
            "session ended without exit status: the sandbox's agent connection closed (did the sandbox stop? see `msb logs --source system NAME`)".into(),
        )),
    }
}

/// The signal that ends a process sent `previous` and then `signal`: SIGKILL once sent
/// cannot be outrun by a later one.
fn latest_signal(previous: Option<i32>, signal: i32) -> Option<i32> {
    match previous {
        Some(libc::SIGKILL) => previous,
        _ => Some(signal),
    }
}

/// The status of a guest exec that reported `code`. Guest codes above 128 are what a shell
/// reports for a signal; they stay codes, as the guest reported them. The guest agent reports
/// a process killed by a signal as `-1` without saying which: it is the last signal sandmux
/// sent the exec (`sent`, SIGKILL once sent), or an unnamed signal when sandmux sent none.
pub fn guest_exit(code: i32, sent: Option<i32>) -> ExitStatus {
    match (code, sent) {
        (-1, Some(signal)) => ExitStatus::signal(signal),
        (-1, None) => ExitStatus {
            code: None,
            signal: None,
        },
        (code, _) => ExitStatus::code(code),
    }
}

/// Writes stdin through the SDK's sink, in order; `None` closes it (EOF).
async fn feed(
    sink: microsandbox::sandbox::exec::ExecSink,
    mut input: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    events: EventSink,
) {
    while let Some(item) = input.recv().await {
        let (result, len) = match item {
            Some(bytes) => {
                let len = bytes.len();
                (sink.write(bytes).await, Some(len))
            }
            None => (sink.close().await, None),
        };
        match (result, len) {
            (Ok(()), Some(len)) => {
                if !events.send(BackendEvent::Stdin(Ok(len))).await {
                    return;
                }
            }
            (Ok(()), None) => {}
            (Err(err), _) => {
                events.send(BackendEvent::Stdin(Err(err.to_string()))).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use errors::tests::failed;
    use microsandbox::protocol::exec::ExecFailureKind;

    #[test]
    fn output_and_exit_events_map_onto_engine_events() {
        let out = map_event(
            Some(ExecEvent::Stdout(b"hi\n".to_vec().into())),
            "sh",
            None,
            None,
            None,
        );
        assert_eq!(
            out,
            Mapped::Event(BackendEvent::Output {
                stream: Stream::Stdout,
                data: b"hi\n".to_vec()
            })
        );
        let err = map_event(
            Some(ExecEvent::Stderr(b"oops".to_vec().into())),
            "sh",
            None,
            None,
            None,
        );
        assert_eq!(
            err,
            Mapped::Event(BackendEvent::Output {
                stream: Stream::Stderr,
                data: b"oops".to_vec()
            })
        );
        assert_eq!(
            map_event(Some(ExecEvent::Started { pid: 7 }), "sh", None, None, None),
            Mapped::Event(BackendEvent::Started { pid: Some(7) })
        );
        assert_eq!(
            map_event(Some(ExecEvent::Exited { code: 3 }), "sh", None, None, None),
            Mapped::Terminal(BackendEvent::Exited(ExitStatus::code(3)))
        );
    }

    #[test]
    fn a_guest_killed_by_a_signal_takes_the_signal_sandmux_sent() {
        assert_eq!(guest_exit(-1, Some(2)), ExitStatus::signal(2));
        assert_eq!(guest_exit(-1, Some(2)).shell_code(), 130);
        assert_eq!(guest_exit(0, Some(2)), ExitStatus::code(0));
        assert_eq!(guest_exit(7, None), ExitStatus::code(7));
        assert_eq!(latest_signal(Some(9), 15), Some(9), "SIGKILL wins");
        assert_eq!(latest_signal(Some(2), 15), Some(15));
        let unnamed = guest_exit(-1, None);
        assert_eq!((unnamed.code, unnamed.signal), (None, None));
        assert_eq!(
            unnamed.to_string(),
            "killed by a signal the sandbox did not name"
        );
        assert_eq!(
            map_event(
                Some(ExecEvent::Exited { code: -1 }),
                "sleep",
                None,
                None,
                Some(9)
            ),
            Mapped::Terminal(BackendEvent::Exited(ExitStatus::signal(9)))
        );
    }

    #[test]
    fn a_stream_without_exit_status_is_a_failure_not_exit_zero() {
        match map_event(None, "sh", None, None, None) {
            Mapped::Terminal(BackendEvent::Failed(reason)) => {
                assert!(
                    reason.starts_with("session ended without exit status"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_exec_that_cannot_start_is_a_failure_in_one_sentence() {
        match map_event(
            Some(ExecEvent::Failed(failed(ExecFailureKind::NotFound, "x"))),
            "nosuch",
            None,
            None,
            None,
        ) {
            Mapped::Terminal(BackendEvent::Failed(reason)) => {
                assert_eq!(reason, "command not found in the sandbox: nosuch")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stdin_errors_are_warnings_that_do_not_end_the_session() {
        let event = ExecEvent::StdinError(microsandbox::protocol::exec::ExecStdinError {
            errno: Some(32),
            errno_name: Some("EPIPE".into()),
            message: "broken pipe".into(),
        });
        assert_eq!(
            map_event(Some(event), "sh", None, None, None),
            Mapped::Event(BackendEvent::Warning(
                "input not delivered: broken pipe (EPIPE)".into()
            ))
        );
    }
}
