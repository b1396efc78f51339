//! The soak's hostile clients: they connect once every session is there and misbehave
//! until the end (see the soak's module comment).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::Client;

/// The hostile clients (see the module's comment), once every session is there; held open
/// until dropped.
pub fn hostile_clients(socket: &Path, sessions: usize) -> Vec<UnixStream> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let there = Client::connect(socket)
            .and_then(|mut c| c.call(json!({"op": "list"})))
            .map(|v| v["sessions"].as_array().map_or(0, Vec::len))
            .unwrap_or(0);
        if there >= sessions {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut held = Vec::new();
    let mut send = |line: String| {
        if let Ok(mut stream) = UnixStream::connect(socket) {
            let _ = stream.write_all(line.as_bytes());
            held.push(stream);
        }
    };
    // A subscriber to every session that never reads.
    send(format!(
        "{}\n",
        json!({"id": 1, "op": "subscribe", "from": 0})
    ));
    // Waits that never match, their answers never read.
    for c in 0..3 {
        let mut lines = String::new();
        for i in 0..60 {
            let session = format!("s{:02}", (c * 60 + i) % sessions.max(1));
            lines.push_str(&format!(
                "{}\n",
                json!({"id": i, "op": "wait", "session": session, "literal": "never printed", "timeout_ms": 3_600_000u64})
            ));
        }
        send(lines);
    }
    // A request line that never ends, and a big read never taken.
    send("{\"id\":7,\"op\":\"list\"".to_string());
    send(format!(
        "{}\n",
        json!({"id": 8, "op": "read", "session": "s00", "from": 0, "limit": 100_000})
    ));
    held
}
