//! `sandmux run`: load the config and script, drive the engine, print and write reports.

use std::path::Path;

use tokio::sync::watch;

use crate::cli::{ReportFormat, RunArgs};
use crate::config::Config;
use crate::engine::Engine;
use crate::script::parse_script;
use crate::script::report;
use crate::script::runner::{RunEnd, Runner, StepStatus};

/// Exit status for invalid input (script, config, command line).
pub const EXIT_INVALID: i32 = 2;

/// Runs a script and returns the process exit status. Messages go to stderr; the JSON
/// report, when asked for, is the only thing on stdout.
pub async fn run(args: RunArgs, interrupt: watch::Receiver<Option<i32>>) -> i32 {
    let script_name = args.script.display().to_string();
    let config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(config) => Some(config),
            Err(err) => {
                crate::say!("sandmux: {err}");
                return EXIT_INVALID;
            }
        },
        None => None,
    };
    let source = match read_script(&args.script) {
        Ok(source) => source,
        Err(message) => {
            crate::say!("sandmux: {message}");
            return EXIT_INVALID;
        }
    };
    let known: Vec<_> = config
        .iter()
        .flat_map(|c| c.sessions.iter().cloned())
        .collect();
    let steps = match parse_script(&source, &known) {
        Ok(steps) => steps,
        Err(err) => {
            crate::say!("{script_name}:{err}");
            return EXIT_INVALID;
        }
    };

    let ignore = match crate::history::turns::Ignore::from_args(&args.ignore, false) {
        Ok(ignore) => ignore,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return EXIT_INVALID;
        }
    };
    // --golden needs transcripts: in a directory of this run's own when none was given.
    let scratch = match (&args.golden, &args.transcript_dir) {
        (Some(_), None) => match tempfile::Builder::new().prefix("sandmux-golden-").tempdir() {
            Ok(dir) => Some(dir),
            Err(err) => {
                crate::say!("sandmux: cannot make a directory for the transcripts: {err}");
                return 1;
            }
        },
        _ => None,
    };
    let transcript_dir = args
        .transcript_dir
        .clone()
        .or_else(|| scratch.as_ref().map(|d| d.path().to_path_buf()));
    let options = Config::engine_options(config.as_ref(), transcript_dir.clone());
    let mut engine = crate::startup::engine(options);
    let mut config_ids = Vec::new();
    for spec in config.iter().flat_map(|c| c.sessions.iter()) {
        match engine.add(spec.clone()) {
            Ok(id) => config_ids.push(id),
            Err(err) => {
                crate::say!("sandmux: {err}");
                return EXIT_INVALID;
            }
        }
    }

    let _socket = match crate::startup::control_socket(engine.handle(), args.socket.clone()) {
        Ok(socket) => socket,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return EXIT_INVALID;
        }
    };
    let verbose = args.verbose;
    let mut runner = Runner::new(&mut engine, interrupt)
        .on_step(move |step| {
            if verbose {
                crate::say!("{}", report::progress_line(step));
            }
        })
        .on_notice(|message| crate::say!("sandmux: {message}"))
        .on_progress(move |name, message| {
            if verbose {
                let message = crate::text::printable(message.as_bytes());
                crate::say!("     …  {name}: {message}");
            }
        });
    let outcome = match runner.await_started(&config_ids).await {
        Ok(()) => runner.run(&steps).await,
        Err(why) => {
            crate::say!(
                "{}: {why}",
                args.config
                    .as_deref()
                    .unwrap_or(Path::new("config"))
                    .display()
            );
            let mut outcome = runner.run(&[]).await;
            outcome.end = RunEnd::Failed;
            outcome
        }
    };
    drop(runner);
    let mut outcome = outcome;
    for event in engine.shutdown(std::time::Duration::from_secs(5)).await {
        if let crate::engine::Event::TranscriptFailed { message, .. } = event {
            crate::say!("sandmux: {message}");
        }
    }
    outcome.transcript_incomplete = engine.sessions().any(|(_, s)| s.transcript_incomplete());
    let golden = match &args.golden {
        Some(dir) => {
            let sessions: Vec<(String, std::path::PathBuf)> = engine
                .sessions()
                .filter_map(|(_, s)| {
                    Some((s.spec.name.clone(), s.transcript_path()?.to_path_buf()))
                })
                .collect();
            let colour = crate::history::diff::colour_on(&std::io::stderr());
            crate::history::golden::check(
                dir,
                &sessions,
                args.update,
                &ignore,
                colour,
                scratch.is_some(),
            )
        }
        None => Vec::new(),
    };
    finish(&args, &script_name, &outcome, &engine, &golden)
}

fn finish(
    args: &RunArgs,
    script_name: &str,
    outcome: &crate::script::runner::RunOutcome,
    engine: &Engine,
    golden: &[crate::history::golden::Outcome],
) -> i32 {
    for step in outcome
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
    {
        crate::say!("{}", report::failure_text(script_name, step).trim_end());
    }
    for g in golden {
        if let Some(message) = &g.message {
            let head = if g.failed() { "GOLDEN FAIL" } else { "golden" };
            crate::say!("{head} {}: {}", g.session, message.trim_end());
        }
    }
    crate::say!("{}", report::summary_line(script_name, outcome));
    let mut code = report::exit_code(outcome);
    let golden_failed = golden.iter().filter(|g| g.failed()).count();
    if golden_failed > 0 {
        crate::say!(
            "FAIL {script_name}: {golden_failed} of {} transcripts differ from the golden ones",
            golden.len()
        );
        if code == 0 || code == 3 {
            code = 1;
        }
    }
    if args.report == Some(ReportFormat::Json) {
        let mut value = report::json_report(script_name, outcome, report::sessions_json(engine));
        if args.golden.is_some() {
            value["golden"] = golden.iter().map(|g| g.json()).collect();
            value["exit_code"] = code.into();
        }
        crate::out!("{value}");
    }
    if let Some(path) = &args.junit
        && let Err(err) = std::fs::write(path, report::junit_report(script_name, outcome))
    {
        crate::say!(
            "sandmux: cannot write the JUnit report {}: {err}",
            path.display()
        );
        if code == 0 {
            code = 1;
        }
    }
    code
}

/// Reads a script: a regular file of at most 16 MiB of UTF-8 text (the error names the
/// position of the first byte that is not UTF-8).
fn read_script(path: &Path) -> Result<String, String> {
    crate::input_file::read_text(path, "the script", crate::input_file::MAX_SCRIPT)
        .map_err(|err| err.sentence(path, "the script"))
}
