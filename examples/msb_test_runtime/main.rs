//! `msb_test_runtime`: a stand-in for `msb machine` without a microVM, so that sandbox
//! sessions are tested for real where VMs cannot boot (no KVM, or a PVM `/dev/kvm`).
//!
//! Test-only: it is an example of the crate, built by `cargo test`, never part of the shipped
//! binary. Everything a sandbox session talks to is the real microsandbox 0.7.11 code:
//!
//! ```text
//! sandmux ── SDK (exec_stream_with) ── agent.sock ── AgentRelay ── console queues
//!                                                                     │ (this program pumps)
//!                         guest: microsandbox-agentd's agent loop ◄───┘ socketpair
//!                         in its own PID, mount and UTS namespaces, pivoted into a rootfs
//! ```
//!
//! What stands in for the VM: this process marks the sandbox Running in the catalog
//! (`MSB_HOME/db/msb.db`) with a run owned by its own pid, serves the real relay on the
//! sandbox's real `agent.sock` with the guest clock off, queues the guest bootstrap frame,
//! and runs agentd (see `guest.rs`) as PID 1 of fresh namespaces inside the image's root
//! filesystem. Signals go through the relay: agentd's `core.ready` is passed on without the
//! workload-transport barrier, so the SDK uses its relay path for `ExecSignal` instead of the
//! runtime's private control socket.
//!
//! It dies with its parent, and its guest dies with it. A file `SANDMUX-TEST-RUNTIME` in the
//! sandbox's directory says what it is, so `sandmux doctor` and the sandbox backend never
//! take it for a real sandbox.
//!
//! ```text
//! MSB_HOME=/tmp/h msb_test_runtime NAME ROOTFS     # prints `ready NAME` when serving
//! ```
//! SIGTERM stops it: the guest is killed and the sandbox marked stopped.

mod catalog;
mod guest;
mod pump;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use microsandbox_protocol::bootstrap::{BootstrapEnvVar, GuestBootstrap};
use microsandbox_protocol::codec;
use microsandbox_protocol::message::{Message, MessageType};
use microsandbox_runtime::console::{AgentConsoleBackend, ConsoleSharedState};
use microsandbox_runtime::ipc::SandboxSocketPaths;
use microsandbox_runtime::relay::AgentRelay;
use microsandbox_types::GuestClockPolicy;

/// The marker that tells this runtime apart from a real sandbox.
use sandmux::backend::msb_home::TEST_RUNTIME_MARKER as MARKER;

type Result<T> = std::result::Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("--guest") => guest::main(&args[1..]),
        Some(_) if args.len() == 2 => match serve(&args[0], Path::new(&args[1])) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("msb_test_runtime: {err}");
                1
            }
        },
        _ => {
            eprintln!("usage: MSB_HOME=DIR msb_test_runtime NAME ROOTFS");
            2
        }
    };
    std::process::exit(code);
}

/// The directories of the microsandbox home (as `microsandbox_utils` names them).
struct Home {
    root: PathBuf,
}

impl Home {
    fn from_env() -> Result<Self> {
        // Never touch a user's real ~/.microsandbox: the home must be given.
        let root = std::env::var_os("MSB_HOME")
            .filter(|h| !h.is_empty())
            .ok_or("MSB_HOME must name the (test) microsandbox home")?;
        Ok(Home { root: root.into() })
    }

    fn db(&self) -> PathBuf {
        self.root.join("db").join("msb.db")
    }

    fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    fn sandboxes_dir(&self) -> PathBuf {
        self.root.join("sandboxes")
    }
}

fn serve(name: &str, rootfs: &Path) -> Result<()> {
    // Die with the parent (the test, or whoever started us).
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let home = Home::from_env()?;
    let rootfs = rootfs
        .canonicalize()
        .map_err(|e| format!("root filesystem {}: {e}", rootfs.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(run(name, &rootfs, &home))
}

async fn run(name: &str, rootfs: &Path, home: &Home) -> Result<()> {
    let catalog = catalog::Catalog::mark_running(home, name, rootfs).await?;
    let sandbox_dir = home.sandboxes_dir().join(name);
    std::fs::create_dir_all(&sandbox_dir).map_err(|e| e.to_string())?;
    std::fs::write(
        sandbox_dir.join(MARKER),
        "served by sandmux's test runtime (examples/msb_test_runtime): the real relay and guest agent, no microVM\n",
    )
    .map_err(|e| e.to_string())?;

    let paths = SandboxSocketPaths::in_sandboxes_dir(&home.run_dir(), &home.sandboxes_dir(), name);
    let agent_sock = paths.runtime.agent.clone();
    paths
        .runtime
        .prepare_canonical_directory(&agent_sock)
        .map_err(|e| format!("prepare {}: {e}", agent_sock.display()))?;

    let shared = Arc::new(ConsoleSharedState::new());
    let backend = Arc::new(AgentConsoleBackend::new(Arc::clone(&shared)));
    let mut relay = AgentRelay::new(&agent_sock, Arc::clone(&shared))
        .await
        .map_err(|e| format!("relay on {}: {e}", agent_sock.display()))?
        .with_guest_clock(GuestClockPolicy::Off);

    // The bootstrap frame goes first, as `msb machine` queues it before the VM starts.
    let bootstrap = GuestBootstrap {
        hostname: Some(name.to_string()),
        default_env: vec![BootstrapEnvVar {
            key: "PATH".into(),
            value: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into(),
        }],
        ..Default::default()
    };
    let message = Message::with_payload(MessageType::Bootstrap, 0, &bootstrap)
        .map_err(|e| format!("encode bootstrap: {e}"))?;
    let mut frame = Vec::new();
    codec::encode_to_buf(&message, &mut frame).map_err(|e| format!("encode bootstrap: {e}"))?;
    shared
        .rx_ring
        .push(frame)
        .map_err(|_| "the console queue refused the bootstrap frame".to_string())?;
    shared.rx_wake.wake();

    let (host_end, mut guest) = guest::spawn(name, rootfs)?;
    pump::start(host_end, backend)?;

    let relay = tokio::task::spawn_blocking(move || relay.wait_ready().map(|()| relay))
        .await
        .map_err(|e| format!("relay task: {e}"))?
        .map_err(|e| format!("the guest agent never became ready: {e}"))?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let (drain_tx, mut drain_rx) = tokio::sync::mpsc::channel(1);
    let mut relay_task = tokio::spawn(relay.run(shutdown_rx, drain_tx));
    println!("ready {name} (sandmux test runtime, no VM)");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| e.to_string())?;
    let why = tokio::select! {
        _ = term.recv() => "stopped (SIGTERM)".to_string(),
        _ = int.recv() => "stopped (SIGINT)".to_string(),
        _ = drain_rx.recv() => "shutdown requested".to_string(),
        status = guest.wait() => format!("the guest agent ended: {status:?}"),
        ended = &mut relay_task => format!("the relay ended: {ended:?}"),
    };
    eprintln!("msb_test_runtime: {name}: {why}");
    let _ = shutdown_tx.send(true);
    let _ = guest.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(2), guest.wait()).await;
    catalog.mark_stopped().await;
    for endpoint in paths.endpoints() {
        let _ = std::fs::remove_file(endpoint);
    }
    let _ = std::fs::remove_file(sandbox_dir.join(MARKER));
    Ok(())
}
