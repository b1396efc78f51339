//! The soak test (`bench/soak.sh`): many sessions, continuous turns, for minutes, through a
//! real `sandmux serve` driven over its control socket, as a harness driving 50 agents would.
//!
//! ```text
//! soak SANDMUX-BINARY [--sessions N] [--seconds S] [--dir DIR] [--scrollback-lines N]
//! ```
//!
//! `--scrollback-lines` sets `scrollback_lines` in the config sandmux serves (10000, the
//! default, unless given): a short run with a small scrollback reaches its plateau sooner.
//!
//! Each session runs a Python program that answers a turn `TURN COUNT SEED` with COUNT
//! lines of random widths (some not UTF-8, some on stderr), written in random chunks, then
//! `done TURN` and a prompt with no newline; every 50th turn is a burst of 3000 lines. The
//! program keeps the SHA-256, length and line count of everything it wrote to each stream
//! (a copy of the bytes would need as much disk again as the transcripts: gigabytes). One thread a session drives turns
//! back to back: `send`, then `wait` for `done TURN`. Once a second the sandmux process's
//! RSS and open files are sampled.
//!
//! Hostile clients run alongside from the start to the end: a subscriber to every session
//! that never reads, 180 waits that never match (on three connections that never read
//! their answers), a client that never finishes its request line, and one that asks for a
//! big `read` and never takes it. They must change nothing of the judgement below.
//!
//! At the end every transcript is checked against what its program wrote (same SHA-256,
//! length and lines) and what was sent (byte for byte): so no line lost, duplicated or
//! reordered, no torn record, no gap, and an `exited 0` record. RSS must be flat once every scrollback is full (the last third of the
//! warm samples within 10% + 8 MiB of the first third), and open files must not grow.
//! Exit 0 when all holds, 1 when not.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod hostile;

use hostile::hostile_clients;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PROGRAM: &str = r#"
import hashlib, os, random, sys
name, side = sys.argv[1], sys.argv[2]
sums = {1: [hashlib.sha256(), 0, 0], 2: [hashlib.sha256(), 0, 0]}
def emit(fd, data, rnd):
    digest = sums[fd]
    digest[0].update(data); digest[1] += len(data); digest[2] += data.count(b"\n")
    while data:
        cut = min(len(data), rnd.randint(1, 4096))
        written = os.write(fd, data[:cut])
        data = data[written:]
for line in sys.stdin.buffer:
    turn, count, seed = (int(x) for x in line.split())
    rnd = random.Random(seed)
    out = bytearray()
    for i in range(count):
        width = rnd.choice((0, 3, 20, 40, 80, 300))
        tail = b"\xff\xfe" if i % 7 == 3 else b""
        row = b"%s %d.%d %s%s\n" % (name.encode(), turn, i, b"x" * width, tail)
        if i % 13 == 5:
            emit(1, bytes(out), rnd); out.clear()
            emit(2, b"warning " + row, rnd)
        else:
            out += row
    out += b"done %d\n> " % turn
    emit(1, bytes(out), rnd)
with open(side + ".sums", "w") as f:
    for fd, what in ((1, "stdout"), (2, "stderr")):
        f.write("%s %s %d %d\n" % (what, sums[fd][0].hexdigest(), sums[fd][1], sums[fd][2]))
"#;

struct Options {
    binary: PathBuf,
    sessions: usize,
    seconds: u64,
    dir: PathBuf,
    /// Lines a session's scrollback holds; RSS is judged once every session has produced
    /// twice as many.
    scrollback_lines: u64,
}

fn main() {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("soak: {message}");
            eprintln!(
                "usage: soak SANDMUX-BINARY [--sessions N] [--seconds S] [--dir DIR] [--scrollback-lines N]"
            );
            std::process::exit(2);
        }
    };
    match run(&options) {
        Ok(()) => eprintln!("soak: PASS"),
        Err(problems) => {
            for problem in problems {
                eprintln!("soak: FAIL: {problem}");
            }
            std::process::exit(1);
        }
    }
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(args.next().ok_or("no sandmux binary given")?);
    let mut options = Options {
        binary,
        sessions: 50,
        seconds: 600,
        dir: std::env::temp_dir().join(format!("sandmux-soak-{}", std::process::id())),
        scrollback_lines: 10_000,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--sessions" => options.sessions = number()? as usize,
            "--seconds" => options.seconds = number()?,
            "--dir" => options.dir = PathBuf::from(&value),
            "--scrollback-lines" => options.scrollback_lines = number()?.max(1),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

/// What one session's driver did.
#[derive(Default)]
struct Driven {
    turns: u64,
    sent: Vec<u8>,
    latencies_us: Vec<u64>,
    error: Option<String>,
}

fn run(options: &Options) -> Result<(), Vec<String>> {
    let dir = &options.dir;
    let _ = std::fs::remove_dir_all(dir);
    for sub in ["logs", "side"] {
        std::fs::create_dir_all(dir.join(sub))
            .map_err(|e| vec![format!("{}: {e}", dir.display())])?;
    }
    let program = dir.join("program.py");
    std::fs::write(&program, PROGRAM).map_err(|e| vec![e.to_string()])?;
    let socket = dir.join("ctl.sock");
    let mut server = start_server(options, &socket).map_err(|e| vec![e])?;
    let pid = server.id();
    eprintln!(
        "soak: {} sessions for {} s, sandmux pid {pid}, files in {}",
        options.sessions,
        options.seconds,
        dir.display()
    );

    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut problems_early = Vec::new();
    let sampler = {
        let (stop, samples, socket) = (stop.clone(), samples.clone(), socket.clone());
        std::thread::spawn(move || sample(pid, &socket, &stop, &samples))
    };
    let hostile = {
        let (socket, sessions) = (socket.clone(), options.sessions);
        std::thread::spawn(move || hostile_clients(&socket, sessions))
    };
    let drivers: Vec<_> = (0..options.sessions)
        .map(|i| {
            let (socket, program, side) = (socket.clone(), program.clone(), dir.join("side"));
            std::thread::spawn(move || {
                drive(&socket, &format!("s{i:02}"), &program, &side, deadline)
            })
        })
        .collect();
    let driven: Vec<Driven> = drivers
        .into_iter()
        .map(|d| {
            d.join().unwrap_or_else(|_| Driven {
                error: Some("driver panicked".into()),
                ..Driven::default()
            })
        })
        .collect();
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    let hostile = hostile.join().unwrap_or_default();
    if hostile.len() < 6 {
        problems_early.push(format!(
            "only {} of 6 hostile clients connected",
            hostile.len()
        ));
    }
    drop(hostile);

    let mut problems = problems_early;
    let _ = Client::connect(&socket).and_then(|mut c| c.call(json!({"op": "stop"})));
    match wait_exit(&mut server, Duration::from_secs(30)) {
        Some(0) => {}
        other => problems.push(format!("sandmux serve ended with {other:?}, not 0")),
    }
    let (mut lines, mut bytes) = (0, 0);
    for (i, d) in driven.iter().enumerate() {
        let name = format!("s{i:02}");
        if let Some(error) = &d.error {
            problems.push(format!("{name}: {error}"));
        }
        match check_transcript(dir, &name, &d.sent) {
            Ok((l, b)) => {
                lines += l;
                bytes += b;
            }
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    report(options, &driven, (lines, bytes), &samples, &mut problems);
    if problems.is_empty() {
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    } else {
        Err(problems)
    }
}

fn start_server(options: &Options, socket: &Path) -> Result<Child, String> {
    let config = options.dir.join("soak.toml");
    let settings = format!(
        "[settings]\nscrollback_lines = {}\n",
        options.scrollback_lines
    );
    std::fs::write(&config, settings).map_err(|e| format!("{}: {e}", config.display()))?;
    let server = Command::new(&options.binary)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--socket")
        .arg(socket)
        .arg("--transcript-dir")
        .arg(options.dir.join("logs"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", options.binary.display()))?;
    let started = Instant::now();
    while UnixStream::connect(socket).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            return Err("the control socket never came up".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(server)
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if started.elapsed() > within {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A JSON-lines control client.
struct Client {
    write: UnixStream,
    read: BufReader<UnixStream>,
}

impl Client {
    fn connect(path: &Path) -> std::io::Result<Client> {
        let write = UnixStream::connect(path)?;
        let read = BufReader::new(write.try_clone()?);
        Ok(Client { write, read })
    }

    /// Sends one request and returns its answer, or the error it carried.
    fn call(&mut self, request: Value) -> std::io::Result<Value> {
        let mut line = request.to_string();
        line.push('\n');
        self.write.write_all(line.as_bytes())?;
        let mut answer = String::new();
        if self.read.read_line(&mut answer)? == 0 {
            return Err(std::io::Error::other("the socket closed"));
        }
        let answer: Value = serde_json::from_str(&answer).map_err(std::io::Error::other)?;
        if answer["ok"] == json!(true) {
            Ok(answer)
        } else {
            Err(std::io::Error::other(format!(
                "{request} answered {answer}"
            )))
        }
    }
}

/// A small deterministic generator (xorshift64*), so runs differ only by their seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn drive(socket: &Path, name: &str, program: &Path, side: &Path, deadline: Instant) -> Driven {
    let mut driven = Driven::default();
    if let Err(e) = drive_turns(socket, name, program, side, deadline, &mut driven) {
        driven.error = Some(format!("after {} turns: {e}", driven.turns));
    }
    driven
}

fn drive_turns(
    socket: &Path,
    name: &str,
    program: &Path,
    side: &Path,
    deadline: Instant,
    driven: &mut Driven,
) -> std::io::Result<()> {
    let mut client = Client::connect(socket)?;
    let command = json!(["python3", "-u", program, name, side.join(name)]);
    client.call(json!({"op": "add", "name": name, "keys": {"command": command}}))?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15
        ^ (name.len() as u64 * 7919)
        ^ name.bytes().map(u64::from).sum::<u64>() << 17);
    while Instant::now() < deadline {
        let turn = driven.turns;
        let count = if turn % 50 == 49 {
            3000
        } else {
            rng.next() % 200
        };
        let text = format!("{turn} {count} {}", rng.next() % 1_000_000);
        let started = Instant::now();
        client.call(json!({"op": "send", "session": name, "text": text}))?;
        driven.sent.extend_from_slice(text.as_bytes());
        driven.sent.push(b'\n');
        client.call(
            json!({"op": "wait", "session": name, "regex": format!("^done {turn}$"),
            "stream": "stdout", "timeout_ms": 60_000}),
        )?;
        driven
            .latencies_us
            .push(started.elapsed().as_micros() as u64);
        driven.turns += 1;
    }
    client.call(json!({"op": "close", "session": name}))?;
    client.call(json!({"op": "wait", "session": name, "exit": 0, "timeout_ms": 60_000}))?;
    Ok(())
}

/// One sample of the sandmux process, once a second.
#[derive(Clone, Copy)]
struct Sample {
    at_s: f64,
    rss_kib: u64,
    fds: usize,
    /// The fewest lines any session has produced so far.
    min_lines: u64,
}

fn sample(pid: u32, socket: &Path, stop: &AtomicBool, samples: &Mutex<Vec<Sample>>) {
    let started = Instant::now();
    let mut client = Client::connect(socket).ok();
    while !stop.load(Ordering::SeqCst) {
        let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
                line.split_whitespace().nth(1)?.parse().ok()
            })
            .unwrap_or(0);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        let min_lines = client
            .as_mut()
            .and_then(|c| c.call(json!({"op": "list"})).ok())
            .and_then(|answer| {
                let sessions = answer["sessions"].as_array()?.clone();
                sessions
                    .iter()
                    .map(|s| s["end_seq"].as_u64())
                    .min()
                    .flatten()
            })
            .unwrap_or(0);
        if let Ok(mut samples) = samples.lock() {
            samples.push(Sample {
                at_s: started.elapsed().as_secs_f64(),
                rss_kib,
                fds,
                min_lines,
            });
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// What a transcript or a program says about one stream.
#[derive(Debug, PartialEq)]
struct Sum {
    sha256: String,
    bytes: u64,
    lines: u64,
}

impl Sum {
    fn of(hasher: Sha256, bytes: u64, lines: u64) -> Sum {
        let sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Sum {
            sha256,
            bytes,
            lines,
        }
    }
}

/// Checks one transcript against what its program wrote and what was sent to it; returns
/// the number of output lines and bytes it holds. Reads the transcript as a stream: it can
/// be hundreds of MiB.
fn check_transcript(dir: &Path, name: &str, sent: &[u8]) -> Result<(u64, u64), String> {
    let path = dir.join("logs").join(format!("{name}.jsonl"));
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hashers = [Sha256::new(), Sha256::new()];
    let mut counts = [(0u64, 0u64); 2];
    let mut stdin = Vec::new();
    let mut exited = None;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        let line = line.map_err(|e| format!("{}: {e}", at()))?;
        let record: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{}: not a whole JSON record: {e}", at()))?;
        if record["event"] == json!("transcript_gap") {
            return Err(format!("{}: the transcript has a gap", at()));
        }
        if record["event"] == json!("exited") {
            exited = record["code"].as_i64();
        }
        let index = match record["stream"].as_str() {
            Some("stdout") => 0,
            Some("stderr") => 1,
            Some("stdin") => 2,
            _ => continue,
        };
        let bytes = sandmux::engine::transcript::record_bytes(&record)
            .ok_or(format!("{}: a record without data", at()))?;
        if index == 2 {
            stdin.extend_from_slice(&bytes);
        } else {
            hashers[index].update(&bytes);
            counts[index].0 += bytes.len() as u64;
            counts[index].1 += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        }
    }
    if exited != Some(0) {
        return Err(format!(
            "{}: no `exited 0` record (found {exited:?})",
            path.display()
        ));
    }
    let sums_path = dir.join("side").join(format!("{name}.sums"));
    let wrote =
        std::fs::read_to_string(&sums_path).map_err(|e| format!("{}: {e}", sums_path.display()))?;
    let [out_hasher, err_hasher] = hashers;
    let got = [
        Sum::of(out_hasher, counts[0].0, counts[0].1),
        Sum::of(err_hasher, counts[1].0, counts[1].1),
    ];
    for (index, what) in [(0, "stdout"), (1, "stderr")] {
        let want = wrote
            .lines()
            .find_map(|l| {
                let mut f = l.split(' ');
                (f.next()? == what).then_some(())?;
                let sha256 = f.next()?.to_string();
                Some(Sum {
                    sha256,
                    bytes: f.next()?.parse().ok()?,
                    lines: f.next()?.parse().ok()?,
                })
            })
            .ok_or(format!("{}: no {what} line", sums_path.display()))?;
        if got[index] != want {
            return Err(format!(
                "{what}: the transcript holds {} bytes in {} lines (sha256 {}), the program wrote {} bytes in {} lines (sha256 {})",
                got[index].bytes,
                got[index].lines,
                got[index].sha256,
                want.bytes,
                want.lines,
                want.sha256
            ));
        }
    }
    compare(&stdin, sent, "stdin")?;
    Ok((got[0].lines + got[1].lines, got[0].bytes + got[1].bytes))
}

fn compare(got: &[u8], want: &[u8], what: &str) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
    let line = want[..at.min(want.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1;
    Err(format!(
        "{what}: the transcript holds {} bytes, the program {} bytes; they first differ at byte {at} (line {line})",
        got.len(),
        want.len()
    ))
}

fn report(
    options: &Options,
    driven: &[Driven],
    (lines, bytes): (u64, u64),
    samples: &[Sample],
    problems: &mut Vec<String>,
) {
    let turns: u64 = driven.iter().map(|d| d.turns).sum();
    let mut latencies: Vec<u64> = driven
        .iter()
        .flat_map(|d| d.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    eprintln!(
        "soak: {} sessions, {} s, scrollback {} lines: {turns} turns; {lines} output lines ({:.0} MiB) in transcripts that match their programs; turn p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        options.sessions,
        options.seconds,
        options.scrollback_lines,
        bytes as f64 / (1024.0 * 1024.0),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    let warm: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.min_lines >= 2 * options.scrollback_lines)
        .collect();
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    if warm.len() < 6 {
        problems.push(format!(
            "only {} samples after every scrollback filled: run longer to judge RSS (peak {} MiB)",
            warm.len(),
            peak / 1024
        ));
        return;
    }
    let third = warm.len() / 3;
    let mean = |s: &[&Sample]| s.iter().map(|s| s.rss_kib).sum::<u64>() / s.len() as u64;
    let (early, late) = (mean(&warm[..third]), mean(&warm[warm.len() - third..]));
    let early_fds = warm[..third].iter().map(|s| s.fds).max().unwrap_or(0);
    let late_fds = warm[warm.len() - third..]
        .iter()
        .map(|s| s.fds)
        .max()
        .unwrap_or(0);
    eprintln!(
        "soak: RSS warm from {:.0} s: first third {:.1} MiB, last third {:.1} MiB, peak {:.1} MiB; open files {early_fds} then {late_fds}",
        warm[0].at_s,
        early as f64 / 1024.0,
        late as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    if late > early + early / 10 + 8 * 1024 {
        problems.push(format!(
            "RSS grew from {} KiB to {} KiB once warm",
            early, late
        ));
    }
    if late_fds > early_fds + 4 {
        problems.push(format!("open files grew from {early_fds} to {late_fds}"));
    }
}
