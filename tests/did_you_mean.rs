//! A typo gets one sentence naming what was wrong, where, and what was probably meant:
//! script steps, session names and keys, config keys, socket session names, subcommands.

mod common;

use common::serve::Server;
use common::*;

fn run_script(fx: &Fixture, text: &str, args: &[&str]) -> (Option<i32>, String) {
    let path = fx.write("t.smx", text);
    let out = sandmux()
        .current_dir(fx.dir.path())
        .arg("run")
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn script_typos_name_the_place_and_the_likely_word() {
    let fx = Fixture::new();
    let (code, err) = run_script(&fx, "session echo: cat\nsned echo hi\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("t.smx:2:1: unknown step `sned`: did you mean `send`?"),
        "{err}"
    );
    let (code, err) = run_script(&fx, "session echo: cat\nsend ecoh hi\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("t.smx:2:6: unknown session `ecoh`: did you mean `echo`?"),
        "{err}"
    );
    let (code, err) = run_script(&fx, "session echo protocl=raw: cat\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("t.smx:1:14: unknown session key `protocl`: did you mean `protocol`?"),
        "{err}"
    );
    // Nothing close: no guess, the list as before.
    let (code, err) = run_script(&fx, "frobnicate x\n", &[]);
    assert_eq!(code, Some(2));
    assert!(!err.contains("did you mean"), "{err}");
    assert!(
        err.contains("unknown step `frobnicate` (steps: session, send,"),
        "{err}"
    );
}

#[test]
fn config_typos_name_the_place_and_the_likely_key() {
    let fx = Fixture::new();
    fx.write("c.toml", "[settings]\nscrolback_lines = 3\n");
    let (code, err) = run_script(&fx, "sleep 1ms\n", &["--config", "c.toml"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(
            "c.toml:2:1: unknown field `scrolback_lines`: did you mean `scrollback_lines`?"
        ),
        "{err}"
    );
    fx.write("d.toml", "[[session]]\nname = \"a\"\ncomand = [\"cat\"]\n");
    let (code, err) = run_script(&fx, "sleep 1ms\n", &["--config", "d.toml"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("d.toml:3:1: unknown session key `comand`: did you mean `command`?"),
        "{err}"
    );
}

#[test]
fn a_mistyped_session_name_on_the_socket_gets_a_guess() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &["-s", "echo=cat", "-s", "python=cat"]);
    let out = server.ctl(&["send", "ecoh", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no session named `ecoh`: did you mean `echo`?"),
        "{}",
        stderr(&out)
    );
    let out = server.ctl(&["read", "zzz"]);
    assert!(!stderr(&out).contains("did you mean"), "{}", stderr(&out));
}

#[test]
fn mistyped_subcommands_get_a_guess_at_every_level() {
    for (args, near) in [
        (vec!["rnu", "t.smx"], "'run'"),
        (vec!["replya"], "'replay'"),
        (vec!["ctl", "sned", "a", "b"], "'send'"),
        (vec!["report", "mrege"], "'merge'"),
    ] {
        let out = sandmux().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("a similar subcommand exists: {near}")),
            "{args:?}: {err}"
        );
    }
}
