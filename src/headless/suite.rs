//! Many scripts in one run: `-j` at once, a line as each finishes, the failures and a
//! summary at the end (as cargo nextest does it), and `--fail-fast`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::script::{self, Fate, Job, ScriptResult, Shared};
use super::select::{Selection, Shard};
use crate::script::report::{self, Verdict, ms};
use crate::script::runner::StepStatus;

/// How the suite runs and what it writes.
pub struct Options {
    pub jobs: usize,
    pub fail_fast: bool,
    pub shard: Option<Shard>,
}

/// The whole suite's results, in the scripts' order.
pub struct SuiteResult {
    pub results: Vec<ScriptResult>,
    pub duration: Duration,
    pub interrupted: Option<i32>,
}

/// Runs the selected scripts, at most `options.jobs` at a time, printing a line as each
/// finishes. The engines of all of them share this thread: a script waits on its programs,
/// so one thread keeps many busy.
pub async fn run(
    selection: &Selection,
    shared: &Shared,
    options: &Options,
    interrupt: watch::Receiver<Option<i32>>,
) -> SuiteResult {
    let started = Instant::now();
    let (cancel_tx, cancel) = watch::channel(false);
    let mut results: Vec<Option<ScriptResult>> = selection.jobs.iter().map(|_| None).collect();
    let mut pending = selection.jobs.iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut stopping = false;
    loop {
        stopping |= interrupt.borrow().is_some();
        while !stopping && running.len() < options.jobs {
            match pending.next() {
                Some((index, job)) => running.push(numbered(
                    index,
                    job,
                    shared,
                    interrupt.clone(),
                    cancel.clone(),
                )),
                None => break,
            }
        }
        let Some((index, result)) = running.next().await else {
            break;
        };
        crate::say!("{}", progress_line(&result));
        if result.failed() && options.fail_fast && !stopping {
            stopping = true;
            let _ = cancel_tx.send(true);
        }
        results[index] = Some(result);
    }
    let results = results
        .into_iter()
        .zip(&selection.jobs)
        .map(|(result, job)| result.unwrap_or_else(|| ScriptResult::not_started(job)))
        .collect();
    SuiteResult {
        results,
        duration: started.elapsed(),
        interrupted: *interrupt.borrow(),
    }
}

async fn numbered(
    index: usize,
    job: &Job,
    shared: &Shared,
    interrupt: watch::Receiver<Option<i32>>,
    cancel: watch::Receiver<bool>,
) -> (usize, ScriptResult) {
    (index, script::run(job, shared, interrupt, cancel).await)
}

/// `    PASS [   0.512s] suite/login.smx`, and for a failure the step and why, briefly.
fn progress_line(result: &ScriptResult) -> String {
    let word = match result.fate() {
        Fate::Ran(Verdict::Passed) => "PASS",
        Fate::Ran(Verdict::Failed | Verdict::Incomplete) => "FAIL",
        Fate::Ran(Verdict::Interrupted(_)) => "INTR",
        Fate::Invalid => "INVALID",
        Fate::Cancelled => "CANCEL",
    };
    let mut line = format!(
        "{word:>8} [{:>8.3}s] {}",
        result.outcome.duration.as_secs_f64(),
        crate::text::printable(result.name.as_bytes())
    );
    if let Some(why) = brief_reason(result) {
        line.push_str("  ");
        line.push_str(&why);
    }
    line
}

/// The first reason a script failed, on one line.
fn brief_reason(result: &ScriptResult) -> Option<String> {
    if let Some(why) = &result.invalid {
        let first = why.lines().next().unwrap_or("");
        return Some(match first.strip_prefix(&format!("{}:", result.name)) {
            Some(place) => format!("line {place}"),
            None => first.to_string(),
        });
    }
    if let Some(step) = result
        .outcome
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Failed)
    {
        let why = step.error.as_deref().unwrap_or("failed");
        return Some(format!(
            "line {}: {}",
            step.line,
            crate::text::printable(why.lines().next().unwrap_or("").as_bytes())
        ));
    }
    if let Some(g) = result.golden.iter().find(|g| g.failed()) {
        return Some(format!("golden {}.jsonl: {}", g.session, g.status));
    }
    result
        .outcome
        .transcript_incomplete
        .then(|| "a transcript is incomplete".to_string())
}

/// What a failed script printed in full: its step, why and last output, and its golden
/// comparisons.
pub fn failure_details(result: &ScriptResult) -> String {
    let mut out = String::new();
    if let Some(why) = &result.invalid {
        out.push_str(why);
        out.push('\n');
    }
    for step in result
        .outcome
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
    {
        out.push_str(&report::failure_text(&result.name, step));
    }
    for g in &result.golden {
        if let Some(message) = g.shown.as_ref().or(g.message.as_ref()) {
            let head = if g.failed() { "GOLDEN FAIL" } else { "golden" };
            out.push_str(&format!("{head} {}: {}\n", g.session, message.trim_end()));
        }
    }
    out
}

/// Counts of a suite's scripts.
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    /// Cut short by a signal to sandmux.
    pub interrupted: usize,
    /// Never run to their end: stopped by --fail-fast or a signal before they started.
    pub skipped: usize,
}

pub fn counts(results: &[ScriptResult]) -> Counts {
    let passed = results
        .iter()
        .filter(|r| r.fate() == Fate::Ran(Verdict::Passed))
        .count();
    let failed = results.iter().filter(|r| r.failed()).count();
    let interrupted = results
        .iter()
        .filter(|r| matches!(r.fate(), Fate::Ran(Verdict::Interrupted(_))))
        .count();
    Counts {
        passed,
        failed,
        interrupted,
        skipped: results.len() - passed - failed - interrupted,
    }
}

/// The suite's exit status: 128+N when a signal stopped it, 2 when a script could not be
/// run, 1 when one failed, 3 when all passed but a transcript is incomplete, else 0.
pub fn exit_code(suite: &SuiteResult) -> i32 {
    if let Some(signal) = suite.interrupted {
        return 128 + signal;
    }
    let fates: Vec<Fate> = suite.results.iter().map(|r| r.fate()).collect();
    if fates.contains(&Fate::Invalid) {
        super::EXIT_INVALID
    } else if fates
        .iter()
        .any(|f| matches!(f, Fate::Ran(Verdict::Failed) | Fate::Cancelled))
    {
        1
    } else if fates.contains(&Fate::Ran(Verdict::Incomplete)) {
        report::EXIT_TRANSCRIPT_INCOMPLETE
    } else {
        0
    }
}

/// The failures in full, the summary line and the slowest scripts.
pub fn print_summary(suite: &SuiteResult, selection: &Selection, options: &Options) {
    let failed: Vec<&ScriptResult> = suite.results.iter().filter(|r| r.failed()).collect();
    for result in &failed {
        crate::say!(
            "\n--- {} ---",
            crate::text::printable(result.name.as_bytes())
        );
        crate::say!("{}", failure_details(result).trim_end());
        if result.outcome.transcript_incomplete {
            crate::say!(
                "TRANSCRIPTS INCOMPLETE: a transcript misses records (see the sentence naming it above)"
            );
        }
    }
    let c = counts(&suite.results);
    let mut notes = Vec::new();
    if selection.filtered_out > 0 {
        notes.push(format!("{} filtered out", selection.filtered_out));
    }
    if let Some(shard) = options.shard {
        notes.push(format!(
            "shard {shard}: {} in other shards",
            selection.other_shards
        ));
    }
    if let Some(signal) = suite.interrupted {
        notes.push(format!(
            "interrupted by {}",
            crate::engine::signal_name(signal)
        ));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    let word = if exit_code(suite) == 0 {
        "PASS"
    } else {
        "FAIL"
    };
    crate::say!(
        "\n{word:>8} [{:>8.3}s] {}: {} passed, {} failed, {} skipped{}{notes}",
        suite.duration.as_secs_f64(),
        super::plural(suite.results.len(), "script"),
        c.passed,
        c.failed,
        c.skipped,
        match c.interrupted {
            0 => String::new(),
            n => format!(", {n} interrupted"),
        }
    );
    let mut ran: Vec<&ScriptResult> = suite.results.iter().filter(|r| !r.cancelled).collect();
    ran.sort_by_key(|r| std::cmp::Reverse(r.outcome.duration));
    if ran.len() > 1 {
        crate::say!("slowest:");
        for r in ran.iter().take(5) {
            crate::say!(
                "  [{:>8.3}s] {}",
                r.outcome.duration.as_secs_f64(),
                crate::text::printable(r.name.as_bytes())
            );
        }
    }
    for r in &failed {
        crate::say!("{}", progress_line(r));
    }
}

/// A script's part of `--report json` (the whole report of a lone script).
pub fn script_json(result: &ScriptResult) -> Value {
    let mut value = report::json_report(&result.name, &result.outcome, result.sessions.clone());
    value["status"] = result.status().into();
    value["exit_code"] = result.exit_code().into();
    value["error"] = result.invalid.clone().into();
    value["cancelled"] = result.cancelled.into();
    value["golden"] = result.golden.iter().map(|g| g.json()).collect();
    value
}

/// The suite's `--report json`: overall status and counts, then each script's report.
pub fn suite_json(suite: &SuiteResult, selection: &Selection, options: &Options) -> Value {
    let c = counts(&suite.results);
    let code = exit_code(suite);
    json!({
        "status": if code == 0 { "passed" } else if suite.interrupted.is_some() { "interrupted" } else { "failed" },
        "exit_code": code,
        "duration_ms": ms(suite.duration),
        "scripts_total": suite.results.len(),
        "passed": c.passed,
        "failed": c.failed,
        "skipped": c.skipped,
        "interrupted": c.interrupted,
        "filtered_out": selection.filtered_out,
        "shard": options.shard.map(|s| s.to_string()),
        "jobs": options.jobs,
        "scripts": suite.results.iter().map(script_json).collect::<Vec<_>>(),
    })
}
