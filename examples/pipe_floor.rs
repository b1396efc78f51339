//! The floor for turn latency: a minimal hand-written driver that spawns a program with
//! pipes, writes one line at a time and blocks until the reply line arrives. No async
//! runtime, no scrollback, no transcript: what any driver must pay at least.
//!
//! `cargo run --release --example pipe_floor -- 2000 sed -u s/^/ack:/`

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let turns: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let program: Vec<String> = args.collect();
    let (cmd, rest) = program
        .split_first()
        .expect("usage: pipe_floor TURNS PROGRAM [ARGS..]");
    let mut child = Command::new(cmd)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let started = Instant::now();
    let mut line = String::new();
    for turn in 0..turns {
        writeln!(stdin, "turn{turn}").expect("write");
        stdin.flush().expect("flush");
        line.clear();
        stdout.read_line(&mut line).expect("read");
        assert_eq!(line.trim_end(), format!("ack:turn{turn}"));
    }
    drop(stdin);
    child.wait().expect("wait");
    let elapsed = started.elapsed();
    println!(
        "pipe_floor: {turns} turns in {:.3}s ({:.1} us/turn)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / turns as f64
    );
}
