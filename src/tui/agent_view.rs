//! The chat view of an agent's lines read in context (the engine's [`Tracker`] notes): a
//! repeated `init` folded, streamed text as one growing message, a permission request as a
//! card with its keys or its answer, a turn's footer with what it cost and how it ended, and
//! sandmux's own control lines as one readable line each.
//!
//! Everything that came from the session goes through [`Styled::push_text`]; only
//! sandmux's own words and numbers are pushed plain.

use ratatui::style::{Color, Modifier, Style};
use serde_json::Value;

use super::ansi::Styled;
use super::views::{line, shorten, text_block as block};
use crate::protocol::control::{self, Answer, Approval, ControlMessage};
use crate::protocol::stream_json;
use crate::protocol::tracker::{Note, Tracker, TurnSummary};

const DIM: Style = Style::new().add_modifier(Modifier::DIM);
const CARD: Style = Style::new().fg(Color::Yellow);
const CARD_TITLE: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
const GOOD: Style = Style::new().fg(Color::Green);
const BAD: Style = Style::new().fg(Color::LightRed);
const TEXT: Style = Style::new().add_modifier(Modifier::BOLD);
const AGENT: Style = Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD);
/// Characters of a tool's input shown on the card.
const CARD_CHARS: usize = 300;

/// The keys a pending card offers (also the TUI's status hint).
pub const APPROVAL_KEYS: &str = "y allow once · a allow always · n deny · m deny with a message";

/// What a noted output line shows in the chat view (no rows for hidden lines).
pub fn noted(note: &Note, value: &Value, tracker: &Tracker) -> Vec<Styled> {
    match note {
        Note::InitRepeated | Note::Hidden => Vec::new(),
        Note::InitChanged(changes) => {
            let mut out = line(&[("● ", super::views::KEY, false)]);
            out.push_text(&changes.join(" · "), super::views::KEY);
            vec![out]
        }
        Note::Streaming => {
            let mut rows = block("◆ ", AGENT, tracker.streaming_text().unwrap_or(""), TEXT);
            if let Some(last) = rows.last_mut() {
                last.push_plain("▍", DIM);
            }
            rows
        }
        Note::Streamed(text) => block("◆ ", AGENT, text, TEXT),
        Note::Approval(answer) => approval_card(value, answer.as_ref()),
        Note::Turn(summary) => turn_footer(value, summary),
    }
}

/// A permission request as a card: the tool, what it would do, why, and the keys (while it
/// waits) or the answer it got.
pub fn approval_card(value: &Value, answer: Option<&Answer>) -> Vec<Styled> {
    let (id, request) = match control::parse(value) {
        Some(ControlMessage::Request { id, request, .. }) => (id, request),
        _ => return Vec::new(),
    };
    let approval = Approval::from_request(&id, &request, 0);
    let mut rows = vec![line(&[
        ("╭─ permission · ", CARD, false),
        (&approval.tool, CARD_TITLE, true),
    ])];
    let what = if approval.tool == "Bash" {
        format!("$ {}", approval.summary)
    } else {
        approval.summary.clone()
    };
    let count = what.lines().count();
    let first = shorten(what.lines().next().unwrap_or(""), CARD_CHARS);
    let more = if count > 1 {
        format!(" (+{} lines)", count - 1)
    } else {
        String::new()
    };
    rows.push(line(&[
        ("│ ", CARD, false),
        (&first, TEXT, true),
        (&more, DIM, false),
    ]));
    if let Some(reason) = &approval.reason {
        rows.push(line(&[
            ("│ why: ", CARD, false),
            (&shorten(reason, CARD_CHARS), DIM, true),
        ]));
    }
    rows.push(match answer {
        None => line(&[("╰ ", CARD, false), (APPROVAL_KEYS, CARD_TITLE, false)]),
        Some(answer) => answer_line("╰ ", CARD, answer),
    });
    rows
}

fn answer_line(lead: &str, lead_style: Style, answer: &Answer) -> Styled {
    let (mark, style) = match answer {
        Answer::Allowed | Answer::AllowedAlways => ("✓ ", GOOD),
        Answer::Denied { .. } => ("✗ ", BAD),
        Answer::Cancelled | Answer::Abandoned => ("⊘ ", DIM),
    };
    let mut out = line(&[(lead, lead_style, false), (mark, style, false)]);
    match answer {
        Answer::Denied { message } => {
            out.push_plain("denied: ", style);
            out.push_text(message, style);
        }
        other => out.push_plain(&other.describe(), style),
    }
    out
}

/// A turn's footer: how it ended, its own numbers (turns, time, cost) and the session's
/// total, and for a failure the CLI's message once.
pub fn turn_footer(value: &Value, summary: &TurnSummary) -> Vec<Styled> {
    let result = stream_json::turn_result(value);
    let mut parts = Vec::new();
    if let Some(n) = result.as_ref().and_then(|r| r.num_turns) {
        parts.push(format!("{n} turn{}", if n == 1 { "" } else { "s" }));
    }
    if let Some(text) = result
        .as_ref()
        .and_then(|r| r.duration_ms)
        .and_then(crate::units::format_reported_ms)
    {
        parts.push(text);
    }
    let sane = |c: &f64| c.is_finite() && (0.0..1.0e6).contains(c);
    if let Some(cost) = summary.cost_usd.filter(sane) {
        let mut text = format!("${cost:.4}");
        if let Some(total) = summary.total_cost_usd.filter(sane)
            && (total - cost).abs() > 1e-12
        {
            text.push_str(&format!(" (total ${total:.4})"));
        }
        parts.push(text);
    }
    let (label, style) = match summary.failure.as_deref() {
        None => ("── turn done ".to_string(), GOOD),
        Some("interrupted") => (
            "── turn interrupted ".to_string(),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ),
        Some(why) => (
            format!("── turn failed: {why} "),
            BAD.add_modifier(Modifier::BOLD),
        ),
    };
    let numbers = if parts.is_empty() {
        "──".to_string()
    } else {
        format!("· {} ──", parts.join(" · "))
    };
    let mut rows = vec![line(&[(&label, style, true), (&numbers, style, false)])];
    if summary
        .failure
        .as_deref()
        .is_some_and(|f| f != "interrupted")
        && let Some(message) = stream_json::failure_message(value)
    {
        rows.extend(block("  ", style, &message, style));
    }
    rows
}

/// An output line of the agent's control protocol or a retry notice, as one line; `None`
/// for other lines.
pub fn protocol_line(value: &Value) -> Option<Vec<Styled>> {
    if let Some(retry) = stream_json::retry_text(value) {
        return Some(vec![line(&[("↻ ", CARD, false), (&retry, CARD, true)])]);
    }
    match control::parse(value)? {
        ControlMessage::Request { subtype, .. } if subtype == "can_use_tool" => {
            Some(approval_card(value, None))
        }
        ControlMessage::Request { subtype, .. } => Some(vec![line(&[
            ("  ⋯ the agent's control request ", DIM, false),
            (&subtype, DIM, true),
        ])]),
        ControlMessage::Cancel { .. } => Some(vec![line(&[(
            "  ⋯ the agent withdrew a request",
            DIM,
            false,
        )])]),
        ControlMessage::Response { error, .. } => Some(vec![match error {
            Some(error) => line(&[("  ⋯ the agent refused: ", DIM, false), (&error, DIM, true)]),
            None => line(&[("  ⋯ the agent confirmed", DIM, false)]),
        }]),
    }
}

/// An input line of the control protocol (what sandmux or the user sent): `interrupt`, an
/// answer to a permission request, an error for a request sandmux does not serve.
pub fn input_line(value: &Value) -> Option<Vec<Styled>> {
    const YOU: Style = Style::new().fg(Color::Cyan);
    let row = match control::parse(value)? {
        ControlMessage::Request { subtype, .. } if subtype == "interrupt" => {
            line(&[("⏹ interrupt", YOU, false)])
        }
        ControlMessage::Request { subtype, .. } => {
            line(&[("⋯ control request ", DIM, false), (&subtype, DIM, true)])
        }
        ControlMessage::Cancel { .. } => line(&[("⋯ withdrew a request", DIM, false)]),
        ControlMessage::Response {
            error: Some(error), ..
        } => line(&[
            ("⋯ refused the agent's request: ", DIM, false),
            (&error, DIM, true),
        ]),
        ControlMessage::Response {
            behavior,
            message,
            always,
            ..
        } => {
            let answer = match behavior.as_deref() {
                Some("allow") if always => Answer::AllowedAlways,
                Some("allow") => Answer::Allowed,
                Some(_) => Answer::Denied {
                    message: message.unwrap_or_default(),
                },
                None => return Some(vec![line(&[("⋯ answered a request", DIM, false)])]),
            };
            answer_line("", YOU, &answer)
        }
    };
    Some(vec![row])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rows: &[Styled]) -> Vec<String> {
        rows.iter().map(|r| r.text.clone()).collect()
    }

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    const ASK: &str = r#"{"type":"control_request","request_id":"r1","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"touch /tmp/x\u001b[2J","description":"Make x"}}}"#;

    #[test]
    fn a_permission_request_is_a_card_with_its_keys_then_its_answer() {
        let card = texts(&approval_card(&value(ASK), None));
        assert_eq!(card[0], "╭─ permission · Bash");
        assert_eq!(card[1], "│ $ touch /tmp/x", "escapes neutralised");
        assert_eq!(card[2], "│ why: Make x");
        assert_eq!(card[3], format!("╰ {APPROVAL_KEYS}"));
        let denied = Answer::Denied {
            message: "not now".into(),
        };
        let card = texts(&approval_card(&value(ASK), Some(&denied)));
        assert_eq!(card[3], "╰ ✗ denied: not now");
        let card = texts(&approval_card(&value(ASK), Some(&Answer::AllowedAlways)));
        assert_eq!(card[3], "╰ ✓ allowed always");
    }

    #[test]
    fn a_footer_gives_the_turns_own_cost_and_names_a_failure_once() {
        let done = value(
            r#"{"type":"result","subtype":"success","is_error":false,"num_turns":2,"duration_ms":1500,"total_cost_usd":0.0091}"#,
        );
        let summary = TurnSummary {
            cost_usd: Some(0.0029),
            total_cost_usd: Some(0.0091),
            failure: None,
        };
        assert_eq!(
            texts(&turn_footer(&done, &summary)),
            vec!["── turn done · 2 turns · 1.5s · $0.0029 (total $0.0091) ──"]
        );
        let failed = value(
            r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":500,"result":"API Error: 500 Internal server error"}"#,
        );
        let summary = TurnSummary {
            cost_usd: Some(0.0),
            total_cost_usd: Some(0.0091),
            failure: Some("API error 500".into()),
        };
        assert_eq!(
            texts(&turn_footer(&failed, &summary)),
            vec![
                "── turn failed: API error 500 · $0.0000 (total $0.0091) ──",
                "  Internal server error"
            ]
        );
    }

    #[test]
    fn control_lines_read_as_one_line_each() {
        let interrupt = value(&control::interrupt_request("sandmux-interrupt-1"));
        assert_eq!(texts(&input_line(&interrupt).unwrap()), vec!["⏹ interrupt"]);
        let allow = value(&control::allow_response(
            "r1",
            &serde_json::json!({}),
            Some("Bash"),
        ));
        assert_eq!(
            texts(&input_line(&allow).unwrap()),
            vec!["✓ allowed always"]
        );
        let error = value(&control::error_response("h", "not served"));
        assert_eq!(
            texts(&input_line(&error).unwrap()),
            vec!["⋯ refused the agent's request: not served"]
        );
        let retry = value(
            r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":2,"retry_delay_ms":600,"error_status":500,"error":"api_error","session_id":"s","uuid":"u"}"#,
        );
        assert_eq!(
            texts(&protocol_line(&retry).unwrap()),
            vec!["↻ retrying (attempt 1 of 2) in 600ms: HTTP 500"]
        );
        assert!(protocol_line(&value(r#"{"type":"assistant"}"#)).is_none());
    }
}
