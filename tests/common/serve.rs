//! `sandmux serve` for the tests: started on a socket in a fixture, driven by `sandmux ctl`
//! or by a raw JSON-lines client.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{Fixture, eventually, sandmux};

/// A `sandmux serve` on a socket in the fixture's directory, stopped when dropped.
pub struct Server {
    pub child: Child,
    pub socket: PathBuf,
}

impl Server {
    pub fn start(fx: &Fixture, args: &[&str]) -> Server {
        let socket = fx.path("ctl.sock");
        let child = Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
            .current_dir(fx.dir.path())
            .arg("serve")
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(
            eventually(Duration::from_secs(10), || UnixStream::connect(&socket)
                .is_ok()),
            "the socket came up"
        );
        Server { child, socket }
    }

    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        ctl_at(&self.socket, args)
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sandmux ctl --socket SOCKET ARGS...`.
pub fn ctl_at(socket: &Path, args: &[&str]) -> std::process::Output {
    sandmux()
        .arg("ctl")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

/// A raw JSON-lines client.
pub struct Client {
    pub write: UnixStream,
    pub read: BufReader<UnixStream>,
}

impl Client {
    pub fn connect(path: &Path) -> Client {
        let write = UnixStream::connect(path).unwrap();
        write
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let read = BufReader::new(write.try_clone().unwrap());
        Client { write, read }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).unwrap();
    }

    pub fn request(&mut self, body: Value) -> Value {
        self.send_raw(format!("{body}\n").as_bytes());
        self.answer()
    }

    pub fn answer(&mut self) -> Value {
        let mut line = String::new();
        self.read.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }
}
