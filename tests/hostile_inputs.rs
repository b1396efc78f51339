//! Hostile inputs (#24), each defect reproduced through the real binary: files that never
//! end or are not files, golden files that are links, names and keys no program can be
//! given, file names with escapes, a socket path that is a file, the open-files limit, two
//! sandmux on one transcript, and transcripts read back in memory independent of their size.

mod common;

use std::time::{Duration, Instant};

use common::serve::Server;
use common::*;

fn run_args(fx: &Fixture, args: &[&str]) -> std::process::Output {
    sandmux()
        .current_dir(fx.dir.path())
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

#[test]
fn endless_and_special_files_are_refused_at_once_with_one_sentence() {
    let fx = Fixture::new();
    fx.write("t.smx", "session a: true\n");
    fx.mkdir("empty");
    for (args, said) in [
        (
            vec!["run", "/dev/zero"],
            "the script /dev/zero is a device, not a regular file",
        ),
        (
            vec!["run", "t.smx", "--config", "/dev/zero"],
            "the config file /dev/zero is a device, not a regular file",
        ),
        (
            vec!["diff", "/dev/zero", "/dev/zero"],
            "the transcript /dev/zero is a device",
        ),
        (
            vec!["replay", "/dev/zero"],
            "the transcript /dev/zero is a device",
        ),
        (
            vec!["run", "empty"],
            "there are no scripts (*.smx) in empty",
        ),
    ] {
        let started = Instant::now();
        let out = run_args(&fx, &args);
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
    }
    // A golden transcript that is a link to /dev/zero is an error of its own, not a hang.
    std::fs::create_dir(fx.path("golden")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", fx.path("golden/a.jsonl")).unwrap();
    let out = run_args(&fx, &["run", "t.smx", "--golden", "golden"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("GOLDEN FAIL a: the transcript"),
        "{}",
        stderr(&out)
    );
    // A script over 16 MiB is refused.
    let big = "# padding\n".repeat(1_800_000);
    fx.write("big.smx", &big);
    let out = run_args(&fx, &["run", "big.smx"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("over the 16MiB sandmux reads"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn update_replaces_a_link_in_the_golden_directory_and_never_writes_its_target() {
    let fx = Fixture::new();
    fx.write("t.smx", "session a: echo hello\nwait a exit 0\n");
    std::fs::create_dir(fx.path("golden")).unwrap();
    fx.write("precious.txt", "keep me\n");
    std::os::unix::fs::symlink(fx.path("precious.txt"), fx.path("golden/a.jsonl")).unwrap();
    let out = run_args(&fx, &["run", "t.smx", "--golden", "golden", "--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(fx.path("precious.txt")).unwrap(),
        "keep me\n"
    );
    let golden = std::fs::symlink_metadata(fx.path("golden/a.jsonl")).unwrap();
    assert!(
        golden.file_type().is_file(),
        "the link was replaced by the transcript"
    );
    let out = run_args(&fx, &["run", "t.smx", "--golden", "golden"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn text_files_are_utf8_with_line_and_column_and_a_bom_is_dropped() {
    let fx = Fixture::new();
    std::fs::write(fx.path("bad.toml"), b"[[session]]\nname = \"a\xff\"\n").unwrap();
    fx.write("t.smx", "session b: true\n");
    let out = run_args(&fx, &["run", "t.smx", "--config", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.toml:2:10: the config file is not valid UTF-8 text"),
        "{}",
        stderr(&out)
    );
    fx.write("bom.smx", "\u{feff}session a: echo hi\nexpect a \"hi\"\n");
    let out = run_args(&fx, &["run", "bom.smx"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    fx.write(
        "bom.toml",
        "\u{feff}[[session]]\nname = \"c\"\ncommand = [\"true\"]\n",
    );
    let out = run_args(&fx, &["run", "t.smx", "--config", "bom.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn environment_names_and_commands_no_program_can_be_given_are_refused_where_they_are() {
    let fx = Fixture::new();
    // (In a script, `env.A=B=c` is A set to `B=c`: a name with `=` comes only from a table.)
    let out = fx.run("session a env.=x: true\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("test.smx:1:11: an environment variable needs a name"),
        "{}",
        stderr(&out)
    );
    fx.write(
        "e.toml",
        "[[session]]\nname = \"a\"\ncommand = [\"true\"]\nenv = { \"X=Y\" = \"1\" }\n",
    );
    let out = fx.run("sleep 1ms\n", &["--config", "e.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("e.toml:4:") && stderr(&out).contains("holds `=`"),
        "{}",
        stderr(&out)
    );
    fx.write(
        "n.toml",
        "[[session]]\nname = \"a\"\ncommand = [\"ec\\u0000ho\"]\n",
    );
    let out = fx.run("sleep 1ms\n", &["--config", "n.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("holds a NUL byte"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn diff_prints_file_names_without_their_escapes() {
    let fx = Fixture::new();
    let name = "a\u{1b}]0;pwned\u{7}.jsonl";
    std::fs::write(
        fx.path(name),
        "{\"t\":1,\"stream\":\"stdout\",\"data\":\"x\\n\"}\n",
    )
    .unwrap();
    fx.write(
        "b.jsonl",
        "{\"t\":1,\"stream\":\"stdout\",\"data\":\"y\\n\"}\n",
    );
    let out = run_args(&fx, &["diff", name, "b.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("a\\e]0;pwned\\x07.jsonl"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn serve_never_replaces_a_file_that_is_not_a_socket() {
    let fx = Fixture::new();
    fx.write("notes.txt", "mine\n");
    let out = run_args(&fx, &["serve", "--socket", "notes.txt", "-s", "a=cat"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exists and is not a socket"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(fx.path("notes.txt")).unwrap(),
        "mine\n"
    );
}

#[test]
fn a_low_soft_open_files_limit_does_not_cap_the_sessions() {
    let fx = Fixture::new();
    let mut script = String::new();
    for i in 0..120 {
        script.push_str(&format!("session s{i}: sleep 30\n"));
    }
    script.push_str("session last: echo all of them\nexpect last \"all of them\"\n");
    let path = fx.write("many.smx", &script);
    let bin = assert_cmd::cargo::cargo_bin("sandmux");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 256 && exec {} run {}",
            bin.display(),
            path.display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The sessions themselves still start with the limit sandmux was given.
    let check = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 256 && cd {} && exec {} run {}",
            fx.dir.path().display(),
            bin.display(),
            fx.write(
                "limit.smx",
                "session l: sh -c 'ulimit -Sn'\nexpect l /^256$/\n"
            )
            .display()
        ))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}

#[test]
fn a_session_added_again_appends_and_a_second_sandmux_cannot_write_over_the_first() {
    let fx = Fixture::new();
    let server = Server::start(
        &fx,
        &[
            "--transcript-dir",
            "logs",
            "-s",
            "x=sh -c 'echo first; sleep 100'",
        ],
    );
    assert_eq!(
        server
            .ctl(&["wait", "x", "/first/", "--from", "0"])
            .status
            .code(),
        Some(0)
    );
    // Another sandmux with a session of the same name, on the same directory: refused.
    let out = fx.run(
        "session x: echo second\n",
        &["--transcript-dir", fx.path("logs").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("another sandmux is writing it"),
        "{}",
        stderr(&out)
    );
    // Removed and added again: the same file goes on.
    assert_eq!(server.ctl(&["remove", "x"]).status.code(), Some(0));
    assert_eq!(server.ctl(&["add", "x: echo again"]).status.code(), Some(0));
    assert_eq!(
        server.ctl(&["wait", "x", "--exit", "0"]).status.code(),
        Some(0)
    );
    assert_eq!(server.ctl(&["stop"]).status.code(), Some(0));
    let bytes = std::fs::read(fx.path("logs/x.jsonl")).unwrap();
    assert!(!bytes.contains(&0), "no NUL bytes");
    let records = transcript(&fx.path("logs/x.jsonl"));
    let out = String::from_utf8(stream_bytes(&records, "stdout")).unwrap();
    assert_eq!(out, "first\nagain\n", "both runs, in order");
    let starts = records.iter().filter(|r| r["event"] == "started").count();
    assert_eq!(starts, 2);
}

/// Peak resident memory of a command, in MiB (GNU time).
fn peak_mib(fx: &Fixture, args: &[&str]) -> (u64, std::process::Output) {
    let bin = assert_cmd::cargo::cargo_bin("sandmux");
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-f")
        .arg("PEAK %M")
        .arg(bin)
        .args(args)
        .current_dir(fx.dir.path())
        .output()
        .unwrap();
    let peak = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("PEAK ")?.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    (peak / 1024, out)
}

#[test]
fn diff_reads_transcripts_in_memory_independent_of_their_size() {
    let fx = Fixture::new();
    // Two transcripts of about 120 MB that differ only at their very end.
    let script = "import json, sys\nline = 'x' * 200\nwith open(sys.argv[1], 'w') as f:\n    for i in range(500000):\n        f.write(json.dumps({'t': i, 'stream': 'stdout', 'data': f'{line} {i}\\n'}) + '\\n')\n    f.write(json.dumps({'t': 1, 'stream': 'stdout', 'data': sys.argv[2] + '\\n'}) + '\\n')\n";
    for (name, last) in [("a.jsonl", "end a"), ("b.jsonl", "end b")] {
        let ok = std::process::Command::new("python3")
            .args(["-c", script, fx.path(name).to_str().unwrap(), last])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let (peak, out) = peak_mib(&fx, &["diff", "a.jsonl", "b.jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("- end a") && stdout(&out).contains("+ end b"),
        "{}",
        stdout(&out)
    );
    assert!(
        peak < 64,
        "diff of two 120 MB transcripts peaked at {peak} MiB"
    );
}
