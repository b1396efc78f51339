//! JUnit XML for CI dashboards: `<testsuites>` with one `<testsuite>` per script, one
//! `<testcase>` per step, one per golden comparison (its diff in the failure), and one for
//! whatever else failed the script (it could not be run, a transcript is incomplete).
//! Valid against the Jenkins JUnit schema (tests/junit.rs checks it with xmllint).

use std::fmt::Write as _;

use super::script::ScriptResult;
use crate::script::report::{failure_text, ms};
use crate::script::runner::{StepOutcome, StepStatus};

enum Kind {
    Passed,
    Skipped(String),
    Failed {
        message: String,
        body: String,
        kind: &'static str,
    },
}

struct Case {
    name: String,
    seconds: f64,
    kind: Kind,
    /// What the case printed (`<system-out>`).
    out: Option<String>,
}

/// The cases of one script, in the order they happened.
fn cases(result: &ScriptResult) -> Vec<Case> {
    let mut cases = Vec::new();
    if let Some(why) = &result.invalid {
        cases.push(Case {
            name: "the script could not be run".into(),
            seconds: result.outcome.duration.as_secs_f64(),
            kind: Kind::Failed {
                message: why.clone(),
                body: why.clone(),
                kind: "InvalidScript",
            },
            out: None,
        });
        return cases;
    }
    for step in &result.outcome.steps {
        cases.push(step_case(&result.name, step));
    }
    if result.cancelled {
        cases.push(Case {
            name: "the rest of the script".into(),
            seconds: 0.0,
            kind: Kind::Skipped("stopped by --fail-fast: another script failed".into()),
            out: None,
        });
    }
    for g in &result.golden {
        let message = g.message.clone().unwrap_or_default();
        let first = message.lines().next().unwrap_or(g.status).to_string();
        let (kind, out) = if g.failed() {
            let kind = Kind::Failed {
                message: first,
                body: message,
                kind: "GoldenDiffers",
            };
            (kind, None)
        } else {
            (Kind::Passed, (!message.is_empty()).then_some(message))
        };
        cases.push(Case {
            name: format!("golden {}.jsonl", g.session),
            seconds: 0.0,
            kind,
            out,
        });
    }
    if result.outcome.transcript_incomplete {
        let why =
            "a transcript could not be written in full (see the sessions' transcript_gap records)";
        cases.push(Case {
            name: "transcripts".into(),
            seconds: 0.0,
            kind: Kind::Failed {
                message: why.into(),
                body: why.into(),
                kind: "TranscriptIncomplete",
            },
            out: None,
        });
    }
    cases
}

fn step_case(script: &str, step: &StepOutcome) -> Case {
    let kind = match step.status {
        StepStatus::Passed => Kind::Passed,
        StepStatus::Skipped => Kind::Skipped("an earlier step failed".into()),
        StepStatus::Failed => Kind::Failed {
            message: step.error.clone().unwrap_or_else(|| "failed".into()),
            body: failure_text(script, step),
            kind: "StepFailed",
        },
    };
    Case {
        name: format!("line {}: {}", step.line, step.text),
        seconds: step.duration.as_secs_f64(),
        kind,
        out: None,
    }
}

/// A turn's numbers as the script's `<properties>` (the schema has none per test case).
fn turn_properties(steps: &[StepOutcome]) -> String {
    let mut props = String::new();
    for step in steps {
        let Some(turn) = &step.turn else { continue };
        let line = step.line;
        let mut add = |name: &str, value: String| {
            let _ = writeln!(
                props,
                "      <property name=\"line {line} {name}\" value=\"{}\"/>",
                xml_escape(&value)
            );
        };
        add("turn_duration_ms", format!("{:.3}", ms(step.duration)));
        if let Some(cost) = turn.cost_usd {
            add("cost_usd", cost.to_string());
        }
        if let Some(n) = turn.num_turns {
            add("num_turns", n.to_string());
        }
    }
    props
}

struct Counts {
    tests: usize,
    failures: usize,
    skipped: usize,
}

fn count(cases: &[Case]) -> Counts {
    Counts {
        tests: cases.len(),
        failures: cases
            .iter()
            .filter(|c| matches!(c.kind, Kind::Failed { .. }))
            .count(),
        skipped: cases
            .iter()
            .filter(|c| matches!(c.kind, Kind::Skipped(_)))
            .count(),
    }
}

/// One `<testsuite>` element for a script, and its counts.
fn suite(result: &ScriptResult) -> (String, Counts) {
    let cases = cases(result);
    let counts = count(&cases);
    let name = xml_escape(&result.name);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        counts.tests,
        counts.failures,
        counts.skipped,
        result.outcome.duration.as_secs_f64()
    );
    let props = turn_properties(&result.outcome.steps);
    if !props.is_empty() {
        let _ = write!(out, "    <properties>\n{props}    </properties>\n");
    }
    for case in &cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{name}\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&case.name),
            case.seconds
        );
        if matches!(case.kind, Kind::Passed) && case.out.is_none() {
            out.push_str("/>\n");
            continue;
        }
        out.push('>');
        match &case.kind {
            Kind::Passed => {}
            Kind::Skipped(why) => {
                let _ = write!(out, "<skipped>{}</skipped>", xml_escape(why));
            }
            Kind::Failed {
                message,
                body,
                kind,
            } => {
                let _ = write!(
                    out,
                    "\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>\n    ",
                    xml_escape(message),
                    xml_escape(body)
                );
            }
        }
        if let Some(text) = &case.out {
            let _ = write!(out, "<system-out>{}</system-out>", xml_escape(text));
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n");
    (out, counts)
}

/// The whole report.
pub fn report(results: &[ScriptResult], seconds: f64) -> String {
    let mut body = String::new();
    let mut total = Counts {
        tests: 0,
        failures: 0,
        skipped: 0,
    };
    for result in results {
        let (text, counts) = suite(result);
        body.push_str(&text);
        total.tests += counts.tests;
        total.failures += counts.failures;
        total.skipped += counts.skipped;
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sandmux\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{seconds:.3}\">",
        total.tests, total.failures
    );
    out.push_str(&body);
    out.push_str("</testsuites>\n");
    out
}

/// Escapes text for XML attributes and content, writing characters XML 1.0 cannot hold as
/// `\xNN`.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Stream;
    use crate::script::runner::{RunEnd, RunOutcome};
    use std::time::Duration;

    fn step(line: usize, text: &str, status: StepStatus) -> StepOutcome {
        StepOutcome {
            line,
            text: text.into(),
            status,
            duration: Duration::from_millis(1),
            error: (status == StepStatus::Failed).then(|| "no match within 5ms".into()),
            output_tail: vec![(Stream::Stderr, "oops\u{1}".into())],
            turn: None,
        }
    }

    fn result() -> ScriptResult {
        ScriptResult {
            name: "t.smx".into(),
            outcome: RunOutcome {
                steps: vec![
                    step(2, "send a <hi>", StepStatus::Passed),
                    step(3, "expect a \"x\"", StepStatus::Failed),
                    step(4, "close a", StepStatus::Skipped),
                ],
                end: RunEnd::Failed,
                duration: Duration::from_millis(6),
                transcript_incomplete: false,
                golden_failed: 0,
            },
            invalid: None,
            cancelled: false,
            golden: vec![],
            sessions: vec![],
        }
    }

    #[test]
    fn one_case_per_step_with_escaped_text() {
        let xml = report(&[result()], 0.006);
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert!(xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""));
        assert!(xml.contains("send a &lt;hi&gt;"));
        assert!(xml.contains("<failure message=\"no match within 5ms\""));
        assert!(xml.contains("stderr| oops\\x01"));
        assert!(!xml.contains('\u{1}'));
    }

    #[test]
    fn a_script_that_could_not_run_and_an_incomplete_transcript_fail() {
        let mut bad = result();
        bad.invalid = Some("t.smx:1:1: unknown step `sned`".into());
        let mut incomplete = result();
        incomplete.name = "u.smx".into();
        incomplete.outcome.steps.truncate(1);
        incomplete.outcome.end = RunEnd::Passed;
        incomplete.outcome.transcript_incomplete = true;
        let xml = report(&[bad, incomplete], 1.0);
        assert!(xml.contains("tests=\"3\" failures=\"2\""), "{xml}");
        assert!(xml.contains("type=\"InvalidScript\""), "{xml}");
        assert!(xml.contains("type=\"TranscriptIncomplete\""), "{xml}");
    }
}
