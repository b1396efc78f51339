use std::io::Write;

use clap::{CommandFactory, Parser};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use sandmux::cli::{Cli, CommandLine};

fn main() {
    let cli = parse();
    sandmux::backend::raise_open_files_limit();
    // Sessions started by this process are cleaned up by a watchdog if it dies.
    sandmux::backend::watchdog::enable();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            sandmux::say!("sandmux: cannot start the async runtime: {err}");
            std::process::exit(1);
        }
    };
    let code = match cli.command {
        Some(CommandLine::Completions { shell }) => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "sandmux", &mut std::io::stdout());
            0
        }
        Some(CommandLine::Watchdog { owner }) => sandmux::backend::watchdog::run(owner),
        Some(CommandLine::DemoAgent {
            delay_ms,
            permission_prompt_tool,
            include_partial_messages,
            ..
        }) => sandmux::demo_agent::run(sandmux::demo_agent::Options {
            delay: std::time::Duration::from_millis(delay_ms),
            ask_permission: permission_prompt_tool.is_some(),
            partial: include_partial_messages,
        }),
        Some(CommandLine::Doctor { boot }) => {
            init_stderr_logging();
            runtime.block_on(async {
                let (checks, ok) = sandmux::doctor::run(boot).await;
                for check in &checks {
                    sandmux::out!("{}", check.line());
                }
                if ok {
                    sandmux::out!("sandboxes can run here");
                    0
                } else {
                    sandmux::out!("sandboxes cannot run here: fix the FAIL lines above");
                    1
                }
            })
        }
        Some(CommandLine::Serve(args)) => {
            init_stderr_logging();
            runtime.block_on(async {
                let interrupt = watch_signals();
                sandmux::serve::run(args, interrupt).await
            })
        }
        Some(CommandLine::Report(sandmux::cli::ReportCommand::Merge { reports, output })) => {
            sandmux::headless::merge::run(&reports, output.as_deref())
        }
        Some(CommandLine::Diff(args)) => sandmux::history::diff::run(&args),
        Some(CommandLine::Replay(args)) => runtime.block_on(sandmux::tui::replay::run(args)),
        Some(CommandLine::Ctl(args)) => runtime.block_on(sandmux::control::client::run(args)),
        Some(CommandLine::Run(args)) => {
            init_stderr_logging();
            runtime.block_on(async {
                let interrupt = watch_signals();
                sandmux::headless::run(args, interrupt).await
            })
        }
        None if sandmux::tui::config_path(&cli.tui).is_none()
            && cli.tui.common.sessions.is_empty() =>
        {
            let mut command = Cli::command();
            let _ = command.print_help();
            0
        }
        None => runtime.block_on(sandmux::tui::run(cli.tui)),
    };
    let _ = std::io::stdout().flush();
    drop(runtime);
    std::process::exit(code);
}

/// Logs to stderr for headless runs; level from SANDMUX_LOG (default: warn).
fn init_stderr_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SANDMUX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Turns SIGINT, SIGTERM and SIGHUP into a value the runner watches, so sessions are
/// stopped and transcripts flushed before sandmux exits.
fn watch_signals() -> watch::Receiver<Option<i32>> {
    let (tx, rx) = watch::channel(None);
    for (kind, number) in [
        (SignalKind::interrupt(), libc::SIGINT),
        (SignalKind::terminate(), libc::SIGTERM),
        (SignalKind::hangup(), libc::SIGHUP),
    ] {
        let tx = tx.clone();
        match signal(kind) {
            Ok(mut stream) => {
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        let _ = tx.send(Some(number));
                    }
                });
            }
            Err(err) => tracing::warn!("cannot watch signal {number}: {err}"),
        }
    }
    rx
}

/// The command line, parsed; a mistyped subcommand clap finds no suggestion for (`rnu`: two
/// letters swapped) gets sandmux's "did you mean" as well, then the usual clap error.
fn parse() -> Cli {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut err = match Cli::try_parse_from(&args) {
        Ok(cli) => return cli,
        Err(err) => err,
    };
    if err.kind() == ErrorKind::InvalidSubcommand
        && err.get(ContextKind::SuggestedSubcommand).is_none()
        && let Some(ContextValue::String(typed)) = err.get(ContextKind::InvalidSubcommand)
    {
        let typed = typed.clone();
        // The command the mistyped word was given to: follow the subcommands named before it.
        let mut command = Cli::command();
        for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
            if arg == typed {
                break;
            }
            if let Some(sub) = command.find_subcommand(arg).cloned() {
                command = sub;
            }
        }
        let names: Vec<String> = command
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name().to_string())
            .collect();
        if let Some(near) = sandmux::text::closest(&typed, names.iter().map(String::as_str)) {
            err.insert(
                ContextKind::SuggestedSubcommand,
                ContextValue::String(near.to_string()),
            );
        }
    }
    err.exit()
}
