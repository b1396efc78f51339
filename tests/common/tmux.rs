//! tmux as a real terminal for the real binary: start sandmux in it, type, read the screen.

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn new(tag: &str) -> Self {
        let status = Command::new("tmux").arg("-V").output();
        assert!(
            status.is_ok_and(|o| o.status.success()),
            "tmux is required for this test (apt-get install tmux)"
        );
        Tmux {
            socket: format!("sandmux-test-{tag}-{}", std::process::id()),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs sandmux with `args` in a `width`x`height` terminal; when it exits, the shell
    /// prints `SANDMUX-EXITED-<status>` and stays, so the screen can be read afterwards.
    pub fn start(&self, args: &str, width: u16, height: u16) {
        self.start_with_env("", args, width, height);
    }

    /// Like [`Tmux::start`], with `VAR=value ` assignments in front of the command.
    pub fn start_with_env(&self, env: &str, args: &str, width: u16, height: u16) {
        let bin = assert_cmd::cargo::cargo_bin("sandmux");
        let command = format!(
            "{env}{} {args}; echo SANDMUX-EXITED-$?; sleep 60",
            bin.display()
        );
        let (width, height) = (width.to_string(), height.to_string());
        self.cmd(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width,
            "-y",
            &height,
            &command,
        ]);
    }

    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "t"])
    }

    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.cmd(&["send-keys", "-t", "t", key]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    pub fn type_text(&self, text: &str) {
        self.cmd(&["send-keys", "-t", "t", "-l", text]);
        std::thread::sleep(Duration::from_millis(60));
    }

    pub fn wait_for(&self, what: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                start.elapsed() < limit,
                "`{what}` did not appear:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}
