//! One script run to its end: its own engine, sessions, variables and transcripts; the
//! result holds everything every report needs, whatever the script's fate.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use crate::config::Config;
use crate::history::golden;
use crate::history::turns::Ignore;
use crate::script::parse_script;
use crate::script::report::{self, Verdict};
use crate::script::runner::{RunEnd, RunOutcome, Runner, StepOutcome};

/// A script to run and where its files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The file.
    pub path: PathBuf,
    /// How reports name it: the path as found (the argument, or the directory joined with
    /// the path below it).
    pub name: String,
    /// Where its transcripts and golden files go below `--transcript-dir` and `--golden`:
    /// its path below where it was found, without `.smx`. `None` for a lone script, whose
    /// files go straight into those directories (as before there were suites).
    pub rel: Option<PathBuf>,
}

/// What every script of a run shares.
pub struct Shared {
    pub config_path: Option<PathBuf>,
    pub config: Option<Config>,
    pub transcript_dir: Option<PathBuf>,
    pub golden: Option<PathBuf>,
    pub update: bool,
    pub ignore: Ignore,
    pub verbose: bool,
    /// Lines on stderr name their script (several scripts print at once).
    pub prefix: bool,
    /// The control socket to serve (a lone script only).
    pub socket: Option<Option<PathBuf>>,
}

/// How one script ended, and what it did.
#[derive(Debug)]
pub struct ScriptResult {
    pub name: String,
    pub outcome: RunOutcome,
    /// The script could not be run: it could not be read or parsed, or a config session
    /// could not be added (one sentence, with file:line:col where there is one).
    pub invalid: Option<String>,
    /// Stopped by `--fail-fast` after another script failed.
    pub cancelled: bool,
    pub golden: Vec<golden::Outcome>,
    pub sessions: Vec<Value>,
}

/// A script's fate, as every report gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Ran(Verdict),
    Invalid,
    Cancelled,
}

impl ScriptResult {
    pub fn fate(&self) -> Fate {
        if self.invalid.is_some() {
            Fate::Invalid
        } else if self.cancelled {
            Fate::Cancelled
        } else {
            Fate::Ran(Verdict::of(&self.outcome))
        }
    }

    /// `passed`, `failed`, `interrupted` or `skipped` (cancelled by --fail-fast).
    pub fn status(&self) -> &'static str {
        match self.fate() {
            Fate::Ran(verdict) => verdict.status(),
            Fate::Invalid => "failed",
            Fate::Cancelled => "skipped",
        }
    }

    /// The exit status the script alone would give: 2 for one that could not be run.
    pub fn exit_code(&self) -> i32 {
        match self.fate() {
            Fate::Ran(verdict) => verdict.exit_code(),
            Fate::Invalid => crate::headless::EXIT_INVALID,
            Fate::Cancelled => 1,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(
            self.fate(),
            Fate::Invalid | Fate::Ran(Verdict::Failed | Verdict::Incomplete)
        )
    }

    /// A result for a script that could not be run.
    pub fn invalid(job: &Job, why: String, duration: Duration) -> ScriptResult {
        ScriptResult {
            name: job.name.clone(),
            outcome: empty_outcome(duration),
            invalid: Some(why),
            cancelled: false,
            golden: Vec::new(),
            sessions: Vec::new(),
        }
    }

    /// A script --fail-fast stopped before it started.
    pub fn not_started(job: &Job) -> ScriptResult {
        ScriptResult {
            name: job.name.clone(),
            outcome: empty_outcome(Duration::ZERO),
            invalid: None,
            cancelled: true,
            golden: Vec::new(),
            sessions: Vec::new(),
        }
    }
}

/// The outcome of a script that did not run to its end: no steps yet, failed.
fn empty_outcome(duration: Duration) -> RunOutcome {
    RunOutcome {
        steps: Vec::new(),
        end: RunEnd::Failed,
        duration,
        transcript_incomplete: false,
        golden_failed: 0,
    }
}

/// Reads a script: a regular file of at most 16 MiB of UTF-8 text (the error names the
/// position of the first byte that is not UTF-8).
fn read_script(path: &Path) -> Result<String, String> {
    crate::input_file::read_text(path, "the script", crate::input_file::MAX_SCRIPT)
        .map_err(|err| err.sentence(path, "the script"))
}

/// Runs one script. `cancel` turning true stops it where it is (its sessions are stopped
/// as at the end of a run).
pub async fn run(
    job: &Job,
    shared: &Shared,
    interrupt: watch::Receiver<Option<i32>>,
    mut cancel: watch::Receiver<bool>,
) -> ScriptResult {
    let started = Instant::now();
    let say = |message: &str| {
        if shared.prefix {
            crate::say!("{}: {message}", job.name);
        } else {
            crate::say!("{message}");
        }
    };
    let source = match read_script(&job.path) {
        Ok(source) => source,
        Err(message) => {
            return ScriptResult::invalid(job, format!("sandmux: {message}"), started.elapsed());
        }
    };
    let known: Vec<_> = shared
        .config
        .iter()
        .flat_map(|c| c.sessions.iter().cloned())
        .collect();
    let steps = match parse_script(&source, &known) {
        Ok(steps) => steps,
        Err(err) => {
            return ScriptResult::invalid(job, format!("{}:{err}", job.name), started.elapsed());
        }
    };
    let below = |dir: &Path| match &job.rel {
        Some(rel) => dir.join(rel),
        None => dir.to_path_buf(),
    };
    // --golden needs transcripts: in a directory of this script's own when none was given.
    let scratch = match (&shared.golden, &shared.transcript_dir) {
        (Some(_), None) => match tempfile::Builder::new().prefix("sandmux-golden-").tempdir() {
            Ok(dir) => Some(dir),
            Err(err) => {
                let why = format!("sandmux: cannot make a directory for the transcripts: {err}");
                return ScriptResult::invalid(job, why, started.elapsed());
            }
        },
        _ => None,
    };
    let transcript_dir = match (&shared.transcript_dir, &scratch) {
        (Some(dir), _) => Some(below(dir)),
        (None, Some(dir)) => Some(dir.path().to_path_buf()),
        (None, None) => None,
    };
    let options = Config::engine_options(shared.config.as_ref(), transcript_dir);
    let mut engine = crate::startup::engine(options);
    let mut config_ids = Vec::new();
    for spec in shared.config.iter().flat_map(|c| c.sessions.iter()) {
        match engine.add(spec.clone()) {
            Ok(id) => config_ids.push(id),
            Err(err) => {
                return ScriptResult::invalid(job, format!("sandmux: {err}"), started.elapsed());
            }
        }
    }
    let _socket = match &shared.socket {
        Some(path) => match crate::startup::control_socket(engine.handle(), path.clone()) {
            Ok(socket) => socket,
            Err(err) => {
                return ScriptResult::invalid(job, format!("sandmux: {err}"), started.elapsed());
            }
        },
        None => None,
    };

    let done: RefCell<Vec<StepOutcome>> = RefCell::new(Vec::new());
    let verbose = shared.verbose;
    let mut cancelled = *cancel.borrow();
    let mut outcome = None;
    if !cancelled {
        let mut runner = Runner::new(&mut engine, interrupt)
            .on_step(|step| {
                if verbose {
                    say(&report::progress_line(step));
                }
                done.borrow_mut().push(step.clone());
            })
            .on_notice(|message| say(&format!("sandmux: {message}")))
            .on_progress(|name, message| {
                if verbose {
                    let message = crate::text::printable(message.as_bytes());
                    say(&format!("     …  {name}: {message}"));
                }
            });
        let run = async {
            match runner.await_started(&config_ids).await {
                Ok(()) => runner.run(&steps).await,
                Err(why) => {
                    let config = shared.config_path.as_deref().unwrap_or(Path::new("config"));
                    say(&format!("{}: {why}", config.display()));
                    let mut outcome = runner.run(&[]).await;
                    outcome.end = RunEnd::Failed;
                    outcome
                }
            }
        };
        tokio::select! {
            ran = run => outcome = Some(ran),
            _ = cancel.wait_for(|stop| *stop) => cancelled = true,
        }
    }
    for event in engine.shutdown(Duration::from_secs(5)).await {
        if let crate::engine::Event::TranscriptFailed { message, .. } = event {
            say(&format!("sandmux: {message}"));
        }
    }
    let mut outcome = outcome.unwrap_or_else(|| RunOutcome {
        steps: done.take(),
        ..empty_outcome(started.elapsed())
    });
    outcome.transcript_incomplete = engine.sessions().any(|(_, s)| s.transcript_incomplete());
    let golden = match (&shared.golden, cancelled) {
        (Some(dir), false) => {
            let sessions: Vec<(String, PathBuf)> = engine
                .sessions()
                .filter_map(|(_, s)| {
                    Some((s.spec.name.clone(), s.transcript_path()?.to_path_buf()))
                })
                .collect();
            let colour = crate::history::diff::colour_on(&std::io::stderr());
            golden::check(
                &below(dir),
                &sessions,
                shared.update,
                &shared.ignore,
                colour,
                scratch.is_some(),
            )
        }
        _ => Vec::new(),
    };
    outcome.golden_failed = golden.iter().filter(|g| g.failed()).count();
    ScriptResult {
        name: job.name.clone(),
        outcome,
        invalid: None,
        cancelled,
        golden,
        sessions: report::sessions_json(&engine),
    }
}
