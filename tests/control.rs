//! The control socket through the real binary: `sandmux serve` driven by `sandmux ctl` and by
//! a raw socket client; permissions; every malformed request; a TUI driven from outside; and
//! a load of 100 clients.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::serve::{Client, Server, ctl_at};
use common::*;
use serde_json::{Value, json};

#[test]
fn ctl_drives_a_served_session_turn_by_turn() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &["-s", "echo=sed -u s/^/ack:/"]);
    let out = server.ctl(&["send", "echo", "hello"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = server.ctl(&["wait", "echo", "/^ack:hello$/", "--timeout", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ack:hello\n");
    // A wait that times out exits 1 and says so.
    let out = server.ctl(&["wait", "echo", "\"never\"", "--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no match within 300ms"),
        "{}",
        stderr(&out)
    );
    // read shows the conversation, input marked.
    let out = server.ctl(&["read", "echo"]);
    assert_eq!(stdout(&out), "› hello\nack:hello\n");
    let out = server.ctl(&["list", "--json"]);
    let answer: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(answer["sessions"][0]["name"], "echo");
    assert_eq!(answer["sessions"][0]["state"], "running");
    assert_eq!(answer["sessions"][0]["group"], Value::Null);
    // add, kill, restart, remove.
    let out = server.ctl(&["add", "sleeper group=naps: sleep 100"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = server.ctl(&["list", "--json"]);
    let answer: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(answer["sessions"][1]["group"], "naps");
    assert_eq!(server.ctl(&["kill", "sleeper"]).status.code(), Some(0));
    let out = server.ctl(&["wait", "sleeper", "--exit", "143"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "exited 143 (SIGTERM)\n");
    assert_eq!(server.ctl(&["restart", "sleeper"]).status.code(), Some(0));
    let out = server.ctl(&["wait", "sleeper", "--activity", "idle"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(server.ctl(&["remove", "sleeper"]).status.code(), Some(0));
    let out = server.ctl(&["send", "sleeper", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no session named `sleeper`"),
        "{}",
        stderr(&out)
    );
    // stop ends sandmux serve with 0 and removes its socket.
    let mut server = server;
    assert_eq!(server.ctl(&["stop"]).status.code(), Some(0));
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!server.socket.exists(), "the socket file is removed");
}

#[test]
fn an_agent_is_driven_turn_by_turn_through_the_socket() {
    let fx = Fixture::new();
    let server = Server::start(
        &fx,
        &["-s", "agent protocol=stream-json: sandmux demo-agent"],
    );
    assert_eq!(
        server
            .ctl(&["send", "agent", "hello", "agent"])
            .status
            .code(),
        Some(0)
    );
    let out = server.ctl(&["wait", "agent", "--turn"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        result["result"], "You said: hello agent",
        "sent as a user message"
    );
    let out = server.ctl(&[
        "wait",
        "agent",
        "--expect-json",
        "/message/content/0/text ~ /hello agent/",
        "--from",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn subscribe_from_an_offset_sees_every_line_exactly_once() {
    let fx = Fixture::new();
    let server = Server::start(
        &fx,
        &[
            "-s",
            "count=sh -c 'i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done; read x; echo after-$x'",
        ],
    );
    // Let some of it arrive, then read what is there, then subscribe from where read ended.
    std::thread::sleep(Duration::from_millis(300));
    let mut client = server.client();
    let read = client.request(json!({"id": 1, "op": "read", "session": "count", "limit": 100}));
    let first: Vec<String> = read["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect();
    let next = read["next"].as_u64().unwrap();
    let ok = client.request(json!({"id": 2, "op": "subscribe", "session": "count", "from": next}));
    assert_eq!(ok["subscribed"], true);
    let mut sender = server.client();
    sender.request(json!({"id": 1, "op": "send", "session": "count", "text": "go"}));
    let mut seen = first;
    loop {
        let item = client.answer();
        assert_eq!(item["id"], 2);
        if item["event"] == "line" && item["stream"] != "stdin" {
            seen.push(item["text"].as_str().unwrap().to_string());
            if item["text"] == "after-go" {
                break;
            }
        }
    }
    let expected: Vec<String> = (0..300)
        .map(|i| format!("line{i}"))
        .chain(["after-go".to_string()])
        .collect();
    assert_eq!(seen, expected, "every line once, in order");
}

#[test]
fn malformed_requests_get_one_json_error_each_and_the_connection_goes_on() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &["-s", "echo=sed -u s/^/ack:/"]);
    let mut c = server.client();
    c.send_raw(b"{not json\n");
    let a = c.answer();
    assert_eq!(
        (a["ok"].clone(), a["error"]["code"].clone()),
        (json!(false), json!("bad_json"))
    );
    let a = c.request(json!({"id": 1, "op": "fly"}));
    assert_eq!(a["error"]["code"], "unknown_op");
    assert_eq!(a["id"], 1, "the id comes back");
    let a = c.request(json!({"id": 2, "op": "send", "session": "echo"}));
    assert_eq!(a["error"]["code"], "bad_request");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `text`")
    );
    let a = c.request(json!({"id": 3, "op": "send", "session": "nope", "text": "x"}));
    assert_eq!(a["error"]["code"], "unknown_session");
    let a = c.request(json!({"id": 4, "op": "wait", "session": "echo"}));
    assert_eq!(a["error"]["code"], "bad_request");
    let a = c.request(json!({"id": 5, "op": "add", "declaration": "x colour=red: true"}));
    assert_eq!(a["error"]["code"], "invalid_spec");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown session key `colour`")
    );
    // Over 1 MiB: refused and skipped, and the next request is answered.
    let mut huge = format!(
        "{{\"id\":6,\"op\":\"send\",\"session\":\"echo\",\"text\":\"{}",
        "x".repeat(2 << 20)
    );
    huge.push_str("\"}\n");
    c.send_raw(huge.as_bytes());
    let a = c.answer();
    assert_eq!(a["error"]["code"], "too_large");
    let a = c.request(json!({"id": 7, "op": "send", "session": "echo", "text": "still here"}));
    assert_eq!(a["ok"], true, "{a}");
    let a = c.request(json!({"id": 8, "op": "wait", "session": "echo", "literal": "ack:still here", "timeout_ms": 5000}));
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["matched"]["text"], "ack:still here");
}

#[test]
fn vanishing_and_slow_subscribers_harm_no_one() {
    let fx = Fixture::new();
    let server = Server::start(
        &fx,
        &[
            "-s",
            "flood=yes flood-line-with-some-length",
            "-s",
            "echo=sed -u s/^/ack:/",
        ],
    );
    // A client that subscribes and vanishes.
    {
        let mut gone = server.client();
        gone.request(json!({"id": 1, "op": "subscribe", "session": "flood", "from": 0}));
    }
    // A client that subscribes and never reads: it is told it lagged (once it reads).
    let mut slow = server.client();
    let a = slow.request(json!({"id": 1, "op": "subscribe", "session": "flood"}));
    assert_eq!(a["subscribed"], true);
    std::thread::sleep(Duration::from_secs(2));
    // Meanwhile everything else works.
    let mut c = server.client();
    let a = c.request(json!({"id": 1, "op": "send", "session": "echo", "text": "ping"}));
    assert_eq!(a["ok"], true);
    let a = c.request(json!({"id": 2, "op": "wait", "session": "echo", "literal": "ack:ping", "timeout_ms": 10000}));
    assert_eq!(a["ok"], true, "{a}");
    let mut lagged = None;
    for _ in 0..100_000 {
        let item = slow.answer();
        if item["event"] == "lagged" {
            lagged = Some(item);
            break;
        }
    }
    let lagged = lagged.expect("the slow subscriber is told it lagged");
    assert!(lagged["resume_from"].as_u64().is_some(), "{lagged}");
}

#[test]
fn the_socket_is_private_and_other_users_are_refused() {
    let fx = Fixture::new();
    // The default place: a 0700 directory, a 0600 socket.
    let runtime_dir = fx.path("xdg");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    let child = KillOnDrop(
        Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
            .args(["serve", "-s", "cat"])
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dir = runtime_dir.join("sandmux");
    let socket = dir.join(format!("{}.sock", child.0.id()));
    assert!(eventually(Duration::from_secs(10), || socket.exists()));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&socket), 0o600);
    // With one sandmux running, ctl finds it without --socket.
    let out = sandmux()
        .args(["ctl", "list"])
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("cat ")),
        "{}",
        stdout(&out)
    );
    // Another user who could reach the socket is refused by its credentials.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let as_nobody = Command::new("python3")
        .args([
            "-c",
            "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.makefile().readline())",
        ])
        .arg(&socket)
        .uid(65534)
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&as_nobody.stdout);
    assert!(
        answer.contains("\"forbidden\""),
        "{answer} {}",
        String::from_utf8_lossy(&as_nobody.stderr)
    );
    drop(child);
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ctl_exit_codes_follow_sandmux_run() {
    let fx = Fixture::new();
    let out = sandmux()
        .args(["ctl", "--socket"])
        .arg(fx.path("none.sock"))
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "no sandmux to talk to");
    let empty = fx.path("empty-xdg");
    std::fs::create_dir_all(&empty).unwrap();
    let out = sandmux()
        .args(["ctl", "list"])
        .env("XDG_RUNTIME_DIR", &empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no sandmux is running for this user"),
        "{}",
        stderr(&out)
    );
    let server = Server::start(&fx, &["-s", "cat"]);
    let out = server.ctl(&["wait", "cat", "/(/"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad pattern is a bad command line"
    );
    assert!(stderr(&out).contains("invalid regex"), "{}", stderr(&out));
    let out = server.ctl(&["wait", "cat", "x", "--turn"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sandmux_run_serves_its_sessions_and_stop_ends_the_run() {
    let fx = Fixture::new();
    let socket = fx.path("run.sock");
    let script = fx.write(
        "t.smx",
        "session echo: sed -u s/^/ack:/\nexpect echo \"ack:from outside\" within 20s\nsleep 30s\n",
    );
    let mut child = KillOnDrop(
        Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
            .arg("run")
            .arg(&script)
            .arg("--socket")
            .arg(&socket)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(eventually(Duration::from_secs(10), || UnixStream::connect(
        &socket
    )
    .is_ok()));
    let ctl = |args: &[&str]| ctl_at(&socket, args);
    assert_eq!(
        ctl(&["send", "echo", "from outside"]).status.code(),
        Some(0)
    );
    let started = Instant::now();
    // The expect step is satisfied by what was sent through the socket; now stop the run.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ctl(&["stop"]).status.code(), Some(0));
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(143), "stop ends a run as SIGTERM would");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_hundred_clients_each_take_a_hundred_turns() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &[]);
    let socket = server.socket.clone();
    let threads: Vec<_> = (0..100)
        .map(|n| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(&socket);
                let name = format!("e{n}");
                let a = c.request(json!({"id": 0, "op": "add", "declaration": format!("{name}: sed -u s/^/{name}:/")}));
                assert_eq!(a["ok"], true, "{a}");
                for turn in 0..100 {
                    let a = c.request(json!({"id": turn, "op": "send", "session": name, "text": format!("t{turn}")}));
                    assert_eq!(a["ok"], true, "{a}");
                    let a = c.request(json!({"id": turn, "op": "wait", "session": name, "regex": format!("^{name}:t{turn}$"), "timeout_ms": 60000}));
                    assert_eq!(a["ok"], true, "{a}");
                    assert_eq!(a["id"], turn);
                }
                let a = c.request(json!({"id": 1, "op": "read", "session": name, "limit": 1000}));
                let texts: Vec<&str> = a["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|l| l["stream"] == "stdout")
                    .map(|l| l["text"].as_str().unwrap())
                    .collect();
                let expected: Vec<String> = (0..100).map(|t| format!("{name}:t{t}")).collect();
                assert_eq!(texts, expected, "nothing lost or duplicated");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn ctl_drives_a_tui_someone_is_watching() {
    let fx = Fixture::new();
    let socket = fx.path("tui.sock");
    let tmux = common::tmux::Tmux::new("ctl");
    tmux.start(
        &format!(
            "--log-file {} --socket {} -s 'echo=sed -u s/^/ack:/'",
            fx.path("log").display(),
            socket.display()
        ),
        100,
        20,
    );
    tmux.wait_for("echo · ", Duration::from_secs(10));
    let ctl = |args: &[&str]| ctl_at(&socket, args);
    assert_eq!(
        ctl(&["send", "echo", "from the socket"]).status.code(),
        Some(0)
    );
    let screen = tmux.wait_for("ack:from the socket", Duration::from_secs(10));
    assert!(
        screen.contains("›from the socket"),
        "the input shows too:\n{screen}"
    );
    assert_eq!(
        ctl(&["add", "second: sed -u s/^/2nd:/"]).status.code(),
        Some(0)
    );
    tmux.wait_for("second · ", Duration::from_secs(10));
    assert_eq!(ctl(&["send", "second", "x"]).status.code(), Some(0));
    tmux.wait_for("2nd:x", Duration::from_secs(10));
    assert_eq!(ctl(&["stop"]).status.code(), Some(0));
    tmux.wait_for("SANDMUX-EXITED-0", Duration::from_secs(10));
}
