//! Turn latency through the control socket, for `bench/run.sh socket`: N turns of `send`
//! then `wait` for the echo, on one connection to a running sandmux, as a harness would
//! drive it.
//!
//! ```text
//! socket_turns SOCKET SESSION N
//! ```

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, session, n] = args.as_slice() else {
        eprintln!("usage: socket_turns SOCKET SESSION N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let mut write = UnixStream::connect(socket).expect("connect");
    let mut read = BufReader::new(write.try_clone().expect("clone"));
    let mut answer = String::new();
    let started = Instant::now();
    for i in 0..n {
        let requests = format!(
            "{{\"id\":{i},\"op\":\"send\",\"session\":\"{session}\",\"text\":\"turn{i}\"}}\n\
             {{\"id\":{i},\"op\":\"wait\",\"session\":\"{session}\",\"literal\":\"ack:turn{i}\"}}\n"
        );
        write.write_all(requests.as_bytes()).expect("send");
        for _ in 0..2 {
            answer.clear();
            read.read_line(&mut answer).expect("answer");
            assert!(answer.contains("\"ok\":true"), "{answer}");
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{n} socket turns in {:.1} ms ({:.1} µs a turn)",
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1e6 / n as f64
    );
}
