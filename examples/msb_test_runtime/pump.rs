//! Moves bytes between the relay's console queues (what libkrun's virtio-console port would
//! serve) and the guest agent's end of a socketpair, one thread each way.
//!
//! Guest to host, frames are read until `core.ready`, which is passed on without its
//! workload-transport barrier version: the relay then offers no side channel, and the SDK
//! sends exec signals through the relay (the runtime's control socket is private to `msb`).
//! Everything after `core.ready` passes through untouched.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use microsandbox_protocol::codec;
use microsandbox_protocol::core::Ready;
use microsandbox_protocol::message::MessageType;
use microsandbox_runtime::console::AgentConsoleBackend;
use msb_krun::ConsolePortBackend;

use super::Result;

/// Starts both pump threads over the host end of the guest's socketpair.
pub fn start(host_end: OwnedFd, backend: Arc<AgentConsoleBackend>) -> Result<()> {
    let to_host = UnixStream::from(host_end);
    let to_guest = to_host.try_clone().map_err(|e| e.to_string())?;
    let for_reads = Arc::clone(&backend);
    std::thread::Builder::new()
        .name("guest-to-relay".into())
        .spawn(move || guest_to_relay(to_host, &for_reads))
        .map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("relay-to-guest".into())
        .spawn(move || relay_to_guest(to_guest, &backend))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn guest_to_relay(mut from_guest: UnixStream, backend: &AgentConsoleBackend) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = Vec::new();
    let mut ready_seen = false;
    loop {
        let n = match from_guest.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if ready_seen {
            push(backend, &buf[..n]);
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(frame) = next_frame(&mut pending) {
            let frame = match without_barrier(&frame) {
                Some(rewritten) => {
                    ready_seen = true;
                    rewritten
                }
                None => frame,
            };
            push(backend, &frame);
            if ready_seen {
                push(backend, &std::mem::take(&mut pending));
                break;
            }
        }
    }
}

/// Takes one complete length-prefixed frame off the front of `pending`.
fn next_frame(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let len = u32::from_be_bytes(pending.get(..4)?.try_into().ok()?) as usize;
    if pending.len() < 4 + len {
        return None;
    }
    Some(pending.drain(..4 + len).collect())
}

/// `core.ready` re-encoded without `workload_transport_barrier_version`; `None` for any
/// other frame.
fn without_barrier(frame: &[u8]) -> Option<Vec<u8>> {
    let mut message = codec::decode_message_frame(frame).ok()?;
    if message.t != MessageType::Ready {
        return None;
    }
    let mut ready: Ready = message.payload().ok()?;
    ready.workload_transport_barrier_version = None;
    let mut payload = Vec::new();
    ciborium::into_writer(&ready, &mut payload).ok()?;
    message.p = payload;
    let mut out = Vec::new();
    codec::encode_to_buf(&message, &mut out).ok()?;
    Some(out)
}

/// Hands guest bytes to the relay, waiting while its queue is full.
fn push(backend: &AgentConsoleBackend, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    loop {
        match backend.write(bytes) {
            Ok(_) => return,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                backend.wait_until_writable();
            }
            Err(_) => return,
        }
    }
}

fn relay_to_guest(mut to_guest: UnixStream, backend: &AgentConsoleBackend) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match backend.read(&mut buf) {
            Ok(n) => {
                if to_guest.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                let mut poll = libc::pollfd {
                    fd: backend.read_wake_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd for the duration of the call.
                unsafe {
                    libc::poll(&mut poll, 1, 1000);
                }
                // The guest is gone when its end closes; stop then.
                if peer_closed(&to_guest) {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn peer_closed(stream: &UnixStream) -> bool {
    let mut poll = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe {
        libc::poll(&mut poll, 1, 0);
    }
    poll.revents & (libc::POLLHUP | libc::POLLERR) != 0
}
