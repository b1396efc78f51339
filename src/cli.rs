//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const MAIN_EXAMPLES: &str = "\
Examples:
  sandmux --config assets/demo.toml          open the TUI on the sessions of a config
  sandmux -s echo='sed -u s/^/ack:/' -s py='python3 -i -u -q'   the TUI on ad-hoc sessions
  sandmux run assets/turns.smx               run a turn-by-turn script headless
  sandmux run t.smx --report json --junit junit.xml --transcript-dir logs/
  sandmux --record t.smx -s 'python3 -i -u -q'   hold a conversation, get a test script
  sandmux replay logs/                       play transcripts back in the TUI
  sandmux diff a/echo.jsonl b/echo.jsonl     where two runs of a script part

Without --config or -s, the TUI loads ./sandmux.toml when it exists.";

const RUN_EXAMPLES: &str = "\
A script is one step a line; `#` starts a comment line:
  session echo: sed -u \"s/^/ack:/\"     declare and start a local session
  send echo turn1                      write `turn1` and a newline to its stdin
  expect echo stdout \"ack:turn1\" within 2s
  close echo                           close its stdin (EOF)
  wait echo exit 0                     wait for it to end and check its exit code

Exit status: 0 every step passed, 1 a step failed or a transcript differs from its golden
one, 2 the script, config or command line is invalid, 3 every step passed but a transcript
is incomplete, 128+N when sandmux was stopped by signal N. A suite (several scripts or a
directory) gives the worst of its scripts' statuses, in that order: 128+N, 2, 1, 3.

Examples:
  sandmux run assets/turns.smx
  sandmux run test.smx --config sandmux.toml --transcript-dir logs/ --junit junit.xml
  sandmux run test.smx --report json | jq .steps
  sandmux run test.smx --golden golden/ --update   write the golden transcripts
  sandmux run test.smx --golden golden/            compare with them
  sandmux run tests/ -j 4 --junit junit.xml          a suite: every tests/**/*.smx
  sandmux run tests/ --filter agents/ --skip /slow/ --fail-fast
  sandmux run tests/ --shard 2/3 --report json > shard-2.json

A regex's named groups bind variables for later steps:
  expect srv /id=(?<id>\\w+)/
  send srv get ${id}";

/// sandmux: run several streaming programs side by side (no PTY) and drive them turn by turn.
#[derive(Debug, Parser)]
#[command(name = "sandmux", version, about, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CommandLine>,

    #[command(flatten)]
    pub tui: TuiArgs,
}

/// What every front end that runs sessions takes: where the sessions come from, where
/// transcripts go, and the control socket.
#[derive(Debug, Args, Clone, Default)]
pub struct SessionArgs {
    /// Config file with `[[session]]` tables (the TUI's default: ./sandmux.toml when present).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Add a session: NAME=COMMAND LINE, just COMMAND (named after it), or a script's
    /// declaration NAME [KEY=VALUE ...]: COMMAND.
    #[arg(short = 's', long = "session", value_name = "NAME=COMMAND")]
    pub sessions: Vec<String>,

    /// Write DIR/NAME.jsonl transcripts of every session (DIR/SCRIPT-PATH/NAME.jsonl in a
    /// suite: the script's path below where it was found, without `.smx`).
    #[arg(long, value_name = "DIR")]
    pub transcript_dir: Option<PathBuf>,

    /// Control socket path (default: $XDG_RUNTIME_DIR/sandmux/PID.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// Options of the interactive TUI (the default command).
#[derive(Debug, Args, Clone, Default)]
pub struct TuiArgs {
    #[command(flatten)]
    pub common: SessionArgs,

    /// Log file (default: sandmux.log in the user's state directory). Level: SANDMUX_LOG.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// The layout at start (default: the config's `layout`, else tiles for up to 8 sessions
    /// and the list from 9); F11 switches.
    #[arg(long, value_enum, value_name = "LAYOUT")]
    pub layout: Option<LayoutArg>,

    /// Record what you do as a script: `sandmux run FILE.smx [--config ...]` plays it back
    /// (written as you go).
    #[arg(long, value_name = "FILE.smx")]
    pub record: Option<PathBuf>,
}

/// `--layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    Auto,
    Tiles,
    List,
}

impl LayoutArg {
    pub fn setting(self) -> crate::config::LayoutSetting {
        match self {
            LayoutArg::Auto => crate::config::LayoutSetting::Auto,
            LayoutArg::Tiles => crate::config::LayoutSetting::Tiles,
            LayoutArg::List => crate::config::LayoutSetting::List,
        }
    }
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
    /// Kills what sandmux's sessions started once sandmux is gone (started by sandmux).
    #[command(hide = true)]
    Watchdog {
        /// The sandmux process watched.
        owner: u32,
    },
    /// A stand-in agent CLI speaking stream-json, for the demo and tests.
    #[command(hide = true, name = "demo-agent")]
    DemoAgent {
        /// Extra delay before each reply, in milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// `stdio`: ask permission for a command on stdout (a `can_use_tool` request), as
        /// the real CLI does.
        #[arg(long, value_name = "TOOL", value_parser = ["stdio"])]
        permission_prompt_tool: Option<String>,
        /// Stream each text as `stream_event` records before the whole message.
        #[arg(long)]
        include_partial_messages: bool,
        /// Taken for the real CLI's sake (`-p`): stream-json is all the demo agent speaks.
        #[arg(short = 'p', long = "print", hide = true)]
        print: bool,
        #[arg(long, hide = true, value_parser = ["stream-json"])]
        input_format: Option<String>,
        #[arg(long, hide = true, value_parser = ["stream-json"])]
        output_format: Option<String>,
        #[arg(long, hide = true)]
        verbose: bool,
    },
    /// Run sessions with no terminal, driven through the control socket until stopped.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Drive a running sandmux through its control socket (one operation per call).
    #[command(after_help = CTL_EXAMPLES)]
    Ctl(CtlArgs),
    /// Open transcripts read-only in the TUI and play them back.
    #[command(after_help = REPLAY_EXAMPLES)]
    Replay(ReplayArgs),
    /// Compare two transcripts of the same script turn by turn.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Work with reports of `sandmux run`: merge the reports of a suite's shards.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Example:\n  sandmux completions bash > ~/.local/share/bash-completion/completions/sandmux"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `sandmux report ...`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge reports of the shards of a suite (all JUnit or all JSON) into one, with the
    /// totals and the verdict worked out again.
    #[command(after_help = MERGE_EXAMPLES)]
    Merge {
        /// The reports (`--junit FILE` or `--report json` output of `sandmux run`).
        #[arg(required = true, value_name = "REPORT")]
        reports: Vec<PathBuf>,
        /// Write the merged report to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

const MERGE_EXAMPLES: &str = "\
A script found in two reports, or a shard (K/N in the JSON reports) with no report, is
named in a WARNING on stderr. Exit status: 0 merged, 1 it could not be written, 2 bad input.

Examples:
  sandmux report merge shard-*/junit.xml -o junit.xml
  sandmux report merge shard-1.json shard-2.json shard-3.json > report.json";

/// Options of `sandmux run`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The scripts: files, or directories of `*.smx` files (recursively, in sorted order).
    /// Several make a suite: each script has its own sessions, variables and transcripts.
    #[arg(value_name = "SCRIPT|DIR", required = true)]
    pub scripts: Vec<PathBuf>,

    /// Run this many scripts at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Stop at the first script that fails: the scripts still running are stopped (their
    /// sessions ended) and the rest are skipped.
    #[arg(long)]
    pub fail_fast: bool,

    /// Run only the scripts whose path holds SUBSTRING or matches /REGEX/ (repeatable: any).
    #[arg(long, value_name = "SUBSTRING|/REGEX/")]
    pub filter: Vec<String>,

    /// Leave out the scripts whose path holds SUBSTRING or matches /REGEX/ (repeatable).
    #[arg(long, value_name = "SUBSTRING|/REGEX/")]
    pub skip: Vec<String>,

    /// Run the K-th of N slices of the selected scripts: N machines with 1/N .. N/N run each
    /// script once (merge their reports with `sandmux report merge`).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Config file whose sessions start when the script starts.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Write DIR/NAME.jsonl transcripts of every session (DIR/SCRIPT-PATH/NAME.jsonl in a
    /// suite: the script's path below where it was found, without `.smx`).
    #[arg(long, value_name = "DIR")]
    pub transcript_dir: Option<PathBuf>,

    /// Print a report on stdout in this format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub report: Option<ReportFormat>,

    /// Write a JUnit XML report to FILE: a test suite per script, a test case per step and per
    /// golden comparison.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Print each step as it finishes (on stderr).
    #[arg(short, long)]
    pub verbose: bool,

    /// Control socket path (default: $XDG_RUNTIME_DIR/sandmux/PID.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Compare each session's transcript with DIR/NAME.jsonl (DIR/SCRIPT-PATH/NAME.jsonl in
    /// a suite), as `sandmux diff` does; a divergence fails the script.
    #[arg(long, value_name = "DIR")]
    pub golden: Option<PathBuf>,

    /// With --golden: write this run's transcripts as the golden ones instead of comparing.
    #[arg(long, requires = "golden")]
    pub update: bool,

    /// With --golden: also ignore this record field or JSON field, or what a /REGEX/ matches.
    #[arg(long, value_name = "FIELD|/REGEX/", requires = "golden")]
    pub ignore: Vec<String>,
}

const REPLAY_EXAMPLES: &str = "\
A DIR means every DIR/NAME.jsonl in it, one pane per session. Keys: Space pauses and plays,
n steps the focused session one turn (its input and the output that followed), s switches
the speed (original pace, 10x, all at once); search, filter, views and scrolling work as
in a live session. Nothing is sent anywhere: the sessions are not run.

Examples:
  sandmux replay logs/
  sandmux replay logs/agent.jsonl --speed 10
  sandmux replay logs/ --speed all";

const DIFF_EXAMPLES: &str = "\
Timestamps, pids, progress events and the volatile fields of JSON lines (session_id, uuid,
request_id, durations, costs, timestamp) are ignored; so are, in stream-json transcripts, an
agent's message and tool ids, request timings and socket paths (--explain lists them all;
--strict keeps them). Output is compared per stream, line by line, so how the pipes chunked
it does not matter. Where two JSON lines differ, the first JSON pointer that differs is named.

Exit status: 0 the same, 1 they differ (the first divergence is printed), 2 bad input.

Examples:
  sandmux diff before/echo.jsonl after/echo.jsonl
  sandmux diff a.jsonl b.jsonl --ignore '/\\d+ms/' --ignore request_id
  sandmux diff a.jsonl b.jsonl --json | jq .turn
  sandmux diff a.jsonl b.jsonl --explain
  sandmux diff golden/ logs/                  every NAME.jsonl of the two directories";

/// Options of `sandmux replay`.
#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// Transcripts: DIR (every .jsonl in it) or FILE.jsonl, one or more.
    #[arg(required = true, value_name = "DIR|FILE.jsonl")]
    pub paths: Vec<PathBuf>,

    /// The pace at start: 1 (as recorded), 10, any factor, or `all` (everything at once).
    #[arg(long, default_value = "1", value_name = "FACTOR|all")]
    pub speed: String,

    /// Start paused (Space plays, n steps a turn).
    #[arg(long)]
    pub paused: bool,

    /// Play a pause longer than this (between any two records) as this long, so that a
    /// long wait does not look like a frozen screen; `0` keeps the original pace.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub max_gap: String,

    /// Log file (default: sandmux.log in the user's state directory).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// Options of `sandmux diff`.
#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    /// The first transcript (the expected one), or a directory of them.
    #[arg(value_name = "A.jsonl|DIR")]
    pub a: PathBuf,

    /// The second transcript, or a directory (its NAME.jsonl are compared with A's).
    #[arg(value_name = "B.jsonl|DIR")]
    pub b: PathBuf,

    /// Also ignore this record field or JSON field (any depth), or what a /REGEX/ matches.
    #[arg(long, value_name = "FIELD|/REGEX/")]
    pub ignore: Vec<String>,

    /// Compare the volatile stream-json fields too.
    #[arg(long)]
    pub strict: bool,

    /// Say what is compared and which fields are left out, then compare.
    #[arg(long)]
    pub explain: bool,

    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Options of `sandmux serve`.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: SessionArgs,
}

const SERVE_EXAMPLES: &str = "\
The socket speaks newline-delimited JSON (docs/control-protocol.md); `sandmux ctl` is its
command-line client. `stop` (or SIGTERM, SIGINT, SIGHUP) stops every session and exits.

Examples:
  sandmux serve --config agents.toml
  sandmux serve --socket /tmp/s.sock -s echo='sed -u s/^/ack:/'";

const CTL_EXAMPLES: &str = "\
With one sandmux running for this user, --socket may be left out.

Exit status: 0 done, 1 the operation failed (a `wait` that timed out, an unknown session),
2 a bad command line or no sandmux to talk to.

Examples:
  sandmux ctl list --json
  sandmux ctl add 'echo: sed -u s/^/ack:/'
  sandmux ctl send agent hello --wait-turn      send a turn, wait for its end
  seq=$(sandmux ctl send echo hi); sandmux ctl wait echo /ack:hi/ --from \"$seq\"
  sandmux ctl send echo hi --wait /ack:hi/ --timeout 5s
  sandmux ctl wait agent --turn
  sandmux ctl approve agent Bash
  sandmux ctl deny agent 'not in production'
  sandmux ctl interrupt agent
  sandmux ctl wait agent --expect-json '/type == \"result\"'
  sandmux ctl subscribe agent --from 0
  sandmux ctl stop";

/// Options of `sandmux ctl`.
#[derive(Debug, Args, Clone)]
pub struct CtlArgs {
    /// The control socket (default: the one sandmux running for this user).
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,

    /// Print the answers as JSON lines, as the socket gives them (control characters
    /// escaped).
    #[arg(long, global = true)]
    pub json: bool,

    /// Give up when sandmux has not answered within this long (a `wait`: its own timeout
    /// more); a subscription's later events may take as long as they take.
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s")]
    pub answer_within: String,

    #[command(subcommand)]
    pub op: CtlOp,
}

/// The operations of the control socket.
#[derive(Debug, Subcommand, Clone)]
pub enum CtlOp {
    /// The sessions, with state, exit status and activity.
    List,
    /// Add a session: NAME [KEY=VALUE ...]: COMMAND (or NAME=COMMAND, or COMMAND).
    ///
    /// Answers once the session has started; one that cannot start (a command not found, a
    /// sandbox that fails) is an error with its reason (exit 1).
    Add {
        #[arg(required = true, num_args = 1.., value_name = "DECLARATION")]
        declaration: Vec<String>,
        /// How long to wait for the start (0: answer as soon as it is added).
        #[arg(long, default_value = "60s", value_name = "DURATION")]
        timeout: String,
    },
    /// Stop a session and forget it.
    Remove { session: String },
    /// Send a line: a user turn (a stream-json user message for stream-json sessions).
    ///
    /// Prints the input's line number (its `seq`), for `wait --from SEQ`; with --wait or
    /// --wait-turn, waits in the same call and prints what matched instead.
    Send {
        session: String,
        #[arg(required = true, num_args = 1.., value_name = "TEXT")]
        text: Vec<String>,
        /// Send the text as a plain line, whatever the session's protocol.
        #[arg(long)]
        raw: bool,
        /// Then wait for this pattern (/regex/ or "literal") in the lines after the input.
        #[arg(long, value_name = "PATTERN", conflicts_with = "wait_turn")]
        wait: Option<String>,
        /// Then wait for the end of this input's own turn (a stream-json session; turns
        /// other drivers sent before it end first).
        #[arg(long)]
        wait_turn: bool,
        /// How long --wait or --wait-turn waits (exit 1 after).
        #[arg(long, default_value = "10s", value_name = "DURATION")]
        timeout: String,
    },
    /// Write exact bytes (escapes as in scripts: \n \t \r \0 \e \\ \xNN), no newline added.
    Write { session: String, data: String },
    /// Close a session's stdin (EOF).
    Close { session: String },
    /// Send a signal (TERM, INT, KILL, HUP, a number).
    Signal { session: String, signal: String },
    /// Stop a session: SIGTERM, then SIGKILL after a grace period.
    Kill { session: String },
    /// Restart a session.
    Restart { session: String },
    /// Interrupt a session's turn: an agent's own interrupt (the conversation goes on),
    /// SIGINT for other sessions.
    Interrupt { session: String },
    /// Allow an agent's pending permission request (the oldest, or the oldest for TOOL).
    Approve {
        session: String,
        /// Only a request for this tool (Bash, Write, ...).
        tool: Option<String>,
        /// Allow the tool for the rest of the session.
        #[arg(long)]
        always: bool,
        /// Only a request whose input (as JSON) matches this regex.
        #[arg(long, value_name = "REGEX")]
        input: Option<String>,
        /// The request with this id (as `list --json` shows it).
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
    /// Refuse an agent's pending permission request, telling it MESSAGE.
    Deny {
        session: String,
        /// What the agent is told (default: that the user denied it).
        message: Option<String>,
        /// Only a request for this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only a request whose input (as JSON) matches this regex.
        #[arg(long, value_name = "REGEX")]
        input: Option<String>,
        /// The request with this id.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
    /// Print a session's scrollback lines.
    Read {
        session: String,
        /// The first line (a sequence number; default: the oldest held).
        #[arg(long)]
        from: Option<u64>,
        /// At most this many lines.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Print lines, input and state changes as they happen, until interrupted.
    Subscribe {
        /// One session (default: all).
        session: Option<String>,
        /// Start from this line (default: now).
        #[arg(long)]
        from: Option<u64>,
    },
    /// Wait for a pattern (/regex/ or "literal"), a JSON line (--expect-json), a turn's
    /// end, an exit or an activity.
    Wait {
        session: String,
        /// /regex/ or "literal" (plain text is a literal), as in `expect`.
        pattern: Option<String>,
        /// Give up after this long (exit 1).
        #[arg(long, default_value = "10s")]
        timeout: String,
        /// Look at lines from this one, as `send` prints it (default: after the session's
        /// last input, which may be another driver's).
        #[arg(long)]
        from: Option<u64>,
        /// Only this stream (stdout or stderr).
        #[arg(long)]
        stream: Option<String>,
        /// A JSON line matching POINTER OP VALUE, as the `expect-json` step writes it.
        #[arg(long, value_name = "PREDICATE")]
        expect_json: Option<String>,
        /// The end of the current stream-json turn.
        #[arg(long)]
        turn: bool,
        /// The session's end; with CODE, check its exit status.
        #[arg(long, value_name = "CODE", num_args = 0..=1, default_missing_value = "any")]
        exit: Option<String>,
        /// An activity: awaiting_input, awaiting_approval, working, idle, exited, failed.
        #[arg(long)]
        activity: Option<String>,
    },
    /// Stop sandmux and every session.
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
