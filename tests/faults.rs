//! Faults, through the real binary: sandmux killed or signalled mid-stream, sessions that
//! misbehave, a full disk, a FIFO where a transcript goes, closed terminals, and text from
//! sessions that tries to reach the terminal. Nothing is lost silently, nothing is left
//! behind, nothing panics.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A unique word for this test's processes, to find them with pgrep.
fn token(tag: &str) -> String {
    format!(
        "{tag}{}x{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() % 1000
    )
}

fn processes_with(token: &str) -> Vec<String> {
    let out = Command::new("pgrep").args(["-af", token]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .map(str::to_string)
        .collect()
}

/// Every line of a transcript is one whole JSON object (no torn last record).
fn valid_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "a torn last record"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// Starts `sandmux run SCRIPT ARGS` in the background.
fn spawn_run(fx: &Fixture, script: &str, args: &[&str]) -> std::process::Child {
    let path = fx.write("fault.smx", script);
    Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
        .current_dir(fx.dir.path())
        .arg("run")
        .arg(&path)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_of_sandmux_leaves_no_orphans_and_valid_transcripts() {
    let fx = Fixture::new();
    let t = token("orphan");
    let mut child = spawn_run(
        &fx,
        &format!(
            "session s: sh -c 'while :; do echo line; sleep 0.01; done; : {t}'\n\
             session d: sh -c \"setsid sh -c 'while :; do sleep 0.1; done; : {t}' & sleep 1000; : {t}\"\n\
             sleep 30s\n"
        ),
        &["--transcript-dir", "logs"],
    );
    assert!(eventually(Duration::from_secs(10), || processes_with(&t)
        .len()
        >= 3));
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(1), || processes_with(&t).is_empty()),
        "left behind after SIGKILL: {:?}",
        processes_with(&t)
    );
    // Valid up to the last record that was flushed.
    let records = valid_jsonl(&fx.path("logs/s.jsonl"));
    assert!(
        records.iter().any(|r| r["stream"] == "stdout"),
        "output was flushed"
    );
}

#[test]
fn a_signal_to_sandmux_mid_stream_stops_everything_and_completes_transcripts() {
    for (signal, name) in [
        (libc::SIGTERM, "TERM"),
        (libc::SIGINT, "INT"),
        (libc::SIGHUP, "HUP"),
    ] {
        let fx = Fixture::new();
        let t = token(name);
        let mut child = spawn_run(
            &fx,
            &format!("session s: sh -c 'yes {t} | head -c 50M; sleep 100; : {t}'\nsleep 30s\n"),
            &["--transcript-dir", "logs"],
        );
        assert!(eventually(Duration::from_secs(10), || fx
            .path("logs/s.jsonl")
            .exists()));
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(128 + signal), "{name}");
        assert!(
            eventually(Duration::from_secs(2), || processes_with(&t).is_empty()),
            "{name}: left behind: {:?}",
            processes_with(&t)
        );
        let records = valid_jsonl(&fx.path("logs/s.jsonl"));
        let last = records.last().unwrap();
        assert!(
            last["event"] == "exited" || last["event"] == "failed",
            "{name}: the session's end is recorded: {last}"
        );
    }
}

#[test]
fn a_session_killed_mid_turn_reports_sigkill() {
    let fx = Fixture::new();
    let out = fx.run(
        "session s: sh -c 'read x; sleep 100'\n\
         send s go\n\
         kill s KILL\n\
         wait s exit 137 within 5s\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_session_that_closes_stdout_goes_on_and_one_that_ignores_sigterm_is_killed() {
    let fx = Fixture::new();
    let out = fx.run(
        "session s: sh -c 'echo before; exec 1>&-; sleep 0.2; echo still here >&2; read x; echo got $x >&2; exit 4'\n\
         expect s stdout \"before\"\n\
         expect s stderr \"still here\"\n\
         send s ping\n\
         expect s stderr \"got ping\"\n\
         wait s exit 4\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A session that ignores SIGTERM is SIGKILLed after the grace period when stopped.
    let socket = fx.path("k.sock");
    let mut serve = Command::new(assert_cmd::cargo::cargo_bin("sandmux"))
        .args(["serve", "--socket"])
        .arg(&socket)
        .args([
            "-s",
            "stubborn=sh -c \"trap '' TERM; echo up; while :; do sleep 0.1; done\"",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || socket.exists()));
    let ctl = |args: &[&str]| {
        sandmux()
            .arg("ctl")
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(ctl(&["wait", "stubborn", "up"]).status.code(), Some(0));
    let started = Instant::now();
    assert_eq!(ctl(&["kill", "stubborn"]).status.code(), Some(0));
    let out = ctl(&["wait", "stubborn", "--exit", "137", "--timeout", "10s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "SIGTERM first, then the grace period"
    );
    let _ = serve.kill();
    let _ = serve.wait();
}

/// Peak RSS in KiB of `sandmux run SCRIPT`, with GNU time.
fn peak_rss_kib(fx: &Fixture, script: &str) -> (std::process::Output, u64) {
    let path = fx.write("rss.smx", script);
    let out = Command::new("/usr/bin/time")
        .args(["-f", "RSS %M"])
        .arg(assert_cmd::cargo::cargo_bin("sandmux"))
        .arg("run")
        .arg(&path)
        .current_dir(fx.dir.path())
        .output()
        .expect("GNU time (.ci/run installs it)");
    let err = stderr(&out);
    let rss = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RSS "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    (out, rss)
}

#[test]
fn a_hundred_mib_without_a_newline_keeps_memory_bounded() {
    let fx = Fixture::new();
    let (out, rss) = peak_rss_kib(
        &fx,
        "session s: sh -c \"head -c 104857600 /dev/zero | tr '\\\\0' x\"\nwait s exit 0 within 2m\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(rss < 96 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn an_unterminated_escape_then_a_hundred_mib_keeps_memory_bounded() {
    let fx = Fixture::new();
    let (out, rss) = peak_rss_kib(
        &fx,
        "session s: sh -c \"printf '\\\\033]0;'; head -c 104857600 /dev/zero | tr '\\\\0' y\"\nwait s exit 0 within 2m\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(rss < 96 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn a_full_disk_is_said_loudly_and_the_transcript_stays_valid() {
    let fx = Fixture::new();
    let Some(disk) = SmallDisk::mount(fx.path("small")) else {
        return;
    };
    let dir = &disk.dir;
    let out = fx.run(
        "session s: sh -c 'yes 0123456789abcdef | head -c 2M'\nwait s exit 0 within 1m\n",
        &[
            "--transcript-dir",
            dir.to_str().unwrap(),
            "--report",
            "json",
        ],
    );
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "every step passed, the transcript did not: {err}"
    );
    assert_eq!(
        err.matches("could not be written").count(),
        1,
        "one sentence, once: {err}"
    );
    assert!(
        err.contains(&format!(
            "transcript {}/s.jsonl could not be written (No space left on device",
            dir.display()
        )),
        "{err}"
    );
    assert!(err.contains("TRANSCRIPTS INCOMPLETE"), "{err}");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["transcript_incomplete"], true);
    assert_eq!(report["sessions"][0]["transcript_incomplete"], true);
    valid_jsonl(&dir.join("s.jsonl"));
}

#[test]
fn when_the_disk_has_room_again_a_gap_record_says_what_was_lost() {
    let fx = Fixture::new();
    let Some(disk) = SmallDisk::mount(fx.path("small")) else {
        return;
    };
    let dir = &disk.dir;
    // Fill the disk to the last byte.
    let filler = dir.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        while file.write_all(&[0u8; 512]).is_ok() {}
    }
    let child = spawn_run(
        &fx,
        "session s: sh -c 'i=0; while [ $i -lt 40 ]; do echo line$i-0123456789012345678901234567890123456789; i=$((i+1)); sleep 0.05; done'\n\
         wait s exit 0 within 1m\n",
        &["--transcript-dir", dir.to_str().unwrap()],
    );
    std::thread::sleep(Duration::from_millis(800));
    std::fs::remove_file(&filler).unwrap();
    let out = child.wait_with_output().unwrap();
    let records = valid_jsonl(&dir.join("s.jsonl"));
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gap = records
        .iter()
        .find(|r| r["event"] == "transcript_gap")
        .expect("a gap record once writing worked again");
    assert!(gap["records_lost"].as_u64().unwrap() > 0, "{gap}");
    assert!(gap["from_t"].as_u64().is_some(), "{gap}");
    assert_eq!(
        records.last().unwrap()["event"],
        "exited",
        "the end is recorded"
    );
}

#[test]
fn a_fifo_or_a_link_where_a_transcript_goes_is_refused_without_hanging() {
    let fx = Fixture::new();
    let logs = fx.path("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let fifo = std::ffi::CString::new(logs.join("x.jsonl").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/etc/passwd", logs.join("y.jsonl")).unwrap();
    let started = Instant::now();
    let out = fx.run(
        "session x: true\n",
        &["--transcript-dir", logs.to_str().unwrap()],
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("it is a FIFO, not a regular file"),
        "{}",
        stderr(&out)
    );
    let out = fx.run(
        "session y: true\n",
        &["--transcript-dir", logs.to_str().unwrap()],
    );
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
}

#[test]
fn text_from_sessions_and_scripts_never_reaches_the_terminal_as_escapes() {
    let fx = Fixture::new();
    let out = fx.run(
        "session agent protocol=stream-json: sh -c 'read l; printf \"%s\\n\" \"{\\\"type\\\":\\\"result\\\",\\\"subtype\\\":\\\"error\\\\u001b]0;PWNED\\\\u0007\\\",\\\"is_error\\\":true,\\\"result\\\":\\\"\\\\u001b[2J\\\"}\"; sleep 5'\n\
         turn agent \"hi\"\n",
        &["-v"],
    );
    let err = &out.stderr;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !err.contains(&0x1b) && !err.contains(&0x07),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("the turn failed with error\\e]0;PWNED\\x07"),
        "{}",
        stderr(&out)
    );
    // A command name with escapes in a start failure.
    let out = fx.run("session x: \"\u{1b}]0;X\u{7}\"\n", &[]);
    assert!(!out.stderr.contains(&0x1b), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("command not found: \\e]0;X\\x07"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_closed_or_full_stdout_or_stderr_never_panics() {
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = assert_cmd::cargo::cargo_bin("sandmux");
    let out = Command::new("bash")
        .args([
            "-c",
            &format!(
                "{} run assets/turns.smx -v --transcript-dir {}/logs 2>&1 | head -1; echo \"status ${{PIPESTATUS[0]}}\"",
                bin.display(),
                std::env::temp_dir().join(token("closed")).display()
            ),
        ])
        .current_dir(root)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("status 0"), "{text}");
    let full = Command::new(&bin)
        .args(["run", "assets/turns.smx", "--report", "json"])
        .current_dir(root)
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(full.status.code(), Some(0), "{}", stderr(&full));
    assert!(!stderr(&full).contains("panicked"), "{}", stderr(&full));
}

#[test]
fn a_detached_grandchild_holding_the_pipe_cannot_keep_a_session_alive() {
    let fx = Fixture::new();
    let started = Instant::now();
    let out = fx.run(
        "session d: sh -c \"setsid sh -c 'while :; do echo tick; sleep 0.1; done' & sleep 0.3; echo parent-exiting\"\n\
         expect d \"parent-exiting\"\n\
         wait d exit 0 within 3s\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
}
