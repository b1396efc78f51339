//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const MAIN_EXAMPLES: &str = "\
Examples:
  sandmux --config assets/demo.toml          open the TUI on the sessions of a config
  sandmux -s echo='sed -u s/^/ack:/' -s top  open the TUI on ad-hoc sessions
  sandmux run assets/turns.smx               run a turn-by-turn script headless
  sandmux run t.smx --report json --junit junit.xml --transcript-dir logs/

Without --config or -s, the TUI loads ./sandmux.toml when it exists.";

const RUN_EXAMPLES: &str = "\
A script is one step a line; `#` starts a comment line:
  session echo: sed -u \"s/^/ack:/\"     declare and start a local session
  send echo turn1                      write `turn1` and a newline to its stdin
  expect echo stdout \"ack:turn1\" within 2s
  close echo                           close its stdin (EOF)
  wait echo exit 0                     wait for it to end and check its exit code

Exit status: 0 every step passed, 1 a step failed, 2 the script, config or command line
is invalid, 128+N when sandmux was stopped by signal N.

Examples:
  sandmux run assets/turns.smx
  sandmux run test.smx --config sandmux.toml --transcript-dir logs/ --junit junit.xml
  sandmux run test.smx --report json | jq .steps";

/// sandmux: run several streaming programs side by side (no PTY) and drive them turn by turn.
#[derive(Debug, Parser)]
#[command(name = "sandmux", version, about, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CommandLine>,

    #[command(flatten)]
    pub tui: TuiArgs,
}

/// Options of the interactive TUI (the default command).
#[derive(Debug, Args, Clone, Default)]
pub struct TuiArgs {
    /// Config file with `[[session]]` tables (default: ./sandmux.toml when present).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Add a session: NAME=COMMAND LINE (split shell-style), or just COMMAND (named after it).
    #[arg(short = 's', long = "session", value_name = "NAME=COMMAND")]
    pub sessions: Vec<String>,

    /// Write DIR/NAME.jsonl transcripts of every session.
    #[arg(long, value_name = "DIR")]
    pub transcript_dir: Option<PathBuf>,

    /// Log file (default: sandmux.log in the user's state directory). Level: SANDMUX_LOG.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CommandLine {
    /// Run a turn-by-turn script headless (for tests and CI).
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Check whether microsandbox sandboxes can run here (runtime, version, KVM, boot).
    #[command(
        after_help = "Each check prints PASS, FAIL (with a remedy) or SKIP. The exit status is 1 when\nsandboxes cannot run here.\n\nExamples:\n  sandmux doctor\n  sandmux doctor --boot      also boot a tiny busybox sandbox and exec in it"
    )]
    Doctor {
        /// Also boot a tiny sandbox (needs busybox-static) and run a command in it.
        #[arg(long)]
        boot: bool,
    },
    /// A stand-in agent CLI speaking stream-json, for the demo and tests.
    #[command(hide = true, name = "demo-agent")]
    DemoAgent {
        /// Extra delay before each reply, in milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Example:\n  sandmux completions bash > ~/.local/share/bash-completion/completions/sandmux"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Options of `sandmux run`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The script to run.
    #[arg(value_name = "SCRIPT")]
    pub script: PathBuf,

    /// Config file whose sessions start when the script starts.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Write DIR/NAME.jsonl transcripts of every session.
    #[arg(long, value_name = "DIR")]
    pub transcript_dir: Option<PathBuf>,

    /// Print a report on stdout in this format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub report: Option<ReportFormat>,

    /// Write a JUnit XML report (one test case per step) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Print each step as it finishes (on stderr).
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Json,
}
