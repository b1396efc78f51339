//! Session keys through the real binary: the same keys, meanings and error sentences in a
//! config, a script's `session` step and `-s`.

mod common;

use common::*;

#[test]
fn a_bad_config_exits_2_naming_file_line_and_key() {
    let fx = Fixture::new();
    fx.write(
        "bad.toml",
        "[[session]]\nname = \"a\"\ncommand = [\"cat\"]\nretries = 3\n",
    );
    let out = fx.run("sleep 1ms\n", &["--config", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "sandmux: bad.toml:4:1: unknown session key `retries` (known: command, shell, cwd"
        ),
        "{err}"
    );
}

#[test]
fn session_keys_mean_the_same_in_scripts_configs_and_dash_s() {
    let fx = Fixture::new();
    // Scripts take every key, `shell`, `prompt` and `view` included.
    let out = fx.run(
        "session s prompt=\"^> $\" view=json shell=\"printf '> '; read x; echo got $x\"\n\
         expect s \"> \"\n\
         send s hi\n\
         expect s \"got hi\"\n\
         wait s exit 0\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let known = "unknown session key `colour` (known: command, shell, cwd, env (or env.NAME), backend, sandbox, image, cpus, memory, keep, user, protocol, view, prompt, group, permissions)";
    let out = fx.run("session s colour=red: true\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("test.smx:1:11: {known}")),
        "{}",
        stderr(&out)
    );
    fx.write(
        "c.toml",
        "[[session]]\nname = \"s\"\ncolour = \"red\"\ncommand = [\"true\"]\n",
    );
    let out = fx.run("sleep 1ms\n", &["--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("c.toml:3:1: {known}")),
        "{}",
        stderr(&out)
    );
    let out = sandmux()
        .current_dir(fx.dir.path())
        .args(["-s", "s colour=red: true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(known), "{}", stderr(&out));
    // A bare memory number is MiB in a script as in TOML.
    let out = fx.run("session s sandbox=box memory=12: true\n", &[]);
    assert!(!stderr(&out).contains("memory must be"), "{}", stderr(&out));
}

#[test]
fn permissions_is_a_session_key_everywhere_with_one_sentence_for_a_bad_value() {
    let fx = Fixture::new();
    let out = fx.run(
        "session a protocol=stream-json permissions=sometimes: true\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("test.smx:1:44: unknown permissions `sometimes` (known: ask, allow, deny)"),
        "{}",
        stderr(&out)
    );
    fx.write(
        "p.toml",
        "[[session]]\nname = \"a\"\ncommand = [\"true\"]\npermissions = \"never\"\n",
    );
    let out = fx.run("sleep 1ms\n", &["--config", "p.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("p.toml:4:"), "{}", stderr(&out));
    let out = fx.run(
        "session a protocol=stream-json permissions=allow: true\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
