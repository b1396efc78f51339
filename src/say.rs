//! Writing to the user's terminal without ever panicking or letting session text through as
//! control sequences.
//!
//! `println!` and `eprintln!` panic when stdout or stderr is closed or full (`| head -1`,
//! `> /dev/full`); sandmux must carry on instead, so every message goes through [`say!`]
//! (stderr) or [`out!`] (stdout), which drop write errors. `say!` also neutralises the
//! message line by line: a step error or a start failure may quote text from a session, a
//! script or a config, and none of it may reach the terminal as an escape sequence.

/// Writes a line to stderr, neutralised (see [`crate::text::neutralise`]); never panics.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = $crate::text::neutralise(&format!($($arg)*));
        let _ = writeln!(std::io::stderr(), "{line}");
    }};
}

/// Writes a line to stdout as it is (JSON, or text already made printable); never panics.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
