//! Reports of a run: the human summary on stderr, a JSON summary, and JUnit XML for CI.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::runner::{RunEnd, RunOutcome, StepOutcome, StepStatus};
use crate::engine::{Engine, SessionState};

/// Exit status when every step passed but a transcript could not be written in full.
pub const EXIT_TRANSCRIPT_INCOMPLETE: i32 = 3;

/// The verdict of a run, the same in the exit status, the summary line and every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// A step failed or a transcript differs from its golden one.
    Failed,
    /// Every step passed but a transcript could not be written in full: a failure too.
    Incomplete,
    Interrupted(i32),
}

impl Verdict {
    pub fn of(outcome: &RunOutcome) -> Verdict {
        match outcome.end {
            RunEnd::Interrupted(signal) => Verdict::Interrupted(signal),
            RunEnd::Failed => Verdict::Failed,
            RunEnd::Passed if outcome.golden_failed > 0 => Verdict::Failed,
            RunEnd::Passed if outcome.transcript_incomplete => Verdict::Incomplete,
            RunEnd::Passed => Verdict::Passed,
        }
    }

    /// `passed`, `failed` or `interrupted`, as the JSON report says it.
    pub fn status(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed | Verdict::Incomplete => "failed",
            Verdict::Interrupted(_) => "interrupted",
        }
    }

    /// The word of the summary line.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Passed => "PASS",
            Verdict::Failed | Verdict::Incomplete => "FAIL",
            Verdict::Interrupted(_) => "INTERRUPTED",
        }
    }

    /// 0 passed, 1 failed, 3 every step passed but a transcript is incomplete, 128+N for
    /// signal N.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Passed => 0,
            Verdict::Failed => 1,
            Verdict::Incomplete => EXIT_TRANSCRIPT_INCOMPLETE,
            Verdict::Interrupted(signal) => 128 + signal,
        }
    }
}

/// `FILE:LINE: <the step>: <why>` followed by the session's last lines, tagged.
pub fn failure_text(script: &str, step: &StepOutcome) -> String {
    let mut out = format!(
        "{script}:{}: {}: {}\n",
        step.line,
        crate::text::printable(step.text.as_bytes()),
        step.error.as_deref().unwrap_or("failed")
    );
    if !step.output_tail.is_empty() {
        out.push_str("  last output:\n");
        for (stream, text) in &step.output_tail {
            let _ = writeln!(out, "    {}| {text}", stream.as_str());
        }
    }
    out
}

/// One line for a step in `--verbose` progress.
pub fn progress_line(step: &StepOutcome) -> String {
    let mark = match step.status {
        StepStatus::Passed => "ok  ",
        StepStatus::Failed => "FAIL",
        StepStatus::Skipped => "skip",
    };
    format!(
        "{mark} {:>4}: {} ({})",
        step.line,
        crate::text::printable(step.text.as_bytes()),
        crate::units::format_duration(step.duration)
    )
}

/// The closing summary line: `PASS script: 12 passed, 0 failed, 0 skipped (0.35s)`.
pub fn summary_line(script: &str, outcome: &RunOutcome) -> String {
    let count = |status| outcome.steps.iter().filter(|s| s.status == status).count();
    let word = Verdict::of(outcome).word();
    let turns: Vec<_> = outcome
        .steps
        .iter()
        .filter_map(|s| s.turn.as_ref())
        .collect();
    let turn_note = match turns.len() {
        0 => String::new(),
        n => {
            let plural = if n == 1 { "" } else { "s" };
            match total_cost(turns.iter().copied()) {
                Some(cost) => format!(", {n} turn{plural}, ${cost:.4}"),
                None => format!(", {n} turn{plural}"),
            }
        }
    };
    let mut incomplete = String::new();
    if outcome.golden_failed > 0 {
        let plural = if outcome.golden_failed == 1 {
            " differs"
        } else {
            "s differ"
        };
        incomplete = format!("; {} golden transcript{plural}", outcome.golden_failed);
    }
    if outcome.transcript_incomplete {
        incomplete.push_str("; TRANSCRIPTS INCOMPLETE");
    }
    format!(
        "{word} {script}: {} passed, {} failed, {} skipped ({}{turn_note}){incomplete}",
        count(StepStatus::Passed),
        count(StepStatus::Failed),
        count(StepStatus::Skipped),
        crate::units::format_duration(outcome.duration)
    )
}

/// What the turns cost, when any of them reported a cost (never a made-up 0 or `-0`).
fn total_cost<'a>(
    turns: impl Iterator<Item = &'a crate::protocol::stream_json::TurnResult>,
) -> Option<f64> {
    turns
        .filter_map(|t| t.cost_usd)
        .fold(None, |sum, cost| Some(sum.unwrap_or(0.0) + cost))
}

/// A turn's numbers for the JSON report: the step's own duration (what the script waited)
/// and what the `result` event reported.
fn turn_json(step: &StepOutcome) -> Value {
    match &step.turn {
        Some(t) => json!({
            "duration_ms": ms(step.duration),
            "reported_duration_ms": t.duration_ms,
            "cost_usd": t.cost_usd,
            "total_cost_usd": t.total_cost_usd,
            "failure": t.failure,
            "num_turns": t.num_turns,
            "is_error": t.is_error,
            "subtype": t.subtype,
            "session_id": t.session_id,
            "result": t.result,
        }),
        None => Value::Null,
    }
}

pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The sessions as the report shows them.
pub fn sessions_json(engine: &Engine) -> Vec<Value> {
    engine
        .sessions()
        .map(|(_, s)| {
            let mut v = json!({
                "name": s.spec.name,
                "backend": s.spec.backend.kind(),
                "command": s.spec.program.argv(),
                "status": s.state.to_string(),
                "state": match &s.state {
                    SessionState::Starting { .. } => "starting",
                    SessionState::Running { .. } => "running",
                    SessionState::Exited(_) => "exited",
                    SessionState::Failed { .. } => "failed",
                },
                "exit_code": Value::Null,
                "signal": Value::Null,
                "reason": Value::Null,
                "lines": s.scrollback.end_seq(),
                "transcript": s.transcript_path().map(|p| p.display().to_string()),
                "transcript_incomplete": s.transcript_incomplete(),
            });
            match &s.state {
                SessionState::Exited(status) => {
                    v["exit_code"] = json!(status.shell_code());
                    v["signal"] = json!(status.signal.map(crate::engine::signal_name));
                }
                SessionState::Failed { reason } => v["reason"] = json!(reason),
                _ => {}
            }
            if s.spec.protocol == crate::engine::Protocol::StreamJson {
                // The agent's own count and running total, whichever steps drove it.
                v["turns"] = json!(s.agent.turns);
                v["cost_usd"] = json!(s.agent.total_cost());
            }
            v
        })
        .collect()
}

/// The `--report json` summary.
pub fn json_report(script: &str, outcome: &RunOutcome, sessions: Vec<Value>) -> Value {
    let steps: Vec<Value> = outcome
        .steps
        .iter()
        .map(|s| {
            json!({
                "line": s.line,
                "step": s.text,
                "status": s.status,
                "duration_ms": ms(s.duration),
                "error": s.error,
                "output_tail": s.output_tail.iter().map(|(stream, text)| json!({"stream": stream, "text": text})).collect::<Vec<_>>(),
                "turn": turn_json(s),
            })
        })
        .collect();
    let turns: Vec<&StepOutcome> = outcome.steps.iter().filter(|s| s.turn.is_some()).collect();
    let turn_summary = json!({
        "count": turns.len(),
        "duration_ms": ms(turns.iter().map(|s| s.duration).sum()),
        "cost_usd": total_cost(turns.iter().filter_map(|s| s.turn.as_ref())),
    });
    json!({
        "script": script,
        "status": Verdict::of(outcome).status(),
        "exit_code": Verdict::of(outcome).exit_code(),
        "transcript_incomplete": outcome.transcript_incomplete,
        "duration_ms": ms(outcome.duration),
        "steps": steps,
        "turns": turn_summary,
        "sessions": sessions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Stream;
    use std::time::Duration;

    fn outcome() -> RunOutcome {
        RunOutcome {
            steps: vec![
                StepOutcome {
                    line: 2,
                    text: "send a <hi>".into(),
                    status: StepStatus::Passed,
                    duration: Duration::from_millis(1),
                    error: None,
                    output_tail: vec![],
                    turn: None,
                },
                StepOutcome {
                    line: 3,
                    text: "expect a \"x\"".into(),
                    status: StepStatus::Failed,
                    duration: Duration::from_millis(5),
                    error: Some("no match within 5ms".into()),
                    output_tail: vec![(Stream::Stderr, "oops\u{1}".into())],
                    turn: None,
                },
                StepOutcome {
                    line: 4,
                    text: "close a".into(),
                    status: StepStatus::Skipped,
                    duration: Duration::ZERO,
                    error: None,
                    output_tail: vec![],
                    turn: None,
                },
            ],
            end: RunEnd::Failed,
            duration: Duration::from_millis(6),
            transcript_incomplete: false,
            golden_failed: 0,
        }
    }

    #[test]
    fn the_failure_text_names_file_line_step_and_why() {
        let o = outcome();
        let text = failure_text("t.smx", &o.steps[1]);
        assert!(
            text.starts_with("t.smx:3: expect a \"x\": no match within 5ms\n"),
            "{text}"
        );
        assert!(text.contains("    stderr| oops"));
        assert_eq!(Verdict::of(&o).exit_code(), 1);
        assert_eq!(
            summary_line("t.smx", &o),
            "FAIL t.smx: 1 passed, 1 failed, 1 skipped (6ms)"
        );
    }

    #[test]
    fn turns_without_a_cost_report_no_cost() {
        use crate::protocol::stream_json::TurnResult;
        let mut o = outcome();
        o.steps[0].turn = Some(TurnResult {
            is_error: false,
            subtype: None,
            num_turns: None,
            duration_ms: None,
            cost_usd: None,
            total_cost_usd: None,
            failure: None,
            result: None,
            session_id: None,
        });
        let line = summary_line("t.smx", &o);
        assert!(line.ends_with("(6ms, 1 turn)"), "{line}");
        let v = json_report("t.smx", &o, vec![]);
        assert!(v["turns"]["cost_usd"].is_null(), "{}", v["turns"]);
        o.steps[1].turn = o.steps[0].turn.clone().map(|t| TurnResult {
            cost_usd: Some(0.5),
            ..t
        });
        assert!(summary_line("t.smx", &o).ends_with("(6ms, 2 turns, $0.5000)"));
    }

    #[test]
    fn the_json_report_lists_steps_with_status() {
        let v = json_report("t.smx", &outcome(), vec![]);
        assert_eq!(v["status"], "failed");
        assert_eq!(v["steps"][1]["status"], "failed");
        assert_eq!(v["steps"][1]["line"], 3);
        assert_eq!(v["steps"][2]["status"], "skipped");
        assert_eq!(v["exit_code"], 1);
    }
}
