//! `sandmux run`: one script as it always ran, or a suite (several scripts, directories of
//! them) run in parallel; prints and writes the reports.

mod junit;
pub mod merge;
pub mod script;
pub mod select;
pub mod suite;

use std::path::Path;

use tokio::sync::watch;

use crate::cli::{ReportFormat, RunArgs};
use crate::config::Config;
use script::{Fate, ScriptResult, Shared};
use select::{Filter, Shard};

pub use junit::xml_escape;

/// Exit status for invalid input (script, config, command line).
pub const EXIT_INVALID: i32 = 2;

/// Runs the scripts and returns the process exit status. Messages go to stderr; the JSON
/// report, when asked for, is the only thing on stdout.
pub async fn run(args: RunArgs, interrupt: watch::Receiver<Option<i32>>) -> i32 {
    let (mut selection, shared, options) = match prepare(&args) {
        Ok(prepared) => prepared,
        Err(message) => {
            crate::say!("{message}");
            return EXIT_INVALID;
        }
    };
    if !selection.suite {
        let job = &selection.jobs[0];
        let (_cancel_tx, cancel) = watch::channel(false);
        let result = script::run(job, &shared, interrupt, cancel).await;
        return finish_one(&args, &result);
    }
    let filters = parse_filters(&args.filter, "--filter");
    let skips = parse_filters(&args.skip, "--skip");
    let (filters, skips) = match (filters, skips) {
        (Ok(f), Ok(s)) => (f, s),
        (Err(message), _) | (_, Err(message)) => {
            crate::say!("sandmux: {message}");
            return EXIT_INVALID;
        }
    };
    let found = selection.jobs.len();
    selection.narrow(&filters, &skips, options.shard);
    if selection.jobs.is_empty() && selection.other_shards == 0 {
        crate::say!("sandmux: no script of the {found} found matches --filter and --skip");
        return EXIT_INVALID;
    }
    crate::say!(
        "Running {}, {} at a time{}",
        plural(selection.jobs.len(), "script"),
        options.jobs.min(selection.jobs.len().max(1)),
        match options.shard {
            Some(shard) => format!(" (shard {shard} of {found} found)"),
            None => String::new(),
        }
    );
    let suite = suite::run(&selection, &shared, &options, interrupt).await;
    suite::print_summary(&suite, &selection, &options);
    let mut code = suite::exit_code(&suite);
    if args.report == Some(ReportFormat::Json) {
        crate::out!("{}", suite::suite_json(&suite, &selection, &options));
    }
    if let Some(path) = &args.junit {
        let xml = junit::report(&suite.results, suite.duration.as_secs_f64());
        code = write_junit(path, &xml, code);
    }
    code
}

/// `1 script`, `2 scripts`.
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn parse_filters(texts: &[String], flag: &str) -> Result<Vec<Filter>, String> {
    texts.iter().map(|t| Filter::parse(flag, t)).collect()
}

/// The scripts, what they share and how the suite runs, or the sentence that says what is
/// wrong with the command line.
fn prepare(args: &RunArgs) -> Result<(select::Selection, Shared, suite::Options), String> {
    let config = match &args.config {
        Some(path) => Some(Config::load(path).map_err(|err| format!("sandmux: {err}"))?),
        None => None,
    };
    let ignore = crate::history::turns::Ignore::from_args(&args.ignore, false)
        .map_err(|err| format!("sandmux: {err}"))?;
    let shard = args
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(|err| format!("sandmux: {err}"))?;
    let jobs = match args.jobs {
        Some(0) => return Err("sandmux: --jobs takes a number of scripts of 1 or more".into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let selection = select::find(&args.scripts)?;
    if selection.suite && args.socket.is_some() {
        return Err(
            "sandmux: --socket serves one script's sessions: run a lone script with it".into(),
        );
    }
    if !selection.suite && (shard.is_some() || !args.filter.is_empty() || !args.skip.is_empty()) {
        return Err(
            "sandmux: --filter, --skip and --shard choose among several scripts or a directory of them"
                .into(),
        );
    }
    let shared = Shared {
        config_path: args.config.clone(),
        config,
        transcript_dir: args.transcript_dir.clone(),
        golden: args.golden.clone(),
        update: args.update,
        ignore,
        verbose: args.verbose,
        prefix: selection.suite,
        socket: (!selection.suite).then(|| args.socket.clone()),
    };
    let options = suite::Options {
        jobs,
        fail_fast: args.fail_fast,
        shard,
    };
    Ok((selection, shared, options))
}

/// A lone script's output, as before suites: its failures, golden comparisons, summary
/// line and reports, all with one verdict.
fn finish_one(args: &RunArgs, result: &ScriptResult) -> i32 {
    let details = suite::failure_details(result);
    if !details.is_empty() {
        crate::say!("{}", details.trim_end());
    }
    let mut code = result.exit_code();
    if result.fate() != Fate::Invalid {
        crate::say!(
            "{}",
            crate::script::report::summary_line(&result.name, &result.outcome)
        );
    }
    if args.report == Some(ReportFormat::Json) {
        crate::out!("{}", suite::script_json(result));
    }
    if let Some(path) = &args.junit {
        let xml = junit::report(
            std::slice::from_ref(result),
            result.outcome.duration.as_secs_f64(),
        );
        code = write_junit(path, &xml, code);
    }
    code
}

/// Writes the JUnit report, making its directory as `--transcript-dir` does (CI layouts
/// such as `shard-2/junit.xml`).
fn write_junit(path: &Path, xml: &str, code: i32) -> i32 {
    let written = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir).and_then(|()| std::fs::write(path, xml)),
        None => std::fs::write(path, xml),
    };
    match written {
        Ok(()) => code,
        Err(err) => {
            crate::say!(
                "sandmux: cannot write the JUnit report {}: {err}",
                path.display()
            );
            if code == 0 { 1 } else { code }
        }
    }
}
